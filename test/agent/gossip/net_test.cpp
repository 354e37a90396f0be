// The simulated network's clocks (net.h): the part the gossip simulation, which runs every
// member at rate 1, does not exercise.
#include "test/agent/gossip/net.h"

#include <doctest/doctest.h>

#include <random>

using namespace kw;
using namespace kw::gossip;
using namespace kw::gossip::sim;

TEST_CASE("simulated network: each member's clock runs at its rate, and never wakes early") {
  const TimePoint t0 = TimePoint{} + std::chrono::hours(1);
  std::mt19937_64 rng(1);
  SwimNet net({"a", "b", "c"}, SwimConfig{}, rng, t0);
  net.SetRate(1, 1.01);
  net.SetRate(2, 0.99);
  const TimePoint g = t0 + seconds(100);
  CHECK(net.Local(0, g) == g);
  CHECK(ToSeconds(net.Local(1, g) - t0) == doctest::Approx(101.0));
  CHECK(ToSeconds(net.Local(2, g) - t0) == doctest::Approx(99.0));
  for (int i = 0; i < 3; ++i) {
    for (Duration d :
         {Duration(milliseconds(1)), Duration(milliseconds(1234)), Duration(seconds(77))}) {
      TimePoint local = t0 + d + Duration(3);
      TimePoint at = net.Global(i, local);
      CHECK(net.Local(i, at) >= local);
      CHECK(net.Local(i, at - Duration(1)) < local);  // and not later than needed
    }
  }
  for (int i = 0; i < 3; ++i) net.Start(i, t0);
  CHECK(net.IndexOf("b") == 1);
  CHECK(net.IndexOf("z") == -1);
  // Three members that hear each other stay alive in every view for a minute.
  TimePoint now = t0;
  for (int steps = 0; steps < 100000 && now < t0 + seconds(60); ++steps) {
    now = net.NextEvent(t0 + seconds(60));
    net.Advance(now);
  }
  REQUIRE(net.error().empty());
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      CHECK(net.swim(i).Find(net.name(j))->status == MemberStatus::kAlive);
  CHECK(net.packets() > 0);
}
