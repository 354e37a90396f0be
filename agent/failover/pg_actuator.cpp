#include "agent/failover/pg_actuator.h"

#include <libpq-fe.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/failover/pg_control.h"
#include "agent/failover/pg_layout.h"

namespace kw {
namespace {

// The paths the built-in stop and rejoin use, from the server's PgLayout.
struct Layout {
  std::string data_dir;    // data_directory
  std::string config_dir;  // the directory of config_file: pg_ctl's -D
  std::string bindir;
};

// Whole seconds left before the deadline, at least 1 (for pg_ctl -t).
std::string SecondsLeft(TimePoint deadline) {
  long long ms = ToMillis(deadline - SteadyClock::now());
  return std::to_string(std::max<long long>(1, (ms + 999) / 1000));
}

std::string Quoted(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

Status Prefixed(const std::string& prefix, const Status& s) {
  return s.ok() ? s : Status::Error(prefix + s.message());
}

// A file's content, owner and mode.
struct SavedFile {
  std::string path;
  std::string content;
  struct stat st {};
};

Result<SavedFile> ReadWhole(const std::string& path) {
  SavedFile f;
  f.path = path;
  std::ifstream in(path);
  if (!in || stat(path.c_str(), &f.st) != 0) return ErrnoStatus(path, errno);
  f.content.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return f;
}

// Writes the file atomically (a temporary file renamed over the path), with its owner and
// mode.
Status WriteBack(const SavedFile& file) {
  const std::string& path = file.path;
  const struct stat& st = file.st;
  std::string tmp = path + ".keepwatch";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << file.content;
    f.close();
    if (!f) return Status::Error("cannot write " + tmp);
  }
  if (chmod(tmp.c_str(), st.st_mode & 07777) != 0 ||
      (geteuid() == 0 && chown(tmp.c_str(), st.st_uid, st.st_gid) != 0) ||
      rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = ErrnoStatus(tmp, errno);
    unlink(tmp.c_str());
    return s;
  }
  return Status::Ok();
}

// postgresql.auto.conf after pg_rewind -R: the fence's default_transaction_read_only and
// a primary_slot_name (the new primary has no such slot) go, and of the primary_conninfo
// lines (a stale one from when the source was a replica, then pg_rewind's) only the last
// stays.
Status TidyAutoConf(const std::string& path) {
  auto file = ReadWhole(path);
  if (!file.ok()) return file.status();
  std::vector<std::string> lines;
  std::vector<std::string> keys;
  std::istringstream in(file->content);
  std::string line;
  while (std::getline(in, line)) {
    size_t b = line.find_first_not_of(" \t");
    size_t e = b == std::string::npos ? b : line.find_first_of(" \t=", b);
    lines.push_back(line);
    keys.push_back(b == std::string::npos || line[b] == '#' ? "" : line.substr(b, e - b));
  }
  size_t last_conninfo = lines.size();
  for (size_t i = 0; i < keys.size(); ++i)
    if (keys[i] == "primary_conninfo") last_conninfo = i;
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (keys[i] == "default_transaction_read_only" || keys[i] == "primary_slot_name") continue;
    if (keys[i] == "primary_conninfo" && i != last_conninfo) continue;
    out += lines[i] + "\n";
  }
  file->content = out;
  return WriteBack(*file);
}

// The node's own configuration files that live in the data directory (a plain initdb
// cluster): pg_rewind copies the source's over them (its port, its pg_hba.conf), so they
// are read before and written back after.
const char* const kOwnConfigFiles[] = {"postgresql.conf", "pg_hba.conf", "pg_ident.conf"};

class LibpqActuator final : public PgActuator {
 public:
  LibpqActuator(PgActuatorConfig cfg, const PgConnector& connector, Logger& log)
      : cfg_(std::move(cfg)),
        connector_(connector),
        log_(log),
        conn_(connector.Make(cfg_.conninfo)) {
    if (cfg_.state_dir.empty()) return;
    auto saved = LoadPgLayout(cfg_.state_dir);
    if (saved.ok())
      known_ = *saved;
    else
      log_.Log(LogLevel::kWarning,
               "failover: ignoring the saved PostgreSQL layout: " + saved.status().message() +
                   " (it is learned again when PostgreSQL answers)");
  }

