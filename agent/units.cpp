#include "agent/units.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace kw {
namespace {

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// Splits "12.5ms" into the number and the unit; the number must be non-negative.
bool SplitNumber(std::string_view text, double* number, std::string_view* unit) {
  text = Trim(text);
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  if (i == 0) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, *number);
  if (ec != std::errc() || ptr != text.data() + i || !std::isfinite(*number)) return false;
  *unit = Trim(text.substr(i));
  return true;
}

}  // namespace

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

Result<Duration> ParseDuration(std::string_view text) {
  double n = 0;
  std::string_view unit;
  auto bad = [&] {
    return Status::Error("'" + std::string(text) + "' is not a duration (e.g. 500ms, 2s, 1m)");
  };
  if (!SplitNumber(text, &n, &unit)) return bad();
  double ms;
  if (unit == "ms")
    ms = n;
  else if (unit == "s")
    ms = n * 1000;
  else if (unit == "m" || unit == "min")
    ms = n * 60000;
  else if (unit == "h")
    ms = n * 3600000;
  else
    return bad();
  if (ms > 7 * 24 * 3600e3) return Status::Error("'" + std::string(text) + "' is too long");
  return Duration(std::chrono::microseconds(std::llround(ms * 1000)));
}

Result<uint64_t> ParseSize(std::string_view text) {
  double n = 0;
  std::string_view unit;
  auto bad = [&] {
    return Status::Error("'" + std::string(text) + "' is not a size (e.g. 8192, 512kB, 16MB, 1GB)");
  };
  if (!SplitNumber(text, &n, &unit)) return bad();
  double scale;
  if (unit.empty() || EqualsNoCase(unit, "B"))
    scale = 1;
  else if (EqualsNoCase(unit, "kB") || EqualsNoCase(unit, "k"))
    scale = 1024.0;
  else if (EqualsNoCase(unit, "MB") || EqualsNoCase(unit, "M"))
    scale = 1024.0 * 1024;
  else if (EqualsNoCase(unit, "GB") || EqualsNoCase(unit, "G"))
    scale = 1024.0 * 1024 * 1024;
  else if (EqualsNoCase(unit, "TB") || EqualsNoCase(unit, "T"))
    scale = 1024.0 * 1024 * 1024 * 1024;
  else
    return bad();
  double bytes = n * scale;
  if (bytes >= 9.0e18) return Status::Error("'" + std::string(text) + "' is too large");
  return static_cast<uint64_t>(std::llround(bytes));
}

Result<bool> ParseBool(std::string_view text) {
  text = Trim(text);
  for (auto t : {"yes", "true", "on", "1"})
    if (EqualsNoCase(text, t)) return true;
  for (auto f : {"no", "false", "off", "0"})
    if (EqualsNoCase(text, f)) return false;
  return Status::Error("'" + std::string(text) + "' is not a boolean (yes/no, true/false, on/off)");
}

Result<long long> ParseInt(std::string_view text, long long min, long long max) {
  text = Trim(text);
  long long v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size())
    return Status::Error("'" + std::string(text) + "' is not a whole number");
  if (v < min || v > max)
    return Status::Error(std::to_string(v) + " is out of range [" + std::to_string(min) + ", " +
                         std::to_string(max) + "]");
  return v;
}

std::string HostPort::ToString() const {
  std::string p = std::to_string(port);
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + p;
  return host + ":" + p;
}

Result<HostPort> ParseHostPort(std::string_view text, uint16_t default_port) {
  text = Trim(text);
  auto bad = [&](std::string why) {
    return Status::Error("'" + std::string(text) + "' is not an address: " + why);
  };
  if (text.empty()) return bad("empty");
  HostPort hp;
  std::string_view port_text;
  if (text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return bad("missing ']'");
    hp.host = std::string(text.substr(1, close - 1));
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad("expected ':' after ']'");
      port_text = rest.substr(1);
      if (port_text.empty()) return bad("missing port");
    }
  } else {
    size_t colon = text.rfind(':');
    if (colon != std::string_view::npos && text.find(':') != colon)
      return bad("IPv6 addresses need brackets, e.g. [::1]:9201");
    hp.host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = text.substr(colon + 1);
      if (port_text.empty()) return bad("missing port");
    }
  }
  if (hp.host.empty()) return bad("missing host");
  for (char c : hp.host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
          c == '_' || c == '%'))
      return bad(std::string("invalid character '") + c + "' in host");
  if (port_text.empty()) {
    if (default_port == 0) return bad("missing port (host:port)");
    hp.port = default_port;
  } else {
    auto port = ParseInt(port_text, 1, 65535);
    if (!port.ok()) return bad("port " + port.status().message());
    hp.port = static_cast<uint16_t>(*port);
  }
  return hp;
}

std::string FormatDuration(Duration d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  char buf[64];
  if (us % 1000000 == 0)
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(us / 1000000));
  else if (us >= 1000000)
    std::snprintf(buf, sizeof buf, "%.3gs", us / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.3gms", us / 1e3);
  return buf;
}

std::string FormatSize(uint64_t bytes) {
  static const char* kUnits[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0 || v >= 10)
    std::snprintf(buf, sizeof buf, "%.0f %s", v, kUnits[u]);
  else
    std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  return buf;
}

}  // namespace kw
