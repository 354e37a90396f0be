#include "test/agent/gossip/sim.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>

#include "agent/gossip/wire.h"
#include "agent/units.h"
#include "test/agent/gossip/net.h"

namespace kw::gossip::sim {

const char* ScenarioName(Scenario s) {
  switch (s) {
    case Scenario::kSteady:
      return "steady";
    case Scenario::kCrash:
      return "crash";
    case Scenario::kRestart:
      return "restart";
    case Scenario::kPause:
      return "pause";
    case Scenario::kPartition:
      return "partition";
    case Scenario::kOneWay:
      return "oneway";
  }
  return "?";
}

namespace {

const TimePoint kT0 = TimePoint{} + std::chrono::hours(1);
constexpr Duration kPollEvery = milliseconds(100);
constexpr uint64_t kStepLimit = 5'000'000;

double Secs(Duration d) { return ToSeconds(d); }

class Simulation {
 public:
  explicit Simulation(const Params& p)
      : p_(p), rng_(p.seed), net_(Names(p.n), p.swim, rng_, kT0), since_(p.n, kT0) {
    for (int i = 0; i < p_.n; ++i) names_.push_back(net_.name(i));
    net_.loss = p_.loss;
    net_.min_delay = p_.min_delay;
    net_.max_delay = p_.max_delay;
    net_.blocked = [this](int from, int to) { return Blocked(from, to); };
    net_.on_event = [this](int at, const MemberEvent& e) { OnEvent(at, e); };
    for (int i = 0; i < p_.n; ++i) Start(i, kT0);
    victim_ = static_cast<int>(rng_() % p_.n);
    other_ = (victim_ + 1 + static_cast<int>(rng_() % (p_.n - 1))) % p_.n;
    if (p_.scenario == Scenario::kPartition) {
      int g = 1 + static_cast<int>(rng_() % std::max(1, (p_.n - 1) / 2));
      for (int k = 0; k < g; ++k) side_.insert((victim_ + k) % p_.n);
    }
    disrupt_ = kT0 + kDisruptAt;
    switch (p_.scenario) {
      case Scenario::kCrash:
        detect_check_ = disrupt_ + DetectionBound(p_);
        break;
      case Scenario::kRestart:
        detect_check_ = disrupt_ + DetectionBound(p_);
        heal_ = detect_check_ + seconds(1);
        break;
      case Scenario::kPause:
        heal_ = disrupt_ + p_.pause;
        break;
      case Scenario::kPartition:
      case Scenario::kOneWay:
        heal_ = disrupt_ + p_.cut;
        break;
      case Scenario::kSteady:
        break;
    }
  }

  Result Run() {
    TimePoint end = kT0 + p_.duration;
    now_ = kT0;
    bool disrupted = p_.scenario == Scenario::kSteady, healed = heal_ == TimePoint{};
    bool detect_checked = detect_check_ == TimePoint{};
    TimePoint next_poll = kT0;
    for (uint64_t steps = 0; now_ < end && result_.ok; ++steps) {
      if (steps > kStepLimit) return Fail("step limit reached (a timer that never advances?)");
      TimePoint t = net_.NextEvent(end);
      if (!disrupted) t = std::min(t, disrupt_);
      if (!healed) t = std::min(t, heal_);
      if (!detect_checked) t = std::min(t, detect_check_);
      if (converging_) t = std::min(t, next_poll);
      now_ = std::max(now_, t);

      if (!disrupted && now_ >= disrupt_) {
        disrupted = true;
        Disrupt();
      }
      if (!detect_checked && now_ >= detect_check_) {
        detect_checked = true;
        CheckDetected();
      }
      if (!healed && now_ >= heal_) {
        healed = true;
        Heal();
      }
      net_.Advance(now_);
      if (!net_.error().empty()) return Fail(net_.error());
      if (converging_ && now_ >= next_poll) {
        next_poll = now_ + kPollEvery;
        if (AllAlive()) {
          converging_ = false;
          result_.converge_s = Secs(now_ - heal_);
        } else if (now_ >= heal_ + ConvergeBound(p_)) {
          return Fail("views did not converge within " + Fmt(ConvergeBound(p_)) +
                      " of the heal: " + Views());
        }
      }
    }
    if (!result_.ok) return result_;
    if (converging_) return Fail("run ended before views converged");
    if (!AllAlive() && p_.scenario != Scenario::kCrash)
      return Fail("views differ at the end: " + Views());
    for (int i = 0; i < p_.n; ++i)
      if (net_.up(i)) result_.member_seconds += Secs(now_ - since_[i]);
    result_.packets = net_.packets();
    result_.bytes = net_.bytes();
    return result_;
  }

