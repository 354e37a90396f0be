// The one doctest binary: every *_test.cpp under test/ links into it.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <signal.h>

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);  // tests close sockets under each other on purpose
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
