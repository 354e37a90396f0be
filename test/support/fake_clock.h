// A clock the test moves by hand.  Thread-safe.
#pragma once

#include <atomic>

#include "agent/clock.h"

namespace kw::test {

class FakeClock final : public Clock {
 public:
  FakeClock() : now_(TimePoint(seconds(1000)).time_since_epoch().count()) {}
  TimePoint Now() const override { return TimePoint(Duration(now_.load())); }
  void Advance(Duration d) { now_ += d.count(); }

 private:
  std::atomic<Duration::rep> now_;
};

}  // namespace kw::test
