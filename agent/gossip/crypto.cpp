#include "agent/gossip/crypto.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "agent/gossip/wire.h"

namespace kw::gossip {

namespace {

constexpr size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr size_t kHeader = 1 + 4 + kNonce;
static_assert(kHeader + kTag == kSealOverhead, "wire.h's overhead must match the seal");

void InitSodium() {
  // Idempotent and thread-safe; it only fails when no entropy source exists at all,
  // which nothing here could recover from.
  if (sodium_init() < 0) std::abort();
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

const char* DropReasonName(DropReason r) {
  switch (r) {
    case DropReason::kTooShort:
      return "too_short";
    case DropReason::kTooLong:
      return "too_long";
    case DropReason::kBadVersion:
      return "bad_version";
    case DropReason::kForeignCluster:
      return "foreign_cluster";
    case DropReason::kAuth:
      return "auth";
    case DropReason::kMalformed:
      return "malformed";
    case DropReason::kUnknownSender:
      return "unknown_sender";
    case DropReason::kReplay:
      return "replay";
    case DropReason::kCount:
      break;
  }
  return "?";
}

std::string GenerateKeyHex() {
  InitSodium();
  Key k;
  randombytes_buf(k.data(), k.size());
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : k) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  sodium_memzero(k.data(), k.size());
  return out;
}

Result<Key> ParseKeyHex(std::string_view text) {
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  if (text.size() != 64)
    return Status::Error("key must be 64 hexadecimal characters and a newline (got " +
                         std::to_string(text.size()) +
                         " characters); `keepwatch keygen` makes one");
  Key k;
  for (size_t i = 0; i < 32; ++i) {
    int hi = HexValue(text[2 * i]), lo = HexValue(text[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return Status::Error("key has a non-hexadecimal character at position " +
                           std::to_string(hi < 0 ? 2 * i + 1 : 2 * i + 2));
    k[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return k;
}

Result<Key> LoadKeyFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return ErrnoStatus("key file " + path, errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return ErrnoStatus("key file " + path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return Status::Error("key file " + path + " is not a regular file");
  }
  if (st.st_mode & (S_IRGRP | S_IROTH)) {
    close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::Error("key file " + path + " is readable by group or others (mode " + mode +
                         "); run: chmod 600 " + path);
  }
  char buf[130];
  ssize_t n = read(fd, buf, sizeof buf);
  int err = errno;
  close(fd);
  if (n < 0) return ErrnoStatus("key file " + path, err);
  Result<Key> k = ParseKeyHex(std::string_view(buf, static_cast<size_t>(n)));
  sodium_memzero(buf, sizeof buf);
  if (!k.ok()) return Status::Error("key file " + path + ": " + k.status().message());
  return k;
}

Keyring::Keyring(std::string cluster, const Key& primary, std::optional<Key> secondary)
    : primary_(primary), secondary_(secondary) {
  InitSodium();
  ad_ = "keepwatch-gossip";
  ad_.push_back(static_cast<char>(kSealVersion));
  ad_ += cluster;
  uint8_t h[crypto_generichash_BYTES];
  crypto_generichash(h, sizeof h, reinterpret_cast<const uint8_t*>(cluster.data()), cluster.size(),
                     nullptr, 0);
  for (size_t i = 0; i < tag_.size(); ++i) tag_[i] = h[i];
}

std::string Keyring::Seal(std::string_view plaintext) const {
  std::string out(kHeader + plaintext.size() + kTag, '\0');
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  p[0] = kSealVersion;
  for (size_t i = 0; i < 4; ++i) p[1 + i] = tag_[i];
  randombytes_buf(p + 5, kNonce);  // 192-bit random nonces never repeat in practice
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      p + kHeader, &clen, reinterpret_cast<const uint8_t*>(plaintext.data()), plaintext.size(),
      reinterpret_cast<const uint8_t*>(ad_.data()), ad_.size(), nullptr, p + 5, primary_.data());
  out.resize(kHeader + clen);
  return out;
}

std::optional<std::string> Keyring::Open(std::string_view d, DropReason* why) const {
  if (d.size() > kMaxDatagram) {
    *why = DropReason::kTooLong;
    return std::nullopt;
  }
  if (d.size() < kSealOverhead) {
    *why = DropReason::kTooShort;
    return std::nullopt;
  }
  const auto* p = reinterpret_cast<const uint8_t*>(d.data());
  if (p[0] != kSealVersion) {
    *why = DropReason::kBadVersion;
    return std::nullopt;
  }
  if (sodium_memcmp(p + 1, tag_.data(), 4) != 0) {
    *why = DropReason::kForeignCluster;
    return std::nullopt;
  }
  std::string plain(d.size() - kSealOverhead, '\0');
  auto try_key = [&](const Key& k) {
    unsigned long long mlen = 0;
    return crypto_aead_xchacha20poly1305_ietf_decrypt(
               reinterpret_cast<uint8_t*>(plain.data()), &mlen, nullptr, p + kHeader,
               d.size() - kHeader, reinterpret_cast<const uint8_t*>(ad_.data()), ad_.size(), p + 5,
               k.data()) == 0;
  };
  if (try_key(primary_) || (secondary_ && try_key(*secondary_))) return plain;
  *why = DropReason::kAuth;
  return std::nullopt;
}

bool ReplayGuard::Accept(const std::string& sender, uint64_t epoch, uint64_t seq, TimePoint now) {
  auto it = windows_.find(sender);
  if (it == windows_.end() || epoch > it->second.epoch ||
      (epoch < it->second.epoch && now - it->second.last > forget_after_)) {
    windows_[sender] = Window{epoch, seq, 1, now};
    return true;
  }
  Window& w = it->second;
  if (epoch < w.epoch) return false;
  w.last = now;
  if (seq > w.top) {
    uint64_t shift = seq - w.top;
    w.bits = shift >= 64 ? 1 : (w.bits << shift) | 1;
    w.top = seq;
    return true;
  }
  uint64_t age = w.top - seq;
  if (age >= 64) return false;
  uint64_t bit = uint64_t{1} << age;
  if (w.bits & bit) return false;
  w.bits |= bit;
  return true;
}

}  // namespace kw::gossip
