// The explicit table from a check `type` to its factory (no static self-registration).
//
// A factory reads its own keys from the [check.NAME] section through the KeyReader
// (reporting bad values there) and returns the check; it does no I/O, so
// `keepwatchd --check-config` can build every check without touching the system.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config.h"
#include "checks/check.h"

namespace kw {

// What the outside world looks like to a check; injected so tests can substitute it.
struct CheckEnv {
  const Clock* clock = nullptr;
  std::string root = "/";  // prefix for /proc and /sys paths (fixture trees in tests)
};

using CheckFactory = std::unique_ptr<Check> (*)(KeyReader& keys, const CheckEnv& env);

struct CheckType {
  std::string_view name;
  CheckFactory factory;
};

std::span<const CheckType> CheckTypes();

struct BuiltCheck {
  const CheckConfig* config;
  std::unique_ptr<Check> check;
};

// Builds every configured check; errors (unknown type, bad keys, unknown keys) go to
// diag.  Returns the checks only when diag has no errors.
std::vector<BuiltCheck> BuildChecks(const Config& cfg, const CheckEnv& env, Diagnostics& diag);

}  // namespace kw
