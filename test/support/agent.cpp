#include "test/support/agent.h"

#include <signal.h>

namespace kw::test {

Agent::Agent(const std::string& sections, const std::string& agent_keys,
             const std::map<std::string, std::string>& env)
    : port_(FreePort()) {
  std::string ini = "[agent]\nnode = test\nlisten = 127.0.0.1:" + std::to_string(port_) +
                    "\nstate_dir = " + dir_.path() + "\n" + agent_keys + "\n" + sections;
  std::string path = dir_.Write("keepwatch.ini", ini);
  proc_ = std::make_unique<Process>(
      std::vector<std::string>{BuildDir() + "/keepwatchd", "-c", path}, env);
  WaitFor(
      [&] { return Call("/liveness", "GET", milliseconds(200)).status != 0 || !proc_->Running(); },
      seconds(10));
}

Agent::~Agent() {
  proc_->Signal(SIGTERM);
  proc_->Wait(seconds(5));
}

HttpResponse Agent::Call(const std::string& path, const std::string& method,
                         Duration timeout) const {
  HttpRequest req;
  req.method = method;
  req.path = path;
  auto r = HttpCall(HostPort{"127.0.0.1", port_}, req, SteadyClock::now() + timeout);
  return r.ok() ? r.value() : HttpResponse{};
}

bool Agent::WaitStatus(const std::string& path, int status, Duration limit) const {
  return WaitFor([&] { return Call(path).status == status; }, limit);
}

}  // namespace kw::test