  // Learn() runs after an action that reached the server, never before: a fence or a
  // promotion must not wait for a query that is not needed.
  Status Promote(TimePoint deadline) override {
    if (!cfg_.promote_command.empty()) return RunShell(cfg_.promote_command, deadline);
    int wait =
        static_cast<int>(std::max<long long>(1, ToMillis(deadline - SteadyClock::now()) / 1000));
    PgReply r = conn_->QueryRow("SELECT pg_promote(true, " + std::to_string(wait) + ") AS promoted",
                                deadline);
    if (!r.ok()) return Status::Error("pg_promote: " + r.message);
    if (r.row["promoted"] != "t")
      return Status::Error("pg_promote: not promoted within " + std::to_string(wait) + "s");
    Learn(deadline);
    return Status::Ok();
  }

  Status Fence(TimePoint deadline) override {
    switch (cfg_.fence) {
      case FenceMode::kNone:
        return Status::Ok();
      case FenceMode::kCommand:
        return RunShell(cfg_.fence_command, deadline);
      case FenceMode::kStop:
        return Prefixed("fence: ", Stop(deadline));
      case FenceMode::kReadonly:
        break;
    }
    Status s = SetReadOnly(true, deadline);
    if (!s.ok()) return s;
    // pg_terminate_backend only signals: wait until those sessions are gone, so that no
    // commit can follow (a switchover reads its final WAL position right after this).
    PgReply t = conn_->QueryRow(
        "SELECT coalesce(string_agg(pid::text, ','), '0') AS pids, "
        "count(pg_terminate_backend(pid)) AS terminated FROM pg_stat_activity "
        "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
        deadline);
    if (!t.ok()) return Status::Error("terminating client sessions: " + t.message);
    while (true) {
      PgReply left = conn_->QueryRow(
          "SELECT count(*) AS n FROM pg_stat_activity WHERE pid IN (" + t.row["pids"] + ")",
          deadline);
      if (!left.ok()) return Status::Error("waiting for client sessions to end: " + left.message);
      if (left.row["n"] == "0") break;
      if (SteadyClock::now() + milliseconds(50) >= deadline)
        return Status::Error(left.row["n"] + " client sessions did not end before the deadline");
      std::this_thread::sleep_for(milliseconds(50));
    }
    Learn(deadline);
    return Status::Ok();
  }

  Status Unfence(TimePoint deadline) override {
    if (cfg_.fence != FenceMode::kReadonly) return Status::Ok();
    Status s = SetReadOnly(false, deadline);
    if (s.ok()) Learn(deadline);
    return s;
  }

  Status Rejoin(const HostPort& primary, TimePoint deadline) override {
    if (!cfg_.rejoin_command.empty())
      return Prefixed("rejoin: ",
                      RunShell(cfg_.rejoin_command, deadline,
                               {"KEEPWATCH_PRIMARY_HOST=" + primary.host,
                                "KEEPWATCH_PRIMARY_PORT=" + std::to_string(primary.port)}));
    return Prefixed("rejoin: ", Rewind(primary, deadline));
  }

  Result<uint64_t> WalLsn(TimePoint deadline) override {
    if (cfg_.fence == FenceMode::kStop) return StoppedLsn(deadline);
    PgReply r = conn_->QueryRow("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn AS lsn", deadline);
    if (!r.ok()) return Status::Error("pg_current_wal_lsn: " + r.message);
    auto v = ParseInt(r.row["lsn"], 0, INT64_MAX);
    if (!v.ok()) return Status::Error("pg_current_wal_lsn: " + v.status().message());
    return static_cast<uint64_t>(*v);
  }

 private:
  // Learns the layout once per agent run, while the server answers, and saves it when it
  // differs from what was known.  Returns the reply's failure.
  PgReply Learn(TimePoint deadline) {
    if (learned_) return PgReply{};
    PgReply r = conn_->QueryRow(
        "SELECT current_setting('data_directory') AS data, "
        "current_setting('config_file') AS config, "
        "current_setting('server_version_num')::int / 10000 AS major",
        deadline);
    if (!r.ok()) return r;
    learned_ = true;
    PgLayout told{r.row["data"], r.row["config"], r.row["major"]};
    if (known_ == told) return r;
    known_ = told;
    if (cfg_.state_dir.empty()) return r;
    if (Status s = SavePgLayout(cfg_.state_dir, told); !s.ok())
      log_.Log(LogLevel::kWarning, "failover: cannot save the PostgreSQL layout: " + s.message());
    return r;
  }

