// A real PostgreSQL 15 primary and (optionally) a streaming replica for tests.
//
// PgCluster::Start() makes a temporary directory, runs initdb, starts the primary on a
// free 127.0.0.1 port, and for a replica runs pg_basebackup -R and starts it too.  The
// servers run as the unprivileged `postgres` user (through runuser when the tests run as
// root).  Settings favour speed (fsync=off) — never use this for data.
//
// Teardown: the destructor stops every server (immediate) and removes the directory.  A
// sentinel process (its own session, so Ctrl-C does not reach it) holds a pipe to the test
// process and does the same if the test process dies without running destructors.
//
// Roles: `postgres` (superuser, trust over TCP from 127.0.0.1) for the test's own psql,
// `keepwatch` (pg_monitor, scram password, read through a passfile) for the check.
// Not thread-safe.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "agent/clock.h"
#include "agent/status.h"
#include "test/support/process.h"

namespace kw::test {

extern const char kKeepwatchPassword[];

// Runs SQL through psql as postgres on 127.0.0.1:port (a server or a proxy in front of
// one); returns the trimmed -At output or the error.
Result<std::string> SqlAt(int port, const std::string& sql, Duration timeout = seconds(20));

class PgServer {
 public:
  PgServer(std::string name, std::string dir, int port)
      : name_(std::move(name)), dir_(std::move(dir)), port_(port) {}
  const std::string& name() const { return name_; }
  int port() const { return port_; }
  std::string data_dir() const { return dir_ + "/data"; }
  std::string log_file() const { return dir_ + "/log"; }
  std::string Log() const;  // the server log so far

  Status Start();                               // pg_ctl start -w
  Status Stop(const std::string& mode);         // "fast" or "immediate"
  Status RequestStop(const std::string& mode);  // the same without waiting (pg_ctl -W)
  pid_t PostmasterPid() const;                  // 0 when not running
  std::vector<pid_t> Processes() const;         // postmaster and its children
  // SIGKILL postmaster and children (a crash: no shutdown checkpoint) and waits, bounded,
  // until they are gone, reaped too (their parent is init, which may reap late; until
  // then pg_ctl takes the zombie postmaster for a running server).
  Status Kill();
  void Freeze();  // SIGSTOP postmaster and children
  void Thaw();    // SIGCONT them
  // Runs SQL through psql as postgres; returns trimmed -At output or the error.
  Result<std::string> Sql(const std::string& sql, Duration timeout = seconds(20)) const;
  // The check's conninfo: keepwatch user, password read from the cluster's passfile.
  std::string Conninfo() const;
  std::string ConninfoWithPassword(const std::string& password) const;
  std::string passfile() const;

 private:
  std::string name_;
  std::string dir_;  // holds data/, log
  int port_;
};

class PgCluster {
 public:
  struct Options {
    bool replica = true;
    std::vector<std::string> extra_settings;  // lines appended to postgresql.conf
  };
  // Starts the servers; on failure everything started is torn down again.
  static Result<std::unique_ptr<PgCluster>> Start(const Options& options);
  static Result<std::unique_ptr<PgCluster>> Start() { return Start(Options{}); }
  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  PgServer& primary() { return *primary_; }
  PgServer& replica() { return *replica_; }  // only with Options::replica
  bool has_replica() const { return replica_ != nullptr; }
  const std::string& dir() const { return dir_; }
  // Waits (bounded) until the replica's WAL receiver streams and has replayed the
  // primary's current position.
  Status WaitReplicaCaughtUp(Duration timeout = seconds(20));

 private:
  PgCluster() = default;
  Status Init(const Options& options);
  void Teardown();

  std::string dir_;
  int sentinel_fd_ = -1;  // write end of the sentinel's pipe
  pid_t sentinel_pid_ = 0;
  std::unique_ptr<PgServer> primary_;
  std::unique_ptr<PgServer> replica_;
};

}  // namespace kw::test
