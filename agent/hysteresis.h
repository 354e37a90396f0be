// rise/fall debouncing with HAProxy's semantics (src/check.c: the `health` counter).
//
// health runs from 0 to rise+fall-1 and the state is up while health >= rise: an up
// check goes down after `fall` consecutive failures, a down one comes up after `rise`
// consecutive successes, and an opposite result in between resets the progress.  Unlike
// HAProxy (which starts servers up), the first result sets the state directly: the agent
// should not claim "up" for fall intervals, nor "down" for rise intervals, after start.
#pragma once

namespace kw {

class Hysteresis {
 public:
  Hysteresis(int rise, int fall) : rise_(rise), fall_(fall) {}
  // Feeds one probe result; returns true when the debounced state changed (including
  // the first result).
  bool Feed(bool pass);
  bool up() const { return health_ >= rise_; }
  bool known() const { return known_; }

 private:
  int rise_;
  int fall_;
  int health_ = 0;
  bool known_ = false;
};

}  // namespace kw
