// A simulated network of SWIM members, the piece shared by the gossip simulation (sim.h)
// and the failover simulation that runs on top of gossip
// (test/agent/failover/gossip_sim.h).
//
// Each member is a real gossip::Swim.  Every datagram goes through the real wire encoder
// and decoder (not the sealing: crypto_test covers it), may be lost (`loss`) or cut
// (`blocked`), and arrives after a random delay in [min_delay, max_delay].  Members can
// crash (datagrams to them vanish), restart (a fresh Swim: memory lost), pause (no timer
// fires; datagrams queue in the socket and are read when the process resumes, after its
// first Tick) and run on clocks whose rates differ (each Swim sees its own clock).
//
// Time is the caller's: NextEvent() says when something is due (global simulated time),
// Advance(now) carries out everything due by then.  All randomness comes from the rng the
// caller passes, so one seed replays a run.  Not thread-safe; one network per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "agent/clock.h"
#include "agent/gossip/swim.h"

namespace kw::gossip::sim {

double Uniform(std::mt19937_64& rng);  // [0, 1)
Duration Between(std::mt19937_64& rng, Duration lo, Duration hi);

class SwimNet {
 public:
  // `names` are every member; local clocks all read `t0` at global `t0`.
  SwimNet(std::vector<std::string> names, SwimConfig config, std::mt19937_64& rng, TimePoint t0);

  double loss = 0;  // per datagram
  Duration min_delay = milliseconds(1);
  Duration max_delay = milliseconds(30);
  std::function<bool(int from, int to)> blocked;               // a cut: dropped at send
  std::function<void(int at, const MemberEvent& e)> on_event;  // membership change at `at`
  std::function<void(int at, const Delivered& user)> on_user;  // user payload read by `at`

  int size() const { return static_cast<int>(nodes_.size()); }
  const std::string& name(int i) const { return nodes_[i].name; }
  int IndexOf(const std::string& name) const;  // -1 when not a member
  bool up(int i) const { return nodes_[i].swim != nullptr; }
  bool paused(int i) const { return up(i) && nodes_[i].paused; }
  bool running(int i) const { return up(i) && !nodes_[i].paused; }
  Swim& swim(int i) { return *nodes_[i].swim; }  // only while up
  const Swim& swim(int i) const { return *nodes_[i].swim; }

  // Member i's clock: t0 + (global - t0) × rate; and the global time it reads `local`
  // (rounded up, so Local(i, Global(i, l)) >= l).
  void SetRate(int i, double rate) { nodes_[i].rate = rate; }
  TimePoint Local(int i, TimePoint global) const;
  TimePoint Global(int i, TimePoint local) const;

  // (Re)starts member i with a fresh Swim at global `now`; its state version starts at
  // its clock in microseconds, as the daemon's transport does.
  void Start(int i, TimePoint now);
  void Crash(int i) { nodes_[i].swim.reset(); }
  // Freezes a running member until global `until` (SIGSTOP, a VM pause).
  void Pause(int i, TimePoint until);

  // The earliest global time a datagram arrives, a paused member resumes or a running
  // member's timer is due.  `end` when nothing is due before it.
  TimePoint NextEvent(TimePoint end) const;
  // Resumes, delivers and ticks everything due at global `now` (in that order).
  void Advance(TimePoint now);
  // Puts member i's output on the network (its sends) and reports its events.
  void Handle(int i, TimePoint now, Output& out);
  // Member i sends a user payload to `to` (as GossipService::SendUser).  False when
  // Swim refuses it (not a member, too large).
  bool SendUser(int i, TimePoint now, const std::string& to, std::string payload);

  uint64_t packets() const { return packets_; }
  uint64_t bytes() const { return bytes_; }            // sealed bytes (plaintext + seal overhead)
  const std::string& error() const { return error_; }  // first encode/decode failure

 private:
  struct Datagram {
    TimePoint at;
    uint64_t order;
    int to;
    std::string bytes;
    bool operator>(const Datagram& o) const { return at != o.at ? at > o.at : order > o.order; }
  };
  struct Node {
    std::string name;
    std::unique_ptr<Swim> swim;
    double rate = 1.0;
    bool paused = false;
    TimePoint resume{};                // paused until (global)
    std::vector<std::string> backlog;  // datagrams that queued up in the socket while paused
  };
  void Receive(int i, TimePoint now, const std::string& bytes);

  std::vector<std::string> names_;
  std::map<std::string, int> index_;
  std::vector<Node> nodes_;
  SwimConfig config_;
  std::mt19937_64& rng_;
  TimePoint t0_;
  std::priority_queue<Datagram, std::vector<Datagram>, std::greater<>> queue_;
  uint64_t order_ = 0;
  uint64_t packets_ = 0;
  uint64_t bytes_ = 0;
  std::string error_;
};

}  // namespace kw::gossip::sim
