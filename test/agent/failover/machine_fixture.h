// The cluster the state machine's unit tests share (failover_test.cpp, operations_test.cpp):
// voters pg1, pg2 and lb1; PostgreSQL on pg1 (priority 100), pg2 (50) and pg3 (0: never
// promoted); instants as milliseconds after an arbitrary start.
#pragma once

#include <string>

#include "agent/failover/failover.h"

namespace kw::test {

inline FailoverConfig Cfg(const std::string& self) {
  FailoverConfig c;
  c.self = self;
  c.voters = {"pg1", "pg2", "lb1"};
  c.priority = {{"pg1", 100}, {"pg2", 50}, {"pg3", 0}};
  return c;
}

inline TimePoint T(int ms) { return TimePoint(milliseconds(1000000 + ms)); }

// `voter` grants f's request of the round it is in: its pre-vote (for the next term), its
// vote, or its lease renewal `seq` (in its term).  With f's own yes, one grant is a
// majority of the three voters.
inline Actions Grant(Failover& f, TimePoint now, MsgType reply, const std::string& voter,
                     const World& w, uint64_t seq = 0) {
  FailoverMsg m;
  m.type = reply;
  m.from = voter;
  m.term = f.term() + (reply == MsgType::kPreVoteReply ? 1 : 0);
  m.seq = seq;
  m.granted = true;
  return f.Receive(now, m, w);
}

}  // namespace kw::test
