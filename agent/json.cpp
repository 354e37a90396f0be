#include "agent/json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace kw {

std::string JsonEscape(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

void JsonWriter::Sep() {
  if (need_comma_) out_ += ',';
  need_comma_ = true;
}

JsonWriter& JsonWriter::BeginObject() {
  Sep();
  out_ += '{';
  need_comma_ = false;
  return *this;
}
JsonWriter& JsonWriter::EndObject() {
  out_ += '}';
  need_comma_ = true;
  return *this;
}
JsonWriter& JsonWriter::BeginArray() {
  Sep();
  out_ += '[';
  need_comma_ = false;
  return *this;
}
JsonWriter& JsonWriter::EndArray() {
  out_ += ']';
  need_comma_ = true;
  return *this;
}
JsonWriter& JsonWriter::Key(std::string_view k) {
  Sep();
  out_ += JsonEscape(k);
  out_ += ':';
  need_comma_ = false;
  return *this;
}
JsonWriter& JsonWriter::String(std::string_view s) {
  Sep();
  out_ += JsonEscape(s);
  return *this;
}
JsonWriter& JsonWriter::Number(double v) {
  if (!std::isfinite(v)) return Null();
  Sep();
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.6g", v);
  out_ += buf;
  return *this;
}
JsonWriter& JsonWriter::Int(long long v) {
  Sep();
  out_ += std::to_string(v);
  return *this;
}
JsonWriter& JsonWriter::Bool(bool b) {
  Sep();
  out_ += b ? "true" : "false";
  return *this;
}
JsonWriter& JsonWriter::Null() {
  Sep();
  out_ += "null";
  return *this;
}

// --- parser ------------------------------------------------------------------------

const Json& Json::operator[](const std::string& key) const {
  static const Json kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : it->second;
}

namespace {

class Parser {
 public:
  explicit Parser(std::string_view t) : t_(t) {}

  Status Parse(Json* out) {
    Status s = Value(out, 0);
    if (!s.ok()) return s;
    Skip();
    if (p_ != t_.size()) return Fail("trailing characters");
    return Status::Ok();
  }

 private:
  Status Fail(const std::string& what) {
    return Status::Error("JSON: " + what + " at offset " + std::to_string(p_));
  }
  void Skip() {
    while (p_ < t_.size() && (t_[p_] == ' ' || t_[p_] == '\n' || t_[p_] == '\r' || t_[p_] == '\t'))
      ++p_;
  }
  bool Eat(std::string_view lit) {
    if (t_.substr(p_, lit.size()) != lit) return false;
    p_ += lit.size();
    return true;
  }

  Status Value(Json* out, int depth) {
    if (depth > 64) return Fail("nesting too deep");
    Skip();
    if (p_ >= t_.size()) return Fail("unexpected end");
    char c = t_[p_];
    if (c == '{') return Object(out, depth);
    if (c == '[') return Array(out, depth);
    if (c == '"') {
      out->type = Json::Type::kString;
      return Str(&out->str);
    }
    if (Eat("true")) {
      out->type = Json::Type::kBool;
      out->b = true;
      return Status::Ok();
    }
    if (Eat("false")) {
      out->type = Json::Type::kBool;
      return Status::Ok();
    }
    if (Eat("null")) return Status::Ok();
    return Num(out);
  }

  Status Num(Json* out) {
    size_t start = p_;
    while (p_ < t_.size() &&
           std::string_view("+-0123456789.eE").find(t_[p_]) != std::string_view::npos)
      ++p_;
    if (p_ == start) return Fail("unexpected character");
    std::string num(t_.substr(start, p_ - start));
    char* end = nullptr;
    out->num = std::strtod(num.c_str(), &end);
    if (end != num.c_str() + num.size()) return Fail("bad number");
    out->type = Json::Type::kNumber;
    return Status::Ok();
  }

  Status Str(std::string* out) {
    ++p_;  // opening quote
    while (p_ < t_.size()) {
      char c = t_[p_++];
      if (c == '"') return Status::Ok();
      if (c != '\\') {
        *out += c;
        continue;
      }
      if (p_ >= t_.size()) break;
      char e = t_[p_++];
      switch (e) {
        case 'n':
          *out += '\n';
          break;
        case 't':
          *out += '\t';
          break;
        case 'r':
          *out += '\r';
          break;
        case 'b':
          *out += '\b';
          break;
        case 'f':
          *out += '\f';
          break;
        case 'u': {
          if (p_ + 4 > t_.size()) return Fail("bad \\u escape");
          unsigned cp = static_cast<unsigned>(
              std::strtoul(std::string(t_.substr(p_, 4)).c_str(), nullptr, 16));
          p_ += 4;
          // UTF-8 encode (surrogate pairs are passed through as two code points).
          if (cp < 0x80) {
            *out += static_cast<char>(cp);
          } else if (cp < 0x800) {
            *out += static_cast<char>(0xC0 | (cp >> 6));
            *out += static_cast<char>(0x80 | (cp & 0x3F));
          } else {
            *out += static_cast<char>(0xE0 | (cp >> 12));
            *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            *out += static_cast<char>(0x80 | (cp & 0x3F));
          }
          break;
        }
        default:
          *out += e;
      }
    }
    return Fail("unterminated string");
  }

  Status Array(Json* out, int depth) {
    out->type = Json::Type::kArray;
    ++p_;
    Skip();
    if (Eat("]")) return Status::Ok();
    for (;;) {
      out->arr.emplace_back();
      Status s = Value(&out->arr.back(), depth + 1);
      if (!s.ok()) return s;
      Skip();
      if (Eat("]")) return Status::Ok();
      if (!Eat(",")) return Fail("expected ',' or ']'");
    }
  }

  Status Object(Json* out, int depth) {
    out->type = Json::Type::kObject;
    ++p_;
    Skip();
    if (Eat("}")) return Status::Ok();
    for (;;) {
      Skip();
      if (p_ >= t_.size() || t_[p_] != '"') return Fail("expected a key");
      std::string key;
      Status s = Str(&key);
      if (!s.ok()) return s;
      Skip();
      if (!Eat(":")) return Fail("expected ':'");
      s = Value(&out->obj[key], depth + 1);
      if (!s.ok()) return s;
      Skip();
      if (Eat("}")) return Status::Ok();
      if (!Eat(",")) return Fail("expected ',' or '}'");
    }
  }

  std::string_view t_;
  size_t p_ = 0;
};

}  // namespace

Result<Json> ParseJson(std::string_view text) {
  Json j;
  Status s = Parser(text).Parse(&j);
  if (!s.ok()) return s;
  return j;
}

}  // namespace kw
