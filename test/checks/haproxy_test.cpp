#include "checks/haproxy.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "checks/sysfs.h"
#include "test/checks/loopback_server.h"
#include "test/checks/node_test_util.h"

using namespace kw;
using kw::testing::BuildOne;
using kw::testing::FixturePath;
using kw::testing::In;
using kw::testing::LabelOf;
using kw::testing::LoopbackServer;

TEST_CASE("haproxy: show info / show stat parse by header name") {
  auto text = ReadSmallFile(FixturePath("haproxy/show_info_stat.txt"));
  REQUIRE(text.ok());
  std::string_view stat = HaproxyStatPart(*text);
  auto info = ParseHaproxyInfo(std::string_view(*text).substr(0, text->size() - stat.size()));
  CHECK(info["Version"] == "2.6.12-1+deb12u4");
  CHECK(info["Stopping"] == "0");
  CHECK(info["node"] == "lb1");
  auto st = HaproxyStats::Parse(stat);
  REQUIRE(st.ok());
  CHECK(st->rows() == 8);
  long rw = st->Find("postgres_rw", "BACKEND");
  REQUIRE(rw >= 0);
  CHECK(st->Field(rw, "act") == "1");
  CHECK(st->Field(rw, "type") == "1");
  long ro = st->Find("postgres_ro", "BACKEND");
  CHECK(st->Field(ro, "act") == "0");
  CHECK(st->Field(ro, "bck") == "1");
  CHECK(st->Field(st->Find("postgres_rw", "postgresql2"), "status") == "DOWN");
  CHECK(st->Field(rw, "no_such_column") == "");
  CHECK(st->Find("postgres_rw", "nobody") == -1);
  CHECK_FALSE(HaproxyStats::Parse("pxname,svname\nx,y\n").ok());
  CHECK_FALSE(HaproxyStats::Parse("# pxname,svname,status\n").ok());  // no act/bck
}

