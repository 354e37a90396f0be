// Failover end to end on loopback: a real PostgreSQL primary and streaming replica, and
// three real keepwatchd (pg1, pg2 and a voter lb1) gossiping over UDP with failover on.
// The primary's agent takes the lease; when its host dies (agent killed, PostgreSQL
// stopped) the replica's agent is elected, promotes PostgreSQL and answers 200 on
// /primary — never while another member does.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "agent/gossip/crypto.h"
#include "test/support/agent.h"
#include "test/support/pg_cluster.h"

using namespace kw;
using namespace kw::test;

namespace {

struct Member {
  std::string name;
  uint16_t http, gossip;
  int pg_port;  // 0: no PostgreSQL
  std::unique_ptr<Process> proc;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(http); }
  int Get(const std::string& path) const {
    HttpRequest req;
    req.path = path;
    auto r = HttpCall(HostPort{"127.0.0.1", http}, req, SteadyClock::now() + milliseconds(500));
    return r.ok() ? r->status : 0;
  }
};

uint16_t FreeUdpPort() {
  // Gossip binds UDP; a free TCP port on loopback is almost always free for UDP too, and
  // the agent refuses to start (the test fails clearly) if not.
  return FreePort();
}

// `cluster` adds lines to the [cluster] section (fence = stop, say); `fall` is the
// postgres check's.
std::string Ini(const Member& self, const std::vector<Member>& all, const std::string& dir,
                const std::string& cluster, int fall) {
  std::string s = "[agent]\nnode = " + self.name +
                  "\nlisten = 127.0.0.1:" + std::to_string(self.http) + "\nstate_dir = " + dir +
                  "/" + self.name + "\nadmin_token_file = " + dir + "/admin.token\n";
  if (self.pg_port)
    s += "[check.postgres]\ntype = postgres\nconninfo = host=127.0.0.1 port=" +
         std::to_string(self.pg_port) +
         " user=postgres dbname=postgres\ninterval = 300ms\ntimeout = 250ms\nrise = 1\nfall = " +
         std::to_string(fall) + "\n";
  else
    s += "[check.self]\ntype = tcp\naddress = 127.0.0.1:" + std::to_string(self.http) + "\n";
  s += "[cluster]\nname = e2e\nbind = 127.0.0.1:" + std::to_string(self.gossip) +
       "\nkey_file = " + dir +
       "/cluster.key\nprobe_interval = 500ms\nprobe_timeout = 200ms\nlease = 2s\ndrift_margin = "
       "200ms\n"
       "election_timeout = 1s\nrejoin_conninfo = user=postgres dbname=postgres\n" +
       cluster;
  for (const Member& m : all) {
    s += "[member." + m.name + "]\naddress = 127.0.0.1:" + std::to_string(m.gossip) +
         "\nvoter = yes\n";
    if (m.pg_port)
      s += "postgres = yes\npriority = " + std::string(m.name == "pg1" ? "100" : "50") +
           "\npg_address = 127.0.0.1:" + std::to_string(m.pg_port) + "\n";
  }
  return s;
}

std::string Join(const std::vector<int>& v) {
  std::string s = "0";
  for (int n : v) s += "," + std::to_string(n);
  return s;
}

void WriteKey(const std::string& path) {
  std::ofstream(path) << gossip::GenerateKeyHex() << "\n";
  chmod(path.c_str(), 0600);
}

