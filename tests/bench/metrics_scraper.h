// --metrics: what a Prometheus server would see of a run, by scraping a
// service's /metrics during it.
#ifndef SWITCHBOARD_TESTS_BENCH_METRICS_SCRAPER_H_
#define SWITCHBOARD_TESTS_BENCH_METRICS_SCRAPER_H_

#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace switchboard::bench {

// The sum of every sample of `name` (all label sets) in a /metrics text.
double SumOf(const std::string& text, const std::string& name);

// Scrapes `port`'s /metrics once a second, as Prometheus would, from its
// own thread until Stop(). Stop is called once, from one thread.
class Scraper {
 public:
  Scraper(int port, std::string counter);
  ~Scraper();

  // Stops scraping; then the rate of `counter` (per second) between the
  // first scrape and the last one that saw it change; 0 with fewer than
  // two such scrapes.
  double Stop();

 private:
  const int port_;
  const std::string counter_;
  absl::Notification stop_;
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<std::pair<absl::Time, double>> samples_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_TESTS_BENCH_METRICS_SCRAPER_H_
