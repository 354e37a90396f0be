#include "agent/track_files.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "test/support/process.h"

using namespace kw;

namespace {

ino_t Inode(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

CheckState State(const std::string& name, bool has_result, bool up) {
  CheckState c;
  c.name = name;
  c.type = "haproxy";
  c.has_result = has_result;
  c.up = up;
  return c;
}

}  // namespace

TEST_CASE("track files: 0 up, 1 down or unknown; only changes are rewritten, atomically") {
  kw::test::TempDir dir;
  TrackFiles tf(dir.path() + "/");
  Snapshot s;
  s.checks = {State("haproxy", false, false), State("odoo", true, true)};
  tf.Update(s);
  CHECK(tf.last_status().ok());
  CHECK(test::ReadFile(dir.path() + "/haproxy.state") == "1\n");  // no result yet: not healthy
  CHECK(test::ReadFile(dir.path() + "/odoo.state") == "0\n");
  ino_t odoo_inode = Inode(dir.path() + "/odoo.state");
  ino_t haproxy_inode = Inode(dir.path() + "/haproxy.state");

  s.checks[0] = State("haproxy", true, true);
  tf.Update(s);
  CHECK(test::ReadFile(dir.path() + "/haproxy.state") == "0\n");
  CHECK(Inode(dir.path() + "/haproxy.state") != haproxy_inode);  // replaced by rename
  CHECK(Inode(dir.path() + "/odoo.state") == odoo_inode);        // unchanged: untouched

  s.checks[1] = State("odoo", true, false);
  tf.Update(s);
  CHECK(test::ReadFile(dir.path() + "/odoo.state") == "1\n");
  // No temporary files are left behind.
  int files = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  CHECK(files == 2);
}

TEST_CASE("track files: a failed write is reported and retried") {
  kw::test::TempDir dir;
  TrackFiles tf(dir.path() + "/missing");
  Snapshot s;
  s.checks = {State("haproxy", true, true)};
  tf.Update(s);
  REQUIRE_FALSE(tf.last_status().ok());
  CHECK(tf.last_status().message().find("No such file or directory") != std::string::npos);
  std::filesystem::create_directory(dir.path() + "/missing");
  tf.Update(s);  // same value, but never written: written now
  CHECK(tf.last_status().ok());
  CHECK(test::ReadFile(dir.path() + "/missing/haproxy.state") == "0\n");
}
