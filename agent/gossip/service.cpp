#include "agent/gossip/service.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "agent/gossip/wire.h"

namespace kw::gossip {

namespace {

// The loop never sleeps longer than this, so a pause of the process is noticed (swim.h)
// and Stop() is quick even if the wake pipe were lost.
constexpr Duration kMaxSleep = milliseconds(200);
constexpr int kMaxReadsPerWake = 256;

uint64_t WallMicros() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// Resolves host:port for UDP in `family` (AF_UNSPEC: the first result).
Result<std::string> Resolve(const HostPort& hp, int family) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = family == AF_INET6 ? AI_V4MAPPED : 0;
  addrinfo* res = nullptr;
  std::string port = std::to_string(hp.port);
  int rc = getaddrinfo(hp.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) return Status::Error("resolve " + hp.ToString() + ": " + gai_strerror(rc));
  std::string out(reinterpret_cast<const char*>(res->ai_addr), res->ai_addrlen);
  freeaddrinfo(res);
  return out;
}

}  // namespace

Result<GossipSettings> SettingsFromConfig(const Config& cfg) {
  GossipSettings s;
  s.cluster = cfg.cluster.name;
  s.self = cfg.agent.node;
  s.bind = cfg.cluster.bind;
  for (const MemberConfig& m : cfg.members) s.members.push_back({m.name, m.address});
  Result<Key> key = LoadKeyFile(cfg.cluster.key_file);
  if (!key.ok()) return key.status();
  s.key = *key;
  if (!cfg.cluster.secondary_key_file.empty()) {
    Result<Key> second = LoadKeyFile(cfg.cluster.secondary_key_file);
    if (!second.ok()) return second.status();
    s.secondary_key = *second;
  }
  const ClusterConfig& c = cfg.cluster;
  s.swim.probe_interval = c.probe_interval;
  s.swim.probe_timeout = c.probe_timeout;
  s.swim.indirect_checks = c.indirect_checks;
  s.swim.suspicion_mult = c.suspicion_mult;
  s.swim.gossip_interval = c.gossip_interval;
  s.swim.push_pull_interval = c.push_pull_interval;
  s.swim.reconnect_interval = c.reconnect_interval;
  return s;
}

Result<std::unique_ptr<GossipService>> GossipService::Start(
    const GossipSettings& settings, const Clock& clock,
    std::function<void(const MemberEvent&)> on_event) {
  Result<std::string> bind_addr = Resolve(settings.bind, AF_UNSPEC);
  if (!bind_addr.ok()) return bind_addr.status();
  int family = reinterpret_cast<const sockaddr*>(bind_addr->data())->sa_family;
  Fd fd(socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus("gossip socket", errno);
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(bind_addr->data()),
           static_cast<socklen_t>(bind_addr->size())) != 0)
    return ErrnoStatus("gossip bind " + settings.bind.ToString(), errno);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  HostPort bound = settings.bind;
  bound.port = ntohs(family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  auto svc =
      std::unique_ptr<GossipService>(new GossipService(settings, clock, std::move(fd), bound));
  for (const GossipMember& m : settings.members) {
    Result<std::string> a = Resolve(m.address, family);
    if (!a.ok()) return Status::Error("member " + m.name + ": " + a.status().message());
    svc->names_.push_back(m.name);
    svc->addrs_.push_back(*a);
  }
  int p[2];
  if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) return ErrnoStatus("gossip wake pipe", errno);
  svc->wake_[0].reset(p[0]);
  svc->wake_[1].reset(p[1]);
  svc->on_event_ = std::move(on_event);
  svc->thread_ = std::thread([s = svc.get()] { s->Run(); });
  return svc;
}

GossipService::GossipService(const GossipSettings& s, const Clock& clock, Fd fd, HostPort bound)
    : settings_(s),
      clock_(clock),
      fd_(std::move(fd)),
      bound_(std::move(bound)),
      keyring_(s.cluster, s.key, s.secondary_key) {
  epoch_ = WallMicros();
  std::vector<std::string> names;
  for (const GossipMember& m : s.members) names.push_back(m.name);
  // Wall-clock microseconds as the first state version: a restarted agent's state is
  // newer than anything its previous run said.
  swim_ = std::make_unique<Swim>(s.swim, s.self, names, epoch_ ^ 0x5eed, clock.Now(), epoch_);
  view_.self = stats_.self = s.self;
  view_.cluster = stats_.cluster = s.cluster;
  view_.members = swim_->Members();
  view_.taken = clock.Now();
}

GossipService::~GossipService() {
  stop_ = true;
  if (wake_[1].valid()) (void)!write(wake_[1].get(), "x", 1);
  if (thread_.joinable()) thread_.join();
}

void GossipService::SetLocalState(const NodeState& state) {
  {
    std::lock_guard<std::mutex> l(mu_);
    pending_state_ = state;
  }
  (void)!write(wake_[1].get(), "s", 1);
}

