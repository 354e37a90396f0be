#include "checks/http.h"

#include "agent/http_client.h"
#include "agent/net.h"

namespace kw {
namespace {

class HttpCheck final : public Check {
 public:
  HttpCheck(Url url, int expect) : url_(std::move(url)), expect_(expect) {}

  CheckResult Run(TimePoint deadline) override {
    HttpRequest req;
    req.path = url_.path;
    req.headers.emplace_back("User-Agent", "keepwatch");
    auto resp = HttpCall(url_.host, req, deadline, 64 * 1024);
    if (!resp.ok()) {
      const Status& s = resp.status();
      return IsTimeout(s) ? CheckResult::Timeout(s.message()) : CheckResult::Fail(s.message());
    }
    std::string got = "HTTP " + std::to_string(resp->status);
    CheckResult r = resp->status == expect_
                        ? CheckResult::Pass(got)
                        : CheckResult::Fail(got + ", expected " + std::to_string(expect_));
    return r.Value("http_status", resp->status);
  }

 private:
  Url url_;
  int expect_;
};

}  // namespace

std::unique_ptr<Check> MakeHttpCheck(KeyReader& keys, const CheckEnv&) {
  std::string text = keys.RequiredString("url");
  int expect = static_cast<int>(keys.Int("expect", 200, 100, 599));
  if (text.empty()) return nullptr;
  auto url = ParseUrl(text);
  if (!url.ok()) {
    keys.Error("url", url.status().message());
    return nullptr;
  }
  return std::make_unique<HttpCheck>(*url, expect);
}

}  // namespace kw
