#include "agent/gossip/wire.h"

namespace kw::gossip {

const char* MsgTypeName(MsgType t) {
  switch (t) {
    case MsgType::kPing:
      return "ping";
    case MsgType::kPingReq:
      return "ping-req";
    case MsgType::kAck:
      return "ack";
    case MsgType::kNack:
      return "nack";
    case MsgType::kPushPull:
      return "push-pull";
    case MsgType::kGossip:
      return "gossip";
    case MsgType::kUser:
      return "user";
  }
  return "?";
}

const char* MemberStatusName(MemberStatus s) {
  switch (s) {
    case MemberStatus::kAlive:
      return "alive";
    case MemberStatus::kSuspect:
      return "suspect";
    case MemberStatus::kDead:
      return "dead";
  }
  return "?";
}

const char* PgRoleName(PgRole r) {
  switch (r) {
    case PgRole::kUnknown:
      return "unknown";
    case PgRole::kPrimary:
      return "primary";
    case PgRole::kReplica:
      return "replica";
    case PgRole::kDown:
      return "down";
    case PgRole::kNone:
      return "none";
  }
  return "?";
}

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxName) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

namespace {

bool HasProbe(MsgType t) {
  return t == MsgType::kPing || t == MsgType::kPingReq || t == MsgType::kAck || t == MsgType::kNack;
}

// ---- encoding ----

class Writer {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U16(uint16_t v) { Be(v, 2); }
  void U32(uint32_t v) { Be(v, 4); }
  void U64(uint64_t v) { Be(v, 8); }
  void Str(const std::string& s) {
    U8(static_cast<uint8_t>(s.size()));
    out_ += s;
  }
  std::string& out() { return out_; }

