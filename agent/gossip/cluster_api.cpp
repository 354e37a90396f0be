#include "agent/gossip/cluster_api.h"

#include <cstdio>

#include "agent/json.h"

namespace kw::gossip {

namespace {

double Ago(TimePoint now, TimePoint then) { return ToSeconds(now - then); }

PgRole RoleFromLabel(const std::string& s) {
  if (s == "primary") return PgRole::kPrimary;
  if (s == "replica" || s == "standby") return PgRole::kReplica;
  if (s == "down") return PgRole::kDown;
  return PgRole::kUnknown;
}

void Help(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void Line(std::string& out, const std::string& name_and_labels, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, " %.17g\n", v);
  out += name_and_labels + buf;
}

}  // namespace

std::string FormatLsn(uint64_t lsn) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(lsn >> 32),
                static_cast<unsigned>(lsn & 0xffffffffu));
  return buf;
}

Answer ClusterAnswer(const ClusterView& v, TimePoint now) {
  int count[3] = {0, 0, 0};
  uint64_t term = 0;
  std::string leader;
  for (const MemberView& m : v.members) {
    ++count[static_cast<int>(m.status)];
    if (m.state.term > term || (m.state.term == term && leader.empty())) {
      term = m.state.term;
      leader = m.state.leader;
    }
  }
  JsonWriter w;
  w.BeginObject();
  w.Key("cluster").String(v.cluster).Key("node").String(v.self);
  w.Key("awareness").Int(v.awareness);
  w.Key("alive").Int(count[0]).Key("suspect").Int(count[1]).Key("dead").Int(count[2]);
  w.Key("term").Int(static_cast<long long>(term));
  w.Key("leader");
  if (leader.empty())
    w.Null();
  else
    w.String(leader);
  w.Key("members").BeginArray();
  for (const MemberView& m : v.members) {
    w.BeginObject();
    w.Key("name").String(m.name).Key("self").Bool(m.self);
    w.Key("status").String(MemberStatusName(m.status));
    w.Key("incarnation").Int(static_cast<long long>(m.incarnation));
    w.Key("status_since_seconds").Number(Ago(now, m.status_since));
    w.Key("last_heard_seconds");
    if (m.self)
      w.Number(0);
    else if (m.last_heard)
      w.Number(Ago(now, *m.last_heard));
    else
      w.Null();
    const NodeState& s = m.state;
    w.Key("state").BeginObject();
    w.Key("version").Int(static_cast<long long>(s.version & 0x1fffffffffffffull));
    w.Key("role").String(PgRoleName(s.role));
    w.Key("timeline").Int(s.timeline);
    w.Key("received_lsn").String(FormatLsn(s.received_lsn));
    w.Key("replayed_lsn").String(FormatLsn(s.replayed_lsn));
    w.Key("current_lsn").String(FormatLsn(s.current_lsn));
    w.Key("term").Int(static_cast<long long>(s.term));
    w.Key("leader");
    if (s.leader.empty())
      w.Null();
    else
      w.String(s.leader);
    w.Key("checks_passing").Int(s.checks_passing).Key("checks_failing").Int(s.checks_failing);
    w.Key("failing").BeginArray();
    for (const std::string& f : s.failing) w.String(f);
    w.EndArray().EndObject();
    w.EndObject();
  }
  w.EndArray().EndObject();
  return Answer{200, w.str() + "\n", "application/json"};
}

