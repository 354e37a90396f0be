#include "agent/config.h"

#include <doctest/doctest.h>

#include <algorithm>

#include "checks/registry.h"

using namespace kw;

namespace {

// Loads text as "k.ini" and builds the checks; returns every message.
std::vector<std::string> Errors(const std::string& text) {
  Diagnostics diag("k.ini");
  Config cfg = LoadConfigText(text, diag);
  RealClock clock;
  BuildChecks(cfg, CheckEnv{&clock, "/"}, diag);
  return diag.messages();
}

bool Has(const std::vector<std::string>& msgs, const std::string& m) {
  return std::find(msgs.begin(), msgs.end(), m) != msgs.end();
}

const char* kGood = R"(; a comment
[agent]
node = postgresql1
listen = 127.0.0.1:9201
log_level = debug

[check.ssh]
type = tcp
address = 127.0.0.1:22
interval = 500ms
timeout = 250ms
rise = 1
fall = 5

[check.web]
type = http
url = http://127.0.0.1:8080/health ; inline comment
expect = 204

[cluster]
name = odoo-prod
key_file = /etc/keepwatch/cluster.key

[member.postgresql1]
address = 192.0.2.10
voter = yes
postgres = yes
priority = 100

[member.postgresql2]
address = 192.0.2.11:7000
http = 192.0.2.11:9300
)";

}  // namespace

TEST_CASE("a good file loads with every value and default") {
  Diagnostics diag("k.ini");
  Config cfg = LoadConfigText(kGood, diag);
  RealClock clock;
  auto checks = BuildChecks(cfg, CheckEnv{&clock, "/"}, diag);
  INFO(diag.messages().size());
  REQUIRE(diag.ok());
  CHECK(cfg.agent.node == "postgresql1");
  CHECK(cfg.agent.listen == HostPort{"127.0.0.1", 9201});
  CHECK(cfg.agent.log_level == LogLevel::kDebug);
  REQUIRE(cfg.checks.size() == 2);
  CHECK(cfg.checks[0].interval == milliseconds(500));
  CHECK(cfg.checks[0].timeout == milliseconds(250));
  CHECK(cfg.checks[0].rise == 1);
  CHECK(cfg.checks[0].fall == 5);
  CHECK(cfg.checks[1].rise == 2);  // HAProxy's defaults
  CHECK(cfg.checks[1].fall == 3);
  CHECK(checks.size() == 2);
  CHECK(cfg.cluster.present);
  CHECK(cfg.cluster.bind == HostPort{"0.0.0.0", 7950});
  REQUIRE(cfg.members.size() == 2);
  CHECK(cfg.members[0].address == HostPort{"192.0.2.10", 7950});
  CHECK(cfg.members[0].http == HostPort{"192.0.2.10", 9201});
  CHECK(cfg.members[0].voter);
  CHECK(cfg.members[0].priority == 100);
  CHECK(cfg.members[1].address == HostPort{"192.0.2.11", 7000});
  CHECK(cfg.members[1].http == HostPort{"192.0.2.11", 9300});
  CHECK_FALSE(cfg.members[1].voter);
}

