// `odoo`: the local Odoo HTTP worker (and optionally its longpolling port).
//
// Keys:
//   url          base URL (default http://127.0.0.1:8069)
//   mode         auto (default) | health | login | version_info
//                  health        GET /web/health, 200 with "status": "pass" (Odoo 15+)
//                  login         GET /web/login[?db=DATABASE]: 200 (Odoo 12; renders from the
//                                database, so it also says the database answers)
//                  version_info  POST /web/webclient/version_info (JSON-RPC): answers even
//                                when PostgreSQL is down, a liveness probe only
//                  auto          health, and login when /web/health is 404 (Odoo < 15); the
//                                answer is remembered until Odoo refuses a connection (a
//                                restart may be an upgrade)
//   database     database name for the login probe (optional; without it a multi-database
//                server redirects to the selector, which fails)
//   longpolling  host[:port] of the gevent worker (optional, port 8072): TCP connect
//   session_id   the fixed session cookie (default a constant 40-hex-digit id)
//
// Every request carries `Cookie: session_id=<fixed>`: Odoo stores a session file under
// its data directory (the OCFS2 filestore) for a request without a valid session, so a
// probe every second would otherwise create one file per probe.  The id is 40 lower-case
// hex digits because Odoo's file session store rejects (and replaces with a new session)
// any id that does not look like a SHA-1.
//
// Distinct reasons (label `reason`): refused, timeout (outcome timeout), connect,
// http_5xx, db_selector, redirect, http_status, bad_response, longpolling.  Labels mode,
// http_status; value response_seconds.  Run() is called from one thread at a time.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "agent/http_client.h"
#include "checks/registry.h"

namespace kw {

constexpr const char* kOdooDefaultSessionId = "6b656570776174636800000000000000000000aa";

enum class OdooMode { kAuto, kHealth, kLogin, kVersionInfo };

struct OdooOptions {
  Url url;
  OdooMode mode = OdooMode::kAuto;
  std::string database;
  std::optional<HostPort> longpolling;
  std::string session_id = kOdooDefaultSessionId;
};

class OdooCheck final : public Check {
 public:
  explicit OdooCheck(OdooOptions options);
  CheckResult Run(TimePoint deadline) override;

 private:
  Result<HttpResponse> Call(const std::string& method, const std::string& path,
                            const std::string& body, TimePoint deadline);
  CheckResult Health(TimePoint deadline, bool* not_found);
  CheckResult Login(TimePoint deadline);
  CheckResult VersionInfo(TimePoint deadline);
  CheckResult FromError(const Status& s);
  CheckResult FromStatus(const HttpResponse& resp);

  OdooOptions opt_;
  std::string base_;                     // url path without the trailing slash
  OdooMode detected_ = OdooMode::kAuto;  // what auto settled on
};

std::unique_ptr<Check> MakeOdooCheck(KeyReader& keys, const CheckEnv& env);

}  // namespace kw
