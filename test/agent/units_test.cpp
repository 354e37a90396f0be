#include "agent/units.h"

#include <doctest/doctest.h>

using namespace kw;

TEST_CASE("durations take ms, s, m and reject bare numbers") {
  CHECK(*ParseDuration("500ms") == milliseconds(500));
  CHECK(*ParseDuration("2s") == seconds(2));
  CHECK(*ParseDuration("1m") == seconds(60));
  CHECK(*ParseDuration("1.5s") == milliseconds(1500));
  CHECK(*ParseDuration(" 3s ") == seconds(3));
  CHECK_FALSE(ParseDuration("5").ok());
  CHECK_FALSE(ParseDuration("s").ok());
  CHECK_FALSE(ParseDuration("-1s").ok());
  CHECK_FALSE(ParseDuration("2 parsecs").ok());
  CHECK(ParseDuration("5").status().message() == "'5' is not a duration (e.g. 500ms, 2s, 1m)");
}

TEST_CASE("sizes are PostgreSQL-style powers of 1024") {
  CHECK(*ParseSize("8192") == 8192);
  CHECK(*ParseSize("512kB") == 512 * 1024);
  CHECK(*ParseSize("16MB") == 16ull << 20);
  CHECK(*ParseSize("16 mb") == 16ull << 20);
  CHECK(*ParseSize("1GB") == 1ull << 30);
  CHECK(*ParseSize("1G") == 1ull << 30);
  CHECK_FALSE(ParseSize("").ok());
  CHECK_FALSE(ParseSize("lots").ok());
  CHECK_FALSE(ParseSize("16 XB").ok());
  CHECK_FALSE(ParseSize("-5").ok());
  CHECK(FormatSize(34ull << 20) == "34 MB");
  CHECK(FormatSize(1536) == "1.5 kB");
  CHECK(FormatSize(12) == "12 B");
}

TEST_CASE("booleans and integers") {
  CHECK(*ParseBool("yes"));
  CHECK(*ParseBool("On"));
  CHECK_FALSE(*ParseBool("0"));
  CHECK_FALSE(ParseBool("maybe").ok());
  CHECK(*ParseInt("42", 0, 100) == 42);
  CHECK_FALSE(ParseInt("101", 0, 100).ok());
  CHECK_FALSE(ParseInt("4x", 0, 100).ok());
}

TEST_CASE("addresses") {
  CHECK(*ParseHostPort("127.0.0.1:9201", 0) == HostPort{"127.0.0.1", 9201});
  CHECK(*ParseHostPort("[::1]:80", 0) == HostPort{"::1", 80});
  CHECK(*ParseHostPort("10.0.0.1", 7950) == HostPort{"10.0.0.1", 7950});
  CHECK(ParseHostPort("db1", 0).status().message() ==
        "'db1' is not an address: missing port (host:port)");
  CHECK_FALSE(ParseHostPort("host:0", 0).ok());
  CHECK_FALSE(ParseHostPort("host:99999", 0).ok());
  CHECK_FALSE(ParseHostPort("::1:80", 0).ok());
  CHECK_FALSE(ParseHostPort("[::1", 0).ok());
  CHECK_FALSE(ParseHostPort("a b:80", 0).ok());
  CHECK(HostPort{"::1", 80}.ToString() == "[::1]:80");
}
