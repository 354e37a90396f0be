// Failover messages as bytes, for the gossip transport to carry (sealed like every
// gossip datagram).  Layout, integers big-endian:
//   u8 version (1)  u8 type  u64 term  str from  u64 seq  u64 timeline  u64 lsn
//   u8 flags (bit0 granted, bit1 primary)  str reason
// str = u8 length + bytes.  Decode accepts exactly one well-formed message.  Pure.
#pragma once

#include <string>
#include <string_view>

#include "agent/failover/failover.h"
#include "agent/status.h"

namespace kw {

std::string EncodeFailover(const FailoverMsg& m);
Result<FailoverMsg> DecodeFailover(std::string_view bytes);

}  // namespace kw
