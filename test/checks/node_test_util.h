// Helpers shared by the node checks' tests (ocfs2, iscsi, odoo, haproxy).
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "agent/config.h"
#include "checks/registry.h"

namespace kw::testing {

// Absolute path of a fixture under test/fixtures/ (tests run from the repository root,
// which is also where the build compiles them, so __FILE__ is relative to it).
inline std::string FixturePath(const std::string& rel) {
  std::string here = __FILE__;  // test/checks/node_test_util.h
  std::string dir = here.substr(0, here.rfind('/'));
  return dir + "/../fixtures/" + rel;
}

// Builds the one check of an INI text through the real registry (the same path as the
// daemon); returns null and reports the diagnostics when the configuration is rejected.
inline std::unique_ptr<Check> BuildOne(const std::string& ini, const std::string& root,
                                       std::string* errors = nullptr) {
  Diagnostics diag("test.ini");
  Config cfg = LoadConfigText(ini, diag);
  CheckEnv env;
  env.root = root;
  std::vector<BuiltCheck> built = BuildChecks(cfg, env, diag);
  if (errors)
    for (const std::string& m : diag.messages()) *errors += m + "\n";
  if (!diag.ok() || built.size() != 1) return nullptr;
  return std::move(built.front().check);
}

inline std::string LabelOf(const CheckResult& r, const std::string& name) {
  const std::string* v = r.FindLabel(name);
  return v ? *v : std::string("<none>");
}

inline TimePoint In(Duration d) { return SteadyClock::now() + d; }

}  // namespace kw::testing
