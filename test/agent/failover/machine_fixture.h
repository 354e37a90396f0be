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

// `voter` says yes to f's pre-vote for the next term; with f's own yes that is a majority
// of the three voters, and f starts the election.
inline Actions GrantPreVote(Failover& f, TimePoint now, const std::string& voter, const World& w) {
  FailoverMsg m;
  m.type = MsgType::kPreVoteReply;
  m.from = voter;
  m.term = f.term() + 1;
  m.granted = true;
  return f.Receive(now, m, w);
}

}  // namespace kw::test
