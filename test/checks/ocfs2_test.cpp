#include "checks/ocfs2.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "test/checks/node_test_util.h"

using namespace kw;
using kw::testing::BuildOne;
using kw::testing::FixturePath;
using kw::testing::In;
using kw::testing::LabelOf;

namespace {

const char* kFilestore = "[check.filestore]\ntype = ocfs2\npath = /var/lib/odoo\n";

CheckResult RunFixture(const std::string& fixture, const std::string& extra = "") {
  std::string errors;
  auto check = BuildOne(std::string(kFilestore) + extra, FixturePath("ocfs2/" + fixture), &errors);
  REQUIRE_MESSAGE(check, errors);
  return check->Run(In(seconds(2)));
}

}  // namespace

TEST_CASE("ocfs2: mounted rw passes and reports the device and options") {
  CheckResult r = RunFixture("healthy");
  CHECK(r.outcome == Outcome::kPass);
  CHECK(r.detail == "/var/lib/odoo mounted rw (ocfs2 /dev/sdb)");
  CHECK(LabelOf(r, "device") == "sdb");
  CHECK(LabelOf(r, "errors") == "remount-ro");
  CHECK(LabelOf(r, "heartbeat") == "local");
  CHECK(LabelOf(r, "fstype") == "ocfs2");
}

TEST_CASE("ocfs2: an error remount (superblock ro, mount rw) fails") {
  CheckResult r = RunFixture("error_remount_ro");
  CHECK(r.outcome == Outcome::kFail);
  CHECK(LabelOf(r, "reason") == "read_only");
  CHECK(r.detail.find("superblock was remounted ro") != std::string::npos);
}

TEST_CASE("ocfs2: read-only mounts fail, whichever flag says so") {
  CheckResult ro = RunFixture("mounted_ro");
  CHECK(ro.outcome == Outcome::kFail);
  CHECK(ro.detail == "/var/lib/odoo is mounted read-only");
  CheckResult bind = RunFixture("bind_ro");
  CHECK(bind.outcome == Outcome::kFail);
  CHECK(LabelOf(bind, "reason") == "read_only");
  CHECK(bind.detail.find("per-mount ro") != std::string::npos);
}

TEST_CASE("ocfs2: not mounted, wrong fstype and a hidden mount fail with their reasons") {
  CheckResult none = RunFixture("not_mounted");
  CHECK(none.outcome == Outcome::kFail);
  CHECK(none.detail == "/var/lib/odoo is not mounted");
  CHECK(LabelOf(none, "reason") == "not_mounted");
  CheckResult ext4 = RunFixture("wrong_fstype");
  CHECK(ext4.outcome == Outcome::kFail);
  CHECK(ext4.detail == "/var/lib/odoo is ext4 (/dev/sda3), expected ocfs2");
  CHECK(LabelOf(ext4, "reason") == "wrong_fstype");
  CheckResult stacked = RunFixture("stacked");
  CHECK(stacked.outcome == Outcome::kFail);
  CHECK(LabelOf(stacked, "reason") == "wrong_fstype");
}

TEST_CASE("ocfs2: an escaped mount point is found by its real name") {
  std::string errors;
  auto check = BuildOne("[check.f]\ntype = ocfs2\npath = /srv/odoo data\tx\\y\n",
                        FixturePath("ocfs2/escaped"), &errors);
  REQUIRE_MESSAGE(check, errors);
  CheckResult r = check->Run(In(seconds(1)));
  CHECK(r.outcome == Outcome::kPass);
  CHECK(LabelOf(r, "device") == "sdb");
}

TEST_CASE("ocfs2: errors= and heartbeat= are checked when configured") {
  CHECK(RunFixture("healthy", "errors = remount-ro\nheartbeat = local\n").outcome ==
        Outcome::kPass);
  CheckResult e = RunFixture("errors_continue", "errors = remount-ro\n");
  CHECK(e.outcome == Outcome::kFail);
  CHECK(e.detail == "/var/lib/odoo has errors=continue, expected remount-ro");
  CheckResult h = RunFixture("errors_continue", "heartbeat = local\n");
  CHECK(h.outcome == Outcome::kFail);
  CHECK(h.detail == "/var/lib/odoo has heartbeat=none, expected local");
  CHECK(RunFixture("errors_continue").outcome == Outcome::kPass);  // not configured: any
}

TEST_CASE("ocfs2: o2hb heartbeat age from debugfs, found through configfs") {
  CheckResult ok = RunFixture("healthy", "heartbeat_max_age = 10s\n");
  CHECK(ok.outcome == Outcome::kPass);
  REQUIRE(ok.FindValue("heartbeat_age_seconds"));
  CHECK(*ok.FindValue("heartbeat_age_seconds") == doctest::Approx(1.044));
  CHECK(LabelOf(ok, "o2hb_region") == "7B6C9DB0E34B4B6A8E5D2A1F3C4D5E6F");

  CheckResult stale = RunFixture("heartbeat_stale", "heartbeat_max_age = 10s\n");
  CHECK(stale.outcome == Outcome::kFail);
  CHECK(LabelOf(stale, "reason") == "heartbeat");
  CHECK(stale.detail.find("45.1s old (max 10s") != std::string::npos);
  CHECK(*stale.FindValue("heartbeat_age_seconds") == doctest::Approx(45.12));
  // Without heartbeat_max_age the age is not judged, however old.
  CHECK(RunFixture("heartbeat_stale").outcome == Outcome::kPass);

  CheckResult blind = RunFixture("no_debugfs", "heartbeat_max_age = 10s\n");
  CHECK(blind.outcome == Outcome::kFail);
  CHECK(blind.detail.find("heartbeat age unknown") != std::string::npos);
  CHECK(blind.detail.find("debugfs mounted?") != std::string::npos);
}

