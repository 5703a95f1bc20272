// sim/kernel/scheduler.h — the single-threaded event loop, fibers, virtual time and node processes.
//
// One thread runs everything. Events wait in a priority queue ordered by (virtual time, sequence
// number): FIFO on ties, never pointer or hash order. When nothing is runnable the clock jumps to the
// next event. Tasks are Boost.Context fibers on pooled fixed-size stacks (guard-page stacks in debug
// and sanitizer builds). A node is a group of tasks that crash together: crash unwinds every fiber of
// the node with an exception (RAII runs), and a crashing task that tries to block gets an immediate
// failure instead of a context switch. This file knows nothing about the store.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/context/fiber.hpp>

#include "sim/kernel/trace.h"

namespace replsim::kernel {

// Global virtual time: the truth used in traces. Nanoseconds since the start of the run.
struct SimClock {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::duration<rep, period>;
  using time_point = std::chrono::time_point<SimClock>;
  static constexpr bool is_steady = true;
};
using Nanos = std::chrono::nanoseconds;
using SimTime = SimClock::time_point;
inline constexpr Nanos kForever = Nanos::max();

using NodeId = std::uint32_t;
using TaskId = std::uint64_t;
// Tasks of the harness itself (clients, operator, fault injector) belong to no node and never crash.
inline constexpr NodeId kNoNode = 0xffffffffU;

// Thrown inside a task to end it early without an error (e.g. a node abort parks forever instead).
struct TaskExit {};

struct SchedulerConfig {
  std::size_t stack_size_bytes = 0;  // 0: the build's default (larger under sanitizers)
};

// A node's clock: local = global + offset + drift. drift_ppm of 100 means 100 µs fast per second.
struct NodeClockSpec {
  Nanos offset{0};
  std::int64_t drift_ppm = 0;
};

enum class NodeState : std::uint8_t {
  up,      // tasks run
  paused,  // tasks are frozen; their wake-ups are held until resume
  down,    // crashed: no tasks; restart makes it up with a new incarnation
};

// Receives the scheduler's call timers (Scheduler::call_at): the cheap kind for hot paths, such as
// the network's one delivery timer per message. It is called with the two words given to call_at.
class TimerTarget {
 public:
  virtual ~TimerTarget() = default;
  virtual void on_timer(std::uint64_t a, std::uint64_t b) = 0;
};

class Scheduler {
 public:
  explicit Scheduler(Trace& trace, SchedulerConfig config = {});
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // ---- time -----------------------------------------------------------------------------------
  SimTime now() const { return now_; }
  std::int64_t now_ns() const { return now_.time_since_epoch().count(); }
  Trace& trace() { return trace_; }

  // ---- timers (run in the scheduler's own context, never block) -------------------------------
  // A timer owned by a node is dropped if that node crashes before it fires.
  void at(SimTime when, std::function<void()> fn, NodeId owner = kNoNode);
  void after(Nanos delay, std::function<void()> fn, NodeId owner = kNoNode);
  // Call timers: ordered exactly like at() timers, but nothing is allocated or type-erased per
  // timer, and no node's crash drops them. A target is registered once; after remove_timer_target
  // its queued timers do nothing, so remove it before destroying it.
  std::uint32_t add_timer_target(TimerTarget* target);
  void remove_timer_target(std::uint32_t target);
  void call_at(SimTime when, std::uint32_t target, std::uint64_t a, std::uint64_t b);

  // ---- tasks ----------------------------------------------------------------------------------
  TaskId spawn(NodeId node, std::string name, std::function<void()> fn);
  bool in_task() const { return current_ != nullptr; }
  TaskId current_task() const;
  NodeId current_node() const;
  // True while the current task is being unwound by a crash: it must not block.
  bool current_is_dying() const;
  std::size_t task_count() const { return tasks_.size(); }

  // A wait token names one particular wait of one task; waking a stale token does nothing.
  struct WaitToken {
    TaskId task = 0;
    std::uint64_t generation = 0;
  };
  // REQUIRES: in_task(). The token for the current task's next park().
  WaitToken wait_token() const;
  // Suspends the current task until wake(token) or the timeout. Returns true when woken, false on
  // timeout, and false at once if the task's node is crashing.
  bool park(Nanos timeout);
  // Makes the waiting task runnable at the current time (FIFO after already queued events).
  void wake(WaitToken token);
  // True while the token's task is still parked in that very wait.
  bool is_waiting(WaitToken token) const;
  // Suspends the current task for d of global time.
  void sleep_for(Nanos d);
  // Lets every other event at the current time run first.
  void yield();

  // ---- nodes ----------------------------------------------------------------------------------
  NodeId add_node(std::string name, NodeClockSpec clock = {});
  const std::string& node_name(NodeId node) const;
  std::size_t node_count() const { return nodes_.size(); }
  NodeState node_state(NodeId node) const;
  std::uint64_t incarnation(NodeId node) const;
  // Destroys every task of the node (unwinding their stacks), drops its timers, marks it down.
  // Listeners of node-down (network, disk) run afterwards. REQUIRES: not called from a task of
  // that same node (use request_crash from inside).
  void crash_node(NodeId node, const std::string& reason);
  // From inside a node's own task (an abort): the crash happens right after this task yields, and
  // the calling task never resumes.
  [[noreturn]] void crash_self(const std::string& reason);
  void restart_node(NodeId node);  // down -> up with a new incarnation; the harness builds the store
  void pause_node(NodeId node);
  void resume_node(NodeId node);
  void on_node_down(std::function<void(NodeId)> fn) { down_listeners_.push_back(std::move(fn)); }

