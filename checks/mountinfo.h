// Parsing of /proc/<pid>/mountinfo (Documentation/filesystems/proc.rst, "mountinfo";
// written by fs/proc_namespace.c show_mountinfo()).
//
// One line per mount:
//   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//   (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)   (10)         (11)
// 1 mount id, 2 parent id, 3 major:minor of st_dev, 4 root of the mount within the
// filesystem, 5 mount point, 6 per-mount options (rw/ro here is the *mount* flag only),
// 7 zero or more optional fields ending at the "-" separator (8), 9 fstype, 10 source,
// 11 superblock options, which begin with rw/ro from the *superblock* flag.  OCFS2's
// error handling ("File system is now read-only") sets only the superblock flag, so the
// superblock field is the one that tells whether writes can succeed.
//
// Fields 4, 5 and 10 escape space, tab, newline and backslash as \040 \011 \012 \134
// (mangle() in fs/proc_namespace.c).  These functions are pure except ReadMountinfo.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/status.h"

namespace kw {

struct MountEntry {
  int mount_id = 0;
  int parent_id = 0;
  unsigned major = 0;
  unsigned minor = 0;
  std::string root;                          // unescaped
  std::string mount_point;                   // unescaped
  std::vector<std::string> mount_options;    // per-mount: "rw", "relatime", ...
  std::vector<std::string> optional_fields;  // "shared:1", "master:3", ...
  std::string fstype;
  std::string source;                      // unescaped; "none" or a device path
  std::vector<std::string> super_options;  // "rw", "errors=remount-ro", ...

  // The per-mount flag ("mount -o remount,bind,ro").
  bool MountReadOnly() const;
  // The superblock flag: set by "mount -o remount,ro" and by a filesystem's error handling.
  bool SuperReadOnly() const;
  // Value of a superblock option "key=value" ("errors" → "remount-ro"); nullopt if absent.
  std::optional<std::string> SuperOption(std::string_view key) const;
  // "8:16"
  std::string DeviceNumber() const;
};

// Undoes the kernel's octal escapes (\040 → ' ').  A backslash not followed by three
// octal digits is kept as it is.
std::string UnescapeMountField(std::string_view field);

// Parses one line; the error says which field is malformed.
Result<MountEntry> ParseMountinfoLine(std::string_view line);
// Parses a whole file; fails on the first malformed line ("line N: ...").
Result<std::vector<MountEntry>> ParseMountinfo(std::string_view text);
// Reads and parses <root>/proc/self/mountinfo.  procfs only: no I/O on any mount.
Result<std::vector<MountEntry>> ReadMountinfo(const std::string& root);

// The mount that is visible at `path` (the last one listed there: later mounts stack on
// earlier ones).  `path` is compared after removing trailing slashes.  Null if none.
const MountEntry* FindMountAt(const std::vector<MountEntry>& mounts, std::string_view path);

}  // namespace kw
