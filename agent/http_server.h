// The HTTP listener (libmicrohttpd): moves bytes between sockets and HandleRequest.
//
// One libmicrohttpd epoll thread serves every connection (kHttpThreads); handlers only
// read published state, so a request costs microseconds and no slow check can stall it.
// Limits keep slow or hostile clients from starving HAProxy's checks: a global and a
// per-IP connection limit, and an idle timeout.  HEAD and OPTIONS get the GET status
// without a body.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "agent/api.h"
#include "agent/config.h"
#include "agent/status.h"

struct MHD_Daemon;
struct MHD_Connection;

namespace kw {

// libmicrohttpd threads.  A pool of two (MHD_OPTION_THREAD_POOL_SIZE) gave a lower
// median but a worse p99 than one thread in 28 of 32 A/B rounds at 32 connections, and
// p99 is what HAProxy's check timeouts see (test/bench/RESULTS.md, "HTTP threads").
// test/bench/http-threads builds the other variant with -DKW_HTTP_THREADS=N to compare.
#ifndef KW_HTTP_THREADS
#define KW_HTTP_THREADS 1
#endif
inline constexpr unsigned kHttpThreads = KW_HTTP_THREADS;

// Responses by status class.  Kept apart from the server and owned by the caller, so
// that /metrics may read them on any thread while the server is still starting or is
// being stopped.  Lock-free.
class HttpCounters {
 public:
  void Count(int status) { by_class_[status / 100 % 6].fetch_add(1, std::memory_order_relaxed); }
  // Prometheus lines: keepwatch_http_responses_total by status class.
  void AppendMetrics(std::string& out) const;

 private:
  std::atomic<uint64_t> by_class_[6] = {};  // index = status / 100
};

class HttpServer {
 public:
  // Binds agent.listen (port 0 = a free port) and starts serving.  `src` and `counters`
  // must outlive the server.
  static Result<std::unique_ptr<HttpServer>> Start(const AgentConfig& agent, const ApiSources& src,
                                                   HttpCounters& counters);
  ~HttpServer();  // stops serving; closes every connection; joins the threads
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  const HostPort& bound() const { return bound_; }

 private:
  HttpServer() = default;
  struct Deleter {
    void operator()(MHD_Daemon* d) const;
  };
  friend struct HttpDispatch;
  // Answers one complete request; returns MHD_YES/MHD_NO.  Safe on any number of HTTP
  // threads: it only reads src_ (whose members are thread-safe) and counts in counters_
  // (atomic).
  int Respond(MHD_Connection* conn, const char* url, const char* method);

  const ApiSources* src_ = nullptr;
  HttpCounters* counters_ = nullptr;
  std::unique_ptr<MHD_Daemon, Deleter> daemon_;
  HostPort bound_;
};

}  // namespace kw
