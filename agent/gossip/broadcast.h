// The piggyback queue: updates waiting to be disseminated on outgoing messages.
//
// Each update is sent at most `limit` times (the caller sets retransmit_mult *
// ceil(log10(n + 1)), memberlist's rule).  A newer update about the same member and of
// the same class (status, or node state) replaces the queued one, so the queue holds at
// most two entries per member.  Updates sent the fewest times go first.  Pure; not
// thread-safe.
#pragma once

#include <string>
#include <vector>

#include "agent/gossip/wire.h"

namespace kw::gossip {

class BroadcastQueue {
 public:
  void set_limit(int limit) { limit_ = limit; }
  void Push(Update u);
  // Takes updates fitting in `budget` encoded bytes (at most kMaxUpdates): first those
  // about `about` (so a suspected member hears of it: Lifeguard's buddy system), then the
  // least-sent.  Each taken update counts one transmission.
  std::vector<Update> Take(size_t budget, const std::string& about, size_t max_count = kMaxUpdates);
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

 private:
  struct Entry {
    Update update;
    int sent = 0;
    uint64_t order = 0;  // insertion order: ties go to the newest
  };
  std::vector<Entry> entries_;
  int limit_ = 4;
  uint64_t next_order_ = 0;
};

}  // namespace kw::gossip
