// A tiny HTTP/TCP server on 127.0.0.1 (port 0) for the node checks' tests.
//
// One thread accepts connections one at a time; each request (headers and a
// Content-Length body) goes to the handler, whose return value is written back before
// the connection is closed.  An empty answer just closes (a bare TCP listener).
// Stop() closes the listening socket, so later connects are refused.  Thread-safe.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/net.h"

namespace kw::testing {

class LoopbackServer {
 public:
  using Handler = std::function<std::string(const std::string& request)>;

  explicit LoopbackServer(Handler handler) : handler_(std::move(handler)) {
    auto fd = ListenTcp(HostPort{"127.0.0.1", 0}, &address_);
    if (fd.ok()) listen_ = std::move(fd).value();
    thread_ = std::thread([this] { Loop(); });
  }
  ~LoopbackServer() {
    stop_ = true;
    thread_.join();
  }
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  bool ok() const { return address_.port != 0; }
  const HostPort& address() const { return address_; }
  std::vector<std::string> requests() const {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }
  // Closes the listening socket (connects are refused from now on).
  void Stop() {
    stop_ = true;
    thread_.join();
    thread_ = std::thread([] {});
    listen_.reset();
  }

 private:
  void Loop() {
    while (!stop_) {
      pollfd p{listen_.get(), POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      Fd conn(::accept(listen_.get(), nullptr, nullptr));
      if (!conn.valid()) continue;
      std::string req = ReadRequest(conn.get());
      {
        std::lock_guard<std::mutex> l(mu_);
        requests_.push_back(req);
      }
      std::string answer = handler_(req);
      if (!answer.empty())
        (void)SendAll(conn.get(), answer, SteadyClock::now() + std::chrono::seconds(2));
    }
  }

  static std::string ReadRequest(int fd) {
    std::string req;
    TimePoint deadline = SteadyClock::now() + std::chrono::seconds(2);
    size_t want = std::string::npos;
    char buf[4096];
    while (SteadyClock::now() < deadline && req.size() < (1 << 20)) {
      size_t end = req.find("\r\n\r\n");
      if (end != std::string::npos && want == std::string::npos) {
        want = end + 4;
        size_t cl = req.find("Content-Length: ");
        if (cl != std::string::npos && cl < end) want += std::stoul(req.substr(cl + 16));
      }
      if (want != std::string::npos && req.size() >= want) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      req.append(buf, static_cast<size_t>(n));
    }
    return req;
  }

  Handler handler_;
  HostPort address_;
  Fd listen_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

}  // namespace kw::testing