// pg1 on the primary, pg2 on the replica, the voter lb1; pg1's agent leads.
std::vector<Member> StartAgents(PgCluster& pg, TempDir& dir, const std::string& cluster = "",
                                int fall = 1) {
  WriteKey(dir.path() + "/cluster.key");
  WriteKey(dir.path() + "/admin.token");
  std::vector<Member> ms(3);
  ms[0] = Member{"pg1", FreePort(), FreeUdpPort(), pg.primary().port(), nullptr};
  ms[1] = Member{"pg2", FreePort(), FreeUdpPort(), pg.replica().port(), nullptr};
  ms[2] = Member{"lb1", FreePort(), FreeUdpPort(), 0, nullptr};
  for (Member& m : ms) {
    mkdir((dir.path() + "/" + m.name).c_str(), 0700);
    std::string conf = dir.Write(m.name + ".ini", Ini(m, ms, dir.path(), cluster, fall));
    m.proc =
        std::make_unique<Process>(std::vector<std::string>{BuildDir() + "/keepwatchd", "-c", conf});
  }
  bool led = WaitFor([&] { return ms[0].Get("/primary") == 200; }, seconds(20));
  REQUIRE_MESSAGE(led, "pg1 log:\n" << ms[0].proc->Log());
  CHECK(ms[1].Get("/primary") == 503);
  CHECK(ms[1].Get("/replica") == 200);
  return ms;
}

// keepwatch ARGS... against `m`'s agent with a token file; the exit code, output in *out.
int Client(const Member& m, const std::string& token, std::vector<std::string> args,
           std::string* out) {
  std::vector<std::string> argv = {
      BuildDir() + "/keepwatch", "--url", m.url(), "--token-file", token, "--wait", "30s"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, out, seconds(40));
}

// keepwatch switchover --to `to` through `via`'s agent, which must say it is done; the
// agents' logs when it is not.
void Switchover(const std::vector<Member>& ms, const Member& via, const std::string& token,
                const std::string& to) {
  std::string out;
  int code = Client(via, token, {"switchover", "--to", to}, &out);
  REQUIRE_MESSAGE(code == 0, out << "\npg1 log:\n"
                                 << ms[0].proc->Log() << "\npg2 log:\n"
                                 << ms[1].proc->Log());
  CHECK(out.find("switchover to " + to + ": done") != std::string::npos);
}

// Keeps inserting into seq (n int PRIMARY KEY) on `server` from its own thread until
// Stop(); what it was told committed must survive a switchover.
class Writer {
 public:
  explicit Writer(PgServer& server)
      : thread_([this, &server] {
          for (int n = 1; !stop_ && n < 100000; ++n)
            if (server.Sql("INSERT INTO seq VALUES (" + std::to_string(n) + ")", seconds(2)).ok()) {
              acked_.push_back(n);
              count_++;
            }
        }) {}
  ~Writer() {
    if (thread_.joinable()) Stop();
  }
  size_t count() const { return count_; }
  // Stops and joins the writer; the values it was told committed.
  std::vector<int> Stop() {
    stop_ = true;
    thread_.join();
    return acked_;  // the writer's until it was joined
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<size_t> count_{0};
  std::vector<int> acked_;
  std::thread thread_;  // last: it starts once the members above exist
};

// Whether every value of `acked` is in `server`'s seq.
bool AllThere(PgServer& server, const std::vector<int>& acked) {
  auto count = server.Sql("SELECT count(*) FROM seq WHERE n IN (" + Join(acked) + ")");
  return count.ok() && std::stoul(*count) == acked.size();
}

}  // namespace

