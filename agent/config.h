// The keepwatch.ini file: sections [agent], [check.NAME], [cluster], [member.NAME].
//
// Loading is two steps so that every module validates its own keys and every error is
// reported, not just the first:
//   1. ReadIni() reads the file into RawSections (values with line numbers), reporting
//      syntax errors, over-long lines and duplicate keys.
//   2. LoadConfig() interprets [agent], [cluster] and [member.*] and keeps each
//      [check.NAME] as a RawSection; the check registry later hands that section to the
//      check type's factory through a KeyReader (checks/registry.h).
// Each error is one "FILE:LINE: message" line in Diagnostics.  A KeyReader reports a key
// it was never asked for as "unknown key", so a typo can never be silently ignored.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/clock.h"
#include "agent/units.h"

namespace kw {

// Collects "FILE:LINE: message" errors and warnings.  Not thread-safe.
class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}
  void Error(int line, const std::string& message);
  void Warning(int line, const std::string& message);
  bool ok() const { return errors_ == 0; }
  int errors() const { return errors_; }
  // Errors and warnings ordered by line, each "FILE:LINE: message" (warnings say so).
  std::vector<std::string> messages() const;
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<std::pair<int, std::string>> messages_;  // (line, text) in the order found
  int errors_ = 0;
};

struct Setting {
  std::string value;
  int line = 0;
};

struct RawSection {
  std::string name;  // "agent", "check.postgres", ...
  int line = 0;      // line of the [header]
  std::map<std::string, Setting> keys;
  bool ignored = false;  // a duplicate or badly named section: reported, then skipped
};

// Reads the INI file.  Returns sections in file order; errors go to diag.
std::vector<RawSection> ReadIni(const std::string& path, Diagnostics& diag);
// The same from text (for tests); `name` is used in messages.
std::vector<RawSection> ReadIniText(const std::string& text, Diagnostics& diag);

// Typed access to one section's keys.  Each getter marks the key used; a bad value is
// reported at the key's line and the default returned.  Finish() reports unused keys.
class KeyReader {
 public:
  KeyReader(const RawSection& section, Diagnostics& diag) : section_(section), diag_(diag) {}
  ~KeyReader() = default;

  bool Has(const std::string& key) const { return section_.keys.count(key) != 0; }
  std::string String(const std::string& key, const std::string& def = "");
  // Reports "missing required key" at the section header when absent.
  std::string RequiredString(const std::string& key);
  Duration Dur(const std::string& key, Duration def);
  uint64_t Size(const std::string& key, uint64_t def);
  bool Bool(const std::string& key, bool def);
  long long Int(const std::string& key, long long def, long long min, long long max);
  HostPort Address(const std::string& key, const HostPort& def, uint16_t default_port);
  HostPort RequiredAddress(const std::string& key, uint16_t default_port);
  // One of `choices`; anything else is an error listing them.
  std::string Choice(const std::string& key, const std::string& def,
                     const std::vector<std::string>& choices);
  // Whitespace- or comma-separated words.
  std::vector<std::string> List(const std::string& key);

  // Errors about a key or the section, for checks that validate combinations.
  void Error(const std::string& key, const std::string& message);
  void SectionError(const std::string& message);
  void Warning(const std::string& key, const std::string& message);
  int LineOf(const std::string& key) const;
  // Marks keys as read elsewhere (the common [check.NAME] keys), so Finish() accepts them.
  void Skip(const std::vector<std::string>& keys);
  const std::string& section() const { return section_.name; }
  // Reports every key of the section that no getter asked for.
  void Finish();

 private:
  const Setting* Get(const std::string& key);
  const RawSection& section_;
  Diagnostics& diag_;
  std::map<std::string, bool> used_;
};

enum class LogLevel { kDebug, kInfo, kWarning, kError };

struct AgentConfig {
  std::string node;                  // member name; default: hostname
  HostPort listen{"0.0.0.0", 9201};  // HTTP API
  std::string state_dir = "/var/lib/keepwatch";
  LogLevel log_level = LogLevel::kInfo;
  std::string root = "/";     // where /proc and /sys are read (tests: fixtures)
  int max_connections = 256;  // HTTP connection limit
  int max_connections_per_ip = 64;
  Duration connection_timeout = seconds(5);  // idle/slow client timeout
  std::string track_dir;                     // keepalived track files; empty = none
  std::string admin_token_file;              // operator commands' token; empty = commands disabled
  bool admin_remote = false;                 // take operator commands from other hosts too
};

struct CheckConfig {
  std::string name;  // NAME of [check.NAME]
  std::string type;
  Duration interval = seconds(2);
  Duration timeout = seconds(1);
  int rise = 2;  // HAProxy's defaults
  int fall = 3;
  RawSection section;  // the type's own keys, read by its factory
};

struct MemberConfig {
  std::string name;
  int line = 0;
  HostPort address;  // gossip address
  HostPort http;     // API address; default host:9201
  HostPort pg;       // its PostgreSQL as the others reach it (rejoin source); default host:5432
  bool voter = false;
  bool postgres = false;
  int priority = 0;  // 0 = never promote
};

enum class FailoverMode { kAuto, kManual, kOff };
enum class FenceMode { kNone, kReadonly, kStop, kCommand };

struct ClusterConfig {
  bool present = false;  // a [cluster] section exists
  int line = 0;
  std::string name;
  HostPort bind{"0.0.0.0", 7950};
  std::string key_file;
  FailoverMode failover = FailoverMode::kAuto;
  // Gossip (agent/gossip/): memberlist's LAN defaults.
  std::string secondary_key_file;  // also accepted for decryption (key rotation)
  Duration probe_interval = seconds(1);
  Duration probe_timeout = milliseconds(500);
  int indirect_checks = 3;
  int suspicion_mult = 4;
  Duration gossip_interval = milliseconds(200);
  Duration push_pull_interval = seconds(30);
  Duration reconnect_interval = seconds(10);
  // Failover (agent/failover/PROTOCOL.md).
  Duration lease = seconds(5);
  Duration drift_margin = milliseconds(500);
  Duration election_timeout = seconds(2);
  std::string promote_command;  // empty: SELECT pg_promote(true) (PostgreSQL 12+)
  FenceMode fence = FenceMode::kReadonly;
  std::string fence_command;  // with fence = command
  bool auto_rejoin = false;
  std::string rejoin_command;   // empty: the built-in pg_rewind
  std::string rejoin_conninfo;  // pg_rewind's source role, without host/port; empty: the check's
  std::string pg_bindir;        // pg_ctl, pg_rewind; empty: /usr/lib/postgresql/MAJOR/bin
};

struct Config {
  std::string path;
  AgentConfig agent;
  std::vector<CheckConfig> checks;
  ClusterConfig cluster;
  std::vector<MemberConfig> members;
};

// Reads and validates everything but the checks' own keys (see checks/registry.h).
Config LoadConfig(const std::string& path, Diagnostics& diag);
Config LoadConfigText(const std::string& text, Diagnostics& diag);

const char* LogLevelName(LogLevel level);

}  // namespace kw