TEST_CASE("every error is reported with file and line, not just the first") {
  auto m = Errors(R"([agent]
listen = 127.0.0.1:99999
colour = blue
log_level = loud
[check.a]
type = tcp
address = 127.0.0.1
interval = 5
rise = 0
[check.a]
type = tcp
[check.b]
address = 127.0.0.1:1
[check.c]
type = smoke
[bogus]
x = 1
[check.d]
type = http
url = ftp://x/
[check.e]
type = tcp
address = 127.0.0.1:1
address = 127.0.0.1:2
this line has no equals sign
  indented = continuation
[check.bad name]
)");
  CHECK(Has(m,
            "k.ini:2: listen: '127.0.0.1:99999' is not an address: port 99999 is out of range [1, "
            "65535]"));
  CHECK(Has(m, "k.ini:3: unknown key 'colour' in [agent]"));
  CHECK(Has(m, "k.ini:4: log_level: 'loud' is not one of: debug, info, warning, error"));
  CHECK(Has(m, "k.ini:7: address: '127.0.0.1' is not an address: missing port (host:port)"));
  CHECK(Has(m, "k.ini:8: interval: '5' is not a duration (e.g. 500ms, 2s, 1m)"));
  CHECK(Has(m, "k.ini:9: rise: 0 is out of range [1, 100]"));
  CHECK(Has(m, "k.ini:10: duplicate check name 'a' (first at line 5)"));
  CHECK(Has(m, "k.ini:12: [check.b]: missing required key 'type'"));
  CHECK(Has(m,
            "k.ini:15: type: unknown check type 'smoke' (known: tcp, http, postgres, ocfs2, iscsi, "
            "odoo, haproxy)"));
  CHECK(Has(m,
            "k.ini:16: unknown section [bogus] (expected [agent], [check.NAME], [cluster] or "
            "[member.NAME])"));
  CHECK(Has(m, "k.ini:20: url: 'ftp://x/' is not an http:// URL"));
  CHECK(Has(m, "k.ini:24: duplicate key 'address' (first at line 23)"));
  CHECK(Has(m, "k.ini:25: expected 'key = value' or '[section]'"));
  CHECK(Has(m, "k.ini:26: line starts with whitespace (continuation lines are not supported)"));
  CHECK(Has(m, "k.ini:27: invalid section name [check.bad name]"));
}

TEST_CASE("a line longer than inih's limit is an error, not a silent truncation") {
  std::string long_url = "http://127.0.0.1:1/" + std::string(300, 'a');
  auto m = Errors("[check.w]\ntype = http\nurl = " + long_url + "\n");
  CHECK(Has(m, "k.ini:3: line is 325 characters long; at most 198 are allowed"));
  CHECK(Has(m, "k.ini:1: [check.w]: missing required key 'url'"));
}

TEST_CASE("keys outside sections, empty values, bad names, cluster consistency") {
  auto m = Errors("node = x\n[check.t]\ntype =\n[member.a]\naddress = 10.0.0.1\n");
  CHECK(Has(m, "k.ini:1: key 'node' is outside of any [section]"));
  CHECK(Has(m, "k.ini:3: type: must not be empty"));
  CHECK(Has(m, "k.ini:4: [member.a] needs a [cluster] section"));

  auto c = Errors(
      "[agent]\nnode = z\n[cluster]\nname = n\nkey_file = /k\nfailover = sometimes\n"
      "[member.a]\naddress = 10.0.0.1\nvoter = maybe\n");
  CHECK(Has(c, "k.ini:6: failover: 'sometimes' is not one of: auto, manual, off"));
  CHECK(Has(c, "k.ini:9: voter: 'maybe' is not a boolean (yes/no, true/false, on/off)"));
  CHECK(
      Has(c, "k.ini:3: this node 'z' is not one of the [member.NAME] sections (set [agent] node)"));

  auto e = Errors("[cluster]\nname = n\n");
  CHECK(Has(e, "k.ini:1: [cluster]: missing required key 'key_file'"));
  CHECK(Has(e, "k.ini:1: [cluster] has no [member.NAME] sections"));
}

TEST_CASE("a missing file is reported") {
  Diagnostics diag("/nonexistent/keepwatch.ini");
  LoadConfig("/nonexistent/keepwatch.ini", diag);
  REQUIRE(diag.messages().size() == 1);
  CHECK(diag.messages()[0] == "/nonexistent/keepwatch.ini:0: cannot open configuration file");
}

