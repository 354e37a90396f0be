// `tcp`: connect to host:port within the deadline.  Keys: address (host:port).
#pragma once

#include <memory>

#include "checks/registry.h"

namespace kw {

std::unique_ptr<Check> MakeTcpCheck(KeyReader& keys, const CheckEnv& env);

}  // namespace kw
