#include "agent/daemon.h"

#include <malloc.h>
#include <signal.h>

#include <random>
#include <thread>

#include "agent/failover/report.h"
#include "agent/failover/runtime.h"
#include "agent/gossip/cluster_api.h"
#include "agent/gossip/service.h"
#include "agent/http_client.h"
#include "agent/http_server.h"
#include "agent/json.h"
#include "agent/scheduler.h"
#include "agent/track_files.h"
#include "agent/version.h"

namespace kw {
namespace {

constexpr Duration kStallLimit = seconds(2);  // the scheduler goes round every 500ms
// How often freed heap pages go back to the kernel.  Every HTTP connection gets a 32 KiB
// buffer from malloc; after a burst of connections the freed buffers stayed resident in
// malloc's arenas (up to 1.0 MiB after `make bench`'s runs, 1.7 MiB with two HTTP
// threads), because glibc gives back only the top of a heap by itself.  malloc_trim(0)
// gives back every free page; it took 25 us idle and up to 0.15 ms right after a burst
// (test/bench/RESULTS.md, "Memory").
constexpr Duration kTrimEvery = seconds(10);

sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

// Logs each debounced change once.
PublishHook LogTransitions(Logger& log) {
  return [&log](const Snapshot&, const std::vector<Transition>& changes) {
    for (const Transition& t : changes) {
      const char* now = t.new_up ? "up" : "down";
      std::string msg = "check " + t.check + ": " +
                        (t.first ? std::string("first result ") + now
                                 : std::string(t.old_up ? "up" : "down") + " -> " + now) +
                        " (" + t.detail + ")";
      log.Log(t.new_up || t.first ? LogLevel::kInfo : LogLevel::kWarning, msg,
              {{"CHECK", t.check},
               {"OLD_STATE", t.first ? "unknown" : (t.old_up ? "up" : "down")},
               {"NEW_STATE", now}});
    }
  };
}

// The HTTP loop is making progress if it answers /liveness on its own socket.
bool HttpAnswers(const HostPort& bound) {
  HostPort to = bound;
  if (to.host == "0.0.0.0") to.host = "127.0.0.1";
  if (to.host == "::") to.host = "::1";
  HttpRequest req;
  req.path = "/liveness";
  auto resp = HttpCall(to, req, SteadyClock::now() + seconds(1), 4096);
  return resp.ok() && resp->status == 200;
}

Result<std::unique_ptr<gossip::GossipService>> StartGossip(const Config& cfg, const Clock& clock,
                                                           Logger& log) {
  auto settings = gossip::SettingsFromConfig(cfg);
  if (!settings.ok()) return settings.status();
  auto on_event = [&log](const gossip::MemberEvent& e) {
    const char* from = gossip::MemberStatusName(e.from);
    const char* to = gossip::MemberStatusName(e.to);
    log.Log(e.to == gossip::MemberStatus::kAlive ? LogLevel::kInfo : LogLevel::kWarning,
            "member " + e.member + ": " + from + " -> " + to + " (incarnation " +
                std::to_string(e.incarnation) + ")",
            {{"MEMBER", e.member}, {"OLD_STATE", from}, {"NEW_STATE", to}});
  };
  auto svc = gossip::GossipService::Start(*settings, clock, on_event);
  if (!svc.ok()) return svc.status();
  log.Log(LogLevel::kInfo, "gossip: cluster " + cfg.cluster.name + " on udp " +
                               (*svc)->bound().ToString() + " with " +
                               std::to_string(cfg.members.size()) + " members");
  return svc;
}

// /status: "members": [{"name","status"}], the short form of /cluster.
void MembersStatus(const gossip::ClusterView& v, JsonWriter& w) {
  w.Key("members").BeginArray();
  for (const gossip::MemberView& m : v.members)
    w.BeginObject()
        .Key("name")
        .String(m.name)
        .Key("status")
        .String(gossip::MemberStatusName(m.status))
        .Key("role")
        .String(gossip::PgRoleName(m.state.role))
        .EndObject();
  w.EndArray();
}

}  // namespace

void BlockStopSignals() {
  sigset_t set = StopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

int RunDaemon(const Config& cfg, std::vector<BuiltCheck> checks, Logger& log, Notifier& notifier) {
  RealClock clock;
  SnapshotBox box(std::make_shared<Snapshot>());
  Scheduler scheduler(std::move(checks), clock, box, std::random_device{}());
  scheduler.OnPublish(LogTransitions(log));
  if (!cfg.agent.track_dir.empty()) {
    // keepalived track files, rewritten on change only.  shared_ptr: the hook is a
    // copyable std::function.  An error is logged once, not on every publication.
    auto track = std::make_shared<TrackFiles>(cfg.agent.track_dir);
    auto last_error = std::make_shared<std::string>();
    scheduler.OnPublish(
        [track, last_error, &log](const Snapshot& snap, const std::vector<Transition>&) {
          track->Update(snap);
          const std::string& error = track->last_status().message();
          if (error != *last_error && !error.empty()) log.Log(LogLevel::kWarning, error);
          *last_error = error;
        });
  }

  ApiSources src;
  src.snapshots = &box;
  src.node = cfg.agent.node;
  src.version = kVersion;
  src.live = [&] { return clock.Now() - scheduler.heartbeat() < kStallLimit; };
  // The counters live outside the server: HTTP threads may render /metrics before
  // `server` is assigned below and while server.reset() stops them.
  HttpCounters http_counters;
  src.metrics.push_back([&](std::string& out) { http_counters.AppendMetrics(out); });

  // Gossip membership (agent/gossip/): started before the HTTP server so that /cluster
  // always has a view, stopped after the scheduler whose results it gossips.
  std::unique_ptr<gossip::GossipService> members;
  if (cfg.cluster.present) {
    auto started = StartGossip(cfg, clock, log);
    if (!started.ok()) {
      log.Log(LogLevel::kError, started.status().message());
      return 1;
    }
    members = std::move(started.value());
    src.cluster = [&] { return gossip::ClusterAnswer(members->View(), clock.Now()); };
    src.metrics.push_back(
        [&](std::string& out) { gossip::AppendGossipMetrics(members->View(), clock.Now(), out); });
    src.status.push_back([&](JsonWriter& w) { MembersStatus(members->View(), w); });
  }
  // Failover (agent/failover/): on the gossip transport; stopped before gossip.
  std::unique_ptr<FailoverRuntime> failover;
  if (members && cfg.cluster.failover != FailoverMode::kOff) {
    auto f = FailoverRuntime::Start(cfg, clock, box, *members, log);
    if (!f.ok()) {
      log.Log(LogLevel::kError, f.status().message());
      return 1;
    }
    failover = std::move(f.value());
    src.primary_veto = [&](TimePoint now) { return failover->service().PrimaryVeto(now); };
    src.status.push_back(
        [&](JsonWriter& w) { WriteFailoverStatus(w, failover->service().View(), clock.Now()); });
    src.metrics.push_back([&](std::string& out) {
      AppendFailoverMetrics(out, failover->service().View(), clock.Now());
    });
  }
  if (!cfg.agent.admin_token_file.empty()) {
    auto token = gossip::LoadKeyFile(cfg.agent.admin_token_file);
    if (!token.ok()) {
      log.Log(LogLevel::kError, "admin_token_file: " + token.status().message());
      return 1;
    }
    src.admin_token = *token;
    src.admin_remote = cfg.agent.admin_remote;
    src.admin = [&](std::string_view command, const Query& query) {
      return AnswerCommand(failover ? &failover->service() : nullptr, command, query);
    };
  }
  // What this node tells the others: its checks and PostgreSQL, and its failover term.
  auto publish_state = [&] {
    if (!members) return;
    gossip::NodeState s = gossip::NodeStateFromSnapshot(*box.Get());
    if (failover) {
      FailoverView v = failover->service().View();
      s.term = v.term;
      s.leader = v.leader;
      s.paused = v.paused;
      s.pause_version = v.pause_version;
    }
    members->SetLocalState(s);
  };

  auto started = HttpServer::Start(cfg.agent, src, http_counters);
  if (!started.ok()) {
    log.Log(LogLevel::kError, started.status().message());
    return 1;
  }
  std::unique_ptr<HttpServer> server = std::move(started.value());
  std::thread sched_thread([&] { scheduler.Run(); });
  log.Log(LogLevel::kInfo, "keepwatchd " + std::string(kVersion) + " node " + cfg.agent.node +
                               " listening on http://" + server->bound().ToString() + " with " +
                               std::to_string(box.Get()->checks.size()) + " checks");

  // systemd's STATUS=: the failover role first (when it runs), then the checks.
  std::string status_line;
  auto update_status = [&] {
    std::string line = StatusLine(*box.Get());
    if (failover)
      line = FailoverStatusPhrase(failover->service().View(), clock.Now()) + "; " + line;
    if (line == status_line) return;
    status_line = line;
    notifier.Notify("STATUS=" + line);
  };
  const Duration watchdog = notifier.WatchdogInterval();
  TimePoint last_ping{};
  TimePoint last_trim = clock.Now();
  bool ready = false;
  sigset_t stop = StopSignals();
  for (;;) {
    timespec tick{0, 100 * 1000 * 1000};
    int sig = sigtimedwait(&stop, nullptr, &tick);
    if (sig == SIGTERM || sig == SIGINT) {
      log.Log(LogLevel::kInfo,
              std::string("stopping on ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
      break;
    }
    TimePoint now = clock.Now();
    publish_state();  // unchanged state is not disseminated again
    update_status();
    if (!ready && box.Get()->AllHaveResults()) {
      ready = true;
      notifier.Notify("READY=1");
      log.Log(LogLevel::kInfo, "ready: every check has a first result");
    }
    if (now - last_trim >= kTrimEvery) {
      malloc_trim(0);
      last_trim = now;
    }
    if (watchdog > Duration::zero() && now - last_ping >= watchdog / 2) {
      // Only while both loops really make progress; otherwise systemd restarts us.
      if (now - scheduler.heartbeat() < kStallLimit && HttpAnswers(server->bound())) {
        notifier.Notify("WATCHDOG=1");
        last_ping = now;
      } else {
        log.Log(LogLevel::kError, "watchdog: scheduler or HTTP loop stalled; not pinging");
      }
    }
  }
  notifier.Notify("STOPPING=1");
  server.reset();
  scheduler.Stop();
  sched_thread.join();
  failover.reset();
  members.reset();
  return 0;
}

}  // namespace kw
