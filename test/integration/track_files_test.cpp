// keepwatchd with track_dir: the track file of a check follows its debounced state.
#include <doctest/doctest.h>

#include "test/checks/loopback_server.h"
#include "test/support/agent.h"

using namespace kw;

TEST_CASE("agent: track files follow a check for keepalived's track_file") {
  kw::test::TempDir track;
  kw::testing::LoopbackServer haproxy([](const std::string&) { return std::string(); });
  kw::test::Agent agent(
      "[check.haproxy_port]\ntype = tcp\naddress = " + haproxy.address().ToString() +
          "\ninterval = 100ms\ntimeout = 200ms\nrise = 1\nfall = 2\n",
      "track_dir = " + track.path() + "\n");
  std::string file = track.path() + "/haproxy_port.state";
  CHECK(kw::test::WaitFor([&] { return test::ReadFile(file) == "0\n"; }, seconds(5)));
  haproxy.Stop();
  CHECK(kw::test::WaitFor([&] { return test::ReadFile(file) == "1\n"; }, seconds(5)));
  CHECK(agent.Call("/check/haproxy_port").status == 503);
}
