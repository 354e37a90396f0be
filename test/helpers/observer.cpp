// kw-observer: watches a failover scenario from outside and judges it afterwards.
//
//   kw-observer --log FILE --write NETNS=CONNINFO... [--poll NAME=NETNS=HOST:PORT]...
//               [--verify NETNS=CONNINFO]... [--sync] [--max-handovers N]
//
// While running (until SIGTERM or SIGINT):
// - one thread per --poll, inside network namespace NETNS (a name under /run/netns, so a
//   node cut off by nftables is still seen from its own side), asks GET /primary of the
//   agent at HOST:PORT every 50 ms (500 ms timeout) and records [sent, answered, code];
// - one thread, inside the (first) --write namespace, writes a numbered sequence through
//   CONNINFO (HAProxy's rw port; the next --write after a failure): INSERT INTO observed
//   (seq, server) VALUES (n, inet_server_addr()) RETURNING inet_server_addr(), one at a
//   time, each bounded by 2 s; a write is acknowledged only when its INSERT returned (a
//   timed-out one is dropped with its connection, never cancelled: a cancelled
//   synchronous commit reports success);
// - SIGUSR1 marks the instant of the fault (the first mark counts).
// Every event is also appended to FILE as it happens (the scenario waits on it).
//
// Then it judges, prints the figures and exits 1 on any violation:
// - two primaries: a 200 from /primary of one node whose [sent, answered] overlaps a 200
//   from another node.  The answer was decided at some instant inside its interval, so
//   overlapping intervals are the only case in which both could have been 200 at once;
//   flagging every overlap is the conservative side (the lease gap between two leaders
//   is seconds, a poll milliseconds, so an honest handover never overlaps);
// - writes after a handover: the servers of the acknowledged writes, in sequence order
//   (one writer, one write at a time), may change at most --max-handovers times (1 for a
//   failover: once the new primary accepted a write, the old one must accept none);
// - the same on the servers' own tables (--verify, read directly in each node's
//   namespace): no row the old primary inserted itself carries a time (clock_timestamp,
//   one kernel clock for all namespaces) after the first row the new primary inserted,
//   which also catches writes whose acknowledgement was lost;
// - with --sync (synchronous_standby_names on the old primary): every acknowledged write
//   is in the new primary's table.  Without it, the missing ones are counted only.
// Figures: failover_ms, from the mark to the answer of the first write accepted by another
// server than the one before the mark; max_gap_ms, the longest time without an
// acknowledgement after the mark; failed_after_mark, the writes that failed after it.
//
// Built only for the tests (Makefile: $(BUILD)/kw-observer); links libkeepwatch for its
// HTTP client and libpq connection.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/http_client.h"
#include "checks/pg_connection.h"

namespace {

using kw::Duration;
using kw::SteadyClock;
using kw::TimePoint;
using std::chrono::milliseconds;

struct Poll {
  std::string node;
  TimePoint sent, answered;
  int code;  // 0: no answer
};
struct Write {
  long long seq;
  TimePoint sent, answered;
  bool ok;
  std::string server;  // when ok
};
struct Target {
  std::string name, netns, where;  // where: HOST:PORT or a conninfo
};

std::mutex g_mu;
std::vector<Poll> g_polls;
std::vector<Write> g_writes;
FILE* g_log = nullptr;
std::atomic<bool> g_stop{false};
TimePoint g_start = SteadyClock::now();

double Ms(TimePoint t) { return std::chrono::duration<double, std::milli>(t - g_start).count(); }

void Logf(const std::string& line) {
  std::lock_guard<std::mutex> lock(g_mu);
  std::fputs((line + "\n").c_str(), g_log);
  std::fflush(g_log);
}

std::string Fmt(double ms) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", ms);
  return b;
}

// Enters network namespace `netns` (a name in /run/netns, or a path) on this thread only.
bool EnterNetns(const std::string& netns) {
  if (netns.empty() || netns == "-") return true;
  std::string path = netns.find('/') == std::string::npos ? "/run/netns/" + netns : netns;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "kw-observer: entering %s: %s\n", path.c_str(), std::strerror(errno));
    if (fd >= 0) close(fd);
    return false;
  }
  close(fd);
  return true;
}

void Sleep(Duration d) { std::this_thread::sleep_for(d); }

