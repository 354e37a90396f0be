#pragma once

namespace kw {
inline constexpr const char* kVersion = "0.1.0";
}  // namespace kw
