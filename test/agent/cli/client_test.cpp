// The keepwatch client binary against a real keepwatchd: exit codes 0/1/2 and the table.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include "agent/net.h"
#include "test/support/agent.h"

using namespace kw;
using namespace kw::test;

TEST_CASE("keepwatch check exits 0 for pass, 1 for fail, 2 when unreachable or unknown") {
  HostPort bound;
  auto listener = ListenTcp(HostPort{"127.0.0.1", 0}, &bound);
  REQUIRE(listener.ok());
  Agent a(
      "[check.up]\ntype = tcp\naddress = 127.0.0.1:" + std::to_string(bound.port) +
      "\ninterval = 200ms\n[check.down]\ntype = tcp\naddress = 127.0.0.1:1\ninterval = 200ms\n");
  REQUIRE(a.WaitStatus("/readiness", 200));
  const std::string kw = BuildDir() + "/keepwatch";
  std::string out;
  CHECK(RunCommand({kw, "--url", a.url(), "check", "up"}, &out) == 0);
  CHECK(out.find("up: ok") != std::string::npos);
  CHECK(RunCommand({kw, "--url", a.url(), "check", "down"}, &out) == 1);
  CHECK(out.find("down: FAILING - connect 127.0.0.1:1: Connection refused") != std::string::npos);
  CHECK(RunCommand({kw, "--url", a.url(), "-q", "check", "down"}, &out) == 1);
  CHECK(out.empty());
  CHECK(RunCommand({kw, "--url", a.url(), "check", "absent"}, &out) == 2);
  CHECK(RunCommand({kw, "--url", a.url(), "check", "liveness"}, &out) == 0);
  CHECK(RunCommand({kw, "--url", a.url(), "check", "primary"}, &out) == 1);
  CHECK(RunCommand({kw, "--url", "http://127.0.0.1:1", "check", "up"}, &out) == 2);
  CHECK(RunCommand({kw, "--url", "ftp://x", "check", "up"}, &out) == 2);
  CHECK(RunCommand({kw, "--timeout", "soon", "check", "up"}, &out) == 2);
  CHECK(RunCommand({kw, "frobnicate"}, &out) == 2);

  CHECK(RunCommand({kw, "--url", a.url(), "status"}, &out) == 0);
  CHECK(out.find("node test") != std::string::npos);
  CHECK(out.find("ready") != std::string::npos);
  CHECK(out.find("up              tcp       up") != std::string::npos);
  CHECK(out.find("down            tcp       down") != std::string::npos);
}

TEST_CASE("keepwatch gives up after --timeout when the agent does not answer") {
  HostPort bound;
  auto silent = ListenTcp(HostPort{"127.0.0.1", 0}, &bound);  // accepts, never answers
  REQUIRE(silent.ok());
  std::string url = "http://127.0.0.1:" + std::to_string(bound.port);
  TimePoint t0 = SteadyClock::now();
  std::string out;
  CHECK(RunCommand({BuildDir() + "/keepwatch", "--url", url, "--timeout", "300ms", "check", "x"},
                   &out) == 2);
  CHECK(SteadyClock::now() - t0 < seconds(2));
  CHECK(out.find("timed out") != std::string::npos);
}

TEST_CASE("keepwatch keygen prints a key the agent accepts") {
  std::string out;
  REQUIRE(RunCommand({BuildDir() + "/keepwatch", "keygen"}, &out) == 0);
  REQUIRE(out.size() == 65);
  CHECK(out.back() == '\n');
  CHECK(out.find_first_not_of("0123456789abcdef\n") == std::string::npos);
  std::string again;
  RunCommand({BuildDir() + "/keepwatch", "keygen"}, &again);
  CHECK(again != out);
  TempDir dir;
  std::string key = dir.Write("cluster.key", out);
  chmod(key.c_str(), 0600);
  std::string ini = dir.Write(
      "k.ini", "[agent]\nnode = a\nlisten = 127.0.0.1:1\n[cluster]\nname = c\nkey_file = " + key +
                   "\nfailover = off\n[member.a]\naddress = 127.0.0.1:7950\n");
  CHECK(RunCommand({BuildDir() + "/keepwatchd", "--check-config", "-c", ini}, &out) == 0);
  chmod(key.c_str(), 0644);
  CHECK(RunCommand({BuildDir() + "/keepwatchd", "--check-config", "-c", ini}, &out) == 1);
  CHECK(out.find("is readable by group or others (mode 0644)") != std::string::npos);
}
