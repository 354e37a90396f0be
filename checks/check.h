// The check interface: probe one thing once, before a deadline.
//
// A check knows nothing about intervals, jitter, timeouts as outcomes, rise/fall or
// publication: the scheduler owns those (agent/scheduler.h).  Run() is called on the
// check's own probe thread, never concurrently with itself, and should return by
// `deadline`; one that cannot (a hung filesystem) is reported `timeout` by the scheduler
// and its thread is left alone until it returns.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "agent/clock.h"

namespace kw {

enum class Outcome { kPass, kFail, kTimeout, kError };

struct CheckResult {
  Outcome outcome = Outcome::kError;
  std::string detail;  // one line: why
  // Named numbers for /status and /metrics ("lag_bytes", "duration_seconds", ...).
  std::vector<std::pair<std::string, double>> values;
  // Named texts for /status ("role", "device", ...).
  std::vector<std::pair<std::string, std::string>> labels;

  static CheckResult Pass(std::string detail) {
    return {Outcome::kPass, std::move(detail), {}, {}};
  }
  static CheckResult Fail(std::string detail) {
    return {Outcome::kFail, std::move(detail), {}, {}};
  }
  static CheckResult Timeout(std::string detail) {
    return {Outcome::kTimeout, std::move(detail), {}, {}};
  }
  // The probe itself could not be carried out (bad response, internal error).
  static CheckResult Error(std::string detail) {
    return {Outcome::kError, std::move(detail), {}, {}};
  }
  CheckResult& Value(std::string name, double v) {
    values.emplace_back(std::move(name), v);
    return *this;
  }
  CheckResult& Label(std::string name, std::string v) {
    labels.emplace_back(std::move(name), std::move(v));
    return *this;
  }
  const double* FindValue(const std::string& name) const;
  const std::string* FindLabel(const std::string& name) const;
};

class Check {
 public:
  virtual ~Check() = default;
  // Probes once.  Called from one thread at a time; may block, should not past deadline.
  virtual CheckResult Run(TimePoint deadline) = 0;
};

// The one table from outcome to text and HTTP status (after HAProxy's check_statuses[]).
struct OutcomeInfo {
  const char* name;  // "pass", "fail", "timeout", "error"
  int http_status;   // for /check/NAME
};
const OutcomeInfo& Describe(Outcome o);

}  // namespace kw
