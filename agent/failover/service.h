// Runs the failover state machine (failover.h) in the daemon.
//
// One thread owns the Failover object: it ticks every 100 ms and on every message,
// builds the World from the published check snapshot (the local PostgreSQL) and the
// gossip view (PeerSource), persists the durable state before anything is sent, hands
// messages to the transport, and queues PostgreSQL actions (promote, fence, unfence) to
// a second thread so that a slow or hung PostgreSQL never stalls lease renewals.
//
// Thread-safety: Deliver(), PrimaryVeto() and View() may be called from any thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/failover/failover.h"
#include "agent/log.h"
#include "agent/snapshot.h"

namespace kw {

// Carries encoded failover messages to other members (the gossip transport).
class FailoverTransport {
 public:
  virtual ~FailoverTransport() = default;
  virtual void SendFailover(const std::string& to, const std::string& payload) = 0;
};

// The other members as gossip sees them now.
class PeerSource {
 public:
  virtual ~PeerSource() = default;
  virtual std::vector<Peer> Peers() const = 0;
};

// What the failover does to the local PostgreSQL.  Called on the action thread only.
class PgActuator {
 public:
  virtual ~PgActuator() = default;
  virtual Status Promote(TimePoint deadline) = 0;
  virtual Status Fence(TimePoint deadline) = 0;
  virtual Status Unfence(TimePoint deadline) = 0;
  // Make the local PostgreSQL (a former primary) a streaming replica of `primary`
  // (pg_rewind, then follow; or rejoin_command).
  virtual Status Rejoin(const HostPort& primary, TimePoint deadline) = 0;
  // The local WAL position now (pg_current_wal_lsn; after fence = stop, the shutdown
  // checkpoint's): a switchover's final position, read once the fence is done.
  virtual Result<uint64_t> WalLsn(TimePoint deadline) = 0;
};

// The local PostgreSQL as the first check of type "postgres" last reported it.
LocalPg LocalPgFrom(const Snapshot& snap);

enum class OpKind { kSwitchover, kFailover, kPause, kResume, kRejoin };
struct Operation {
  OpKind kind = OpKind::kPause;
  std::string target;  // switchover / failover: the member to promote
};

struct FailoverView {
  Role role = Role::kFollower;
  uint64_t term = 0;
  std::string leader;
  TimePoint serving_until{};  // lease end while leader with a lease, else the epoch
  bool fenced = false;
  bool needs_rejoin = false;
  uint64_t elections_started = 0;
  uint64_t elections_won = 0;
  uint64_t prevotes_refused = 0;
  uint64_t votes_granted = 0;
  uint64_t votes_refused = 0;
  uint64_t fences = 0;
  uint64_t promotions = 0;
  uint64_t rejoins = 0;          // rejoins started
  uint64_t rejoin_failures = 0;  // rejoins that failed
  uint64_t commands = 0;         // operator commands taken
  bool paused = false;
  uint64_t pause_version = 0;
  bool rejoining = false;   // a rejoin runs now
  std::string last_rejoin;  // how the last rejoin ended
  uint64_t bad_messages = 0;
  uint64_t persist_failures = 0;
  std::deque<std::string> decisions;  // the latest, oldest first
};

class FailoverService {
 public:
  // Loads the durable state from state_dir (a corrupt file is an error: do not start).
  static Result<std::unique_ptr<FailoverService>> Start(FailoverConfig cfg, std::string state_dir,
                                                        const Clock& clock, const SnapshotBox& box,
                                                        const PeerSource& peers,
                                                        FailoverTransport& transport,
                                                        PgActuator& pg, Logger& log);
  ~FailoverService();
  FailoverService(const FailoverService&) = delete;
  FailoverService& operator=(const FailoverService&) = delete;

  // A payload from `from` (authenticated by the transport).  A malformed message, or one
  // whose sender field is not `from`, is dropped and counted.
  void Deliver(const std::string& from, std::string_view payload);
  // Why this node may not answer 200 on /primary at `now`, or nullopt when it may.
  std::optional<std::string> PrimaryVeto(TimePoint now) const;
  FailoverView View() const;
  // Operator step-down (switchover, maintenance).
  void RequestStepDown(const std::string& why);
  // An operator's command (keepwatch switchover/failover/pause/resume/rejoin), queued for
  // the state machine.  The error says why it cannot be taken; its outcome shows in the
  // decisions, /status and /cluster.
  Status Submit(const Operation& op);

 private:
  FailoverService(FailoverConfig cfg, DurableState state, std::string state_dir, const Clock& clock,
                  const SnapshotBox& box, const PeerSource& peers, FailoverTransport& transport,
                  PgActuator& pg, Logger& log);
  void Loop();
  void ActionLoop();
  World BuildWorld() const;
  void Carry(const Actions& a);
  Actions Apply(const Operation& op);
  void QueueRejoin();
  void Publish();

  Failover machine_;
  const FailoverConfig cfg_;  // a copy, read by Submit on any thread
  std::string state_dir_;
  const Clock& clock_;
  const SnapshotBox& box_;
  const PeerSource& peers_;
  FailoverTransport& transport_;
  PgActuator& pg_;
  Logger& log_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::deque<std::pair<std::string, std::string>> inbox_;  // (from, payload)
  std::optional<std::string> step_down_;
  bool fence_failed_ = false;  // set by the action thread
  std::deque<Operation> ops_;
  // A switchover's final WAL position, or why there is none (fence or read failed).
  std::optional<Result<uint64_t>> handoff_ready_;
  FailoverView view_;
  std::deque<std::function<void()>> actions_;
  std::condition_variable action_cv_;
  std::thread thread_;
  std::thread action_thread_;
};

}  // namespace kw
