#include "services/common/listen_settings.h"

#include <errno.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "services/common/status_macros.h"

namespace switchboard {
namespace {

// Builds the error for a field of the listen setting, given relative to it:
// "port", "unix_socket.mode".
using FieldError =
    std::function<absl::Status(absl::string_view field, absl::string_view)>;

// Longest path a sockaddr_un holds, without its terminating NUL.
constexpr size_t kMaxSocketPath = sizeof(sockaddr_un{}.sun_path) - 1;

std::string ErrnoText(int error) { return std::strerror(error); }

// "0660", "660", "0o660" -> 0660.
bool ParseOctalMode(absl::string_view text, uint32_t* mode) {
  text = absl::StripAsciiWhitespace(text);
  if (absl::StartsWith(text, "0o") || absl::StartsWith(text, "0O")) {
    text.remove_prefix(2);
  }
  if (text.empty() || text.size() > 6) return false;
  uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '7') return false;
    value = value * 8 + (c - '0');
  }
  *mode = value;
  return true;
}

absl::Status ParsePort(absl::string_view text, uint32_t* port,
                       const FieldError& error) {
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) {
    return error("port",
                 absl::StrCat("expected a port number, got '", text, "'"));
  }
  if (value < 0 || value > 65535) {
    return error(
        "port",
        absl::StrCat("must be 0 (any free port) to 65535, got ", value));
  }
  *port = static_cast<uint32_t>(value);
  return absl::OkStatus();
}

absl::Status ParseTransport(absl::string_view text,
                            ListenSettings::Transport* transport,
                            const FieldError& error) {
  std::string lower = absl::AsciiStrToLower(text);
  if (lower == "tcp") {
    *transport = ListenSettings::Transport::kTcp;
  } else if (lower == "unix") {
    *transport = ListenSettings::Transport::kUnix;
  } else {
    return error("transport",
                 absl::StrCat("expected tcp or unix, got '", text, "'"));
  }
  return absl::OkStatus();
}

// "[::1]" -> "::1"; anything else unchanged.
std::string StripBrackets(absl::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host.remove_prefix(1);
    host.remove_suffix(1);
  }
  return std::string(host);
}

// The single-address form into `out` (its unix mode and group are kept).
absl::Status ParseAddress(absl::string_view address, ListenSettings* out,
                          const FieldError& error) {
  if (absl::StartsWith(address, "unix-abstract:")) {
    return error("",
                 "abstract unix sockets are not supported; use "
                 "unix:/path/to/socket");
  }
  if (absl::ConsumePrefix(&address, "unix:")) {
    // unix:///abs/path is gRPC's URI form of unix:/abs/path.
    if (absl::StartsWith(address, "//")) address.remove_prefix(2);
    if (address.empty()) {
      return error("unix_socket.path",
                   "'unix:' needs a path, e.g. unix:/run/switchboard.sock");
    }
    out->transport = ListenSettings::Transport::kUnix;
    out->unix_socket.path = std::string(address);
    return absl::OkStatus();
  }
  std::string usage = absl::StrCat(
      "expected host:port (e.g. 0.0.0.0:50051, [::]:50051, 127.0.0.1:0) or "
      "unix:/path, got '",
      address, "'");
  absl::string_view host;
  absl::string_view port;
  if (absl::StartsWith(address, "[")) {
    size_t close = address.find(']');
    if (close == absl::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return error("", usage);
    }
    host = address.substr(0, close + 1);
    port = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos) return error("", usage);
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (absl::StrContains(host, ':')) {
      return error("", absl::StrCat("write an IPv6 address in brackets, e.g. "
                                    "[::]:50051; got '",
                                    address, "'"));
    }
  }
  if (host.empty() || port.empty()) return error("", usage);
  out->transport = ListenSettings::Transport::kTcp;
  out->bind_address = StripBrackets(host);
  return ParsePort(port, &out->port, error);
}

