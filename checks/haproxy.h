// `haproxy`: the local HAProxy (on lb1/lb2), through its stats socket.
//
// Keys:
//   socket    UNIX stats socket (default /run/haproxy/admin.sock; any level works)
//   backends  backend names that must each have an active server up (optional)
//
// Sends "show info;show stat\n" and reads to EOF (HAProxy closes the non-interactive
// CLI after the last command).  Passes when HAProxy answers, `Stopping` is not 1 (an old
// process draining after a reload still answers) and each named backend's BACKEND row
// has `act` > 0: the number of active (non-backup) servers that are usable, so a backend
// running only on backup servers fails and says so.  CSV columns are located by the
// header line ("# pxname,svname,..."), never by position.
//
// Reasons (label `reason`): down (socket refused or missing), timeout (outcome),
// bad_response, stopping, no_backend, backend_down.  Labels version, pid and per backend
// "backend.NAME" ("UP 2/2 active, 0 backup"); values uptime_seconds and
// "backend.NAME.active".  Run() is called from one thread at a time.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/status.h"
#include "checks/registry.h"

namespace kw {

// "show stat" CSV, columns by header name.
class HaproxyStats {
 public:
  // Parses the CSV part; fails without the "# pxname," header.
  static Result<HaproxyStats> Parse(std::string_view csv);
  size_t rows() const { return rows_.size(); }
  // Field `column` of row i; "" when the column or field does not exist.
  std::string Field(size_t row, const std::string& column) const;
  // The row of pxname/svname ("BACKEND", "FRONTEND" or a server name); -1 if none.
  long Find(const std::string& pxname, const std::string& svname) const;

 private:
  std::map<std::string, size_t> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// Splits the combined answer into "show info" fields and the "show stat" CSV text.
std::map<std::string, std::string> ParseHaproxyInfo(std::string_view text);
std::string_view HaproxyStatPart(std::string_view answer);

std::unique_ptr<Check> MakeHaproxyCheck(KeyReader& keys, const CheckEnv& env);

}  // namespace kw
