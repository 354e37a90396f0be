#include "test/agent/gossip/net.h"

#include <algorithm>
#include <cmath>

#include "agent/gossip/wire.h"

namespace kw::gossip::sim {

double Uniform(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

Duration Between(std::mt19937_64& rng, Duration lo, Duration hi) {
  auto span = static_cast<double>((hi - lo).count());
  return lo + Duration(static_cast<Duration::rep>(span * Uniform(rng)));
}

SwimNet::SwimNet(std::vector<std::string> names, SwimConfig config, std::mt19937_64& rng,
                 TimePoint t0)
    : names_(std::move(names)), config_(config), rng_(rng), t0_(t0) {
  nodes_.resize(names_.size());
  for (size_t i = 0; i < names_.size(); ++i) {
    nodes_[i].name = names_[i];
    index_[names_[i]] = static_cast<int>(i);
  }
}

int SwimNet::IndexOf(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? -1 : it->second;
}

TimePoint SwimNet::Local(int i, TimePoint global) const {
  double rate = nodes_[i].rate;
  if (rate == 1.0) return global;
  auto d = static_cast<double>((global - t0_).count()) * rate;
  return t0_ + Duration(static_cast<Duration::rep>(d));
}

TimePoint SwimNet::Global(int i, TimePoint local) const {
  double rate = nodes_[i].rate;
  if (rate == 1.0) return local;
  auto d = static_cast<double>((local - t0_).count()) / rate;
  TimePoint g = t0_ + Duration(static_cast<Duration::rep>(std::ceil(d)));
  while (Local(i, g) < local) g += Duration(1);  // rounding: never wake a member early
  return g;
}

void SwimNet::Start(int i, TimePoint now) {
  Node& n = nodes_[i];
  n.paused = false;
  n.backlog.clear();
  TimePoint local = Local(i, now);
  auto version = static_cast<uint64_t>(ToSeconds(local - TimePoint{}) * 1e6);
  n.swim = std::make_unique<Swim>(config_, n.name, names_, rng_(), local, version);
}

void SwimNet::Pause(int i, TimePoint until) {
  nodes_[i].paused = true;
  nodes_[i].resume = until;
}

TimePoint SwimNet::NextEvent(TimePoint end) const {
  TimePoint t = end;
  if (!queue_.empty()) t = std::min(t, queue_.top().at);
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = nodes_[i];
    if (!n.swim) continue;
    t = std::min(t, n.paused ? n.resume : Global(static_cast<int>(i), n.swim->NextWakeup()));
  }
  return t;
}

void SwimNet::Advance(TimePoint now) {
  for (int i = 0; i < size(); ++i) {
    Node& n = nodes_[i];
    if (!n.swim || !n.paused || now < n.resume) continue;
    n.paused = false;
    Output out;
    n.swim->Tick(Local(i, now), out);  // the process wakes first, then reads its socket
    Handle(i, now, out);
    std::vector<std::string> backlog;
    backlog.swap(n.backlog);
    for (const std::string& b : backlog)
      if (n.swim) Receive(i, now, b);
  }
  while (!queue_.empty() && queue_.top().at <= now) {
    Datagram d = queue_.top();
    queue_.pop();
    Node& n = nodes_[d.to];
    if (!n.swim) continue;  // crashed: nobody reads it
    if (n.paused) {
      n.backlog.push_back(std::move(d.bytes));
      continue;
    }
    Receive(d.to, now, d.bytes);
  }
  for (int i = 0; i < size(); ++i) {
    Node& n = nodes_[i];
    if (!n.swim || n.paused || n.swim->NextWakeup() > Local(i, now)) continue;
    Output out;
    n.swim->Tick(Local(i, now), out);
    Handle(i, now, out);
  }
}

void SwimNet::Handle(int i, TimePoint now, Output& out) {
  for (Send& s : out.sends) {
    kw::Result<std::string> enc = Encode(s.msg);
    if (!enc.ok()) {
      if (error_.empty())
        error_ = "encode " + std::string(MsgTypeName(s.msg.type)) + ": " + enc.status().message();
      continue;
    }
    ++packets_;
    bytes_ += enc->size() + kSealOverhead;
    int to = IndexOf(s.to);
    if (to < 0 || Uniform(rng_) < loss || (blocked && blocked(i, to))) continue;
    Duration delay = Between(rng_, min_delay, max_delay);
    queue_.push(Datagram{now + delay, order_++, to, std::move(*enc)});
  }
  if (on_event)
    for (const MemberEvent& e : out.events) on_event(i, e);
  if (on_user)
    for (const Delivered& d : out.delivered) on_user(i, d);
  out.Clear();
}

bool SwimNet::SendUser(int i, TimePoint now, const std::string& to, std::string payload) {
  Output out;
  bool ok = nodes_[i].swim->SendUser(to, std::move(payload), out);
  Handle(i, now, out);
  return ok;
}

void SwimNet::Receive(int i, TimePoint now, const std::string& bytes) {
  kw::Result<Message> msg = Decode(bytes);
  if (!msg.ok()) {
    if (error_.empty()) error_ = "decode: " + msg.status().message();
    return;
  }
  Output out;
  nodes_[i].swim->Receive(Local(i, now), *msg, out);
  Handle(i, now, out);
}

}  // namespace kw::gossip::sim
