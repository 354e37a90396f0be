#include "agent/hysteresis.h"

#include <doctest/doctest.h>

using kw::Hysteresis;

TEST_CASE("first result sets the state directly") {
  Hysteresis up(2, 3), down(2, 3);
  CHECK_FALSE(up.known());
  CHECK(up.Feed(true));
  CHECK(up.up());
  CHECK(down.Feed(false));
  CHECK_FALSE(down.up());
}

TEST_CASE("an up check goes down after exactly `fall` consecutive failures") {
  Hysteresis h(2, 3);
  h.Feed(true);
  CHECK_FALSE(h.Feed(false));
  CHECK_FALSE(h.Feed(false));
  CHECK(h.up());
  CHECK(h.Feed(false));
  CHECK_FALSE(h.up());
}

TEST_CASE("a success in between resets the count toward down (HAProxy semantics)") {
  Hysteresis h(2, 3);
  h.Feed(true);
  h.Feed(false);
  h.Feed(false);
  h.Feed(true);  // back to full health
  h.Feed(false);
  h.Feed(false);
  CHECK(h.up());
  CHECK(h.Feed(false));
  CHECK_FALSE(h.up());
}

TEST_CASE("a down check comes up after exactly `rise` consecutive successes") {
  Hysteresis h(3, 2);
  h.Feed(false);
  CHECK_FALSE(h.Feed(true));
  CHECK_FALSE(h.Feed(true));
  CHECK(h.Feed(true));
  CHECK(h.up());
  // a failure in between restarts the rise
  Hysteresis g(2, 2);
  g.Feed(false);
  g.Feed(true);
  g.Feed(false);
  CHECK_FALSE(g.Feed(true));
  CHECK(g.Feed(true));
}

TEST_CASE("rise 1 fall 1 follows every result") {
  Hysteresis h(1, 1);
  h.Feed(true);
  CHECK(h.Feed(false));
  CHECK(h.Feed(true));
  CHECK_FALSE(h.Feed(true));
}
