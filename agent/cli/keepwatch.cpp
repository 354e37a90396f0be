// keepwatch: the command-line client of keepwatchd (see agent/cli/client.h).
#include <csignal>
#include <string>
#include <vector>

#include "agent/cli/client.h"

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  return kw::RunClient(args, stdout, stderr);
}
