// The PostgreSQL role endpoints (Patroni's meanings, so HAProxy configs carry over):
//   /, /primary, /read-write, /master   200 for a writable primary
//   /replica, /standby                  200 for a streaming replica within lag
//   /read-only                          primary, or replica within lag
//   /health                             PostgreSQL up in any role
// Pure: the answer is a function of the path, the query and the published snapshot.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "agent/snapshot.h"

namespace kw {

struct Answer {
  int status = 200;
  std::string body;  // JSON unless content_type says otherwise
  std::string content_type = "application/json";
};

using Query = std::map<std::string, std::string>;

bool IsRolePath(std::string_view path);
// Answers a role path.  A malformed query (?lag=abc) is a 400 with a message.
Answer AnswerRole(std::string_view path, const Query& query, const Snapshot& snap);

}  // namespace kw
