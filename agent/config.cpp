#include "agent/config.h"

#include <ini.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

namespace kw {

void Diagnostics::Error(int line, const std::string& message) {
  messages_.emplace_back(line, file_ + ":" + std::to_string(line) + ": " + message);
  ++errors_;
}

void Diagnostics::Warning(int line, const std::string& message) {
  messages_.emplace_back(line, file_ + ":" + std::to_string(line) + ": warning: " + message);
}

std::vector<std::string> Diagnostics::messages() const {
  auto sorted = messages_;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (auto& m : sorted) out.push_back(std::move(m.second));
  return out;
}

namespace {

// inih (Debian builds it with INI_MAX_LINE 200 and no line numbers in the handler) reads
// through this reader, which numbers lines, records section headers (inih does not tell
// the handler about sections without keys), and replaces lines inih would mangle — too
// long (inih silently truncates), or not INI syntax — by blank lines after reporting
// them, so that every error in the file is reported with its line.
struct IniState {
  std::istringstream in;
  Diagnostics* diag;
  std::vector<RawSection>* sections;
  int line = 0;
  std::string scratch;
};

bool ValidSectionName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

// Returns the line with a trailing comment removed the way inih does (';' or '#' at the
// start, ';' after whitespace elsewhere).
std::string_view StripComment(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i] == ';' && (i == 0 || std::isspace(static_cast<unsigned char>(s[i - 1]))))
      return Trim(s.substr(0, i));
  return Trim(s);
}

void ReadHeader(IniState& st, std::string_view body) {
  std::string name(Trim(body));
  if (!ValidSectionName(name)) {
    st.diag->Error(st.line, "invalid section name [" + name + "]");
    st.sections->push_back(RawSection{name, st.line, {}, true});  // its keys go nowhere
    return;
  }
  bool duplicate = false;
  for (const RawSection& s : *st.sections) {
    if (s.name == name && !s.ignored) {
      duplicate = true;
      bool is_check = name.rfind("check.", 0) == 0;
      st.diag->Error(st.line, std::string(is_check ? "duplicate check name '" + name.substr(6) + "'"
                                                   : "duplicate section [" + name + "]") +
                                  " (first at line " + std::to_string(s.line) + ")");
      break;
    }
  }
  st.sections->push_back(RawSection{name, st.line, {}, duplicate});
}

char* IniReader(char* str, int num, void* stream) {
  auto& st = *static_cast<IniState*>(stream);
  std::string& line = st.scratch;
  if (!std::getline(st.in, line)) return nullptr;
  ++st.line;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  std::string_view t = Trim(line);
  bool pass = true;
  if (static_cast<int>(line.size()) > num - 2) {
    st.diag->Error(st.line, "line is " + std::to_string(line.size()) +
                                " characters long; at most " + std::to_string(num - 2) +
                                " are allowed");
    pass = false;
  } else if (t.empty() || t.front() == ';' || t.front() == '#') {
    pass = true;
  } else if (std::isspace(static_cast<unsigned char>(line.front()))) {
    st.diag->Error(st.line, "line starts with whitespace (continuation lines are not supported)");
    pass = false;
  } else if (t.front() == '[') {
    std::string_view body = StripComment(t);
    if (body.size() < 2 || body.back() != ']') {
      st.diag->Error(st.line, "section header is missing ']'");
    } else {
      ReadHeader(st, body.substr(1, body.size() - 2));
    }
    pass = false;  // headers are recorded here; inih need not see them
  } else if (t.find('=') == std::string_view::npos) {
    st.diag->Error(st.line, "expected 'key = value' or '[section]'");
    pass = false;
  } else if (Trim(t.substr(0, t.find('='))).empty()) {
    st.diag->Error(st.line, "missing key name before '='");
    pass = false;
  }
  if (!pass) line.clear();
  line += '\n';
  std::copy(line.begin(), line.end(), str);
  str[line.size()] = '\0';
  return str;
}

int IniHandler(void* user, const char* /*section*/, const char* name, const char* value) {
  auto& st = *static_cast<IniState*>(user);
  if (st.sections->empty()) {
    st.diag->Error(st.line, std::string("key '") + name + "' is outside of any [section]");
    return 1;
  }
  RawSection& sec = st.sections->back();
  auto [it, inserted] = sec.keys.emplace(name, Setting{value, st.line});
  if (!inserted) {
    st.diag->Error(st.line, std::string("duplicate key '") + name + "' (first at line " +
                                std::to_string(it->second.line) + ")");
  }
  return 1;
}

}  // namespace

