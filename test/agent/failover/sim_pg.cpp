#include "test/agent/failover/sim_pg.h"

#include <algorithm>
#include <string>

namespace kw::failover_sim {

void RequestPromote(SimPg& pg, int now_ms) {
  if (pg.up && pg.in_recovery && pg.promote_at < 0) pg.promote_at = now_ms + kPromoteMs;
}

void RequestFence(SimPg& pg, int now_ms, int delay_ms) {
  if (pg.up && pg.fence_at < 0) pg.fence_at = now_ms + delay_ms;
}

void Unfence(SimPg& pg) {
  pg.fence_at = -1;
  pg.writable = true;
}

void RequestRejoin(SimPg& pg, int now_ms, int delay_ms, int from) {
  if (!pg.up || pg.rejoin_at >= 0) return;
  pg.up = false;  // pg_rewind needs it stopped
  pg.fence_at = -1;
  pg.rejoin_at = now_ms + delay_ms;
  pg.rejoin_from = from;
}

void CrashPg(SimPg& pg) {
  pg.up = false;
  pg.promote_at = pg.fence_at = pg.rejoin_at = -1;
}

uint64_t WritesPerStep(int now_ms) {
  return now_ms % kBurstEveryMs < kBurstMs ? kBurstWritesPerStep : kWritesPerStep;
}

std::vector<std::pair<int, uint64_t>> StepPostgres(const std::vector<SimPg*>& pgs, int now_ms,
                                                   const std::function<bool(int, int)>& connected) {
  std::vector<std::pair<int, uint64_t>> promoted;
  for (size_t i = 0; i < pgs.size(); ++i) {
    SimPg* pg = pgs[i];
    if (!pg || pg->rejoin_at < 0 || now_ms < pg->rejoin_at) continue;
    pg->rejoin_at = -1;
    pg->up = true;
    int f = pg->rejoin_from;
    const SimPg* src = f >= 0 && f < static_cast<int>(pgs.size()) ? pgs[f] : nullptr;
    if (!src || !src->up || src->in_recovery || !connected(f, static_cast<int>(i))) continue;
    pg->in_recovery = true;
    pg->writable = false;
    pg->timeline = src->timeline;
    pg->lsn = src->lsn;
    pg->streaming = false;
  }
  for (size_t i = 0; i < pgs.size(); ++i) {
    SimPg* pg = pgs[i];
    if (!pg || !pg->up) continue;
    if (pg->promote_at >= 0 && now_ms >= pg->promote_at) {
      pg->promote_at = -1;
      pg->in_recovery = false;
      pg->writable = true;
      pg->timeline++;
      pg->streaming = false;
      promoted.emplace_back(static_cast<int>(i), pg->lsn);
    }
    if (pg->fence_at >= 0 && now_ms >= pg->fence_at) {
      pg->fence_at = -1;
      pg->writable = false;
    }
    if (!pg->in_recovery && pg->writable) pg->lsn += WritesPerStep(now_ms);  // clients write
  }
  for (size_t i = 0; i < pgs.size(); ++i) {
    SimPg* r = pgs[i];
    if (!r || !r->up || !r->in_recovery) continue;
    r->streaming = false;
    if (r->promote_at >= 0) continue;  // promotion stops the WAL receiver at once
    for (size_t j = 0; j < pgs.size(); ++j) {
      const SimPg* p = pgs[j];
      if (j == i || !p || !p->up || p->in_recovery || p->timeline < r->timeline) continue;
      if (!connected(static_cast<int>(j), static_cast<int>(i))) continue;
      r->streaming = true;
      r->timeline = p->timeline;
      r->lsn = std::max(r->lsn, std::min(p->lsn, r->lsn + kCatchUpPerStep));
    }
  }
  return promoted;
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
