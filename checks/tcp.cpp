#include "checks/tcp.h"

#include "agent/net.h"

namespace kw {
namespace {

class TcpCheck final : public Check {
 public:
  explicit TcpCheck(HostPort to) : to_(std::move(to)) {}

  CheckResult Run(TimePoint deadline) override {
    TimePoint start = SteadyClock::now();
    auto fd = ConnectTcp(to_, deadline);
    double elapsed = ToSeconds(SteadyClock::now() - start);
    if (!fd.ok()) {
      const Status& s = fd.status();
      return (IsTimeout(s) ? CheckResult::Timeout(s.message()) : CheckResult::Fail(s.message()))
          .Value("connect_seconds", elapsed);
    }
    return CheckResult::Pass("connected to " + to_.ToString()).Value("connect_seconds", elapsed);
  }

 private:
  HostPort to_;
};

}  // namespace

std::unique_ptr<Check> MakeTcpCheck(KeyReader& keys, const CheckEnv&) {
  return std::make_unique<TcpCheck>(keys.RequiredAddress("address", 0));
}

}  // namespace kw
