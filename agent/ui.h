// The /ui status page: one self-contained HTML document (inline CSS and script, no
// external assets, works offline) that fetches /status and /cluster from the same origin
// every 2 s and shows the cluster at a glance: members, roles, term and leader, every
// check with its state and since when, replication lag.  Fields the agent does not
// publish (yet) show as "—".  The page builds its DOM with textContent only, so no
// string from a probe (a check's detail) is ever interpreted as HTML.
#pragma once

#include <string_view>

namespace kw {

// The page, as served with "text/html; charset=utf-8".  Static storage; any thread.
std::string_view StatusPageHtml();

}  // namespace kw
