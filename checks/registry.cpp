#include "checks/registry.h"

#include "checks/haproxy.h"
#include "checks/http.h"
#include "checks/iscsi.h"
#include "checks/ocfs2.h"
#include "checks/odoo.h"
#include "checks/postgres.h"
#include "checks/tcp.h"

namespace kw {

std::span<const CheckType> CheckTypes() {
  static const CheckType kTypes[] = {
      {"tcp", MakeTcpCheck},         {"http", MakeHttpCheck},   {"postgres", MakePostgresCheck},
      {"ocfs2", MakeOcfs2Check},     {"iscsi", MakeIscsiCheck}, {"odoo", MakeOdooCheck},
      {"haproxy", MakeHaproxyCheck},
  };
  return kTypes;
}

std::vector<BuiltCheck> BuildChecks(const Config& cfg, const CheckEnv& env, Diagnostics& diag) {
  std::vector<BuiltCheck> out;
  for (const CheckConfig& c : cfg.checks) {
    KeyReader keys(c.section, diag);
    keys.Skip({"type", "interval", "timeout", "rise", "fall"});
    const CheckType* type = nullptr;
    for (const CheckType& t : CheckTypes())
      if (t.name == c.type) type = &t;
    if (!type) {
      if (!c.type.empty()) {
        std::string known;
        for (const CheckType& t : CheckTypes())
          known += (known.empty() ? "" : ", ") + std::string(t.name);
        keys.Error("type", "unknown check type '" + c.type + "' (known: " + known + ")");
      }
      continue;  // its other keys cannot be judged without a type
    }
    std::unique_ptr<Check> check = type->factory(keys, env);
    keys.Finish();
    if (check) out.push_back(BuiltCheck{&c, std::move(check)});
  }
  if (!diag.ok()) out.clear();
  return out;
}

}  // namespace kw
