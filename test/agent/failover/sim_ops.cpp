#include "test/agent/failover/sim_ops.h"

#include <algorithm>

namespace kw::failover_sim {
namespace {

int Between(std::mt19937_64& rng, int lo, int hi) {
  return std::uniform_int_distribution<int>(lo, hi)(rng);
}

std::string StandingLine(const Actions& a) {
  for (const std::string& l : a.log)
    if (l.find("standing for election (") != std::string::npos) return l;
  return "";
}

}  // namespace

int CarryPgActions(SimPg& pg, const Actions& a, int now_ms, int leader, std::mt19937_64& rng) {
  int handoff_at = -1;
  if (a.fence) {
    RequestFence(pg, now_ms, Between(rng, 5, 300));
    // A switchover reads the final WAL position once the fence is done (and reads it even
    // if PostgreSQL went down meanwhile: HandoffReadyOf says it failed).
    if (!a.handoff_to.empty()) handoff_at = std::max(pg.fence_at, now_ms) + Between(rng, 1, 50);
  }
  if (a.unfence) Unfence(pg);
  if (a.promote) RequestPromote(pg, now_ms);
  if (a.rejoin) RequestRejoin(pg, now_ms, Between(rng, 2000, 10000), leader);
  return handoff_at;
}

Actions HandoffReadyOf(Failover& fo, TimePoint now, const SimPg& pg) {
  if (!pg.up) return fo.HandoffReady(now, Status::Error("PostgreSQL is down"));
  return fo.HandoffReady(now, pg.lsn);
}

Actions Operate(Failover& fo, TimePoint now, const World& w, OpKind op, const std::string& target) {
  switch (op) {
    case OpKind::kSwitchover:
      return fo.Switchover(now, target, w);
    case OpKind::kFailover:
      return fo.Stand(now, target, w);
    case OpKind::kPause:
    case OpKind::kResume:
      return fo.Pause(op == OpKind::kPause, w);
    case OpKind::kRejoin:
      return fo.Rejoin(now, w);
  }
  return {};
}

void CommandChecks::Acted(int i, const std::string& name, const Failover& fo, Role before,
                          bool tick, const World& w, const Actions& a, const SimPg& pg) {
  Node& n = nodes_[i];
  for (const auto& [to, m] : a.send) {
    if (m.type == MsgType::kStepDown) n.released_at = pg.lsn;
    if (m.type != MsgType::kHandoff) continue;
    ++handoffs_;
    uint64_t reached = n.reached[m.term];
    if (m.lsn < reached)
      fail_(name + " handed over to " + to + " at lsn " + std::to_string(m.lsn) +
            " but its PostgreSQL reached lsn " + std::to_string(reached) + " in term " +
            std::to_string(m.term));
  }
  if (a.elected) n.released_at.reset();
  if (before == Role::kCandidate || fo.role() != Role::kCandidate) return;
  std::string line = StandingLine(a);
  n.stood_term = fo.term();
  n.stood_for_handoff = line.find("(switchover from ") != std::string::npos;
  bool handed = n.handoff && n.handoff->term + 1 == fo.term();
  if (n.stood_for_handoff && !handed)
    fail_(name + " stood for a switchover without a Handoff for term " +
          std::to_string(fo.term() - 1) + ": " + line);
  if (tick && fo.paused() && w.pg.up && w.pg.in_recovery && !handed)
    fail_(name + " started an automatic election while paused: " + line);
}

void CommandChecks::Delivering(int i, const std::string& name, const Failover& fo,
                               const FailoverMsg& m) {
  if (m.type == MsgType::kHandoff && m.target == name && m.term == fo.term()) nodes_[i].handoff = m;
}

void CommandChecks::Stepped(int i, const std::string& name, const Failover& fo, const SimPg& pg) {
  if (!pg.up || pg.in_recovery || !pg.writable) return;
  Node& n = nodes_[i];
  uint64_t& reached = n.reached[fo.term()];
  reached = std::max(reached, pg.lsn);
  if (n.released_at && pg.lsn > *n.released_at)
    fail_(name + " took writes (lsn " + std::to_string(pg.lsn) +
          ") after releasing the voters at lsn " + std::to_string(*n.released_at));
}

void CommandChecks::Promoted(int i, const std::string& name, uint64_t lsn) {
  Node& n = nodes_[i];
  if (!n.stood_for_handoff || !n.handoff || n.handoff->term + 1 != n.stood_term) return;
  ++handoff_promotions_;
  if (lsn < n.handoff->lsn)
    fail_(name + " promoted after a handoff at lsn " + std::to_string(lsn) + ", short of " +
          std::to_string(n.handoff->lsn) + " (lost writes)");
}

}  // namespace kw::failover_sim
