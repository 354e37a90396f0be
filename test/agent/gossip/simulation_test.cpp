// Seeded simulation runs of the gossip state machine (see sim.h for the scenarios and
// invariants).  KW_SIM_RUNS=N sets the number of runs, KW_SIM_FIRST=S the first seed;
// KW_SIM_SEED=S replays one seed (KW_SIM_TRACE=1 prints every membership change).
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "test/agent/gossip/sim.h"

using namespace kw;
using namespace kw::gossip;

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr uint64_t kDefaultRuns = 150;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr uint64_t kDefaultRuns = 150;
#elif defined(__OPTIMIZE__)
constexpr uint64_t kDefaultRuns = 1500;
#else
constexpr uint64_t kDefaultRuns = 300;
#endif
#elif defined(__OPTIMIZE__)
constexpr uint64_t kDefaultRuns = 1500;
#else
constexpr uint64_t kDefaultRuns = 300;  // -O0
#endif

uint64_t EnvOr(const char* name, uint64_t def) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : def;
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))];
}

}  // namespace

TEST_CASE("gossip simulation: seeded runs under loss, delay, partitions, crashes, pauses") {
  bool replay = EnvOr("KW_SIM_SEED", 0) != 0;
  uint64_t first = replay ? EnvOr("KW_SIM_SEED", 1) : EnvOr("KW_SIM_FIRST", 1);
  uint64_t runs = replay ? 1 : EnvOr("KW_SIM_RUNS", kDefaultRuns);
  auto t0 = std::chrono::steady_clock::now();
  std::map<std::string, int> per_scenario;
  std::vector<double> detect_all, converge;
  std::vector<std::string> failures;
  uint64_t false_deaths = 0;
  double member_hours_high_loss = 0;
  for (uint64_t seed = first; seed < first + runs; ++seed) {
    sim::Params p = sim::FromSeed(seed);
    sim::Result r = sim::Run(p);
    ++per_scenario[sim::ScenarioName(p.scenario)];
    if (r.all_detect_s >= 0) detect_all.push_back(r.all_detect_s);
    if (r.converge_s >= 0) converge.push_back(r.converge_s);
    if (p.loss > sim::kFalseDeathLossBound) {
      false_deaths += r.false_deaths;
      member_hours_high_loss += r.member_seconds / 3600;
    }
    if (!r.ok) {
      char line[512];
      std::snprintf(line, sizeof line,
                    "seed=%llu n=%d scenario=%s loss=%.1f%%: %s\n  replay: KW_SIM_SEED=%llu "
                    "build/keepwatch_test -tc='gossip simulation*'",
                    static_cast<unsigned long long>(seed), p.n, sim::ScenarioName(p.scenario),
                    p.loss * 100, r.failure.c_str(), static_cast<unsigned long long>(seed));
      failures.push_back(line);
      std::fprintf(stderr, "gossip simulation FAILED %s\n", line);
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string mix;
  for (const auto& [name, count] : per_scenario) mix += " " + name + "=" + std::to_string(count);
  std::printf(
      "gossip simulation: %llu runs (%s) in %.1fs; crash detected by all: median %.1fs, worst "
      "%.1fs; convergence after heal: median %.1fs, worst %.1fs; false deaths at 10-20%% "
      "loss: %llu in %.1f member-hours; %zu failed\n",
      static_cast<unsigned long long>(runs), mix.c_str() + 1, secs, Percentile(detect_all, 0.5),
      Percentile(detect_all, 1.0), Percentile(converge, 0.5), Percentile(converge, 1.0),
      static_cast<unsigned long long>(false_deaths), member_hours_high_loss, failures.size());
  for (const std::string& f : failures) MESSAGE(f);
  CHECK(failures.empty());
}
