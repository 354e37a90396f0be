// The keepwatch client's commands.  Each takes the agent's base URL and a timeout, talks
// to the agent over HTTP only (it never touches a filesystem itself, so a hung disk
// cannot hang it), prints to `out`/`err`, and returns the process exit code:
// 0 success, 1 the agent answered "no", 2 the agent could not be reached or the call
// was wrong.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "agent/clock.h"

namespace kw {

struct ClientOptions {
  std::string url = "http://127.0.0.1:9201";
  Duration timeout = seconds(1);
  bool quiet = false;
  std::string token_file = "/etc/keepwatch/admin.token";  // operator commands
  Duration wait = seconds(60);  // how long an operator command waits for its outcome
};

// Parses argv (without argv[0]) and runs the command.
int RunClient(const std::vector<std::string>& args, FILE* out, FILE* err);

int CmdCheck(const ClientOptions& o, const std::string& name, FILE* out, FILE* err);
int CmdStatus(const ClientOptions& o, FILE* out, FILE* err);
// GET /cluster as a table: member, state, incarnation, last heard, role, LSN, checks.
int CmdMembers(const ClientOptions& o, FILE* out, FILE* err);
// Operator commands: POST /admin/COMMAND with the token, then wait (o.wait) until the
// outcome shows in /status and /cluster: `target` leads a higher term with a primary
// (switchover, failover), the pause register says so (pause, resume), the local
// PostgreSQL follows the leader (rejoin).
int CmdAdmin(const ClientOptions& o, const std::string& command, const std::string& target,
             FILE* out, FILE* err);

}  // namespace kw
