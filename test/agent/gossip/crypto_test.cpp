#include "agent/gossip/crypto.h"

#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "agent/gossip/wire.h"

using namespace kw::gossip;

namespace {

Key KeyOf(char c) { return *ParseKeyHex(std::string(64, c)); }

// A temporary directory removed with everything in it, even when a check fails.
struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/kw-crypto-XXXXXX";
    REQUIRE(mkdtemp(t) != nullptr);
    path = t;
  }
  ~TempDir() {
    std::string cmd = "rm -rf '" + path + "'";
    (void)!system(cmd.c_str());
  }
  std::string Write(const std::string& name, const std::string& text, mode_t mode) {
    std::string p = path + "/" + name;
    std::ofstream(p) << text;
    chmod(p.c_str(), mode);
    return p;
  }
};

}  // namespace

TEST_CASE("gossip crypto: keys are 64 hex characters and a newline") {
  std::string hex = GenerateKeyHex();
  CHECK(hex.size() == 64);
  CHECK(ParseKeyHex(hex + "\n").ok());
  CHECK(GenerateKeyHex() != hex);
  CHECK(ParseKeyHex(hex.substr(1)).status().message().find("key must be 64 hexadecimal") == 0);
  CHECK(ParseKeyHex(hex + "\n\n").status().message().find("key must be 64 hexadecimal") == 0);
  std::string bad = hex;
  bad[10] = 'g';
  CHECK(ParseKeyHex(bad).status().message() ==
        "key has a non-hexadecimal character at position 11");
}

TEST_CASE("gossip crypto: a key file readable by group or others is refused") {
  TempDir dir;
  std::string hex = GenerateKeyHex();
  CHECK(LoadKeyFile(dir.Write("good.key", hex + "\n", 0600)).ok());
  CHECK(LoadKeyFile(dir.Write("ro.key", hex + "\n", 0400)).ok());
  std::string open = dir.Write("open.key", hex + "\n", 0644);
  auto r = LoadKeyFile(open);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() ==
        "key file " + open + " is readable by group or others (mode 0644); run: chmod 600 " + open);
  CHECK_FALSE(LoadKeyFile(dir.Write("grp.key", hex + "\n", 0640)).ok());
  CHECK(LoadKeyFile(dir.path + "/missing.key").status().message().find("No such file") !=
        std::string::npos);
  CHECK(LoadKeyFile(dir.Write("short.key", "abcd\n", 0600)).status().message().find("64 hex") !=
        std::string::npos);
}

TEST_CASE("gossip crypto: seal and open, key rotation, forgeries and foreign clusters") {
  Keyring a("odoo-prod", KeyOf('1'));
  std::string plain = "hello gossip";
  std::string d = a.Seal(plain);
  CHECK(d.size() == plain.size() + kSealOverhead);
  DropReason why = DropReason::kCount;
  CHECK(a.Open(d, &why) == plain);
  CHECK(a.Seal(plain) != d);  // fresh nonce each time

  // Rotation: b seals with the new key and still opens the old one.
  Keyring b("odoo-prod", KeyOf('2'), KeyOf('1'));
  CHECK(b.Open(d, &why) == plain);
  CHECK_FALSE(a.Open(b.Seal(plain), &why));
  CHECK(why == DropReason::kAuth);

  // Every single-bit flip anywhere is detected, and no truncation opens.
  for (size_t i = 0; i < d.size(); ++i) {
    std::string f = d;
    f[i] ^= 0x10;
    CHECK_FALSE(a.Open(f, &why));
  }
  for (size_t len = 0; len < d.size(); ++len) CHECK_FALSE(a.Open(d.substr(0, len), &why));
  CHECK_FALSE(a.Open(d.substr(0, 10), &why));
  CHECK(why == DropReason::kTooShort);
  CHECK_FALSE(a.Open(std::string(kMaxDatagram + 1, 'x'), &why));
  CHECK(why == DropReason::kTooLong);
  std::string v = d;
  v[0] = 9;
  CHECK_FALSE(a.Open(v, &why));
  CHECK(why == DropReason::kBadVersion);

  // Same key, other cluster name: counted as foreign; with a forged tag: still refused.
  Keyring other("odoo-test", KeyOf('1'));
  CHECK_FALSE(other.Open(d, &why));
  CHECK(why == DropReason::kForeignCluster);
  std::string forged_tag = other.Seal(plain);
  for (int i = 1; i <= 4; ++i) forged_tag[i] = d[i];
  CHECK_FALSE(a.Open(forged_tag, &why));
  CHECK(why == DropReason::kAuth);
}

TEST_CASE("gossip crypto: the replay guard accepts each (epoch, seq) once") {
  ReplayGuard g(kw::seconds(120));
  const kw::TimePoint t = kw::TimePoint{} + kw::seconds(1000);
  CHECK(g.Accept("a", 100, 5, t));
  CHECK_FALSE(g.Accept("a", 100, 5, t));
  CHECK(g.Accept("a", 100, 7, t));
  CHECK(g.Accept("a", 100, 6, t));  // reordered, inside the window
  CHECK_FALSE(g.Accept("a", 100, 6, t));
  CHECK(g.Accept("b", 100, 5, t));  // per sender
  CHECK(g.Accept("a", 100, 200, t));
  CHECK_FALSE(g.Accept("a", 100, 136, t));  // fell out of the 64-wide window
  CHECK(g.Accept("a", 100, 137, t));
  CHECK_FALSE(g.Accept("a", 99, 1000, t));  // an older epoch: a previous run of the sender
  CHECK(g.Accept("a", 101, 0, t));          // the sender restarted
  CHECK_FALSE(g.Accept("a", 100, 201, t));
  // A sender whose clock stepped back across a restart: refused while its previous run
  // may still be talking, accepted once it has been silent for the forget time.
  CHECK_FALSE(g.Accept("a", 50, 1, t + kw::seconds(119)));
  CHECK(g.Accept("a", 50, 1, t + kw::seconds(121)));
  CHECK_FALSE(g.Accept("a", 50, 1, t + kw::seconds(121)));
  CHECK(g.Accept("a", 50, 2, t + kw::seconds(122)));
}
