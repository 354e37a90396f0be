// The example configurations for the Odoo nodes and the load balancers are valid: every
// key known, every value accepted, every check built (no I/O: as --check-config does).
#include <doctest/doctest.h>

#include "agent/config.h"
#include "checks/registry.h"

using namespace kw;

namespace {

void ExpectValid(const std::string& path, size_t checks) {
  Diagnostics diag(path);
  Config cfg = LoadConfig(path, diag);
  CheckEnv env;
  std::vector<BuiltCheck> built = BuildChecks(cfg, env, diag);
  std::string errors;
  for (const std::string& m : diag.messages()) errors += m + "\n";
  CHECK_MESSAGE(diag.ok(), errors);
  CHECK(built.size() == checks);
}

}  // namespace

TEST_CASE("examples: keepwatch-odoo.ini and keepwatch-lb.ini are valid") {
  ExpectValid("packaging/examples/keepwatch-odoo.ini", 3);
  ExpectValid("packaging/examples/keepwatch-lb.ini", 1);
}
