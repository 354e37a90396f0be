// Lifeguard's dynamic suspicion timeout and local health awareness (after memberlist's
// suspicion.go and awareness.go; behaviour only, our own code).  Pure values: time is
// passed in, nothing here reads a clock.  Not thread-safe.
#pragma once

#include <set>
#include <string>

#include "agent/clock.h"

namespace kw::gossip {

// The shortest suspicion timeout for n members: mult * max(1, log10(n)) * interval.
// The longest is max_mult times that.
Duration SuspicionMin(int mult, int n, Duration interval);

// One member's suspicion.  It starts at `max` and shrinks towards `min` on a log scale as
// `k` independent confirmations arrive: timeout(c) = max - (max - min) * log(c+1)/log(k+1).
// The member who raised the suspicion cannot confirm it; nor can anyone twice.
class Suspicion {
 public:
  Suspicion(const std::string& from, int k, Duration min, Duration max, TimePoint start);

  // Records a confirmation; true when it was new and counted (the caller re-broadcasts).
  bool Confirm(const std::string& from);
  int confirmations() const { return confirmations_; }
  Duration Timeout() const;
  TimePoint Deadline() const { return start_ + Timeout(); }
  // Moves the start later, e.g. by the time this process was paused and could not hear
  // a refutation.
  void Postpone(Duration d) { start_ += d; }

 private:
  int k_;
  Duration min_, max_;
  TimePoint start_;
  int confirmations_ = 0;
  std::set<std::string> seen_;
};

// Local health: a score in [0, max].  Missed acks and having to refute raise it; good
// probes lower it.  Our own probe interval and timeout are multiplied by score + 1, so a
// member that is itself slow (CPU starved, paused, losing packets) probes less and waits
// longer before it blames others.
class Awareness {
 public:
  explicit Awareness(int max) : max_(max) {}
  void Apply(int delta);
  int score() const { return score_; }
  Duration Scale(Duration d) const { return d * (score_ + 1); }

 private:
  int max_;
  int score_ = 0;
};

}  // namespace kw::gossip
