#include "agent/api.h"

#include <doctest/doctest.h>

#include "agent/json.h"

using namespace kw;

namespace {

struct Fixture {
  SnapshotBox box{std::make_shared<Snapshot>()};
  ApiSources src;
  bool live = true;
  Fixture() {
    auto s = std::make_shared<Snapshot>();
    s->started = s->taken = SteadyClock::now() - seconds(10);
    CheckState up;
    up.name = "web";
    up.type = "http";
    up.has_result = up.up = true;
    up.last = CheckResult::Pass("HTTP 200").Value("http_status", 200).Label("note", "a\"b");
    up.since = up.last_run = s->taken;
    CheckState down = up;
    down.name = "ssh";
    down.type = "tcp";
    down.up = false;
    down.last = CheckResult::Timeout("no answer within 1s");
    down.consecutive_failures = 4;
    down.stuck = true;
    CheckState waiting;
    waiting.name = "fresh";
    waiting.type = "tcp";
    s->checks = {up, down, waiting};
    box.Publish(s);
    src.snapshots = &box;
    src.node = "node1";
    src.version = "9.9";
    src.live = [this] { return live; };
  }
  Answer Get(std::string_view path, std::string_view method = "GET") {
    return HandleRequest(src, method, path, {});
  }
};

}  // namespace

TEST_CASE("the endpoint table") {
  Fixture f;
  CHECK(f.Get("/check/web").status == 200);
  CHECK(f.Get("/check/ssh").status == 503);
  CHECK(f.Get("/check/fresh").status == 503);
  CHECK(f.Get("/check/nope").status == 404);
  CHECK(f.Get("/check/").status == 404);
  CHECK(f.Get("/nope").status == 404);
  CHECK(f.Get("/status").status == 200);
  CHECK(f.Get("/cluster").status == 200);
  CHECK(f.Get("/metrics").status == 200);
  CHECK(f.Get("/liveness").status == 200);
  f.live = false;
  CHECK(f.Get("/liveness").status == 503);
  CHECK(f.Get("/readiness").status == 503);  // "fresh" has no result
  CHECK(f.Get("/readiness").body.find("fresh") != std::string::npos);
  for (const char* role :
       {"/", "/primary", "/read-write", "/master", "/replica", "/standby", "/read-only", "/health"})
    CHECK(f.Get(role).status == 503);  // no postgres check in this snapshot
}

TEST_CASE("GET, HEAD and OPTIONS share a status; other methods get 405") {
  Fixture f;
  for (const char* path : {"/check/web", "/check/ssh", "/nope", "/primary", "/status"}) {
    int get = f.Get(path).status;
    CHECK(f.Get(path, "HEAD").status == get);
    CHECK(f.Get(path, "OPTIONS").status == get);
    for (const char* m : {"POST", "PUT", "DELETE", "PATCH", "TRACE", "BREW"})
      CHECK(f.Get(path, m).status == 405);
  }
}

TEST_CASE("/check and /status bodies say why") {
  Fixture f;
  auto j = ParseJson(f.Get("/check/ssh").body);
  REQUIRE(j.ok());
  CHECK((*j)["state"].str == "down");
  CHECK((*j)["outcome"].str == "timeout");
  CHECK((*j)["detail"].str == "no answer within 1s");
  CHECK((*j)["stuck"].b);
  auto s = ParseJson(f.Get("/status").body);
  REQUIRE(s.ok());
  CHECK((*s)["node"].str == "node1");
  CHECK((*s)["checks_passing"].num == 1);
  REQUIRE((*s)["checks"].arr.size() == 3);
  CHECK((*s)["checks"].arr[0]["values"]["http_status"].num == 200);
  CHECK((*s)["checks"].arr[0]["labels"]["note"].str == "a\"b");
  CHECK((*s)["checks"].arr[2]["state"].str == "unknown");
}

