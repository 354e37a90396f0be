#include "checks/odoo.h"

#include <doctest/doctest.h>

#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "test/checks/loopback_server.h"
#include "test/checks/node_test_util.h"

using namespace kw;
using kw::testing::BuildOne;
using kw::testing::In;
using kw::testing::LabelOf;
using kw::testing::LoopbackServer;

namespace {

std::string Reply(int status, const std::string& reason, const std::string& body,
                  const std::string& extra_headers = "") {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body;
}

// Behaves like the routes of odoo/addons/web/controllers/main.py that the check uses.
struct FakeOdoo {
  int version = 15;                             // 12: no /web/health
  int databases = 1;                            // 1: monodb; more: no database without ?db=
  bool fail_500 = false;                        // an exception in the worker
  int delay_ms = 0;                             // slow answers
  std::set<std::string> sessions_with_db = {};  // session ids whose session stores a db

  std::string Handle(const std::string& req) {
    if (delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    std::string line = req.substr(0, req.find("\r\n"));
    std::string path = line.substr(line.find(' ') + 1);
    path = path.substr(0, path.find(' '));
    std::string sid;
    size_t c = req.find("Cookie: session_id=");
    if (c != std::string::npos) sid = req.substr(c + 19, req.find("\r\n", c) - c - 19);
    if (fail_500) return Reply(500, "INTERNAL SERVER ERROR", "<h1>Internal Server Error</h1>");
    if (path == "/web/health") {
      if (version < 15) return Reply(404, "NOT FOUND", "<h1>Not Found</h1>");
      return Reply(200, "OK", R"({"status": "pass"})");
    }
    if (path == "/web/webclient/version_info")
      return Reply(200, "OK",
                   R"({"jsonrpc": "2.0", "id": 1, "result": {"server_version": "12.0", )"
                   R"("server_version_info": [12, 0, 0, "final", 0, ""], "protocol_version": 1}})");
    if (path.rfind("/web/login", 0) == 0) {
      size_t q = path.find("?db=");
      if (q != std::string::npos && !sessions_with_db.count(sid)) {
        sessions_with_db.insert(sid);  // ensure_db(): store the db, redirect to the same URL
        return Reply(303, "SEE OTHER", "",
                     "Location: http://127.0.0.1/web/login?db=" + path.substr(q + 4) + "\r\n");
      }
      if (q == std::string::npos && databases > 1 && !sessions_with_db.count(sid))
        return Reply(303, "SEE OTHER", "", "Location: http://127.0.0.1/web/database/selector\r\n");
      return Reply(200, "OK", "<html><body><form class=\"oe_login_form\"></form></body></html>");
    }
    return Reply(404, "NOT FOUND", "<h1>Not Found</h1>");
  }
};

// The fake is configured before the server thread starts and only touched under mu
// afterwards (the socket round trip is no synchronization ThreadSanitizer can see).
struct Rig {
  explicit Rig(FakeOdoo o = {}) : odoo(std::move(o)) {}
  FakeOdoo odoo;
  std::mutex mu;
  LoopbackServer server{[this](const std::string& r) {
    std::lock_guard<std::mutex> l(mu);
    return odoo.Handle(r);
  }};

  size_t SessionsWithDb() {
    std::lock_guard<std::mutex> l(mu);
    return odoo.sessions_with_db.size();
  }

