#ifndef SWITCHBOARD_TESTS_TESTING_HTTP_GET_H_
#define SWITCHBOARD_TESTS_TESTING_HTTP_GET_H_

#include <string>

#include "absl/status/statusor.h"

namespace switchboard::testing {

// An HTTP/1.0 GET of http://127.0.0.1:`port``path` (e.g. a service's
// /metrics, Prometheus' API): the body of a 200 answer, else an error with
// the status line. Reads give up after 30 s.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path);

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_HTTP_GET_H_
