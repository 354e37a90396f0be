#include "test/support/haproxy.h"

#include <fstream>
#include <sstream>
#include <vector>

#include "agent/net.h"

namespace kw::test {

bool ReplaceAll(std::string* text, const std::string& from, const std::string& to) {
  bool found = false;
  for (size_t at = text->find(from); at != std::string::npos;
       at = text->find(from, at + to.size())) {
    text->replace(at, from.size(), to);
    found = true;
  }
  return found;
}

Result<std::unique_ptr<Haproxy>> Haproxy::Start(const HaproxyNode& node1,
                                                const HaproxyNode& node2) {
  std::unique_ptr<Haproxy> h(new Haproxy());
  // The example sits in the source tree: the working directory (test/run runs from the
  // top) or above the build directory (build/ or build/asan/).
  std::string cfg;
  for (const std::string& top : {std::string("."), BuildDir() + "/..", BuildDir() + "/../.."}) {
    std::ifstream in(top + "/packaging/examples/haproxy.cfg");
    std::stringstream ss;
    ss << in.rdbuf();
    cfg = ss.str();
    if (!cfg.empty()) break;
  }
  if (cfg.empty()) return Status::Error("cannot read packaging/examples/haproxy.cfg");
  h->rw_port_ = FreePort();
  h->ro_port_ = FreePort();
  h->socket_ = h->dir_.path() + "/admin.sock";
  auto server = [](const HaproxyNode& n) {
    return "127.0.0.1:" + std::to_string(n.pg_port) + " check port " + std::to_string(n.agent_port);
  };
  const std::vector<std::pair<std::string, std::string>> subs = {
      {"log /dev/log local0", "log stderr local0"},
      {"/run/haproxy/admin.sock", h->socket_},
      {"bind *:5433", "bind 127.0.0.1:" + std::to_string(h->rw_port_)},
      {"bind *:5434", "bind 127.0.0.1:" + std::to_string(h->ro_port_)},
      {"192.168.55.121:5432 check port 9201", server(node1)},
      {"192.168.55.122:5432 check port 9201", server(node2)},
  };
  for (const auto& [from, to] : subs)
    if (!ReplaceAll(&cfg, from, to))
      return Status::Error("packaging/examples/haproxy.cfg no longer contains '" + from + "'");
  h->config_ = h->dir_.Write("haproxy.cfg", cfg);
  h->proc_ =
      std::make_unique<Process>(std::vector<std::string>{"haproxy", "-db", "-f", h->config_});
  // Ready once the stats socket answers.
  if (!WaitFor([&] { return !h->ServerStatus().empty() || !h->proc_->Running(); }, seconds(10)) ||
      !h->proc_->Running())
    return Status::Error("haproxy did not start: " + h->proc_->Log());
  return h;
}

std::map<std::string, std::string> Haproxy::ServerStatus() const {
  std::map<std::string, std::string> out;
  TimePoint deadline = SteadyClock::now() + seconds(2);
  auto fd = ConnectUnix(socket_, deadline);
  if (!fd.ok() || !SendAll(fd->get(), "show stat\n", deadline).ok()) return out;
  auto text = ReadToEof(fd->get(), 1 << 20, deadline);
  if (!text.ok()) return out;
  // CSV with a "# pxname,svname,..." header; columns found by name.
  std::istringstream lines(*text);
  std::string line;
  std::vector<std::string> header;
  auto split = [](const std::string& l) {
    std::vector<std::string> f;
    std::stringstream s(l);
    std::string cell;
    while (std::getline(s, cell, ',')) f.push_back(cell);
    return f;
  };
  int px = -1, sv = -1, status = -1;
  while (std::getline(lines, line)) {
    if (line.rfind("# ", 0) == 0) {
      header = split(line.substr(2));
      for (size_t i = 0; i < header.size(); ++i) {
        if (header[i] == "pxname") px = static_cast<int>(i);
        if (header[i] == "svname") sv = static_cast<int>(i);
        if (header[i] == "status") status = static_cast<int>(i);
      }
      continue;
    }
    std::vector<std::string> f = split(line);
    if (px < 0 || sv < 0 || status < 0 || static_cast<int>(f.size()) <= status) continue;
    out[f[px] + "/" + f[sv]] = f[status];
  }
  return out;
}

}  // namespace kw::test
