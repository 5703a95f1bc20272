// sim/kernel/scheduler.cpp — event queue, fiber switching, node crash/pause/restart.
//
// A task's fiber is resumed only from the scheduler's own loop (or, while unwinding, from whoever
// destroys it). A running task returns control with switch_out(); the event that resumes it next is a
// `resume` event carrying the task's wait generation, so a stale wake-up (the other half of a
// wait-with-timeout race) is recognised and ignored.
#include "sim/kernel/scheduler.h"

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <type_traits>
#include <utility>

#include <boost/context/pooled_fixedsize_stack.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>
#include <fmt/compile.h>
#include <fmt/format.h>

// gcc says __SANITIZE_ADDRESS__, clang __has_feature(address_sanitizer).
#if defined(__SANITIZE_ADDRESS__)
#define REPLSIM_ASAN_FIBERS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REPLSIM_ASAN_FIBERS 1
#endif
#endif
#if defined(REPLSIM_ASAN_FIBERS)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace replsim::kernel {

namespace ctx = boost::context;

// AddressSanitizer must be told about every stack switch, or unwinding a fiber's stack looks like a
// wild overflow to it. These wrappers compile to nothing in other builds.
namespace {
#if defined(REPLSIM_ASAN_FIBERS)
void asan_start_switch(void** fake_stack_save, const void* bottom, std::size_t size) {
  __sanitizer_start_switch_fiber(fake_stack_save, bottom, size);
}
void asan_finish_switch(void* fake_stack_save, const void** bottom_old, std::size_t* size_old) {
  __sanitizer_finish_switch_fiber(fake_stack_save, bottom_old, size_old);
}
#else
void asan_start_switch(void**, const void*, std::size_t) {}
void asan_finish_switch(void*, const void**, std::size_t*) {}
#endif

// Wraps a stack allocator to learn where each fiber's stack lives (for the annotations above).
template <class Inner>
struct RecordingStackAlloc {
  Inner* inner;
  ctx::stack_context* record;
  ctx::stack_context allocate() {
    ctx::stack_context sc = inner->allocate();
#if defined(REPLSIM_ASAN_FIBERS)
    // A new stack may lie where an earlier one was unmapped, and AddressSanitizer does not clear the
    // poison that stack's frames left in its shadow: the new fiber's frames would be reported as
    // overflows (seen once tasks came and went per bus exchange).
    __asan_unpoison_memory_region(static_cast<char*>(sc.sp) - sc.size, sc.size);
#endif
    *record = sc;
    return sc;
  }
  void deallocate(ctx::stack_context& sc) noexcept { inner->deallocate(sc); }
};
}  // namespace

#if defined(REPLSIM_GUARDED_STACKS)
inline constexpr std::size_t kDefaultStackBytes = 512 * 1024;
struct Scheduler::StackPool {
  explicit StackPool(std::size_t size) : alloc(size) {}
  ctx::protected_fixedsize_stack alloc;
};
#else
inline constexpr std::size_t kDefaultStackBytes = 256 * 1024;
struct Scheduler::StackPool {
  explicit StackPool(std::size_t size) : alloc(size, 64) {}
  ctx::pooled_fixedsize_stack alloc;
};
#endif

struct Scheduler::Task {
  TaskId id = 0;
  NodeId node = kNoNode;
  std::string name;
  std::uint64_t generation = 0;  // bumped at every park; names the current wait
  bool started = false;          // the fiber's body has begun (it has run at least once)
  bool finished = false;
  bool dying = false;            // being unwound by a crash
  bool parked = false;           // suspended in park()
  bool woken = false;            // the last resume came from wake(), not a timeout
  ctx::fiber fiber;              // the task's own context while suspended
  ctx::fiber caller;             // whoever resumed the task, while it runs
  ctx::stack_context stack;      // where the fiber's stack lives
  const void* caller_bottom = nullptr;  // the resumer's stack, for sanitizer annotations
  std::size_t caller_size = 0;
  void* fake_stack = nullptr;
};