 private:
  static std::vector<std::string> Names(int n) {
    std::vector<std::string> names;
    for (int i = 0; i < n; ++i) names.push_back("m" + std::to_string(i));
    return names;
  }

  void Start(int i, TimePoint now) {
    since_[i] = now;
    net_.Start(i, now);
    NodeState st;
    st.role = i == 0 ? PgRole::kPrimary : PgRole::kReplica;
    st.checks_passing = 3;
    net_.swim(i).SetLocalState(st);
  }

  void Disrupt() {
    switch (p_.scenario) {
      case Scenario::kCrash:
      case Scenario::kRestart:
        result_.member_seconds += Secs(now_ - since_[victim_]);
        net_.Crash(victim_);
        break;
      case Scenario::kPause:
        net_.Pause(victim_, now_ + p_.pause);
        break;
      case Scenario::kPartition:
      case Scenario::kOneWay:
        cut_ = true;
        break;
      case Scenario::kSteady:
        break;
    }
  }

  void Heal() {
    if (p_.scenario == Scenario::kRestart) Start(victim_, now_);
    if (p_.scenario == Scenario::kPartition) {
      // The majority must have found the cut-off members dead by now.
      for (int i = 0; i < p_.n; ++i)
        for (int j : side_)
          if (!side_.count(i) && net_.swim(i).Find(names_[j])->status != MemberStatus::kDead)
            Fail(names_[i] + " did not mark cut-off " + names_[j] + " dead during the cut");
    }
    cut_ = false;
    if (p_.scenario != Scenario::kPause) converging_ = true;
  }

  void CheckDetected() {
    for (int i = 0; i < p_.n; ++i) {
      if (i == victim_ || !net_.up(i)) continue;
      if (net_.swim(i).Find(names_[victim_])->status != MemberStatus::kDead)
        Fail(names_[i] + " did not mark crashed " + names_[victim_] + " dead within " +
             Fmt(DetectionBound(p_)));
    }
  }

  bool Blocked(int from, int to) const {
    if (!cut_) return false;
    if (p_.scenario == Scenario::kPartition) return side_.count(from) != side_.count(to);
    if (p_.scenario == Scenario::kOneWay) return from == victim_ && to == other_;
    return false;
  }

  void OnEvent(int observer, const MemberEvent& e) {
    if (trace_)
      std::fprintf(stderr, "%9.3f %s sees %s %s -> %s inc %llu\n", Secs(now_ - kT0),
                   names_[observer].c_str(), e.member.c_str(), MemberStatusName(e.from),
                   MemberStatusName(e.to), static_cast<unsigned long long>(e.incarnation));
    if (e.to != MemberStatus::kDead) return;
    int subject = net_.IndexOf(e.member);
    bool crashed_victim = (p_.scenario == Scenario::kCrash || p_.scenario == Scenario::kRestart) &&
                          subject == victim_;
    if (crashed_victim) {
      double t = Secs(now_ - disrupt_);
      if (result_.first_detect_s < 0) result_.first_detect_s = t;
      result_.all_detect_s = std::max(result_.all_detect_s, t);
      return;
    }
    if (!net_.up(subject)) return;
    bool across_cut = p_.scenario == Scenario::kPartition &&
                      side_.count(observer) != side_.count(subject) && now_ >= disrupt_ &&
                      now_ <= heal_ + ConvergeBound(p_);
    if (across_cut) return;
    ++result_.false_deaths;
    // SWIM's guarantee is probabilistic: above the stated loss bound a false death is
    // counted (and must still be refuted: views have to converge), not a failure.
    if (p_.loss > p_.false_death_bound) return;
    std::string where;
    if (p_.scenario == Scenario::kPartition) {
      where = " (cut-off side:";
      for (int k : side_) where += " " + names_[k];
      where += ")";
    }
    Fail(names_[observer] + " declared live, connected " + names_[subject] + " dead" + where);
  }

