// The real keepwatchd with an ocfs2 check on a FUSE filestore that hangs (kw-blockfs):
// the check turns `timeout` while its one probe thread stays stuck, no second probe is
// started, every other endpoint and check keeps answering fast, and the check recovers
// by itself once the filesystem answers again.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "test/checks/blockfs_mount.h"
#include "test/checks/loopback_server.h"
#include "test/support/agent.h"

using namespace kw;
using kw::test::WaitFor;

namespace {

int Threads(pid_t pid) {
  int n = 0;
  for ([[maybe_unused]] auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task"))
    ++n;
  return n;
}

}  // namespace

TEST_CASE("agent: a hung filestore times out on one stuck thread; the rest answers fast") {
  kw::testing::BlockFsMount fs;
  REQUIRE(fs.mounted());
  kw::testing::LoopbackServer odoo([](const std::string&) { return std::string(); });
  kw::test::Agent agent("[check.filestore]\ntype = ocfs2\npath = " + fs.path() +
                        "\nfstype = fuse.kw-blockfs\nwrite_probe = yes\n"
                        "interval = 200ms\ntimeout = 300ms\nrise = 1\nfall = 1\n"
                        "[check.odoo_port]\ntype = tcp\naddress = " +
                        odoo.address().ToString() + "\ninterval = 200ms\nrise = 1\nfall = 1\n");
  REQUIRE(agent.WaitStatus("/check/filestore", 200));
  REQUIRE(agent.WaitStatus("/check/odoo_port", 200));

  fs.Close();
  int creates_at_close = fs.Count("create");
  int ops_at_close = fs.Ops();
  REQUIRE(agent.WaitStatus("/check/filestore", 503, seconds(5)));
  HttpResponse st = agent.Call("/check/filestore");
  CHECK(st.body.find("\"outcome\":\"timeout\"") != std::string::npos);
  CHECK(st.body.find("\"stuck\":true") != std::string::npos);
  int threads = Threads(agent.process().pid());

  // For 1.5 s (7 intervals of the stuck check): every other endpoint answers in
  // milliseconds and the other check keeps passing.
  std::vector<double> ms;
  TimePoint until = SteadyClock::now() + milliseconds(1500);
  int calls = 0;
  while (SteadyClock::now() < until && calls < 200) {
    for (const char* path : {"/liveness", "/check/odoo_port", "/status"}) {
      TimePoint t0 = SteadyClock::now();
      HttpResponse r = agent.Call(path, "GET", seconds(1));
      ms.push_back(ToSeconds(SteadyClock::now() - t0) * 1000);
      CHECK(r.status == 200);
      ++calls;
    }
    usleep(20 * 1000);
  }
  std::sort(ms.begin(), ms.end());
  double p50 = ms[ms.size() / 2], p90 = ms[ms.size() * 9 / 10], max = ms.back();
  MESSAGE("while the filestore hangs: ", ms.size(), " requests, p50 ", p50, " ms, p90 ", p90,
          " ms, max ", max, " ms");
  CHECK(p90 < 10.0);
  CHECK(max < 100.0);
  // One probe thread stuck, none added, and the filesystem saw exactly one new probe.
  CHECK(Threads(agent.process().pid()) == threads);
  // (The one stuck request is the probe's first step, the lookup of its file name.)
  CHECK(fs.Ops() - ops_at_close == 1);
  CHECK(fs.Count("create") == creates_at_close);
  CHECK(agent.Call("/check/filestore").status == 503);

  fs.Open();
  CHECK(agent.WaitStatus("/check/filestore", 200, seconds(5)));
  CHECK(WaitFor([&] { return fs.Count("create") + fs.Count("open") > creates_at_close + 1; },
                seconds(3)));
  CHECK(agent.Call("/check/filestore").body.find("write probe ok") != std::string::npos);
}
