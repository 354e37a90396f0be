// The gossip service on real UDP sockets on 127.0.0.1, in one process: convergence,
// node state propagation, failure detection, and every kind of bad datagram counted.
#include "agent/gossip/service.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <mutex>
#include <thread>

#include "agent/gossip/wire.h"

using namespace kw;
using namespace kw::gossip;

namespace {

uint16_t FreeUdpPort() {
  Fd fd(socket(AF_INET, SOCK_DGRAM, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

Key TestKey(uint8_t b) {
  Key k;
  k.fill(b);
  return k;
}

// Fast timings so the test takes seconds: suspicion min = 2 x 0.2 s.
GossipSettings Settings(const std::string& self, const std::vector<GossipMember>& members,
                        Key key = TestKey(7), std::string cluster = "test-cluster") {
  GossipSettings s;
  s.cluster = std::move(cluster);
  s.self = self;
  s.members = members;
  for (const GossipMember& m : members)
    if (m.name == self) s.bind = m.address;
  s.key = key;
  s.swim.probe_interval = milliseconds(200);
  s.swim.probe_timeout = milliseconds(100);
  s.swim.gossip_interval = milliseconds(50);
  s.swim.suspicion_mult = 2;
  s.swim.push_pull_interval = seconds(2);
  s.swim.reconnect_interval = seconds(1);
  return s;
}

// Polls cond every 20 ms for at most `limit`; true when it held.
bool WaitFor(Duration limit, const std::function<bool()>& cond) {
  TimePoint end = SteadyClock::now() + limit;
  while (SteadyClock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return cond();
}

MemberStatus StatusIn(const GossipService& s, const std::string& name) {
  for (const MemberView& m : s.View().members)
    if (m.name == name) return m.status;
  return MemberStatus::kDead;
}

uint64_t Drops(const GossipService& s, DropReason r) {
  return s.View().drops[static_cast<size_t>(r)];
}

void SendRaw(uint16_t port, const std::string& bytes) {
  Fd fd(socket(AF_INET, SOCK_DGRAM, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sendto(fd.get(), bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
}

}  // namespace

TEST_CASE("gossip service: three members on loopback converge, share state, detect a stop") {
  RealClock clock;
  std::vector<GossipMember> members;
  for (const char* n : {"a", "b", "c", "d"})
    members.push_back({n, HostPort{"127.0.0.1", FreeUdpPort()}});
  // d is configured but never started: it must end up dead everywhere.
  std::vector<std::unique_ptr<GossipService>> svc;
  for (const char* n : {"a", "b", "c"}) {
    auto s = GossipService::Start(Settings(n, members), clock);
    REQUIRE(s.ok());
    svc.push_back(std::move(s.value()));
  }
  NodeState st;
  st.role = PgRole::kPrimary;
  st.timeline = 4;
  st.current_lsn = 0x5000028;
  svc[0]->SetLocalState(st);

  CHECK(WaitFor(seconds(8), [&] {
    for (auto& s : svc) {
      for (const char* n : {"a", "b", "c"})
        if (StatusIn(*s, n) != MemberStatus::kAlive) return false;
      if (StatusIn(*s, "d") != MemberStatus::kDead) return false;
    }
    return true;
  }));
  CHECK(WaitFor(seconds(3), [&] {
    for (const MemberView& m : svc[2]->View().members)
      if (m.name == "a")
        return m.state.role == PgRole::kPrimary && m.state.current_lsn == 0x5000028;
    return false;
  }));
  // The channel for failover messages: a payload from a to b arrives whole.
  std::mutex got_mu;
  std::vector<std::string> got;
  svc[1]->OnUser([&](const std::string& from, const std::string& payload) {
    std::lock_guard<std::mutex> l(got_mu);
    got.push_back(from + ":" + payload);
  });
  CHECK(svc[0]->SendUser("b", std::string("vote\0term", 9)).ok());
  CHECK_FALSE(svc[0]->SendUser("zed", "x").ok());
  CHECK_FALSE(svc[0]->SendUser("b", std::string(2000, 'x')).ok());
  CHECK(WaitFor(seconds(3), [&] {
    std::lock_guard<std::mutex> l(got_mu);
    return got.size() == 1 && got[0] == std::string("a:vote\0term", 11);
  }));
  svc[1]->OnUser({});

  ClusterView v = svc[1]->View();
  CHECK(v.datagrams_in > 0);
  CHECK(v.datagrams_out > 0);
  for (uint64_t d : v.drops) CHECK(d == 0);

  svc[2].reset();  // c stops
  CHECK(WaitFor(seconds(8), [&] {
    return StatusIn(*svc[0], "c") == MemberStatus::kDead &&
           StatusIn(*svc[1], "c") == MemberStatus::kDead;
  }));
  CHECK(StatusIn(*svc[0], "b") == MemberStatus::kAlive);
}

TEST_CASE(
    "gossip service: wrong key, foreign cluster, garbage, strangers and replays are counted") {
  RealClock clock;
  std::vector<GossipMember> members;
  for (const char* n : {"a", "b", "c"})
    members.push_back({n, HostPort{"127.0.0.1", FreeUdpPort()}});
  auto a = GossipService::Start(Settings("a", members), clock);
  REQUIRE(a.ok());
  uint16_t port = members[0].address.port;
  {
    // b with the wrong key, c from another cluster: a drops all they send.
    auto b = GossipService::Start(Settings("b", members, TestKey(9)), clock);
    auto c = GossipService::Start(Settings("c", members, TestKey(7), "other-cluster"), clock);
    REQUIRE(b.ok());
    REQUIRE(c.ok());
    CHECK(WaitFor(seconds(5), [&] {
      return Drops(**a, DropReason::kAuth) > 0 && Drops(**a, DropReason::kForeignCluster) > 0;
    }));
  }
  SendRaw(port, "x");
  SendRaw(port, std::string(2000, 'y'));
  CHECK(WaitFor(seconds(2), [&] {
    return Drops(**a, DropReason::kTooShort) == 1 && Drops(**a, DropReason::kTooLong) == 1;
  }));
  std::string junk(100, 'z');
  junk[0] = 1;  // seal version 1, but a foreign cluster tag
  SendRaw(port, junk);

  // Authentic datagrams: from a stranger, malformed inside, and one sent twice.
  Keyring keys("test-cluster", TestKey(7));
  Message m;
  m.type = MsgType::kGossip;
  m.sender = "zed";
  m.epoch = 5;
  m.seq = 1;
  SendRaw(port, keys.Seal(*Encode(m)));
  SendRaw(port, keys.Seal("\x01\x09garbage"));
  m.sender = "c";
  std::string once = keys.Seal(*Encode(m));
  SendRaw(port, once);
  SendRaw(port, once);
  CHECK(WaitFor(seconds(2), [&] {
    return Drops(**a, DropReason::kUnknownSender) == 1 && Drops(**a, DropReason::kMalformed) == 1 &&
           Drops(**a, DropReason::kReplay) == 1;
  }));
  CHECK(Drops(**a, DropReason::kForeignCluster) >= 2);
  // Still running and answering: its view is intact.
  CHECK(StatusIn(**a, "a") == MemberStatus::kAlive);
}
