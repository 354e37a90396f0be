// A real keepwatchd for integration tests: writes the configuration, starts the built
// binary on a free loopback port, waits for it to answer, and stops it on destruction.
#pragma once

#include <memory>
#include <string>

#include "agent/http_client.h"
#include "test/support/process.h"

namespace kw::test {

class Agent {
 public:
  // `sections`: INI text after [agent] (checks etc.); `agent_keys`: extra [agent] lines.
  // `env`: extra environment (NOTIFY_SOCKET...).
  explicit Agent(const std::string& sections, const std::string& agent_keys = "",
                 const std::map<std::string, std::string>& env = {});
  ~Agent();

  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  Process& process() { return *proc_; }
  // GET (or another method) on the agent; status 0 when it could not be reached.
  HttpResponse Call(const std::string& path, const std::string& method = "GET",
                    Duration timeout = seconds(2)) const;
  // Waits until `path` answers `status`.
  bool WaitStatus(const std::string& path, int status, Duration limit = seconds(10)) const;

 private:
  TempDir dir_;
  uint16_t port_;
  std::unique_ptr<Process> proc_;
};

}  // namespace kw::test
