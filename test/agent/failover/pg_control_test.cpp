// pg_controldata's output as PostgreSQL 15 prints it (LC_ALL=C), and the final WAL
// position a switchover takes from it after fence = stop.
#include "agent/failover/pg_control.h"

#include <doctest/doctest.h>

using namespace kw;

namespace {

// A primary after pg_ctl stop -m fast (PostgreSQL 15.x, `LC_ALL=C pg_controldata`), with
// the state and the checkpoint location to be filled in.
std::string Output(const std::string& state, const std::string& checkpoint) {
  return "pg_control version number:            1300\n"
         "Catalog version number:               202209061\n"
         "Database system identifier:           7711922714911815458\n"
         "Database cluster state:               " +
         state +
         "\n"
         "pg_control last modified:             Wed Nov 25 01:59:01 2026\n"
         "Latest checkpoint location:           " +
         checkpoint +
         "\n"
         "Latest checkpoint's REDO location:    0/1516770\n"
         "Latest checkpoint's REDO WAL file:    000000010000000000000001\n"
         "Latest checkpoint's TimeLineID:       1\n"
         "Latest checkpoint's PrevTimeLineID:   1\n"
         "Latest checkpoint's full_page_writes: on\n"
         "Latest checkpoint's NextXID:          0:725\n"
         "Latest checkpoint's oldestCommitTsXid:0\n"
         "Latest checkpoint's newestCommitTsXid:0\n"
         "Time of latest checkpoint:            Wed Nov 25 01:59:01 2026\n"
         "Fake LSN counter for unlogged rels:   0/3E8\n"
         "Minimum recovery ending location:     0/0\n"
         "Min recovery ending loc's timeline:   0\n"
         "Backup start location:                0/0\n"
         "Backup end location:                  0/0\n"
         "End-of-backup record required:        no\n"
         "wal_level setting:                    replica\n"
         "wal_log_hints setting:                on\n"
         "max_connections setting:              100\n"
         "Bytes per WAL segment:                16777216\n"
         "Data page checksum version:           0\n"
         "Mock authentication nonce:            "
         "3e0d8168f13b41ed913b7bef78564432e63fc1c83bc9d6d2c47a52c39c5574da\n";
}

}  // namespace

TEST_CASE("pg_controldata: the fields pg_rewind and the switchover read") {
  PgControl c = ParsePgControl(Output("shut down", "0/1516770"));
  CHECK(c.state == "shut down");
  CHECK(c.checkpoint == "0/1516770");  // not the REDO location's line
  CHECK(c.wal_log_hints);
  CHECK_FALSE(c.checksums);
  PgControl empty = ParsePgControl("");
  CHECK(empty.state.empty());
  CHECK(empty.checkpoint.empty());
  CHECK_FALSE(empty.wal_log_hints);
}

TEST_CASE("pg_controldata: an LSN is two hexadecimal halves") {
  CHECK(*ParseLsn("0/1516770") == 0x1516770);
  CHECK(*ParseLsn("16/B374D848") == 0x16B374D848);
  CHECK(*ParseLsn("ffffffff/FFFFFFFF") == UINT64_MAX);
  CHECK(*ParseLsn("0/0") == 0);
  for (const char* bad : {"", "/", "0/", "/0", "1516770", "0x1/0", "1/2/3", "G/0", "-1/0", "+1/0",
                          " 0/1", "0/1 ", "100000000/0"}) {
    INFO(bad);
    auto r = ParseLsn(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message() == "\"" + std::string(bad) + "\" is not an LSN (like 16/B374D848)");
  }
}

TEST_CASE("pg_controldata: only a clean shutdown gives the final WAL position") {
  CHECK(*ShutdownCheckpointLsn(Output("shut down", "0/1516770")) == 0x1516770);
  CHECK(*ShutdownCheckpointLsn(Output("shut down", "2A/C0FFEE28")) == 0x2AC0FFEE28);
  // Crashed (or still running): the control file is behind the WAL.
  CHECK(ShutdownCheckpointLsn(Output("in production", "0/1500718")).status().message() ==
        "the database cluster state is \"in production\", not \"shut down\": only a clean "
        "shutdown of a primary leaves its final WAL position in the control file");
  // A standby's restartpoint says nothing of a primary's last write.
  CHECK(ShutdownCheckpointLsn(Output("shut down in recovery", "0/1516770"))
            .status()
            .message()
            .find("\"shut down in recovery\", not \"shut down\"") != std::string::npos);
  CHECK(ShutdownCheckpointLsn(Output("shut down", "garbage")).status().message() ==
        "Latest checkpoint location: \"garbage\" is not an LSN (like 16/B374D848)");
  CHECK(ShutdownCheckpointLsn("pg_controldata: could not open file").status().message() ==
        "pg_controldata shows no \"Database cluster state\"");
  CHECK(ShutdownCheckpointLsn("Database cluster state:               shut down\n")
            .status()
            .message() == "pg_controldata shows no \"Latest checkpoint location\"");
  // Windows line ends and trailing blanks do not change the state.
  std::string crlf = Output("shut down", "0/1516770");
  for (size_t at = crlf.find('\n'); at != std::string::npos; at = crlf.find('\n', at + 2))
    crlf.replace(at, 1, "\r\n");
  CHECK(*ShutdownCheckpointLsn(crlf) == 0x1516770);
}
