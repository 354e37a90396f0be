#include "agent/failover/service.h"

#include <utility>

#include "agent/failover/codec.h"

namespace kw {
namespace {

constexpr Duration kTick = milliseconds(100);
constexpr Duration kActionTimeout = seconds(60);   // pg_promote(wait) may take a while
constexpr Duration kRejoinTimeout = seconds(600);  // pg_rewind copies what diverged
constexpr size_t kDecisionsKept = 20;

}  // namespace

LocalPg LocalPgFrom(const Snapshot& snap) {
  LocalPg pg;
  const CheckState* c = snap.FindType("postgres");
  if (!c || !c->has_result || c->last.outcome != Outcome::kPass) return pg;
  auto num = [&](const char* name) {
    const double* v = c->last.FindValue(name);
    return v ? static_cast<uint64_t>(*v) : 0;
  };
  const double* rec = c->last.FindValue("in_recovery");
  if (!rec) return pg;  // a result without a role is no basis for a decision
  pg.up = true;
  pg.in_recovery = *rec != 0;
  pg.writable = num("writable") != 0;
  const std::string* recv = c->last.FindLabel("wal_receiver");
  pg.receiver_streaming = recv && *recv == "streaming";
  pg.timeline = num("timeline");
  pg.lsn = pg.in_recovery ? num("received_lsn") : num("current_lsn");
  return pg;
}

FailoverService::FailoverService(FailoverConfig cfg, DurableState state, std::string state_dir,
                                 const Clock& clock, const SnapshotBox& box,
                                 const PeerSource& peers, FailoverTransport& transport,
                                 PgActuator& pg, Logger& log)
    : machine_(cfg, std::move(state)),
      cfg_(std::move(cfg)),
      state_dir_(std::move(state_dir)),
      clock_(clock),
      box_(box),
      peers_(peers),
      transport_(transport),
      pg_(pg),
      log_(log) {}

Result<std::unique_ptr<FailoverService>> FailoverService::Start(
    FailoverConfig cfg, std::string state_dir, const Clock& clock, const SnapshotBox& box,
    const PeerSource& peers, FailoverTransport& transport, PgActuator& pg, Logger& log) {
  auto state = LoadState(state_dir);
  if (!state.ok()) return state.status();
  if (state->fresh)
    log.Log(LogLevel::kWarning, "failover: no state in " + state_dir +
                                    "; starting fresh (no vote until the cluster's term is known)");
  std::unique_ptr<FailoverService> s(new FailoverService(
      std::move(cfg), *state, std::move(state_dir), clock, box, peers, transport, pg, log));
  s->Publish();
  s->thread_ = std::thread([p = s.get()] { p->Loop(); });
  s->action_thread_ = std::thread([p = s.get()] { p->ActionLoop(); });
  return s;
}

FailoverService::~FailoverService() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  action_cv_.notify_all();
  thread_.join();
  action_thread_.join();
}

void FailoverService::Deliver(const std::string& from, std::string_view payload) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (inbox_.size() >= 256) {  // a flood: drop rather than grow
      view_.bad_messages++;
      return;
    }
    inbox_.emplace_back(from, std::string(payload));
  }
  cv_.notify_all();
}

void FailoverService::RequestStepDown(const std::string& why) {
  {
    std::lock_guard<std::mutex> l(mu_);
    step_down_ = why;
  }
  cv_.notify_all();
}

Status FailoverService::Submit(const Operation& op) {
  bool promotes = op.kind == OpKind::kSwitchover || op.kind == OpKind::kFailover;
  if (promotes && cfg_.Priority(op.target) <= 0)
    return Status::Error("'" + op.target +
                         "' is not a member with postgres = yes and priority > 0");
  {
    std::lock_guard<std::mutex> l(mu_);
    if (cfg_.mode == FailoverMode::kOff) return Status::Error("failover is off on this node");
    if (op.kind == OpKind::kRejoin && view_.rejoining)
      return Status::Error("a rejoin is running already");
    if (op.kind == OpKind::kRejoin && !view_.needs_rejoin)
      return Status::Error("this node is not a former primary: nothing to rejoin");
    if (ops_.size() >= 16) return Status::Error("too many commands queued");
    ops_.push_back(op);
    view_.commands++;
  }
  cv_.notify_all();
  return Status::Ok();
}