absl::Status Check(const ListenSettings& s, const FieldError& error) {
  if (s.has_tcp()) {
    if (s.bind_address.empty()) {
      return error("bind_address",
                   "must be set (0.0.0.0 for every interface, 127.0.0.1 for "
                   "this host only)");
    }
    if (s.port > 65535) {
      return error("port", absl::StrCat("must be 0 (any free port) to 65535, "
                                        "got ",
                                        s.port));
    }
  } else if (s.unix_socket.path.empty()) {
    return error("unix_socket.path", "must be set when transport is unix");
  }
  const UnixSocketSettings& u = s.unix_socket;
  if (u.mode > 0777) {
    return error("unix_socket.mode",
                 absl::StrCat(FormatFileMode(u.mode),
                              " is too wide: only permission bits, at most "
                              "0777 (no setuid, setgid or sticky bits)"));
  }
  if ((u.mode & 0222) == 0) {
    return error("unix_socket.mode",
                 absl::StrCat(FormatFileMode(u.mode),
                              " grants no write permission, and connecting "
                              "to a socket needs it: nobody could publish "
                              "(0660: owner and group)"));
  }
  if (!u.group.empty()) {
    if (auto gid = ResolveGroup(u.group); !gid.ok()) {
      return error("unix_socket.group", gid.status().message());
    }
  }
  if (!s.has_unix_socket()) return absl::OkStatus();
  const std::string& path = u.path;
  if (path.size() > kMaxSocketPath) {
    return error(
        "unix_socket.path",
        absl::StrCat("'", path, "' is ", path.size(),
                     " bytes; a unix socket path holds at most ",
                     kMaxSocketPath, " (sun_path): choose a shorter one"));
  }
  if (path.back() == '/') {
    return error("unix_socket.path",
                 absl::StrCat("'", path,
                              "' names a directory; name the "
                              "socket file, e.g. ",
                              path, "switchboard.sock"));
  }
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "."
                    : slash == 0               ? "/"
                                               : path.substr(0, slash);
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    int e = errno;
    return error("unix_socket.path",
                 e == ENOENT ? absl::StrCat("directory '", dir, "' of '", path,
                                            "' does not exist; create it first")
                             : absl::StrCat("cannot use directory '", dir,
                                            "': ", ErrnoText(e)));
  }
  if (!S_ISDIR(st.st_mode)) {
    return error("unix_socket.path", absl::StrCat("'", dir, "' (in '", path,
                                                  "') is not a directory"));
  }
  return absl::OkStatus();
}

// Errors of the single-address form given outside a config file:
// "<prefix>: <field>: <message>", or without a field "<prefix>: <message>".
FieldError PrefixedError(absl::string_view prefix) {
  return [prefix](absl::string_view field, absl::string_view message) {
    return absl::InvalidArgumentError(
        field.empty() ? absl::StrCat(prefix, ": ", message)
                      : absl::StrCat(prefix, ": ", field, ": ", message));
  };
}

// The structured form of `key` into `s`: absent fields keep its values.
// Errors of the fields' values are `error`'s.
absl::Status ParseStructured(const ConfigNode& config, absl::string_view key,
                             const FieldError& error, ListenSettings& s) {
  SB_ASSIGN_OR_RETURN(ConfigNode node, config.Child(key));
  SB_ASSIGN_OR_RETURN(ConfigNode unix_node, node.Child("unix_socket"));
  std::string transport = s.has_tcp() ? "tcp" : "unix";
  std::string mode = FormatFileMode(s.unix_socket.mode);
  std::string port = absl::StrCat(s.port);
  for (absl::Status st :
       {node.Get("transport", &transport),
        node.Get("bind_address", &s.bind_address), node.Get("port", &port),
        unix_node.Get("path", &s.unix_socket.path),
        unix_node.Get("mode", &mode),
        unix_node.Get("group", &s.unix_socket.group),
        unix_node.Get("peer_credentials", &s.unix_socket.peer_credentials),
        unix_node.CheckAllKeysKnown(), node.CheckAllKeysKnown()}) {
    SB_RETURN_IF_ERROR(st);
  }
  SB_RETURN_IF_ERROR(ParseTransport(transport, &s.transport, error));
  SB_RETURN_IF_ERROR(ParsePort(port, &s.port, error));
  if (!ParseOctalMode(mode, &s.unix_socket.mode)) {
    return error("unix_socket.mode",
                 absl::StrCat("expected an octal file mode such as "
                              "\"0660\", got '",
                              mode, "'"));
  }
  s.bind_address = StripBrackets(s.bind_address);
  return absl::OkStatus();
}

// The single-address form of `key`, if present, into `s`: it replaces the
// defaults' unix socket.
absl::Status ParseSingleAddress(const ConfigNode& config, absl::string_view key,
                                const FieldError& error, ListenSettings& s) {
  std::string address;
  bool present = config.Has(key);
  SB_RETURN_IF_ERROR(config.Get(key, &address));
  if (!present) return absl::OkStatus();
  if (address.empty()) return error("", "must be set");
  s.unix_socket = UnixSocketSettings();
  return ParseAddress(address, &s, error);
}

// --listen over the config's settings `s` (see ListenSettings::Parse).
absl::Status ApplyOverride(const std::string& override_address,
                           ListenSettings& s) {
  const FieldError flag_error = PrefixedError("--listen");
  ListenSettings flag = s;
  SB_RETURN_IF_ERROR(ParseAddress(override_address, &flag, flag_error));
  // Checked on its own, so that errors of the config's settings keep
  // naming the config.
  ListenSettings checked = flag;
  if (flag.has_tcp()) checked.unix_socket.path.clear();
  SB_RETURN_IF_ERROR(Check(checked, flag_error));
  if (flag.has_tcp()) {
    // A TCP address replaces the TCP listener; an additional unix socket
    // of the config stays.
    s.transport = ListenSettings::Transport::kTcp;
    s.bind_address = flag.bind_address;
    s.port = flag.port;
  } else {
    s = flag;
  }
  return absl::OkStatus();
}

}  // namespace

