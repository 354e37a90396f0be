#include "checks/pg_connection.h"

#include <libpq-fe.h>
#include <poll.h>

#include <cstdio>
#include <vector>

#include "agent/net.h"
#include "agent/pq_loader.h"

namespace kw {
namespace {

struct PgConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PgConnPtr = std::unique_ptr<PGconn, PgConnDeleter>;

struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;

struct ConninfoDeleter {
  void operator()(PQconninfoOption* o) const { PQconninfoFree(o); }
};
using ConninfoPtr = std::unique_ptr<PQconninfoOption, ConninfoDeleter>;

struct PqMemDeleter {
  void operator()(char* p) const { PQfreemem(p); }
};
using PqMemPtr = std::unique_ptr<char, PqMemDeleter>;

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Parses conninfo; on failure *error holds libpq's message.
ConninfoPtr Parse(const std::string& conninfo, std::string* error) {
  char* err = nullptr;
  ConninfoPtr opts(PQconninfoParse(conninfo.c_str(), &err));
  PqMemPtr err_owner(err);
  if (!opts && error) *error = err ? OneLine(err, std::nullopt) : "out of memory";
  return opts;
}

// Bounds every polling loop: each iteration waits on the socket, so this is far more
// than any real exchange needs, and the deadline ends the loop long before.
constexpr int kMaxPollSteps = 100000;

class LibpqConnection final : public PgConnection {
 public:
  // Touches no libpq: a failover voter without PostgreSQL makes one for its actuator and
  // never queries, and must not load libpq for it (agent/pq_loader.h).
  LibpqConnection(std::string conninfo, Duration max_age)
      : conninfo_(std::move(conninfo)), max_age_(max_age) {}

  PgReply QueryRow(const std::string& sql, TimePoint deadline) override {
    return Query(sql, deadline, true);
  }
  PgReply Exec(const std::string& sql, TimePoint deadline) override {
    return Query(sql, deadline, false);
  }

 private:
  PgReply Query(const std::string& sql, TimePoint deadline, bool need_row) {
    if (!secret_known_) {
      secret_ = ConninfoPassword(conninfo_);
      secret_known_ = true;
    }
    bool fresh = false;
    if (conn_ && SteadyClock::now() - connected_at_ >= max_age_) conn_.reset();
    if (!conn_) {
      PgReply c = Connect(deadline);
      if (!c.ok()) return c;
      fresh = true;
    }
    PgReply reply = Run(sql, deadline, need_row);
    if (reply.failure == PgFailure::kBroken && !fresh) {
      // The kept connection died under us (restart, terminated backend): one fresh try,
      // so a restarted server is seen as it is now rather than as "broken".
      conn_.reset();
      PgReply c = Connect(deadline);
      if (!c.ok()) return c;
      fresh = true;
      reply = Run(sql, deadline, need_row);
    }
    if (!reply.ok() && reply.failure != PgFailure::kQuery) conn_.reset();
    reply.reconnected = fresh;
    return reply;
  }

  PgReply Fail(PgFailure f, std::string_view message) const {
    PgReply r;
    r.failure = f;
    r.message = OneLine(message, secret_);
    return r;
  }

  PgReply FailFromConn(PGconn* c, bool connected) const {
    std::string msg = PQerrorMessage(c);
    return Fail(ClassifyPgError("", msg, connected), msg);
  }

