// The HTTP listener (libmicrohttpd): moves bytes between sockets and HandleRequest.
//
// One internal epoll thread serves every connection; handlers only read published state,
// so a request costs microseconds and no slow check can stall it.  Limits keep slow or
// hostile clients from starving HAProxy's checks: a global and a per-IP connection
// limit, and an idle timeout.  HEAD and OPTIONS get the GET status without a body.
#pragma once

#include <atomic>
#include <memory>

#include "agent/api.h"
#include "agent/config.h"
#include "agent/status.h"

struct MHD_Daemon;
struct MHD_Connection;

namespace kw {

class HttpServer {
 public:
  // Binds agent.listen (port 0 = a free port) and starts serving.  `src` must outlive
  // the server.
  static Result<std::unique_ptr<HttpServer>> Start(const AgentConfig& agent, const ApiSources& src);
  ~HttpServer();  // stops serving; closes every connection
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  const HostPort& bound() const { return bound_; }
  // Prometheus lines: requests by status class.
  void AppendMetrics(std::string& out) const;

 private:
  HttpServer() = default;
  struct Deleter {
    void operator()(MHD_Daemon* d) const;
  };
  friend struct HttpDispatch;
  // Answers one complete request; returns MHD_YES/MHD_NO.
  int Respond(MHD_Connection* conn, const char* url, const char* method);

  const ApiSources* src_ = nullptr;
  std::unique_ptr<MHD_Daemon, Deleter> daemon_;
  HostPort bound_;
  std::atomic<uint64_t> by_class_[6] = {};  // index = status / 100
};

}  // namespace kw
