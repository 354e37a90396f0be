// A deterministic discrete-event simulation of N gossip members on a lossy network.
//
// Everything random comes from one seed: the scenario, the loss, the delays, every
// member's own seed.  The same seed replays the same run, step for step.  Messages go
// through the real wire encoder and decoder (not the sealing: crypto_test covers it).
//
// Scenarios (all with random loss up to the run's bound, and random delay):
// "May not be declared dead" is asserted for runs with loss up to kFalseDeathLossBound;
// above it false deaths are counted, and views must still converge.
//   steady       nothing happens; nobody may be declared dead
//   crash        one member is killed at kDisruptAt and stays down: every live member
//                must mark it dead within DetectionBound()
//   restart      the same, then it restarts: views must converge again
//   pause        one member is frozen (SIGSTOP) shorter than the suspicion minimum:
//                nobody may be declared dead
//   partition    a minority is cut off both ways, then healed: deaths only across the
//                cut, views converge after the heal
//   oneway       messages from one member to another are dropped, then healed:
//                nobody may be declared dead (indirect probes route around it)
// Not thread-safe; one simulation per thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/clock.h"
#include "agent/gossip/swim.h"

namespace kw::gossip::sim {

enum class Scenario { kSteady, kCrash, kRestart, kPause, kPartition, kOneWay };
const char* ScenarioName(Scenario s);

struct Params {
  uint64_t seed = 1;
  int n = 6;
  Scenario scenario = Scenario::kSteady;
  double loss = 0.0;  // per datagram, each direction
  Duration min_delay = milliseconds(1);
  Duration max_delay = milliseconds(30);
  Duration duration = seconds(90);
  Duration pause = seconds(1);  // pause scenario
  Duration cut = seconds(40);   // partition / one-way length
  // False deaths fail the run up to this loss rate (1.0: only count them, as the bench).
  double false_death_bound = 0.10;
  SwimConfig swim;
};

// Derives a whole run from its seed (what the seeded test loop and replay use).
Params FromSeed(uint64_t seed);

inline constexpr Duration kDisruptAt = seconds(15);
// Up to this loss rate a false death fails the run; above it (runs go up to 20%) false
// deaths are counted and reported.
inline constexpr double kFalseDeathLossBound = 0.10;

struct Result {
  bool ok = true;
  std::string failure;  // first violated invariant, with the simulated time
  // Crash scenarios: time from the crash to the first and to the last live member
  // marking it dead (negative when not detected).
  double first_detect_s = -1;
  double all_detect_s = -1;
  // Heal scenarios: time from the heal until every view is all-alive.
  double converge_s = -1;
  uint64_t false_deaths = 0;  // deaths of a live, connected member (steady/oneway/pause)
  uint64_t packets = 0;       // datagrams sent by all members
  uint64_t bytes = 0;         // sealed bytes (plaintext + seal overhead)
  double member_seconds = 0;  // sum over members of time up, for per-member rates
};

// Bound for "every live member marks a crashed one dead": the longest suspicion plus a
// full probe round and dissemination slack.
Duration DetectionBound(const Params& p);
// Bound for "views converge after a heal": a reconnect push-pull, a suspicion that may
// have started just before, and slack.
Duration ConvergeBound(const Params& p);

Result Run(const Params& p);

}  // namespace kw::gossip::sim