void Poller(Target t, bool* ok) {
  if (!(*ok = EnterNetns(t.netns))) return;
  auto colon = t.where.rfind(':');
  kw::HostPort to{t.where.substr(0, colon),
                  static_cast<uint16_t>(std::stoi(t.where.substr(colon + 1)))};
  kw::HttpRequest req;
  req.path = "/primary";
  while (!g_stop) {
    TimePoint sent = SteadyClock::now();
    auto r = kw::HttpCall(to, req, sent + milliseconds(500));
    TimePoint answered = SteadyClock::now();
    int code = r.ok() ? r->status : 0;
    {
      std::lock_guard<std::mutex> lock(g_mu);
      g_polls.push_back({t.name, sent, answered, code});
    }
    Logf("poll " + t.name + " " + Fmt(Ms(sent)) + " " + Fmt(Ms(answered)) + " " +
         std::to_string(code));
    Duration left = sent + milliseconds(50) - SteadyClock::now();
    if (left > Duration::zero()) Sleep(left);
  }
}

// Writes through targets[0] while it works; after a failed write the next one is tried
// (the way keepalived moves the virtual address to the load balancer whose HAProxy has a
// primary, without modelling VRRP's own delay).
void Writer(std::vector<Target> targets, bool* ok) {
  if (!(*ok = EnterNetns(targets[0].netns))) return;
  kw::LibpqConnector connector(std::chrono::hours(24));
  std::vector<std::unique_ptr<kw::PgConnection>> conns;
  for (const Target& t : targets) conns.push_back(connector.Make(t.where));
  size_t at = 0;
  for (long long seq = 1; !g_stop; ++seq) {
    TimePoint sent = SteadyClock::now();
    kw::PgReply r =
        conns[at]->QueryRow("INSERT INTO observed (seq, server) VALUES (" + std::to_string(seq) +
                                ", inet_server_addr()) RETURNING "
                                "host(inet_server_addr()) AS server",
                            sent + std::chrono::seconds(2));
    TimePoint answered = SteadyClock::now();
    Write w{seq, sent, answered, r.ok(), r.ok() ? r.row["server"] : ""};
    {
      std::lock_guard<std::mutex> lock(g_mu);
      g_writes.push_back(w);
    }
    Logf("write " + std::to_string(seq) + " " + Fmt(Ms(sent)) + " " + Fmt(Ms(answered)) +
         (r.ok() ? " ok " + w.server : " fail " + r.message));
    if (!r.ok()) at = (at + 1) % conns.size();
    Sleep(milliseconds(r.ok() ? 20 : 50));
  }
}

struct Table {
  std::string server;  // the address the node answers on
  std::set<long long> seqs;
  std::map<std::string, std::pair<std::string, std::string>> own;  // server → (min, max) at
  std::string error;
};

// Reads the node's own table directly.  Times come back as epoch microseconds (text).
void ReadTable(Target t, Table* out) {
  if (!EnterNetns(t.netns)) {
    out->error = "cannot enter " + t.netns;
    return;
  }
  kw::LibpqConnector connector;
  auto conn = connector.Make(t.where);
  TimePoint deadline = SteadyClock::now() + std::chrono::seconds(10);
  kw::PgReply a = conn->QueryRow(
      "SELECT host(inet_server_addr()) AS me, coalesce(string_agg(seq::text, ','), '') AS seqs "
      "FROM observed",
      deadline);
  if (!a.ok()) {
    out->error = a.message;
    return;
  }
  out->server = a.row["me"];
  std::string s = a.row["seqs"];
  for (size_t p = 0; p < s.size();) {
    size_t q = s.find(',', p);
    if (q == std::string::npos) q = s.size();
    out->seqs.insert(std::stoll(s.substr(p, q - p)));
    p = q + 1;
  }
  kw::PgReply b = conn->QueryRow(
      "SELECT (extract(epoch FROM min(at)) * 1e6)::bigint::text AS first, "
      "(extract(epoch FROM max(at)) * 1e6)::bigint::text AS last FROM observed "
      "WHERE server = inet_server_addr()",
      deadline);
  if (!b.ok()) {
    out->error = b.message;
    return;
  }
  if (b.row.count("first")) out->own[out->server] = {b.row["first"], b.row["last"]};
}

