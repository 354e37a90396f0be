#include "agent/cli/client.h"

#include <sodium.h>

#include <algorithm>
#include <optional>
#include <thread>

#include "agent/gossip/crypto.h"
#include "agent/http_client.h"
#include "agent/json.h"
#include "agent/units.h"
#include "agent/version.h"

namespace kw {
namespace {

constexpr int kOk = 0, kNo = 1, kUnreachable = 2;

const char* kUsage =
    "usage: keepwatch [--url URL] [--timeout DURATION] [-q] COMMAND\n"
    "commands:\n"
    "  check NAME   exit 0 when the agent answers 200 for NAME (a check name, or a role:\n"
    "               primary, replica, read-only, health, liveness, readiness), 1 otherwise,\n"
    "               2 when the agent cannot be reached\n"
    "  status       a table of the agent's checks\n"
    "  members      a table of the gossip members as the agent sees them\n"
    "  keygen       print a new key (64 hex characters) for [cluster] key_file or\n"
    "               [agent] admin_token_file: keepwatch keygen > FILE; chmod 600 FILE\n"
    "  version      print the client's version\n"
    "operator commands (with the token of [agent] admin_token_file; they wait --wait for\n"
    "the outcome; 0 done, 1 refused or not done in time, 2 agent unreachable):\n"
    "  switchover --to NODE  planned: the primary fences, NODE catches up and is promoted\n"
    "  failover --to NODE    NODE stands for election now (the voters' rules still apply)\n"
    "  pause | resume        stop / restart automatic failover cluster-wide\n"
    "  rejoin                make this node's former primary a replica of the leader\n"
    "defaults: --url http://127.0.0.1:9201 --timeout 1s --wait 60s\n"
    "          --token-file /etc/keepwatch/admin.token\n";

// Sends `req` with its path below the base URL's; an unreachable agent or bad URL prints
// why and yields nullopt.
std::optional<HttpResponse> Call(const ClientOptions& o, HttpRequest req, FILE* err) {
  auto url = ParseUrl(o.url);
  if (!url.ok()) {
    std::fprintf(err, "keepwatch: %s\n", url.status().message().c_str());
    return std::nullopt;
  }
  req.path = (url->path == "/" ? "" : url->path) + req.path;
  auto resp = HttpCall(url->host, req, SteadyClock::now() + o.timeout);
  if (!resp.ok()) {
    std::fprintf(err, "keepwatch: %s: %s\n", o.url.c_str(), resp.status().message().c_str());
    return std::nullopt;
  }
  return std::move(resp.value());
}

std::optional<HttpResponse> Get(const ClientOptions& o, const std::string& path, FILE* err) {
  HttpRequest req;
  req.path = path;
  return Call(o, std::move(req), err);
}

// GET base+path as JSON; nullopt (with why on err) unless a 200 with a JSON body.
std::optional<Json> GetJson(const ClientOptions& o, const std::string& path, FILE* err) {
  auto resp = Get(o, path, err);
  if (!resp) return std::nullopt;
  auto j = ParseJson(resp->body);
  if (resp->status != 200 || !j.ok()) {
    std::fprintf(err, "keepwatch: unexpected answer from %s%s (HTTP %d)\n", o.url.c_str(),
                 path.c_str(), resp->status);
    return std::nullopt;
  }
  return std::move(j.value());
}

bool IsRoleName(const std::string& n) {
  for (const char* r : {"primary", "replica", "read-only", "read-write", "standby", "master",
                        "health", "liveness", "readiness"})
    if (n == r) return true;
  return false;
}

std::string Pad(std::string s, size_t w) {
  if (s.size() < w) s.resize(w, ' ');
  return s;
}

}  // namespace

int CmdCheck(const ClientOptions& o, const std::string& name, FILE* out, FILE* err) {
  std::string path = IsRoleName(name) ? "/" + name : "/check/" + name;
  auto resp = Get(o, path, err);
  if (!resp) return kUnreachable;
  if (resp->status == 404) {
    std::fprintf(err, "keepwatch: the agent has no check '%s'\n", name.c_str());
    return kUnreachable;
  }
  if (!o.quiet) {
    auto j = ParseJson(resp->body);
    std::string why = j.ok() ? (*j)["detail"].str + (*j)["reason"].str : "";
    std::fprintf(out, "%s: %s%s%s\n", name.c_str(), resp->status == 200 ? "ok" : "FAILING",
                 why.empty() ? "" : " - ", why.c_str());
  }
  return resp->status == 200 ? kOk : kNo;
}

int CmdStatus(const ClientOptions& o, FILE* out, FILE* err) {
  auto j = GetJson(o, "/status", err);
  if (!j) return kUnreachable;
  const Json& s = *j;
  std::fprintf(
      out, "node %s  keepwatchd %s  up %s  %s\n", s["node"].str.c_str(), s["version"].str.c_str(),
      FormatDuration(std::chrono::seconds(static_cast<long long>(s["uptime_seconds"].num))).c_str(),
      s["ready"].b ? "ready" : "NOT READY (waiting for first results)");
  if (!s["role"].IsNull()) std::fprintf(out, "role %s\n", s["role"].str.c_str());
  std::fprintf(out, "\n%s%s%s%s%s\n", Pad("CHECK", 16).c_str(), Pad("TYPE", 10).c_str(),
               Pad("STATE", 9).c_str(), Pad("SINCE", 22).c_str(), "DETAIL");
  for (const Json& c : s["checks"].arr) {
    std::string state = c["state"].str;
    if (c["stuck"].b) state += "*";
    std::fprintf(
        out, "%s%s%s%s%s%s\n", Pad(c["name"].str, 16).c_str(), Pad(c["type"].str, 10).c_str(),
        Pad(state, 9).c_str(), Pad(c["since"].str, 22).c_str(),
        c["outcome"].IsNull() ? "" : (c["outcome"].str + ": ").c_str(), c["detail"].str.c_str());
  }
  return kOk;
}

int CmdMembers(const ClientOptions& o, FILE* out, FILE* err) {
  auto resp = Get(o, "/cluster", err);
  if (!resp) return kUnreachable;
  auto j = ParseJson(resp->body);
  if (resp->status != 200 || !j.ok()) {
    std::fprintf(err, "keepwatch: no gossip view from %s/cluster (HTTP %d)%s\n", o.url.c_str(),
                 resp->status, resp->status == 404 ? "; is [cluster] configured?" : "");
    return kUnreachable;
  }
  const Json& c = *j;
  std::fprintf(out, "cluster %s  node %s  alive %d  suspect %d  dead %d  term %d  leader %s\n\n",
               c["cluster"].str.c_str(), c["node"].str.c_str(), static_cast<int>(c["alive"].num),
               static_cast<int>(c["suspect"].num), static_cast<int>(c["dead"].num),
               static_cast<int>(c["term"].num),
               c["leader"].IsNull() ? "-" : c["leader"].str.c_str());
  std::fprintf(out, "%s%s%s%s%s%s%s%s\n", Pad("MEMBER", 16).c_str(), Pad("STATE", 9).c_str(),
               Pad("INC", 6).c_str(), Pad("HEARD", 8).c_str(), Pad("ROLE", 9).c_str(),
               Pad("TL", 4).c_str(), Pad("RECEIVED/CURRENT", 19).c_str(), "CHECKS");
  for (const Json& m : c["members"].arr) {
    const Json& s = m["state"];
    char heard[32] = "never";
    if (m["self"].b)
      std::snprintf(heard, sizeof heard, "self");
    else if (!m["last_heard_seconds"].IsNull())
      std::snprintf(heard, sizeof heard, "%.1fs", m["last_heard_seconds"].num);
    std::string lsn = s["role"].str == "primary" ? s["current_lsn"].str : s["received_lsn"].str;
    std::string checks = std::to_string(static_cast<int>(s["checks_passing"].num)) + " ok";
    if (s["checks_failing"].num > 0) {
      checks += ", " + std::to_string(static_cast<int>(s["checks_failing"].num)) + " failing:";
      for (const Json& f : s["failing"].arr) checks += " " + f.str;
    }
    std::fprintf(out, "%s%s%s%s%s%s%s%s\n", Pad(m["name"].str, 16).c_str(),
                 Pad(m["status"].str, 9).c_str(),
                 Pad(std::to_string(static_cast<long long>(m["incarnation"].num)), 6).c_str(),
                 Pad(heard, 8).c_str(), Pad(s["role"].str, 9).c_str(),
                 Pad(std::to_string(static_cast<int>(s["timeline"].num)), 4).c_str(),
                 Pad(lsn, 19).c_str(), checks.c_str());
  }
  return kOk;
}

int CmdAdmin(const ClientOptions& o, const std::string& command, const std::string& target,
             FILE* out, FILE* err) {
  auto token = gossip::LoadKeyFile(o.token_file);
  if (!token.ok()) {
    std::fprintf(err, "keepwatch: token: %s\n", token.status().message().c_str());
    return kUnreachable;
  }
  auto before = GetJson(o, "/status", err);
  if (!before) return kUnreachable;
  uint64_t term0 = static_cast<uint64_t>((*before)["failover"]["term"].num);
  HttpRequest req;
  req.method = "POST";
  req.path = "/admin/" + command + (target.empty() ? "" : "?to=" + target);
  char hex[2 * gossip::Key().size() + 1];
  sodium_bin2hex(hex, sizeof hex, token->data(), token->size());
  req.headers.emplace_back("Authorization", std::string("Bearer ") + hex);
  sodium_memzero(hex, sizeof hex);
  auto resp = Call(o, std::move(req), err);
  if (!resp) return kUnreachable;
  if (resp->status != 202) {
    auto j = ParseJson(resp->body);
    std::fprintf(err, "keepwatch: %s refused (HTTP %d): %s\n", command.c_str(), resp->status,
                 j.ok() ? (*j)["error"].str.c_str() : resp->body.c_str());
    return resp->status == 401 || resp->status == 403 || resp->status == 409 ? kNo : kUnreachable;
  }
  // The outcome, as this agent's /status and /cluster come to show it.
  auto done = [&](const Json& status, std::string* why) -> bool {
    const Json& f = status["failover"];
    if (command == "pause" || command == "resume") return f["paused"].b == (command == "pause");
    if (command == "rejoin") {
      *why = f["last_rejoin"].str;
      return !f["needs_rejoin"].b && !f["rejoining"].b;
    }
    if (f["leader"].str != target || f["term"].num <= static_cast<double>(term0)) return false;
    if (target == (*before)["node"].str) return f["lease"].b;
    auto cluster = GetJson(o, "/cluster", err);
    if (!cluster) return false;
    for (const Json& m : (*cluster)["members"].arr)
      if (m["name"].str == target) return m["state"]["role"].str == "primary";
    return false;
  };
  TimePoint deadline = SteadyClock::now() + o.wait;
  std::string why;
  std::optional<Json> last;
  while (SteadyClock::now() < deadline) {
    last = GetJson(o, "/status", err);
    if (last && done(*last, &why)) {
      if (command == "rejoin" && why.rfind("rejoin failed", 0) == 0) break;
      std::fprintf(out, "%s%s%s: done%s%s\n", command.c_str(), target.empty() ? "" : " to ",
                   target.c_str(), why.empty() ? "" : ": ", why.c_str());
      return kOk;
    }
    std::this_thread::sleep_for(milliseconds(200));
  }
  std::fprintf(err, "keepwatch: %s%s%s: not done within %s%s%s; the agent's latest decisions:\n",
               command.c_str(), target.empty() ? "" : " to ", target.c_str(),
               FormatDuration(o.wait).c_str(), why.empty() ? "" : ": ", why.c_str());
  if (last)
    for (const Json& d : (*last)["failover"]["decisions"].arr)
      std::fprintf(err, "  %s\n", d.str.c_str());
  return kNo;
}

int RunClient(const std::vector<std::string>& args, FILE* out, FILE* err) {
  ClientOptions o;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--url" && i + 1 < args.size()) {
      o.url = args[++i];
    } else if (a == "--timeout" && i + 1 < args.size()) {
      auto d = ParseDuration(args[++i]);
      if (!d.ok()) {
        std::fprintf(err, "keepwatch: --timeout: %s\n", d.status().message().c_str());
        return kUnreachable;
      }
      o.timeout = *d;
    } else if (a == "--token-file" && i + 1 < args.size()) {
      o.token_file = args[++i];
    } else if (a == "--wait" && i + 1 < args.size()) {
      auto d = ParseDuration(args[++i]);
      if (!d.ok()) {
        std::fprintf(err, "keepwatch: --wait: %s\n", d.status().message().c_str());
        return kUnreachable;
      }
      o.wait = *d;
    } else if (a == "-q" || a == "--quiet") {
      o.quiet = true;
    } else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, out);
      return kOk;
    } else {
      break;
    }
  }
  if (i >= args.size()) {
    std::fputs(kUsage, err);
    return kUnreachable;
  }
  const std::string& cmd = args[i];
  size_t rest = args.size() - i - 1;
  if (cmd == "check" && rest == 1) return CmdCheck(o, args[i + 1], out, err);
  if (cmd == "status" && rest == 0) return CmdStatus(o, out, err);
  if (cmd == "members" && rest == 0) return CmdMembers(o, out, err);
  if ((cmd == "switchover" || cmd == "failover") && rest == 2 && args[i + 1] == "--to")
    return CmdAdmin(o, cmd, args[i + 2], out, err);
  if ((cmd == "pause" || cmd == "resume" || cmd == "rejoin") && rest == 0)
    return CmdAdmin(o, cmd, "", out, err);
  if (cmd == "keygen" && rest == 0) {
    std::fprintf(out, "%s\n", gossip::GenerateKeyHex().c_str());
    return kOk;
  }
  if (cmd == "version" && rest == 0) {
    std::fprintf(out, "keepwatch %s\n", kVersion);
    return kOk;
  }
  std::fprintf(err, "keepwatch: bad command line\n%s", kUsage);
  return kUnreachable;
}

}  // namespace kw