TEST_CASE("failover keys: defaults, values and the configurations that cannot be safe") {
  const std::string members =
      "[member.a]\naddress = 10.0.0.1\nvoter = yes\npostgres = yes\npriority = 10\n"
      "[member.b]\naddress = 10.0.0.2\nvoter = yes\n";
  Diagnostics ok("k.ini");
  Config cfg = LoadConfigText(
      "[agent]\nnode = a\n[cluster]\nname = n\nkey_file = /k\nlease = 4s\n"
      "fence = stop\nauto_rejoin = yes\n" +
          members,
      ok);
  CHECK(cfg.cluster.lease == seconds(4));
  CHECK(cfg.cluster.drift_margin == milliseconds(500));
  CHECK(cfg.cluster.fence == FenceMode::kStop);
  CHECK(cfg.cluster.auto_rejoin);
  REQUIRE(ok.ok());
  // Two voters: allowed, with a warning.
  REQUIRE(ok.messages().size() == 1);
  CHECK(ok.messages()[0] ==
        "k.ini:3: warning: 2 voters: an even number; a split in half elects nobody (use an odd "
        "number)");

  auto m = Errors(
      "[agent]\nnode = a\n[cluster]\nname = n\nkey_file = /k\nlease = 2s\n"
      "drift_margin = 10ms\nfence = command\n"
      "[member.a]\naddress = 10.0.0.1\npriority = 5\n");
  CHECK(Has(
      m,
      "k.ini:6: lease: must be at least 3 probe intervals (3s): one lost renewal must not end it"));
  CHECK(Has(m,
            "k.ini:7: drift_margin: must be at least 2% of the lease (40ms): clocks run at "
            "different rates"));
  CHECK(Has(m, "k.ini:8: fence: 'command' needs a fence_command"));
  CHECK(Has(m, "k.ini:9: [member.a]: priority needs postgres = yes"));
  CHECK(Has(m,
            "k.ini:3: failover = auto needs voters: set voter = yes on an odd number of members, "
            "or failover = off"));
  // failover = off: no lease rules, no voters needed.
  auto off = Errors(
      "[agent]\nnode = a\n[cluster]\nname = n\nkey_file = /k\nfailover = off\nlease = 1s\n"
      "[member.a]\naddress = 10.0.0.1\n");
  CHECK(off.empty());
}

TEST_CASE("rejoin keys: the source role without host or port, an absolute pg_bindir") {
  const std::string head =
      "[agent]\nnode = a\n[cluster]\nname = n\nkey_file = /k\nfailover = off\n";
  const std::string member = "[member.a]\naddress = 10.0.0.1\npostgres = yes\n";
  Diagnostics ok("k.ini");
  Config cfg = LoadConfigText(head +
                                  "rejoin_conninfo = user=rewind sslmode=require\n"
                                  "pg_bindir = /usr/pgsql-15/bin\n" +
                                  member,
                              ok);
  CHECK(ok.ok());
  CHECK(cfg.cluster.rejoin_conninfo == "user=rewind sslmode=require");
  CHECK(cfg.cluster.pg_bindir == "/usr/pgsql-15/bin");
  auto m = Errors(head +
                  "rejoin_conninfo = host=10.0.0.2 user=rewind port=5433\n"
                  "pg_bindir = bin\n" +
                  member);
  CHECK(Has(m,
            "k.ini:7: rejoin_conninfo: must not set host: the new primary's [member] pg_address "
            "gives it"));
  CHECK(Has(m,
            "k.ini:7: rejoin_conninfo: must not set port: the new primary's [member] pg_address "
            "gives it"));
  CHECK(Has(m, "k.ini:8: pg_bindir: must be an absolute path"));
  auto bad = Errors(head + "rejoin_conninfo = user='open\n" + member);
  CHECK(Has(bad,
            "k.ini:7: rejoin_conninfo: is not a libpq connection string: unterminated "
            "quoted string in connection info string"));
  // A node without PostgreSQL never rejoins: the [cluster] it shares is not parsed with
  // libpq there (it would load libpq, agent/pq_loader.h).
  CHECK(Errors(head + "rejoin_conninfo = user='open\n[member.a]\naddress = 10.0.0.1\n").empty());
  // A postgres check makes it a PostgreSQL node, member flag or not.
  CHECK(Has(Errors(head + "rejoin_conninfo = user='open\n[member.a]\naddress = 10.0.0.1\n" +
                   "[check.pg]\ntype = postgres\nconninfo = dbname=postgres\n"),
            "k.ini:7: rejoin_conninfo: is not a libpq connection string: unterminated "
            "quoted string in connection info string"));
}