Status GossipService::SendUser(const std::string& to, std::string payload) {
  if (payload.size() > kMaxUserPayload)
    return Status::Error("gossip payload of " + std::to_string(payload.size()) + " bytes exceeds " +
                         std::to_string(kMaxUserPayload));
  if (to == settings_.self || std::find(names_.begin(), names_.end(), to) == names_.end())
    return Status::Error("gossip: no member '" + to + "'");
  {
    std::lock_guard<std::mutex> l(mu_);
    pending_user_.emplace_back(to, std::move(payload));
  }
  (void)!write(wake_[1].get(), "u", 1);
  return Status::Ok();
}

void GossipService::OnUser(
    std::function<void(const std::string& from, const std::string& payload)> handler) {
  std::lock_guard<std::mutex> l(mu_);
  on_user_ = std::move(handler);
}

ClusterView GossipService::View() const {
  std::lock_guard<std::mutex> l(mu_);
  return view_;
}

void GossipService::Run() {
  Output out;
  while (!stop_) {
    TimePoint now = clock_.Now();
    std::optional<NodeState> st;
    std::vector<std::pair<std::string, std::string>> user;
    std::function<void(const std::string&, const std::string&)> on_user;
    {
      std::lock_guard<std::mutex> l(mu_);
      st.swap(pending_state_);
      user.swap(pending_user_);
      on_user = on_user_;
    }
    if (st) swim_->SetLocalState(*st);
    swim_->Tick(now, out);
    for (auto& [to, payload] : user)
      if (!swim_->SendUser(to, std::move(payload), out)) ++stats_.send_errors;
    ReadDatagrams(now, out);
    if (on_user)
      for (const Delivered& d : out.delivered) on_user(d.from, d.payload);
    SendAll(out);
    Publish(now);

    Duration wait = swim_->NextWakeup() - clock_.Now();
    wait = std::clamp(wait, Duration::zero(), kMaxSleep);
    pollfd pfd[2] = {{fd_.get(), POLLIN, 0}, {wake_[0].get(), POLLIN, 0}};
    int ms = static_cast<int>(std::chrono::ceil<milliseconds>(wait).count());
    if (poll(pfd, 2, ms) > 0 && (pfd[1].revents & POLLIN)) {
      char buf[64];
      while (read(wake_[0].get(), buf, sizeof buf) > 0) {
      }
    }
  }
}

void GossipService::ReadDatagrams(TimePoint now, Output& out) {
  char buf[kMaxDatagram + 1];
  for (int i = 0; i < kMaxReadsPerWake; ++i) {
    ssize_t n = recv(fd_.get(), buf, sizeof buf, MSG_TRUNC);
    if (n < 0) return;  // EAGAIN, or an ICMP error reported on the socket: nothing to read
    ++stats_.datagrams_in;
    stats_.bytes_in += static_cast<uint64_t>(n);
    auto drop = [&](DropReason r) { ++stats_.drops[static_cast<size_t>(r)]; };
    if (static_cast<size_t>(n) > kMaxDatagram) {  // MSG_TRUNC: n is the real length
      drop(DropReason::kTooLong);
      continue;
    }
    DropReason why = DropReason::kCount;
    std::optional<std::string> plain = keyring_.Open(std::string_view(buf, n), &why);
    if (!plain) {
      drop(why);
      continue;
    }
    Result<Message> msg = Decode(*plain);
    if (!msg.ok()) {
      drop(DropReason::kMalformed);
      continue;
    }
    if (msg->sender == settings_.self || !swim_->IsMember(msg->sender)) {
      drop(DropReason::kUnknownSender);
      continue;
    }
    if (!replay_.Accept(msg->sender, msg->epoch, msg->seq, now)) {
      drop(DropReason::kReplay);
      continue;
    }
    swim_->Receive(now, *msg, out);
  }
}

void GossipService::SendAll(Output& out) {
  for (Send& s : out.sends) {
    size_t idx = 0;
    while (idx < names_.size() && names_[idx] != s.to) ++idx;
    if (idx == names_.size()) continue;
    s.msg.epoch = epoch_;
    s.msg.seq = ++seq_;
    Result<std::string> plain = Encode(s.msg);
    if (!plain.ok()) {  // swim.h keeps messages within bounds; count if it ever did not
      ++stats_.send_errors;
      continue;
    }
    std::string d = keyring_.Seal(*plain);
    const std::string& a = addrs_[idx];
    ssize_t n =
        sendto(fd_.get(), d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(a.data()),
               static_cast<socklen_t>(a.size()));
    if (n < 0) {
      ++stats_.send_errors;  // e.g. ECONNREFUSED from an earlier ICMP, ENETUNREACH
      continue;
    }
    ++stats_.datagrams_out;
    stats_.bytes_out += d.size();
  }
  if (on_event_)
    for (const MemberEvent& e : out.events) on_event_(e);
  out.Clear();
}

void GossipService::Publish(TimePoint now) {
  std::lock_guard<std::mutex> l(mu_);
  ClusterView v = stats_;
  v.taken = now;
  v.members = swim_->Members();
  v.swim = swim_->counters();
  v.awareness = swim_->awareness();
  view_ = std::move(v);
}

}  // namespace kw::gossip
