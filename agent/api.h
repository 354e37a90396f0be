// The HTTP endpoint table (DESIGN.md "External contract"), as a pure function from a
// request to an Answer.  The HTTP server (agent/http_server.h) only moves bytes; every
// decision about status codes and bodies is made here, reading published state only.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "agent/roles.h"
#include "agent/snapshot.h"

namespace kw {

// Where the API reads from.  Every member is safe to call from HTTP threads.
struct ApiSources {
  const SnapshotBox* snapshots = nullptr;
  std::string node;
  std::string version;
  // True while the agent's own loops make progress (/liveness).
  std::function<bool()> live;
  // Once failover runs: why this node may not answer 200 on the write endpoints (/,
  // /primary, /read-write, /master) at `now` — no leader lease — or nullopt.  Evaluated
  // per request, against the clock, never cached.
  std::function<std::optional<std::string>(TimePoint now)> primary_veto;
  // /cluster; unset while no [cluster] is configured.
  std::function<Answer()> cluster;
  // Appends further Prometheus lines (HTTP counters, gossip) to /metrics.
  std::vector<std::function<void(std::string&)>> metrics;
  // Adds fields to the /status object (the writer is inside it, before its end).
  std::vector<std::function<void(class JsonWriter&)>> status;
  // Operator commands (POST /admin/NAME).  Disabled while no token is set; callers other
  // than loopback are refused unless admin_remote.  `admin` carries out an authenticated
  // command ("switchover", "failover", "pause", "resume", "rejoin") and answers it.
  std::optional<std::array<uint8_t, 32>> admin_token;
  bool admin_remote = false;
  std::function<Answer(std::string_view command, const Query& query)> admin;
};

// Who sent an /admin request.
struct AdminCaller {
  std::string_view authorization;  // the Authorization header ("Bearer <64 hex>"), or empty
  bool loopback = false;           // from 127.0.0.0/8 or ::1
};

inline bool IsAdminPath(std::string_view path) { return path.rfind("/admin/", 0) == 0; }

// POST only (405 otherwise); 403 while disabled or from the network without
// admin_remote; 401 without the right token; then src.admin's answer.
Answer HandleAdmin(const ApiSources& src, std::string_view method, std::string_view path,
                   const Query& query, const AdminCaller& caller);

// method: "GET", "HEAD", "OPTIONS", anything else → 405.  Unknown path → 404.
Answer HandleRequest(const ApiSources& src, std::string_view method, std::string_view path,
                     const Query& query);

// Prometheus text exposition of the checks and the agent.
std::string RenderMetrics(const Snapshot& snap, const ApiSources& src, TimePoint now);

}  // namespace kw