Actions FailoverService::Apply(const Operation& op) {
  TimePoint now = clock_.Now();
  World w = BuildWorld();
  switch (op.kind) {
    case OpKind::kSwitchover:
      return machine_.Switchover(now, op.target, w);
    case OpKind::kFailover:
      return machine_.Stand(now, op.target, w);
    case OpKind::kPause:
    case OpKind::kResume:
      return machine_.Pause(op.kind == OpKind::kPause, w);
    case OpKind::kRejoin:
      return machine_.Rejoin(now, w);
  }
  return {};
}

void FailoverService::QueueRejoin() {
  auto it = cfg_.pg_address.find(machine_.leader());
  if (it == cfg_.pg_address.end()) {
    log_.Log(LogLevel::kError, "failover: rejoin: no PostgreSQL address for " + machine_.leader());
    return;
  }
  HostPort primary = it->second;
  std::lock_guard<std::mutex> l(mu_);
  if (view_.rejoining) return;
  view_.rejoining = true;
  view_.rejoins++;
  actions_.push_back([this, primary] {
    Status s = pg_.Rejoin(primary, clock_.Now() + kRejoinTimeout);
    std::string how = s.ok() ? "rejoined " + primary.ToString() : "rejoin failed: " + s.message();
    log_.Log(s.ok() ? LogLevel::kInfo : LogLevel::kError, "failover: " + how);
    std::lock_guard<std::mutex> g(mu_);
    view_.rejoining = false;
    view_.rejoin_failures += !s.ok();
    view_.last_rejoin = how;
  });
  action_cv_.notify_all();
}

World FailoverService::BuildWorld() const {
  World w;
  w.pg = LocalPgFrom(*box_.Get());
  w.peers = peers_.Peers();
  return w;
}

void FailoverService::Carry(const Actions& a) {
  for (const std::string& line : a.log) {
    log_.Log(LogLevel::kInfo, "failover: " + line, {{"TERM", std::to_string(machine_.term())}});
    std::lock_guard<std::mutex> l(mu_);
    view_.decisions.push_back(line);
    if (view_.decisions.size() > kDecisionsKept) view_.decisions.pop_front();
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    view_.elections_started += a.election_started;
    view_.elections_won += a.elected;
    view_.prevotes_refused += a.prevote_refused;
    view_.votes_granted += a.vote_granted;
    view_.votes_refused += a.vote_refused;
  }
  if (a.durable) {
    Status s = SaveState(state_dir_, *a.durable);
    if (!s.ok()) {
      // Never answer on a state that is not on disk: drop the sends; the peers retry.
      log_.Log(LogLevel::kError, "failover: cannot save state: " + s.message());
      std::lock_guard<std::mutex> l(mu_);
      view_.persist_failures++;
      return;
    }
  }
  for (const auto& [to, msg] : a.send) transport_.SendFailover(to, EncodeFailover(msg));
  // `then` runs on the action thread with the action's outcome.
  auto queue = [&](const char* what, Status (PgActuator::*act)(TimePoint),
                   uint64_t FailoverView::*count, std::function<void(const Status&)> then = {}) {
    std::lock_guard<std::mutex> l(mu_);
    if (count) view_.*count += 1;
    actions_.push_back([this, what, act, then] {
      Status s = (pg_.*act)(clock_.Now() + kActionTimeout);
      log_.Log(s.ok() ? LogLevel::kInfo : LogLevel::kError,
               std::string("failover: ") + what + (s.ok() ? " done" : " failed: " + s.message()));
      if (then) then(s);
    });
  };
  // In the order they must happen: fence before anything else the same round asks for.
  // One fence for both cases: a failure reaches the machine (FenceFailed: it does not count
  // itself fenced); a switchover then reads the final WAL position for the target.
  if (a.fence)
    queue("fence", &PgActuator::Fence, &FailoverView::fences,
          [this, handoff = !a.handoff_to.empty()](const Status& fenced) {
            // A switchover's final position, or the step that failed (the machine logs it
            // as the reason the switchover is abandoned).
            std::optional<Result<uint64_t>> ready;
            if (handoff && !fenced.ok()) {
              ready = Status::Error("the fence failed: " + fenced.message());
            } else if (handoff) {
              Result<uint64_t> lsn = pg_.WalLsn(clock_.Now() + kActionTimeout);
              if (!lsn.ok()) {
                lsn = Status::Error("fenced, but the final WAL position cannot be read: " +
                                    lsn.status().message());
                log_.Log(LogLevel::kError, "failover: switchover: " + lsn.status().message());
              }
              ready = lsn;
            }
            std::lock_guard<std::mutex> g(mu_);
            if (!fenced.ok()) fence_failed_ = true;
            if (ready) handoff_ready_ = ready;
            cv_.notify_all();
          });
  if (a.unfence) queue("unfence", &PgActuator::Unfence, nullptr);
  if (a.promote) queue("promote", &PgActuator::Promote, &FailoverView::promotions);
  if (a.fence || a.unfence || a.promote) action_cv_.notify_all();
  if (a.rejoin) QueueRejoin();
}

