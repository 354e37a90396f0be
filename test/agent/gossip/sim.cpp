#include "test/agent/gossip/sim.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <queue>
#include <random>
#include <set>

#include "agent/gossip/wire.h"
#include "agent/units.h"

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

double Uniform(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

Duration Between(std::mt19937_64& rng, Duration lo, Duration hi) {
  auto span = static_cast<double>((hi - lo).count());
  return lo + Duration(static_cast<Duration::rep>(span * Uniform(rng)));
}

double Secs(Duration d) { return ToSeconds(d); }

struct Pending {
  TimePoint at;
  uint64_t order;
  int from;
  int to;
  std::string bytes;
  bool operator>(const Pending& o) const { return at != o.at ? at > o.at : order > o.order; }
};

struct Node {
  std::string name;
  std::unique_ptr<Swim> swim;
  bool up = true;
  bool paused = false;
  TimePoint resume{};
  std::vector<std::string> backlog;  // datagrams that queued up in the socket while paused
  TimePoint since{};                 // up since (for per-member rates)
};

class Simulation {
 public:
  explicit Simulation(const Params& p) : p_(p), rng_(p.seed) {
    for (int i = 0; i < p_.n; ++i) names_.push_back("m" + std::to_string(i));
    nodes_.resize(p_.n);
    for (int i = 0; i < p_.n; ++i) {
      nodes_[i].name = names_[i];
      Start(i, kT0);
    }
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
      TimePoint t = end;
      if (!queue_.empty()) t = std::min(t, queue_.top().at);
      for (const Node& n : nodes_) {
        if (!n.up) continue;
        t = std::min(t, n.paused ? n.resume : n.swim->NextWakeup());
      }
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
      for (int i = 0; i < p_.n; ++i) {
        Node& n = nodes_[i];
        if (n.up && n.paused && now_ >= n.resume) Resume(i);
      }
      while (!queue_.empty() && queue_.top().at <= now_) {
        Pending d = queue_.top();
        queue_.pop();
        Deliver(d);
      }
      for (int i = 0; i < p_.n; ++i) {
        Node& n = nodes_[i];
        if (n.up && !n.paused && n.swim->NextWakeup() <= now_) {
          Output out;
          n.swim->Tick(now_, out);
          Handle(i, out);
        }
      }
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
    for (const Node& n : nodes_)
      if (n.up) result_.member_seconds += Secs(now_ - n.since);
    return result_;
  }

 private:
  void Start(int i, TimePoint now) {
    Node& n = nodes_[i];
    n.up = true;
    n.paused = false;
    n.backlog.clear();
    n.since = now;
    uint64_t version = static_cast<uint64_t>(Secs(now - TimePoint{}) * 1e6);
    n.swim = std::make_unique<Swim>(p_.swim, n.name, names_, rng_(), now, version);
    NodeState st;
    st.role = i == 0 ? PgRole::kPrimary : PgRole::kReplica;
    st.checks_passing = 3;
    n.swim->SetLocalState(st);
  }

  void Disrupt() {
    switch (p_.scenario) {
      case Scenario::kCrash:
      case Scenario::kRestart:
        result_.member_seconds += Secs(now_ - nodes_[victim_].since);
        nodes_[victim_].up = false;
        nodes_[victim_].swim.reset();
        break;
      case Scenario::kPause:
        nodes_[victim_].paused = true;
        nodes_[victim_].resume = now_ + p_.pause;
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
          if (!side_.count(i) && nodes_[i].swim->Find(names_[j])->status != MemberStatus::kDead)
            Fail(names_[i] + " did not mark cut-off " + names_[j] + " dead during the cut");
    }
    cut_ = false;
    if (p_.scenario != Scenario::kPause) converging_ = true;
  }

  void Resume(int i) {
    Node& n = nodes_[i];
    n.paused = false;
    Output out;
    n.swim->Tick(now_, out);  // the process wakes first, then reads its socket
    Handle(i, out);
    std::vector<std::string> backlog;
    backlog.swap(n.backlog);
    for (const std::string& b : backlog) Receive(i, b);
  }

  void CheckDetected() {
    for (int i = 0; i < p_.n; ++i) {
      if (i == victim_ || !nodes_[i].up) continue;
      if (nodes_[i].swim->Find(names_[victim_])->status != MemberStatus::kDead)
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

  void Handle(int from, Output& out) {
    for (Send& s : out.sends) {
      kw::Result<std::string> enc = Encode(s.msg);
      if (!enc.ok()) {
        Fail("encode " + std::string(MsgTypeName(s.msg.type)) + ": " + enc.status().message());
        return;
      }
      ++result_.packets;
      result_.bytes += enc->size() + kSealOverhead;
      int to = std::stoi(s.to.substr(1));
      if (Uniform(rng_) < p_.loss || Blocked(from, to)) continue;
      Duration delay = Between(rng_, p_.min_delay, p_.max_delay);
      queue_.push(Pending{now_ + delay, order_++, from, to, std::move(*enc)});
    }
    for (const MemberEvent& e : out.events) OnEvent(from, e);
    out.Clear();
  }

  void Deliver(const Pending& d) {
    Node& n = nodes_[d.to];
    if (!n.up) return;
    if (n.paused) {
      n.backlog.push_back(d.bytes);
      return;
    }
    Receive(d.to, d.bytes);
  }

  void Receive(int to, const std::string& bytes) {
    kw::Result<Message> msg = Decode(bytes);
    if (!msg.ok()) {
      Fail("decode: " + msg.status().message());
      return;
    }
    Output out;
    nodes_[to].swim->Receive(now_, *msg, out);
    Handle(to, out);
  }

  void OnEvent(int observer, const MemberEvent& e) {
    if (trace_)
      std::fprintf(stderr, "%9.3f %s sees %s %s -> %s inc %llu\n", Secs(now_ - kT0),
                   names_[observer].c_str(), e.member.c_str(), MemberStatusName(e.from),
                   MemberStatusName(e.to), static_cast<unsigned long long>(e.incarnation));
    if (e.to != MemberStatus::kDead) return;
    int subject = std::stoi(e.member.substr(1));
    bool crashed_victim = (p_.scenario == Scenario::kCrash || p_.scenario == Scenario::kRestart) &&
                          subject == victim_;
    if (crashed_victim) {
      double t = Secs(now_ - disrupt_);
      if (result_.first_detect_s < 0) result_.first_detect_s = t;
      result_.all_detect_s = std::max(result_.all_detect_s, t);
      return;
    }
    if (!nodes_[subject].up) return;
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
    for (const Node& a : nodes_) {
      if (!a.up) continue;
      for (const Node& b : nodes_)
        if (b.up && a.swim->Find(b.name)->status == MemberStatus::kDead) return false;
    }
    return true;
  }

  std::string Views() const {
    std::string s;
    for (const Node& a : nodes_) {
      if (!a.up) continue;
      s += a.name + ":";
      for (const Node& b : nodes_) s += MemberStatusName(a.swim->Find(b.name)->status)[0];
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
  std::vector<std::string> names_;
  std::vector<Node> nodes_;
  std::priority_queue<Pending, std::vector<Pending>, std::greater<>> queue_;
  uint64_t order_ = 0;
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
