#include "checks/mountinfo.h"

#include <doctest/doctest.h>

#include "checks/sysfs.h"
#include "test/checks/node_test_util.h"

using namespace kw;

TEST_CASE("mountinfo: a line splits into the kernel's fields") {
  auto m = ParseMountinfoLine(
      "101 26 8:16 / /var/lib/odoo rw,relatime shared:52 master:3 - ocfs2 /dev/sdb "
      "ro,heartbeat=local,nointr,data=ordered,errors=remount-ro");
  REQUIRE(m.ok());
  CHECK(m->mount_id == 101);
  CHECK(m->parent_id == 26);
  CHECK(m->major == 8);
  CHECK(m->minor == 16);
  CHECK(m->DeviceNumber() == "8:16");
  CHECK(m->root == "/");
  CHECK(m->mount_point == "/var/lib/odoo");
  CHECK(m->mount_options == std::vector<std::string>{"rw", "relatime"});
  CHECK(m->optional_fields == std::vector<std::string>{"shared:52", "master:3"});
  CHECK(m->fstype == "ocfs2");
  CHECK(m->source == "/dev/sdb");
  CHECK_FALSE(m->MountReadOnly());
  CHECK(m->SuperReadOnly());
  CHECK(m->SuperOption("errors").value() == "remount-ro");
  CHECK(m->SuperOption("heartbeat").value() == "local");
  CHECK_FALSE(m->SuperOption("heart").has_value());
  CHECK_FALSE(m->SuperOption("nointr").has_value());
}

TEST_CASE("mountinfo: no optional fields, and a separator-like mount point") {
  auto m = ParseMountinfoLine("40 1 0:33 / /- rw - tmpfs none rw,size=1024k");
  REQUIRE(m.ok());
  CHECK(m->mount_point == "/-");
  CHECK(m->optional_fields.empty());
  CHECK(m->fstype == "tmpfs");
  CHECK(m->source == "none");
}

TEST_CASE("mountinfo: octal escapes are undone") {
  CHECK(UnescapeMountField("/srv/odoo\\040data") == "/srv/odoo data");
  CHECK(UnescapeMountField("a\\011b\\012c\\134d") == "a\tb\nc\\d");
  CHECK(UnescapeMountField("trailing\\04") == "trailing\\04");
  CHECK(UnescapeMountField("not\\xyz") == "not\\xyz");
  CHECK(UnescapeMountField("\\") == "\\");
  auto m = ParseMountinfoLine("7 1 0:1 /sub\\040dir /mnt/a\\040b rw - fuse.x my\\040src rw");
  REQUIRE(m.ok());
  CHECK(m->root == "/sub dir");
  CHECK(m->mount_point == "/mnt/a b");
  CHECK(m->source == "my src");
}

TEST_CASE("mountinfo: malformed lines are errors that say which line") {
  CHECK_FALSE(ParseMountinfoLine("").ok());
  CHECK_FALSE(ParseMountinfoLine("1 2 8:1 / /x rw shared:1 ext4 /dev/sda rw").ok());  // no "-"
  CHECK_FALSE(ParseMountinfoLine("x 2 8:1 / /x rw - ext4 /dev/sda rw").ok());
  CHECK_FALSE(ParseMountinfoLine("1 2 81 / /x rw - ext4 /dev/sda rw").ok());
  auto all = ParseMountinfo("1 0 8:1 / / rw - ext4 /dev/sda1 rw\nbroken\n");
  REQUIRE_FALSE(all.ok());
  CHECK(all.status().message().rfind("line 2: ", 0) == 0);
}

TEST_CASE("mountinfo: the last mount at a path is the visible one") {
  auto mounts = ReadMountinfo(testing::FixturePath("ocfs2/stacked"));
  REQUIRE(mounts.ok());
  CHECK(mounts->size() == 11);
  const MountEntry* m = FindMountAt(*mounts, "/var/lib/odoo/");
  REQUIRE(m);
  CHECK(m->fstype == "tmpfs");
  CHECK(FindMountAt(*mounts, "/var/lib") == nullptr);
  CHECK(FindMountAt(*mounts, "/")->fstype == "ext4");
}

TEST_CASE("mountinfo: the real /proc/self/mountinfo parses") {
  auto mounts = ReadMountinfo("/");
  REQUIRE(mounts.ok());
  CHECK(FindMountAt(*mounts, "/") != nullptr);
}

TEST_CASE("sysfs helpers: roots, attributes, natural order") {
  CHECK(UnderRoot("/", "/proc/self/mountinfo") == "/proc/self/mountinfo");
  CHECK(UnderRoot("/tmp/fx/", "/proc") == "/tmp/fx/proc");
  CHECK(UnderRoot("", "/sys") == "/sys");
  CHECK(NaturalLess("session9", "session10"));
  CHECK_FALSE(NaturalLess("session10", "session9"));
  CHECK(NaturalLess("connection1:0", "connection2:0"));
  CHECK(NaturalLess("a", "ab"));
  auto dev = ReadAttribute(
      testing::FixturePath("ocfs2/healthy/sys/kernel/config/cluster/odoocluster/heartbeat/"
                           "7B6C9DB0E34B4B6A8E5D2A1F3C4D5E6F/dev"));
  REQUIRE(dev.ok());
  CHECK(*dev == "sdb");
  auto missing = ReadAttribute("/nonexistent/keepwatch");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("No such file") != std::string::npos);
}