  // Converged: no running member thinks another running member dead.  (Suspicion is
  // the normal, transient state of doubt under loss and is refuted within a timeout.)
  bool AllAlive() const {
    for (int a = 0; a < p_.n; ++a) {
      if (!net_.up(a)) continue;
      for (int b = 0; b < p_.n; ++b)
        if (net_.up(b) && net_.swim(a).Find(names_[b])->status == MemberStatus::kDead) return false;
    }
    return true;
  }

  std::string Views() const {
    std::string s;
    for (int a = 0; a < p_.n; ++a) {
      if (!net_.up(a)) continue;
      s += names_[a] + ":";
      for (int b = 0; b < p_.n; ++b) s += MemberStatusName(net_.swim(a).Find(names_[b])->status)[0];
      s += " ";
    }
    return s;
  }

  Result Fail(const std::string& why) {
    if (result_.ok) {
      result_.ok = false;
      char at[32];
      std::snprintf(at, sizeof at, "t=%.3fs: ", Secs(now_ - kT0));
      result_.failure = at + why;
    }
    return result_;
  }

  static std::string Fmt(Duration d) { return FormatDuration(d); }

  Params p_;
  std::mt19937_64 rng_;
  SwimNet net_;
  std::vector<TimePoint> since_;  // up since (for per-member rates)
  std::vector<std::string> names_;
  TimePoint now_{};
  int victim_ = 0, other_ = 0;
  std::set<int> side_;
  bool cut_ = false;
  bool converging_ = false;
  TimePoint disrupt_{}, heal_{}, detect_check_{};
  Result result_;
  bool trace_ = std::getenv("KW_SIM_TRACE") != nullptr;
};

}  // namespace

Duration DetectionBound(const Params& p) {
  Duration max =
      SuspicionMin(p.swim.suspicion_mult, p.n, p.swim.probe_interval) * p.swim.suspicion_max_mult;
  return max + p.swim.probe_interval * (p.n + 4) + seconds(5);
}

Duration ConvergeBound(const Params& p) {
  Duration max =
      SuspicionMin(p.swim.suspicion_mult, p.n, p.swim.probe_interval) * p.swim.suspicion_max_mult;
  return p.swim.reconnect_interval + max + seconds(5);
}

Params FromSeed(uint64_t seed) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 7);
  Params p;
  p.seed = seed;
  p.n = 3 + static_cast<int>(rng() % 14);
  p.scenario = static_cast<Scenario>(rng() % 6);
  p.loss = 0.20 * Uniform(rng);
  p.max_delay = Between(rng, milliseconds(5), milliseconds(60));
  Duration min_sus = SuspicionMin(p.swim.suspicion_mult, p.n, p.swim.probe_interval);
  p.pause = Between(rng, milliseconds(300), min_sus / 2);
  p.cut = DetectionBound(p) + seconds(2);
  Duration tail = seconds(10);
  switch (p.scenario) {
    case Scenario::kSteady:
    case Scenario::kPause:
      p.duration = kDisruptAt + seconds(45);
      break;
    case Scenario::kCrash:
      p.duration = kDisruptAt + DetectionBound(p) + seconds(1);
      break;
    case Scenario::kRestart:
      p.duration = kDisruptAt + DetectionBound(p) + seconds(1) + ConvergeBound(p) + tail;
      break;
    case Scenario::kPartition:
    case Scenario::kOneWay:
      p.duration = kDisruptAt + p.cut + ConvergeBound(p) + tail;
      break;
  }
  return p;
}

Result Run(const Params& p) { return Simulation(p).Run(); }

}  // namespace kw::gossip::sim
