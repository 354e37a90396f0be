// A PostgreSQL connection with deadlines, behind an interface so the postgres check's
// logic can be tested without a server.
//
// PgConnection::QueryRow() connects if needed (non-blocking libpq: PQconnectStartParams,
// PQconnectPoll, PQsendQuery, poll() on PQsocket), runs one statement and returns its
// first row, all before the deadline.  The connection is kept between calls and dropped
// on any failure, so the next call makes a new one.  Not thread-safe: one caller (the
// check's probe thread) at a time.
//
// Every libpq failure is translated to a PgFailure by ClassifyPgError(), the one place
// libpq's text becomes a kind.  Messages never contain the password: conninfo is only
// shown through ScrubConninfo(), and a password that appears in a server message is masked.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "agent/clock.h"

namespace kw {

enum class PgFailure {
  kNone,
  kRefused,       // nothing listens (connection refused, no such socket)
  kAuth,          // password/authentication failed, pg_hba.conf rejects, no such role
  kStartingUp,    // "the database system is starting up" / not yet accepting connections
  kShuttingDown,  // "the database system is shutting down"
  kRecovery,      // "the database system is in recovery mode" (crash recovery)
  kTooMany,       // too many clients
  kTimeout,       // connecting did not finish before the deadline
  kHung,          // connected, query sent, no answer before the deadline
  kBroken,        // the kept connection broke (server closed it, terminated backend)
  kQuery,         // the server answered with an SQL error
  kOther,         // anything else (bad conninfo, DNS, protocol)
};

// Short machine-friendly name: "refused", "auth_failed", "starting_up", ...
const char* PgFailureName(PgFailure f);

// One row: column name → text value; a NULL column is absent.
using PgRow = std::map<std::string, std::string>;

struct PgReply {
  PgFailure failure = PgFailure::kNone;
  std::string message;  // one line, password-free; empty on success
  PgRow row;
  bool reconnected = false;  // this call had to open a new connection
  bool ok() const { return failure == PgFailure::kNone; }
};

class PgConnection {
 public:
  virtual ~PgConnection() = default;
  // Runs `sql` (one statement returning at least one row) before the deadline.
  virtual PgReply QueryRow(const std::string& sql, TimePoint deadline) = 0;
  // Runs one statement that returns no rows (ALTER SYSTEM ...) before the deadline.
  virtual PgReply Exec(const std::string& sql, TimePoint deadline) {
    (void)sql;
    (void)deadline;
    return PgReply{PgFailure::kOther, "Exec is not supported by this connection", {}, false};
  }
};

// Makes connections; injected into the check (tests pass a fake).
class PgConnector {
 public:
  virtual ~PgConnector() = default;
  virtual std::unique_ptr<PgConnection> Make(const std::string& conninfo) const = 0;
};

// The real thing, over libpq.  fallback_application_name is "keepwatch".
//
// A kept connection is re-made once it is `max_age` old, even when healthy: an open
// session holds up a smart shutdown (pg_ctl -m smart waits for every session), so the
// agent must not keep one forever.  With a new connection refused ("shutting down"),
// the check reports that and holds no session.
class LibpqConnector final : public PgConnector {
 public:
  explicit LibpqConnector(Duration max_age = seconds(60)) : max_age_(max_age) {}
  std::unique_ptr<PgConnection> Make(const std::string& conninfo) const override;

 private:
  Duration max_age_;
};

// Classifies a libpq/server error from its SQLSTATE (may be empty: libpq's own
// connection errors have none) and its message.  `connected` says whether the failure
// happened on an established connection.
PgFailure ClassifyPgError(std::string_view sqlstate, std::string_view message, bool connected);

// conninfo (key=value or URI) with the password removed, for messages and logs; text
// that libpq cannot parse is shown as "(unparsable conninfo)".
std::string ScrubConninfo(const std::string& conninfo);
// The password a conninfo carries (key=value or URI), or nullopt.
std::optional<std::string> ConninfoPassword(const std::string& conninfo);
// Checks that libpq can parse conninfo; returns libpq's message otherwise.
std::optional<std::string> ConninfoError(const std::string& conninfo);

// Collapses libpq's multi-line message into one line and replaces `secret` (if any).
std::string OneLine(std::string_view message, const std::optional<std::string>& secret);

}  // namespace kw
