#include "agent/failover/pg_control.h"

#include <charconv>
#include <sstream>

namespace kw {
namespace {

// One half of an LSN: 1 to 8 hexadecimal digits, nothing else.
bool ParseHalf(std::string_view text, uint32_t& out) {
  if (text.empty() || text.size() > 8) return false;
  auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), out, 16);
  return err == std::errc() && end == text.data() + text.size();
}

}  // namespace

PgControl ParsePgControl(const std::string& text) {
  PgControl c;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    size_t v = line.find_first_not_of(' ', colon + 1);
    std::string value = v == std::string::npos ? "" : line.substr(v);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\r')) value.pop_back();
    if (key == "wal_log_hints setting") c.wal_log_hints = value == "on";
    if (key == "Data page checksum version") c.checksums = value != "0";
    if (key == "Database cluster state") c.state = value;
    if (key == "Latest checkpoint location") c.checkpoint = value;
  }
  return c;
}

Result<uint64_t> ParseLsn(std::string_view text) {
  size_t slash = text.find('/');
  uint32_t hi = 0, lo = 0;
  if (slash == std::string_view::npos || !ParseHalf(text.substr(0, slash), hi) ||
      !ParseHalf(text.substr(slash + 1), lo))
    return Status::Error("\"" + std::string(text) + "\" is not an LSN (like 16/B374D848)");
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

Result<uint64_t> ShutdownCheckpointLsn(const std::string& text) {
  PgControl c = ParsePgControl(text);
  if (c.state.empty()) return Status::Error("pg_controldata shows no \"Database cluster state\"");
  if (c.state != "shut down")
    return Status::Error("the database cluster state is \"" + c.state +
                         "\", not \"shut down\": only a clean shutdown of a primary leaves its "
                         "final WAL position in the control file");
  if (c.checkpoint.empty())
    return Status::Error("pg_controldata shows no \"Latest checkpoint location\"");
  auto lsn = ParseLsn(c.checkpoint);
  if (!lsn.ok()) return Status::Error("Latest checkpoint location: " + lsn.status().message());
  return *lsn;
}

}  // namespace kw
