// Runs an external program for the failover (fence_command, promote_command,
// rejoin_command, and the PostgreSQL tools pg_ctl, pg_controldata, pg_rewind) before a
// deadline, optionally as another user.
//
// The child gets /dev/null as stdin and one pipe for stdout and stderr, runs in its own
// process group, and the whole group is killed at the deadline.  A failure says how the
// program ended and its last output lines.  Callable from any thread (it forks; the child
// only makes async-signal-safe calls before exec).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "agent/clock.h"
#include "agent/status.h"

namespace kw {

// Who the child becomes (setgroups, setgid, setuid) before exec.  Only root can switch.
struct RunAs {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups
  std::string home;           // becomes HOME
};

// The user owning `path` (a data directory) with its groups, from the passwd database.
Result<RunAs> RunAsOwnerOf(const std::string& path);

struct Program {
  std::vector<std::string> argv;  // argv[0] is a path
  std::string label;              // how messages name it; empty: argv[0]
  std::vector<std::string> env;   // "NAME=value" set on top of the agent's environment
  std::optional<RunAs> run_as;    // empty: as the agent itself
  std::string dir;                // working directory; empty: the agent's
};

struct ProgramOutcome {
  int exit_code = -1;  // -1: did not exit by itself (killed at the deadline, or a signal)
  std::string output;  // stdout and stderr together (the last 64 KiB)
  Status status;       // OK only on exit 0; else "LABEL exited with 3 (last lines)"
};

ProgramOutcome RunProgram(const Program& program, TimePoint deadline);

// Runs `command` with /bin/sh -c; the label is the command in quotes.
Status RunShell(const std::string& command, TimePoint deadline,
                const std::vector<std::string>& env = {});

}  // namespace kw
