#include "agent/scheduler.h"

#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "test/support/fake_clock.h"
#include "test/support/process.h"

using namespace kw;
using kw::test::FakeClock;
using kw::test::WaitFor;

namespace {

// A check whose results the test scripts; it can also be made to hang until released.
struct Script {
  std::mutex mu;
  std::condition_variable cv;
  bool pass = true;
  bool hang = false;
  std::atomic<int> runs{0};
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
};

class ScriptedCheck final : public Check {
 public:
  explicit ScriptedCheck(Script* s) : s_(s) {}
  CheckResult Run(TimePoint) override {
    int now = ++s_->running;
    int prev = s_->max_running.load();
    while (now > prev && !s_->max_running.compare_exchange_weak(prev, now)) {
    }
    bool pass;
    {
      std::unique_lock<std::mutex> l(s_->mu);
      s_->cv.wait(l, [&] { return !s_->hang; });
      pass = s_->pass;
    }
    ++s_->runs;
    --s_->running;  // the last touch of the script: a test may free it after this
    return pass ? CheckResult::Pass("fine") : CheckResult::Fail("broken");
  }

 private:
  Script* s_;
};

struct Harness {
  FakeClock clock;
  SnapshotBox box{std::make_shared<Snapshot>()};
  std::vector<CheckConfig> configs;
  std::unique_ptr<Scheduler> sched;
  std::vector<std::vector<Transition>> published;

  explicit Harness(std::vector<Script*> scripts, Duration interval = seconds(2),
                   Duration timeout = seconds(1)) {
    configs.resize(scripts.size());
    std::vector<BuiltCheck> built;
    for (size_t i = 0; i < scripts.size(); ++i) {
      configs[i].name = "c" + std::to_string(i);
      configs[i].type = "scripted";
      configs[i].interval = interval;
      configs[i].timeout = timeout;
      built.push_back(BuiltCheck{&configs[i], std::make_unique<ScriptedCheck>(scripts[i])});
    }
    sched = std::make_unique<Scheduler>(std::move(built), clock, box, 42);
    sched->OnPublish(
        [this](const Snapshot&, const std::vector<Transition>& t) { published.push_back(t); });
  }
  // Advances fake time by `d`, polls, and waits (real time) until the probe threads that
  // were started have finished, then polls again to harvest them.
  void Step(Duration d, bool wait_idle = true) {
    clock.Advance(d);
    sched->Poll();
    if (wait_idle)
      for (size_t i = 0; i < configs.size(); ++i)
        WaitFor([&] { return !sched->Busy(i); }, seconds(5));
    sched->Poll();
  }
  const CheckState& State(size_t i) { return box.Get()->checks[i]; }
};

}  // namespace

TEST_CASE("checks run on their interval and debounce with rise/fall") {
  Script s;
  Harness h({&s});
  CHECK_FALSE(h.box.Get()->AllHaveResults());
  h.Step(milliseconds(150));  // first probe within 100ms of start
  REQUIRE(h.State(0).has_result);
  CHECK(h.State(0).up);
  CHECK(s.runs == 1);
  h.Step(milliseconds(500));  // not due yet
  CHECK(s.runs == 1);
  s.pass = false;
  for (int i = 0; i < 2; ++i) h.Step(milliseconds(2300));
  CHECK(s.runs == 3);
  CHECK(h.State(0).up);  // two failures: fall is 3
  CHECK(h.State(0).consecutive_failures == 2);
  h.Step(milliseconds(2300));
  CHECK_FALSE(h.State(0).up);
  CHECK(h.State(0).transitions == 1);
  CHECK(h.State(0).last.outcome == Outcome::kFail);
  s.pass = true;
  h.Step(milliseconds(2300));
  CHECK_FALSE(h.State(0).up);
  h.Step(milliseconds(2300));
  CHECK(h.State(0).up);
  // Hooks saw: first result, down, up.
  int changes = 0;
  for (auto& p : h.published) changes += static_cast<int>(p.size());
  CHECK(changes == 3);
}

TEST_CASE("intervals carry jitter of at most 10%") {
  Script s;
  Harness h({&s}, seconds(10));
  h.Step(milliseconds(150));
  h.Step(milliseconds(8900));  // 9.05s after the first probe: not due even at -10%
  CHECK(s.runs == 1);
  h.Step(milliseconds(2100));  // 11.15s: due even at +10%
  CHECK(s.runs == 2);
}

TEST_CASE("a hung probe is a timeout, never duplicated, and the others keep running") {
  Script stuck, fine;
  Harness h({&stuck, &fine});
  stuck.hang = true;
  h.clock.Advance(milliseconds(150));
  h.sched->Poll();
  REQUIRE(WaitFor([&] { return stuck.running == 1; }, seconds(5)));
  WaitFor([&] { return !h.sched->Busy(1); }, seconds(5));
  h.sched->Poll();
  CHECK_FALSE(h.State(0).has_result);
  CHECK(h.State(1).has_result);
  h.Step(milliseconds(1000), false);  // past the 1s deadline
  REQUIRE(h.State(0).has_result);
  CHECK(h.State(0).last.outcome == Outcome::kTimeout);
  CHECK(h.State(0).stuck);
  CHECK_FALSE(h.State(0).up);
  // Several intervals pass: each is another timeout, no second probe starts.
  for (int i = 0; i < 5; ++i) {
    h.clock.Advance(milliseconds(2300));
    h.sched->Poll();
    WaitFor([&] { return !h.sched->Busy(1); }, seconds(5));
    h.sched->Poll();
  }
  CHECK(stuck.max_running == 1);
  CHECK(h.State(0).runs == 6);
  CHECK(h.State(0).last.detail.find("still running") != std::string::npos);
  CHECK(fine.runs == 6);  // the other check kept its schedule
  // Released: the late result is discarded; the next probe runs and passes.
  {
    std::lock_guard<std::mutex> l(stuck.mu);
    stuck.hang = false;
  }
  stuck.cv.notify_all();
  REQUIRE(WaitFor([&] { return !h.sched->Busy(0); }, seconds(5)));
  h.sched->Poll();
  CHECK_FALSE(h.State(0).stuck);
  CHECK(h.State(0).last.outcome == Outcome::kTimeout);
  h.Step(milliseconds(2300));
  CHECK(h.State(0).last.outcome == Outcome::kPass);
  h.Step(milliseconds(2300));
  CHECK(h.State(0).up);
  CHECK(stuck.max_running == 1);
}

TEST_CASE("destroying a scheduler with a stuck probe does not wait for it") {
  auto stuck = std::make_unique<Script>();
  stuck->hang = true;
  {
    Harness h({stuck.get()});
    h.clock.Advance(milliseconds(150));
    h.sched->Poll();
    REQUIRE(WaitFor([&] { return stuck->running == 1; }, seconds(5)));
  }  // returns at once: the probe thread is detached
  {
    std::lock_guard<std::mutex> l(stuck->mu);
    stuck->hang = false;
  }
  stuck->cv.notify_all();
  REQUIRE(WaitFor([&] { return stuck->running == 0; }, seconds(5)));
}
