#include "checks/ocfs2.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "agent/net.h"
#include "checks/sysfs.h"

namespace kw {
namespace {

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

// The kernel name of the mount's block device ("sdb"): DEVNAME= in the sysfs uevent of
// its major:minor, else the source's last component when it is a /dev path.
std::string DeviceName(const std::string& root, const MountEntry& m) {
  auto uevent = ReadSmallFile(UnderRoot(root, "/sys/dev/block/" + m.DeviceNumber() + "/uevent"));
  if (uevent.ok()) {
    size_t at = uevent->find("DEVNAME=");
    if (at != std::string::npos) {
      size_t end = uevent->find('\n', at);
      return uevent->substr(at + 8, end == std::string::npos ? end : end - at - 8);
    }
  }
  if (m.source.rfind("/dev/", 0) == 0) return m.source.substr(m.source.rfind('/') + 1);
  return "";
}

struct Region {
  std::string name;  // the volume UUID, as o2cb names the region
  std::string dev;
};

// Heartbeat regions o2cb has started, from configfs.
std::vector<Region> HeartbeatRegions(const std::string& root) {
  std::vector<Region> out;
  std::string clusters = UnderRoot(root, "/sys/kernel/config/cluster");
  for (const std::string& cluster : ListDir(clusters)) {
    std::string hb = clusters + "/" + cluster + "/heartbeat";
    for (const std::string& region : ListDir(hb)) {
      auto dev = ReadAttribute(hb + "/" + region + "/dev");
      // Attributes like dead_threshold live beside the regions; an empty dev is a region
      // that is configured but not started.
      if (dev.ok() && !dev->empty()) out.push_back({region, *dev});
    }
  }
  return out;
}

Status ErrnoAt(const std::string& what, int err) { return ErrnoStatus(what, err); }

Status WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoAt("write", errno);
    }
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

std::string DefaultProbeName() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == 0) return ".keepwatch-probe";
  return std::string(".keepwatch-probe.") + host;
}

Ocfs2Check::Ocfs2Check(Ocfs2Options options, std::string root)
    : opt_(std::move(options)), root_(std::move(root)) {
  while (opt_.path.size() > 1 && opt_.path.back() == '/') opt_.path.pop_back();
  if (opt_.probe_name.empty()) opt_.probe_name = DefaultProbeName();
}

CheckResult Ocfs2Check::Run(TimePoint deadline) {
  auto mounts = ReadMountinfo(root_);
  if (!mounts.ok()) return CheckResult::Error(mounts.status().message());
  const MountEntry* m = FindMountAt(*mounts, opt_.path);
  if (!m) return CheckResult::Fail(opt_.path + " is not mounted").Label("reason", "not_mounted");

  std::string device = DeviceName(root_, *m);
  auto with_labels = [&](CheckResult r) {
    r.Label("fstype", m->fstype)
        .Label("source", m->source)
        .Label("options", Join(m->super_options));
    if (!device.empty()) r.Label("device", device);
    if (auto e = m->SuperOption("errors")) r.Label("errors", *e);
    if (auto h = m->SuperOption("heartbeat")) r.Label("heartbeat", *h);
    return r;
  };

  if (m->fstype != opt_.fstype)
    return with_labels(CheckResult::Fail(opt_.path + " is " + m->fstype + " (" + m->source +
                                         "), expected " + opt_.fstype))
        .Label("reason", "wrong_fstype");
  if (m->SuperReadOnly()) {
    std::string why = m->MountReadOnly()
                          ? " is mounted read-only"
                          : " is read-only: the superblock was remounted ro (after an I/O "
                            "error?) while the mount still says rw";
    return with_labels(CheckResult::Fail(opt_.path + why)).Label("reason", "read_only");
  }
  if (m->MountReadOnly())
    return with_labels(CheckResult::Fail(
                           opt_.path +
                           " is mounted read-only (per-mount ro in the agent's mount namespace: "
                           "under systemd's ProtectSystem=strict it needs ReadWritePaths=" +
                           opt_.path + ")"))
        .Label("reason", "read_only");
  auto expect = [&](const char* key, const std::string& want) -> std::optional<CheckResult> {
    if (want.empty()) return std::nullopt;
    std::optional<std::string> got = m->SuperOption(key);
    if (got && *got == want) return std::nullopt;
    return with_labels(CheckResult::Fail(opt_.path + " has " + key + "=" +
                                         (got ? *got : "(unset)") + ", expected " + want))
        .Label("reason", "wrong_option");
  };
  if (auto r = expect("errors", opt_.expect_errors)) return *r;
  if (auto r = expect("heartbeat", opt_.expect_heartbeat)) return *r;

  CheckResult r = with_labels(
      CheckResult::Pass(opt_.path + " mounted rw (" + m->fstype + " " + m->source + ")"));
  if (opt_.heartbeat_max_age && !CheckHeartbeat(*m, r)) return r;
  if (opt_.write_probe) return WriteProbe(std::move(r), deadline);
  return r;
}