std::vector<RawSection> ReadIniText(const std::string& text, Diagnostics& diag) {
  std::vector<RawSection> sections;
  IniState st{std::istringstream(text), &diag, &sections, 0, {}};
  // The handler never fails and the reader pre-validates, so inih's own return value
  // adds nothing; every problem is already in diag.
  ini_parse_stream(IniReader, &st, IniHandler, &st);
  return sections;
}

std::vector<RawSection> ReadIni(const std::string& path, Diagnostics& diag) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    diag.Error(0, "cannot open configuration file");
    return {};
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return ReadIniText(ss.str(), diag);
}

// --- KeyReader ---------------------------------------------------------------------

const Setting* KeyReader::Get(const std::string& key) {
  auto it = section_.keys.find(key);
  if (it == section_.keys.end()) return nullptr;
  used_[key] = true;
  return &it->second;
}

int KeyReader::LineOf(const std::string& key) const {
  auto it = section_.keys.find(key);
  return it == section_.keys.end() ? section_.line : it->second.line;
}

void KeyReader::Error(const std::string& key, const std::string& message) {
  diag_.Error(LineOf(key), key + ": " + message);
}

void KeyReader::Warning(const std::string& key, const std::string& message) {
  diag_.Warning(LineOf(key), key + ": " + message);
}

void KeyReader::SectionError(const std::string& message) {
  diag_.Error(section_.line, "[" + section_.name + "]: " + message);
}

std::string KeyReader::String(const std::string& key, const std::string& def) {
  const Setting* s = Get(key);
  return s ? s->value : def;
}

std::string KeyReader::RequiredString(const std::string& key) {
  const Setting* s = Get(key);
  if (!s || s->value.empty()) {
    if (s)
      Error(key, "must not be empty");
    else
      SectionError("missing required key '" + key + "'");
    return "";
  }
  return s->value;
}

Duration KeyReader::Dur(const std::string& key, Duration def) {
  const Setting* s = Get(key);
  if (!s) return def;
  auto d = ParseDuration(s->value);
  if (!d.ok()) {
    Error(key, d.status().message());
    return def;
  }
  if (*d <= Duration::zero()) {
    Error(key, "must be greater than zero");
    return def;
  }
  return *d;
}

uint64_t KeyReader::Size(const std::string& key, uint64_t def) {
  const Setting* s = Get(key);
  if (!s) return def;
  auto v = ParseSize(s->value);
  if (!v.ok()) {
    Error(key, v.status().message());
    return def;
  }
  return *v;
}

bool KeyReader::Bool(const std::string& key, bool def) {
  const Setting* s = Get(key);
  if (!s) return def;
  auto v = ParseBool(s->value);
  if (!v.ok()) {
    Error(key, v.status().message());
    return def;
  }
  return *v;
}

long long KeyReader::Int(const std::string& key, long long def, long long min, long long max) {
  const Setting* s = Get(key);
  if (!s) return def;
  auto v = ParseInt(s->value, min, max);
  if (!v.ok()) {
    Error(key, v.status().message());
    return def;
  }
  return *v;
}

HostPort KeyReader::Address(const std::string& key, const HostPort& def, uint16_t default_port) {
  const Setting* s = Get(key);
  if (!s) return def;
  auto v = ParseHostPort(s->value, default_port);
  if (!v.ok()) {
    Error(key, v.status().message());
    return def;
  }
  return *v;
}

HostPort KeyReader::RequiredAddress(const std::string& key, uint16_t default_port) {
  if (!Has(key)) {
    SectionError("missing required key '" + key + "'");
    return {};
  }
  return Address(key, {}, default_port);
}

std::string KeyReader::Choice(const std::string& key, const std::string& def,
                              const std::vector<std::string>& choices) {
  const Setting* s = Get(key);
  if (!s) return def;
  std::string v(Trim(s->value));
  if (std::find(choices.begin(), choices.end(), v) != choices.end()) return v;
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  Error(key, "'" + v + "' is not one of: " + list);
  return def;
}

