// A minimal HTTP/1.0 client with a deadline, for the http and odoo checks and the
// keepwatch client.  One request per connection (Connection: close); no TLS, no
// redirects followed (a redirect is an answer the caller judges).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "agent/clock.h"
#include "agent/status.h"
#include "agent/units.h"

namespace kw {

struct Url {
  HostPort host;           // port defaults to 80
  std::string path = "/";  // includes the query
};
// "http://127.0.0.1:8069/web/login" → Url.  Only http:// is accepted.
Result<Url> ParseUrl(std::string_view text);

struct HttpRequest {
  std::string method = "GET";
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> headers;  // Host is added if absent
  std::string body;
};

struct HttpResponse {
  int status = 0;
  std::string reason;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string Header(const std::string& lower_name) const;
};

// Sends the request and reads the whole response (at most max_body bytes of body).
// Errors: connection refused, timed out, malformed response.
Result<HttpResponse> HttpCall(const HostPort& to, const HttpRequest& req, TimePoint deadline,
                              size_t max_body = 1 << 20);

}  // namespace kw
