// The failover protocol simulated on top of the real gossip layer, as keepwatchd runs it.
//
// Six members of the reference cluster (pg1, pg2 with PostgreSQL; five voters) on the
// simulated network of test/agent/gossip/net.h.  Each member runs, on its own clock:
// - a real gossip::Swim member (datagrams through the real wire codec, with the run's
//   loss, delay and cuts);
// - the real Failover machine, ticked every 100 ms like FailoverService, its messages
//   encoded by EncodeFailover and carried as gossip user payloads on the same network
//   (best effort, as GossipService::SendUser), checked like FailoverService::Loop;
// - for pg1/pg2, a model of PostgreSQL (sim_pg.h) probed every 2 s (the postgres check's
//   default interval) through InterpretPostgresReply into a Snapshot, from which the
//   daemon's own functions derive what the machine sees: LocalPgFrom for its own
//   PostgreSQL, NodeStateFromSnapshot plus its term and leader for the node state it
//   gossips, and PeersFromView of its Swim view for the others (alive / dead and their
//   PostgreSQL, term and leader, as stale as gossip leaves them).
//
// The machine's actions are carried out as FailoverService does (sim_ops.h): a
// switchover's fence, then its final WAL position handed to HandoffReady; a rejoin.
// Operator commands come through Operate, as through the daemon's /admin.
//
// Checked after every event (the only instants anything can start serving): at most one
// member answers 200 on /primary (leader, lease valid on its clock, its snapshot shows a
// writable primary; a crashed or paused agent answers nothing), no term has two
// leaders, and the invariants of the operator commands (sim_ops.h: no write after the
// voters are released, no write lost by a switchover, no automatic election while paused).
// Deterministic: one seed replays a run (KW_SIM_LOG=1 prints every decision). Not thread-safe; one
// simulation per thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "agent/clock.h"
#include "agent/failover/failover.h"
#include "agent/snapshot.h"
#include "test/agent/failover/sim_ops.h"
#include "test/agent/failover/sim_pg.h"
#include "test/agent/gossip/net.h"

namespace kw::failover_sim {

struct GossipSimOptions {
  uint64_t seed = 1;
  double loss = 0;  // per datagram, gossip and failover alike
  // The [cluster] probe_interval: gossip's probe period and the leader's renewal
  // interval (FailoverConfigFrom).  1 s is memberlist's LAN default; 200 ms makes the
  // failure detector faster than the lease, so that only the lease keeps terms apart.
  Duration probe_interval = seconds(1);
  bool drift = true;  // clock rates drawn within ±1% (inside the 500 ms drift margin)
};

class GossipSim {
 public:
  explicit GossipSim(const GossipSimOptions& o);
  ~GossipSim();

  // Runs until simulated `ms` (since the start) or the first violated invariant.
  bool RunUntil(int ms);
  int now_ms() const;
  const std::string& failure() const { return failure_; }

  int size() const { return static_cast<int>(nodes_.size()); }
  const std::string& name(int i) const;
  // The member answering 200 on /primary now, or -1.
  int Serving();
  Failover& machine(int i) { return *nodes_[i].fo; }
  const SimPg& pg(int i) const { return nodes_[i].pg; }
  bool crashed(int i) const { return nodes_[i].crashed; }
  // When `observer`'s gossip first marked `subject` dead since `subject` last crashed
  // (ms since the start), or -1.
  int DeadSeenAt(int observer, int subject) const { return dead_seen_[observer][subject]; }

  // Faults.  A crash takes the host down (agent and PostgreSQL, memory lost); a restart
  // keeps the durable failover state and PostgreSQL's data.
  void Crash(int i);
  void Restart(int i);
  void Pause(int i, int ms);  // the agent only (SIGSTOP); PostgreSQL runs on
  void Cut(int from, int to, bool cut) { cut_[from][to] = cut; }
  bool IsCut(int from, int to) const { return cut_[from][to]; }
  bool has_pg(int i) const { return nodes_[i].priority >= 0; }
  bool needs_rejoin(int i) const { return !nodes_[i].crashed && nodes_[i].fo->needs_rejoin(); }
  // An operator's command on member i (nothing while its agent is down or paused).
  void Operate(int i, OpKind op, int target);
  const CommandChecks& checks() const { return checks_; }
  std::mt19937_64& rng() { return rng_; }

 private:
  struct Node {
    std::string name;
    int priority = -1;  // -1: no PostgreSQL
    DurableState disk{0, "", "", true};
    std::unique_ptr<Failover> fo;
    bool crashed = false;
    SimPg pg;
    Snapshot snap;  // the postgres check's latest result (none for other members)
    LocalPg local;  // LocalPgFrom(snap)
    TimePoint next_tick{}, next_probe{};  // global
    int handoff_at = -1;                  // ms its switchover's fence is done (HandoffReady)
  };
  void Start(int i);
  void Probe(int i);
  void Tick(int i);
  template <class Call>
  void Run(int i, bool tick, const World& w, Call&& call);
  void OnUser(int i, const gossip::Delivered& d);
  void OnEvent(int i, const gossip::MemberEvent& e);
  World WorldOf(int i) const;
  void Apply(int i, const Actions& a);
  void Publish(int i);
  void Check();
  void Fail(const std::string& why);
  TimePoint Local(int i) const { return net_->Local(i, now_); }
  bool Running(int i) const { return !nodes_[i].crashed && net_->running(i); }

  GossipSimOptions o_;
  std::mt19937_64 rng_;
  FailoverConfig base_;
  std::vector<Node> nodes_;
  std::unique_ptr<gossip::sim::SwimNet> net_;
  std::vector<std::vector<bool>> cut_;  // cut_[a][b]: a's datagrams do not reach b
  TimePoint now_;
  TimePoint next_pg_step_;
  std::vector<std::vector<int>> dead_seen_;
  std::map<uint64_t, std::string> leader_of_term_;
  std::string failure_;
  bool log_;
  CommandChecks checks_;
};

}  // namespace kw::failover_sim