bool Ocfs2Check::CheckHeartbeat(const MountEntry& m, CheckResult& r) {
  auto fail = [&](const std::string& why) {
    r.outcome = Outcome::kFail;
    r.detail = opt_.path + ": " + why;
    r.Label("reason", "heartbeat");
    return false;
  };
  std::string device = DeviceName(root_, m);
  bool global = m.SuperOption("heartbeat").value_or("") == "global";
  std::vector<Region> regions = HeartbeatRegions(root_);
  std::vector<Region> mine;
  for (const Region& reg : regions)
    if (global || reg.dev == device) mine.push_back(reg);
  if (mine.empty())
    return fail(global ? "no o2hb region is active (configfs cluster/*/heartbeat)"
                       : "no o2hb region for device '" + device +
                             "' in configfs (o2cb cluster offline?)");
  long long oldest = -1;
  std::string oldest_region;
  for (const Region& reg : mine) {
    std::string file =
        UnderRoot(root_, "/sys/kernel/debug/o2hb/" + reg.name + "/elapsed_time_in_ms");
    auto text = ReadAttribute(file);
    if (!text.ok())
      return fail("heartbeat age unknown: " + text.status().message() + " (debugfs mounted?)");
    long long ms = 0;
    auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), ms);
    if (ec != std::errc() || p != text->data() + text->size() || ms < 0)
      return fail("heartbeat age unreadable: '" + *text + "' in " + file);
    if (ms > oldest) {
      oldest = ms;
      oldest_region = reg.name;
    }
  }
  r.Label("o2hb_region", oldest_region).Value("heartbeat_age_seconds", oldest / 1000.0);
  if (milliseconds(oldest) > *opt_.heartbeat_max_age)
    return fail("own o2hb heartbeat write is " + FormatDuration(milliseconds(oldest)) +
                " old (max " + FormatDuration(*opt_.heartbeat_max_age) + ", region " +
                oldest_region + ")");
  return true;
}

// Blocking syscalls on purpose: there is no way to bound a write to a hung disk from
// user space, so the deadline is checked between steps and the scheduler covers the rest.
CheckResult Ocfs2Check::WriteProbe(CheckResult r, TimePoint deadline) {
  TimePoint start = SteadyClock::now();
  std::string file = (opt_.probe_dir.empty() ? opt_.path : opt_.probe_dir) + "/" + opt_.probe_name;
  std::string payload = "keepwatch write probe " + std::to_string(++probe_count_) + " " +
                        std::to_string(start.time_since_epoch().count()) + "\n";
  auto done = [&](CheckResult out, const char* reason) {
    out.Value("write_probe_seconds", ToSeconds(SteadyClock::now() - start));
    if (reason) out.Label("reason", reason);
    return out;
  };
  auto failed = [&](const Status& s) {
    r.outcome = Outcome::kFail;
    r.detail = "write probe " + file + ": " + s.message();
    return done(std::move(r), "write_probe");
  };
  auto late = [&](const char* step) -> std::optional<CheckResult> {
    if (SteadyClock::now() <= deadline) return std::nullopt;
    r.outcome = Outcome::kTimeout;
    r.detail = std::string("write probe ") + file + ": " + step + " passed the deadline";
    return done(std::move(r), "write_probe_timeout");
  };

  {
    Fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd.valid()) return failed(ErrnoAt("create", errno));
    if (Status s = WriteAll(fd.get(), payload); !s.ok()) return failed(s);
    if (::fsync(fd.get()) != 0) return failed(ErrnoAt("fsync", errno));
    int raw = fd.release();
    if (::close(raw) != 0) return failed(ErrnoAt("close", errno));
  }
  if (auto t = late("write+fsync")) return *t;
  {
    Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd.valid()) return failed(ErrnoAt("reopen", errno));
    std::string back(payload.size() + 1, '\0');
    size_t got = 0;
    while (got < back.size()) {
      ssize_t n = ::read(fd.get(), back.data() + got, back.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return failed(ErrnoAt("read back", errno));
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    back.resize(got);
    if (back != payload)
      return failed(Status::Error("read back " + std::to_string(got) +
                                  " bytes that differ from the " + std::to_string(payload.size()) +
                                  " written"));
  }
  if (::unlink(file.c_str()) != 0) return failed(ErrnoAt("remove", errno));
  if (auto t = late("read back+remove")) return *t;
  r.detail += ", write probe ok";
  return done(std::move(r), nullptr);
}

std::unique_ptr<Check> MakeOcfs2Check(KeyReader& keys, const CheckEnv& env) {
  Ocfs2Options o;
  o.path = keys.RequiredString("path");
  o.fstype = keys.String("fstype", "ocfs2");
  o.write_probe = keys.Bool("write_probe", false);
  o.probe_dir = keys.String("probe_dir", "");
  while (o.probe_dir.size() > 1 && o.probe_dir.back() == '/') o.probe_dir.pop_back();
  if (keys.Has("heartbeat_max_age")) {
    Duration d = keys.Dur("heartbeat_max_age", seconds(0));
    if (d <= Duration::zero()) keys.Error("heartbeat_max_age", "must be greater than 0");
    o.heartbeat_max_age = d;
  }
  if (keys.Has("errors"))
    o.expect_errors = keys.Choice("errors", "", {"remount-ro", "panic", "continue"});
  if (keys.Has("heartbeat"))
    o.expect_heartbeat = keys.Choice("heartbeat", "", {"local", "global", "none"});
  if (o.path.empty()) return nullptr;
  if (o.path.front() != '/') {
    keys.Error("path", "must be an absolute path, got '" + o.path + "'");
    return nullptr;
  }
  if (o.fstype.empty()) keys.Error("fstype", "must not be empty");
  std::string under = o.path == "/" ? "/" : o.path + "/";
  if (!o.probe_dir.empty() && o.probe_dir.rfind(under, 0) != 0)
    keys.Error("probe_dir",
               "must be a directory under path (" + o.path + "), got '" + o.probe_dir + "'");
  return std::make_unique<Ocfs2Check>(std::move(o), env.root);
}

}  // namespace kw
