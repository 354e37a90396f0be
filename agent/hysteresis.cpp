#include "agent/hysteresis.h"

namespace kw {

bool Hysteresis::Feed(bool pass) {
  const int top = rise_ + fall_ - 1;
  if (!known_) {
    known_ = true;
    health_ = pass ? top : 0;
    return true;
  }
  bool was_up = up();
  if (pass) {
    if (health_ < top) {
      ++health_;
      if (health_ >= rise_) health_ = top;
    }
  } else if (health_ > 0) {
    --health_;
    if (health_ < rise_) health_ = 0;
  }
  return up() != was_up;
}

}  // namespace kw
