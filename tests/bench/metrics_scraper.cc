#include "tests/bench/metrics_scraper.h"

#include <sstream>

#include "absl/status/statusor.h"
#include "tests/testing/http_get.h"

namespace switchboard::bench {

double SumOf(const std::string& text, const std::string& name) {
  double sum = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, name.size(), name) != 0) continue;
    if (line.size() > name.size() && line[name.size()] != '{' &&
        line[name.size()] != ' ') {
      continue;
    }
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

Scraper::Scraper(int port, std::string counter)
    : port_(port), counter_(std::move(counter)) {
  thread_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(absl::Seconds(1))) {
      absl::StatusOr<std::string> text = testing::HttpGet(port_, "/metrics");
      if (!text.ok()) continue;
      absl::MutexLock lock(&mu_);
      samples_.push_back({absl::Now(), SumOf(*text, counter_)});
    }
  });
}

Scraper::~Scraper() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

double Scraper::Stop() {
  stop_.Notify();
  thread_.join();
  absl::MutexLock lock(&mu_);
  if (samples_.size() < 2) return 0;
  auto last = samples_.end() - 1;
  while (last != samples_.begin() && (last - 1)->second == last->second) {
    --last;  // the run was over before this scrape
  }
  if (last == samples_.begin()) return 0;
  return (last->second - samples_.front().second) /
         absl::ToDoubleSeconds(last->first - samples_.front().first);
}

}  // namespace switchboard::bench