std::vector<std::string> KeyReader::List(const std::string& key) {
  std::vector<std::string> out;
  const Setting* s = Get(key);
  if (!s) return out;
  std::string word;
  for (char c : s->value + " ") {
    if (std::isspace(static_cast<unsigned char>(c)) || c == ',') {
      if (!word.empty()) out.push_back(word);
      word.clear();
    } else {
      word += c;
    }
  }
  return out;
}

void KeyReader::Skip(const std::vector<std::string>& keys) {
  for (const auto& k : keys) used_[k] = true;
}

void KeyReader::Finish() {
  for (const auto& [key, setting] : section_.keys)
    if (!used_.count(key))
      diag_.Error(setting.line, "unknown key '" + key + "' in [" + section_.name + "]");
}

// --- Config ------------------------------------------------------------------------

const char* LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

namespace {

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  std::string h(buf);
  return h.substr(0, h.find('.'));
}

void ReadAgent(const RawSection& sec, AgentConfig& a, Diagnostics& diag) {
  KeyReader r(sec, diag);
  a.node = r.String("node", a.node);
  a.listen = r.Address("listen", a.listen, 9201);
  a.state_dir = r.String("state_dir", a.state_dir);
  std::string level = r.Choice("log_level", "info", {"debug", "info", "warning", "error"});
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning, LogLevel::kError})
    if (level == LogLevelName(l)) a.log_level = l;
  a.root = r.String("root", a.root);
  a.max_connections = static_cast<int>(r.Int("max_connections", a.max_connections, 4, 100000));
  a.max_connections_per_ip =
      static_cast<int>(r.Int("max_connections_per_ip", a.max_connections_per_ip, 1, 100000));
  a.connection_timeout = r.Dur("connection_timeout", a.connection_timeout);
  a.track_dir = r.String("track_dir", a.track_dir);
  a.admin_token_file = r.String("admin_token_file", a.admin_token_file);
  a.admin_remote = r.Bool("admin_remote", a.admin_remote);
  r.Finish();
}

bool ValidName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

void ReadCheck(const RawSection& sec, Config& cfg, Diagnostics& diag) {
  CheckConfig c;
  c.name = sec.name.substr(6);
  if (!ValidName(c.name)) {
    diag.Error(sec.line,
               "check name '" + c.name + "' may only contain letters, digits, '_' and '-'");
    return;
  }
  KeyReader r(sec, diag);  // the common keys only; the type's factory reads the rest
  c.type = r.RequiredString("type");
  c.interval = r.Dur("interval", c.interval);
  c.timeout = r.Dur("timeout", c.timeout);
  c.rise = static_cast<int>(r.Int("rise", c.rise, 1, 100));
  c.fall = static_cast<int>(r.Int("fall", c.fall, 1, 100));
  if (c.interval < milliseconds(100)) r.Error("interval", "must be at least 100ms");
  c.section = sec;
  cfg.checks.push_back(std::move(c));
}

// The gossip timings of [cluster] (agent/gossip/swim.h says what each one does).
void ReadGossipKeys(KeyReader& r, ClusterConfig& c) {
  c.secondary_key_file = r.String("secondary_key_file", "");
  c.probe_interval = r.Dur("probe_interval", c.probe_interval);
  c.probe_timeout = r.Dur("probe_timeout", c.probe_timeout);
  c.indirect_checks = static_cast<int>(r.Int("indirect_checks", c.indirect_checks, 0, 16));
  c.suspicion_mult = static_cast<int>(r.Int("suspicion_mult", c.suspicion_mult, 1, 100));
  c.gossip_interval = r.Dur("gossip_interval", c.gossip_interval);
  c.push_pull_interval = r.Dur("push_pull_interval", c.push_pull_interval);
  c.reconnect_interval = r.Dur("reconnect_interval", c.reconnect_interval);
  if (c.probe_interval < milliseconds(100)) r.Error("probe_interval", "must be at least 100ms");
  if (c.probe_timeout < milliseconds(10)) r.Error("probe_timeout", "must be at least 10ms");
  if (c.probe_timeout >= c.probe_interval)
    r.Error("probe_timeout",
            "must be shorter than probe_interval (" + FormatDuration(c.probe_interval) + ")");
  if (c.gossip_interval < milliseconds(10)) r.Error("gossip_interval", "must be at least 10ms");
  if (c.push_pull_interval < seconds(1)) r.Error("push_pull_interval", "must be at least 1s");
  if (c.reconnect_interval < seconds(1)) r.Error("reconnect_interval", "must be at least 1s");
}