TEST_CASE("ocfs2: with global heartbeat every region counts, the oldest is judged") {
  CheckResult ok = RunFixture("heartbeat_global", "heartbeat_max_age = 5s\nheartbeat = global\n");
  CHECK(ok.outcome == Outcome::kPass);
  CHECK(*ok.FindValue("heartbeat_age_seconds") == doctest::Approx(2.31));
  CHECK(LabelOf(ok, "o2hb_region") == "B2E1D0C9B8A7F6E5D4C3B2A1F0E9D8C7");
  CheckResult old = RunFixture("heartbeat_global", "heartbeat_max_age = 2s\n");
  CHECK(old.outcome == Outcome::kFail);
  CHECK(old.detail.find("region B2E1D0C9B8A7F6E5D4C3B2A1F0E9D8C7") != std::string::npos);
}

TEST_CASE("ocfs2: configuration errors name the key") {
  std::string errors;
  CHECK_FALSE(BuildOne("[check.f]\ntype = ocfs2\n", "/", &errors));
  CHECK(errors.find("path") != std::string::npos);
  errors.clear();
  CHECK_FALSE(BuildOne("[check.f]\ntype = ocfs2\npath = var/lib\n", "/", &errors));
  CHECK(errors.find("test.ini:3: ") != std::string::npos);
  errors.clear();
  CHECK_FALSE(BuildOne(std::string(kFilestore) + "heartbeat_max_age = 5\n", "/", &errors));
  CHECK(errors.find("test.ini:4: ") != std::string::npos);
  errors.clear();
  CHECK_FALSE(BuildOne(std::string(kFilestore) + "errors = sometimes\n", "/", &errors));
  CHECK(errors.find("test.ini:4: ") != std::string::npos);
  errors.clear();
  CHECK_FALSE(BuildOne(std::string(kFilestore) + "probe_dir = /var/lib/odoo2/x\n", "/", &errors));
  CHECK(errors.find("test.ini:4: probe_dir: must be a directory under path") != std::string::npos);
  CHECK(BuildOne(std::string(kFilestore) + "probe_dir = /var/lib/odoo/.keepwatch/\n", "/"));
  errors.clear();
  CHECK_FALSE(BuildOne(std::string(kFilestore) + "write_prob = yes\n", "/", &errors));
  CHECK(errors.find("unknown key") != std::string::npos);
}

TEST_CASE("ocfs2: the write probe creates, syncs, reads back and removes its file") {
  namespace fs = std::filesystem;
  char tmpl[] = "/tmp/kw-ocfs2-XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  fs::path tmp = tmpl;
  fs::path data = tmp / "filestore";
  fs::create_directories(data);
  fs::create_directories(tmp / "root/proc/self");
  // A generated root whose mountinfo says `data` is a tmpfs mount.
  std::ofstream(tmp / "root/proc/self/mountinfo")
      << "26 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro\n"
      << "77 26 0:61 / " << data.string() << " rw,relatime - tmpfs tmpfs rw,size=1024k\n";

  Ocfs2Options o;
  o.path = data.string();
  o.fstype = "tmpfs";
  o.write_probe = true;
  o.probe_name = ".probe-test";
  Ocfs2Check check(o, (tmp / "root").string());
  for (int i = 0; i < 3; ++i) {
    CheckResult r = check.Run(In(seconds(2)));
    CHECK(r.outcome == Outcome::kPass);
    CHECK(r.detail.find("write probe ok") != std::string::npos);
    CHECK(r.FindValue("write_probe_seconds"));
    CHECK_FALSE(fs::exists(data / ".probe-test"));
  }
  // In a probe_dir of its own (one the agent's user may write).
  fs::create_directories(data / ".keepwatch");
  Ocfs2Options in_dir = o;
  in_dir.probe_dir = (data / ".keepwatch").string();
  Ocfs2Check dir_check(in_dir, (tmp / "root").string());
  CHECK(dir_check.Run(In(seconds(2))).outcome == Outcome::kPass);
  CHECK(fs::is_empty(data / ".keepwatch"));
  // A leftover probe file (a crash between create and remove) is simply reused.
  std::ofstream(data / ".probe-test") << "stale";
  CHECK(check.Run(In(seconds(2))).outcome == Outcome::kPass);
  CHECK_FALSE(fs::exists(data / ".probe-test"));
  // A deadline already past when the I/O returns is a timeout, not a pass.
  CheckResult late = check.Run(SteadyClock::now() - milliseconds(1));
  CHECK(late.outcome == Outcome::kTimeout);
  CHECK(LabelOf(late, "reason") == "write_probe_timeout");
  // The directory vanished under the mount: the probe fails and says where.
  fs::remove_all(data);
  CheckResult gone = check.Run(In(seconds(2)));
  CHECK(gone.outcome == Outcome::kFail);
  CHECK(LabelOf(gone, "reason") == "write_probe");
  CHECK(gone.detail.find("create: No such file or directory") != std::string::npos);
  fs::remove_all(tmp);
}

TEST_CASE("ocfs2: the default probe file name carries the host name") {
  char host[256] = {};
  REQUIRE(gethostname(host, sizeof host - 1) == 0);
  CHECK(DefaultProbeName() == std::string(".keepwatch-probe.") + host);
}
