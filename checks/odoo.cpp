#include "checks/odoo.h"

#include <cctype>

#include "agent/net.h"

namespace kw {
namespace {

bool Contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

std::string PathOf(const std::string& location) {
  // "http://host:8069/web/login?db=x" → "/web/login?db=x"; a relative location as it is.
  size_t scheme = location.find("://");
  if (scheme == std::string::npos) return location;
  size_t slash = location.find('/', scheme + 3);
  return slash == std::string::npos ? "/" : location.substr(slash);
}

const char* ModeName(OdooMode m) {
  switch (m) {
    case OdooMode::kAuto:
      return "auto";
    case OdooMode::kHealth:
      return "health";
    case OdooMode::kLogin:
      return "login";
    case OdooMode::kVersionInfo:
      return "version_info";
  }
  return "?";
}

CheckResult WithReason(CheckResult r, const char* reason) { return r.Label("reason", reason); }

}  // namespace

OdooCheck::OdooCheck(OdooOptions options) : opt_(std::move(options)) {
  base_ = opt_.url.path;
  while (!base_.empty() && base_.back() == '/') base_.pop_back();
}

Result<HttpResponse> OdooCheck::Call(const std::string& method, const std::string& path,
                                     const std::string& body, TimePoint deadline) {
  HttpRequest req;
  req.method = method;
  req.path = base_ + path;
  req.headers.emplace_back("User-Agent", "keepwatch");
  req.headers.emplace_back("Cookie", "session_id=" + opt_.session_id);
  if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
  req.body = body;
  return HttpCall(opt_.url.host, req, deadline, 256 * 1024);
}

CheckResult OdooCheck::FromError(const Status& s) {
  if (IsTimeout(s)) return WithReason(CheckResult::Timeout("odoo: " + s.message()), "timeout");
  if (Contains(s.message(), "Connection refused")) {
    detected_ = OdooMode::kAuto;  // Odoo is (re)starting: perhaps as another version
    return WithReason(CheckResult::Fail("odoo: " + s.message()), "refused");
  }
  return WithReason(CheckResult::Fail("odoo: " + s.message()), "connect");
}

// The judgement every mode shares for answers other than its own success.
CheckResult OdooCheck::FromStatus(const HttpResponse& resp) {
  std::string got = "HTTP " + std::to_string(resp.status);
  if (resp.status >= 500)
    return WithReason(CheckResult::Fail("odoo: " + got + " (server error)"), "http_5xx");
  if (resp.status >= 300 && resp.status < 400) {
    std::string where = resp.Header("location");
    if (Contains(where, "/web/database/selector") || Contains(where, "/web/database/manager"))
      return WithReason(CheckResult::Fail("odoo: " + got +
                                          " to the database selector: no database (set "
                                          "`database`, or check db_name/dbfilter)"),
                        "db_selector");
    return WithReason(CheckResult::Fail("odoo: " + got + " redirect to " + where), "redirect");
  }
  return WithReason(CheckResult::Fail("odoo: " + got), "http_status");
}

CheckResult OdooCheck::Health(TimePoint deadline, bool* not_found) {
  auto resp = Call("GET", "/web/health", "", deadline);
  if (!resp.ok()) return FromError(resp.status());
  if (not_found) *not_found = resp->status == 404;
  if (resp->status != 200) return FromStatus(*resp).Value("http_status", resp->status);
  CheckResult r = Contains(resp->body, "\"pass\"")
                      ? CheckResult::Pass("odoo: /web/health pass")
                      : WithReason(CheckResult::Fail("odoo: /web/health answered '" +
                                                     resp->body.substr(0, 80) + "'"),
                                   "bad_response");
  return r.Value("http_status", resp->status);
}

CheckResult OdooCheck::Login(TimePoint deadline) {
  std::string path = "/web/login";
  if (!opt_.database.empty()) path += "?db=" + opt_.database;
  auto resp = Call("GET", path, "", deadline);
  // Odoo 12 answers the first ?db= request of a session by storing the database in the
  // session and redirecting to the same URL: follow that one redirect.
  if (resp.ok() && resp->status >= 300 && resp->status < 400 &&
      PathOf(resp->Header("location")).rfind(base_ + "/web/login", 0) == 0)
    resp = Call("GET", path, "", deadline);
  if (!resp.ok()) return FromError(resp.status());
  if (resp->status != 200) return FromStatus(*resp).Value("http_status", resp->status);
  return CheckResult::Pass("odoo: /web/login 200").Value("http_status", resp->status);
}

CheckResult OdooCheck::VersionInfo(TimePoint deadline) {
  auto resp = Call("POST", "/web/webclient/version_info",
                   R"({"jsonrpc":"2.0","method":"call","params":{},"id":1})", deadline);
  if (!resp.ok()) return FromError(resp.status());
  if (resp->status != 200) return FromStatus(*resp).Value("http_status", resp->status);
  CheckResult r = Contains(resp->body, "\"server_version\"")
                      ? CheckResult::Pass("odoo: version_info answered")
                      : WithReason(CheckResult::Fail("odoo: version_info answered '" +
                                                     resp->body.substr(0, 80) + "'"),
                                   "bad_response");
  return r.Value("http_status", resp->status);
}

CheckResult OdooCheck::Run(TimePoint deadline) {
  TimePoint start = SteadyClock::now();
  OdooMode mode = opt_.mode == OdooMode::kAuto ? detected_ : opt_.mode;
  CheckResult r;
  switch (mode) {
    case OdooMode::kAuto: {
      bool not_found = false;
      r = Health(deadline, &not_found);
      if (r.outcome == Outcome::kPass) {
        detected_ = mode = OdooMode::kHealth;
      } else if (not_found) {
        detected_ = mode = OdooMode::kLogin;  // Odoo < 15: no health route
        r = Login(deadline);
      }
      break;
    }
    case OdooMode::kHealth:
      r = Health(deadline, nullptr);
      break;
    case OdooMode::kLogin:
      r = Login(deadline);
      break;
    case OdooMode::kVersionInfo:
      r = VersionInfo(deadline);
      break;
  }
  r.Label("mode", ModeName(mode)).Value("response_seconds", ToSeconds(SteadyClock::now() - start));
  if (r.outcome != Outcome::kPass || !opt_.longpolling) return r;
  auto fd = ConnectTcp(*opt_.longpolling, deadline);
  if (fd.ok()) {
    r.detail += ", longpolling " + opt_.longpolling->ToString() + " accepts";
    return r;
  }
  r.outcome = IsTimeout(fd.status()) ? Outcome::kTimeout : Outcome::kFail;
  r.detail = "odoo longpolling: " + fd.status().message();
  return r.Label("reason", "longpolling");
}

std::unique_ptr<Check> MakeOdooCheck(KeyReader& keys, const CheckEnv&) {
  OdooOptions o;
  std::string url = keys.String("url", "http://127.0.0.1:8069");
  std::string mode = keys.Choice("mode", "auto", {"auto", "health", "login", "version_info"});
  o.mode = mode == "health"         ? OdooMode::kHealth
           : mode == "login"        ? OdooMode::kLogin
           : mode == "version_info" ? OdooMode::kVersionInfo
                                    : OdooMode::kAuto;
  o.database = keys.String("database", "");
  if (keys.Has("longpolling")) o.longpolling = keys.Address("longpolling", HostPort{}, 8072);
  o.session_id = keys.String("session_id", kOdooDefaultSessionId);
  bool hex40 = o.session_id.size() == 40;
  for (char c : o.session_id) hex40 = hex40 && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (!hex40)
    keys.Error("session_id",
               "must be 40 lower-case hexadecimal digits (Odoo replaces any other "
               "id with a new session, one file per probe)");
  for (char c : o.database)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) {
      keys.Error("database", "'" + o.database + "' is not a database name Odoo accepts");
      break;
    }
  auto parsed = ParseUrl(url);
  if (!parsed.ok()) {
    keys.Error("url", parsed.status().message());
    return nullptr;
  }
  o.url = *parsed;
  return std::make_unique<OdooCheck>(std::move(o));
}

}  // namespace kw
