#include "agent/failover/pg_actuator.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "agent/net.h"

namespace kw {
namespace {

class LibpqActuator final : public PgActuator {
 public:
  LibpqActuator(PgActuatorConfig cfg, std::unique_ptr<PgConnection> conn)
      : cfg_(std::move(cfg)), conn_(std::move(conn)) {}

  Status Promote(TimePoint deadline) override {
    if (!cfg_.promote_command.empty()) return RunShell(cfg_.promote_command, deadline);
    int wait =
        static_cast<int>(std::max<long long>(1, ToMillis(deadline - SteadyClock::now()) / 1000));
    PgReply r = conn_->QueryRow("SELECT pg_promote(true, " + std::to_string(wait) + ") AS promoted",
                                deadline);
    if (!r.ok()) return Status::Error("pg_promote: " + r.message);
    if (r.row["promoted"] != "t")
      return Status::Error("pg_promote: not promoted within " + std::to_string(wait) + "s");
    return Status::Ok();
  }

  Status Fence(TimePoint deadline) override {
    switch (cfg_.fence) {
      case FenceMode::kNone:
        return Status::Ok();
      case FenceMode::kCommand:
        return RunShell(cfg_.fence_command, deadline);
      case FenceMode::kStop:
        return Status::Error(
            "fence = stop is not available yet: use fence = command with a stop command");
      case FenceMode::kReadonly:
        break;
    }
    Status s = SetReadOnly(true, deadline);
    if (!s.ok()) return s;
    PgReply t = conn_->QueryRow(
        "SELECT count(pg_terminate_backend(pid)) AS terminated FROM pg_stat_activity "
        "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
        deadline);
    if (!t.ok()) return Status::Error("terminating client sessions: " + t.message);
    return Status::Ok();
  }

  Status Unfence(TimePoint deadline) override {
    if (cfg_.fence != FenceMode::kReadonly) return Status::Ok();
    return SetReadOnly(false, deadline);
  }

  Status Rejoin(const HostPort&, TimePoint) override {
    return Status::Error("rejoin is not built yet");
  }

  Result<uint64_t> WalLsn(TimePoint deadline) override {
    PgReply r = conn_->QueryRow("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn AS lsn", deadline);
    if (!r.ok()) return Status::Error("pg_current_wal_lsn: " + r.message);
    auto v = ParseInt(r.row["lsn"], 0, INT64_MAX);
    if (!v.ok()) return Status::Error("pg_current_wal_lsn: " + v.status().message());
    return static_cast<uint64_t>(*v);
  }

 private:
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
  std::unique_ptr<PgConnection> conn_;
};

}  // namespace

std::unique_ptr<PgActuator> MakePgActuator(const PgActuatorConfig& cfg,
                                           const PgConnector& connector) {
  return std::make_unique<LibpqActuator>(cfg, connector.Make(cfg.conninfo));
}

Status RunShell(const std::string& command, TimePoint deadline) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return ErrnoStatus("pipe", errno);
  Fd read_end(out[0]);
  pid_t pid = fork();
  if (pid < 0) {
    close(out[1]);
    return ErrnoStatus("fork", errno);
  }
  if (pid == 0) {
    setpgid(0, 0);
    dup2(out[1], 1);
    dup2(out[1], 2);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::string output;
  char buf[4096];
  bool timed_out = false;
  for (;;) {
    Status w = WaitFd(read_end.get(), POLLIN, deadline);
    if (!w.ok()) {
      timed_out = true;
      break;
    }
    ssize_t n = read(read_end.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the command (and everything it started) closed the pipe
    output.append(buf, static_cast<size_t>(n));
    if (output.size() > 65536) output.erase(0, output.size() - 4096);
  }
  if (timed_out) kill(-pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
  std::string last =
      output.substr(output.rfind('\n') == std::string::npos ? 0 : output.rfind('\n') + 1);
  std::string said = last.empty() ? "" : " (" + last + ")";
  if (timed_out) return Status::Error("'" + command + "' did not finish in time; killed" + said);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  if (WIFEXITED(status))
    return Status::Error("'" + command + "' exited with " + std::to_string(WEXITSTATUS(status)) +
                         said);
  return Status::Error("'" + command + "' killed by signal " + std::to_string(WTERMSIG(status)) +
                       said);
}

}  // namespace kw
