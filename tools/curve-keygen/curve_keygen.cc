// curve-keygen: makes a CURVE key pair for the zeromq transport
// (transport.zeromq.curve). Writes the secret key to FILE (mode 0600; an
// existing file is never overwritten) and prints the public key, which the
// other bridges list in their curve.peer_keys / curve.authorized_keys.
//
//   curve-keygen /etc/switchboard/zmq/bridge-a.key
#include <fcntl.h>
#include <unistd.h>
#include <zmq.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2 || argv[1][0] == '-') {
    std::cerr << "usage: curve-keygen SECRET_KEY_FILE\n"
                 "Writes a new CURVE secret key (Z85) to SECRET_KEY_FILE "
                 "(mode 0600, never overwritten) and prints its public key.\n";
    return 2;
  }
  if (!zmq_has("curve")) {
    std::cerr << "curve-keygen: this libzmq was built without CURVE\n";
    return 1;
  }
  char public_key[41];
  char secret_key[41];
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    std::cerr << "curve-keygen: " << zmq_strerror(zmq_errno()) << "\n";
    return 1;
  }
  const int fd = open(argv[1], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::cerr << "curve-keygen: cannot create " << argv[1] << ": "
              << std::strerror(errno) << "\n";
    return 1;
  }
  const std::string line = std::string(secret_key) + "\n";
  const bool written =
      write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  if (close(fd) != 0 || !written) {
    std::cerr << "curve-keygen: cannot write " << argv[1] << "\n";
    return 1;
  }
  std::cout << public_key << std::endl;
  return 0;
}
