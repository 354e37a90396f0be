// What the daemon shows of the gossip layer: the /cluster JSON body, the gossip lines of
// /metrics, and the node state an agent gossips about itself (built from its snapshot).
// Pure functions of a ClusterView / Snapshot; any thread.
#pragma once

#include <string>

#include "agent/clock.h"
#include "agent/gossip/service.h"
#include "agent/roles.h"
#include "agent/snapshot.h"

namespace kw::gossip {

// /cluster: always 200.  {"cluster","node","awareness","alive","suspect","dead","term",
// "leader","members":[{"name","self","status","incarnation","status_since_seconds",
// "last_heard_seconds","state":{"role","timeline","received_lsn",...}}]}.  LSNs are
// PostgreSQL's "X/Y" text (JSON numbers cannot hold 64 bits exactly).
Answer ClusterAnswer(const ClusterView& view, TimePoint now);

// Appends keepwatch_gossip_* metrics (Prometheus text format, with HELP/TYPE).
void AppendGossipMetrics(const ClusterView& view, TimePoint now, std::string& out);

// Our own node state from the latest snapshot: every check's debounced state (count
// passing/failing, up to 8 failing names), and from the first `postgres` check its
// label "role" and values "timeline", "received_lsn", "replayed_lsn", "current_lsn".
// Term and leader are left for the failover layer to fill in.
NodeState NodeStateFromSnapshot(const Snapshot& snap);

// "16/B374D848"
std::string FormatLsn(uint64_t lsn);

}  // namespace kw::gossip
