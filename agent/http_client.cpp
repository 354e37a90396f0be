#include "agent/http_client.h"

#include <algorithm>
#include <cctype>

#include "agent/net.h"

namespace kw {

std::string HttpResponse::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

Result<Url> ParseUrl(std::string_view text) {
  constexpr std::string_view kScheme = "http://";
  if (text.substr(0, kScheme.size()) != kScheme)
    return Status::Error("'" + std::string(text) + "' is not an http:// URL");
  std::string_view rest = text.substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  Url url;
  auto hp = ParseHostPort(authority, 80);
  if (!hp.ok()) return Status::Error("URL '" + std::string(text) + "': " + hp.status().message());
  url.host = *hp;
  if (slash != std::string_view::npos) url.path = std::string(rest.substr(slash));
  return url;
}

namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

Result<HttpResponse> ParseResponse(const std::string& raw) {
  size_t head_end = raw.find("\r\n\r\n");
  size_t sep = 4;
  if (head_end == std::string::npos) {
    head_end = raw.find("\n\n");
    sep = 2;
  }
  if (head_end == std::string::npos) {
    if (raw.empty()) return Status::Error("empty response");
    return Status::Error("malformed response: no end of headers");
  }
  HttpResponse resp;
  std::string_view head(raw.data(), head_end);
  size_t eol = head.find('\n');
  std::string_view status_line = Trim(head.substr(0, eol));
  // "HTTP/1.1 200 OK"
  if (status_line.substr(0, 5) != "HTTP/" || status_line.size() < 12)
    return Status::Error("malformed status line");
  size_t sp = status_line.find(' ');
  auto code = ParseInt(status_line.substr(sp + 1, 3), 100, 599);
  if (sp == std::string_view::npos || !code.ok()) return Status::Error("malformed status line");
  resp.status = static_cast<int>(*code);
  if (status_line.size() > sp + 5) resp.reason = std::string(status_line.substr(sp + 5));
  while (eol != std::string_view::npos) {
    head.remove_prefix(eol + 1);
    eol = head.find('\n');
    std::string_view line = Trim(head.substr(0, eol));
    size_t colon = line.find(':');
    if (line.empty() || colon == std::string_view::npos) continue;
    resp.headers[Lower(std::string(Trim(line.substr(0, colon))))] =
        std::string(Trim(line.substr(colon + 1)));
  }
  resp.body = raw.substr(head_end + sep);
  std::string cl = resp.Header("content-length");
  if (!cl.empty()) {
    auto n = ParseInt(cl, 0, 1LL << 40);
    if (n.ok() && resp.body.size() > static_cast<size_t>(*n)) resp.body.resize(*n);
  }
  return resp;
}

}  // namespace

Result<HttpResponse> HttpCall(const HostPort& to, const HttpRequest& req, TimePoint deadline,
                              size_t max_body) {
  auto fd = ConnectTcp(to, deadline);
  if (!fd.ok()) return fd.status();
  std::string msg = req.method + " " + req.path + " HTTP/1.0\r\n";
  bool has_host = std::any_of(req.headers.begin(), req.headers.end(),
                              [](const auto& h) { return Lower(h.first) == "host"; });
  if (!has_host) msg += "Host: " + to.ToString() + "\r\n";
  for (const auto& [k, v] : req.headers) msg += k + ": " + v + "\r\n";
  msg += "Connection: close\r\n";
  if (!req.body.empty() || req.method == "POST")
    msg += "Content-Length: " + std::to_string(req.body.size()) + "\r\n";
  msg += "\r\n" + req.body;
  Status s = SendAll(fd->get(), msg, deadline);
  if (!s.ok()) return s;
  auto raw = ReadToEof(fd->get(), max_body + 65536, deadline);
  if (!raw.ok()) return raw.status();
  return ParseResponse(*raw);
}

}  // namespace kw
