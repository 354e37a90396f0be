// Time as the agent sees it: a steady clock, injected so tests can drive it.
#pragma once

#include <chrono>

namespace kw {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;
using Duration = SteadyClock::duration;
using std::chrono::milliseconds;
using std::chrono::seconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

// The real monotonic clock.  Thread-safe.
class RealClock final : public Clock {
 public:
  TimePoint Now() const override { return SteadyClock::now(); }
};

inline double ToSeconds(Duration d) { return std::chrono::duration<double>(d).count(); }
inline long long ToMillis(Duration d) {
  return std::chrono::duration_cast<milliseconds>(d).count();
}

}  // namespace kw