ListenSettings ListenSettings::Tcp(std::string bind_address, uint32_t port) {
  ListenSettings s;
  s.transport = Transport::kTcp;
  s.bind_address = std::move(bind_address);
  s.port = port;
  return s;
}

absl::StatusOr<ListenSettings> ListenSettings::FromAddress(
    absl::string_view address) {
  const FieldError error = PrefixedError("listen address");
  ListenSettings s;
  if (address.empty()) return error("", "must be set");
  SB_RETURN_IF_ERROR(ParseAddress(address, &s, error));
  SB_RETURN_IF_ERROR(Check(s, error));
  return s;
}

absl::StatusOr<ListenSettings> ListenSettings::Parse(
    const ConfigNode& config, absl::string_view key,
    const ListenSettings& defaults, const std::string& override_address) {
  ListenSettings s = defaults;
  FieldError error;
  if (config.HasMapping(key)) {
    // "listen.port: ...".
    error = [&](absl::string_view field, absl::string_view message) {
      return config.Error(absl::StrCat(key, ".", field), message);
    };
    SB_RETURN_IF_ERROR(ParseStructured(config, key, error, s));
  } else {
    // "listen: ...", "listen: port: ...".
    error = [&](absl::string_view field, absl::string_view message) {
      return field.empty()
                 ? config.Error(key, message)
                 : config.Error(key, absl::StrCat(field, ": ", message));
    };
    SB_RETURN_IF_ERROR(ParseSingleAddress(config, key, error, s));
  }
  if (!override_address.empty()) {
    SB_RETURN_IF_ERROR(ApplyOverride(override_address, s));
  }
  SB_RETURN_IF_ERROR(Check(s, error));
  return s;
}

absl::Status ListenSettings::Validate() const {
  return Check(*this, [](absl::string_view field, absl::string_view message) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen.", field, ": ", message));
  });
}

std::string ListenSettings::tcp_address() const {
  if (!has_tcp()) return "";
  if (absl::StrContains(bind_address, ':')) {
    return absl::StrCat("[", bind_address, "]:", port);
  }
  return absl::StrCat(bind_address, ":", port);
}

std::string ListenSettings::unix_address() const {
  if (!has_unix_socket()) return "";
  return absl::StrCat("unix:", unix_socket.path);
}

std::string ListenSettings::primary_address() const {
  return has_tcp() ? tcp_address() : unix_address();
}

std::vector<std::string> ListenSettings::addresses() const {
  std::vector<std::string> out;
  if (has_tcp()) out.push_back(tcp_address());
  if (has_unix_socket()) out.push_back(unix_address());
  return out;
}

std::string ListenSettings::ToString() const {
  std::string out = tcp_address();
  if (has_unix_socket()) {
    absl::StrAppend(&out, out.empty() ? "" : " + ", unix_address(), " (mode ",
                    FormatFileMode(unix_socket.mode));
    if (!unix_socket.group.empty()) {
      absl::StrAppend(&out, ", group ", unix_socket.group);
    }
    absl::StrAppend(&out, ")");
  }
  return out;
}

bool operator==(const ListenSettings& a, const ListenSettings& b) {
  // Fields a transport does not use do not make a difference.
  if (a.transport != b.transport) return false;
  if (a.has_tcp() && (a.bind_address != b.bind_address || a.port != b.port)) {
    return false;
  }
  if (a.has_unix_socket() != b.has_unix_socket()) return false;
  return !a.has_unix_socket() || a.unix_socket == b.unix_socket;
}

std::string FormatFileMode(uint32_t mode) {
  return absl::StrFormat("%04o", mode);
}

absl::StatusOr<gid_t> ResolveGroup(const std::string& group) {
  uint64_t number = 0;
  if (absl::SimpleAtoi(group, &number)) {
    if (number >= std::numeric_limits<gid_t>::max()) {
      return absl::InvalidArgumentError(
          absl::StrCat("gid ", group, " is out of range"));
    }
    return static_cast<gid_t>(number);
  }
  long size = sysconf(_SC_GETGR_R_SIZE_MAX);
  std::string buffer(size > 0 ? size : 16384, '\0');
  for (;;) {
    struct group entry;
    struct group* found = nullptr;
    int e =
        getgrnam_r(group.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (e == ERANGE && buffer.size() < (1 << 22)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (e != 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot look up group '", group, "': ", ErrnoText(e)));
    }
    if (found == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("unknown group '", group,
                       "' (give a group name from /etc/group or a numeric "
                       "gid; \"\" keeps the process's group)"));
    }
    return found->gr_gid;
  }
}

}  // namespace switchboard
