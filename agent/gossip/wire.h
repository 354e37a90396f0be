// The gossip wire format: one versioned binary message per UDP datagram.
//
// This is the plaintext that crypto.h seals.  Layout (all integers big-endian):
//
//   u8  version (kWireVersion)     u8  type (MsgType)
//   str sender                     u64 epoch   u64 seq      -- replay guard (crypto.h)
//   type body:
//     ping, ping-req:  u32 probe  str target
//     ack, nack:       u32 probe  str target
//     push-pull:       u8 flags (bit0 = reply)  u8 n  n x Record
//     gossip:          (empty)
//     user:            u16 n  n bytes  -- an opaque payload for a layer above (failover)
//   u8 n  n x Update                                        -- piggybacked dissemination
//
//   str      = u8 length + bytes (names: 1..kMaxName bytes of [A-Za-z0-9_.-])
//   Update   = u8 kind  str member  u64 incarnation  str from  [NodeState if kind == state]
//   Record   = str member  u8 status  u64 incarnation  NodeState
//   NodeState= u64 version  u8 role  u32 timeline  u64 received  u64 replayed
//              u64 current  u64 term  str0 leader  u16 passing  u16 failing
//              u8 n  n x str failing-check names            (str0: length may be 0)
//
// Decode() accepts exactly one well-formed message and nothing else: every length is
// checked against the remaining bytes, every enum against its range, every count
// against its limit, and trailing bytes are an error.  It never throws or reads out of
// bounds (the fuzz target in test/fuzz/ holds it to that).  Pure functions, any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/status.h"

namespace kw::gossip {

inline constexpr uint8_t kWireVersion = 1;
inline constexpr size_t kMaxDatagram = 1400;              // sealed size on the wire
inline constexpr size_t kSealOverhead = 1 + 4 + 24 + 16;  // version, cluster tag, nonce, tag
inline constexpr size_t kMaxPlaintext = kMaxDatagram - kSealOverhead;
inline constexpr size_t kMaxName = 63;
inline constexpr size_t kMaxFailingNames = 8;
inline constexpr size_t kMaxCheckName = 32;
inline constexpr size_t kMaxUpdates = 64;
inline constexpr size_t kMaxRecords = 64;

enum class MsgType : uint8_t { kPing = 1, kPingReq, kAck, kNack, kPushPull, kGossip, kUser };
const char* MsgTypeName(MsgType t);

enum class MemberStatus : uint8_t { kAlive = 0, kSuspect = 1, kDead = 2 };
const char* MemberStatusName(MemberStatus s);

enum class PgRole : uint8_t { kUnknown = 0, kPrimary, kReplica, kDown, kNone };
const char* PgRoleName(PgRole r);

// What a member says about itself; newer `version` wins (set by its owner only).
struct NodeState {
  uint64_t version = 0;
  PgRole role = PgRole::kUnknown;
  uint32_t timeline = 0;
  uint64_t received_lsn = 0;
  uint64_t replayed_lsn = 0;
  uint64_t current_lsn = 0;
  uint64_t term = 0;
  std::string leader;
  uint16_t checks_passing = 0;
  uint16_t checks_failing = 0;
  std::vector<std::string> failing;  // at most kMaxFailingNames, each <= kMaxCheckName
  bool read_only = false;            // a primary that refuses writes (fenced read-only)
  // Failover pause (keepwatch pause/resume), a register the highest version wins.
  bool paused = false;
  uint64_t pause_version = 0;
  bool operator==(const NodeState&) const = default;
};

enum class UpdateKind : uint8_t { kAlive = 0, kSuspect = 1, kDead = 2, kState = 3 };

// One piggybacked claim: "member is alive/suspect/dead at incarnation" (from = who says
// so, for suspicion confirmations), or "member's node state is `state`".
struct Update {
  UpdateKind kind = UpdateKind::kAlive;
  std::string member;
  uint64_t incarnation = 0;
  std::string from;
  NodeState state;  // kState only
  bool operator==(const Update&) const = default;
};

// One member's full record in a push-pull exchange.
struct Record {
  std::string member;
  MemberStatus status = MemberStatus::kAlive;
  uint64_t incarnation = 0;
  NodeState state;
  bool operator==(const Record&) const = default;
};

struct Message {
  MsgType type = MsgType::kPing;
  std::string sender;
  uint64_t epoch = 0;  // replay guard, filled by the transport
  uint64_t seq = 0;
  uint32_t probe = 0;           // ping, ping-req, ack, nack
  std::string target;           // ping, ping-req, ack, nack: the member probed
  bool reply = false;           // push-pull
  std::vector<Record> records;  // push-pull
  std::string payload;          // user
  std::vector<Update> updates;
  bool operator==(const Message&) const = default;
};

// Serialises msg.  Fails (never truncates) when a field breaks a limit above or the
// result would exceed kMaxPlaintext.
Result<std::string> Encode(const Message& msg);
// Exact encoded sizes, for packing updates and records under kMaxPlaintext.
size_t EncodedSize(const Message& msg);
size_t EncodedSize(const Update& u);
size_t EncodedSize(const Record& r);
size_t EncodedSize(const NodeState& s);

// Parses one datagram's plaintext.  The error says what is wrong and at which offset.
Result<Message> Decode(std::string_view bytes);

// Valid member/leader name: 1..kMaxName of [A-Za-z0-9_.-].
bool ValidName(std::string_view name);

}  // namespace kw::gossip
