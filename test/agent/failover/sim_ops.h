// The operator commands in the failover simulations (failover_sim_test.cpp and
// gossip_sim.h): how a member carries out the machine's PostgreSQL actions, as
// FailoverService::Carry queues them on its action thread; the commands an operator
// gives (as FailoverService::Apply runs them); and the invariants the commands add.
//
// Invariants (CommandChecks), each reported through `fail` with what broke:
// - Release: a member that sent StepDown(T) (released the voters) takes no write
//   (its PostgreSQL's LSN does not grow) until it is elected again.  The voters may elect
//   a new leader the moment they are released; a write after that may be lost.
// - Handoff: when a member L sends Handoff(T, F), F is at least every LSN its PostgreSQL
//   reached while writable with L in term T (and, by Release, it reaches no other later);
//   a member whose candidacy in T+1 said "switchover from" must have received
//   Handoff(T, F) and, when its promotion completes, its WAL is at least F: a switchover
//   loses no write the old primary took.
// - Pause: a member whose pause register is set never becomes a candidate in a Tick while
//   its PostgreSQL (as it sees it) is a replica — rule 4's replica case is off — unless it
//   received Handoff(T) for the term it left (the switchover's target).  The incumbent's
//   candidacy (its PostgreSQL a primary) and an operator's failover --to (Stand, not a
//   Tick) are allowed.  A member that has not yet learned of the pause is not paused.
// Not thread-safe; one per simulation.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "agent/failover/failover.h"
#include "agent/failover/service.h"
#include "test/agent/failover/sim_pg.h"

namespace kw::failover_sim {

// Carries out a's PostgreSQL actions on `pg` at now_ms: the fence takes 5-300 ms
// (ALTER SYSTEM, reload, sessions terminated) while writes go on; a rejoin from member
// `leader` (its index, -1 if unknown) takes 2-10 s; a promotion kPromoteMs.  Returns when
// a switchover's fence and WAL read are done and HandoffReady is due (1-50 ms after the
// fence), or -1.
int CarryPgActions(SimPg& pg, const Actions& a, int now_ms, int leader, std::mt19937_64& rng);

// What a member's agent passes to HandoffReady: the fence and pg_current_wal_lsn()
// succeed while PostgreSQL is up.
Actions HandoffReadyOf(Failover& fo, TimePoint now, const SimPg& pg);

// An operator's command given on a member, as FailoverService::Apply runs it.
Actions Operate(Failover& fo, TimePoint now, const World& w, OpKind op, const std::string& target);

class CommandChecks {
 public:
  CommandChecks(int members, std::function<void(const std::string&)> fail)
      : nodes_(members), fail_(std::move(fail)) {}

  // Member i (named `name`) returned `a` from a call made in role `before` (`tick`: the
  // call was Tick, which saw `w`); `pg` is its PostgreSQL now.
  void Acted(int i, const std::string& name, const Failover& fo, Role before, bool tick,
             const World& w, const Actions& a, const SimPg& pg);
  // A failover message is about to be delivered to member i (named `name`).
  void Delivering(int i, const std::string& name, const Failover& fo, const FailoverMsg& m);
  // After a PostgreSQL step: member i's PostgreSQL (up, host running) with its machine.
  void Stepped(int i, const std::string& name, const Failover& fo, const SimPg& pg);
  // Member i's promotion completed with its WAL at `lsn`.
  void Promoted(int i, const std::string& name, uint64_t lsn);

  int handoffs() const { return handoffs_; }                      // Handoff messages sent
  int handoff_promotions() const { return handoff_promotions_; }  // promotions checked

 private:
  struct Node {
    std::optional<uint64_t> released_at;   // LSN when it released the voters
    std::map<uint64_t, uint64_t> reached;  // term -> highest LSN while writable
    std::optional<FailoverMsg> handoff;    // the latest Handoff addressed to it
    uint64_t stood_term = 0;               // its latest candidacy ...
    bool stood_for_handoff = false;        // ... said "switchover from"
  };
  std::vector<Node> nodes_;
  std::function<void(const std::string&)> fail_;
  int handoffs_ = 0;
  int handoff_promotions_ = 0;
};

}  // namespace kw::failover_sim
