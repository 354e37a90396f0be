// Parsing and printing of the value types the configuration and the API share:
// durations ("500ms", "2s", "1m"), sizes ("16MB", "1GB", bytes), booleans and
// host:port addresses.  Pure functions; every parse error says what was expected.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "agent/clock.h"
#include "agent/status.h"

namespace kw {

// "250ms", "2s", "1m", "1.5s"; a bare number is rejected (the unit is never guessed).
Result<Duration> ParseDuration(std::string_view text);
// "16MB", "1GB", "512kB", "8192" (bytes), "16 MB"; units are powers of 1024 as in
// PostgreSQL's memory units.  Case-insensitive unit, optional "B" suffix ("16M").
Result<uint64_t> ParseSize(std::string_view text);
// yes/no, true/false, on/off, 1/0 (case-insensitive).
Result<bool> ParseBool(std::string_view text);
// Whole number within [min, max].
Result<long long> ParseInt(std::string_view text, long long min, long long max);

struct HostPort {
  std::string host;  // IPv4/IPv6 literal or a name; no brackets
  uint16_t port = 0;
  std::string ToString() const;  // "[::1]:9201" for IPv6
  bool operator==(const HostPort&) const = default;
};
// "127.0.0.1:9201", "[::1]:9201", "host:80", or a bare host when default_port != 0.
Result<HostPort> ParseHostPort(std::string_view text, uint16_t default_port);

std::string FormatDuration(Duration d);  // "1.5s", "250ms"
std::string FormatSize(uint64_t bytes);  // "34 MB", "512 kB", "12 B"

std::string_view Trim(std::string_view s);

}  // namespace kw
