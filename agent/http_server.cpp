#include "agent/http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include <cstring>

#include "agent/net.h"

namespace kw {

void HttpServer::Deleter::operator()(MHD_Daemon* d) const { MHD_stop_daemon(d); }

namespace {

MHD_Result CollectQuery(void* cls, MHD_ValueKind, const char* key, const char* value) {
  (*static_cast<Query*>(cls))[key] = value ? value : "";
  return MHD_YES;
}

// A marker for "headers seen, waiting for the end of the request body".
char kBodyPending;

bool FromLoopback(MHD_Connection* conn) {
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (!info || !info->client_addr) return false;
  const sockaddr* sa = info->client_addr;
  if (sa->sa_family == AF_INET) {
    uint32_t a = ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr);
    return (a >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&a)) return true;
    return IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127;
  }
  return false;
}

}  // namespace

struct HttpDispatch {
  static MHD_Result Call(void* cls, MHD_Connection* conn, const char* url, const char* method,
                         const char*, const char*, size_t* upload_size, void** state) {
    // MHD calls once with the headers, then with each piece of body, then once more with
    // nothing: answer on the last call (HAProxy sends "content-length: 0"; a body is
    // read and discarded, never buffered).
    if (*state == nullptr) {
      *state = &kBodyPending;
      return MHD_YES;
    }
    if (*upload_size != 0) {
      *upload_size = 0;
      return MHD_YES;
    }
    return static_cast<HttpServer*>(cls)->Respond(conn, url, method) ? MHD_YES : MHD_NO;
  }
};

int HttpServer::Respond(MHD_Connection* conn, const char* url, const char* method) {
  Query query;
  MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, CollectQuery, &query);
  Answer a;
  bool admin = IsAdminPath(url);
  try {
    if (admin) {
      const char* auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
      a = HandleAdmin(*src_, method, url, query, AdminCaller{auth ? auth : "", FromLoopback(conn)});
    } else {
      a = HandleRequest(*src_, method, url, query);
    }
  } catch (const std::exception& e) {  // nothing may cross into C; a bug is a 500
    a = Answer{500, std::string("{\"error\":\"internal error\"}")};
  }
  bool no_body = std::strcmp(method, "OPTIONS") == 0;
  MHD_Response* resp = MHD_create_response_from_buffer(no_body ? 0 : a.body.size(), a.body.data(),
                                                       MHD_RESPMEM_MUST_COPY);
  if (!resp) return 0;
  MHD_add_response_header(resp, "Content-Type", a.content_type.c_str());
  MHD_add_response_header(resp, "Cache-Control", "no-store");
  if (a.status == 405 || no_body)
    MHD_add_response_header(resp, "Allow", admin ? "POST" : "GET, HEAD, OPTIONS");
  MHD_Result r = MHD_queue_response(conn, static_cast<unsigned>(a.status), resp);
  MHD_destroy_response(resp);
  counters_->Count(a.status);
  return r == MHD_YES;
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const AgentConfig& agent,
                                                      const ApiSources& src,
                                                      HttpCounters& counters) {
  HostPort bound;
  auto sock = ListenTcp(agent.listen, &bound);
  if (!sock.ok())
    return Status::Error("HTTP listen on " + agent.listen.ToString() + ": " +
                         sock.status().message());
  std::unique_ptr<HttpServer> s(new HttpServer());
  s->src_ = &src;
  s->counters_ = &counters;
  s->bound_ = bound;
  unsigned timeout =
      static_cast<unsigned>(std::max<long long>(1, ToMillis(agent.connection_timeout) / 1000));
  // A pool size of 1 is libmicrohttpd's single internal thread.  With more
  // (libmicrohttpd 0.9.75 supports MHD_OPTION_THREAD_POOL_SIZE with
  // MHD_USE_EPOLL_INTERNAL_THREAD) every worker has its own epoll set holding the
  // listening socket and whichever wins the race accepts, and the limits still hold for
  // the pool as a whole: the connection limit is divided between the workers, the per-IP
  // limit is counted once, in the master daemon, under its mutex, and the idle timeout
  // is enforced by the worker that owns the connection.
  MHD_Daemon* d = MHD_start_daemon(
      MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, nullptr, nullptr, &HttpDispatch::Call,
      s.get(), MHD_OPTION_LISTEN_SOCKET, sock->get(), MHD_OPTION_THREAD_POOL_SIZE, kHttpThreads,
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(agent.max_connections),
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, static_cast<unsigned>(agent.max_connections_per_ip),
      MHD_OPTION_CONNECTION_TIMEOUT, timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      static_cast<size_t>(32 * 1024), MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
  if (!d) return Status::Error("HTTP server on " + bound.ToString() + " failed to start");
  sock->release();  // MHD owns and closes it now
  s->daemon_.reset(d);
  return s;
}

HttpServer::~HttpServer() = default;

void HttpCounters::AppendMetrics(std::string& out) const {
  out += "# HELP keepwatch_http_responses_total HTTP responses by status class.\n";
  out += "# TYPE keepwatch_http_responses_total counter\n";
  for (int c = 2; c <= 5; ++c)
    out += "keepwatch_http_responses_total{code=\"" + std::to_string(c) + "xx\"} " +
           std::to_string(by_class_[c].load(std::memory_order_relaxed)) + "\n";
}

}  // namespace kw
