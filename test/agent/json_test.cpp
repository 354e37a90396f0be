#include "agent/json.h"

#include <doctest/doctest.h>

using namespace kw;

TEST_CASE("JSON writer escapes and separates") {
  JsonWriter w;
  w.BeginObject().Key("a").String("x\"y\\z\n\x01").Key("n").Number(1.5).Key("i").Int(-3);
  w.Key("l").BeginArray().Bool(true).Null().Number(1.0 / 0.0).EndArray().EndObject();
  CHECK(w.str() == R"({"a":"x\"y\\z\n\u0001","n":1.5,"i":-3,"l":[true,null,null]})");
}

TEST_CASE("JSON parser round trip and rejects garbage") {
  auto j = ParseJson(R"( {"a": [1, 2.5e1, "s\u00e9"], "b": {"c": null, "d": false}} )");
  REQUIRE(j.ok());
  CHECK((*j)["a"].arr.size() == 3);
  CHECK((*j)["a"].arr[1].num == 25);
  CHECK((*j)["a"].arr[2].str == "s\xc3\xa9");
  CHECK((*j)["b"]["c"].IsNull());
  CHECK((*j)["missing"]["deeper"].IsNull());
  for (const char* bad : {"", "{", "[1,", "{\"a\" 1}", "tru", "\"unterminated", "{} x", "[1 2]",
                          "{\"a\":}", "-", "\"\\u12\""})
    CHECK_MESSAGE(!ParseJson(bad).ok(), bad);
  std::string deep(100, '[');
  CHECK_FALSE(ParseJson(deep).ok());
}
