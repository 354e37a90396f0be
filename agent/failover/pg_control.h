// What the failover reads of pg_controldata's output: the facts pg_rewind needs, and the
// final WAL position of a server that a switchover's `fence = stop` shut down.  Pure
// functions over the text of `LC_ALL=C pg_controldata DATA` (its labels are translated
// otherwise).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "agent/status.h"

namespace kw {

struct PgControl {
  std::string state;           // Database cluster state: "shut down", "in production", ...
  std::string checkpoint;      // Latest checkpoint location, as printed ("0/1516770")
  bool wal_log_hints = false;  // wal_log_hints setting: on
  bool checksums = false;      // Data page checksum version: not 0
};

// Reads "label: value" lines; other lines are skipped, a missing label leaves its field
// empty (or false).
PgControl ParsePgControl(const std::string& text);

// An LSN as PostgreSQL prints it ("16/B374D848": two hexadecimal numbers of 1 to 8
// digits) as a byte position; an error for anything else.
Result<uint64_t> ParseLsn(std::string_view text);

// The final WAL position of a primary that shut down cleanly: its "Latest checkpoint
// location", when "Database cluster state" is "shut down".  A clean shutdown writes the
// shutdown checkpoint last, after every commit, and its walsenders send everything up
// to it before they exit, so a replica whose received WAL reaches it has every
// acknowledged write.  Any other state (crashed: "in production"; a standby: "shut down
// in recovery") or an unreadable position is an error saying so.
Result<uint64_t> ShutdownCheckpointLsn(const std::string& text);

}  // namespace kw