// Two 200s from different nodes whose [sent, answered] intervals overlap.
void JudgePolls(std::vector<std::string>& violations) {
  std::vector<Poll> ok200;
  for (const Poll& p : g_polls)
    if (p.code == 200) ok200.push_back(p);
  for (size_t i = 0; i < ok200.size(); ++i)
    for (size_t j = i + 1; j < ok200.size(); ++j) {
      const Poll &a = ok200[i], &b = ok200[j];
      if (a.node != b.node && a.sent <= b.answered && b.sent <= a.answered)
        violations.push_back("two primaries: " + a.node + " 200 [" + Fmt(Ms(a.sent)) + ", " +
                             Fmt(Ms(a.answered)) + "] ms and " + b.node + " 200 [" +
                             Fmt(Ms(b.sent)) + ", " + Fmt(Ms(b.answered)) + "] ms");
    }
  std::map<std::string, int> polls_by_node, ok_by_node;
  for (const Poll& p : g_polls) ++polls_by_node[p.node], ok_by_node[p.node] += p.code == 200;
  for (const auto& [node, n] : polls_by_node)
    std::printf("observer: %s: %d polls of /primary, %d answered 200\n", node.c_str(), n,
                ok_by_node[node]);
}

// The acknowledged writes in sequence order and the servers that took them, in runs.
struct Sequence {
  std::vector<const Write*> acked;
  std::vector<std::string> runs;  // "A", "B": A's writes, then B's
  int handovers() const { return runs.empty() ? 0 : static_cast<int>(runs.size()) - 1; }
};

Sequence JudgeWrites(int max_handovers, std::vector<std::string>& violations) {
  Sequence q;
  for (const Write& w : g_writes)
    if (w.ok) {
      q.acked.push_back(&w);
      if (q.runs.empty() || q.runs.back() != w.server) q.runs.push_back(w.server);
    }
  std::string path;
  for (const std::string& s : q.runs) path += (path.empty() ? "" : " > ") + s;
  std::printf("observer: %zu writes, %zu acknowledged; servers in order: %s\n", g_writes.size(),
              q.acked.size(), path.c_str());
  if (q.handovers() > max_handovers)
    violations.push_back("the acknowledged writes changed server " + std::to_string(q.handovers()) +
                         " times (at most " + std::to_string(max_handovers) + "): " + path);
  if (q.acked.empty()) violations.push_back("no write was acknowledged");
  return q;
}

// " failover_ms=... max_gap_ms=... failed_after_mark=... old=..." around the mark.
std::string Figures(const Sequence& q, TimePoint mark, TimePoint stopped) {
  const Write* before = nullptr;
  const Write* first_other = nullptr;
  TimePoint last = mark;
  Duration gap{};
  int failed_after = 0;
  for (const Write& w : g_writes) failed_after += !w.ok && w.sent >= mark;
  for (const Write* w : q.acked) {
    if (w->answered < mark) before = w;
    if (w->sent >= mark && before && w->server != before->server && !first_other) first_other = w;
    if (w->answered >= mark) gap = std::max(gap, w->answered - last), last = w->answered;
  }
  gap = std::max(gap, stopped - last);
  return " failover_ms=" +
         (first_other ? Fmt(Ms(first_other->answered) - Ms(mark)) : std::string("none")) +
         " max_gap_ms=" + Fmt(std::chrono::duration<double, std::milli>(gap).count()) +
         " failed_after_mark=" + std::to_string(failed_after) +
         " old=" + (before ? before->server : std::string("none"));
}

// Reads every --verify table; returns " lost=N" (acknowledged writes missing from the new
// primary's table).
std::string JudgeTables(const Sequence& q, const std::vector<Target>& verifies, bool sync,
                        std::vector<std::string>& violations) {
  if (verifies.empty()) {
    if (sync) violations.push_back("--sync without --verify: nothing verified");
    return "";
  }
  std::vector<Table> tables(verifies.size());
  std::vector<std::thread> readers;
  for (size_t i = 0; i < verifies.size(); ++i)
    readers.emplace_back(ReadTable, verifies[i], &tables[i]);
  for (std::thread& t : readers) t.join();
  const Table* old_table = nullptr;
  const Table* new_table = nullptr;
  for (size_t i = 0; i < tables.size(); ++i) {
    if (!tables[i].error.empty()) {
      violations.push_back("reading " + verifies[i].where + ": " + tables[i].error);
      continue;
    }
    if (!q.runs.empty() && tables[i].server == q.runs.front()) old_table = &tables[i];
    if (!q.runs.empty() && tables[i].server == q.runs.back()) new_table = &tables[i];
  }
  if (q.handovers() == 1) {
    const std::string &from = q.runs.front(), &to = q.runs.back();
    if (!(old_table && new_table && old_table->own.count(from) && new_table->own.count(to))) {
      violations.push_back("the old and new primaries' own rows could not both be read");
    } else {
      long long old_last = std::stoll(old_table->own.at(from).second);
      long long new_first = std::stoll(new_table->own.at(to).first);
      std::printf("observer: last row %s inserted itself %.1f ms before the first of %s\n",
                  from.c_str(), (new_first - old_last) / 1000.0, to.c_str());
      if (old_last >= new_first)
        violations.push_back(from + " inserted a row " + Fmt((old_last - new_first) / 1000.0) +
                             " ms after " + to + " inserted its first");
    }
  }
  if (!new_table) {
    violations.push_back("the new primary's table could not be read: nothing verified");
    return "";
  }
  int missing = 0;
  for (const Write* w : q.acked) missing += new_table->seqs.count(w->seq) == 0;
  if (sync && missing)
    violations.push_back(std::to_string(missing) + " acknowledged writes missing from the new " +
                         "primary " + q.runs.back() + " under synchronous replication");
  return " lost=" + std::to_string(missing);
}

