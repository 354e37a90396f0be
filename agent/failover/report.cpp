#include "agent/failover/report.h"

namespace kw {

void WriteFailoverStatus(JsonWriter& w, const FailoverView& v, TimePoint now) {
  w.Key("failover").BeginObject();
  w.Key("role").String(RoleName(v.role));
  w.Key("term").Int(static_cast<long long>(v.term));
  w.Key("leader").String(v.leader);
  bool lease = v.serving_until > now;
  w.Key("lease").Bool(lease);
  if (lease) w.Key("lease_remaining_ms").Int(ToMillis(v.serving_until - now));
  w.Key("fenced").Bool(v.fenced);
  w.Key("needs_rejoin").Bool(v.needs_rejoin);
  w.Key("paused").Bool(v.paused);
  w.Key("rejoining").Bool(v.rejoining);
  w.Key("last_rejoin").String(v.last_rejoin);
  w.Key("decisions").BeginArray();
  for (const std::string& d : v.decisions) w.String(d);
  w.EndArray();
  w.EndObject();
}

void AppendFailoverMetrics(std::string& out, const FailoverView& v, TimePoint now) {
  struct Line {
    const char* name;
    const char* type;
    const char* help;
    double value;
  };
  const Line lines[] = {
      {"keepwatch_failover_term", "gauge", "Current failover term.", double(v.term)},
      {"keepwatch_failover_leader", "gauge", "1 while this node leads with a valid lease.",
       v.serving_until > now ? 1.0 : 0.0},
      {"keepwatch_failover_fenced", "gauge", "1 while this node's PostgreSQL is fenced.",
       v.fenced ? 1.0 : 0.0},
      {"keepwatch_failover_needs_rejoin", "gauge", "1 for a former primary that must rejoin.",
       v.needs_rejoin ? 1.0 : 0.0},
      {"keepwatch_failover_paused", "gauge", "1 while an operator paused automatic failover.",
       v.paused ? 1.0 : 0.0},
      {"keepwatch_failover_elections_started_total", "counter",
       "Elections this node started (after a majority's pre-vote).", double(v.elections_started)},
      {"keepwatch_failover_elections_won_total", "counter", "Elections this node won.",
       double(v.elections_won)},
      {"keepwatch_failover_prevotes_refused_total", "counter",
       "Pre-votes this node answered with no (it would not vote).", double(v.prevotes_refused)},
      {"keepwatch_failover_votes_granted_total", "counter", "Votes this node granted.",
       double(v.votes_granted)},
      {"keepwatch_failover_votes_refused_total", "counter", "Votes this node refused.",
       double(v.votes_refused)},
      {"keepwatch_failover_fences_total", "counter", "Fence actions started.", double(v.fences)},
      {"keepwatch_failover_promotions_total", "counter", "Promotions started.",
       double(v.promotions)},
      {"keepwatch_failover_rejoins_total", "counter", "Rejoins started.", double(v.rejoins)},
      {"keepwatch_failover_rejoin_failures_total", "counter", "Rejoins that failed.",
       double(v.rejoin_failures)},
      {"keepwatch_failover_commands_total", "counter", "Operator commands taken.",
       double(v.commands)},
      {"keepwatch_failover_bad_messages_total", "counter", "Malformed failover messages dropped.",
       double(v.bad_messages)},
      {"keepwatch_failover_persist_failures_total", "counter", "State saves that failed.",
       double(v.persist_failures)},
  };
  for (const Line& l : lines) {
    out +=
        std::string("# HELP ") + l.name + " " + l.help + "\n# TYPE " + l.name + " " + l.type + "\n";
    out += std::string(l.name) + " " + std::to_string(static_cast<long long>(l.value)) + "\n";
  }
}

Answer AnswerCommand(FailoverService* svc, std::string_view command, const Query& query) {
  auto error = [](int status, const std::string& message) {
    JsonWriter w;
    w.BeginObject().Key("error").String(message).EndObject();
    return Answer{status, w.str()};
  };
  static const std::pair<std::string_view, OpKind> kCommands[] = {
      {"switchover", OpKind::kSwitchover},
      {"failover", OpKind::kFailover},
      {"pause", OpKind::kPause},
      {"resume", OpKind::kResume},
      {"rejoin", OpKind::kRejoin}};
  Operation op;
  bool known = false;
  for (const auto& [name, kind] : kCommands)
    if (name == command) op.kind = kind, known = true;
  if (!known) return error(404, "no command '" + std::string(command) + "'");
  if (op.kind == OpKind::kSwitchover || op.kind == OpKind::kFailover) {
    auto to = query.find("to");
    if (to == query.end() || to->second.empty())
      return error(400, std::string(command) + " needs ?to=NODE");
    op.target = to->second;
  }
  if (!svc)
    return error(503, "failover does not run on this node (no [cluster], or failover = off)");
  Status s = svc->Submit(op);
  if (!s.ok()) return error(409, s.message());
  JsonWriter w;
  w.BeginObject().Key("accepted").String(command);
  if (!op.target.empty()) w.Key("to").String(op.target);
  w.EndObject();
  return Answer{202, w.str()};
}

std::string FailoverStatusPhrase(const FailoverView& v, TimePoint now) {
  std::string term = "term " + std::to_string(v.term);
  if (v.needs_rejoin)
    return "FENCED: former primary, " + v.leader + " leads " + term +
           (v.rejoining ? "; rejoining" : "; run keepwatch rejoin");
  if (v.paused) term += ", failover paused";
  if (v.role == Role::kLeader)
    return v.serving_until > now ? "leader, " + term : "leader without lease, " + term;
  if (v.role == Role::kCandidate) return "candidate, " + term;
  if (v.role == Role::kPreCandidate) return "asking for a pre-vote, " + term;
  if (v.fenced) return "fenced, " + term;
  return v.leader.empty() ? "no leader, " + term : "follower of " + v.leader + ", " + term;
}

}  // namespace kw