// rejoin_conninfo: libpq keywords without host, hostaddr and port, which the new
// primary's pg_address supplies at each rejoin.  Parsing it loads libpq, so it is checked
// only where it is used (RunsPostgres), not on the load balancers that share [cluster].
void CheckRejoinConninfo(KeyReader& r, const std::string& conninfo) {
  if (conninfo.empty()) return;
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (!opts) {
    std::string why = err ? err : "out of memory";
    PQfreemem(err);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    r.Error("rejoin_conninfo", "is not a libpq connection string: " + why);
    return;
  }
  for (PQconninfoOption* o = opts; o->keyword; ++o) {
    std::string k = o->keyword;
    if (o->val && *o->val && (k == "host" || k == "hostaddr" || k == "port"))
      r.Error("rejoin_conninfo",
              "must not set " + k + ": the new primary's [member] pg_address gives it");
  }
  PQconninfoFree(opts);
}

// The failover keys of [cluster] (agent/failover/PROTOCOL.md says what each one does).
void ReadFailoverKeys(KeyReader& r, ClusterConfig& c) {
  c.lease = r.Dur("lease", c.lease);
  c.drift_margin = r.Dur("drift_margin", c.drift_margin);
  c.election_timeout = r.Dur("election_timeout", c.election_timeout);
  c.promote_command = r.String("promote_command", "");
  std::string fence = r.Choice("fence", "readonly", {"none", "readonly", "stop", "command"});
  c.fence = fence == "none"      ? FenceMode::kNone
            : fence == "stop"    ? FenceMode::kStop
            : fence == "command" ? FenceMode::kCommand
                                 : FenceMode::kReadonly;
  c.fence_command = r.String("fence_command", "");
  c.auto_rejoin = r.Bool("auto_rejoin", false);
  c.rejoin_command = r.String("rejoin_command", "");
  c.rejoin_conninfo = r.String("rejoin_conninfo", "");  // checked in Interpret()
  c.pg_bindir = r.String("pg_bindir", "");
  if (!c.pg_bindir.empty() && c.pg_bindir[0] != '/')
    r.Error("pg_bindir", "must be an absolute path");
  if (c.fence == FenceMode::kCommand && c.fence_command.empty())
    r.Error("fence", "'command' needs a fence_command");
  if (c.fence != FenceMode::kCommand && !c.fence_command.empty())
    r.Error("fence_command", "is only used with fence = command");
  if (c.failover == FailoverMode::kOff) return;
  // A lease shorter than a few probe intervals expires on one lost renewal; a drift
  // margin as long as the lease means the voters wait two leases.
  if (c.lease < 3 * c.probe_interval)
    r.Error("lease", "must be at least 3 probe intervals (" + FormatDuration(3 * c.probe_interval) +
                         "): one lost renewal must not end it");
  if (c.drift_margin >= c.lease) r.Error("drift_margin", "must be shorter than the lease");
  if (c.drift_margin * 50 < c.lease)
    r.Error("drift_margin", "must be at least 2% of the lease (" + FormatDuration(c.lease / 50) +
                                "): clocks run at different rates");
}

void ReadCluster(const RawSection& sec, ClusterConfig& c, Diagnostics& diag) {
  KeyReader r(sec, diag);
  c.present = true;
  c.line = sec.line;
  c.name = r.RequiredString("name");
  c.bind = r.Address("bind", c.bind, 7950);
  c.key_file = r.RequiredString("key_file");
  std::string mode = r.Choice("failover", "auto", {"auto", "manual", "off"});
  c.failover = mode == "manual" ? FailoverMode::kManual
               : mode == "off"  ? FailoverMode::kOff
                                : FailoverMode::kAuto;
  ReadGossipKeys(r, c);
  ReadFailoverKeys(r, c);
  r.Finish();
}

void ReadMember(const RawSection& sec, Config& cfg, Diagnostics& diag) {
  MemberConfig m;
  m.name = sec.name.substr(7);
  m.line = sec.line;
  if (!ValidName(m.name)) {
    diag.Error(sec.line,
               "member name '" + m.name + "' may only contain letters, digits, '_' and '-'");
    return;
  }
  KeyReader r(sec, diag);
  m.address = r.RequiredAddress("address", cfg.cluster.bind.port);
  m.http = r.Address("http", HostPort{m.address.host, 9201}, 9201);
  m.pg = r.Address("pg_address", HostPort{m.address.host, 5432}, 5432);
  m.voter = r.Bool("voter", false);
  m.postgres = r.Bool("postgres", false);
  m.priority = static_cast<int>(r.Int("priority", 0, 0, 1000000));
  r.Finish();
  cfg.members.push_back(std::move(m));
}

