#include "checks/iscsi.h"

#include <doctest/doctest.h>

#include "agent/net.h"
#include "test/checks/node_test_util.h"

using namespace kw;
using kw::testing::BuildOne;
using kw::testing::FixturePath;
using kw::testing::In;
using kw::testing::LabelOf;

namespace {

CheckResult RunFixture(const std::string& fixture, const std::string& extra = "") {
  std::string errors;
  auto check = BuildOne("[check.iscsi]\ntype = iscsi\ntarget = iqn.2019-02.lb2:odcfs2\n" + extra,
                        FixturePath("iscsi/" + fixture), &errors);
  REQUIRE_MESSAGE(check, errors);
  return check->Run(In(seconds(2)));
}

}  // namespace

TEST_CASE("iscsi: sysfs sessions are read through the class symlinks") {
  auto sessions = ReadIscsiSessions(FixturePath("iscsi/two_targets"));
  REQUIRE(sessions.size() == 2);
  CHECK(sessions[0].name == "session1");
  CHECK(sessions[0].target == "iqn.2019-02.lb2:backup");
  CHECK(sessions[1].target == "iqn.2019-02.lb2:odcfs2");
  CHECK(sessions[1].state == "LOGGED_IN");
  CHECK(sessions[1].recovery_tmo == "120");
  CHECK(sessions[1].connection == "up");
  CHECK(sessions[1].portal == "192.168.55.112:3260");
  REQUIRE(sessions[1].luns.size() == 2);
  CHECK(sessions[1].luns[0].hctl == "3:0:0:0");
  CHECK(sessions[1].luns[0].disk.empty());  // tgt's controller LUN
  CHECK(sessions[1].luns[1].disk == "sdc");
  CHECK(sessions[1].Problem().empty());
}

TEST_CASE("iscsi: LOGGED_IN with the connection up and the LUN running passes") {
  CheckResult r = RunFixture("logged_in");
  CHECK(r.outcome == Outcome::kPass);
  CHECK(r.detail == "session1 to iqn.2019-02.lb2:odcfs2 LOGGED_IN, connection up, sdb running");
  CHECK(LabelOf(r, "state") == "LOGGED_IN");
  CHECK(LabelOf(r, "recovery_tmo") == "120");
  CHECK(LabelOf(r, "portal") == "192.168.55.112:3260");
  CHECK(LabelOf(r, "device") == "sdb");
  CHECK(LabelOf(r, "connection") == "up");
  CHECK(*r.FindValue("recovery_tmo_seconds") == 120);
}

TEST_CASE("iscsi: FAILED and FREE sessions fail with distinct reasons") {
  CheckResult failed = RunFixture("failed");
  CHECK(failed.outcome == Outcome::kFail);
  CHECK(LabelOf(failed, "reason") == "session_failed");
  CHECK(failed.detail.find("is FAILED: the path is lost") != std::string::npos);
  CHECK(failed.detail.find("recovery_tmo 120 s") != std::string::npos);
  CHECK(LabelOf(failed, "device") == "sdb");
  CheckResult free_ = RunFixture("free");
  CHECK(free_.outcome == Outcome::kFail);
  CHECK(LabelOf(free_, "reason") == "session_free");
  CHECK(free_.detail.find("is FREE") != std::string::npos);
}

TEST_CASE("iscsi: with two targets the configured one is judged") {
  CheckResult r = RunFixture("two_targets");
  CHECK(r.outcome == Outcome::kPass);
  CHECK(LabelOf(r, "session") == "session2");
  CHECK(LabelOf(r, "device") == "sdc");
  std::string errors;
  auto other = BuildOne("[check.i]\ntype = iscsi\ntarget = iqn.2019-02.lb2:missing\n",
                        FixturePath("iscsi/two_targets"), &errors);
  REQUIRE(other);
  CheckResult none = other->Run(In(seconds(1)));
  CHECK(none.outcome == Outcome::kFail);
  CHECK(LabelOf(none, "reason") == "no_session");
  CHECK(none.detail == "no iSCSI session for iqn.2019-02.lb2:missing (not logged in)");
}

TEST_CASE("iscsi: an old kernel without connection state is unknown, not a failure") {
  CheckResult r = RunFixture("old_kernel");
  CHECK(r.outcome == Outcome::kPass);
  CHECK(LabelOf(r, "connection") == "unknown");
  CHECK(r.detail.find("connection state unknown") != std::string::npos);
}

TEST_CASE("iscsi: a transport-offline LUN fails even though the session is logged in") {
  CheckResult r = RunFixture("lun_offline");
  CHECK(r.outcome == Outcome::kFail);
  CHECK(LabelOf(r, "reason") == "lun");
  CHECK(r.detail.find("LUN 2:0:0:0 is transport-offline") != std::string::npos);
}

TEST_CASE("iscsi: no session at all") {
  CheckResult r = RunFixture("no_session");
  CHECK(r.outcome == Outcome::kFail);
  CHECK(LabelOf(r, "reason") == "no_session");
}

TEST_CASE("iscsi: the portal probe tells target down from local session broken") {
  HostPort bound;
  auto listener = ListenTcp(HostPort{"127.0.0.1", 0}, &bound);
  REQUIRE(listener.ok());
  CheckResult up = RunFixture("failed", "portal = " + bound.ToString() + "\n");
  CHECK(up.outcome == Outcome::kFail);
  CHECK(LabelOf(up, "portal_reachable") == "yes");
  CHECK(up.detail.find("the local session is broken") != std::string::npos);
  listener->reset();  // nothing listens there any more: connection refused
  CheckResult down = RunFixture("failed", "portal = " + bound.ToString() + "\n");
  CHECK(down.outcome == Outcome::kFail);
  CHECK(LabelOf(down, "portal_reachable") == "no");
  CHECK(down.detail.find("the target or the network to it is down") != std::string::npos);
  // A healthy session costs the target no connection.
  CheckResult healthy = RunFixture("logged_in", "portal = " + bound.ToString() + "\n");
  CHECK(healthy.outcome == Outcome::kPass);
  CHECK(LabelOf(healthy, "portal_reachable") == "<none>");
}

TEST_CASE("iscsi: configuration errors") {
  std::string errors;
  CHECK_FALSE(BuildOne("[check.i]\ntype = iscsi\n", "/", &errors));
  CHECK(errors.find("target") != std::string::npos);
  errors.clear();
  CHECK_FALSE(BuildOne("[check.i]\ntype = iscsi\ntarget = lb2:odcfs2\n", "/", &errors));
  CHECK(errors.find("test.ini:3: ") != std::string::npos);
  errors.clear();
  CHECK_FALSE(BuildOne("[check.i]\ntype = iscsi\ntarget = iqn.x:y\nportal = 1.2.3.4:99999\n", "/",
                       &errors));
  CHECK(errors.find("test.ini:4: ") != std::string::npos);
}
