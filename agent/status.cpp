#include "agent/status.h"

#include <cstring>

namespace kw {

Status ErrnoStatus(std::string_view context, int err) {
  std::string msg(context);
  msg += ": ";
  msg += std::strerror(err);
  return Status::Error(std::move(msg));
}

}  // namespace kw
