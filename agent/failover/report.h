// The failover view in /status (a "failover" object) and /metrics (keepwatch_failover_*).
#pragma once

#include <string>

#include "agent/failover/service.h"
#include "agent/json.h"
#include "agent/roles.h"

namespace kw {

// Writes "failover": {...} into an open JSON object.
void WriteFailoverStatus(JsonWriter& w, const FailoverView& v, TimePoint now);
void AppendFailoverMetrics(std::string& out, const FailoverView& v, TimePoint now);
// One phrase for systemd's STATUS= line: "leader term 4", "follower of pg1 (term 4)",
// "FENCED: former primary, pg2 leads term 5; run keepwatch rejoin".
// POST /admin/COMMAND (already authenticated): switchover?to=NODE, failover?to=NODE,
// pause, resume, rejoin.  202 when queued, 400 for a bad request, 404 for an unknown
// command, 409 when it cannot be taken now (why), 503 without failover on this node.
Answer AnswerCommand(FailoverService* svc, std::string_view command, const Query& query);

std::string FailoverStatusPhrase(const FailoverView& v, TimePoint now);

}  // namespace kw
