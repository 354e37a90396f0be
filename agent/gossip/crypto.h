// Sealing gossip datagrams: libsodium XChaCha20-Poly1305 (IETF AEAD) under the shared
// cluster key, and the replay guard.
//
// Sealed datagram:  u8 kSealVersion | 4-byte cluster tag | 24-byte random nonce |
//                   ciphertext of the wire.h plaintext + 16-byte tag.
// Associated data:  "keepwatch-gossip" | version | cluster name.  A datagram of another
// cluster fails authentication even under the same key; the cleartext cluster tag (the
// first 4 bytes of BLAKE2b(cluster name)) only lets us count such datagrams separately
// ("foreign cluster") from forgeries: it is not trusted for anything else.
//
// Key rotation: the primary key seals; Open() tries the primary, then the secondary.
// Roll out a new key as secondary everywhere, then swap primary/secondary everywhere,
// then drop the old one.
//
// Replay: the plaintext carries (sender, epoch, seq) — epoch is the sender's wall clock
// in microseconds when it started, seq counts its datagrams.  ReplayGuard accepts each
// (epoch, seq) once per sender within a 64-datagram reordering window, and refuses
// older epochs (unless the sender has been silent for minutes: see ReplayGuard).  Trade-off
// admitted: a receiver that restarts forgets the window, so a datagram recorded within the sender's
// current epoch can be replayed once to it; the SWIM merge rules make such stale claims harmless
// (they lose to newer incarnations and state versions).
//
// Keyring and ReplayGuard are not thread-safe; the transport thread owns them.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "agent/clock.h"
#include "agent/status.h"

namespace kw::gossip {

inline constexpr uint8_t kSealVersion = 1;
using Key = std::array<uint8_t, 32>;

// Why a datagram was dropped; every reason has its own counter.
enum class DropReason {
  kTooShort,        // shorter than the seal overhead
  kTooLong,         // more than kMaxDatagram bytes
  kBadVersion,      // unknown seal version
  kForeignCluster,  // cluster tag of another cluster name
  kAuth,            // forged, damaged, or sealed under a key we do not hold
  kMalformed,       // authentic but wire.h Decode() refused it
  kUnknownSender,   // authentic, but the sender is not in [member.*] (or is ourselves)
  kReplay,          // (epoch, seq) already seen or too old
  kCount
};
const char* DropReasonName(DropReason r);

// 64 lowercase hex characters from the system CSPRNG (what `keepwatch keygen` prints).
std::string GenerateKeyHex();
// Exactly 64 hex digits, optionally followed by one newline.
Result<Key> ParseKeyHex(std::string_view text);
// Reads a key file; refuses one readable by group or others, naming the mode and the fix.
Result<Key> LoadKeyFile(const std::string& path);

class Keyring {
 public:
  Keyring(std::string cluster, const Key& primary, std::optional<Key> secondary = std::nullopt);

  // Seals a wire.h plaintext into a datagram (adds kSealOverhead bytes).
  std::string Seal(std::string_view plaintext) const;
  // Opens a datagram; on failure sets *why and returns nullopt.
  std::optional<std::string> Open(std::string_view datagram, DropReason* why) const;

 private:
  std::string ad_;
  std::array<uint8_t, 4> tag_;
  Key primary_;
  std::optional<Key> secondary_;
};

class ReplayGuard {
 public:
  // An older epoch is accepted as a new run of the sender only after it has been silent
  // this long: its wall clock may have stepped back across a restart (no NTP yet at
  // boot), and it must not be locked out for good.
  explicit ReplayGuard(Duration forget_after = seconds(120)) : forget_after_(forget_after) {}
  // True (and remembered) when (epoch, seq) from sender is new.
  bool Accept(const std::string& sender, uint64_t epoch, uint64_t seq, TimePoint now);

 private:
  struct Window {
    uint64_t epoch = 0;
    uint64_t top = 0;   // highest seq accepted
    uint64_t bits = 0;  // bit i: top - i accepted
    TimePoint last{};   // when a datagram was last accepted
  };
  Duration forget_after_;
  std::map<std::string, Window> windows_;
};

}  // namespace kw::gossip
