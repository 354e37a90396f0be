// The real keepwatchd over real TCP: HAProxy's exact check request, methods, a check that
// hangs, the connection limits, --check-config, SIGTERM, and sd_notify messages on a test
// NOTIFY_SOCKET.
#include <arpa/inet.h>
#include <dirent.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "agent/net.h"
#include "test/support/agent.h"

using namespace kw;
using namespace kw::test;

namespace {

// Sends raw bytes to the agent and returns everything it answers until it closes.
std::string Raw(uint16_t port, const std::string& bytes) {
  TimePoint deadline = SteadyClock::now() + seconds(3);
  auto fd = ConnectTcp(HostPort{"127.0.0.1", port}, deadline);
  if (!fd.ok()) return "";
  if (!SendAll(fd->get(), bytes, deadline).ok()) return "";
  auto out = ReadToEof(fd->get(), 1 << 20, deadline);
  return out.ok() ? *out : "";
}

// A TCP server that accepts connections and never answers: HTTP probes against it hang
// until their deadline.
class SilentServer {
 public:
  SilentServer() {
    auto fd = ListenTcp(HostPort{"127.0.0.1", 0}, &bound_);
    REQUIRE(fd.ok());
    fd_ = std::move(fd.value());
  }
  uint16_t port() const { return bound_.port; }

 private:
  HostPort bound_;
  Fd fd_;
};

// Threads of pid whose name (comm) is `name`.
int ThreadsNamed(pid_t pid, const std::string& name) {
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  int n = 0;
  DIR* d = opendir(dir.c_str());
  if (!d) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(dir + "/" + e->d_name + "/comm");
    std::string comm;
    std::getline(f, comm);
    n += comm == name;
  }
  closedir(d);
  return n;
}

// A blocking TCP connection to the agent from `source`, a local address: every 127/8
// address is loopback, so a test can be several clients.  Invalid when it fails.
Fd ConnectFrom(const std::string& source, uint16_t port) {
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, source.c_str(), &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) != 0)
    return Fd();
  return fd;
}

// Whether the agent closed (or reset) the connection within `limit`.
bool ClosedWithin(int fd, Duration limit) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(ToMillis(limit))) <= 0) return false;
  char c;
  return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

std::string Checks(uint16_t target_port) {
  return "[check.web]\ntype = http\nurl = http://127.0.0.1:" + std::to_string(target_port) +
         "/liveness\ninterval = 200ms\ntimeout = 150ms\n";
}

}  // namespace