 private:
  void Be(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string out_;
};

size_t StrSize(const std::string& s) { return 1 + s.size(); }

Status CheckState(const NodeState& s) {
  if (!s.leader.empty() && !ValidName(s.leader)) return Status::Error("invalid leader name");
  if (s.failing.size() > kMaxFailingNames) return Status::Error("too many failing check names");
  for (const std::string& n : s.failing)
    if (!ValidName(n) || n.size() > kMaxCheckName)
      return Status::Error("invalid failing check name");
  return Status::Ok();
}

void PutState(Writer& w, const NodeState& s) {
  w.U64(s.version);
  w.U8(static_cast<uint8_t>(s.role));
  w.U32(s.timeline);
  w.U64(s.received_lsn);
  w.U64(s.replayed_lsn);
  w.U64(s.current_lsn);
  w.U64(s.term);
  w.Str(s.leader);
  w.U16(s.checks_passing);
  w.U16(s.checks_failing);
  w.U8(static_cast<uint8_t>(s.failing.size()));
  for (const std::string& n : s.failing) w.Str(n);
  w.U8(static_cast<uint8_t>((s.read_only ? 1 : 0) | (s.paused ? 2 : 0)));
  w.U64(s.pause_version);
}

// ---- decoding ----

// Reads big-endian fields from a bounded view; the first failure sticks and records
// where it happened, so Decode() can read straight through and check once per item.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  size_t pos() const { return pos_; }
  size_t remaining() const { return in_.size() - pos_; }
  void Fail(const std::string& why) {
    if (error_.empty()) error_ = why + " at offset " + std::to_string(pos_);
  }
  uint64_t Be(int n, const char* what) {
    if (!ok()) return 0;
    if (remaining() < static_cast<size_t>(n)) {
      Fail(std::string("truncated ") + what);
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(in_[pos_ + i]);
    pos_ += n;
    return v;
  }
  uint8_t U8(const char* what) { return static_cast<uint8_t>(Be(1, what)); }
  // The next n bytes; the caller checked remaining() >= n.
  std::string_view Take(size_t n) {
    std::string_view v = in_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  uint16_t U16(const char* what) { return static_cast<uint16_t>(Be(2, what)); }
  uint32_t U32(const char* what) { return static_cast<uint32_t>(Be(4, what)); }
  uint64_t U64(const char* what) { return Be(8, what); }
  // A name: 1..max bytes of ValidName characters, or empty when allow_empty.
  std::string Name(const char* what, size_t max = kMaxName, bool allow_empty = false) {
    size_t len = U8(what);
    if (!ok()) return {};
    if (len == 0 && allow_empty) return {};
    if (len == 0 || len > max) {
      Fail(std::string("bad length ") + std::to_string(len) + " of " + what);
      return {};
    }
    if (remaining() < len) {
      Fail(std::string("truncated ") + what);
      return {};
    }
    std::string s(in_.substr(pos_, len));
    if (!ValidName(s)) {
      Fail(std::string("invalid characters in ") + what);
      return {};
    }
    pos_ += len;
    return s;
  }

 private:
  std::string_view in_;
  size_t pos_ = 0;
  std::string error_;
};

NodeState GetState(Reader& r) {
  NodeState s;
  s.version = r.U64("state version");
  uint8_t role = r.U8("role");
  if (r.ok() && role > static_cast<uint8_t>(PgRole::kNone))
    r.Fail("unknown role " + std::to_string(role));
  s.role = static_cast<PgRole>(role);
  s.timeline = r.U32("timeline");
  s.received_lsn = r.U64("received lsn");
  s.replayed_lsn = r.U64("replayed lsn");
  s.current_lsn = r.U64("current lsn");
  s.term = r.U64("term");
  s.leader = r.Name("leader", kMaxName, /*allow_empty=*/true);
  s.checks_passing = r.U16("passing count");
  s.checks_failing = r.U16("failing count");
  size_t n = r.U8("failing names count");
  if (r.ok() && n > kMaxFailingNames) r.Fail("too many failing names (" + std::to_string(n) + ")");
  for (size_t i = 0; i < n && r.ok(); ++i) s.failing.push_back(r.Name("check name", kMaxCheckName));
  uint8_t flags = r.U8("state flags");
  if (r.ok() && flags > 3) r.Fail("unknown state flags " + std::to_string(flags));
  s.read_only = flags & 1;
  s.paused = flags & 2;
  s.pause_version = r.U64("pause version");
  return s;
}

}  // namespace

size_t EncodedSize(const NodeState& s) {
  size_t n = 8 + 1 + 4 + 8 * 4 + StrSize(s.leader) + 2 + 2 + 1 + 1 + 8;
  for (const std::string& f : s.failing) n += StrSize(f);
  return n;
}

size_t EncodedSize(const Update& u) {
  size_t n = 1 + StrSize(u.member) + 8 + StrSize(u.from);
  if (u.kind == UpdateKind::kState) n += EncodedSize(u.state);
  return n;
}

size_t EncodedSize(const Record& r) { return StrSize(r.member) + 1 + 8 + EncodedSize(r.state); }

size_t EncodedSize(const Message& m) {
  size_t n = 2 + StrSize(m.sender) + 16;
  if (HasProbe(m.type)) n += 4 + StrSize(m.target);
  if (m.type == MsgType::kPushPull) {
    n += 2;
    for (const Record& r : m.records) n += EncodedSize(r);
  }
  if (m.type == MsgType::kUser) n += 2 + m.payload.size();
  n += 1;
  for (const Update& u : m.updates) n += EncodedSize(u);
  return n;
}

Result<std::string> Encode(const Message& m) {
  if (!ValidName(m.sender)) return Status::Error("invalid sender name");
  if (HasProbe(m.type) && !ValidName(m.target)) return Status::Error("invalid target name");
  if (m.updates.size() > kMaxUpdates) return Status::Error("too many updates");
  if (m.records.size() > kMaxRecords) return Status::Error("too many records");
  if (m.type != MsgType::kPushPull && !m.records.empty())
    return Status::Error("records outside a push-pull message");
  if (m.type != MsgType::kUser && !m.payload.empty())
    return Status::Error("payload outside a user message");
  for (const Record& r : m.records) {
    if (!ValidName(r.member)) return Status::Error("invalid record member name");
    if (Status s = CheckState(r.state); !s.ok()) return s;
  }
  for (const Update& u : m.updates) {
    if (!ValidName(u.member) || !ValidName(u.from)) return Status::Error("invalid update name");
    if (u.kind == UpdateKind::kState)
      if (Status s = CheckState(u.state); !s.ok()) return s;
  }
  size_t size = EncodedSize(m);
  if (size > kMaxPlaintext)
    return Status::Error("message of " + std::to_string(size) + " bytes exceeds " +
                         std::to_string(kMaxPlaintext));
  Writer w;
  w.out().reserve(size);
  w.U8(kWireVersion);
  w.U8(static_cast<uint8_t>(m.type));
  w.Str(m.sender);
  w.U64(m.epoch);
  w.U64(m.seq);
  if (HasProbe(m.type)) {
    w.U32(m.probe);
    w.Str(m.target);
  }
  if (m.type == MsgType::kPushPull) {
    w.U8(m.reply ? 1 : 0);
    w.U8(static_cast<uint8_t>(m.records.size()));
    for (const Record& r : m.records) {
      w.Str(r.member);
      w.U8(static_cast<uint8_t>(r.status));
      w.U64(r.incarnation);
      PutState(w, r.state);
    }
  }
  if (m.type == MsgType::kUser) {
    w.U16(static_cast<uint16_t>(m.payload.size()));
    w.out() += m.payload;
  }
  w.U8(static_cast<uint8_t>(m.updates.size()));
  for (const Update& u : m.updates) {
    w.U8(static_cast<uint8_t>(u.kind));
    w.Str(u.member);
    w.U64(u.incarnation);
    w.Str(u.from);
    if (u.kind == UpdateKind::kState) PutState(w, u.state);
  }
  return std::move(w.out());
}

Result<Message> Decode(std::string_view bytes) {
  if (bytes.size() > kMaxPlaintext)
    return Status::Error("datagram of " + std::to_string(bytes.size()) + " bytes is too long");
  Reader r(bytes);
  Message m;
  uint8_t version = r.U8("version");
  if (r.ok() && version != kWireVersion)
    return Status::Error("unsupported wire version " + std::to_string(version));
  uint8_t type = r.U8("type");
  if (r.ok() &&
      (type < static_cast<uint8_t>(MsgType::kPing) || type > static_cast<uint8_t>(MsgType::kUser)))
    return Status::Error("unknown message type " + std::to_string(type));
  m.type = static_cast<MsgType>(type);
  m.sender = r.Name("sender");
  m.epoch = r.U64("epoch");
  m.seq = r.U64("seq");
  if (r.ok() && HasProbe(m.type)) {
    m.probe = r.U32("probe id");
    m.target = r.Name("target");
  }
  if (r.ok() && m.type == MsgType::kPushPull) {
    uint8_t flags = r.U8("flags");
    if (r.ok() && flags > 1) r.Fail("unknown push-pull flags " + std::to_string(flags));
    m.reply = flags & 1;
    size_t n = r.U8("record count");
    if (r.ok() && n > kMaxRecords) r.Fail("too many records (" + std::to_string(n) + ")");
    for (size_t i = 0; i < n && r.ok(); ++i) {
      Record rec;
      rec.member = r.Name("record member");
      uint8_t st = r.U8("status");
      if (r.ok() && st > static_cast<uint8_t>(MemberStatus::kDead))
        r.Fail("unknown member status " + std::to_string(st));
      rec.status = static_cast<MemberStatus>(st);
      rec.incarnation = r.U64("incarnation");
      rec.state = GetState(r);
      m.records.push_back(std::move(rec));
    }
  }
  if (r.ok() && m.type == MsgType::kUser) {
    size_t len = r.U16("payload length");
    if (r.ok() && r.remaining() < len) r.Fail("truncated payload");
    if (r.ok()) m.payload = std::string(r.Take(len));
  }
  size_t n = r.U8("update count");
  if (r.ok() && n > kMaxUpdates) r.Fail("too many updates (" + std::to_string(n) + ")");
  for (size_t i = 0; i < n && r.ok(); ++i) {
    Update u;
    uint8_t kind = r.U8("update kind");
    if (r.ok() && kind > static_cast<uint8_t>(UpdateKind::kState))
      r.Fail("unknown update kind " + std::to_string(kind));
    u.kind = static_cast<UpdateKind>(kind);
    u.member = r.Name("update member");
    u.incarnation = r.U64("incarnation");
    u.from = r.Name("update origin");
    if (r.ok() && u.kind == UpdateKind::kState) u.state = GetState(r);
    m.updates.push_back(std::move(u));
  }
  if (r.ok() && r.remaining() != 0) r.Fail(std::to_string(r.remaining()) + " trailing bytes");
  if (!r.ok()) return Status::Error(r.error());
  return m;
}

}  // namespace kw::gossip
