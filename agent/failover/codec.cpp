#include "agent/failover/codec.h"

namespace kw {
namespace {

// The layout has not changed since version 2; pre-votes only added two message types, so
// an agent of the release before them still renews leases and votes with this one (and
// drops the pre-votes it cannot read, see PROTOCOL.md "Upgrades").
constexpr uint8_t kVersion = 2;
constexpr size_t kMaxReason = 200;

void PutU64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

void PutStr(std::string& out, std::string_view s) {
  s = s.substr(0, 255);
  out += static_cast<char>(s.size());
  out.append(s);
}

class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  bool U8(uint8_t* v) {
    if (b_.empty()) return false;
    *v = static_cast<uint8_t>(b_[0]);
    b_.remove_prefix(1);
    return true;
  }
  bool U64(uint64_t* v) {
    if (b_.size() < 8) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i) *v = (*v << 8) | static_cast<uint8_t>(b_[i]);
    b_.remove_prefix(8);
    return true;
  }
  bool Str(std::string* s) {
    uint8_t n;
    if (!U8(&n) || b_.size() < n) return false;
    s->assign(b_.substr(0, n));
    b_.remove_prefix(n);
    return true;
  }
  bool done() const { return b_.empty(); }

 private:
  std::string_view b_;
};

}  // namespace

std::string EncodeFailover(const FailoverMsg& m) {
  std::string out;
  out += static_cast<char>(kVersion);
  out += static_cast<char>(m.type);
  PutU64(out, m.term);
  PutStr(out, m.from);
  PutU64(out, m.seq);
  PutU64(out, m.timeline);
  PutU64(out, m.lsn);
  out += static_cast<char>((m.granted ? 1 : 0) | (m.primary ? 2 : 0));
  PutStr(out, m.reason.substr(0, kMaxReason));
  PutStr(out, m.target);
  return out;
}

Result<FailoverMsg> DecodeFailover(std::string_view bytes) {
  Reader r(bytes);
  FailoverMsg m;
  uint8_t version, type, flags;
  if (!r.U8(&version)) return Status::Error("failover message: empty");
  if (version != kVersion)
    return Status::Error("failover message: unknown version " + std::to_string(version));
  if (!r.U8(&type) || !r.U64(&m.term) || !r.Str(&m.from) || !r.U64(&m.seq) || !r.U64(&m.timeline) ||
      !r.U64(&m.lsn) || !r.U8(&flags) || !r.Str(&m.reason) || !r.Str(&m.target))
    return Status::Error("failover message: truncated");
  if (!r.done()) return Status::Error("failover message: trailing bytes");
  if (type < static_cast<uint8_t>(MsgType::kVoteRequest) ||
      type > static_cast<uint8_t>(MsgType::kPreVoteReply))
    return Status::Error("failover message: unknown type " + std::to_string(type));
  if (flags > 3) return Status::Error("failover message: unknown flags");
  if (m.from.empty()) return Status::Error("failover message: no sender");
  if (m.reason.size() > kMaxReason) return Status::Error("failover message: reason too long");
  m.type = static_cast<MsgType>(type);
  m.granted = flags & 1;
  m.primary = flags & 2;
  return m;
}

}  // namespace kw
