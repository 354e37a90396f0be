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
#pragma once

#include <cstdint>
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

// The file's text (exposed for tests).
std::string EncodeState(const DurableState& s);
Result<DurableState> DecodeState(const std::string& text);

}  // namespace kw
