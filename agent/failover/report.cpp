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
      {"keepwatch_failover_elections_won_total", "counter", "Elections this node won.",
       double(v.elections_won)},
      {"keepwatch_failover_votes_granted_total", "counter", "Votes this node granted.",
       double(v.votes_granted)},
      {"keepwatch_failover_votes_refused_total", "counter", "Votes this node refused.",
       double(v.votes_refused)},
      {"keepwatch_failover_fences_total", "counter", "Fence actions started.", double(v.fences)},
      {"keepwatch_failover_promotions_total", "counter", "Promotions started.",
       double(v.promotions)},
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

std::string FailoverStatusPhrase(const FailoverView& v, TimePoint now) {
  std::string term = "term " + std::to_string(v.term);
  if (v.needs_rejoin)
    return "FENCED: former primary, " + v.leader + " leads " + term + "; run keepwatch rejoin";
  if (v.role == Role::kLeader)
    return v.serving_until > now ? "leader, " + term : "leader without lease, " + term;
  if (v.role == Role::kCandidate) return "candidate, " + term;
  if (v.fenced) return "fenced, " + term;
  return v.leader.empty() ? "no leader, " + term : "follower of " + v.leader + ", " + term;
}

}  // namespace kw