namespace {

[[noreturn]] void kernel_assert_fail(const char* what, const char* file, int line) {
  std::fprintf(stderr, "replsim kernel assertion failed: %s at %s:%d\n", what, file, line);
  std::abort();
}

#define KERNEL_ASSERT(cond) \
  ((cond) ? static_cast<void>(0) : kernel_assert_fail(#cond, __FILE__, __LINE__))

const void* stack_bottom(const ctx::stack_context& sc) {
  return static_cast<const char*>(sc.sp) - sc.size;
}

}  // namespace

Scheduler::Scheduler(Trace& trace, SchedulerConfig config)
    : trace_(trace),
      config_(config),
      stacks_(std::make_unique<StackPool>(config.stack_size_bytes ? config.stack_size_bytes
                                                                  : kDefaultStackBytes)) {}

Scheduler::~Scheduler() {
  // Unwind every remaining task so their destructors run while the scheduler still exists.
  while (!tasks_.empty()) destroy_task(tasks_.begin()->first);
}

// ---- queue -------------------------------------------------------------------------------------

void Scheduler::push(QueuedEvent ev) {
  ev.seq = seq_++;
  // An event due now (a wake-up, a spawn) comes after every queued event of the same time, having
  // the largest seq: appending it to the due-now queue keeps that queue in (time, seq) order, and
  // step() takes whichever of the two queues' heads is earlier, so the order is the heap's alone.
  if (ev.time_ns == now_ns() && (due_now_head_ == due_now_.size() || due_now_.back().time_ns == ev.time_ns)) {
    due_now_.push_back(ev);
    return;
  }
  queue_later(ev);
}

void Scheduler::queue_later(const QueuedEvent& ev) {
  const std::int64_t delay_ns = ev.time_ns - now_ns();
  Lane* free_lane = nullptr;
  for (Lane& lane : lanes_) {
    if (lane.empty()) {
      if (free_lane == nullptr) free_lane = &lane;
    } else if (lane.delay_ns == delay_ns) {
      lane.events.push_back(ev);  // behind the front: the heap's key for the lane stays
      return;
    }
  }
  HeapKey key{ev.time_ns, ev.seq, 0, kNoLane};
  // A lane only for a delay seen before: the random latencies would take every lane, each for one
  // event, and the timeouts would find none free.
  std::int64_t& seen = recent_delays_[static_cast<std::uint64_t>(delay_ns) * 0x9e3779b97f4a7c15ULL >> 58U];
  if (free_lane != nullptr && seen == delay_ns) {
    free_lane->delay_ns = delay_ns;
    free_lane->events.clear();
    free_lane->head = 0;
    free_lane->events.push_back(ev);
    key.lane = static_cast<std::uint32_t>(free_lane - lanes_.data());
  } else {
    seen = delay_ns;
    if (!free_heap_slots_.empty()) {
      key.slot = free_heap_slots_.back();
      free_heap_slots_.pop_back();
      heap_events_[key.slot] = ev;
    } else {
      KERNEL_ASSERT(heap_events_.size() < kNoLane);
      key.slot = static_cast<std::uint32_t>(heap_events_.size());
      heap_events_.push_back(ev);
    }
  }
  heap_.push_back(key);
  std::push_heap(heap_.begin(), heap_.end(), Later{});
}

Scheduler::QueuedEvent Scheduler::pop_later() {
  const HeapKey top = heap_.front();
  if (top.lane != kNoLane) {
    Lane& lane = lanes_[top.lane];
    const QueuedEvent ev = lane.events[lane.head++];
    if (lane.empty()) {
      std::pop_heap(heap_.begin(), heap_.end(), Later{});
      heap_.pop_back();
      return ev;
    }
    // The lane's next event takes its front's place in the heap: one sift down instead of a pop
    // and a push.
    const QueuedEvent& next = lane.events[lane.head];
    replace_top({next.time_ns, next.seq, 0, top.lane});
    // Drop the consumed front once it is the larger part (a busy lane may never drain).
    if (lane.head >= 256 && 2 * lane.head >= lane.events.size()) {
      lane.events.erase(lane.events.begin(), lane.events.begin() + static_cast<std::ptrdiff_t>(lane.head));
      lane.head = 0;
    }
    return ev;
  }
  std::pop_heap(heap_.begin(), heap_.end(), Later{});
  heap_.pop_back();
  free_heap_slots_.push_back(top.slot);
  return heap_events_[top.slot];
}

void Scheduler::replace_top(const HeapKey& key) {
  // The heap's order is std::push_heap's with Later: each entry no later than its children.
  const std::size_t n = heap_.size();
  std::size_t hole = 0;
  for (;;) {
    std::size_t child = 2 * hole + 1;
    if (child >= n) break;
    if (child + 1 < n && Later{}(heap_[child], heap_[child + 1])) ++child;  // the earlier child
    if (!Later{}(key, heap_[child])) break;
    heap_[hole] = heap_[child];
    hole = child;
  }
  heap_[hole] = key;
}

void Scheduler::push_task_event(EventKind kind, std::int64_t time_ns, TaskId task, std::uint64_t generation) {
  push({time_ns, 0, task, generation, kNoNode, kind});
}

void Scheduler::at(SimTime when, std::function<void()> fn, NodeId owner) {
  if (when < now_) when = now_;
  std::uint32_t slot;
  if (!free_timer_slots_.empty()) {
    slot = free_timer_slots_.back();
    free_timer_slots_.pop_back();
    timer_slots_[slot] = std::move(fn);
  } else {
    slot = static_cast<std::uint32_t>(timer_slots_.size());
    timer_slots_.push_back(std::move(fn));
  }
  const std::uint64_t inc = owner == kNoNode ? 0 : node(owner).incarnation;
  push({when.time_since_epoch().count(), 0, slot, inc, owner, EventKind::timer});
}

void Scheduler::after(Nanos delay, std::function<void()> fn, NodeId owner) {
  if (delay < Nanos::zero()) delay = Nanos::zero();
  at(now_ + delay, std::move(fn), owner);
}

std::uint32_t Scheduler::add_timer_target(TimerTarget* target) {
  KERNEL_ASSERT(target != nullptr);
  timer_targets_.push_back(target);
  return static_cast<std::uint32_t>(timer_targets_.size() - 1);
}

void Scheduler::remove_timer_target(std::uint32_t target) {
  KERNEL_ASSERT(target < timer_targets_.size());
  timer_targets_[target] = nullptr;
}

void Scheduler::call_at(SimTime when, std::uint32_t target, std::uint64_t a, std::uint64_t b) {
  KERNEL_ASSERT(target < timer_targets_.size());
  if (when < now_) when = now_;
  push({when.time_since_epoch().count(), 0, a, b, target, EventKind::call});
}

bool Scheduler::step() { return step_known(next_is_due_now()); }

bool Scheduler::step_known(bool due_now) {
  QueuedEvent ev;
  if (due_now) {
    ev = due_now_[due_now_head_++];
    if (due_now_head_ == due_now_.size()) {
      due_now_.clear();
      due_now_head_ = 0;
    } else if (due_now_head_ >= 256 && 2 * due_now_head_ >= due_now_.size()) {
      // Tasks that keep waking each other at one instant never drain the queue: drop the consumed
      // front once it is the larger part, so the queue stays near the pending count (amortized O(1)).
      due_now_.erase(due_now_.begin(), due_now_.begin() + static_cast<std::ptrdiff_t>(due_now_head_));
      due_now_head_ = 0;
    }
  } else {
    if (heap_.empty()) return false;
    ev = pop_later();
  }
  if (ev.time_ns > now_ns()) now_ = SimTime(Nanos(ev.time_ns));
  ++events_run_;
  run_event(ev);
  // Crashes requested by a node's own task happen once that task has switched out.
  while (!pending_self_crashes_.empty()) {
    auto [id, reason] = std::move(pending_self_crashes_.front());
    pending_self_crashes_.erase(pending_self_crashes_.begin());
    if (node(id).state != NodeState::down) crash_node(id, reason);
  }
  return true;
}

void Scheduler::run_event(const QueuedEvent& ev) {
  if (ev.kind == EventKind::call) {
    if (TimerTarget* target = timer_targets_[ev.owner]) target->on_timer(ev.id, ev.stamp);
    return;
  }
  if (ev.kind == EventKind::timer) {
    std::function<void()> fn = std::move(timer_slots_[ev.id]);
    timer_slots_[ev.id] = nullptr;
    free_timer_slots_.push_back(static_cast<std::uint32_t>(ev.id));
    if (ev.owner != kNoNode) {
      const Node& n = node(ev.owner);
      if (n.incarnation != ev.stamp || n.state == NodeState::down) return;
    }
    fn();
    return;
  }
  Task* t = find_task(ev.id);
  if (t == nullptr) return;
  if (t->generation != ev.stamp || t->finished) return;
  const bool by_wake = ev.kind == EventKind::wake;
  if (t->node != kNoNode && node(t->node).state == NodeState::paused) {
    node(t->node).held.push_back({{t->id, ev.stamp}, by_wake});
    return;
  }
  t->woken = by_wake;
  resume_task(t);
}

Scheduler::StopReason Scheduler::run(SimTime until, std::uint64_t max_events,
                                     const std::function<bool()>& stop) {
  std::uint64_t ran = 0;
  std::uint64_t window_events = 0;
  std::int64_t window_start_ns = now_ns();
  for (;;) {
    const bool due_now = next_is_due_now();
    const std::int64_t* next_ns = next_time_ns(due_now);
    if (next_ns == nullptr) return StopReason::idle;
    if (*next_ns > until.time_since_epoch().count()) {
      if (until > now_) now_ = until;
      return StopReason::time_limit;
    }
    if (ran >= max_events) return StopReason::event_limit;
    step_known(due_now);
    ++ran;
    if (stall_events_ != 0 && ++window_events >= stall_events_) {
      if (now_ns() - window_start_ns < stall_min_advance_ns_) {
        stall_report_ = StallReport{window_events, window_start_ns, now_ns(), describe_task(last_resumed_)};
        return StopReason::stalled;
      }
      window_events = 0;
      window_start_ns = now_ns();
    }
    if (stop && stop()) return StopReason::predicate;
  }
}

void Scheduler::set_stall_limit(std::uint64_t events, Nanos min_advance) {
  stall_events_ = events;
  stall_min_advance_ns_ = min_advance.count();
}

std::string Scheduler::describe_task(TaskId id) const {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return fmt::format("task {} (ended)", id);
  const Task& t = *it->second;
  return fmt::format("task {} '{}' on {}", id, t.name, t.node == kNoNode ? std::string("the harness") : node(t.node).name);
}

// ---- tasks -------------------------------------------------------------------------------------

TaskId Scheduler::spawn(NodeId node_id, std::string name, std::function<void()> fn) {
  if (node_id != kNoNode) KERNEL_ASSERT(node(node_id).state != NodeState::down);
  auto task = std::make_unique<Task>();
  Task* t = task.get();
  t->id = next_task_id_++;
  t->node = node_id;
  t->name = std::move(name);
  using Alloc = RecordingStackAlloc<std::remove_reference_t<decltype(stacks_->alloc)>>;
  t->fiber = ctx::fiber(std::allocator_arg, Alloc{&stacks_->alloc, &t->stack},
                        [t, fn = std::move(fn)](ctx::fiber&& caller) mutable {
                          asan_finish_switch(nullptr, &t->caller_bottom, &t->caller_size);
                          t->caller = std::move(caller);
                          t->started = true;
                          if (t->dying) {
                            // Discarded before it ever ran: leave without running the body.
                            t->finished = true;
                            asan_start_switch(nullptr, t->caller_bottom, t->caller_size);
                            return std::move(t->caller);
                          }
                          try {
                            fn();
#if defined(REPLSIM_ASAN_FIBERS)
                          } catch (const ctx::detail::forced_unwind&) {
                            // A crash is unwinding this stack: let Boost.Context finish it.
                            asan_start_switch(nullptr, t->caller_bottom, t->caller_size);
                            throw;
#endif
                            // Elsewhere nothing catches the unwind on its way: every catch and
                            // rethrow starts the unwinder's search over, and tearing a world down
                            // unwinds every task it still has (thousands in a large cluster).
                          } catch (const TaskExit&) {
                            // an orderly early exit
                          }
                          t->finished = true;
                          asan_start_switch(nullptr, t->caller_bottom, t->caller_size);
                          return std::move(t->caller);
                        });
  if (task_by_id_.size() <= t->id) task_by_id_.resize(t->id + 1, nullptr);
  task_by_id_[t->id] = t;
  tasks_.emplace(t->id, std::move(task));
  trace_.record(now_ns(), node_id == kNoNode ? "" : node(node_id).name, "task.spawn",
                fmt::format(FMT_COMPILE("task={} name={}"), t->id, t->name));
  push_task_event(EventKind::wake, now_ns(), t->id, t->generation);
  return t->id;
}

void Scheduler::resume_task(Task* t) {
  Task* prev = current_;
  current_ = t;
  last_resumed_ = t->id;
  ++switches_;
  void* fake_stack = nullptr;
  asan_start_switch(&fake_stack, stack_bottom(t->stack), t->stack.size);
  t->fiber = std::move(t->fiber).resume();
  asan_finish_switch(fake_stack, nullptr, nullptr);
  current_ = prev;
  if (t->finished) {
    trace_.record(now_ns(), t->node == kNoNode ? "" : node(t->node).name, "task.end",
                  fmt::format(FMT_COMPILE("task={}"), t->id));
    auto it = tasks_.find(t->id);
    std::unique_ptr<Task> owned = std::move(it->second);
    tasks_.erase(it);
    task_by_id_[t->id] = nullptr;
    owned->fiber = ctx::fiber();  // already complete: nothing to unwind
  }
}

void Scheduler::switch_out(Task* t) {
  ++switches_;
  asan_start_switch(&t->fake_stack, t->caller_bottom, t->caller_size);
#if defined(REPLSIM_ASAN_FIBERS)
  try {
    t->caller = std::move(t->caller).resume();
  } catch (const ctx::detail::forced_unwind&) {
    asan_finish_switch(t->fake_stack, &t->caller_bottom, &t->caller_size);
    throw;
  }
#else
  t->caller = std::move(t->caller).resume();  // a crash's unwind passes through (see spawn)
#endif
  asan_finish_switch(t->fake_stack, &t->caller_bottom, &t->caller_size);
}

TaskId Scheduler::current_task() const { return current_ ? current_->id : 0; }
NodeId Scheduler::current_node() const { return current_ ? current_->node : kNoNode; }
bool Scheduler::current_is_dying() const { return current_ != nullptr && current_->dying; }

Scheduler::WaitToken Scheduler::wait_token() const {
  KERNEL_ASSERT(current_ != nullptr);
  return {current_->id, current_->generation};
}

bool Scheduler::park(Nanos timeout) {
  Task* t = current_;
  KERNEL_ASSERT(t != nullptr);
  if (t->dying) return false;  // never switch while a crash unwinds this stack
  const std::uint64_t gen = t->generation;
  if (timeout != kForever) {
    const Nanos remaining = Nanos(std::numeric_limits<std::int64_t>::max() - now_ns());
    if (timeout < remaining) {
      push_task_event(EventKind::timeout, (now_ + timeout).time_since_epoch().count(), t->id, gen);
    }
  }
  t->parked = true;
  switch_out(t);
  // Resumed: either the timeout event or a wake() for this generation. Any other event still queued
  // for this generation is now stale.
  t->parked = false;
  ++t->generation;
  return t->woken;
}

void Scheduler::wake(WaitToken token) {
  Task* t = find_task(token.task);
  if (t == nullptr) return;
  if (t->generation != token.generation || t->finished || !t->parked) return;
  push_task_event(EventKind::wake, now_ns(), t->id, token.generation);
}

bool Scheduler::is_waiting(WaitToken token) const {
  const Task* t = find_task(token.task);
  if (t == nullptr) return false;
  return t->parked && t->generation == token.generation && !t->dying;
}

void Scheduler::sleep_for(Nanos d) { park(d < Nanos::zero() ? Nanos::zero() : d); }

void Scheduler::yield() { park(Nanos::zero()); }

void Scheduler::destroy_task(TaskId id) {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return;
  std::unique_ptr<Task> owned = std::move(it->second);
  tasks_.erase(it);
  task_by_id_[id] = nullptr;
  Task* t = owned.get();
  t->dying = true;
  Task* prev = current_;
  current_ = t;
  {
    // Destroying a suspended fiber resumes it with an unwinding exception; its destructors run on
    // its own stack and control comes back here.
    ctx::fiber doomed = std::move(t->fiber);
    void* fake_stack = nullptr;
    if (doomed && !t->started) {
      // A fiber that never ran has none of our code on its stack to unwind: run it once so its
      // body sees `dying` and returns at once. Unwinding it instead would switch stacks behind the
      // sanitizer's back (its entry code never announces the switch back), and AddressSanitizer
      // would go on believing this thread lives on a stack that is about to be unmapped.
      asan_start_switch(&fake_stack, stack_bottom(t->stack), t->stack.size);
      doomed = std::move(doomed).resume();
      asan_finish_switch(fake_stack, nullptr, nullptr);
      KERNEL_ASSERT(!doomed);
    } else if (doomed) {
      asan_start_switch(&fake_stack, stack_bottom(t->stack), t->stack.size);
      doomed = ctx::fiber();
      asan_finish_switch(fake_stack, nullptr, nullptr);
    }
  }
  current_ = prev;
}

// ---- nodes -------------------------------------------------------------------------------------

void Scheduler::no_such_node(NodeId id) {
  std::fprintf(stderr, "replsim kernel assertion failed: no node %u\n", id);
  std::abort();
}

NodeId Scheduler::add_node(std::string name, NodeClockSpec clock) {
  Node n;
  n.name = std::move(name);
  n.clock = clock;
  nodes_.push_back(std::move(n));
  return static_cast<NodeId>(nodes_.size() - 1);
}

const std::string& Scheduler::node_name(NodeId id) const {
  static const std::string kHarness;
  if (id == kNoNode) return kHarness;
  return node(id).name;
}

NodeState Scheduler::node_state(NodeId id) const { return node(id).state; }
std::uint64_t Scheduler::incarnation(NodeId id) const { return node(id).incarnation; }

void Scheduler::crash_node(NodeId id, const std::string& reason) {
  KERNEL_ASSERT(current_ == nullptr || current_->node != id);
  Node& n = node(id);
  if (n.state == NodeState::down) return;
  trace_.record(now_ns(), n.name, "node.crash", fmt::format("reason={}", reason));
  n.state = NodeState::down;
  n.held.clear();
  ++n.incarnation;  // drops the node's pending timers
  std::vector<TaskId> victims;
  for (const auto& [tid, task] : tasks_) {
    if (task->node == id) victims.push_back(tid);
  }
  for (TaskId tid : victims) destroy_task(tid);
  for (auto& fn : down_listeners_) fn(id);
}

void Scheduler::crash_self(const std::string& reason) {
  KERNEL_ASSERT(current_ != nullptr && current_->node != kNoNode);
  pending_self_crashes_.emplace_back(current_->node, reason);
  // Park for good: the crash destroys this task (and unwinds this very stack) once it has switched
  // out, so control never comes back here normally.
  for (;;) {
    park(kForever);
    if (current_->dying) throw TaskExit{};
  }
}

void Scheduler::restart_node(NodeId id) {
  Node& n = node(id);
  KERNEL_ASSERT(n.state == NodeState::down);
  n.state = NodeState::up;
  ++n.incarnation;
  trace_.record(now_ns(), n.name, "node.restart", fmt::format("incarnation={}", n.incarnation));
}

void Scheduler::pause_node(NodeId id) {
  Node& n = node(id);
  if (n.state != NodeState::up) return;
  n.state = NodeState::paused;
  trace_.record(now_ns(), n.name, "node.pause", "");
}

void Scheduler::resume_node(NodeId id) {
  Node& n = node(id);
  if (n.state != NodeState::paused) return;
  n.state = NodeState::up;
  trace_.record(now_ns(), n.name, "node.resume", fmt::format("held_wakeups={}", n.held.size()));
  auto held = std::move(n.held);
  n.held.clear();
  for (const auto& [w, by_wake] : held) {
    push_task_event(by_wake ? EventKind::wake : EventKind::timeout, now_ns(), w.task, w.generation);
  }
}

void Scheduler::set_node_clock(NodeId id, NodeClockSpec clock) { node(id).clock = clock; }

Nanos Scheduler::local_now(NodeId id) const {
  const Node& n = node(id);
  // Most nodes keep true time: no 128-bit division for them.
  if (n.clock.drift_ppm == 0) return Nanos(now_ns() + n.clock.offset.count());
  __extension__ using i128 = __int128;
  const i128 global = now_ns();
  const i128 drift = global * n.clock.drift_ppm / 1'000'000;
  return Nanos(static_cast<std::int64_t>(global + drift + n.clock.offset.count()));
}

Nanos Scheduler::local_to_global(NodeId id, Nanos local) const {
  const Node& n = node(id);
  if (n.clock.drift_ppm == 0 || local == kForever) return local;
  __extension__ using i128 = __int128;
  // Rounded up: a wait of d local nanoseconds must bring the local clock at least d further, or a
  // loop that waits for "deadline - now" would wait 0 ns for the last nanosecond, forever.
  const i128 rate = 1'000'000 + n.clock.drift_ppm;
  const i128 scaled = static_cast<i128>(local.count()) * 1'000'000;
  const i128 g = scaled > 0 ? (scaled + rate - 1) / rate : scaled / rate;
  return Nanos(static_cast<std::int64_t>(g));
}

// ---- SimEvent / WaitQueue ----------------------------------------------------------------------

void SimEvent::set() {
  set_ = true;
  // wake() only queues events, so the list cannot change under the loop; clearing it in place keeps
  // its buffer for the next waiter.
  if (has_first_) {
    has_first_ = false;
    sched_.wake(first_);
  }
  for (const auto& w : waiters_) sched_.wake(w);
  waiters_.clear();
}

void forget_waiter(std::vector<Scheduler::WaitToken>& waiters, Scheduler::WaitToken token) {
  for (auto it = waiters.begin(); it != waiters.end(); ++it) {
    if (it->task == token.task && it->generation == token.generation) {
      waiters.erase(it);
      return;
    }
  }
}

void SimEvent::forget(Scheduler::WaitToken token) {
  if (has_first_ && first_.task == token.task && first_.generation == token.generation) {
    has_first_ = false;
  } else {
    forget_waiter(waiters_, token);
  }
}

bool SimEvent::wait(Nanos timeout) {
  if (set_) return true;
  if (timeout == Nanos::zero() || sched_.current_is_dying()) return false;
  const Scheduler::WaitToken me = sched_.wait_token();
  if (!has_first_ && waiters_.empty()) {
    first_ = me;
    has_first_ = true;
  } else {
    waiters_.push_back(me);
  }
  if (!sched_.park(timeout)) forget(me);
  return set_;
}

bool WaitQueue::wait(Nanos timeout) {
  if (sched_.current_is_dying()) return false;
  const Scheduler::WaitToken me = sched_.wait_token();
  waiters_.push_back(me);
  const bool woken = sched_.park(timeout);
  if (!woken) forget_waiter(waiters_, me);
  return woken;
}

void WaitQueue::notify_all() {
  for (const auto& w : waiters_) sched_.wake(w);  // as in SimEvent::set
  waiters_.clear();
}

void WaitQueue::notify_one() {
  // Skip waiters that already gave up (timed out or were unwound) so the notification is not lost.
  while (!waiters_.empty()) {
    Scheduler::WaitToken w = waiters_.front();
    waiters_.erase(waiters_.begin());
    if (sched_.is_waiting(w)) {
      sched_.wake(w);
      return;
    }
  }
}

}  // namespace replsim::kernel
