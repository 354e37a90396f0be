#include "checks/iscsi.h"

#include <charconv>
#include <optional>

#include "agent/net.h"
#include "checks/sysfs.h"

namespace kw {
namespace {

std::string AttrOr(const std::string& path, const std::string& def = "") {
  auto v = ReadAttribute(path);
  return v.ok() ? *v : def;
}

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

std::vector<IscsiLun> ReadLuns(const std::string& device_dir) {
  std::vector<IscsiLun> out;
  for (const std::string& target : ListDir(device_dir)) {
    if (!StartsWith(target, "target")) continue;
    std::string tdir = device_dir + "/" + target;
    for (const std::string& lun : ListDir(tdir)) {
      // LUN directories are named H:C:T:L; the rest are attributes and subsystem links.
      if (lun.empty() || lun[0] < '0' || lun[0] > '9' || lun.find(':') == std::string::npos)
        continue;
      IscsiLun l;
      l.hctl = lun;
      l.state = AttrOr(tdir + "/" + lun + "/state", "unknown");
      std::vector<std::string> blocks = ListDir(tdir + "/" + lun + "/block");
      if (!blocks.empty()) l.disk = blocks.front();
      out.push_back(std::move(l));
    }
  }
  return out;
}

}  // namespace

std::string IscsiSession::Problem() const {
  if (state == "FAILED")
    return "is FAILED: the path is lost and I/O is queued (processes wait in D state) for up to "
           "recovery_tmo " +
           recovery_tmo + " s";
  if (state == "FREE")
    return "is FREE: recovery gave up after recovery_tmo " + recovery_tmo +
           " s, I/O to the disk fails";
  if (state != "LOGGED_IN") return "is in state '" + state + "', not LOGGED_IN";
  if (!connection.empty() && connection != "up")
    return "is LOGGED_IN but its connection is " + connection;
  bool disk = false;
  for (const IscsiLun& l : luns) {
    if (l.state != "running")
      return "is LOGGED_IN but LUN " + l.hctl + (l.disk.empty() ? "" : " (" + l.disk + ")") +
             " is " + l.state;
    disk = disk || !l.disk.empty();
  }
  if (!disk) return "is LOGGED_IN but has no disk (LUN scan missing?)";
  return "";
}

std::string IscsiSession::Disks() const {
  std::string out;
  for (const IscsiLun& l : luns)
    if (!l.disk.empty()) out += (out.empty() ? "" : ",") + l.disk;
  return out;
}

std::vector<IscsiSession> ReadIscsiSessions(const std::string& root) {
  std::vector<IscsiSession> out;
  std::string sessions = UnderRoot(root, "/sys/class/iscsi_session");
  std::string connections = UnderRoot(root, "/sys/class/iscsi_connection");
  std::vector<std::string> conn_names = ListDir(connections);
  for (const std::string& name : ListDir(sessions)) {
    if (!StartsWith(name, "session")) continue;
    std::string dir = sessions + "/" + name;
    IscsiSession s;
    s.name = name;
    s.target = AttrOr(dir + "/targetname");
    s.state = AttrOr(dir + "/state", "unknown");
    s.recovery_tmo = AttrOr(dir + "/recovery_tmo", "?");
    // connectionN:C belongs to sessionN (N is the session id).
    std::string prefix = "connection" + name.substr(7) + ":";
    for (const std::string& c : conn_names) {
      if (!StartsWith(c, prefix)) continue;
      std::string cdir = connections + "/" + c;
      s.connection = AttrOr(cdir + "/state");
      std::string addr = AttrOr(cdir + "/persistent_address");
      std::string port = AttrOr(cdir + "/persistent_port");
      if (!addr.empty())
        s.portal = (addr.find(':') != std::string::npos ? "[" + addr + "]" : addr) +
                   (port.empty() ? "" : ":" + port);
      break;
    }
    s.luns = ReadLuns(dir + "/device");
    out.push_back(std::move(s));
  }
  return out;
}

namespace {

class IscsiCheck final : public Check {
 public:
  IscsiCheck(std::string target, std::optional<HostPort> portal, std::string root)
      : target_(std::move(target)), portal_(std::move(portal)), root_(std::move(root)) {}

