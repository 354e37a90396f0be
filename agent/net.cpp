#include "agent/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kw {

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) reset(o.release());
  return *this;
}

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

namespace {

constexpr const char* kTimedOut = "timed out";

int RemainingMs(TimePoint deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now()).count();
  if (left <= 0) return 0;
  return left > 60000 ? 60000 : static_cast<int>(left) + 1;
}

// Resolves host:port into a socket address.  Numeric hosts never touch the resolver.
Status Resolve(const HostPort& hp, sockaddr_storage* out, socklen_t* len) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(hp.port);
  int rc = getaddrinfo(hp.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || !res) return Status::Error("resolve " + hp.host + ": " + gai_strerror(rc));
  std::memcpy(out, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
  return Status::Ok();
}

Result<Fd> FinishConnect(Fd fd, const std::string& what, TimePoint deadline) {
  Status w = WaitFd(fd.get(), POLLOUT, deadline);
  if (!w.ok()) return Status::Error("connect " + what + ": " + w.message());
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return ErrnoStatus("connect " + what, err);
  return fd;
}

}  // namespace

bool IsTimeout(const Status& s) {
  const std::string& m = s.message();
  return !s.ok() && m.size() >= std::strlen(kTimedOut) &&
         m.compare(m.size() - std::strlen(kTimedOut), std::string::npos, kTimedOut) == 0;
}

Status WaitFd(int fd, short events, TimePoint deadline) {
  for (;;) {
    int ms = RemainingMs(deadline);
    if (ms == 0) return Status::Error(kTimedOut);
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, ms);
    if (rc > 0) return Status::Ok();  // ready, or an error the next call will report
    if (rc < 0 && errno != EINTR) return ErrnoStatus("poll", errno);
  }
}

Result<Fd> ConnectTcp(const HostPort& to, TimePoint deadline) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  Status r = Resolve(to, &addr, &len);
  if (!r.ok()) return r;
  Fd fd(::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus("socket", errno);
  int one = 1;
  setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0) return fd;
  if (errno != EINPROGRESS) return ErrnoStatus("connect " + to.ToString(), errno);
  return FinishConnect(std::move(fd), to.ToString(), deadline);
}

Result<Fd> ConnectUnix(const std::string& path, TimePoint deadline) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return Status::Error("socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus("socket", errno);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
  if (errno != EINPROGRESS && errno != EAGAIN) return ErrnoStatus("connect " + path, errno);
  return FinishConnect(std::move(fd), path, deadline);
}

Status SendAll(int fd, std::string_view data, TimePoint deadline) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      Status w = WaitFd(fd, POLLOUT, deadline);
      if (!w.ok()) return Status::Error("send: " + w.message());
      continue;
    }
    return ErrnoStatus("send", errno);
  }
  return Status::Ok();
}

Result<std::string> ReadToEof(int fd, size_t limit, TimePoint deadline) {
  std::string out;
  char buf[16384];
  while (out.size() < limit) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return out;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      Status w = WaitFd(fd, POLLIN, deadline);
      if (!w.ok()) return Status::Error("read: " + w.message());
      continue;
    }
    return ErrnoStatus("read", errno);
  }
  return out;
}

Result<Fd> ListenTcp(const HostPort& at, HostPort* bound) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  Status r = Resolve(at, &addr, &len);
  if (!r.ok()) return r;
  Fd fd(::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus("socket", errno);
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0)
    return ErrnoStatus("bind " + at.ToString(), errno);
  if (::listen(fd.get(), 128) != 0) return ErrnoStatus("listen", errno);
  if (bound) {
    sockaddr_storage b{};
    socklen_t blen = sizeof b;
    getsockname(fd.get(), reinterpret_cast<sockaddr*>(&b), &blen);
    char host[INET6_ADDRSTRLEN] = {};
    uint16_t port = 0;
    if (b.ss_family == AF_INET6) {
      auto* a6 = reinterpret_cast<sockaddr_in6*>(&b);
      inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof host);
      port = ntohs(a6->sin6_port);
    } else {
      auto* a4 = reinterpret_cast<sockaddr_in*>(&b);
      inet_ntop(AF_INET, &a4->sin_addr, host, sizeof host);
      port = ntohs(a4->sin_port);
    }
    *bound = HostPort{host, port};
  }
  return fd;
}

}  // namespace kw
