// Failover inside keepwatchd: the FailoverService joined to the gossip service (its
// transport and its view of the other members) and to the local PostgreSQL (the postgres
// check's conninfo, for promote and fence).  Started when [cluster] failover is not off.
#pragma once

#include <memory>
#include <mutex>

#include "agent/config.h"
#include "agent/failover/pg_actuator.h"
#include "agent/failover/service.h"
#include "agent/gossip/service.h"

namespace kw {

FailoverConfig FailoverConfigFrom(const Config& cfg);

class FailoverRuntime final : public PeerSource, public FailoverTransport {
 public:
  // `gossip` must outlive the runtime.  Registers for gossip's user payloads.
  static Result<std::unique_ptr<FailoverRuntime>> Start(const Config& cfg, const Clock& clock,
                                                        const SnapshotBox& box,
                                                        gossip::GossipService& gossip, Logger& log);
  ~FailoverRuntime() override;

  FailoverService& service() { return *svc_; }
  std::vector<Peer> Peers() const override;
  void SendFailover(const std::string& to, const std::string& payload) override;

 private:
  FailoverRuntime(gossip::GossipService& gossip, Logger& log) : gossip_(gossip), log_(log) {}
  gossip::GossipService& gossip_;
  Logger& log_;
  LibpqConnector connector_;
  std::unique_ptr<PgActuator> actuator_;
  std::unique_ptr<FailoverService> svc_;
  // Gossip may be inside its user-payload handler while we stop: the handler reaches the
  // service only through this gate, which the destructor closes first.
  struct Gate {
    std::mutex mu;
    FailoverService* svc = nullptr;
  };
  std::shared_ptr<Gate> gate_ = std::make_shared<Gate>();
};

}  // namespace kw
