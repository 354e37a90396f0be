#include "agent/failover/codec.h"

#include <doctest/doctest.h>

using namespace kw;

TEST_CASE("failover messages round-trip and every damaged form is rejected") {
  FailoverMsg m;
  m.type = MsgType::kVoteReply;
  m.term = 0x0102030405060708ull;
  m.from = "postgresql2";
  m.seq = 77;
  m.timeline = 3;
  m.lsn = 1ull << 40;
  m.granted = true;
  m.primary = true;
  m.reason = "lease granted to postgresql1 runs 1200ms more";
  m.target = "postgresql1";
  std::string b = EncodeFailover(m);
  auto back = DecodeFailover(b);
  REQUIRE(back.ok());
  CHECK(back->type == m.type);
  CHECK(back->term == m.term);
  CHECK(back->from == m.from);
  CHECK(back->seq == 77);
  CHECK(back->timeline == 3);
  CHECK(back->lsn == m.lsn);
  CHECK(back->granted);
  CHECK(back->primary);
  CHECK(back->reason == m.reason);
  CHECK(back->target == m.target);
  for (size_t n = 0; n < b.size(); ++n) CHECK_FALSE(DecodeFailover(b.substr(0, n)).ok());
  CHECK(DecodeFailover(b + "x").status().message() == "failover message: trailing bytes");
  std::string bad_version = b;
  bad_version[0] = 9;
  CHECK_FALSE(DecodeFailover(bad_version).ok());
  std::string bad_type = b;
  bad_type[1] = 0;
  CHECK(DecodeFailover(bad_type).status().message() == "failover message: unknown type 0");
  bad_type[1] = 11;
  CHECK_FALSE(DecodeFailover(bad_type).ok());
  // Every single-byte corruption either decodes to something or is rejected: never a crash.
  for (size_t i = 0; i < b.size(); ++i) {
    std::string c = b;
    c[i] = static_cast<char>(c[i] ^ 0xff);
    (void)DecodeFailover(c);
  }
}