  PgReply Connect(TimePoint deadline) {
    // Keywords before dbname are defaults the conninfo overrides.  No GSSAPI encryption
    // unless asked for: the agent talks to its own server, and gssencmode=prefer makes
    // libpq set up Kerberos on every connect (about 0.6 MiB resident, and a lookup).
    const char* keys[] = {"gssencmode", "dbname", "fallback_application_name", nullptr};
    const char* vals[] = {"disable", conninfo_.c_str(), "keepwatch", nullptr};
    PgConnPtr conn(PQconnectStartParams(keys, vals, /*expand_dbname=*/1));
    if (!conn) {
      Status lib = LoadLibpq();
      return Fail(PgFailure::kOther, lib.ok() ? "libpq: out of memory" : lib.message());
    }
    if (PQstatus(conn.get()) == CONNECTION_BAD) return FailFromConn(conn.get(), false);
    // Server notices (a WARNING at shutdown) would go to stderr by default.
    PQsetNoticeProcessor(
        conn.get(), [](void*, const char*) {}, nullptr);
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    for (int step = 0; step < kMaxPollSteps; ++step) {
      if (st == PGRES_POLLING_OK) {
        if (PQsetnonblocking(conn.get(), 1) != 0) return FailFromConn(conn.get(), false);
        conn_ = std::move(conn);
        connected_at_ = SteadyClock::now();
        return PgReply{};
      }
      if (st == PGRES_POLLING_FAILED) return FailFromConn(conn.get(), false);
      int fd = PQsocket(conn.get());
      if (fd < 0) return FailFromConn(conn.get(), false);
      Status w = WaitFd(fd, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
      if (!w.ok()) {
        if (!IsTimeout(w)) return Fail(PgFailure::kOther, "waiting to connect: " + w.message());
        return Fail(PgFailure::kTimeout, ConnectStage(PQstatus(conn.get())));
      }
      st = PQconnectPoll(conn.get());
    }
    return Fail(PgFailure::kOther, "connecting took too many steps");
  }

  // Where a connection attempt stood when the deadline passed: tells "nothing answers
  // the TCP handshake" from "the postmaster accepted but never answered" (frozen server).
  static std::string ConnectStage(ConnStatusType s) {
    switch (s) {
      case CONNECTION_STARTED:
        return "timed out connecting (no TCP/socket connection)";
      case CONNECTION_MADE:
      case CONNECTION_AWAITING_RESPONSE:
      case CONNECTION_SSL_STARTUP:
      case CONNECTION_GSS_STARTUP:
        return "timed out connecting (connected, but the server did not answer the startup)";
      case CONNECTION_AUTH_OK:
      case CONNECTION_SETENV:
      case CONNECTION_CHECK_WRITABLE:
      case CONNECTION_CONSUME:
        return "timed out connecting (authenticated, but the server did not become ready)";
      default:
        return "timed out connecting";
    }
  }

  PgReply Run(const std::string& sql, TimePoint deadline, bool need_row) {
    PGconn* c = conn_.get();
    TimePoint start = SteadyClock::now();
    auto hung = [&] {
      char buf[96];
      std::snprintf(buf, sizeof buf, "no answer to the query after %.1fs (server hung?)",
                    ToSeconds(SteadyClock::now() - start));
      return Fail(PgFailure::kHung, buf);
    };
    if (!PQsendQuery(c, sql.c_str())) return FailFromConn(c, true);
    for (int step = 0;; ++step) {
      if (step >= kMaxPollSteps) return Fail(PgFailure::kOther, "sending took too many steps");
      int f = PQflush(c);
      if (f == 0) break;
      if (f < 0) return FailFromConn(c, true);
      Status w = WaitFd(PQsocket(c), POLLOUT | POLLIN, deadline);
      if (!w.ok()) return IsTimeout(w) ? hung() : Fail(PgFailure::kBroken, w.message());
      if (!PQconsumeInput(c)) return FailFromConn(c, true);
    }
    PgReply reply;
    bool have_row = false;
    for (int step = 0;; ++step) {
      if (step >= kMaxPollSteps) return Fail(PgFailure::kOther, "reading took too many steps");
      if (PQisBusy(c)) {
        Status w = WaitFd(PQsocket(c), POLLIN, deadline);
        if (!w.ok()) return IsTimeout(w) ? hung() : Fail(PgFailure::kBroken, w.message());
        if (!PQconsumeInput(c)) return FailFromConn(c, true);
        continue;
      }
      PgResultPtr res(PQgetResult(c));
      if (!res) break;
      ExecStatusType st = PQresultStatus(res.get());
      if (st == PGRES_TUPLES_OK) {
        if (!have_row && PQntuples(res.get()) > 0) {
          have_row = true;
          for (int i = 0; i < PQnfields(res.get()); ++i)
            if (!PQgetisnull(res.get(), 0, i))
              reply.row[PQfname(res.get(), i)] = PQgetvalue(res.get(), 0, i);
        }
      } else if (st != PGRES_COMMAND_OK && reply.ok()) {
        const char* state = PQresultErrorField(res.get(), PG_DIAG_SQLSTATE);
        std::string msg = PQresultErrorMessage(res.get());
        reply.failure = ClassifyPgError(state ? state : "", msg, true);
        reply.message = OneLine(msg, secret_);
      }
      if (PQstatus(c) == CONNECTION_BAD) break;  // no more results will come
    }
    if (PQstatus(c) == CONNECTION_BAD && reply.ok()) return FailFromConn(c, true);
    if (PQstatus(c) == CONNECTION_BAD && reply.failure == PgFailure::kQuery)
      reply.failure = PgFailure::kBroken;
    if (need_row && reply.ok() && !have_row)
      return Fail(PgFailure::kQuery, "the query returned no row");
    return reply;
  }

  std::string conninfo_;
  std::optional<std::string> secret_;  // the conninfo's password, masked in messages
  bool secret_known_ = false;
  Duration max_age_;
  PgConnPtr conn_;
  TimePoint connected_at_{};
};

}  // namespace

const char* PgFailureName(PgFailure f) {
  switch (f) {
    case PgFailure::kNone:
      return "ok";
    case PgFailure::kRefused:
      return "refused";
    case PgFailure::kAuth:
      return "auth_failed";
    case PgFailure::kStartingUp:
      return "starting_up";
    case PgFailure::kShuttingDown:
      return "shutting_down";
    case PgFailure::kRecovery:
      return "crash_recovery";
    case PgFailure::kTooMany:
      return "too_many_connections";
    case PgFailure::kTimeout:
      return "timeout";
    case PgFailure::kHung:
      return "hung";
    case PgFailure::kBroken:
      return "connection_lost";
    case PgFailure::kQuery:
      return "query_error";
    case PgFailure::kOther:
      return "error";
  }
  return "error";
}

std::unique_ptr<PgConnection> LibpqConnector::Make(const std::string& conninfo) const {
  return std::make_unique<LibpqConnection>(conninfo, max_age_);
}

PgFailure ClassifyPgError(std::string_view sqlstate, std::string_view message, bool connected) {
  // The server's start-up refusals arrive before a connection exists, as text only
  // (libpq keeps no SQLSTATE for them), so the texts are matched first.  They are
  // stable server messages (postmaster.c, miscinit.c, auth.c) from 11 through 17.
  if (Contains(message, "the database system is starting up") ||
      Contains(message, "not yet accepting connections") ||
      Contains(message, "not accepting connections"))  // 14+: standby with hot_standby=off
    return PgFailure::kStartingUp;
  if (Contains(message, "the database system is shutting down")) return PgFailure::kShuttingDown;
  if (Contains(message, "the database system is in recovery mode")) return PgFailure::kRecovery;
  if (Contains(message, "too many clients") || Contains(message, "remaining connection slots"))
    return PgFailure::kTooMany;
  if (sqlstate.starts_with("28") || Contains(message, "password authentication failed") ||
      Contains(message, "no password supplied") || Contains(message, "pg_hba.conf") ||
      Contains(message, "authentication failed") ||
      (Contains(message, "role \"") && Contains(message, "does not exist")))
    return PgFailure::kAuth;
  if (!connected) {
    if (Contains(message, "Connection refused") || Contains(message, "No such file or directory"))
      return PgFailure::kRefused;
    if (Contains(message, "timeout expired")) return PgFailure::kTimeout;
    return PgFailure::kOther;
  }
  // On an established connection: class 08 (connection exception) and 57 (operator
  // intervention: terminated backend, shutdown) mean the connection is gone; libpq's
  // own errors (no SQLSTATE) are lost connections too.
  if (sqlstate.empty() || sqlstate.starts_with("08") || sqlstate.starts_with("57"))
    return PgFailure::kBroken;
  return PgFailure::kQuery;
}

std::string ScrubConninfo(const std::string& conninfo) {
  ConninfoPtr opts = Parse(conninfo, nullptr);
  if (!opts) return "(unparsable conninfo)";
  std::string out;
  for (PQconninfoOption* o = opts.get(); o->keyword; ++o) {
    if (!o->val || std::string_view(o->keyword) == "password") continue;
    std::string v = o->val;
    bool quote = v.empty() || v.find_first_of(" '\\") != std::string::npos;
    if (quote) {
      std::string q = "'";
      for (char ch : v) {
        if (ch == '\'' || ch == '\\') q += '\\';
        q += ch;
      }
      v = q + "'";
    }
    out += (out.empty() ? "" : " ") + std::string(o->keyword) + "=" + v;
  }
  return out;
}

std::optional<std::string> ConninfoPassword(const std::string& conninfo) {
  ConninfoPtr opts = Parse(conninfo, nullptr);
  if (!opts) return std::nullopt;
  for (PQconninfoOption* o = opts.get(); o->keyword; ++o)
    if (std::string_view(o->keyword) == "password" && o->val && *o->val) return o->val;
  return std::nullopt;
}

std::optional<std::string> ConninfoError(const std::string& conninfo) {
  std::string error;
  if (Parse(conninfo, &error)) return std::nullopt;
  return error;
}

std::string OneLine(std::string_view message, const std::optional<std::string>& secret) {
  std::string out;
  size_t pos = 0;
  while (pos <= message.size()) {
    size_t nl = message.find('\n', pos);
    std::string_view line =
        message.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
    if (!line.empty()) out += (out.empty() ? "" : "; ") + std::string(line);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  if (secret && !secret->empty()) {
    for (size_t at = out.find(*secret); at != std::string::npos; at = out.find(*secret, at + 3))
      out.replace(at, secret->size(), "***");
  }
  return out;
}

}  // namespace kw
