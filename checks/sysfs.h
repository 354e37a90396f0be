// Reading kernel attribute files (procfs, sysfs, debugfs, configfs) under an injected
// root directory, so tests can point the checks at fixture trees.
//
// These files report size 0 or 4096 whatever their content, so they are read until EOF
// with a limit.  None of these calls touch a disk-backed filesystem when root is "/".
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "agent/status.h"

namespace kw {

// root + absolute path, without doubling the slash: ("/", "/proc") → "/proc",
// ("/tmp/fx", "/proc") → "/tmp/fx/proc".
std::string UnderRoot(const std::string& root, std::string_view abs_path);

// The whole file, at most `limit` bytes.  Errors read "open PATH: No such file ...".
Result<std::string> ReadSmallFile(const std::string& path, size_t limit = 1 << 20);
// The same with trailing whitespace (the kernel's "\n") removed: one sysfs attribute.
Result<std::string> ReadAttribute(const std::string& path);
// Whether the path exists (stat; follows symlinks).
bool PathExists(const std::string& path);

// Names in a directory (not "." or ".."), sorted naturally so that "session10" comes
// after "session9".  Empty when the directory does not exist or cannot be read.
std::vector<std::string> ListDir(const std::string& dir);
// Natural order: digit runs compare as numbers.
bool NaturalLess(std::string_view a, std::string_view b);

}  // namespace kw
