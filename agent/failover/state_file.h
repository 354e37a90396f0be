// The failover state a node must never forget: {term, voted_for, leader}.
//
// Written atomically before any vote is answered: a temporary file is written and
// fsynced, renamed over the old one, and the directory fsynced.  A checksum line guards
// against a torn or edited file.
//   - missing file: a fresh state (term 0) — Load returns it with `fresh` set; the
//     failover logic then refuses to vote until it has seen the cluster's current term
//     (see agent/failover/failover.h), so a lost disk cannot lead to a second vote.
//   - corrupt file: an error that names the file and the problem; the agent does not
//     start (remove the file to start fresh, knowingly).
// The helpers below serve every file in the state directory (pg_layout.h's too).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "agent/status.h"

namespace kw {

struct DurableState {
  uint64_t term = 0;
  std::string voted_for;  // member voted for in `term`, or empty
  std::string leader;     // leader known for `term`, or empty
  bool fresh = false;     // no file existed
  // keepwatch pause/resume: automatic failover off while `paused`; the highest
  // pause_version seen anywhere in the cluster wins.
  bool paused = false;
  uint64_t pause_version = 0;
  bool operator==(const DurableState& o) const {
    return term == o.term && voted_for == o.voted_for && leader == o.leader && paused == o.paused &&
           pause_version == o.pause_version;
  }
};

// <dir>/failover.state
std::string StateFilePath(const std::string& dir);
Result<DurableState> LoadState(const std::string& dir);
Status SaveState(const std::string& dir, const DurableState& s);

// <dir>/<name> replaced by `text` atomically and durably: written to <name>.tmp (mode
// 0600) and fsynced, renamed over <name>, the directory fsynced.
Status WriteStateFile(const std::string& dir, const std::string& name, const std::string& text);
// The whole file, or nullopt when it does not exist; an error naming it otherwise.
Result<std::optional<std::string>> ReadStateFile(const std::string& path);
// `body` (key=value lines, # comments) followed by a checksum line over it; Unsealed
// checks the checksum and returns the keys, or says what is wrong.
std::string Sealed(const std::string& body);
Result<std::map<std::string, std::string>> Unsealed(const std::string& text);

// The file's text (exposed for tests).
std::string EncodeState(const DurableState& s);
Result<DurableState> DecodeState(const std::string& text);

}  // namespace kw
