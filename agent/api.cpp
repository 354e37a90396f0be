#include "agent/api.h"

#include <sodium.h>

#include <cstdio>
#include <ctime>

#include "agent/gossip/crypto.h"
#include "agent/json.h"
#include "agent/ui.h"
#include "agent/units.h"

namespace kw {
namespace {

Answer JsonAnswer(int status, const JsonWriter& w) { return Answer{status, w.str()}; }

Answer Error(int status, std::string_view message) {
  JsonWriter w;
  w.BeginObject().Key("error").String(message).EndObject();
  return JsonAnswer(status, w);
}

// A steady-clock instant as wall-clock UTC ("2026-11-24T20:31:05Z"), for people.
std::string WallTime(TimePoint t, TimePoint now) {
  auto wall = std::chrono::system_clock::now() -
              std::chrono::duration_cast<std::chrono::system_clock::duration>(now - t);
  std::time_t tt = std::chrono::system_clock::to_time_t(wall);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

const char* StateName(const CheckState& c) {
  if (!c.has_result) return "unknown";
  return c.up ? "up" : "down";
}

void WriteCheck(JsonWriter& w, const CheckState& c, TimePoint now) {
  w.BeginObject();
  w.Key("name").String(c.name).Key("type").String(c.type);
  w.Key("state").String(StateName(c));
  if (c.has_result) {
    w.Key("outcome").String(Describe(c.last.outcome).name);
    w.Key("detail").String(c.last.detail);
    w.Key("since").String(WallTime(c.since, now));
    w.Key("since_seconds").Number(ToSeconds(now - c.since));
    w.Key("last_run").String(WallTime(c.last_run, now));
    w.Key("duration_ms").Number(ToSeconds(c.last_duration) * 1000);
    w.Key("consecutive_failures").Int(c.consecutive_failures);
    w.Key("transitions").Int(static_cast<long long>(c.transitions));
    if (c.stuck) w.Key("stuck").Bool(true);
    if (!c.last.values.empty()) {
      w.Key("values").BeginObject();
      for (const auto& [k, v] : c.last.values) w.Key(k).Number(v);
      w.EndObject();
    }
    if (!c.last.labels.empty()) {
      w.Key("labels").BeginObject();
      for (const auto& [k, v] : c.last.labels) w.Key(k).String(v);
      w.EndObject();
    }
  } else {
    w.Key("detail").String("no result yet");
  }
  w.EndObject();
}

Answer CheckAnswer(const CheckState& c, TimePoint now) {
  JsonWriter w;
  WriteCheck(w, c, now);
  return JsonAnswer(c.has_result && c.up ? 200 : 503, w);
}

Answer StatusAnswer(const ApiSources& src, const Snapshot& snap, TimePoint now) {
  JsonWriter w;
  w.BeginObject();
  w.Key("node").String(src.node).Key("version").String(src.version);
  w.Key("uptime_seconds").Number(ToSeconds(now - snap.started));
  w.Key("ready").Bool(snap.AllHaveResults());
  int passing = 0;
  for (const CheckState& c : snap.checks) passing += c.has_result && c.up;
  w.Key("checks_passing")
      .Int(passing)
      .Key("checks_total")
      .Int(static_cast<long long>(snap.checks.size()));
  w.Key("checks").BeginArray();
  for (const CheckState& c : snap.checks) WriteCheck(w, c, now);
  w.EndArray();
  for (const auto& add : src.status) add(w);
  w.EndObject();
  return JsonAnswer(200, w);
}

Answer Simple(bool ok, std::string_view what_ok, std::string_view what_not) {
  JsonWriter w;
  w.BeginObject()
      .Key("status")
      .String(ok ? "ok" : "fail")
      .Key("reason")
      .String(ok ? what_ok : what_not);
  w.EndObject();
  return JsonAnswer(ok ? 200 : 503, w);
}

bool IsWritePath(std::string_view path) {
  return path == "/" || path == "/primary" || path == "/read-write" || path == "/master";
}

Answer Readiness(const Snapshot& snap) {
  std::string waiting;
  for (const CheckState& c : snap.checks)
    if (!c.has_result) waiting += (waiting.empty() ? "" : ", ") + c.name;
  return Simple(waiting.empty(), "every check has a result",
                "waiting for a first result: " + waiting);
}

}  // namespace

Answer HandleAdmin(const ApiSources& src, std::string_view method, std::string_view path,
                   const Query& query, const AdminCaller& caller) {
  if (method != "POST") return Error(405, "method not allowed (POST)");
  if (!src.admin_token || !src.admin)
    return Error(403, "operator commands are disabled: set [agent] admin_token_file");
  if (!caller.loopback && !src.admin_remote)
    return Error(403, "operator commands are only taken from this host (see admin_remote)");
  constexpr std::string_view kBearer = "Bearer ";
  std::string_view auth = caller.authorization;
  auto token = auth.rfind(kBearer, 0) == 0 ? gossip::ParseKeyHex(auth.substr(kBearer.size()))
                                           : Result<gossip::Key>(Status::Error("no token"));
  if (!token.ok() || sodium_memcmp(token->data(), src.admin_token->data(), token->size()) != 0)
    return Error(401, "a valid admin token is needed (Authorization: Bearer TOKEN)");
  return src.admin(path.substr(std::string_view("/admin/").size()), query);
}

Answer HandleRequest(const ApiSources& src, std::string_view method, std::string_view path,
                     const Query& query) {
  if (method != "GET" && method != "HEAD" && method != "OPTIONS")
    return Error(405, "method not allowed (GET, HEAD, OPTIONS)");
  std::shared_ptr<const Snapshot> snap = src.snapshots->Get();
  TimePoint now = SteadyClock::now();
  if (IsRolePath(path)) {
    Answer a = AnswerRole(path, query, *snap);
    if (a.status == 200 && src.primary_veto && IsWritePath(path)) {
      if (auto why = src.primary_veto(now)) {
        JsonWriter w;
        w.BeginObject().Key("role").String("primary").Key("reason").String(*why).EndObject();
        return JsonAnswer(503, w);
      }
    }
    return a;
  }
  if (path == "/liveness") {
    bool live = !src.live || src.live();
    return Simple(live, "agent loops are making progress", "agent loops are stalled");
  }
  if (path == "/readiness") return Readiness(*snap);
  if (path == "/status") return StatusAnswer(src, *snap, now);
  if (path == "/metrics") {
    Answer a{200, RenderMetrics(*snap, src, now), "text/plain; version=0.0.4; charset=utf-8"};
    return a;
  }
  if (path == "/ui") return Answer{200, std::string(StatusPageHtml()), "text/html; charset=utf-8"};
  if (path == "/cluster") {
    if (src.cluster) return src.cluster();
    JsonWriter w;
    w.BeginObject().Key("node").String(src.node).Key("members").BeginArray().EndArray();
    w.Key("reason").String("no [cluster] is configured").EndObject();
    return JsonAnswer(200, w);
  }
  constexpr std::string_view kCheck = "/check/";
  if (path.substr(0, kCheck.size()) == kCheck) {
    const CheckState* c = snap->Find(path.substr(kCheck.size()));
    if (!c) return Error(404, "no check named '" + std::string(path.substr(kCheck.size())) + "'");
    return CheckAnswer(*c, now);
  }
  return Error(404, "no such endpoint");
}

// --- /metrics ----------------------------------------------------------------------

namespace {

std::string Label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"')
      out += {'\\', c};
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

void Metric(std::string& out, std::string_view name, std::string_view labels, double v) {
  char num[32];
  std::snprintf(num, sizeof num, "%.9g", v);
  out += name;
  if (!labels.empty()) out += "{" + std::string(labels) + "}";
  out += " ";
  out += num;
  out += "\n";
}

void Help(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP " + std::string(name) + " " + std::string(help) + "\n";
  out += "# TYPE " + std::string(name) + " " + std::string(type) + "\n";
}

}  // namespace

std::string RenderMetrics(const Snapshot& snap, const ApiSources& src, TimePoint now) {
  std::string out;
  Help(out, "keepwatch_build_info", "gauge", "Agent version.");
  Metric(out, "keepwatch_build_info", "version=\"" + Label(src.version) + "\"", 1);
  Help(out, "keepwatch_uptime_seconds", "gauge", "Seconds since the agent started.");
  Metric(out, "keepwatch_uptime_seconds", "", ToSeconds(now - snap.started));

  struct Family {
    const char* name;
    const char* type;
    const char* help;
    double (*get)(const CheckState&);
  };
  static const Family kFamilies[] = {
      {"keepwatch_check_up", "gauge", "Debounced check state: 1 up, 0 down or no result yet.",
       [](const CheckState& c) { return c.has_result && c.up ? 1.0 : 0.0; }},
      {"keepwatch_check_duration_seconds", "gauge", "Duration of the latest probe.",
       [](const CheckState& c) { return ToSeconds(c.last_duration); }},
      {"keepwatch_check_consecutive_failures", "gauge", "Failed probes in a row.",
       [](const CheckState& c) { return double(c.consecutive_failures); }},
      {"keepwatch_check_transitions_total", "counter", "Debounced up/down changes.",
       [](const CheckState& c) { return double(c.transitions); }},
      {"keepwatch_check_probes_total", "counter", "Probes run (timeouts included).",
       [](const CheckState& c) { return double(c.runs); }},
      {"keepwatch_check_stuck", "gauge", "1 while a probe runs past its deadline.",
       [](const CheckState& c) { return c.stuck ? 1.0 : 0.0; }},
  };
  for (const Family& f : kFamilies) {
    Help(out, f.name, f.type, f.help);
    for (const CheckState& c : snap.checks)
      Metric(out, f.name, "check=\"" + Label(c.name) + "\",type=\"" + Label(c.type) + "\"",
             f.get(c));
  }
  Help(out, "keepwatch_check_outcome", "gauge", "1 for the outcome of the latest probe.");
  for (const CheckState& c : snap.checks) {
    if (!c.has_result) continue;
    for (Outcome o : {Outcome::kPass, Outcome::kFail, Outcome::kTimeout, Outcome::kError})
      Metric(out, "keepwatch_check_outcome",
             "check=\"" + Label(c.name) + "\",outcome=\"" + Describe(o).name + "\"",
             c.last.outcome == o ? 1 : 0);
  }
  Help(out, "keepwatch_check_value", "gauge", "Named numbers the latest probe reported.");
  for (const CheckState& c : snap.checks)
    for (const auto& [k, v] : c.last.values)
      Metric(out, "keepwatch_check_value",
             "check=\"" + Label(c.name) + "\",name=\"" + Label(k) + "\"", v);
  for (const auto& add : src.metrics) add(out);
  return out;
}

}  // namespace kw
