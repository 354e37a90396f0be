#include "agent/failover/pg_layout.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>

#include "agent/failover/state_file.h"
#include "test/support/process.h"

using namespace kw;

TEST_CASE("the PostgreSQL layout survives a round trip through the state directory") {
  test::TempDir dir;
  auto none = LoadPgLayout(dir.path());
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
  PgLayout l{"/var/lib/postgresql/15/main", "/etc/postgresql/15/main/postgresql.conf", "15"};
  REQUIRE(SavePgLayout(dir.path(), l).ok());
  auto back = LoadPgLayout(dir.path());
  REQUIRE(back.ok());
  REQUIRE(back->has_value());
  CHECK(**back == l);
  struct stat st {};
  REQUIRE(stat(PgLayoutPath(dir.path()).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  // A new layout replaces the old one whole.
  PgLayout moved{"/srv/pg16", "/srv/pg16/postgresql.conf", "16"};
  REQUIRE(SavePgLayout(dir.path(), moved).ok());
  CHECK(**LoadPgLayout(dir.path()) == moved);
  // A value that would break the file is not written.
  CHECK(SavePgLayout(dir.path(), PgLayout{"/srv/a\nb", "/srv/c", "16"}).message() ==
        "not saved in " + PgLayoutPath(dir.path()) + ": '/srv/a\nb' holds a line break");
  CHECK(**LoadPgLayout(dir.path()) == moved);
}

TEST_CASE("a damaged or unreadable layout file is an error naming the file") {
  test::TempDir dir;
  std::string path = PgLayoutPath(dir.path());
  REQUIRE(SavePgLayout(dir.path(), PgLayout{"/srv/pg", "/srv/pg/postgresql.conf", "15"}).ok());
  std::string good = test::ReadFile(path);
  std::string edited = good;
  edited.replace(edited.find("major=15"), 8, "major=16");
  for (const std::string& text :
       {edited, good.substr(0, good.size() / 2), std::string(""), std::string("garbage\n"),
        Sealed("version=1\nmajor=15\n"), Sealed("version=2\n")}) {
    std::ofstream(path, std::ios::trunc) << text;
    auto r = LoadPgLayout(dir.path());
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find(path + ": ") == 0);
  }
  CHECK(LoadPgLayout(dir.path()).status().message() == path + ": unknown version '2'");
  std::remove(path.c_str());
  REQUIRE(mkdir(path.c_str(), 0700) == 0);  // cannot be read as a file
  CHECK(LoadPgLayout(dir.path()).status().message() == path + ": Is a directory");
}
