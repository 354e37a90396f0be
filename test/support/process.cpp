#include "test/support/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/net.h"

namespace kw::test {

std::string BuildDir() {
  return std::filesystem::read_symlink("/proc/self/exe").parent_path().string();
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/kwtest.XXXXXX";
  path_ = mkdtemp(tmpl);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Write(const std::string& name, const std::string& content) const {
  std::string p = path_ + "/" + name;
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

Process::Process(const std::vector<std::string>& argv,
                 const std::map<std::string, std::string>& env, const std::string& log_path)
    : log_path_(log_path) {
  if (log_path_.empty()) {
    char tmpl[] = "/tmp/kwproc.XXXXXX";
    int fd = mkstemp(tmpl);
    close(fd);
    log_path_ = tmpl;
    own_log_ = true;
  }
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(log_path_.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
}

Process::~Process() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
  }
  if (own_log_) unlink(log_path_.c_str());
}

void Process::Signal(int sig) const {
  if (pid_ > 0 && !reaped_) kill(pid_, sig);
}

int Process::Wait(Duration limit) {
  if (reaped_) return status_;
  bool done = WaitFor([&] { return waitpid(pid_, &status_, WNOHANG) == pid_; }, limit);
  if (!done) return -1;
  reaped_ = true;
  return status_;
}

bool Process::Running() {
  if (reaped_) return false;
  if (waitpid(pid_, &status_, WNOHANG) == pid_) {
    reaped_ = true;
    return false;
  }
  return true;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string Process::Log() const { return ReadFile(log_path_); }

int RunCommand(const std::vector<std::string>& argv, std::string* out, Duration limit) {
  Process p(argv);
  int st = p.Wait(limit);
  if (out) *out = p.Log();
  if (st == -1) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

uint16_t FreePort() {
  HostPort bound;
  auto fd = ListenTcp(HostPort{"127.0.0.1", 0}, &bound);
  return fd.ok() ? bound.port : 0;
}

}  // namespace kw::test
