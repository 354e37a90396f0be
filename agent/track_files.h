// keepalived track files: one small file per check, <track_dir>/<check>.state, holding
// "0\n" while the check is up (debounced) and "1\n" while it is down or has no result
// yet, for keepalived's `track_file` (weight 0: non-zero = FAULT).  No fork per check,
// unlike `track_script`.
//
// Update() is called with every published snapshot, on the scheduler thread; it writes
// only the files whose value changed since the last call (all of them on the first),
// each atomically (a temporary file in the same directory renamed over the old one), so
// keepalived never reads a half-written value.  No fsync: track_dir belongs on tmpfs
// (/run/keepwatch) and the scheduler thread must never wait on a disk.  A write that
// fails is retried on the next Update; last_status() says what went wrong.  Not
// thread-safe: one caller.
#pragma once

#include <map>
#include <string>

#include "agent/snapshot.h"
#include "agent/status.h"

namespace kw {

class TrackFiles {
 public:
  explicit TrackFiles(std::string dir);
  void Update(const Snapshot& snap);
  // OK, or the first error of the latest Update().
  const Status& last_status() const { return last_; }
  // The file for a check ("<dir>/<check>.state").
  std::string PathFor(const std::string& check) const;

 private:
  Status Write(const std::string& check, int value);

  std::string dir_;
  std::map<std::string, int> written_;  // check → value on disk
  Status last_;
};

}  // namespace kw
