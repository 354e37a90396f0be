#include "agent/roles.h"

#include "agent/json.h"

namespace kw {

bool IsRolePath(std::string_view path) {
  for (std::string_view p : {"/", "/primary", "/read-write", "/master", "/replica", "/standby",
                             "/read-only", "/health"})
    if (path == p) return true;
  return false;
}

Answer AnswerRole(std::string_view, const Query&, const Snapshot&) {
  JsonWriter w;
  w.BeginObject().Key("role").String("unknown").Key("reason").String(
      "no postgres check is configured");
  w.EndObject();
  return Answer{503, w.str()};
}

}  // namespace kw