void AppendGossipMetrics(const ClusterView& v, TimePoint now, std::string& out) {
  int count[3] = {0, 0, 0};
  for (const MemberView& m : v.members) ++count[static_cast<int>(m.status)];
  Help(out, "keepwatch_gossip_members", "gauge",
       "Members by gossip state, as this agent sees them.");
  for (int i = 0; i < 3; ++i)
    Line(out,
         std::string("keepwatch_gossip_members{state=\"") +
             MemberStatusName(static_cast<MemberStatus>(i)) + "\"}",
         count[i]);
  Help(out, "keepwatch_gossip_member_status", "gauge",
       "1 for each member's current gossip state (alive, suspect, dead).");
  for (const MemberView& m : v.members)
    for (int i = 0; i < 3; ++i)
      Line(out,
           "keepwatch_gossip_member_status{member=\"" + m.name + "\",state=\"" +
               MemberStatusName(static_cast<MemberStatus>(i)) + "\"}",
           static_cast<int>(m.status) == i ? 1 : 0);
  Help(out, "keepwatch_gossip_member_incarnation", "gauge", "Each member's incarnation number.");
  for (const MemberView& m : v.members)
    Line(out, "keepwatch_gossip_member_incarnation{member=\"" + m.name + "\"}",
         static_cast<double>(m.incarnation));
  Help(out, "keepwatch_gossip_member_last_heard_seconds", "gauge",
       "Seconds since a datagram from the member was accepted (absent: never).");
  for (const MemberView& m : v.members)
    if (!m.self && m.last_heard)
      Line(out, "keepwatch_gossip_member_last_heard_seconds{member=\"" + m.name + "\"}",
           Ago(now, *m.last_heard));
  Help(out, "keepwatch_gossip_awareness", "gauge",
       "Lifeguard local health score (0 healthy; probe interval and timeout scale by score+1).");
  Line(out, "keepwatch_gossip_awareness", v.awareness);
  Help(out, "keepwatch_gossip_datagrams_total", "counter", "Gossip datagrams sent and received.");
  Line(out, "keepwatch_gossip_datagrams_total{direction=\"in\"}",
       static_cast<double>(v.datagrams_in));
  Line(out, "keepwatch_gossip_datagrams_total{direction=\"out\"}",
       static_cast<double>(v.datagrams_out));
  Help(out, "keepwatch_gossip_bytes_total", "counter", "Gossip bytes sent and received (sealed).");
  Line(out, "keepwatch_gossip_bytes_total{direction=\"in\"}", static_cast<double>(v.bytes_in));
  Line(out, "keepwatch_gossip_bytes_total{direction=\"out\"}", static_cast<double>(v.bytes_out));
  Help(out, "keepwatch_gossip_dropped_total", "counter",
       "Datagrams dropped, by reason (auth: forged or wrong key; replay; foreign_cluster; ...).");
  for (size_t i = 0; i < v.drops.size(); ++i)
    Line(out,
         std::string("keepwatch_gossip_dropped_total{reason=\"") +
             DropReasonName(static_cast<DropReason>(i)) + "\"}",
         static_cast<double>(v.drops[i]));
  Help(out, "keepwatch_gossip_send_errors_total", "counter",
       "Datagrams the kernel refused to send.");
  Line(out, "keepwatch_gossip_send_errors_total", static_cast<double>(v.send_errors));
  struct {
    const char* name;
    uint64_t value;
    const char* help;
  } counters[] = {
      {"keepwatch_gossip_probes_total", v.swim.probes, "Probes started."},
      {"keepwatch_gossip_probe_failures_total", v.swim.probe_failures, "Probes without any ack."},
      {"keepwatch_gossip_indirect_probes_total", v.swim.indirect_probes, "Ping-req sent."},
      {"keepwatch_gossip_suspicions_total", v.swim.suspicions, "Members newly suspected."},
      {"keepwatch_gossip_refutations_total", v.swim.refutations,
       "Times this agent raised its incarnation to refute a suspicion."},
      {"keepwatch_gossip_deaths_total", v.swim.deaths, "Members newly marked dead."},
      {"keepwatch_gossip_pauses_total", v.swim.pauses,
       "Times the agent noticed it had been paused."},
  };
  for (const auto& c : counters) {
    Help(out, c.name, "counter", c.help);
    Line(out, c.name, static_cast<double>(c.value));
  }
}

NodeState NodeStateFromSnapshot(const Snapshot& snap) {
  NodeState s;
  for (const CheckState& c : snap.checks) {
    if (!c.has_result) continue;
    if (c.up) {
      ++s.checks_passing;
    } else {
      ++s.checks_failing;
      if (s.failing.size() < kMaxFailingNames && ValidName(c.name) &&
          c.name.size() <= kMaxCheckName)
        s.failing.push_back(c.name);
    }
  }
  if (const CheckState* pg = snap.FindType("postgres"); pg != nullptr && pg->has_result) {
    const CheckResult& r = pg->last;
    if (const std::string* role = r.FindLabel("role"))
      s.role = RoleFromLabel(*role);
    else if (!pg->up)
      s.role = PgRole::kDown;
    auto num = [&](const char* name) -> uint64_t {
      const double* v = r.FindValue(name);
      return v != nullptr && *v > 0 ? static_cast<uint64_t>(*v) : 0;
    };
    s.timeline = static_cast<uint32_t>(num("timeline"));
    s.received_lsn = num("received_lsn");
    s.replayed_lsn = num("replayed_lsn");
    s.current_lsn = num("current_lsn");
    s.read_only = s.role == PgRole::kPrimary && r.FindValue("writable") != nullptr &&
                  *r.FindValue("writable") == 0;
  } else {
    s.role = PgRole::kNone;
  }
  return s;
}

}  // namespace kw::gossip