namespace {

// A real haproxy (the Debian package) in the foreground with its own configuration and
// stats socket in a temporary directory; stopped and cleaned up by the destructor.
class Haproxy {
 public:
  explicit Haproxy(const std::string& backends_cfg) {
    char tmpl[] = "/tmp/kw-haproxy-XXXXXX";
    dir_ = mkdtemp(tmpl) ? tmpl : "";
    socket_ = dir_ + "/admin.sock";
    std::ofstream(dir_ + "/haproxy.cfg")
        << "global\n  stats socket " << socket_ << " mode 600 level admin\n"
        << "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n"
        << "  timeout server 5s\n"
        << backends_cfg;
    // Everything the child needs is prepared before fork(): other threads (the test's
    // servers) may hold the allocator's lock, so the child only makes system calls.
    std::string log_path = dir_ + "/haproxy.log", cfg_path = dir_ + "/haproxy.cfg";
    pid_ = fork();
    if (pid_ == 0) {
      int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(log, 1);
      dup2(log, 2);
      execlp("haproxy", "haproxy", "-db", "-f", cfg_path.c_str(), nullptr);
      _exit(127);
    }
  }
  ~Haproxy() {
    Stop();
    std::filesystem::remove_all(dir_);
  }
  // Waits (bounded) until the stats socket accepts connections.
  bool WaitReady() {
    for (int i = 0; i < 100; ++i) {
      auto fd = ConnectUnix(socket_, In(milliseconds(100)));
      if (fd.ok()) return true;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return false;
  }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  const std::string& socket() const { return socket_; }

 private:
  std::string dir_;
  std::string socket_;
  pid_t pid_ = -1;
};

// Runs the check until `pred` holds (bounded: haproxy's checks run every 100 ms).
template <class P>
CheckResult RunUntil(Check& check, P pred) {
  CheckResult r;
  for (int i = 0; i < 50; ++i) {
    r = check.Run(In(seconds(1)));
    if (pred(r)) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  return r;
}

}  // namespace

TEST_CASE("haproxy: a real haproxy follows its servers going down, then itself") {
  LoopbackServer pg1([](const std::string&) { return std::string(); });
  LoopbackServer pg2([](const std::string&) { return std::string(); });
  REQUIRE(pg1.ok());
  REQUIRE(pg2.ok());
  Haproxy haproxy(
      "backend postgres_rw\n"
      "  server postgresql1 " +
      pg1.address().ToString() +
      " check inter 100ms fall 1 rise 1\n"
      "  server postgresql2 " +
      pg2.address().ToString() + " check inter 100ms fall 1 rise 1\n");
  REQUIRE(haproxy.WaitReady());
  std::string errors;
  auto check = BuildOne("[check.haproxy]\ntype = haproxy\nsocket = " + haproxy.socket() +
                            "\nbackends = postgres_rw\n",
                        "/", &errors);
  REQUIRE_MESSAGE(check, errors);

  CheckResult both = RunUntil(*check, [](const CheckResult& r) {
    return LabelOf(r, "backend.postgres_rw") == "UP 2/2 active, 0 backup";
  });
  CHECK(both.outcome == Outcome::kPass);
  CHECK(LabelOf(both, "backend.postgres_rw") == "UP 2/2 active, 0 backup");
  CHECK(both.detail.find("postgres_rw UP 2/2 active") != std::string::npos);
  CHECK(LabelOf(both, "version").rfind("2.", 0) == 0);

  pg2.Stop();
  CheckResult one = RunUntil(*check, [](const CheckResult& r) {
    const double* act = r.FindValue("backend.postgres_rw.active");
    return act && *act == 1;
  });
  CHECK(one.outcome == Outcome::kPass);
  CHECK(LabelOf(one, "backend.postgres_rw") == "UP 1/2 active, 0 backup");

  pg1.Stop();
  CheckResult none =
      RunUntil(*check, [](const CheckResult& r) { return r.outcome != Outcome::kPass; });
  CHECK(none.outcome == Outcome::kFail);
  CHECK(LabelOf(none, "reason") == "backend_down");
  CHECK(none.detail == "backend postgres_rw has no active server up (DOWN 0/2 active, 0 backup)");

  haproxy.Stop();
  CheckResult gone = check->Run(In(seconds(1)));
  CHECK(gone.outcome == Outcome::kFail);
  CHECK(LabelOf(gone, "reason") == "down");
  CHECK(gone.detail.find("haproxy stats socket: connect " + haproxy.socket()) == 0);
}

TEST_CASE("haproxy: running on backup only, and a backend that does not exist, fail") {
  LoopbackServer backup([](const std::string&) { return std::string(); });
  Haproxy haproxy(
      "backend postgres_ro\n"
      "  server postgresql1 127.0.0.1:1 check inter 100ms fall 1 rise 1\n"
      "  server postgresql2 " +
      backup.address().ToString() + " check inter 100ms fall 1 rise 1 backup\n");
  REQUIRE(haproxy.WaitReady());
  auto check = BuildOne(
      "[check.h]\ntype = haproxy\nsocket = " + haproxy.socket() + "\nbackends = postgres_ro\n",
      "/");
  REQUIRE(check);
  CheckResult r = RunUntil(*check, [](const CheckResult& r) {
    return LabelOf(r, "backend.postgres_ro") == "UP 0/2 active, 1 backup";
  });
  CHECK(r.outcome == Outcome::kFail);
  CHECK(LabelOf(r, "reason") == "backend_down");

  auto missing = BuildOne("[check.h]\ntype = haproxy\nsocket = " + haproxy.socket() +
                              "\nbackends = postgres_ro, nosuch\n",
                          "/");
  REQUIRE(missing);
  CheckResult m = missing->Run(In(seconds(1)));
  CHECK(m.outcome == Outcome::kFail);
  CHECK(LabelOf(m, "reason") == "backend_down");  // the first failure is reported
  auto only_missing = BuildOne(
      "[check.h]\ntype = haproxy\nsocket = " + haproxy.socket() + "\nbackends = nosuch\n", "/");
  CheckResult nm = only_missing->Run(In(seconds(1)));
  CHECK(LabelOf(nm, "reason") == "no_backend");
  CHECK(nm.detail == "backend nosuch does not exist in haproxy");
  // Without backends only "alive" is judged.
  auto alive = BuildOne("[check.h]\ntype = haproxy\nsocket = " + haproxy.socket() + "\n", "/");
  CHECK(alive->Run(In(seconds(1))).outcome == Outcome::kPass);
}

TEST_CASE("haproxy: a socket that answers nothing useful is an error, a silent one a timeout") {
  char tmpl[] = "/tmp/kw-hasock-XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  std::string path = std::string(tmpl) + "/s.sock";
  Fd l(socket(AF_UNIX, SOCK_STREAM, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  REQUIRE(bind(l.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(listen(l.get(), 4) == 0);
  auto check = BuildOne("[check.h]\ntype = haproxy\nsocket = " + path + "\n", "/");
  REQUIRE(check);
  // Nobody accepts: the connection sits in the backlog and the read times out.
  TimePoint start = SteadyClock::now();
  CheckResult silent = check->Run(In(milliseconds(200)));
  CHECK(SteadyClock::now() - start < milliseconds(500));
  CHECK(silent.outcome == Outcome::kTimeout);
  std::thread peer([&] {
    Fd c(accept(l.get(), nullptr, nullptr));
    char buf[256];
    (void)!read(c.get(), buf, sizeof buf);
    (void)!write(c.get(), "Unknown command.\n", 17);
  });
  // The backlog still holds the first connection: accept that one, then answer the next.
  peer.join();
  std::thread peer2([&] {
    Fd c(accept(l.get(), nullptr, nullptr));
    char buf[256];
    (void)!read(c.get(), buf, sizeof buf);
    (void)!write(c.get(), "Unknown command.\n", 17);
  });
  CheckResult junk = check->Run(In(seconds(1)));
  peer2.join();
  CHECK(junk.outcome == Outcome::kError);
  CHECK(LabelOf(junk, "reason") == "bad_response");
  std::filesystem::remove_all(tmpl);
}
