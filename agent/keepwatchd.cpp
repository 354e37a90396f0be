// keepwatchd: parse arguments, load and validate the configuration, run the agent.
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "agent/config.h"
#include "agent/daemon.h"
#include "agent/gossip/service.h"
#include "agent/probe_runner.h"
#include "agent/version.h"
#include "checks/registry.h"

namespace {

void Usage(FILE* to) {
  std::fprintf(
      to,
      "usage: keepwatchd [-c FILE] [--check-config] [--version]\n"
      "  -c, --config FILE   configuration (default /etc/keepwatch/keepwatch.ini)\n"
      "  --check-config      validate the configuration, print FILE:LINE: errors, exit 0/1\n"
      "  --version           print the version\n");
}

}  // namespace

int main(int argc, char** argv) {
  // At most two malloc arenas, set before any thread starts.  By default every thread
  // that allocates may get an arena of its own (up to 8 per core; each check has a probe
  // thread), and each arena keeps some pages resident even after malloc_trim: with eight
  // checks the cap saved 0.1 MiB after trimming, 0.6 MiB without.  Two arenas are plenty
  // for what the agent allocates (test/bench/RESULTS.md, "Memory").
  mallopt(M_ARENA_MAX, 2);
  std::string path = "/etc/keepwatch/keepwatch.ini";
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "-c" || a == "--config") && i + 1 < argc) {
      path = argv[++i];
    } else if (a == "--check-config") {
      check_only = true;
    } else if (a == "--version") {
      std::printf("keepwatchd %s\n", kw::kVersion);
      return 0;
    } else if (a == "-h" || a == "--help") {
      Usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "keepwatchd: unknown argument '%s'\n", a.c_str());
      Usage(stderr);
      return 2;
    }
  }
  kw::Diagnostics diag(path);
  kw::Config cfg = kw::LoadConfig(path, diag);
  kw::RealClock clock;
  kw::CheckEnv env{&clock, cfg.agent.root};
  std::vector<kw::BuiltCheck> checks = kw::BuildChecks(cfg, env, diag);
  for (const std::string& m : diag.messages()) std::fprintf(stderr, "%s\n", m.c_str());
  if (!diag.ok()) {
    std::fprintf(stderr, "%s: %d error%s; not starting\n", path.c_str(), diag.errors(),
                 diag.errors() == 1 ? "" : "s");
    return 1;
  }
  if (cfg.cluster.present) {
    // The key files too: a key readable by others must stop --check-config as well.
    auto keys = kw::gossip::SettingsFromConfig(cfg);
    if (!keys.ok()) {
      std::fprintf(stderr, "%s: %s; not starting\n", path.c_str(), keys.status().message().c_str());
      return 1;
    }
  }
  if (!cfg.agent.admin_token_file.empty()) {
    auto token = kw::gossip::LoadKeyFile(cfg.agent.admin_token_file);
    if (!token.ok()) {
      std::fprintf(stderr, "%s: admin_token_file: %s; not starting\n", path.c_str(),
                   token.status().message().c_str());
      return 1;
    }
  }
  if (check_only) {
    std::printf("%s: OK (%zu checks)\n", path.c_str(), cfg.checks.size());
    return 0;
  }
  kw::BlockStopSignals();
  auto log = kw::MakeLogger(cfg.agent.log_level);
  auto notifier = kw::MakeSystemdNotifier();
  int code = kw::RunDaemon(cfg, std::move(checks), *log, *notifier);
  if (kw::ProbeRunner::DetachedThreads() > 0) {
    // A probe was still running at the stop (a check stuck in the kernel, or one that
    // was just mid-query) and its thread is detached: returning from main would run the
    // exit-time teardown under it (ThreadSanitizer saw OpenSSL's atexit cleanup destroy
    // the locks libpq was using on such a thread).  Nothing is left to write but stdio.
    std::fflush(nullptr);
    std::_Exit(code);
  }
  return code;
}
