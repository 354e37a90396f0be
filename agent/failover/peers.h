// The gossip view as the failover logic sees it: one Peer per other member.
#pragma once

#include <vector>

#include "agent/failover/failover.h"
#include "agent/gossip/service.h"

namespace kw {

// Every member but self.  A suspect member is neither alive nor dead (failover.h).
std::vector<Peer> PeersFromView(const gossip::ClusterView& view);

}  // namespace kw
