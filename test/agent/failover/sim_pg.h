// The PostgreSQL pair as the failover simulations model it (failover_sim_test.cpp with
// its membership oracle, gossip_sim.h with the real gossip layer): a primary whose
// clients write while it is writable, replicas that stream from a primary they reach on a
// timeline at least their own (catching up at a bounded rate, so a replica cut off for a
// while or under a burst of writes lags), promotion that takes a while (the WAL receiver
// stops at once) and starts a new timeline, fencing that takes
// a while (writes go on until it is done), and a rejoin (pg_rewind, then follow) during
// which PostgreSQL is stopped.
#pragma once

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "checks/pg_connection.h"

namespace kw::failover_sim {

struct SimPg {
  bool up = true;
  bool in_recovery = false;
  bool writable = true;  // false once fenced (readonly)
  uint64_t timeline = 1;
  uint64_t lsn = 0;      // primary: current; replica: received
  int promote_at = -1;   // simulated ms when a requested promotion completes
  int fence_at = -1;     // ... a requested fence (read-only, sessions cut) completes
  int rejoin_at = -1;    // ... a requested rejoin completes
  int rejoin_from = -1;  // the member whose PostgreSQL the rejoin rewinds from
  bool streaming = false;
};

inline constexpr int kPromoteMs = 500;  // pg_promote(wait => true)
// Clients write kWritesPerStep per step, and kBurstWritesPerStep during the first
// kBurstMs of every kBurstEveryMs: more than a replica receives per step, so that replicas
// lag behind a busy primary (then catch up), as they do.
inline constexpr uint64_t kWritesPerStep = 10;
inline constexpr uint64_t kBurstWritesPerStep = 100;
inline constexpr int kBurstMs = 1000;
inline constexpr int kBurstEveryMs = 5000;
inline constexpr uint64_t kCatchUpPerStep = 40;  // a streaming replica's LSN per step, at most
uint64_t WritesPerStep(int now_ms);

// Asks for a promotion (idempotent; nothing when down or already a primary).
void RequestPromote(SimPg& pg, int now_ms);
// Asks for the fence, done at now_ms + delay_ms (nothing when down; a pending one stays).
void RequestFence(SimPg& pg, int now_ms, int delay_ms);
// Lifts the fence.  The action thread runs it after any fence queued before it, so a
// pending fence is simply dropped.
void Unfence(SimPg& pg);
// Stops PostgreSQL and rewinds it from member `from`'s, done at now_ms + delay_ms: then a
// replica of `from` on its timeline and WAL if that one is up, a primary and reachable;
// otherwise PostgreSQL starts again as it was (pg_rewind failed).
void RequestRejoin(SimPg& pg, int now_ms, int delay_ms, int from);
// The host went down: PostgreSQL and every pending action with it.
void CrashPg(SimPg& pg);

// One step at `now_ms` of every member's PostgreSQL (null: no PostgreSQL, or its host
// is down): promotions, fences and rejoins due complete, writable primaries advance,
// replicas stream from a primary they are connected to (`connected(primary, replica)`,
// both directions).  Returns the promotions completed (member, LSN at promotion).
std::vector<std::pair<int, uint64_t>> StepPostgres(const std::vector<SimPg*>& pgs, int now_ms,
                                                   const std::function<bool(int, int)>& connected);

// What the postgres check's query returns (the columns checks/postgres.cpp reads), or
// a refused connection while PostgreSQL is down.
PgReply QueryOf(const SimPg& pg);

}  // namespace kw::failover_sim
