#include "test/support/pg_cluster.h"

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace kw::test {

const char kKeepwatchPassword[] = "kw-Test-s3cret-7781";

namespace {

std::string PgBin(const std::string& tool) {
  const char* dir = std::getenv("KW_PG_BIN");
  return std::string(dir && *dir ? dir : "/usr/lib/postgresql/15/bin") + "/" + tool;
}

// argv run as the postgres user: through runuser when we are root.
std::vector<std::string> AsPostgres(std::vector<std::string> argv) {
  if (geteuid() != 0) return argv;
  std::vector<std::string> out = {"runuser", "-u", "postgres", "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

struct CommandResult {
  int exit_code = -1;  // -1 on timeout
  std::string output;
};

CommandResult Run(const std::vector<std::string>& argv, Duration timeout) {
  CommandResult r;
  r.exit_code = RunCommand(argv, &r.output, timeout);
  return r;
}

Status Check(const CommandResult& r, const std::string& what) {
  if (r.exit_code == 0) return Status::Ok();
  return Status::Error(
      what +
      (r.exit_code < 0 ? " timed out" : " failed (exit " + std::to_string(r.exit_code) + ")") +
      ": " + r.output);
}

Status AppendFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::app);
  f << text;
  f.close();
  if (!f) return Status::Error("cannot write " + path);
  return Status::Ok();
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

Status ChownPostgres(const std::string& path) {
  if (geteuid() != 0) return Status::Ok();
  passwd* pw = getpwnam("postgres");
  if (!pw) return Status::Error("no postgres user");
  if (chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) return ErrnoStatus("chown " + path, errno);
  return Status::Ok();
}

// The parent pid of a process, from /proc/PID/stat (the field after the ")").
pid_t ParentOf(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 1));
  std::string state;
  long ppid = 0;
  rest >> state >> ppid;
  return static_cast<pid_t>(ppid);
}

// The sentinel: waits for EOF on its stdin (the test process died or finished), then
// stops every server under `dir` by its postmaster.pid and removes the directory.
const char kSentinelScript[] = R"SH(
dir=$1
read -r _ || true
for pidfile in "$dir"/*/data/postmaster.pid; do
  [ -f "$pidfile" ] || continue
  pid=$(head -n 1 "$pidfile")
  [ -n "$pid" ] || continue
  kids=$(ps -o pid= --ppid "$pid")
  kill -CONT $pid $kids 2>/dev/null
  kill -QUIT "$pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL $pid $kids 2>/dev/null
done
rm -rf "$dir"
)SH";

}  // namespace

Result<std::string> SqlAt(int port, const std::string& sql, Duration timeout) {
  CommandResult r = Run({"psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                         std::to_string(port), "-U", "postgres", "-d", "postgres", "-c", sql},
                        timeout);
  if (r.exit_code != 0) return Check(r, "psql on port " + std::to_string(port) + " (" + sql + ")");
  return Trimmed(r.output);
}

// ---- PgServer ----

Status PgServer::Start() {
  CommandResult r = Run(
      AsPostgres({PgBin("pg_ctl"), "-D", data_dir(), "-l", log_file(), "-w", "-t", "60", "start"}),
      seconds(70));
  return Check(r, "pg_ctl start " + name_);
}

Status PgServer::Stop(const std::string& mode) {
  CommandResult r =
      Run(AsPostgres({PgBin("pg_ctl"), "-D", data_dir(), "-m", mode, "-w", "-t", "60", "stop"}),
          seconds(70));
  return Check(r, "pg_ctl stop " + name_);
}

Status PgServer::RequestStop(const std::string& mode) {
  CommandResult r =
      Run(AsPostgres({PgBin("pg_ctl"), "-D", data_dir(), "-m", mode, "-W", "stop"}), seconds(20));
  return Check(r, "pg_ctl stop -W " + name_);
}

pid_t PgServer::PostmasterPid() const {
  std::ifstream f(data_dir() + "/postmaster.pid");
  long pid = 0;
  if (!(f >> pid) || pid <= 0) return 0;
  if (kill(static_cast<pid_t>(pid), 0) != 0) return 0;
  return static_cast<pid_t>(pid);
}

std::vector<pid_t> PgServer::Processes() const {
  std::vector<pid_t> out;
  pid_t pm = PostmasterPid();
  if (pm == 0) return out;
  out.push_back(pm);
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid > 0 && *end == '\0' && ParentOf(static_cast<pid_t>(pid)) == pm)
      out.push_back(static_cast<pid_t>(pid));
  }
  closedir(d);
  return out;
}

Status PgServer::Kill() {
  std::vector<pid_t> pids = Processes();
  for (pid_t p : pids) kill(p, SIGKILL);
  bool gone = WaitFor(
      [&] {
        for (pid_t p : pids)
          if (kill(p, 0) == 0) return false;
        return true;
      },
      seconds(20));
  return gone ? Status::Ok() : Status::Error(name_ + ": processes survive SIGKILL");
}

void PgServer::Freeze() {
  pid_t pm = PostmasterPid();
  if (pm) kill(pm, SIGSTOP);  // first, so it forks no new unfrozen child
  for (pid_t p : Processes()) kill(p, SIGSTOP);
}

void PgServer::Thaw() {
  for (pid_t p : Processes()) kill(p, SIGCONT);
}

Result<std::string> PgServer::Sql(const std::string& sql, Duration timeout) const {
  return SqlAt(port_, sql, timeout);
}

std::string PgServer::Log() const {
  std::ifstream f(log_file());
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::string PgServer::passfile() const { return dir_ + "/../pgpass"; }

std::string PgServer::Conninfo() const {
  return "host=127.0.0.1 port=" + std::to_string(port_) +
         " user=keepwatch dbname=postgres passfile=" + passfile();
}

std::string PgServer::ConninfoWithPassword(const std::string& password) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) +
         " user=keepwatch dbname=postgres passfile=/nonexistent password=" + password;
}

// ---- PgCluster ----

Result<std::unique_ptr<PgCluster>> PgCluster::Start(const Options& options) {
  std::unique_ptr<PgCluster> c(new PgCluster());
  Status s = c->Init(options);
  if (!s.ok()) return s;  // the destructor tears down what was started
  return c;
}

Status PgCluster::Init(const Options& options) {
  char tmpl[] = "/tmp/kw-pg-XXXXXX";
  if (!mkdtemp(tmpl)) return ErrnoStatus("mkdtemp", errno);
  dir_ = tmpl;
  chmod(dir_.c_str(), 0755);

  // The sentinel, started before any server so nothing can outlive a crashed test.
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe", errno);
  sentinel_pid_ = fork();
  if (sentinel_pid_ == 0) {
    setsid();
    dup2(fds[0], 0);  // dup2 clears O_CLOEXEC on the copy
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl("/bin/bash", "bash", "-c", kSentinelScript, "sentinel", dir_.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[0]);
  sentinel_fd_ = fds[1];
  if (sentinel_pid_ < 0) return ErrnoStatus("fork", errno);

  std::string pass_path = dir_ + "/pgpass";
  {
    std::ofstream f(pass_path);
    f << "127.0.0.1:*:*:keepwatch:" << kKeepwatchPassword << "\n";
  }
  chmod(pass_path.c_str(), 0600);

  std::string pdir = dir_ + "/primary";
  mkdir(pdir.c_str(), 0755);
  if (Status s = ChownPostgres(pdir); !s.ok()) return s;
  primary_ = std::make_unique<PgServer>("primary", pdir, FreePort());
  CommandResult r = Run(AsPostgres({PgBin("initdb"), "-N", "-A", "trust", "-U", "postgres", "-D",
                                    primary_->data_dir()}),
                        seconds(120));
  if (Status s = Check(r, "initdb"); !s.ok()) return s;

  std::string conf =
      "\n# keepwatch test cluster\n"
      "listen_addresses = '127.0.0.1'\n"
      "port = " +
      std::to_string(primary_->port()) +
      "\n"
      "unix_socket_directories = ''\n"
      "fsync = off\nfull_page_writes = off\n"
      "shared_buffers = 16MB\nmax_connections = 30\n"
      "wal_level = replica\nmax_wal_senders = 5\nwal_keep_size = 256MB\n"
      "hot_standby = on\nwal_receiver_status_interval = 1s\n"
      "cluster_name = 'primary'\n"
      "log_line_prefix = '%m [%p] %q%a '\n";
  for (const std::string& line : options.extra_settings) conf += line + "\n";
  if (Status s = AppendFile(primary_->data_dir() + "/postgresql.conf", conf); !s.ok()) return s;
  // pg_hba.conf is read top to bottom: keepwatch must give its password, the test's
  // superuser and replication connections are trusted (loopback only).
  std::string hba =
      "host all keepwatch 127.0.0.1/32 scram-sha-256\n"
      "host all all 127.0.0.1/32 trust\n"
      "host replication all 127.0.0.1/32 trust\n";
  {
    std::ofstream f(primary_->data_dir() + "/pg_hba.conf", std::ios::trunc);
    f << hba;
  }
  if (Status s = primary_->Start(); !s.ok()) return s;
  auto made = primary_->Sql(std::string("SET password_encryption = 'scram-sha-256'; "
                                        "CREATE ROLE keepwatch LOGIN PASSWORD '") +
                            kKeepwatchPassword + "' IN ROLE pg_monitor;");
  if (!made.ok()) return made.status();

  if (!options.replica) return Status::Ok();
  std::string rdir = dir_ + "/replica";
  mkdir(rdir.c_str(), 0755);
  if (Status s = ChownPostgres(rdir); !s.ok()) return s;
  replica_ = std::make_unique<PgServer>("replica", rdir, FreePort());
  r = Run(AsPostgres({PgBin("pg_basebackup"), "-h", "127.0.0.1", "-p",
                      std::to_string(primary_->port()), "-U", "postgres", "-D",
                      replica_->data_dir(), "-R", "-X", "stream", "-c", "fast"}),
          seconds(120));
  if (Status s = Check(r, "pg_basebackup"); !s.ok()) return s;
  if (Status s =
          AppendFile(replica_->data_dir() + "/postgresql.conf",
                     "port = " + std::to_string(replica_->port()) + "\ncluster_name = 'replica'\n");
      !s.ok())
    return s;
  if (Status s = replica_->Start(); !s.ok()) return s;
  return WaitReplicaCaughtUp();
}

Status PgCluster::WaitReplicaCaughtUp(Duration timeout) {
  TimePoint deadline = SteadyClock::now() + timeout;
  std::string last;
  while (SteadyClock::now() < deadline) {
    auto target = primary_->Sql("SELECT pg_current_wal_lsn()");
    if (!target.ok()) return target.status();
    auto got = replica_->Sql(
        "SELECT (SELECT status FROM pg_stat_wal_receiver) = 'streaming' AND "
        "pg_last_wal_replay_lsn() >= '" +
        *target + "'::pg_lsn");
    if (got.ok() && *got == "t") return Status::Ok();
    last = got.ok() ? *got : got.status().message();
    std::this_thread::sleep_for(milliseconds(50));
  }
  return Status::Error("replica did not catch up: " + last);
}

void PgCluster::Teardown() {
  for (PgServer* s : {replica_.get(), primary_.get()}) {
    if (!s || s->PostmasterPid() == 0) continue;
    s->Thaw();  // a frozen server cannot act on the shutdown signal
    if (!s->Stop("immediate").ok()) {
      for (pid_t p : s->Processes()) kill(p, SIGKILL);
    }
  }
  if (!dir_.empty()) Run({"rm", "-rf", dir_}, seconds(60));
  if (sentinel_fd_ >= 0) close(sentinel_fd_);  // the sentinel finds nothing left and exits
  sentinel_fd_ = -1;
  if (sentinel_pid_ > 0) waitpid(sentinel_pid_, nullptr, 0);
  sentinel_pid_ = 0;
}

PgCluster::~PgCluster() { Teardown(); }

}  // namespace kw::test
