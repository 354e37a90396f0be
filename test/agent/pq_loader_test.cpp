// agent/pq_loader.cpp in this process: libpq loads on first use, from any thread, and the
// functions reach the real libpq.  (What a daemon maps, and what happens without libpq:
// test/integration/libpq_loading_test.cpp.)
#include "agent/pq_loader.h"

#include <doctest/doctest.h>
#include <libpq-fe.h>

#include <string>
#include <thread>
#include <vector>

using namespace kw;

TEST_CASE("libpq loads on first use, once, from any thread") {
  std::vector<std::thread> threads;
  std::vector<int> ok(8, 0);
  for (size_t i = 0; i < ok.size(); ++i)
    threads.emplace_back([&ok, i] { ok[i] = LoadLibpq().ok(); });
  for (std::thread& t : threads) t.join();
  for (int v : ok) CHECK(v == 1);
  Status s = LoadLibpq();
  CHECK_MESSAGE(s.ok(), s.message());
}

TEST_CASE("the libpq functions reach the real libpq") {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse("host=db1 port=6000 user=kw", &err);
  REQUIRE(opts != nullptr);
  CHECK(err == nullptr);
  std::string port;
  for (PQconninfoOption* o = opts; o->keyword; ++o)
    if (std::string(o->keyword) == "port" && o->val) port = o->val;
  CHECK(port == "6000");
  PQconninfoFree(opts);

  CHECK(PQconninfoParse("user='open", &err) == nullptr);
  REQUIRE(err != nullptr);
  CHECK(std::string(err).find("unterminated quoted string") != std::string::npos);
  PQfreemem(err);

  // A connection that fails at once (no such socket directory): libpq's own message.
  const char* keys[] = {"host", "port", nullptr};
  const char* vals[] = {"/nonexistent-keepwatch-dir", "1", nullptr};
  PGconn* c = PQconnectStartParams(keys, vals, 0);
  REQUIRE(c != nullptr);
  for (int i = 0; i < 100 && PQstatus(c) != CONNECTION_BAD; ++i) PQconnectPoll(c);
  CHECK(PQstatus(c) == CONNECTION_BAD);
  CHECK(std::string(PQerrorMessage(c)).find("nonexistent-keepwatch-dir") != std::string::npos);
  PQfinish(c);
}
