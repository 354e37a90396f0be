#include "agent/failover/program.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "agent/net.h"

extern char** environ;

namespace kw {
namespace {

constexpr int kTailLines = 3;

// The agent's environment with `extra` ("NAME=value") replacing same-named entries.
std::vector<std::string> MergedEnv(const std::vector<std::string>& extra) {
  std::vector<std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    bool replaced = false;
    for (const std::string& x : extra)
      replaced = replaced || entry.substr(0, entry.find('=') + 1) == x.substr(0, x.find('=') + 1);
    if (!replaced) out.emplace_back(entry);
  }
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (std::string& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// The last few non-empty lines of `output`, joined with " / ".
std::string Tail(const std::string& output) {
  std::vector<std::string> lines;
  size_t end = output.size();
  while (end > 0 && lines.size() < kTailLines) {
    size_t start = output.rfind('\n', end - 1);
    start = start == std::string::npos ? 0 : start + 1;
    std::string line = output.substr(start, end - start);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
    size_t first = line.find_first_not_of(" \t");
    if (first != std::string::npos) lines.insert(lines.begin(), line.substr(first));
    end = start == 0 ? 0 : start - 1;
  }
  std::string out;
  for (const std::string& l : lines) out += (out.empty() ? "" : " / ") + l;
  return out;
}

// In the child, after fork: only async-signal-safe calls, then exec or _exit.
[[noreturn]] void Child(const Program& p, int out, int devnull, char** argv, char** envp,
                        const std::string& cannot_exec) {
  setpgid(0, 0);
  dup2(devnull, 0);
  dup2(out, 1);
  dup2(out, 2);
  auto fail = [](const char* what) {
    (void)!write(2, what, strlen(what));
    _exit(126);
  };
  if (p.run_as) {
    const RunAs& u = *p.run_as;
    if (setgroups(u.groups.size(), u.groups.data()) != 0) fail("setgroups failed\n");
    if (setgid(u.gid) != 0) fail("setgid failed\n");
    if (setuid(u.uid) != 0) fail("setuid failed\n");
  }
  if (!p.dir.empty() && chdir(p.dir.c_str()) != 0) fail("cannot change to the working directory\n");
  execve(argv[0], argv, envp);
  (void)!write(2, cannot_exec.data(), cannot_exec.size());
  _exit(127);
}

}  // namespace

Result<RunAs> RunAsOwnerOf(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return ErrnoStatus(path, errno);
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  int err = getpwuid_r(st.st_uid, &pw, buf.data(), buf.size(), &found);
  if (!found)
    return Status::Error(path + " is owned by uid " + std::to_string(st.st_uid) +
                         ", which has no passwd entry" +
                         (err ? std::string(": ") + std::strerror(err) : ""));
  RunAs u;
  u.uid = pw.pw_uid;
  u.gid = pw.pw_gid;
  u.home = pw.pw_dir ? pw.pw_dir : "/";
  int n = 32;
  for (int tries = 0; tries < 4; ++tries) {
    u.groups.resize(static_cast<size_t>(n));
    int got = n;
    if (getgrouplist(pw.pw_name, pw.pw_gid, u.groups.data(), &got) >= 0) {
      u.groups.resize(static_cast<size_t>(got));
      return u;
    }
    n = got > n ? got : n * 2;
  }
  return Status::Error("too many groups for " + std::string(pw.pw_name));
}

ProgramOutcome RunProgram(const Program& p, TimePoint deadline) {
  ProgramOutcome r;
  std::string label = p.label.empty() ? (p.argv.empty() ? "?" : p.argv[0]) : p.label;
  if (p.argv.empty()) {
    r.status = Status::Error("nothing to run");
    return r;
  }
  // Everything the child needs is made here: after fork() it may not allocate.
  std::vector<std::string> args = p.argv;
  std::vector<std::string> env = p.env;
  if (p.run_as) env.push_back("HOME=" + p.run_as->home);
  env = MergedEnv(env);
  std::vector<char*> argv = CStrings(args);
  std::vector<char*> envp = CStrings(env);
  std::string cannot_exec = "cannot execute " + p.argv[0] + "\n";
  Fd devnull(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devnull.valid()) {
    r.status = ErrnoStatus("/dev/null", errno);
    return r;
  }
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    r.status = ErrnoStatus("pipe", errno);
    return r;
  }
  Fd read_end(out[0]);
  pid_t pid = fork();
  if (pid < 0) {
    close(out[1]);
    r.status = ErrnoStatus("fork", errno);
    return r;
  }
  if (pid == 0) Child(p, out[1], devnull.get(), argv.data(), envp.data(), cannot_exec);
  close(out[1]);
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
    if (n <= 0) break;  // the program (and everything it started) closed the pipe
    r.output.append(buf, static_cast<size_t>(n));
    if (r.output.size() > 131072) r.output.erase(0, r.output.size() - 65536);
  }
  if (timed_out) kill(-pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::string tail = Tail(r.output);
  std::string said = tail.empty() ? "" : " (" + tail + ")";
  if (timed_out) {
    r.status = Status::Error(label + " did not finish in time; killed" + said);
  } else if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
    if (r.exit_code != 0)
      r.status = Status::Error(label + " exited with " + std::to_string(r.exit_code) + said);
  } else {
    r.status =
        Status::Error(label + " killed by signal " + std::to_string(WTERMSIG(status)) + said);
  }
  return r;
}

Status RunShell(const std::string& command, TimePoint deadline,
                const std::vector<std::string>& env) {
  Program p;
  p.argv = {"/bin/sh", "-c", command};
  p.label = "'" + command + "'";
  p.env = env;
  return RunProgram(p, deadline).status;
}

}  // namespace kw
