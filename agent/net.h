// Sockets with deadlines: the small set of blocking-free primitives the checks, the
// client and the tests share.  Every call returns by its deadline (name resolution
// excepted: a non-numeric host is resolved with getaddrinfo, which cannot be bounded).
#pragma once

#include <string>
#include <string_view>

#include "agent/clock.h"
#include "agent/status.h"
#include "agent/units.h"

namespace kw {

// Owns one file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Waits until fd is ready for `events` (POLLIN/POLLOUT) or the deadline passes.
// Returns a Status whose message is "timed out" on the deadline.
Status WaitFd(int fd, short events, TimePoint deadline);
bool IsTimeout(const Status& s);

// Non-blocking TCP connect; the returned socket is non-blocking.  Errors read like
// "connect 127.0.0.1:5432: Connection refused" or "... timed out".
Result<Fd> ConnectTcp(const HostPort& to, TimePoint deadline);
// The same for a UNIX stream socket (HAProxy's stats socket).
Result<Fd> ConnectUnix(const std::string& path, TimePoint deadline);
// Writes all of data before the deadline.
Status SendAll(int fd, std::string_view data, TimePoint deadline);
// Reads until the peer closes, `limit` bytes, or the deadline.
Result<std::string> ReadToEof(int fd, size_t limit, TimePoint deadline);

// A listening TCP socket on host:port (port 0 = any free port); returns the fd and
// fills *bound with the actual address.
Result<Fd> ListenTcp(const HostPort& at, HostPort* bound);

}  // namespace kw