  // The layout and the user to run the tools as, or why they are not known.  `learned` is
  // Learn's reply.
  Status Prepare(const PgReply& learned) {
    if (!known_)
      return Status::Error(
          "the data directory is not known: PostgreSQL has not answered since the agent "
          "started, and none was saved in the state directory (" +
          learned.message + ")");
    const std::string& config = known_->config_file;
    layout_ = Layout{
        known_->data_directory, config.substr(0, config.rfind('/')),
        cfg_.pg_bindir.empty() ? "/usr/lib/postgresql/" + known_->major + "/bin" : cfg_.pg_bindir};
    if (geteuid() != 0) {
      struct stat st {};
      if (stat(layout_->data_dir.c_str(), &st) != 0) return ErrnoStatus(layout_->data_dir, errno);
      if (st.st_uid != geteuid())
        return Status::Error(layout_->data_dir + " belongs to uid " + std::to_string(st.st_uid) +
                             ": the agent (uid " + std::to_string(geteuid()) +
                             ") can run pg_ctl and pg_rewind only as root or as that user");
      run_as_.reset();
      return Status::Ok();
    }
    auto owner = RunAsOwnerOf(layout_->data_dir);
    if (!owner.ok()) return owner.status();
    if (owner->uid == 0)
      return Status::Error(layout_->data_dir + " belongs to root: PostgreSQL does not run as root");
    run_as_ = *owner;
    return Status::Ok();
  }

  ProgramOutcome Tool(const std::string& name, std::vector<std::string> args, TimePoint deadline,
                      const std::vector<std::string>& env = {}) const {
    Program p;
    p.argv = {layout_->bindir + "/" + name};
    p.argv.insert(p.argv.end(), args.begin(), args.end());
    p.label = name;
    p.env = {"LC_ALL=C"};  // pg_controldata's labels are translated otherwise
    p.env.insert(p.env.end(), env.begin(), env.end());
    p.run_as = run_as_;
    p.dir = "/";
    return RunProgram(p, deadline);
  }

  // Whether a postmaster runs in the data directory (pg_ctl status: 0 yes, 3 no).
  Result<bool> Running(TimePoint deadline) const {
    ProgramOutcome st = Tool("pg_ctl", {"status", "-D", layout_->data_dir}, deadline);
    if (st.exit_code == 0 || st.exit_code == 3) return st.exit_code == 0;
    return Status::Error("pg_ctl status: " + st.status.message());
  }

  Status StopRunning(TimePoint deadline) const {
    return Tool("pg_ctl",
                {"stop", "-D", layout_->data_dir, "-m", "fast", "-w", "-t", SecondsLeft(deadline)},
                deadline)
        .status;
  }

  Status Stop(TimePoint deadline) {
    if (SteadyClock::now() >= deadline) return Status::Error("the deadline has already passed");
    PgReply r = Learn(deadline);
    if (!known_ && r.failure == PgFailure::kRefused) return Status::Ok();  // down already
    if (Status s = Prepare(r); !s.ok()) return s;
    auto running = Running(deadline);
    if (!running.ok()) return running.status();
    if (!*running) return Status::Ok();
    return StopRunning(deadline);
  }

  // A switchover's final position after fence = stop: the shutdown checkpoint in the
  // control file (ShutdownCheckpointLsn), never the server's answer.  Only for this fence:
  // there the pg_ctl stop -w that just succeeded left the "shut down" read here, and a
  // server that answers again was started after the fence, so its position is not final.
  // Under the other fences the server answered the fence a moment ago; one found down now
  // crashed or was stopped by someone else in the middle of the switchover (or, with
  // fence = command, the layout may never have been learned): abandoning the switchover is
  // the simpler and safer answer, and the operator can ask again.
  Result<uint64_t> StoppedLsn(TimePoint deadline) {
    if (Status s = Prepare(Learn(deadline)); !s.ok()) return s;
    ProgramOutcome pc = Tool("pg_controldata", {layout_->data_dir}, deadline);
    if (!pc.status.ok()) return pc.status;
    auto lsn = ShutdownCheckpointLsn(pc.output);
    if (!lsn.ok())
      return Status::Error("pg_controldata " + layout_->data_dir + ": " + lsn.status().message());
    // A server starting up keeps "shut down" in its control file until it takes writes:
    // the position is final only if none runs once it was read.
    auto running = Running(deadline);
    if (!running.ok()) return running.status();
    if (*running) return Status::Error("PostgreSQL runs again after fence = stop stopped it");
    return *lsn;
  }

