// `http`: GET a URL within the deadline and expect a status.
// Keys: url (http://host:port/path), expect (status code, default 200).
#pragma once

#include <memory>

#include "checks/registry.h"

namespace kw {

std::unique_ptr<Check> MakeHttpCheck(KeyReader& keys, const CheckEnv& env);

}  // namespace kw