void FailoverService::Publish() {
  std::lock_guard<std::mutex> l(mu_);
  view_.role = machine_.role();
  view_.term = machine_.term();
  view_.leader = machine_.leader();
  view_.serving_until = machine_.ServingUntil();
  view_.fenced = machine_.fenced();
  view_.needs_rejoin = machine_.needs_rejoin();
  view_.paused = machine_.paused();
  view_.pause_version = machine_.durable().pause_version;
}

void FailoverService::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  TimePoint next_tick = clock_.Now();
  while (!stop_) {
    cv_.wait_for(l, kTick, [&] {
      return stop_ || !inbox_.empty() || step_down_ || !ops_.empty() || handoff_ready_ ||
             fence_failed_;
    });
    if (stop_) break;
    bool fence_failed = std::exchange(fence_failed_, false);
    std::deque<std::pair<std::string, std::string>> inbox;
    inbox.swap(inbox_);
    std::optional<std::string> step_down = std::exchange(step_down_, std::nullopt);
    std::deque<Operation> ops;
    ops.swap(ops_);
    auto handoff = std::exchange(handoff_ready_, std::nullopt);
    l.unlock();
    if (fence_failed) machine_.FenceFailed(clock_.Now());
    for (const Operation& op : ops) Carry(Apply(op));
    if (handoff) Carry(machine_.HandoffReady(clock_.Now(), *handoff));
    for (const auto& [from, payload] : inbox) {
      auto m = DecodeFailover(payload);
      if (!m.ok() || m->from != from) {
        std::lock_guard<std::mutex> g(mu_);
        view_.bad_messages++;
        continue;
      }
      Carry(machine_.Receive(clock_.Now(), *m, BuildWorld()));
    }
    if (step_down) Carry(machine_.StepDown(clock_.Now(), *step_down));
    if (clock_.Now() >= next_tick) {
      Carry(machine_.Tick(clock_.Now(), BuildWorld()));
      next_tick = clock_.Now() + kTick;
    }
    Publish();
    l.lock();
  }
}

void FailoverService::ActionLoop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    action_cv_.wait(l, [&] { return stop_ || !actions_.empty(); });
    if (stop_) break;
    auto act = std::move(actions_.front());
    actions_.pop_front();
    l.unlock();
    act();
    l.lock();
  }
}

std::optional<std::string> FailoverService::PrimaryVeto(TimePoint now) const {
  std::lock_guard<std::mutex> l(mu_);
  if (view_.needs_rejoin)
    return "former primary: " + view_.leader + " leads term " + std::to_string(view_.term) +
           "; needs a rejoin";
  if (view_.role != Role::kLeader)
    return std::string("not the leader (term ") + std::to_string(view_.term) +
           (view_.leader.empty() ? ", no leader)" : ", leader " + view_.leader + ")");
  if (now >= view_.serving_until) return "leader without a valid lease";
  return std::nullopt;
}

FailoverView FailoverService::View() const {
  std::lock_guard<std::mutex> l(mu_);
  return view_;
}

}  // namespace kw
