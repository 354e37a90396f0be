// What the built-in stop and rejoin (pg_actuator.h) must know about the local
// PostgreSQL, as the server reported it, kept in <state_dir>/postgres.layout so that an
// agent started while PostgreSQL is down can still stop or rewind it.
//
// Written atomically like failover.state (state_file.h) and checksummed.  A missing file
// is nothing known yet; a damaged or unreadable one is an error naming the file, which
// the actuator logs and ignores (the layout is learned again when the server answers).
#pragma once

#include <optional>
#include <string>

#include "agent/status.h"

namespace kw {

struct PgLayout {
  std::string data_directory;  // current_setting('data_directory')
  std::string config_file;     // current_setting('config_file')
  std::string major;           // server_version_num / 10000
  bool operator==(const PgLayout&) const = default;
};

// <dir>/postgres.layout
std::string PgLayoutPath(const std::string& dir);
// nullopt when there is no file.
Result<std::optional<PgLayout>> LoadPgLayout(const std::string& dir);
// An error (nothing written) when a value holds a line break.
Status SavePgLayout(const std::string& dir, const PgLayout& layout);

}  // namespace kw