TEST_CASE("/metrics is Prometheus text with every check") {
  Fixture f;
  std::string m = f.Get("/metrics").body;
  CHECK(m.find("keepwatch_check_up{check=\"web\",type=\"http\"} 1\n") != std::string::npos);
  CHECK(m.find("keepwatch_check_up{check=\"ssh\",type=\"tcp\"} 0\n") != std::string::npos);
  CHECK(m.find("keepwatch_check_consecutive_failures{check=\"ssh\",type=\"tcp\"} 4\n") !=
        std::string::npos);
  CHECK(m.find("keepwatch_check_outcome{check=\"ssh\",outcome=\"timeout\"} 1\n") !=
        std::string::npos);
  CHECK(m.find("keepwatch_check_stuck{check=\"ssh\",type=\"tcp\"} 1\n") != std::string::npos);
  CHECK(m.find("keepwatch_check_value{check=\"web\",name=\"http_status\"} 200\n") !=
        std::string::npos);
  CHECK(m.find("keepwatch_build_info{version=\"9.9\"} 1\n") != std::string::npos);
  CHECK(m.find("# TYPE keepwatch_check_transitions_total counter\n") != std::string::npos);
  // every non-comment line is "name{labels} value" or "name value"
  size_t pos = 0;
  while (pos < m.size()) {
    size_t eol = m.find('\n', pos);
    REQUIRE(eol != std::string::npos);
    std::string line = m.substr(pos, eol - pos);
    if (line[0] != '#') CHECK(line.find(' ') != std::string::npos);
    pos = eol + 1;
  }
}

TEST_CASE("the failover veto turns a writable primary's 200 into 503 on write paths only") {
  Fixture f;
  auto s = std::make_shared<Snapshot>(*f.box.Get());
  CheckState pg;
  pg.name = pg.type = "postgres";
  pg.has_result = pg.up = true;
  pg.last = CheckResult::Pass("primary")
                .Value("in_recovery", 0)
                .Value("writable", 1)
                .Value("timeline", 1);
  pg.last.Label("role", "primary");
  s->checks.push_back(pg);
  f.box.Publish(s);
  REQUIRE(f.Get("/primary").status == 200);
  std::optional<std::string> veto = "leader without a valid lease";
  f.src.primary_veto = [&](TimePoint) { return veto; };
  for (const char* p : {"/", "/primary", "/read-write", "/master"}) {
    Answer a = f.Get(p);
    CHECK(a.status == 503);
    CHECK(a.body.find("leader without a valid lease") != std::string::npos);
  }
  CHECK(f.Get("/health").status == 200);
  veto.reset();
  CHECK(f.Get("/primary").status == 200);
}

TEST_CASE("operator commands: POST only, disabled without a token, loopback only, bearer token") {
  Fixture f;
  std::string hex(64, 'a');
  std::string auth = "Bearer " + hex;
  AdminCaller local{auth, true};
  CHECK(HandleAdmin(f.src, "POST", "/admin/pause", {}, local).status == 403);  // no token set
  f.src.admin_token.emplace();
  f.src.admin_token->fill(0xaa);
  std::string got;
  f.src.admin = [&](std::string_view command, const Query& q) {
    got = std::string(command) + (q.count("to") ? "->" + q.at("to") : "");
    return Answer{202, "{}"};
  };
  CHECK(HandleAdmin(f.src, "GET", "/admin/pause", {}, local).status == 405);
  CHECK(HandleAdmin(f.src, "POST", "/admin/pause", {}, AdminCaller{auth, false}).status == 403);
  CHECK(HandleAdmin(f.src, "POST", "/admin/pause", {}, AdminCaller{"", true}).status == 401);
  std::string wrong = "Bearer " + std::string(63, 'a') + "b";
  CHECK(HandleAdmin(f.src, "POST", "/admin/pause", {}, AdminCaller{wrong, true}).status == 401);
  CHECK(HandleAdmin(f.src, "POST", "/admin/pause", {}, AdminCaller{"Basic x", true}).status == 401);
  CHECK(got.empty());  // nothing reached the failover
  CHECK(HandleAdmin(f.src, "POST", "/admin/switchover", {{"to", "pg2"}}, local).status == 202);
  CHECK(got == "switchover->pg2");
  f.src.admin_remote = true;
  CHECK(HandleAdmin(f.src, "POST", "/admin/resume", {}, AdminCaller{auth, false}).status == 202);
  CHECK(got == "resume");
  // The ordinary table never takes POST.
  CHECK(HandleRequest(f.src, "POST", "/status", {}).status == 405);
}
