#include "test/agent/failover/sim_pg.h"

#include <algorithm>
#include <string>

namespace kw::failover_sim {

void RequestPromote(SimPg& pg, int now_ms) {
  if (pg.up && pg.in_recovery && pg.promote_at < 0) pg.promote_at = now_ms + kPromoteMs;
}

void StepPostgres(const std::vector<SimPg*>& pgs, int now_ms,
                  const std::function<bool(int, int)>& connected) {
  for (SimPg* pg : pgs) {
    if (!pg || !pg->up) continue;
    if (pg->promote_at >= 0 && now_ms >= pg->promote_at) {
      pg->promote_at = -1;
      pg->in_recovery = false;
      pg->writable = true;
      pg->timeline++;
      pg->streaming = false;
    }
    if (!pg->in_recovery && pg->writable) pg->lsn += 10;  // clients write
  }
  for (size_t i = 0; i < pgs.size(); ++i) {
    SimPg* r = pgs[i];
    if (!r || !r->up || !r->in_recovery) continue;
    r->streaming = false;
    for (size_t j = 0; j < pgs.size(); ++j) {
      const SimPg* p = pgs[j];
      if (j == i || !p || !p->up || p->in_recovery || p->timeline < r->timeline) continue;
      if (!connected(static_cast<int>(j), static_cast<int>(i))) continue;
      r->streaming = true;
      r->timeline = p->timeline;
      r->lsn = std::max(r->lsn, p->lsn);
    }
  }
}

PgReply QueryOf(const SimPg& pg) {
  PgReply reply;
  if (!pg.up) {
    reply.failure = PgFailure::kRefused;
    reply.message = "connection refused";
    return reply;
  }
  PgRow& row = reply.row;
  row["in_recovery"] = pg.in_recovery ? "t" : "f";
  row["transaction_read_only"] = pg.writable ? "off" : "on";
  row["server_version_num"] = "150000";
  std::string lsn = std::to_string(pg.lsn), tl = std::to_string(pg.timeline);
  if (pg.in_recovery) {
    row["received_tli"] = tl;
    row["received_lsn"] = lsn;
    row["replayed_lsn"] = lsn;
    if (pg.streaming) row["wal_receiver_status"] = "streaming";
  } else {
    row["primary_timeline"] = tl;
    row["current_lsn"] = lsn;
  }
  return reply;
}

}  // namespace kw::failover_sim
