#include "agent/failover/state_file.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <fstream>

#include "test/support/process.h"

using namespace kw;

TEST_CASE("failover state survives a round trip through the file") {
  test::TempDir dir;
  auto fresh = LoadState(dir.path());
  REQUIRE(fresh.ok());
  CHECK(fresh->fresh);
  CHECK(fresh->term == 0);
  DurableState s{7, "postgresql2", "postgresql2", false};
  REQUIRE(SaveState(dir.path(), s).ok());
  auto back = LoadState(dir.path());
  REQUIRE(back.ok());
  CHECK(*back == s);
  CHECK_FALSE(back->fresh);
  struct stat st {};
  REQUIRE(stat(StateFilePath(dir.path()).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  // Overwrite: the new state replaces the old one whole.
  REQUIRE(SaveState(dir.path(), DurableState{8, "", "", false}).ok());
  CHECK(LoadState(dir.path())->term == 8);
  CHECK(LoadState(dir.path())->voted_for.empty());
}

TEST_CASE("a damaged or edited state file is a clear start-up error") {
  test::TempDir dir;
  std::string good = EncodeState(DurableState{5, "a", "a", false});
  std::string edited = good;
  edited.replace(edited.find("term=5"), 6, "term=9");
  for (const std::string& text :
       {edited, good.substr(0, good.size() / 2), std::string(""), std::string("garbage\n")}) {
    std::ofstream(StateFilePath(dir.path())) << text;
    auto r = LoadState(dir.path());
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find(StateFilePath(dir.path())) == 0);
    CHECK(r.status().message().find("refusing to start") != std::string::npos);
  }
  CHECK(DecodeState(edited).status().message() == "checksum mismatch (damaged or edited)");
}

TEST_CASE("saving into a missing directory fails with the path") {
  auto s = SaveState("/nonexistent/dir", DurableState{1, "", "", false});
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find("/nonexistent/dir/failover.state.tmp") == 0);
}