  // Node-local clock readings.
  void set_node_clock(NodeId node, NodeClockSpec clock);
  Nanos local_now(NodeId node) const;
  // Converts a duration of node-local time to global time (for sleeps on a drifting clock).
  Nanos local_to_global(NodeId node, Nanos local) const;

  // ---- running --------------------------------------------------------------------------------
  // Runs one event. Returns false when the queue is empty.
  bool step();
  enum class StopReason : std::uint8_t { idle, time_limit, event_limit, predicate, stalled };
  // Runs until the queue is empty, the next event is past `until`, `max_events` were run, the run
  // stalls (see set_stall_limit), or `stop()` returns true (checked after each event). Time ends at
  // min(until, last event).
  StopReason run(SimTime until, std::uint64_t max_events = UINT64_MAX,
                 const std::function<bool()>& stop = nullptr);
  // A livelock guard for run(): when `events` events in a row advance simulated time by less than
  // `min_advance`, run() stops with StopReason::stalled. Tasks spinning on yield() or on tiny sleeps
  // do that; real work cannot, since every simulated operation takes time. 0 events: no guard (the
  // default).
  void set_stall_limit(std::uint64_t events, Nanos min_advance);
  // What the last stalled stop saw: the events, the simulated time span and the task resumed last.
  struct StallReport {
    std::uint64_t events = 0;
    std::int64_t from_ns = 0;
    std::int64_t to_ns = 0;
    std::string last_task;  // "task 12 'spin' on c0n0"
  };
  const StallReport& stall_report() const { return stall_report_; }
  // "task <id> '<name>' on <node>" (or "... (ended)") for messages.
  std::string describe_task(TaskId id) const;
  std::uint64_t events_run() const { return events_run_; }
  std::uint64_t fiber_switches() const { return switches_; }
  bool empty() const { return heap_.empty() && due_now_head_ == due_now_.size(); }

 private:
  struct Task;
  struct Node {
    std::string name;
    NodeState state = NodeState::up;
    std::uint64_t incarnation = 1;
    NodeClockSpec clock;
    std::vector<std::pair<WaitToken, bool>> held;  // wake-ups (token, by_wake) held while paused
  };
  enum class EventKind : std::uint8_t { wake, timeout, timer, call };
  // 40 bytes: the queue moves these at every push and pop.
  struct QueuedEvent {
    std::int64_t time_ns;
    std::uint64_t seq;
    std::uint64_t id;     // wake, timeout: the task; timer: its slot in timer_slots_; call: word a
    std::uint64_t stamp;  // wake, timeout: the task's generation; timer: its owner's incarnation;
                          // call: word b
    NodeId owner;         // timer: the node whose crash drops it, or kNoNode; call: the target
    EventKind kind;
  };
  // The heap's entry for one event: its order (time, seq) and where the rest of it waits.
  struct HeapKey {
    std::int64_t time_ns;
    std::uint64_t seq;
    std::uint32_t slot;  // in heap_events_, when lane is kNoLane
    std::uint32_t lane;  // the event is the front of lanes_[lane], or kNoLane
  };
  static constexpr std::uint32_t kNoLane = 0xffffffffU;
  struct Later {
    bool operator()(const HeapKey& a, const HeapKey& b) const {
      return a.time_ns != b.time_ns ? a.time_ns > b.time_ns : a.seq > b.seq;
    }
  };
  // Events pushed with one same delay, in push order, which is their (time, seq) order: the clock
  // never goes back and seq grows. Only its front is in the heap.
  struct Lane {
    std::int64_t delay_ns = 0;  // meaningful while the lane holds events
    std::vector<QueuedEvent> events;
    std::size_t head = 0;  // events[head] is the front
    bool empty() const { return head == events.size(); }
  };
  static constexpr std::size_t kLanes = 4;

