#include "agent/gossip/broadcast.h"

#include <algorithm>

namespace kw::gossip {

namespace {
bool IsState(const Update& u) { return u.kind == UpdateKind::kState; }
}  // namespace

void BroadcastQueue::Push(Update u) {
  std::erase_if(entries_, [&](const Entry& e) {
    return e.update.member == u.member && IsState(e.update) == IsState(u);
  });
  entries_.push_back(Entry{std::move(u), 0, next_order_++});
}

std::vector<Update> BroadcastQueue::Take(size_t budget, const std::string& about,
                                         size_t max_count) {
  std::vector<size_t> idx(entries_.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
    const Entry& x = entries_[a];
    const Entry& y = entries_[b];
    bool xa = x.update.member == about, ya = y.update.member == about;
    if (xa != ya) return xa;
    if (x.sent != y.sent) return x.sent < y.sent;
    return x.order > y.order;
  });
  std::vector<Update> out;
  size_t used = 0;
  for (size_t i : idx) {
    if (out.size() >= max_count) break;
    Entry& e = entries_[i];
    size_t sz = EncodedSize(e.update);
    if (used + sz > budget) continue;
    used += sz;
    out.push_back(e.update);
    ++e.sent;
  }
  std::erase_if(entries_, [&](const Entry& e) { return e.sent >= limit_; });
  return out;
}

}  // namespace kw::gossip