TEST_CASE("HAProxy's exact default check request gets a full answer") {
  Agent a("[check.self]\ntype = tcp\naddress = 127.0.0.1:1\ninterval = 200ms\n");
  REQUIRE(a.WaitStatus("/readiness", 200));
  std::string resp =
      Raw(a.port(), "OPTIONS / HTTP/1.0\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
  // No PostgreSQL check: the primary role answers 503, with a status line and headers.
  CHECK(resp.rfind("HTTP/1.1 503 ", 0) == 0);
  CHECK(resp.find("\r\nContent-Length: 0\r\n") != std::string::npos);
  std::string check = Raw(
      a.port(), "OPTIONS /check/self HTTP/1.0\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
  CHECK(check.rfind("HTTP/1.1 503 ", 0) == 0);  // nothing listens on port 1
  // The other request shape HAProxy users configure.
  std::string get =
      Raw(a.port(), "GET /liveness HTTP/1.1\r\nHost: lb1\r\nConnection: close\r\n\r\n");
  CHECK(get.rfind("HTTP/1.1 200 ", 0) == 0);
  CHECK(get.find("{\"status\":\"ok\"") != std::string::npos);
}

TEST_CASE("methods, unknown paths and garbage over the wire") {
  SilentServer listener;  // accepts TCP: a tcp check against it passes
  Agent a("[check.up]\ntype = tcp\naddress = 127.0.0.1:" + std::to_string(listener.port()) +
          "\ninterval = 200ms\n");
  REQUIRE(a.WaitStatus("/check/up", 200));
  HttpResponse head = a.Call("/check/up", "HEAD");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  HttpResponse opt = a.Call("/check/up", "OPTIONS");
  CHECK(opt.status == 200);
  CHECK(opt.body.empty());
  CHECK(opt.Header("allow") == "GET, HEAD, OPTIONS");
  CHECK(a.Call("/check/up", "POST").status == 405);
  CHECK(a.Call("/check/up", "DELETE").status == 405);
  CHECK(a.Call("/check/none").status == 404);
  CHECK(a.Call("/nothing/here").status == 404);
  // Garbage, an oversized header and a half request: 4xx or a closed socket, never a crash.
  std::string garbage = Raw(a.port(), "\x01\x02 not http at all\r\n\r\n");
  CHECK((garbage.empty() || garbage.rfind("HTTP/1.1 4", 0) == 0));
  std::string huge =
      Raw(a.port(), "GET /status HTTP/1.0\r\nX-Big: " + std::string(100000, 'a') + "\r\n\r\n");
  CHECK((huge.empty() || huge.rfind("HTTP/1.1 4", 0) == 0));
  {
    auto fd = ConnectTcp(HostPort{"127.0.0.1", a.port()}, SteadyClock::now() + seconds(1));
    REQUIRE(fd.ok());
    CHECK(SendAll(fd->get(), "GET /sta", SteadyClock::now() + seconds(1)).ok());
  }  // closed half-way
  CHECK(a.process().Running());
  CHECK(a.Call("/check/up").status == 200);
}

TEST_CASE("a hanging check turns timeout while the agent keeps answering") {
  SilentServer silent;
  Agent a(Checks(silent.port()));
  REQUIRE(a.WaitStatus("/readiness", 200));
  REQUIRE(a.WaitStatus("/check/web", 503));
  auto j = a.Call("/check/web").body;
  CHECK(j.find("\"outcome\":\"timeout\"") != std::string::npos);
  // Ten rounds of the check's interval: every answer comes at once, and the check has
  // exactly one probe thread the whole time.
  for (int i = 0; i < 20; ++i) {
    TimePoint t0 = SteadyClock::now();
    CHECK(a.Call("/liveness").status == 200);
    CHECK(a.Call("/check/web").status == 503);
    CHECK(SteadyClock::now() - t0 < milliseconds(200));
    CHECK(ThreadsNamed(a.process().pid(), "kw:web") == 1);
    std::this_thread::sleep_for(milliseconds(100));
  }
}

TEST_CASE("the per-IP limit and the idle timeout keep one client from starving the others") {
  // One client address holding its whole allowance of idle connections: the next one from
  // it is closed at once (with several HTTP threads too: the count is the daemon's, not a
  // thread's), another address (HAProxy's) is answered at once, and the idle ones are
  // dropped after connection_timeout, after which the address may connect again.
  Agent a("[check.self]\ntype = tcp\naddress = 127.0.0.1:1\ninterval = 200ms\n",
          "max_connections_per_ip = 4\nconnection_timeout = 1s\n");
  REQUIRE(a.WaitStatus("/liveness", 200));
  std::vector<Fd> idle;
  for (int i = 0; i < 4; ++i) {
    idle.push_back(ConnectFrom("127.0.0.2", a.port()));
    REQUIRE(idle.back().valid());
  }
  std::this_thread::sleep_for(milliseconds(300));  // every one accepted by some thread
  for (const Fd& fd : idle) CHECK_FALSE(ClosedWithin(fd.get(), milliseconds(0)));
  Fd over = ConnectFrom("127.0.0.2", a.port());
  REQUIRE(over.valid());  // the kernel completes the handshake; the agent then closes it
  CHECK(ClosedWithin(over.get(), milliseconds(500)));
  TimePoint t0 = SteadyClock::now();
  CHECK(a.Call("/liveness").status == 200);
  CHECK(SteadyClock::now() - t0 < milliseconds(500));
  for (const Fd& fd : idle) CHECK(ClosedWithin(fd.get(), seconds(4)));
  // The count drops when the agent has cleaned the closed connections up, just after
  // closing them: the address gets its allowance back within moments.
  std::string resp;
  for (TimePoint end = SteadyClock::now() + seconds(2); SteadyClock::now() < end;) {
    Fd again = ConnectFrom("127.0.0.2", a.port());
    REQUIRE(again.valid());
    TimePoint deadline = SteadyClock::now() + seconds(1);
    if (SendAll(again.get(), "GET /liveness HTTP/1.0\r\n\r\n", deadline).ok()) {
      auto got = ReadToEof(again.get(), 1 << 16, deadline);
      if (got.ok() && !got->empty()) {
        resp = *got;
        break;
      }
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  CHECK(resp.rfind("HTTP/1.1 200 ", 0) == 0);
}

TEST_CASE("--check-config validates without starting") {
  TempDir dir;
  std::string good = dir.Write(
      "good.ini", "[agent]\nlisten = 127.0.0.1:1\n[check.a]\ntype = tcp\naddress = 127.0.0.1:22\n");
  std::string bad = dir.Write("bad.ini",
                              "[agent]\nlisten = [::1\n[check.a]\ntype = tcp\n[check.b]\ntype = "
                              "tcp\naddress = x:1\ntypo = 1\n");
  std::string out;
  CHECK(RunCommand({BuildDir() + "/keepwatchd", "--check-config", "-c", good}, &out) == 0);
  CHECK(out.find("OK") != std::string::npos);
  CHECK(RunCommand({BuildDir() + "/keepwatchd", "--check-config", "-c", bad}, &out) == 1);
  CHECK(out.find(bad + ":2: listen: '[::1' is not an address: missing ']'") != std::string::npos);
  CHECK(out.find(bad + ":3: [check.a]: missing required key 'address'") != std::string::npos);
  CHECK(out.find(bad + ":8: unknown key 'typo' in [check.b]") != std::string::npos);
  CHECK(out.find("3 errors; not starting") != std::string::npos);
  // A bad file never starts a daemon, even without --check-config.
  CHECK(RunCommand({BuildDir() + "/keepwatchd", "-c", bad}, &out, seconds(5)) == 1);
  CHECK(RunCommand({BuildDir() + "/keepwatchd", "--bogus"}, &out) == 2);
}

TEST_CASE(
    "systemd: READY, STATUS, WATCHDOG and STOPPING on NOTIFY_SOCKET; SIGTERM stops within a "
    "second") {
  TempDir dir;
  std::string sock_path = dir.path() + "/notify";
  Fd sock(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock_path.c_str());
  REQUIRE(bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);

  SilentServer listener;
  std::string messages;
  auto receive = [&](Duration limit) {
    TimePoint end = SteadyClock::now() + limit;
    char buf[4096];
    while (SteadyClock::now() < end) {
      pollfd p{sock.get(), POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      ssize_t n = recv(sock.get(), buf, sizeof buf, 0);
      if (n > 0) messages += std::string(buf, n) + "\n";
    }
  };
  {
    Agent a("[check.up]\ntype = tcp\naddress = 127.0.0.1:" + std::to_string(listener.port()) +
                "\ninterval = 200ms\n",
            "", {{"NOTIFY_SOCKET", sock_path}, {"WATCHDOG_USEC", "400000"}});
    receive(seconds(2));
    CHECK(messages.find("READY=1") != std::string::npos);
    CHECK(messages.find("STATUS=1/1 checks passing") != std::string::npos);
    CHECK(messages.find("WATCHDOG=1") != std::string::npos);
    TimePoint t0 = SteadyClock::now();
    a.process().Signal(SIGTERM);
    int st = a.process().Wait(seconds(3));
    CHECK(SteadyClock::now() - t0 < seconds(1));
    REQUIRE(st != -1);
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    receive(milliseconds(200));
    CHECK(messages.find("STOPPING=1") != std::string::npos);
  }
}
