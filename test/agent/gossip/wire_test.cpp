#include "agent/gossip/wire.h"

#include <doctest/doctest.h>

using namespace kw::gossip;

namespace {

NodeState SampleState() {
  NodeState s;
  s.version = 77;
  s.role = PgRole::kReplica;
  s.timeline = 3;
  s.received_lsn = 0x16B374D8;
  s.replayed_lsn = 0x16B374D0;
  s.current_lsn = 0;
  s.term = 9;
  s.leader = "postgresql1";
  s.checks_passing = 4;
  s.checks_failing = 2;
  s.failing = {"filestore", "iscsi"};
  return s;
}

Message SampleMessage(MsgType type) {
  Message m;
  m.type = type;
  m.sender = "odoo1";
  m.epoch = 0x0102030405060708ull;
  m.seq = 42;
  if (type == MsgType::kPing || type == MsgType::kPingReq || type == MsgType::kAck ||
      type == MsgType::kNack) {
    m.probe = 0xdeadbeef;
    m.target = "postgresql2";
  }
  if (type == MsgType::kPushPull) {
    m.reply = true;
    m.records.push_back(Record{"lb1", MemberStatus::kSuspect, 5, SampleState()});
    m.records.push_back(Record{"lb2", MemberStatus::kDead, 6, NodeState{}});
  }
  if (type == MsgType::kUser) m.payload = std::string("\x01\x00vote", 6);
  m.updates.push_back(Update{UpdateKind::kSuspect, "lb2", 4, "odoo1", {}});
  m.updates.push_back(Update{UpdateKind::kState, "postgresql2", 1, "postgresql2", SampleState()});
  return m;
}

const MsgType kAllTypes[] = {MsgType::kPing,     MsgType::kPingReq, MsgType::kAck, MsgType::kNack,
                             MsgType::kPushPull, MsgType::kGossip,  MsgType::kUser};

}  // namespace

TEST_CASE("gossip wire: every message type round-trips with its exact size") {
  for (MsgType t : kAllTypes) {
    CAPTURE(MsgTypeName(t));
    Message m = SampleMessage(t);
    auto enc = Encode(m);
    REQUIRE(enc.ok());
    CHECK(enc->size() == EncodedSize(m));
    auto dec = Decode(*enc);
    REQUIRE(dec.ok());
    CHECK(*dec == m);
  }
}

TEST_CASE("gossip wire: truncation at every byte is rejected") {
  for (MsgType t : kAllTypes) {
    std::string enc = *Encode(SampleMessage(t));
    for (size_t len = 0; len < enc.size(); ++len) {
      CAPTURE(len);
      auto dec = Decode(std::string_view(enc).substr(0, len));
      CHECK_FALSE(dec.ok());
    }
    auto extra = Decode(enc + "x");
    REQUIRE_FALSE(extra.ok());
    CHECK(extra.status().message().find("trailing") != std::string::npos);
  }
}

TEST_CASE("gossip wire: bad version, type, counts, lengths and enums are named") {
  std::string enc = *Encode(SampleMessage(MsgType::kPushPull));
  auto why = [](std::string bytes) { return Decode(bytes).status().message(); };

  std::string v = enc;
  v[0] = 2;
  CHECK(why(v) == "unsupported wire version 2");
  std::string t = enc;
  t[1] = 9;
  CHECK(why(t) == "unknown message type 9");
  t[1] = 8;
  CHECK(why(t) == "unknown message type 8");
  t[1] = 0;
  CHECK(why(t) == "unknown message type 0");
  std::string l = enc;
  l[2] = 0;  // sender length 0
  CHECK(why(l).find("bad length 0 of sender") == 0);
  l[2] = 64;
  CHECK(why(l).find("bad length 64 of sender") == 0);
  std::string c = enc;
  c[3] = ' ';  // a space inside the sender name
  CHECK(why(c).find("invalid characters in sender") == 0);

  // push-pull: after header (2 + 6 + 16) comes flags, then the record count.
  size_t flags_at = 2 + 6 + 16;
  std::string f = enc;
  f[flags_at] = 2;
  CHECK(why(f).find("unknown push-pull flags 2") == 0);
  std::string rc = enc;
  rc[flags_at + 1] = 65;
  CHECK(why(rc).find("too many records (65)") == 0);
  rc[flags_at + 1] = 3;  // claims one record more than present
  CHECK_FALSE(Decode(rc).ok());
  size_t status_at = flags_at + 2 + 4;  // "lb1" record name
  std::string st = enc;
  st[status_at] = 3;
  CHECK(why(st).find("unknown member status 3") == 0);
  std::string role = enc;
  role[status_at + 1 + 8 + 8] = 7;
  CHECK(why(role).find("unknown role 7") == 0);

  // The update count is the byte after the records; make it too big.
  Message g = SampleMessage(MsgType::kGossip);
  g.updates.clear();
  std::string ge = *Encode(g);
  ge.back() = 65;
  CHECK(why(ge).find("too many updates (65)") == 0);
  ge.back() = 1;
  CHECK(why(ge).find("truncated update kind") == 0);
  ge += '\x04';
  CHECK(why(ge).find("unknown update kind 4") == 0);
  CHECK(why(std::string(kMaxPlaintext + 1, '\x01')).find("too long") != std::string::npos);
}

TEST_CASE("gossip wire: the encoder refuses what the decoder would refuse") {
  Message m = SampleMessage(MsgType::kPing);
  m.sender = "";
  CHECK_FALSE(Encode(m).ok());
  m = SampleMessage(MsgType::kPing);
  m.target = std::string(64, 'a');
  CHECK_FALSE(Encode(m).ok());
  m = SampleMessage(MsgType::kPing);
  m.updates[1].state.failing.assign(9, "x");
  CHECK_FALSE(Encode(m).ok());
  m = SampleMessage(MsgType::kPing);
  m.records.push_back(Record{"lb1", MemberStatus::kAlive, 0, {}});
  CHECK_FALSE(Encode(m).ok());
  // Too large for one datagram: refused, never truncated.
  m = SampleMessage(MsgType::kGossip);
  m.updates.clear();
  for (int i = 0; i < 60; ++i)
    m.updates.push_back(Update{UpdateKind::kState, "member" + std::to_string(i), 1,
                               "member" + std::to_string(i), SampleState()});
  auto big = Encode(m);
  REQUIRE_FALSE(big.ok());
  CHECK(big.status().message().find("exceeds 1355") != std::string::npos);
}

TEST_CASE("gossip wire: sixteen full records with worst-case names fit one datagram") {
  // The push-pull sender splits by size; check the arithmetic it relies on.
  NodeState worst = SampleState();
  worst.leader = std::string(kMaxName, 'l');
  worst.failing.assign(kMaxFailingNames, std::string(kMaxCheckName, 'c'));
  Record r{std::string(kMaxName, 'm'), MemberStatus::kAlive, 1, worst};
  CHECK(EncodedSize(r) < kMaxPlaintext / 2);  // at least two per datagram, always
}
