#include "agent/scheduler.h"

#include <algorithm>

#include "agent/units.h"

namespace kw {

struct Scheduler::Entry {
  const CheckConfig* config;
  std::unique_ptr<ProbeRunner> runner;
  Hysteresis hysteresis;
  CheckState state;
  TimePoint next_run{};
  TimePoint deadline{};
  TimePoint probe_started{};
  bool in_flight = false;  // a probe was started and its result not yet taken
  bool timed_out = false;  // ... and it has already been reported as a timeout
};

Scheduler::Scheduler(std::vector<BuiltCheck> checks, const Clock& clock, SnapshotBox& box,
                     uint64_t seed)
    : clock_(clock), box_(box), rng_(seed), started_(clock.Now()) {
  heartbeat_ = started_.time_since_epoch().count();
  for (BuiltCheck& b : checks) {
    auto e = std::make_unique<Entry>(Entry{b.config,
                                           nullptr,
                                           Hysteresis(b.config->rise, b.config->fall),
                                           {},
                                           {},
                                           {},
                                           {},
                                           false,
                                           false});
    e->state.name = b.config->name;
    e->state.type = b.config->type;
    e->runner =
        std::make_unique<ProbeRunner>(b.config->name, std::move(b.check), [this] { Wake(); });
    // First probes start at once, spread over up to 100ms so they do not all fire together.
    e->next_run = started_ + std::uniform_int_distribution<Duration::rep>(
                                 0, Duration(milliseconds(100)).count())(rng_) *
                                 Duration(1);
    entries_.push_back(std::move(e));
  }
  auto snap = std::make_shared<Snapshot>();
  snap->taken = snap->started = started_;
  for (const auto& e : entries_) snap->checks.push_back(e->state);
  box_.Publish(std::move(snap));
}

Scheduler::~Scheduler() {
  Stop();
  entries_.clear();  // joins idle probe threads, detaches stuck ones
}

Duration Scheduler::Jitter(Duration interval) {
  // ±10% of the interval, so checks of many agents do not beat in step.
  auto span = interval.count() / 10;
  return interval + Duration(std::uniform_int_distribution<Duration::rep>(-span, span)(rng_));
}

void Scheduler::Record(Entry& e, CheckResult r, Duration took, std::vector<Transition>& changes) {
  CheckState& s = e.state;
  bool pass = r.outcome == Outcome::kPass;
  bool first = !s.has_result;
  bool old_up = s.up;
  s.has_result = true;
  s.last = std::move(r);
  s.last_run = e.probe_started;
  s.last_duration = took;
  s.runs++;
  if (pass) {
    s.consecutive_successes++;
    s.consecutive_failures = 0;
  } else {
    s.consecutive_failures++;
    s.consecutive_successes = 0;
  }
  if (e.hysteresis.Feed(pass)) {
    s.up = e.hysteresis.up();
    s.since = clock_.Now();
    if (!first) s.transitions++;
    changes.push_back(Transition{s.name, first, old_up, s.up, s.last.detail});
  }
}

TimePoint Scheduler::Poll() {
  TimePoint now = clock_.Now();
  heartbeat_ = now.time_since_epoch().count();
  bool changed = false;
  std::vector<Transition> changes;
  TimePoint next = now + milliseconds(500);  // liveness: go round at least this often
  for (auto& ep : entries_) {
    Entry& e = *ep;
    const CheckConfig& cfg = *e.config;
    if (e.in_flight) {
      if (auto f = e.runner->Take()) {
        e.in_flight = false;
        if (e.timed_out) {
          // A late result: already reported as a timeout; the next probe decides.
          e.state.stuck = false;
          changed = true;
        } else {
          Record(e, std::move(f->result), f->took, changes);
          changed = true;
        }
      } else if (!e.timed_out && now >= e.deadline) {
        e.timed_out = true;
        e.state.stuck = true;
        Record(e, CheckResult::Timeout("no answer within " + FormatDuration(cfg.timeout)),
               cfg.timeout, changes);
        changed = true;
      }
    }
    if (now >= e.next_run) {
      if (!e.in_flight) {
        e.deadline = now + cfg.timeout;
        e.probe_started = now;
        e.in_flight = e.runner->Start(e.deadline);
        e.timed_out = false;
      } else if (e.timed_out) {
        // Still stuck: this interval's probe is a timeout too, and is not started.
        Record(e,
               CheckResult::Timeout("probe started " + FormatDuration(now - e.probe_started) +
                                    " ago is still running; not starting another"),
               cfg.timeout, changes);
        e.state.last_run = now;
        changed = true;
      }
      e.next_run = std::max(e.next_run + Jitter(cfg.interval), now + milliseconds(10));
    }
    next = std::min(next, e.next_run);
    if (e.in_flight && !e.timed_out) next = std::min(next, e.deadline);
  }
  if (changed) {
    auto snap = std::make_shared<Snapshot>();
    snap->taken = now;
    snap->started = started_;
    for (const auto& e : entries_) snap->checks.push_back(e->state);
    box_.Publish(snap);
    for (const auto& hook : hooks_) hook(*snap, changes);
  }
  return next;
}

bool Scheduler::Busy(size_t index) const { return entries_[index]->runner->busy(); }

void Scheduler::Wake() {
  {
    std::lock_guard<std::mutex> l(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void Scheduler::Run() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    woken_ = false;
    l.unlock();
    TimePoint next = Poll();
    l.lock();
    // The clock is injected, but waiting uses the steady clock: Run is for production.
    Duration wait = next - clock_.Now();
    if (wait > Duration::zero()) cv_.wait_for(l, wait, [&] { return stop_ || woken_; });
  }
}

void Scheduler::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
}

}  // namespace kw