  Status Rewind(const HostPort& primary, TimePoint deadline) {
    if (SteadyClock::now() >= deadline) return Status::Error("the deadline has already passed");
    if (Status s = Prepare(Learn(deadline)); !s.ok()) return s;
    // Asked again (auto_rejoin retries, an operator's second try): nothing to do.
    if (!NotFollowing(primary, deadline)) return Status::Ok();
    const Layout& l = *layout_;
    // Everything pg_rewind will demand is checked before the server is touched.
    ProgramOutcome pc = Tool("pg_controldata", {l.data_dir}, deadline);
    if (!pc.status.ok()) return pc.status;
    PgControl control = ParsePgControl(pc.output);
    if (!control.wal_log_hints && !control.checksums)
      return Status::Error("pg_rewind needs wal_log_hints = on or data checksums, and " +
                           l.data_dir +
                           " has neither: set wal_log_hints = on on every member and restart "
                           "PostgreSQL");
    std::string base = cfg_.rejoin_conninfo.empty() ? cfg_.conninfo : cfg_.rejoin_conninfo;
    auto source = SourceConninfo(base, primary);
    if (!source.ok()) return source.status();
    if (Status s = CheckSource(*source, primary, deadline); !s.ok()) return s;

    auto running = Running(deadline);
    if (!running.ok()) return running.status();
    if (*running) {
      if (Status s = StopRunning(deadline); !s.ok()) return s;
    } else if (control.state != "shut down" && control.state != "shut down in recovery") {
      // It crashed.  pg_rewind would finish crash recovery itself, but with -D the data
      // directory, where a Debian cluster has no postgresql.conf: do it here with the
      // configuration directory.
      ProgramOutcome single =
          Tool("postgres", {"--single", "-F", "-D", l.config_dir, "template1"}, deadline);
      if (!single.status.ok()) return Prefixed("crash recovery: ", single.status);
    }
    std::vector<SavedFile> own;
    for (const char* name : kOwnConfigFiles) {
      auto file = ReadWhole(l.data_dir + "/" + name);
      if (file.ok()) own.push_back(*file);
    }
    // A password goes to pg_rewind in its environment, not on its command line (which
    // every local user can read); libpq still writes it into primary_conninfo.
    std::optional<std::string> password = ConninfoPassword(base);
    auto shown = SourceConninfo(base, primary, false);
    if (!shown.ok()) return shown.status();
    ProgramOutcome rw = Tool(
        "pg_rewind",
        {"--target-pgdata=" + l.data_dir, "--source-server=" + *shown, "--write-recovery-conf"},
        deadline,
        password ? std::vector<std::string>{"PGPASSWORD=" + *password}
                 : std::vector<std::string>{});
    for (const SavedFile& f : own)
      if (Status s = WriteBack(f); !s.ok()) return s;
    if (!rw.status.ok()) return rw.status;
    if (Status s = TidyAutoConf(l.data_dir + "/postgresql.auto.conf"); !s.ok()) return s;
    ProgramOutcome start =
        Tool("pg_ctl",
             {"start", "-D", l.config_dir, "-l", l.data_dir + "/keepwatch-start.log", "-w", "-t",
              SecondsLeft(deadline)},
             deadline);
    if (!start.status.ok())
      return Status::Error(start.status.message() + "; see " + l.data_dir + "/keepwatch-start.log");
    return WaitStreaming(primary, deadline);
  }

  // The new primary answers the source role, is a primary, lets it read files and
  // replicate, and checkpoints (after a promotion the control file pg_rewind reads shows
  // the new timeline only after a checkpoint, and the one a promotion requests is spread).
  Status CheckSource(const std::string& source, const HostPort& primary, TimePoint deadline) const {
    std::string where = "the new primary " + primary.ToString();
    auto conn = connector_.Make(source);
    PgReply r = conn->QueryRow(
        "SELECT pg_is_in_recovery() AS recovery, "
        "has_function_privilege('pg_ls_dir(text, boolean, boolean)', 'execute') AND "
        "has_function_privilege('pg_stat_file(text, boolean)', 'execute') AND "
        "has_function_privilege('pg_read_binary_file(text)', 'execute') AND "
        "has_function_privilege('pg_read_binary_file(text, bigint, bigint, boolean)', "
        "'execute') AS reads, "
        "(SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user) "
        "AS replication, current_user AS role, current_setting('full_page_writes') AS fpw",
        deadline);
    if (!r.ok()) return Status::Error(where + ": " + r.message);
    if (r.row["recovery"] != "f") return Status::Error(where + " is in recovery, not a primary");
    if (r.row["fpw"] != "on")
      return Status::Error(where + " has full_page_writes = off; pg_rewind needs it on");
    if (r.row["reads"] != "t")
      return Status::Error(where + ": role " + r.row["role"] +
                           " may not run pg_ls_dir, pg_stat_file and pg_read_binary_file "
                           "(pg_rewind's rights; see rejoin_conninfo)");
    if (r.row["replication"] != "t")
      return Status::Error(where + ": role " + r.row["role"] +
                           " has no REPLICATION attribute (the rejoined server streams as it)");
    PgReply c = conn->Exec("CHECKPOINT", deadline);
    if (!c.ok()) return Status::Error(where + ": CHECKPOINT: " + c.message);
    return Status::Ok();
  }