// Voters decide failover by majority of those configured (PROTOCOL.md).
void CheckVoters(const Config& cfg, Diagnostics& diag) {
  if (cfg.members.empty() || cfg.cluster.failover == FailoverMode::kOff) return;
  size_t voters = 0;
  bool promotable = false;
  for (const MemberConfig& m : cfg.members) {
    voters += m.voter;
    if (m.priority > 0 && !m.postgres)
      diag.Error(m.line, "[member." + m.name + "]: priority needs postgres = yes");
    promotable |= m.postgres && m.priority > 0;
  }
  if (voters == 0)
    diag.Error(cfg.cluster.line,
               "failover = auto needs voters: set voter = yes on an odd number of members, or "
               "failover = off");
  else if (voters % 2 == 0)
    diag.Warning(cfg.cluster.line,
                 std::to_string(voters) +
                     " voters: an even number; a split in half elects nobody (use an odd number)");
  if (!promotable)
    diag.Warning(cfg.cluster.line,
                 "no member has postgres = yes and priority > 0: nothing can be promoted");
}

// Whether this node has a PostgreSQL: a postgres check, or postgres = yes on its own
// member (only such a node is ever promoted or rejoined).  Only then does it load libpq.
bool RunsPostgres(const Config& cfg) {
  for (const CheckConfig& c : cfg.checks)
    if (c.type == "postgres") return true;
  for (const MemberConfig& m : cfg.members)
    if (m.name == cfg.agent.node && m.postgres) return true;
  return false;
}

Config Interpret(std::vector<RawSection> sections, Diagnostics& diag) {
  Config cfg;
  cfg.path = diag.file();
  cfg.agent.node = Hostname();
  // [cluster] first: members default their port to the cluster's gossip port.
  for (const RawSection& s : sections)
    if (s.name == "cluster" && !s.ignored) ReadCluster(s, cfg.cluster, diag);
  for (const RawSection& s : sections) {
    if (s.ignored)
      continue;
    else if (s.name == "agent")
      ReadAgent(s, cfg.agent, diag);
    else if (s.name == "cluster")
      continue;
    else if (s.name.rfind("check.", 0) == 0)
      ReadCheck(s, cfg, diag);
    else if (s.name.rfind("member.", 0) == 0)
      ReadMember(s, cfg, diag);
    else
      diag.Error(s.line, "unknown section [" + s.name +
                             "] (expected [agent], [check.NAME], [cluster] or [member.NAME])");
  }
  if (!cfg.members.empty() && !cfg.cluster.present)
    diag.Error(cfg.members.front().line,
               "[member." + cfg.members.front().name + "] needs a [cluster] section");
  if (cfg.cluster.present) {
    if (cfg.members.empty())
      diag.Error(cfg.cluster.line, "[cluster] has no [member.NAME] sections");
    bool self = std::any_of(cfg.members.begin(), cfg.members.end(),
                            [&](const MemberConfig& m) { return m.name == cfg.agent.node; });
    if (!cfg.members.empty() && !self)
      diag.Error(cfg.cluster.line,
                 "this node '" + cfg.agent.node +
                     "' is not one of the [member.NAME] sections (set [agent] node)");
    CheckVoters(cfg, diag);
    auto cluster = std::find_if(sections.begin(), sections.end(), [](const RawSection& s) {
      return s.name == "cluster" && !s.ignored;
    });
    if (cluster != sections.end() && RunsPostgres(cfg)) {
      KeyReader r(*cluster, diag);
      CheckRejoinConninfo(r, cfg.cluster.rejoin_conninfo);
    }
  }
  return cfg;
}

}  // namespace

Config LoadConfigText(const std::string& text, Diagnostics& diag) {
  return Interpret(ReadIniText(text, diag), diag);
}

Config LoadConfig(const std::string& path, Diagnostics& diag) {
  std::vector<RawSection> sections = ReadIni(path, diag);
  return Interpret(std::move(sections), diag);
}

}  // namespace kw
