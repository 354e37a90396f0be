// The PostgreSQL pair as the failover simulations model it (failover_sim_test.cpp with
// its membership oracle, gossip_sim.h with the real gossip layer): a primary whose
// clients write, replicas that stream from a primary they reach on a timeline at least
// their own, promotion that takes a while and starts a new timeline, and fencing.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "checks/pg_connection.h"

namespace kw::failover_sim {

struct SimPg {
  bool up = true;
  bool in_recovery = false;
  bool writable = true;  // false once fenced (readonly)
  uint64_t timeline = 1;
  uint64_t lsn = 0;     // primary: current; replica: received
  int promote_at = -1;  // simulated ms when a requested promotion completes
  bool streaming = false;
};

inline constexpr int kPromoteMs = 500;  // pg_promote(wait => true)

// Asks for a promotion (idempotent; nothing when down or already a primary).
void RequestPromote(SimPg& pg, int now_ms);

// One step at `now_ms` of every member's PostgreSQL (null: no PostgreSQL, or its host
// is down): promotions due complete, writable primaries advance, replicas stream from a
// primary they are connected to (`connected(primary, replica)`, both directions).
void StepPostgres(const std::vector<SimPg*>& pgs, int now_ms,
                  const std::function<bool(int, int)>& connected);

// What the postgres check's query returns (the columns checks/postgres.cpp reads), or
// a refused connection while PostgreSQL is down.
PgReply QueryOf(const SimPg& pg);

}  // namespace kw::failover_sim