  // Why the local server does not (yet) stream from `primary`, or nullopt when it does.
  std::optional<std::string> NotFollowing(const HostPort& primary, TimePoint deadline) const {
    PgReply r = conn_->QueryRow(
        "SELECT pg_is_in_recovery() AS recovery, w.status, w.sender_host, w.sender_port "
        "FROM (SELECT 1) one LEFT JOIN pg_stat_wal_receiver w ON true",
        deadline);
    if (!r.ok()) return r.message;
    if (r.row["recovery"] != "t") return "not in recovery";
    if (r.row["status"] == "streaming" && r.row["sender_host"] == primary.host &&
        r.row["sender_port"] == std::to_string(primary.port))
      return std::nullopt;
    return "WAL receiver " + (r.row.count("status") ? r.row["status"] : "not running") +
           (r.row.count("sender_host")
                ? " from " + r.row["sender_host"] + ":" + r.row["sender_port"]
                : "");
  }

  Status WaitStreaming(const HostPort& primary, TimePoint deadline) const {
    for (;;) {
      std::optional<std::string> why = NotFollowing(primary, deadline);
      if (!why) return Status::Ok();
      if (SteadyClock::now() + milliseconds(100) >= deadline)
        return Status::Error("PostgreSQL started but does not stream from " + primary.ToString() +
                             " in time: " + *why);
      std::this_thread::sleep_for(milliseconds(100));
    }
  }

  Status SetReadOnly(bool on, TimePoint deadline) {
    PgReply a = conn_->Exec(on ? "ALTER SYSTEM SET default_transaction_read_only = on"
                               : "ALTER SYSTEM RESET default_transaction_read_only",
                            deadline);
    if (!a.ok()) return Status::Error("ALTER SYSTEM: " + a.message);
    PgReply r = conn_->QueryRow("SELECT pg_reload_conf() AS reloaded", deadline);
    if (!r.ok()) return Status::Error("pg_reload_conf: " + r.message);
    return Status::Ok();
  }

  PgActuatorConfig cfg_;
  const PgConnector& connector_;
  Logger& log_;
  std::unique_ptr<PgConnection> conn_;
  std::optional<PgLayout> known_;  // as the server last told it, or as saved before
  bool learned_ = false;           // the server told it since this actuator started
  std::optional<Layout> layout_;   // from known_, set by Prepare
  std::optional<RunAs> run_as_;
};

}  // namespace

std::unique_ptr<PgActuator> MakePgActuator(const PgActuatorConfig& cfg,
                                           const PgConnector& connector, Logger& log) {
  return std::make_unique<LibpqActuator>(cfg, connector, log);
}

Result<std::string> SourceConninfo(const std::string& base, const HostPort& primary,
                                   bool with_password) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(base.c_str(), &err);
  if (!opts) {
    std::string why = err ? OneLine(err, std::nullopt) : "out of memory";
    PQfreemem(err);
    return Status::Error("cannot parse the conninfo for the new primary: " + why);
  }
  std::string out;
  for (PQconninfoOption* o = opts; o->keyword; ++o) {
    std::string k = o->keyword;
    if (!o->val || !*o->val || k == "host" || k == "hostaddr" || k == "port") continue;
    if (k == "password" && !with_password) continue;
    out += k + "=" + Quoted(o->val) + " ";
  }
  PQconninfoFree(opts);
  return out + "host=" + Quoted(primary.host) + " port=" + std::to_string(primary.port);
}

}  // namespace kw
