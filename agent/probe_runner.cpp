#include "agent/probe_runner.h"

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

namespace kw {

namespace {
std::atomic<int> detached_threads{0};
}  // namespace

// Everything the probe thread touches lives here, shared with the thread, so a stuck
// thread that outlives its ProbeRunner still owns valid memory.
struct ProbeRunner::Shared {
  std::string name;
  std::unique_ptr<Check> check;
  std::function<void()> on_done;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  bool requested = false;
  bool running = false;
  TimePoint deadline{};
  std::optional<Finished> finished;
};

ProbeRunner::ProbeRunner(std::string name, std::unique_ptr<Check> check,
                         std::function<void()> on_done)
    : shared_(std::make_shared<Shared>()) {
  shared_->name = std::move(name);
  shared_->check = std::move(check);
  shared_->on_done = std::move(on_done);
  thread_ = std::thread(Loop, shared_);
}

ProbeRunner::~ProbeRunner() {
  bool stuck;
  {
    std::lock_guard<std::mutex> l(shared_->mu);
    shared_->stop = true;
    stuck = shared_->running;
  }
  shared_->cv.notify_all();
  if (stuck) {
    thread_.detach();  // it exits by itself if Run ever returns
    detached_threads.fetch_add(1);
  } else {
    thread_.join();
  }
}

int ProbeRunner::DetachedThreads() { return detached_threads.load(); }

void ProbeRunner::Loop(std::shared_ptr<Shared> s) {
  // "kw:NAME" in /proc/self/task/*/comm (15 characters at most).
  pthread_setname_np(pthread_self(), ("kw:" + s->name).substr(0, 15).c_str());
  std::unique_lock<std::mutex> l(s->mu);
  for (;;) {
    s->cv.wait(l, [&] { return s->stop || s->requested; });
    if (s->stop) return;
    s->requested = false;
    s->running = true;
    TimePoint deadline = s->deadline;
    l.unlock();
    TimePoint start = SteadyClock::now();
    CheckResult r = s->check->Run(deadline);
    Duration took = SteadyClock::now() - start;
    l.lock();
    s->running = false;
    s->finished = Finished{std::move(r), took};
    if (s->stop) return;
    l.unlock();
    if (s->on_done) s->on_done();
    l.lock();
  }
}

bool ProbeRunner::Start(TimePoint deadline) {
  {
    std::lock_guard<std::mutex> l(shared_->mu);
    if (shared_->running || shared_->requested) return false;
    shared_->finished.reset();
    shared_->deadline = deadline;
    shared_->requested = true;
  }
  shared_->cv.notify_all();
  return true;
}

std::optional<ProbeRunner::Finished> ProbeRunner::Take() {
  std::lock_guard<std::mutex> l(shared_->mu);
  std::optional<Finished> f = std::move(shared_->finished);
  shared_->finished.reset();
  return f;
}

bool ProbeRunner::busy() const {
  std::lock_guard<std::mutex> l(shared_->mu);
  return shared_->running || shared_->requested;
}

}  // namespace kw
