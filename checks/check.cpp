#include "checks/check.h"

namespace kw {

const OutcomeInfo& Describe(Outcome o) {
  static const OutcomeInfo kTable[] = {
      {"pass", 200},
      {"fail", 503},
      {"timeout", 503},
      {"error", 503},
  };
  return kTable[static_cast<int>(o)];
}

const double* CheckResult::FindValue(const std::string& name) const {
  for (const auto& [k, v] : values)
    if (k == name) return &v;
  return nullptr;
}

const std::string* CheckResult::FindLabel(const std::string& name) const {
  for (const auto& [k, v] : labels)
    if (k == name) return &v;
  return nullptr;
}

}  // namespace kw
