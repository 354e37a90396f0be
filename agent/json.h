// Small JSON: a writer for the API's bodies and a parser for the client and tests.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/status.h"

namespace kw {

// Appends JSON text.  The caller keeps the structure well-formed; Key() before each value
// inside an object.  Commas are inserted automatically.
class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view k);
  JsonWriter& String(std::string_view s);
  JsonWriter& Number(double v);  // non-finite → null
  JsonWriter& Int(long long v);
  JsonWriter& Bool(bool b);
  JsonWriter& Null();
  const std::string& str() const { return out_; }

 private:
  void Sep();
  std::string out_;
  bool need_comma_ = false;
};

std::string JsonEscape(std::string_view s);  // the quoted string

// A parsed JSON value.
struct Json {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject } type = Type::kNull;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<Json> arr;
  std::map<std::string, Json> obj;

  // Member access that tolerates absence: returns a null Json.
  const Json& operator[](const std::string& key) const;
  bool IsNull() const { return type == Type::kNull; }
};

Result<Json> ParseJson(std::string_view text);

}  // namespace kw
