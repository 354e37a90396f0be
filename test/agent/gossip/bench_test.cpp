// Figures for `make bench` (test/bench/gossip), from the simulation: not run by default.
//   build/keepwatch_test -tc='gossip bench*' --no-skip
// Prints markdown table rows; the bench script puts them into test/bench/RESULTS.md.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "test/agent/gossip/sim.h"

using namespace kw;
using namespace kw::gossip;

namespace {

double Pct(std::vector<double> v, double q) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))];
}

}  // namespace

TEST_CASE("gossip bench: detection time, false positives, traffic" * doctest::skip()) {
  std::printf("DETECTION\n");
  for (int n : {6, 16}) {
    for (double loss : {0.0, 0.10}) {
      std::vector<double> first, all;
      int undetected = 0;
      for (uint64_t seed = 1; seed <= 200; ++seed) {
        sim::Params p = sim::FromSeed(seed);
        p.seed = seed * 7919 + n;
        p.n = n;
        p.loss = loss;
        p.scenario = sim::Scenario::kCrash;
        p.false_death_bound = 1.0;
        p.duration = sim::kDisruptAt + sim::DetectionBound(p) + seconds(1);
        sim::Result r = sim::Run(p);
        if (r.all_detect_s < 0) {
          ++undetected;
          continue;
        }
        first.push_back(r.first_detect_s);
        all.push_back(r.all_detect_s);
      }
      std::printf("| %d | %.0f%% | %.1f s | %.1f s | %.1f s | %.1f s | %d |\n", n, loss * 100,
                  Pct(first, 0.5), Pct(all, 0.5), Pct(all, 0.99), Pct(all, 1.0), undetected);
    }
  }
  std::printf("FALSEPOS\n");
  for (int n : {6, 16}) {
    for (double loss : {0.10, 0.20}) {
      uint64_t deaths = 0;
      double member_hours = 0;
      for (uint64_t seed = 1; seed <= 4; ++seed) {
        sim::Params p;
        p.seed = seed * 104729 + n;
        p.n = n;
        p.loss = loss;
        p.scenario = sim::Scenario::kSteady;
        p.false_death_bound = 1.0;
        p.duration = std::chrono::hours(1);
        sim::Result r = sim::Run(p);
        deaths += r.false_deaths;
        member_hours += r.member_seconds / 3600;
      }
      std::printf("| %d | %.0f%% | %.0f | %llu | %.3f |\n", n, loss * 100, member_hours,
                  static_cast<unsigned long long>(deaths), deaths / (member_hours / n));
    }
  }
  std::printf("TRAFFIC\n");
  for (int n : {6, 16}) {
    sim::Params p;
    p.seed = 99 + n;
    p.n = n;
    p.scenario = sim::Scenario::kSteady;
    p.duration = seconds(600);
    sim::Result r = sim::Run(p);
    std::printf("| %d | %.2f | %.0f |\n", n, r.packets / r.member_seconds,
                r.bytes / r.member_seconds);
  }
}