TEST_CASE("failover on loopback: the replica takes over when the primary's host dies") {
  auto started = PgCluster::Start();
  REQUIRE(started.ok());
  PgCluster& pg = **started;
  TempDir dir;
  std::vector<Member> ms = StartAgents(pg, dir);

  // The primary host dies: its agent and its PostgreSQL.
  TimePoint died = SteadyClock::now();
  ms[0].proc->Signal(SIGKILL);
  REQUIRE(pg.primary().Stop("immediate").ok());
  bool both = false, took_over = false;
  while (SteadyClock::now() - died < seconds(30)) {
    int a = ms[0].Get("/primary"), b = ms[1].Get("/primary");
    both |= a == 200 && b == 200;
    if (b == 200) {
      took_over = true;
      break;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  double secs = ToSeconds(SteadyClock::now() - died);
  REQUIRE_MESSAGE(took_over, "pg2 log:\n" << ms[1].proc->Log());
  CHECK_FALSE(both);
  MESSAGE("pg2 answered 200 on /primary " << secs << " s after the primary host died");
  CHECK(secs < 15);  // dead after the suspicion timeout, then the election and promotion
  CHECK(*pg.replica().Sql("SELECT pg_is_in_recovery()") == "f");

  // The old primary's host comes back: its PostgreSQL is a primary on the old timeline.
  // Its agent learns the new term from gossip, fences it read-only and says it needs a
  // rejoin; the new primary keeps the role.
  REQUIRE(pg.primary().Start().ok());
  ms[0].proc = std::make_unique<Process>(
      std::vector<std::string>{BuildDir() + "/keepwatchd", "-c", dir.path() + "/pg1.ini"});
  bool fenced = WaitFor(
      [&] {
        auto ro = pg.primary().Sql("SHOW default_transaction_read_only");
        return ro.ok() && *ro == "on";
      },
      seconds(20));
  REQUIRE_MESSAGE(fenced, "pg1 log:\n" << ms[0].proc->Log());
  CHECK(ms[0].Get("/primary") == 503);
  CHECK(ms[0].proc->Log().find("needs a rejoin") != std::string::npos);
  CHECK(ms[1].Get("/primary") == 200);
  for (Member& m : ms) m.proc->Signal(SIGTERM);
  for (Member& m : ms) m.proc->Wait(seconds(5));
}

// The readonly fence is ALTER SYSTEM: it outlives the agent that set it.  An agent started
// on such a primary must lift it once it leads, or the cluster has a leader and no writes.
TEST_CASE("failover on loopback: a primary left read-only by an earlier fence is lifted") {
  auto started = PgCluster::Start();
  REQUIRE(started.ok());
  PgCluster& pg = **started;
  REQUIRE(pg.primary().Sql("ALTER SYSTEM SET default_transaction_read_only = on").ok());
  REQUIRE(pg.primary().Sql("SELECT pg_reload_conf()").ok());
  REQUIRE(WaitFor([&] { return *pg.primary().Sql("SHOW default_transaction_read_only") == "on"; },
                  seconds(5)));
  TempDir dir;
  std::vector<Member> ms = StartAgents(pg, dir);  // requires pg1 to answer 200 on /primary
  CHECK(*pg.primary().Sql("SHOW default_transaction_read_only") == "off");
  CHECK(ms[0].proc->Log().find("lifting the fence") != std::string::npos);
  for (Member& m : ms) m.proc->Signal(SIGTERM);
  for (Member& m : ms) m.proc->Wait(seconds(5));
}

TEST_CASE("switchover on loopback: planned, rejoin, and back; no acknowledged write lost") {
  PgCluster::Options options;
  options.extra_settings = {"wal_log_hints = on", "full_page_writes = on"};  // for pg_rewind
  auto started = PgCluster::Start(options);
  REQUIRE(started.ok());
  PgCluster& pg = **started;
  REQUIRE(pg.primary().Sql("CREATE TABLE seq (n int PRIMARY KEY)").ok());
  TempDir dir;
  std::vector<Member> ms = StartAgents(pg, dir);
  std::string token = dir.path() + "/admin.token";

  Writer writer(pg.primary());
  WaitFor([&] { return writer.count() >= 20; }, seconds(20));

  // Refused without the right token; taken with it on a voter that is not the leader.
  std::string wrong = dir.Write("wrong.token", gossip::GenerateKeyHex() + "\n");
  chmod(wrong.c_str(), 0600);
  std::string out;
  CHECK(Client(ms[2], wrong, {"switchover", "--to", "pg2"}, &out) == 1);
  CHECK(out.find("HTTP 401") != std::string::npos);
  Switchover(ms, ms[2], token, "pg2");
  std::vector<int> acked = writer.Stop();
  CHECK(ms[1].Get("/primary") == 200);
  CHECK(ms[0].Get("/primary") == 503);
  CHECK(*pg.replica().Sql("SELECT pg_is_in_recovery()") == "f");
  CHECK(*pg.primary().Sql("SHOW default_transaction_read_only") == "on");
  CHECK_MESSAGE(
      WaitFor([&] { return ms[0].proc->Log().find("needs a rejoin") != std::string::npos; },
              seconds(5)),
      ms[0].proc->Log());
  // Every acknowledged write is on the new primary.
  MESSAGE(acked.size() << " writes acknowledged before the switchover");
  CHECK(AllThere(pg.replica(), acked));

  // keepwatch rejoin on the old primary: pg_rewind from pg2, then it follows pg2.
  int code = Client(ms[0], token, {"rejoin"}, &out);
  REQUIRE_MESSAGE(code == 0, out << "\npg1 log:\n" << ms[0].proc->Log());
  CHECK(*pg.primary().Sql("SELECT pg_is_in_recovery()") == "t");
  CHECK(*pg.primary().Sql("SHOW default_transaction_read_only") == "off");
  CHECK(WaitFor([&] { return ms[0].Get("/replica") == 200; }, seconds(10)));
  // And back to pg1, with writes on pg2 meanwhile.
  for (int n = 100001; n <= 100010; ++n)
    if (pg.replica().Sql("INSERT INTO seq VALUES (" + std::to_string(n) + ")").ok())
      acked.push_back(n);
  Switchover(ms, ms[1], token, "pg1");
  CHECK(ms[0].Get("/primary") == 200);
  CHECK(ms[1].Get("/primary") == 503);
  CHECK(AllThere(pg.primary(), acked));

  // pause on lb1 spreads to every agent through gossip; resume lifts it.
  CHECK(Client(ms[2], token, {"pause"}, &out) == 0);
  auto paused = [&](const Member& m) {
    HttpRequest req;
    req.path = "/status";
    auto r = HttpCall(HostPort{"127.0.0.1", m.http}, req, SteadyClock::now() + seconds(1));
    return r.ok() && r->body.find("\"paused\":true") != std::string::npos;
  };
  CHECK(WaitFor([&] { return paused(ms[0]) && paused(ms[1]); }, seconds(10)));
  CHECK(Client(ms[1], token, {"resume"}, &out) == 0);
  CHECK(WaitFor([&] { return !paused(ms[0]) && !paused(ms[2]); }, seconds(10)));
  for (Member& m : ms) m.proc->Signal(SIGTERM);
  for (Member& m : ms) m.proc->Wait(seconds(5));
}

TEST_CASE("switchover on loopback with fence = stop: no acknowledged write lost") {
  auto started = PgCluster::Start();
  REQUIRE(started.ok());
  PgCluster& pg = **started;
  REQUIRE(pg.primary().Sql("CREATE TABLE seq (n int PRIMARY KEY)").ok());
  TempDir dir;
  // fall = 2: under load one check answer late would make pg1 step down, and this fence
  // (unlike readonly) is not lifted when it leads again.
  std::vector<Member> ms = StartAgents(pg, dir, "fence = stop\n", 2);
  std::string token = dir.path() + "/admin.token";
  Writer writer(pg.primary());
  WaitFor([&] { return writer.count() >= 20; }, seconds(20));

  // The fence stops pg1's PostgreSQL; the final position comes from its control file.
  Switchover(ms, ms[0], token, "pg2");
  std::vector<int> acked = writer.Stop();
  CHECK(pg.primary().PostmasterPid() == 0);
  CHECK(ms[1].Get("/primary") == 200);
  CHECK(ms[0].Get("/primary") == 503);
  CHECK(*pg.replica().Sql("SELECT pg_is_in_recovery()") == "f");
  CHECK(ms[0].proc->Log().find("fenced at lsn") != std::string::npos);
  MESSAGE(acked.size() << " writes acknowledged before the switchover");
  CHECK(AllThere(pg.replica(), acked));
  for (Member& m : ms) m.proc->Signal(SIGTERM);
  for (Member& m : ms) m.proc->Wait(seconds(5));
}