  std::unique_ptr<Check> Build(const std::string& extra = "") {
    std::string errors;
    auto c = BuildOne(
        "[check.odoo]\ntype = odoo\nurl = http://" + server.address().ToString() + "\n" + extra,
        "/", &errors);
    REQUIRE_MESSAGE(c, errors);
    return c;
  }
  int Count(const std::string& path) const {
    int n = 0;
    for (const std::string& r : server.requests())
      if (r.find(" " + path) != std::string::npos) ++n;
    return n;
  }
  bool AllCarryCookie() const {
    for (const std::string& r : server.requests())
      if (r.find(std::string("\r\nCookie: session_id=") + kOdooDefaultSessionId + "\r\n") ==
          std::string::npos)
        return false;
    return !server.requests().empty();
  }
};

}  // namespace

TEST_CASE("odoo: 15+ answers /web/health and every probe sends the fixed cookie") {
  Rig rig;
  REQUIRE(rig.server.ok());
  auto check = rig.Build();
  for (int i = 0; i < 3; ++i) {
    CheckResult r = check->Run(In(seconds(2)));
    CHECK(r.outcome == Outcome::kPass);
    CHECK(r.detail == "odoo: /web/health pass");
    CHECK(LabelOf(r, "mode") == "health");
  }
  CHECK(rig.Count("/web/health") == 3);
  CHECK(rig.Count("/web/login") == 0);
  CHECK(rig.AllCarryCookie());
}

TEST_CASE("odoo: 12 has no /web/health; auto falls back to /web/login once") {
  Rig rig(FakeOdoo{.version = 12});
  auto check = rig.Build();
  CheckResult first = check->Run(In(seconds(2)));
  CHECK(first.outcome == Outcome::kPass);
  CHECK(first.detail == "odoo: /web/login 200");
  CHECK(LabelOf(first, "mode") == "login");
  CHECK(check->Run(In(seconds(2))).outcome == Outcome::kPass);
  CHECK(rig.Count("/web/health") == 1);  // remembered
  CHECK(rig.Count("/web/login") == 2);
  CHECK(rig.AllCarryCookie());
}

TEST_CASE("odoo: 12 without a resolvable database redirects to the selector") {
  Rig rig(FakeOdoo{.version = 12, .databases = 2});
  auto check = rig.Build("mode = login\n");
  CheckResult r = check->Run(In(seconds(2)));
  CHECK(r.outcome == Outcome::kFail);
  CHECK(LabelOf(r, "reason") == "db_selector");
  CHECK(r.detail.find("HTTP 303 to the database selector") != std::string::npos);
  CHECK(*r.FindValue("http_status") == 303);
}

TEST_CASE("odoo: 12 with `database` follows the one redirect that stores it in the session") {
  Rig rig(FakeOdoo{.version = 12, .databases = 2});
  auto check = rig.Build("mode = login\ndatabase = odoo_prod\n");
  CHECK(check->Run(In(seconds(2))).outcome == Outcome::kPass);
  CHECK(rig.Count("/web/login?db=odoo_prod") == 2);  // redirect, then the page
  CHECK(check->Run(In(seconds(2))).outcome == Outcome::kPass);
  CHECK(rig.Count("/web/login?db=odoo_prod") == 3);  // the fixed session kept the db
  CHECK(rig.SessionsWithDb() == 1);                  // one session, not one per probe
}

TEST_CASE("odoo: server errors, timeouts and refused connections are distinct") {
  std::set<std::string> reasons;
  {
    Rig rig(FakeOdoo{.fail_500 = true});
    CheckResult r = rig.Build()->Run(In(seconds(2)));
    CHECK(r.outcome == Outcome::kFail);
    CHECK(LabelOf(r, "reason") == "http_5xx");
    CHECK(r.detail == "odoo: HTTP 500 (server error)");
    reasons.insert(LabelOf(r, "reason"));
  }
  {
    Rig rig(FakeOdoo{.delay_ms = 400});
    auto check = rig.Build();
    TimePoint start = SteadyClock::now();
    CheckResult r = check->Run(In(milliseconds(150)));
    CHECK(SteadyClock::now() - start < milliseconds(350));  // returned by its deadline
    CHECK(r.outcome == Outcome::kTimeout);
    CHECK(LabelOf(r, "reason") == "timeout");
    reasons.insert(LabelOf(r, "reason"));
  }
  {
    Rig rig;
    auto check = rig.Build();
    rig.server.Stop();
    CheckResult r = check->Run(In(seconds(1)));
    CHECK(r.outcome == Outcome::kFail);
    CHECK(LabelOf(r, "reason") == "refused");
    CHECK(r.detail.find("Connection refused") != std::string::npos);
    reasons.insert(LabelOf(r, "reason"));
  }
  {
    Rig rig(FakeOdoo{.version = 12, .databases = 3});
    reasons.insert(LabelOf(rig.Build("mode = login\n")->Run(In(seconds(1))), "reason"));
  }
  {
    Rig rig(FakeOdoo{.version = 12});
    CheckResult r = rig.Build("mode = health\n")->Run(In(seconds(1)));  // wrong mode for 12
    CHECK(r.outcome == Outcome::kFail);
    CHECK(r.detail == "odoo: HTTP 404");
    reasons.insert(LabelOf(r, "reason"));
  }
  CHECK(reasons ==
        std::set<std::string>{"http_5xx", "timeout", "refused", "db_selector", "http_status"});
}

TEST_CASE("odoo: version_info is a JSON-RPC liveness probe") {
  Rig rig(FakeOdoo{.version = 12});
  CheckResult r = rig.Build("mode = version_info\n")->Run(In(seconds(2)));
  CHECK(r.outcome == Outcome::kPass);
  auto reqs = rig.server.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].rfind("POST /web/webclient/version_info HTTP/1.0\r\n", 0) == 0);
  CHECK(reqs[0].find("Content-Type: application/json") != std::string::npos);
  CHECK(reqs[0].find(R"("method":"call")") != std::string::npos);
  CHECK(rig.AllCarryCookie());
}

TEST_CASE("odoo: the longpolling port is checked when configured") {
  Rig rig;
  LoopbackServer longpolling([](const std::string&) { return std::string(); });
  auto ok = rig.Build("longpolling = " + longpolling.address().ToString() + "\n");
  CheckResult r = ok->Run(In(seconds(2)));
  CHECK(r.outcome == Outcome::kPass);
  CHECK(r.detail.find("longpolling " + longpolling.address().ToString() + " accepts") !=
        std::string::npos);
  longpolling.Stop();
  CheckResult down = ok->Run(In(seconds(2)));
  CHECK(down.outcome == Outcome::kFail);
  CHECK(LabelOf(down, "reason") == "longpolling");
}

TEST_CASE("odoo: configuration") {
  std::string errors;
  CHECK(BuildOne("[check.o]\ntype = odoo\n", "/", &errors));  // every key has a default
  CHECK_FALSE(BuildOne("[check.o]\ntype = odoo\nmode = 13\n", "/", &errors));
  CHECK(errors.find("test.ini:3: ") != std::string::npos);
  errors.clear();
  CHECK_FALSE(BuildOne("[check.o]\ntype = odoo\nsession_id = abc\n", "/", &errors));
  CHECK(errors.find("40 lower-case hexadecimal") != std::string::npos);
  errors.clear();
  CHECK_FALSE(BuildOne("[check.o]\ntype = odoo\nurl = https://x/\n", "/", &errors));
  CHECK(errors.find("test.ini:3: ") != std::string::npos);
  errors.clear();
  CHECK_FALSE(BuildOne("[check.o]\ntype = odoo\ndatabase = a&b\n", "/", &errors));
  CHECK(errors.find("test.ini:3: ") != std::string::npos);
}
