// The gossip service: one thread that owns a UDP socket and the SWIM state machine
// (swim.h), seals and opens datagrams (crypto.h), and publishes a copy of the cluster
// view for the HTTP API and /metrics.
//
//   auto svc = GossipService::Start(settings, clock);   // binds, starts the thread
//   svc->SetLocalState(state);                            // any thread
//   ClusterView v = svc->View();                          // any thread, a copy
//   svc.reset();                                          // stops and joins
//
// Every datagram that fails is dropped and counted by reason (DropReason); nothing a
// peer sends can stop the thread.  A datagram must come from a configured member name
// (authenticated inside the seal); its source address is not trusted for anything.
// The clock is injected (the daemon passes the real steady clock).
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/clock.h"
#include "agent/config.h"
#include "agent/gossip/crypto.h"
#include "agent/gossip/swim.h"
#include "agent/net.h"
#include "agent/status.h"

namespace kw::gossip {

struct GossipMember {
  std::string name;
  HostPort address;
};

struct GossipSettings {
  std::string cluster;
  std::string self;
  HostPort bind{"0.0.0.0", 7950};
  std::vector<GossipMember> members;  // every configured member, self included
  Key key{};
  std::optional<Key> secondary_key;
  SwimConfig swim;
};

// From the [cluster] and [member.*] configuration; reads the key files (refusing one
// readable by group or others).  The error names the file and what is wrong.
Result<GossipSettings> SettingsFromConfig(const Config& cfg);

struct ClusterView {
  TimePoint taken{};
  std::string self;
  std::string cluster;
  std::vector<MemberView> members;
  SwimCounters swim;
  int awareness = 0;
  std::array<uint64_t, static_cast<size_t>(DropReason::kCount)> drops{};
  uint64_t datagrams_in = 0;
  uint64_t datagrams_out = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t send_errors = 0;
};

class GossipService {
 public:
  // Binds the socket (an error names the address) and starts the thread.
  // on_event, when set, is called on the gossip thread for each membership change (the
  // daemon logs them); it must not block.
  static Result<std::unique_ptr<GossipService>> Start(
      const GossipSettings& settings, const Clock& clock,
      std::function<void(const MemberEvent&)> on_event = {});
  ~GossipService();
  GossipService(const GossipService&) = delete;
  GossipService& operator=(const GossipService&) = delete;

  void SetLocalState(const NodeState& state);
  ClusterView View() const;

  // A channel for the layer above (failover): SendUser queues an opaque payload to a
  // member (sealed like every datagram, best effort: UDP, no retry); the handler is called
  // on the gossip thread for each payload received from a member, and must not block.
  // Any thread.  Payloads over kMaxUserPayload are refused.
  static constexpr size_t kMaxUserPayload = 1100;
  Status SendUser(const std::string& to, std::string payload);
  void OnUser(std::function<void(const std::string& from, const std::string& payload)> handler);
  HostPort bound() const { return bound_; }

 private:
  GossipService(const GossipSettings& s, const Clock& clock, Fd fd, HostPort bound);
  void Run();
  void ReadDatagrams(TimePoint now, Output& out);
  void SendAll(Output& out);
  void Publish(TimePoint now);

  const GossipSettings settings_;
  const Clock& clock_;
  Fd fd_;
  Fd wake_[2];  // self-pipe: Stop() and SetLocalState() wake the loop
  HostPort bound_;
  std::vector<std::string> addrs_;  // sockaddr bytes per member index
  std::vector<std::string> names_;
  Keyring keyring_;
  ReplayGuard replay_;
  uint64_t epoch_ = 0;
  uint64_t seq_ = 0;
  std::unique_ptr<Swim> swim_;  // loop thread only
  std::function<void(const MemberEvent&)> on_event_;

  mutable std::mutex mu_;
  std::optional<NodeState> pending_state_;                               // guarded by mu_
  std::vector<std::pair<std::string, std::string>> pending_user_;        // guarded by mu_
  std::function<void(const std::string&, const std::string&)> on_user_;  // guarded by mu_
  ClusterView view_;                                                     // guarded by mu_
  ClusterView stats_;  // loop thread only; copied into view_
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace kw::gossip
