#include "agent/roles.h"

#include <optional>

#include "agent/json.h"
#include "agent/units.h"

namespace kw {
namespace {

enum class Endpoint { kPrimary, kReplica, kReadOnly, kHealth };

std::optional<Endpoint> EndpointOf(std::string_view path) {
  if (path == "/" || path == "/primary" || path == "/read-write" || path == "/master")
    return Endpoint::kPrimary;
  if (path == "/replica" || path == "/standby") return Endpoint::kReplica;
  if (path == "/read-only") return Endpoint::kReadOnly;
  if (path == "/health") return Endpoint::kHealth;
  return std::nullopt;
}

// What the request asks beyond the path.
struct Want {
  std::optional<uint64_t> lag;  // ?lag=, else the check's max_lag
};

Answer BadRequest(const std::string& message) {
  JsonWriter w;
  w.BeginObject().Key("error").String(message).EndObject();
  return Answer{400, w.str()};
}

// Everything a verdict needs from the postgres check's latest result.
struct PgView {
  const CheckState* check = nullptr;
  std::string role;  // "primary", "replica", or "" when unknown
  bool writable = false;
  std::string wal_receiver;
  std::optional<double> lag_bytes;
  std::optional<double> lag_seconds;
  std::optional<double> timeline;
  uint64_t max_lag = 16ull << 20;
};

PgView View(const CheckState& c) {
  PgView v;
  v.check = &c;
  if (!c.has_result || c.last.outcome != Outcome::kPass) return v;
  if (const std::string* r = c.last.FindLabel("role")) v.role = *r;
  if (const std::string* s = c.last.FindLabel("wal_receiver")) v.wal_receiver = *s;
  if (const double* w = c.last.FindValue("writable")) v.writable = *w != 0;
  if (const double* l = c.last.FindValue("lag_bytes")) v.lag_bytes = *l;
  if (const double* l = c.last.FindValue("lag_seconds")) v.lag_seconds = *l;
  if (const double* t = c.last.FindValue("timeline")) v.timeline = *t;
  if (const double* m = c.last.FindValue("max_lag_bytes"); m && *m >= 0)
    v.max_lag = static_cast<uint64_t>(*m);
  return v;
}

struct Verdict {
  bool ok = false;
  std::string reason;
};

// Why PostgreSQL's role is not known right now, or nullopt when it is.  A role needs the
// check debounced up (rise) and the latest probe passing: a single failed probe takes the
// role away at once, although `fall` has not yet brought the check down.  Saying 503 early
// and 200 late is the safe direction for /primary; HAProxy adds its own rise/fall.
std::optional<std::string> Unknown(const PgView& v) {
  const CheckState& c = *v.check;
  if (!c.has_result) return "no result from the postgres check yet";
  if (c.last.outcome != Outcome::kPass)
    return "postgres check " + std::string(Describe(c.last.outcome).name) + ": " + c.last.detail;
  if (!c.up) return "postgres check not up yet (rise): " + c.last.detail;
  if (v.role.empty()) return "postgres check result carries no role";
  return std::nullopt;
}

// A replica is usable when it streams and is within the lag limit.
Verdict ReplicaVerdict(const PgView& v, uint64_t limit) {
  if (v.wal_receiver != "streaming")
    return {false, "replica not streaming (WAL receiver: " +
                       (v.wal_receiver.empty() ? std::string("none") : v.wal_receiver) + ")"};
  if (!v.lag_bytes) return {false, "replica lag unknown"};
  uint64_t lag = static_cast<uint64_t>(*v.lag_bytes);
  std::string cmp = "lag " + FormatSize(lag) + (lag > limit ? " > " : " <= ") + FormatSize(limit);
  if (lag > limit) return {false, cmp};
  return {true, "streaming, " + cmp};
}

Verdict Decide(Endpoint e, const PgView& v, uint64_t limit) {
  switch (e) {
    case Endpoint::kHealth:
      return {true, "PostgreSQL answers as " + v.role};
    case Endpoint::kPrimary:
      if (v.role != "primary") return {false, "not a primary: " + v.role};
      if (!v.writable) return {false, "primary is read-only (transaction_read_only)"};
      return {true, "writable primary"};
    case Endpoint::kReplica:
      if (v.role != "replica") return {false, "not a replica: " + v.role};
      return ReplicaVerdict(v, limit);
    case Endpoint::kReadOnly:
      if (v.role == "primary") return {true, "primary"};
      return ReplicaVerdict(v, limit);
  }
  return {false, "unknown endpoint"};
}

}  // namespace

bool IsRolePath(std::string_view path) { return EndpointOf(path).has_value(); }

Answer AnswerRole(std::string_view path, const Query& query, const Snapshot& snap) {
  std::optional<Endpoint> e = EndpointOf(path);
  if (!e) return BadRequest("not a role endpoint");

  // The query is checked before anything else: a malformed one is the caller's error
  // whatever PostgreSQL is doing.  Other keys (Patroni's ?tag_key=) are ignored.
  Want want;
  if (auto it = query.find("lag"); it != query.end()) {
    Result<uint64_t> lag = ParseSize(it->second);
    if (!lag.ok()) return BadRequest("lag: " + lag.status().message());
    want.lag = *lag;
  }
  if (auto it = query.find("replication_state"); it != query.end() && it->second != "streaming")
    return BadRequest("replication_state: only 'streaming' is supported, got '" + it->second + "'");

  JsonWriter w;
  w.BeginObject();
  const CheckState* c = snap.FindType("postgres");
  if (!c) {
    w.Key("role").String("unknown").Key("reason").String("no postgres check is configured");
    w.EndObject();
    return Answer{503, w.str()};
  }
  PgView v = View(*c);
  std::optional<std::string> unknown = Unknown(v);
  Verdict verdict;
  uint64_t limit = want.lag.value_or(v.max_lag);
  if (unknown && !(*e == Endpoint::kHealth && c->up && c->has_result))
    verdict = {false, *unknown};
  else if (unknown)  // /health while a failure is within `fall`: still up
    verdict = {true, "PostgreSQL up (last probe: " + c->last.detail + ")"};
  else
    verdict = Decide(*e, v, limit);

  w.Key("role").String(v.role.empty() ? "unknown" : v.role);
  w.Key("reason").String(verdict.reason);
  w.Key("check").String(c->name);
  if (v.timeline) w.Key("timeline").Int(static_cast<long long>(*v.timeline));
  if (v.role == "replica") {
    w.Key("replication_state").String(v.wal_receiver.empty() ? "none" : v.wal_receiver);
    if (v.lag_bytes) w.Key("lag_bytes").Int(static_cast<long long>(*v.lag_bytes));
    if (v.lag_seconds) w.Key("lag_seconds").Number(*v.lag_seconds);
    w.Key("max_lag_bytes").Int(static_cast<long long>(limit));
  }
  w.EndObject();
  return Answer{verdict.ok ? 200 : 503, w.str()};
}

}  // namespace kw