  void push(QueuedEvent ev);
  void queue_later(const QueuedEvent& ev);  // an event due after now, into a lane or the heap
  QueuedEvent pop_later();                  // the heap's earliest event
  void replace_top(const HeapKey& key);     // the heap's earliest entry becomes key
  // The earliest event is due_now_'s head. Inline, with find_task and node below: the loop asks
  // these for every event.
  bool next_is_due_now() const {
    if (due_now_head_ == due_now_.size()) return false;
    const QueuedEvent& head = due_now_[due_now_head_];
    return heap_.empty() || Later{}(heap_.front(), HeapKey{head.time_ns, head.seq, 0, kNoLane});
  }
  // The time of the earliest queued event, or nullptr when there is none; due_now is
  // next_is_due_now().
  const std::int64_t* next_time_ns(bool due_now) const {
    if (due_now) return &due_now_[due_now_head_].time_ns;
    return heap_.empty() ? nullptr : &heap_.front().time_ns;
  }
  // step() once next_is_due_now() is known to be due_now.
  bool step_known(bool due_now);
  void push_task_event(EventKind kind, std::int64_t time_ns, TaskId task, std::uint64_t generation);
  void run_event(const QueuedEvent& ev);
  void resume_task(Task* t);
  void switch_out(Task* t);  // from inside task t back to whoever resumed it
  void destroy_task(TaskId id);
  Task* find_task(TaskId id) const {  // nullptr once the task has ended
    return id < task_by_id_.size() ? task_by_id_[id] : nullptr;
  }
  void schedule_resume(WaitToken token);
  Node& node(NodeId id) {
    if (id >= nodes_.size()) no_such_node(id);
    return nodes_[id];
  }
  const Node& node(NodeId id) const {
    if (id >= nodes_.size()) no_such_node(id);
    return nodes_[id];
  }
  [[noreturn]] static void no_such_node(NodeId id);

  Trace& trace_;
  SchedulerConfig config_;
  SimTime now_{};
  std::uint64_t seq_ = 0;
  std::uint64_t events_run_ = 0;
  std::uint64_t switches_ = 0;
  TaskId last_resumed_ = 0;
  std::uint64_t stall_events_ = 0;
  std::int64_t stall_min_advance_ns_ = 0;
  StallReport stall_report_;
  // Events due later: a binary min-heap (std::push_heap/pop_heap with Later) of HeapKeys; each
  // event itself waits in heap_events_[slot] (free slots in free_heap_slots_) or in a lane.
  // A cluster run keeps ~1000 events queued, nearly all of them timeouts of a few fixed lengths
  // (1 s, 5 s) pushed in time order: each such length gets a lane, a FIFO whose front alone is in
  // the heap, so the heap stays small and pushing a timeout costs no sifting. Any delay may take a
  // free lane, and a lane is free again once it is empty; the order is (time, seq) either way.
  // Stale events (the timeout of a wait that a wake-up ended, a timer of a crashed node's old
  // incarnation) stay queued until their time comes: they are counted in events_run_ and
  // limits.events, and advance the clock, as they always have.
  std::vector<HeapKey> heap_;
  std::vector<QueuedEvent> heap_events_;
  std::vector<std::uint32_t> free_heap_slots_;
  std::array<Lane, kLanes> lanes_;
  // The delays last queued on the heap, by a hash of the delay: one seen again gets a free lane.
  std::array<std::int64_t, 64> recent_delays_{};
  // Events pushed for the current time, in push order (due_now_[due_now_head_] is the next); a
  // third of the events (wake-ups) skip the heap this way.
  std::vector<QueuedEvent> due_now_;
  std::size_t due_now_head_ = 0;
  std::vector<std::function<void()>> timer_slots_;
  std::vector<std::uint32_t> free_timer_slots_;
  std::vector<TimerTarget*> timer_targets_;  // by add_timer_target's id; null once removed
  std::map<TaskId, std::unique_ptr<Task>> tasks_;
  // tasks_'s tasks by id (ids are handed out in order), for the lookups of every wake-up and event;
  // tasks_ keeps the id order crash_node and the destructor walk in.
  std::vector<Task*> task_by_id_;
  TaskId next_task_id_ = 1;
  Task* current_ = nullptr;
  std::vector<Node> nodes_;
  std::vector<std::function<void(NodeId)>> down_listeners_;
  std::vector<std::pair<NodeId, std::string>> pending_self_crashes_;
  // Stack allocator shared by all fibers (pooled, or guard-paged in debug builds).
  struct StackPool;
  std::unique_ptr<StackPool> stacks_;
};

// A level-triggered signal tasks wait on with a timeout.
class SimEvent {
 public:
  explicit SimEvent(Scheduler& sched) : sched_(sched) {}
  void set();
  void reset() { set_ = false; }
  bool is_set() const { return set_; }
  bool wait(Nanos timeout);

 private:
  void forget(Scheduler::WaitToken token);

  Scheduler& sched_;
  bool set_ = false;
  // Waiters in FIFO order: first_ (when has_first_) before waiters_. An event nearly always has one
  // waiter at a time, and events are made per operation: the first waits inline, without allocating.
  bool has_first_ = false;
  Scheduler::WaitToken first_;
  std::vector<Scheduler::WaitToken> waiters_;
};

// Tasks waiting for some condition; notify wakes them in FIFO order.
class WaitQueue {
 public:
  explicit WaitQueue(Scheduler& sched) : sched_(sched) {}
  // Parks the current task until notified or timeout; true when notified.
  bool wait(Nanos timeout);
  void notify_all();
  void notify_one();
  bool empty() const { return waiters_.empty(); }

 private:
  Scheduler& sched_;
  std::vector<Scheduler::WaitToken> waiters_;
};

// Removes one task's token from a waiter list after a wait that timed out.
void forget_waiter(std::vector<Scheduler::WaitToken>& waiters, Scheduler::WaitToken token);

}  // namespace replsim::kernel
