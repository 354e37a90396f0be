// The failover view in /status (a "failover" object) and /metrics (keepwatch_failover_*).
#pragma once

#include <string>

#include "agent/failover/service.h"
#include "agent/json.h"

namespace kw {

// Writes "failover": {...} into an open JSON object.
void WriteFailoverStatus(JsonWriter& w, const FailoverView& v, TimePoint now);
void AppendFailoverMetrics(std::string& out, const FailoverView& v, TimePoint now);
// One phrase for systemd's STATUS= line: "leader term 4", "follower of pg1 (term 4)",
// "FENCED: former primary, pg2 leads term 5; run keepwatch rejoin".
std::string FailoverStatusPhrase(const FailoverView& v, TimePoint now);

}  // namespace kw
