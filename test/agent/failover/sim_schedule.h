// The random fault schedule both failover simulations run (failover_sim_test.cpp on its
// membership oracle, failover_gossip_sim_test.cpp on the real gossip layer).
//
// Until `end_ms`, every 0.25-6 s one of: crash a member (its host: agent and PostgreSQL),
// restart a crashed one (durable state kept), pause an agent 0.5-12 s, toggle a one-way cut
// of everything a member sends, cut a member from a random subset of the others (both
// ways), cut it from all of them or heal its cuts, or split the cluster 3/3 (pg1 pg2 lb1 |
// lb2 odoo1 odoo2).  Faults accumulate.  Between two faults, one time in three, an
// operator gives a command on a random member at a random instant, racing the faults:
// switchover to a random PostgreSQL member (40%), failover --to one (20%), pause (20%;
// the first command 2-20 s later is a resume, so that most of a run is not paused) or
// rejoin on a member that needs one (20%).  A command given on a member whose agent is
// down or paused is lost (a resume too).  All choices come from `rng`.
//
// Sim provides: size(), now_ms(), RunUntil(ms) (false on a violated invariant),
// crashed(i), Crash(i), Restart(i), Pause(i, ms), Cut(from, to, bool), IsCut(from, to),
// has_pg(i), needs_rejoin(i), and Operate(i, OpKind, target): the command on member i
// (nothing when its agent is down or paused: the command line gets no answer).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "agent/failover/service.h"

namespace kw::failover_sim {

template <class Sim>
void RunRandomFaults(Sim& sim, std::mt19937_64& rng, int end_ms) {
  const bool log = std::getenv("KW_SIM_LOG") != nullptr;
  auto note = [&](const char* what, int n, int ms = 0) {
    if (log) std::printf("%6d FAULT member %d: %s %d\n", sim.now_ms(), n, what, ms);
  };
  std::uniform_int_distribution<int> pick(0, sim.size() - 1);
  std::uniform_int_distribution<int> kind(0, 6);
  std::bernoulli_distribution coin(0.5);
  std::uniform_int_distribution<int> span(500, 12000);
  std::uniform_int_distribution<int> op(0, 9);
  std::uniform_int_distribution<int> resume_after(2000, 20000);
  int resume_at = -1;
  auto random_of = [&](auto&& take) {  // a random member that `take` accepts, or -1
    std::vector<int> ok;
    for (int j = 0; j < sim.size(); ++j)
      if (take(j)) ok.push_back(j);
    return ok.empty() ? -1 : ok[std::uniform_int_distribution<size_t>(0, ok.size() - 1)(rng)];
  };
  auto command = [&] {
    int at = pick(rng), o = op(rng), target = random_of([&](int j) { return sim.has_pg(j); });
    if (resume_at >= 0 && sim.now_ms() >= resume_at) {
      resume_at = -1;
      note("operator: resume", at);
      sim.Operate(at, OpKind::kResume, target);
    } else if (o < 4) {
      note("operator: switchover to", at, target);
      sim.Operate(at, OpKind::kSwitchover, target);
    } else if (o < 6) {
      note("operator: failover --to", at, target);
      sim.Operate(at, OpKind::kFailover, target);
    } else if (o < 8) {
      if (resume_at < 0) resume_at = sim.now_ms() + resume_after(rng);
      note("operator: pause", at);
      sim.Operate(at, OpKind::kPause, target);
    } else if (int r = random_of([&](int j) { return sim.needs_rejoin(j); }); r >= 0) {
      note("operator: rejoin", r);
      sim.Operate(r, OpKind::kRejoin, target);
    }
  };
  while (sim.now_ms() < end_ms) {
    const int next = sim.now_ms() + span(rng) / 2;
    if (std::uniform_int_distribution<int>(0, 2)(rng) == 0) {
      if (!sim.RunUntil(std::uniform_int_distribution<int>(sim.now_ms(), next)(rng))) return;
      command();
    }
    if (!sim.RunUntil(next)) return;
    int n = pick(rng);
    const int k = kind(rng);
    switch (k) {
      case 0:
        if (!sim.crashed(n)) {
          note("crash", n);
          sim.Crash(n);
        }
        break;
      case 1:
        if (sim.crashed(n)) {
          note("restart", n);
          sim.Restart(n);
        }
        break;
      case 2: {
        int ms = span(rng);
        note("pause (ms)", n, ms);
        sim.Pause(n, ms);
        break;
      }
      case 3:
        note("toggle a one-way cut of all it sends", n);
        for (int j = 0; j < sim.size(); ++j) sim.Cut(n, j, !sim.IsCut(n, j));
        break;
      case 4:
      case 5: {  // from a random subset of the others, or from all of them (or healed)
        bool all = k == 5, cut = coin(rng);
        note(all ? (cut ? "full partition" : "partition healed") : "partition from a subset", n);
        for (int j = 0; j < sim.size(); ++j) {
          bool c = all ? cut : coin(rng);
          sim.Cut(n, j, c);
          sim.Cut(j, n, c);
        }
        break;
      }
      case 6:
        note("3/3 split", n);
        for (int a = 0; a < sim.size(); ++a)
          for (int b = 0; b < sim.size(); ++b) sim.Cut(a, b, (a < 3) != (b < 3));
        break;
    }
  }
}

}  // namespace kw::failover_sim