int Usage() {
  std::fprintf(stderr,
               "usage: kw-observer --log FILE --write NETNS=CONNINFO [--poll "
               "NAME=NETNS=HOST:PORT]... [--verify NETNS=CONNINFO]... [--sync] "
               "[--max-handovers N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<Target> polls, verifies;
  std::vector<Target> writers;
  std::string log_path;
  bool sync = false;
  int max_handovers = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string v = i + 1 < argc ? argv[i + 1] : "";
    auto split = [](const std::string& s, Target& t, bool named) {
      size_t p = s.find('=');
      if (p == std::string::npos) return false;
      if (named) {
        t.name = s.substr(0, p);
        size_t q = s.find('=', p + 1);
        if (q == std::string::npos) return false;
        t.netns = s.substr(p + 1, q - p - 1);
        t.where = s.substr(q + 1);
      } else {
        t.netns = s.substr(0, p);
        t.where = s.substr(p + 1);
      }
      return !t.where.empty();
    };
    Target t;
    if (a == "--log" && i + 1 < argc) {
      log_path = v, ++i;
    } else if (a == "--poll" && i + 1 < argc && split(v, t, true) &&
               t.where.find(':') != std::string::npos) {
      polls.push_back(t), ++i;
    } else if (a == "--write" && i + 1 < argc && split(v, t, false)) {
      writers.push_back(t), ++i;
    } else if (a == "--verify" && i + 1 < argc && split(v, t, false)) {
      verifies.push_back(t), ++i;
    } else if (a == "--sync") {
      sync = true;
    } else if (a == "--max-handovers" && i + 1 < argc) {
      max_handovers = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "kw-observer: bad argument '%s'\n", a.c_str());
      return Usage();
    }
  }
  if (log_path.empty() || writers.empty()) return Usage();
  g_log = std::fopen(log_path.c_str(), "a");
  if (!g_log) {
    std::fprintf(stderr, "kw-observer: %s: %s\n", log_path.c_str(), std::strerror(errno));
    return 2;
  }

  // Every thread inherits the blocked set; only this one takes the signals, synchronously.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  std::vector<std::thread> threads;
  std::deque<bool> started(polls.size() + 1, true);  // set by each thread
  for (size_t i = 0; i < polls.size(); ++i) threads.emplace_back(Poller, polls[i], &started[i]);
  threads.emplace_back(Writer, writers, &started[polls.size()]);

  std::optional<TimePoint> mark;
  for (;;) {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig == SIGUSR1) {
      if (!mark) {
        mark = SteadyClock::now();
        Logf("mark " + Fmt(Ms(*mark)));
      }
      continue;
    }
    break;
  }
  g_stop = true;
  TimePoint stopped = SteadyClock::now();
  for (std::thread& t : threads) t.join();
  for (bool ok : started)
    if (!ok) return 2;

  std::vector<std::string> violations;
  JudgePolls(violations);
  Sequence seq = JudgeWrites(max_handovers, violations);
  std::string figures = "result";
  if (mark) figures += Figures(seq, *mark, stopped);
  figures += " new=" + (seq.acked.empty() ? std::string("none") : seq.acked.back()->server);
  figures += " acked=" + std::to_string(seq.acked.size()) +
             " handovers=" + std::to_string(seq.handovers());
  figures += JudgeTables(seq, verifies, sync, violations);

  std::printf("%s\n", figures.c_str());
  for (const std::string& v : violations) std::printf("observer: VIOLATION: %s\n", v.c_str());
  if (violations.empty()) std::printf("observer: OK\n");
  std::fflush(stdout);
  std::fclose(g_log);
  return violations.empty() ? 0 : 1;
}