  CheckResult Run(TimePoint deadline) override {
    std::vector<IscsiSession> mine;
    for (IscsiSession& s : ReadIscsiSessions(root_))
      if (s.target == target_) mine.push_back(std::move(s));
    if (mine.empty()) {
      CheckResult r = CheckResult::Fail("no iSCSI session for " + target_ + " (not logged in)");
      r.Label("reason", "no_session").Value("sessions", 0);
      return ProbePortal(std::move(r), deadline);
    }
    const IscsiSession* chosen = &mine.front();
    for (const IscsiSession& s : mine)
      if (s.Problem().empty()) {
        chosen = &s;
        break;
      }
    std::string problem = chosen->Problem();
    std::string disks = chosen->Disks();
    CheckResult r =
        problem.empty()
            ? CheckResult::Pass(chosen->name + " to " + target_ + " LOGGED_IN, " +
                                (chosen->connection.empty() ? "connection state unknown"
                                                            : "connection " + chosen->connection) +
                                ", " + disks + " running")
            : CheckResult::Fail(chosen->name + " to " + target_ + " " + problem);
    r.Label("session", chosen->name)
        .Label("state", chosen->state)
        .Label("recovery_tmo", chosen->recovery_tmo)
        .Label("connection", chosen->connection.empty() ? "unknown" : chosen->connection)
        .Label("portal", chosen->portal.empty() ? (portal_ ? portal_->ToString() : "unknown")
                                                : chosen->portal)
        .Label("device", disks.empty() ? "none" : disks)
        .Value("sessions", static_cast<double>(mine.size()));
    double tmo = 0;
    const std::string& t = chosen->recovery_tmo;
    if (std::from_chars(t.data(), t.data() + t.size(), tmo).ec == std::errc())
      r.Value("recovery_tmo_seconds", tmo);
    if (problem.empty()) return r;
    r.Label("reason",
            chosen->state == "LOGGED_IN"
                ? (chosen->connection.empty() || chosen->connection == "up" ? "lun" : "connection")
                : "session_" + Lower(chosen->state));
    return ProbePortal(std::move(r), deadline);
  }

 private:
  static std::string Lower(std::string s) {
    for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    return s;
  }

  // Only on failure: a healthy session needs no extra connection to the target (tgt logs
  // each one), and on failure this is what tells the operator where to look.
  CheckResult ProbePortal(CheckResult r, TimePoint deadline) {
    if (!portal_) return r;
    auto fd = ConnectTcp(*portal_, deadline);
    if (fd.ok()) {
      r.detail += "; portal " + portal_->ToString() + " is reachable: the local session is broken";
      r.Label("portal_reachable", "yes");
    } else {
      r.detail += "; portal " + portal_->ToString() + " unreachable (" + fd.status().message() +
                  "): the target or the network to it is down";
      r.Label("portal_reachable", "no");
    }
    return r;
  }

  std::string target_;
  std::optional<HostPort> portal_;
  std::string root_;
};

}  // namespace

std::unique_ptr<Check> MakeIscsiCheck(KeyReader& keys, const CheckEnv& env) {
  std::string target = keys.RequiredString("target");
  std::optional<HostPort> portal;
  if (keys.Has("portal")) portal = keys.Address("portal", HostPort{}, 3260);
  if (target.empty()) return nullptr;
  if (target.rfind("iqn.", 0) != 0 && target.rfind("eui.", 0) != 0 &&
      target.rfind("naa.", 0) != 0) {
    keys.Error("target", "'" + target + "' is not an iSCSI name (iqn., eui. or naa.)");
    return nullptr;
  }
  return std::make_unique<IscsiCheck>(std::move(target), std::move(portal), env.root);
}

}  // namespace kw
