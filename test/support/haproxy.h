// A real HAProxy (the Debian package's binary) for integration tests, configured from
// packaging/examples/haproxy.cfg with the reference cluster's addresses replaced by the
// test's loopback ports.  Runs in the foreground (-db) as a child; stopped on destruction.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "agent/status.h"
#include "test/support/process.h"

namespace kw::test {

struct HaproxyNode {
  int pg_port = 0;     // where PostgreSQL listens
  int agent_port = 0;  // where its keepwatchd answers
};

class Haproxy {
 public:
  // Starts HAProxy with the example configuration for two PostgreSQL nodes.
  static Result<std::unique_ptr<Haproxy>> Start(const HaproxyNode& node1, const HaproxyNode& node2);
  ~Haproxy() = default;

  int rw_port() const { return rw_port_; }
  int ro_port() const { return ro_port_; }
  const std::string& config() const { return config_; }
  // "show stat" as proxy/server → status ("UP", "DOWN", "UP 1/2", ...).
  std::map<std::string, std::string> ServerStatus() const;
  std::string Log() const { return proc_->Log(); }

 private:
  Haproxy() = default;
  TempDir dir_;
  int rw_port_ = 0;
  int ro_port_ = 0;
  std::string config_;
  std::string socket_;
  std::unique_ptr<Process> proc_;
};

// Replaces every `from` in *text by `to`; false when `from` does not occur.
bool ReplaceAll(std::string* text, const std::string& from, const std::string& to);

}  // namespace kw::test
