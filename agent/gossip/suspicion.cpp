#include "agent/gossip/suspicion.h"

#include <algorithm>
#include <cmath>

namespace kw::gossip {

Duration SuspicionMin(int mult, int n, Duration interval) {
  double scale = std::max(1.0, std::log10(std::max(1.0, static_cast<double>(n))));
  auto d = std::chrono::duration<double>(interval) * (mult * scale);
  return std::chrono::duration_cast<Duration>(d);
}

Suspicion::Suspicion(const std::string& from, int k, Duration min, Duration max, TimePoint start)
    : k_(k), min_(min), max_(std::max(min, max)), start_(start) {
  seen_.insert(from);
}

bool Suspicion::Confirm(const std::string& from) {
  if (confirmations_ >= k_) return false;
  if (!seen_.insert(from).second) return false;
  ++confirmations_;
  return true;
}

Duration Suspicion::Timeout() const {
  // With nobody able to confirm (tiny clusters) waiting for confirmations is pointless.
  if (k_ < 1) return min_;
  double frac = std::log(confirmations_ + 1.0) / std::log(k_ + 1.0);
  auto span = std::chrono::duration<double>(max_ - min_);
  auto t = max_ - std::chrono::duration_cast<Duration>(span * frac);
  return std::max(t, min_);
}

void Awareness::Apply(int delta) { score_ = std::clamp(score_ + delta, 0, max_); }

}  // namespace kw::gossip
