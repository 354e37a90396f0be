// The ocfs2 check on real mounts of this machine (needs root, as the test suite runs):
// tmpfs remounted read-only in both ways, and a FUSE filesystem that hangs.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "checks/ocfs2.h"
#include "test/checks/blockfs_mount.h"
#include "test/checks/node_test_util.h"
#include "test/support/process.h"

using namespace kw;
using kw::testing::In;
using kw::testing::LabelOf;

namespace {

// Unmounts (lazily, in reverse order) whatever the test mounted, even on failure.
struct Mounts {
  std::vector<std::string> points;
  ~Mounts() {
    for (auto it = points.rbegin(); it != points.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
  }
};

Ocfs2Check TmpfsCheck(const std::string& path) {
  Ocfs2Options o;
  o.path = path;
  o.fstype = "tmpfs";
  o.write_probe = true;
  return Ocfs2Check(o, "/");
}

}  // namespace

TEST_CASE("ocfs2 on a real tmpfs: remount read-only, and a superblock-only ro under a bind") {
  kw::test::TempDir dir;
  std::string a = dir.path() + "/a", b = dir.path() + "/b";
  std::filesystem::create_directories(a);
  std::filesystem::create_directories(b);
  Mounts mounts;
  REQUIRE_MESSAGE(::mount("kw-filestore", a.c_str(), "tmpfs", 0, "size=1m") == 0,
                  "mount tmpfs: ", std::strerror(errno));
  mounts.points.push_back(a);
  REQUIRE(::mount(a.c_str(), b.c_str(), nullptr, MS_BIND, nullptr) == 0);
  mounts.points.push_back(b);

  Ocfs2Check on_a = TmpfsCheck(a), on_b = TmpfsCheck(b);
  CheckResult ok = on_a.Run(In(seconds(2)));
  CHECK(ok.outcome == Outcome::kPass);
  CHECK(ok.detail.find("write probe ok") != std::string::npos);
  CHECK(on_b.Run(In(seconds(2))).outcome == Outcome::kPass);

  // Remounting a read-only changes the superblock and a's own mount flag; b, a bind of
  // the same superblock, keeps its per-mount rw: exactly what OCFS2's error handling
  // leaves behind ("File system is now read-only").
  REQUIRE(::mount(nullptr, a.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr) == 0);
  CheckResult ro = on_a.Run(In(seconds(2)));
  CHECK(ro.outcome == Outcome::kFail);
  CHECK(LabelOf(ro, "reason") == "read_only");
  CHECK(ro.detail == a + " is mounted read-only");

  auto mi = ReadMountinfo("/");
  REQUIRE(mi.ok());
  const MountEntry* eb = FindMountAt(*mi, b);
  REQUIRE(eb);
  CHECK_FALSE(eb->MountReadOnly());
  CHECK(eb->SuperReadOnly());
  int fd = ::open((b + "/x").c_str(), O_CREAT | O_WRONLY, 0600);
  CHECK(fd == -1);  // writes really fail there
  CHECK(errno == EROFS);
  CheckResult sb = on_b.Run(In(seconds(2)));
  CHECK(sb.outcome == Outcome::kFail);
  CHECK(LabelOf(sb, "reason") == "read_only");
  CHECK(sb.detail.find("superblock was remounted ro") != std::string::npos);

  // And back: remounted rw, both pass again.
  REQUIRE(::mount(nullptr, a.c_str(), nullptr, MS_REMOUNT, nullptr) == 0);
  CHECK(on_a.Run(In(seconds(2))).outcome == Outcome::kPass);
  CHECK(on_b.Run(In(seconds(2))).outcome == Outcome::kPass);
}

TEST_CASE(
    "ocfs2 on a hanging FUSE filesystem: the write probe blocks, then times out and recovers") {
  kw::testing::BlockFsMount fs;
  REQUIRE(fs.mounted());
  Ocfs2Options o;
  o.path = fs.path();
  o.fstype = "fuse.kw-blockfs";
  o.write_probe = true;
  o.probe_name = ".probe";
  Ocfs2Check check(o, "/");
  CheckResult ok = check.Run(In(seconds(2)));
  CHECK(ok.outcome == Outcome::kPass);
  CHECK(ok.detail.find("write probe ok") != std::string::npos);
  CHECK(fs.Count("create") == 1);
  CHECK(fs.Count("fsync") == 1);
  CHECK(fs.Count("unlink") == 1);

  fs.Close();
  std::atomic<bool> returned{false};
  CheckResult late;
  TimePoint deadline = In(milliseconds(200));
  std::thread probe([&] {
    late = check.Run(deadline);
    returned = true;
  });
  // Well past the deadline the probe is still stuck in the kernel: a check cannot bound
  // this itself, which is why the scheduler gives it its own thread.
  std::this_thread::sleep_for(milliseconds(600));
  CHECK_FALSE(returned.load());
  // mountinfo is still readable while the filesystem hangs (no I/O on it).
  CHECK(ReadMountinfo("/").ok());
  fs.Open();
  probe.join();
  CHECK(returned.load());
  CHECK(late.outcome == Outcome::kTimeout);
  CHECK(LabelOf(late, "reason") == "write_probe_timeout");
  CheckResult again = check.Run(In(seconds(2)));
  CHECK(again.outcome == Outcome::kPass);
  // The late probe stopped after its fsync and left its file; the next one reused it
  // (opened, truncated) and removed it: nothing accumulates.
  CHECK(fs.Count("create") == 2);
  CHECK(fs.Count("unlink") == 2);
  CHECK_FALSE(std::filesystem::exists(fs.path() + "/.probe"));
}
