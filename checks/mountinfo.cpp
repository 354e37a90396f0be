#include "checks/mountinfo.h"

#include <charconv>

#include "checks/sysfs.h"

namespace kw {
namespace {

std::vector<std::string_view> SplitSpaces(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

std::vector<std::string> SplitCommas(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string_view::npos) comma = s.size();
    if (comma > start) out.emplace_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

template <class T>
bool ParseNumber(std::string_view s, T* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool IsOctal(char c) { return c >= '0' && c <= '7'; }

std::string StripTrailingSlashes(std::string_view p) {
  std::string s(p);
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

bool MountEntry::MountReadOnly() const {
  return !mount_options.empty() && mount_options.front() == "ro";
}

bool MountEntry::SuperReadOnly() const {
  return !super_options.empty() && super_options.front() == "ro";
}

std::optional<std::string> MountEntry::SuperOption(std::string_view key) const {
  for (const std::string& o : super_options) {
    if (o.size() > key.size() && o.compare(0, key.size(), key) == 0 && o[key.size()] == '=')
      return o.substr(key.size() + 1);
  }
  return std::nullopt;
}

std::string MountEntry::DeviceNumber() const {
  return std::to_string(major) + ":" + std::to_string(minor);
}

std::string UnescapeMountField(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && IsOctal(field[i + 1]) &&
        IsOctal(field[i + 2]) && IsOctal(field[i + 3])) {
      int v = (field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0');
      out += static_cast<char>(v);
      i += 3;
    } else {
      out += field[i];
    }
  }
  return out;
}

Result<MountEntry> ParseMountinfoLine(std::string_view line) {
  std::vector<std::string_view> f = SplitSpaces(line);
  size_t sep = 0;
  for (size_t i = 6; i < f.size(); ++i) {
    if (f[i] == "-") {
      sep = i;
      break;
    }
  }
  if (f.size() < 10 || sep == 0 || f.size() < sep + 3)
    return Status::Error(
        "expected 'ID PARENT MAJ:MIN ROOT MOUNT OPTS [OPTIONAL...] - TYPE "
        "SOURCE SUPER_OPTS'");
  MountEntry m;
  if (!ParseNumber(f[0], &m.mount_id))
    return Status::Error("bad mount id '" + std::string(f[0]) + "'");
  if (!ParseNumber(f[1], &m.parent_id))
    return Status::Error("bad parent id '" + std::string(f[1]) + "'");
  size_t colon = f[2].find(':');
  if (colon == std::string_view::npos || !ParseNumber(f[2].substr(0, colon), &m.major) ||
      !ParseNumber(f[2].substr(colon + 1), &m.minor))
    return Status::Error("bad major:minor '" + std::string(f[2]) + "'");
  m.root = UnescapeMountField(f[3]);
  m.mount_point = UnescapeMountField(f[4]);
  m.mount_options = SplitCommas(f[5]);
  for (size_t i = 6; i < sep; ++i) m.optional_fields.emplace_back(f[i]);
  m.fstype = std::string(f[sep + 1]);
  m.source = UnescapeMountField(f[sep + 2]);
  // Superblock options may be absent on very old kernels; anything after them is kept.
  if (f.size() > sep + 3) m.super_options = SplitCommas(f[sep + 3]);
  return m;
}

Result<std::vector<MountEntry>> ParseMountinfo(std::string_view text) {
  std::vector<MountEntry> out;
  size_t start = 0;
  int line_no = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(start, nl - start);
    start = nl + 1;
    ++line_no;
    if (line.empty()) continue;
    auto m = ParseMountinfoLine(line);
    if (!m.ok())
      return Status::Error("line " + std::to_string(line_no) + ": " + m.status().message());
    out.push_back(std::move(m).value());
  }
  return out;
}

Result<std::vector<MountEntry>> ReadMountinfo(const std::string& root) {
  std::string path = UnderRoot(root, "/proc/self/mountinfo");
  auto text = ReadSmallFile(path, 16 << 20);
  if (!text.ok()) return text.status();
  auto mounts = ParseMountinfo(*text);
  if (!mounts.ok()) return Status::Error(path + ": " + mounts.status().message());
  return mounts;
}

const MountEntry* FindMountAt(const std::vector<MountEntry>& mounts, std::string_view path) {
  std::string want = StripTrailingSlashes(path);
  const MountEntry* found = nullptr;
  for (const MountEntry& m : mounts)
    if (m.mount_point == want) found = &m;
  return found;
}

}  // namespace kw
