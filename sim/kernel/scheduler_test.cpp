// Tests of the scheduler: ordering, virtual time, waits with timeouts, node crash/pause/restart,
// and determinism of a randomized fiber workload.
#include "sim/kernel/scheduler.h"

#include <doctest/doctest.h>

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "sim/kernel/rng.h"

using namespace replsim::kernel;
using namespace std::chrono_literals;

TEST_CASE("events run in (time, sequence) order, FIFO on ties") {
  Trace trace;
  Scheduler s(trace);
  std::vector<int> order;
  s.at(SimTime(5ms), [&] { order.push_back(3); });
  s.at(SimTime(1ms), [&] { order.push_back(1); });
  s.at(SimTime(5ms), [&] { order.push_back(4); });
  s.at(SimTime(1ms), [&] { order.push_back(2); });
  CHECK(s.run(SimTime(1s)) == Scheduler::StopReason::idle);
  CHECK(order == std::vector<int>{1, 2, 3, 4});
  CHECK(s.now() == SimTime(5ms));  // idle: the clock stops at the last event
}

TEST_CASE("call timers run in (time, sequence) order with other timers, and not once removed") {
  struct Recorder final : TimerTarget {
    std::vector<int>* order = nullptr;
    void on_timer(std::uint64_t a, std::uint64_t b) override {
      order->push_back(static_cast<int>(a * 10 + b));
    }
  };
  Trace trace;
  Scheduler s(trace);
  std::vector<int> order;
  Recorder rec;
  rec.order = &order;
  Recorder gone;
  gone.order = &order;
  const std::uint32_t target = s.add_timer_target(&rec);
  const std::uint32_t removed = s.add_timer_target(&gone);
  s.at(SimTime(5ms), [&] { order.push_back(1); });
  s.call_at(SimTime(5ms), target, 2, 2);  // 22
  s.call_at(SimTime(1ms), target, 0, 5);  // 5
  s.call_at(SimTime(3ms), removed, 9, 9);
  s.at(SimTime(5ms), [&] { order.push_back(3); });
  s.call_at(SimTime(0ms), target, 4, 4);  // 44, at the current time
  s.remove_timer_target(removed);
  CHECK(s.run(SimTime(1s)) == Scheduler::StopReason::idle);
  CHECK(order == std::vector<int>{44, 5, 1, 22, 3});
  CHECK(s.events_run() == 6);  // a removed target's timer still passes, as an event doing nothing
}

TEST_CASE("timers of repeated and random delays, queued at many times, run in (time, push) order") {
  // Repeated delays go to the queue's FIFO lanes and random ones to its heap; timers queue more
  // timers as time passes, so lanes fill, drain and are taken again by other delays.
  Trace trace;
  Scheduler s(trace);
  Rng rng(7, "lanes");
  struct Queued {
    std::int64_t time_ns;
    int index;
  };
  std::vector<Queued> queued;
  std::vector<int> ran;
  const std::int64_t repeated_ns[] = {1'000'000'000, 5'000'000'000, 250'000'000, 100'000'000, 7,
                                      500'000'000};
  std::function<void(int)> queue_some = [&](int depth) {
    for (int k = 0; k < 6; ++k) {
      const std::int64_t delay_ns = rng.below(3) == 0
                                        ? static_cast<std::int64_t>(rng.below(2'000'000))
                                        : repeated_ns[rng.below(std::size(repeated_ns))];
      const int index = static_cast<int>(queued.size());
      queued.push_back({s.now_ns() + delay_ns, index});
      s.after(Nanos(delay_ns), [&, index, depth] {
        ran.push_back(index);
        if (depth < 4) queue_some(depth + 1);
      });
    }
  };
  queue_some(0);
  CHECK(s.run(SimTime(std::chrono::hours(1))) == Scheduler::StopReason::idle);
  std::vector<Queued> expected = queued;
  std::stable_sort(expected.begin(), expected.end(),
                   [](const Queued& a, const Queued& b) { return a.time_ns < b.time_ns; });
  REQUIRE(ran.size() == expected.size());
  CHECK(ran.size() == 6 + 36 + 216 + 1296 + 7776);
  int out_of_order = 0;
  for (std::size_t k = 0; k < ran.size(); ++k) out_of_order += ran[k] != expected[k].index ? 1 : 0;
  CHECK(out_of_order == 0);
}

TEST_CASE("tasks yielding at one instant take turns in order, however long the burst") {
  // Every yield queues an event due now; thousands of them at one instant pass through the due-now
  // queue's compaction, and a timer queued for the same instant runs at its place in the order.
  Trace trace;
  Scheduler s(trace);
  std::vector<int> turns;
  constexpr int kTasks = 3;
  constexpr int kYields = 1000;
  for (int i = 0; i < kTasks; ++i) {
    s.spawn(kNoNode, fmt::format("t{}", i), [&s, &turns, i] {
      for (int k = 0; k < kYields; ++k) {
        turns.push_back(i);
        s.yield();
      }
    });
  }
  bool timer_ran = false;
  s.at(SimTime(0ns), [&] { timer_ran = true; });
  CHECK(s.run(SimTime(1s)) == Scheduler::StopReason::idle);
  REQUIRE(turns.size() == static_cast<std::size_t>(kTasks * kYields));
  for (std::size_t k = 0; k < turns.size(); ++k) CHECK(turns[k] == static_cast<int>(k % kTasks));
  CHECK(timer_ran);
  CHECK(s.now() == SimTime(0ns));  // the whole burst took no simulated time
}

TEST_CASE("sleeping tasks interleave by virtual time and the clock jumps when idle") {
  Trace trace;
  Scheduler s(trace);
  std::vector<std::string> log;
  s.spawn(kNoNode, "a", [&] {
    for (int i = 0; i < 3; ++i) {
      s.sleep_for(10ms);
      log.push_back(fmt::format("a{}@{}", i, s.now_ns() / 1'000'000));
    }
  });
  s.spawn(kNoNode, "b", [&] {
    s.sleep_for(15ms);
    log.push_back(fmt::format("b@{}", s.now_ns() / 1'000'000));
  });
  s.run(SimTime(1h));
  CHECK(log == std::vector<std::string>{"a0@10", "b@15", "a1@20", "a2@30"});
  CHECK(s.task_count() == 0);
}

TEST_CASE("run stops at the time limit and resumes later") {
  Trace trace;
  Scheduler s(trace);
  int ticks = 0;
  s.spawn(kNoNode, "ticker", [&] {
    for (int i = 0; i < 10; ++i) {
      s.sleep_for(1s);
      ++ticks;
    }
  });
  CHECK(s.run(SimTime(3500ms)) == Scheduler::StopReason::time_limit);
  CHECK(ticks == 3);
  CHECK(s.now() == SimTime(3500ms));
  CHECK(s.run(SimTime(1h)) == Scheduler::StopReason::idle);
  CHECK(ticks == 10);
}

TEST_CASE("park returns true when woken and false on timeout; stale wakes are ignored") {
  Trace trace;
  Scheduler s(trace);
  std::vector<std::string> log;
  Scheduler::WaitToken token{};
  s.spawn(kNoNode, "waiter", [&] {
    token = s.wait_token();
    log.push_back(s.park(100ms) ? "woken" : "timeout");
    log.push_back(fmt::format("t={}", s.now_ns() / 1'000'000));
    token = s.wait_token();
    log.push_back(s.park(10ms) ? "woken" : "timeout");
    log.push_back(fmt::format("t={}", s.now_ns() / 1'000'000));
  });
  s.at(SimTime(40ms), [&] { s.wake(token); });
  s.at(SimTime(40ms), [&] { s.wake(token); });  // duplicate: must not resume the next wait
  s.run(SimTime(1h));
  CHECK(log == std::vector<std::string>{"woken", "t=40", "timeout", "t=50"});
}

TEST_CASE("SimEvent: wait times out, set wakes every waiter, level-triggered") {
  Trace trace;
  Scheduler s(trace);
  SimEvent ev(s);
  int woken = 0, timed_out = 0;
  for (int i = 0; i < 3; ++i) {
    s.spawn(kNoNode, "w", [&] { (ev.wait(1s) ? woken : timed_out)++; });
  }
  s.spawn(kNoNode, "early", [&] { (ev.wait(5ms) ? woken : timed_out)++; });
  s.at(SimTime(10ms), [&] { ev.set(); });
  s.run(SimTime(1h));
  CHECK(woken == 3);
  CHECK(timed_out == 1);
  bool immediate = false;
  s.spawn(kNoNode, "late", [&] { immediate = ev.wait(0ns); });
  s.run(SimTime(2h));
  CHECK(immediate);
}

TEST_CASE("WaitQueue::notify_one skips waiters that already timed out") {
  Trace trace;
  Scheduler s(trace);
  WaitQueue q(s);
  std::vector<std::string> log;
  s.spawn(kNoNode, "impatient", [&] { log.push_back(q.wait(1ms) ? "i:woken" : "i:timeout"); });
  s.spawn(kNoNode, "patient", [&] { log.push_back(q.wait(1s) ? "p:woken" : "p:timeout"); });
  s.at(SimTime(5ms), [&] { q.notify_one(); });
  s.run(SimTime(1h));
  CHECK(log == std::vector<std::string>{"i:timeout", "p:woken"});
}

namespace {
struct Guard {
  int* counter;
  explicit Guard(int* c) : counter(c) {}
  ~Guard() { ++*counter; }
};
}  // namespace

TEST_CASE("crash unwinds every fiber of the node, runs destructors, and blocked calls fail fast") {
  Trace trace;
  Scheduler s(trace);
  const NodeId n = s.add_node("n1");
  const NodeId other = s.add_node("n2");
  int destroyed = 0, finished = 0, park_in_dtor_result = -1;
  struct ParkInDtor {
    Scheduler* s;
    int* out;
    ~ParkInDtor() { *out = s->park(1s) ? 1 : 0; }  // must not switch while unwinding
  };
  for (int i = 0; i < 5; ++i) {
    s.spawn(n, "sleeper", [&] {
      Guard g(&destroyed);
      s.sleep_for(1h);
      ++finished;
    });
  }
  s.spawn(n, "dtor-parks", [&] {
    ParkInDtor p{&s, &park_in_dtor_result};
    SimEvent never(s);
    never.wait(kForever);
    ++finished;
  });
  bool survivor_done = false;
  s.spawn(other, "survivor", [&] {
    s.sleep_for(2s);
    survivor_done = true;
  });
  int n_timer_fired = 0;
  s.after(5s, [&] { ++n_timer_fired; }, n);  // owned by n: dropped by the crash
  s.at(SimTime(1s), [&] { s.crash_node(n, "test"); });
  s.run(SimTime(10h));
  CHECK(destroyed == 5);
  CHECK(finished == 0);
  CHECK(park_in_dtor_result == 0);
  CHECK(survivor_done);
  CHECK(n_timer_fired == 0);
  CHECK(s.node_state(n) == NodeState::down);
  CHECK(s.task_count() == 0);

  s.restart_node(n);
  bool ran_after_restart = false;
  s.spawn(n, "fresh", [&] { ran_after_restart = true; });
  s.run(SimTime(11h));
  CHECK(ran_after_restart);
}

TEST_CASE("crash_self from inside a node's task ends the node after the task yields") {
  Trace trace;
  Scheduler s(trace);
  const NodeId n = s.add_node("n1");
  int destroyed = 0;
  bool after_abort = false;
  s.spawn(n, "other", [&] {
    Guard g(&destroyed);
    s.sleep_for(1h);
  });
  s.spawn(n, "aborter", [&] {
    Guard g(&destroyed);
    s.sleep_for(1s);
    s.crash_self("assertion failed: x");
    after_abort = true;
  });
  s.run(SimTime(2h));
  CHECK(destroyed == 2);
  CHECK_FALSE(after_abort);
  CHECK(s.node_state(n) == NodeState::down);
}

TEST_CASE("pause freezes a node's tasks while time moves on; resume releases them") {
  Trace trace;
  Scheduler s(trace);
  const NodeId n = s.add_node("n1");
  std::vector<std::int64_t> wakes_ms;
  s.spawn(n, "ticker", [&] {
    for (int i = 0; i < 3; ++i) {
      s.sleep_for(100ms);
      wakes_ms.push_back(s.now_ns() / 1'000'000);
    }
  });
  s.at(SimTime(150ms), [&] { s.pause_node(n); });
  s.at(SimTime(1000ms), [&] { s.resume_node(n); });
  s.run(SimTime(1h));
  CHECK(wakes_ms == std::vector<std::int64_t>{100, 1000, 1100});
}

TEST_CASE("node clocks: offset and drift") {
  Trace trace;
  Scheduler s(trace);
  const NodeId fast = s.add_node("fast", {Nanos(5s), 1000});  // +5 s, 1000 ppm fast
  const NodeId plain = s.add_node("plain");
  s.at(SimTime(10s), [] {});
  s.run(SimTime(1h));
  CHECK(s.local_now(plain) == Nanos(10s));
  CHECK(s.local_now(fast) == Nanos(10s) + Nanos(5s) + Nanos(10ms));
  // 1001 ms of fast local time pass in 1000 ms of global time.
  CHECK(s.local_to_global(fast, Nanos(1001ms)) == Nanos(1000ms));
}

TEST_CASE("node clocks: waiting out a local deadline ends, whatever the drift") {
  // A loop that waits "deadline - local now" must reach the deadline: a drifting clock once turned a
  // 1 ns local wait into a 0 ns global one, and such a loop (the cluster bus's) spun forever.
  for (const std::int64_t drift_ppm : {50, -50, 1000, -999, 7}) {
    Trace trace;
    Scheduler s(trace);
    const NodeId node = s.add_node("n", {Nanos(1500ms), drift_ppm});
    int waits = 0;
    bool reached = false;
    s.spawn(node, "waiter", [&] {
      const Nanos deadline = s.local_now(node) + Nanos(987'654'321);
      while (s.local_now(node) < deadline && waits < 100) {
        ++waits;
        const Nanos left = s.local_to_global(node, deadline - s.local_now(node));
        CHECK(left > Nanos::zero());
        s.sleep_for(left);
      }
      reached = s.local_now(node) >= deadline;
    });
    s.run(SimTime(1h));
    CAPTURE(drift_ppm);
    CHECK(reached);
    CHECK(waits <= 3);
  }
}

namespace {

// A randomized workload: nodes with fibers that sleep random amounts, exchange messages through
// mailboxes, and get crashed and restarted at random. Returns the trace hash.
std::uint64_t random_workload(std::uint64_t seed, std::uint64_t* events = nullptr) {
  Trace trace(0);
  Scheduler s(trace);
  Rng faults(seed, "faults");
  constexpr int kNodes = 4;
  struct Mailbox {
    std::vector<std::string> items;
    std::unique_ptr<WaitQueue> q;
  };
  std::vector<Mailbox> boxes(kNodes);
  std::vector<NodeId> ids;
  for (int i = 0; i < kNodes; ++i) {
    ids.push_back(s.add_node(fmt::format("n{}", i)));
    boxes[i].q = std::make_unique<WaitQueue>(s);
  }
  std::function<void(int)> start_node = [&](int i) {
    for (int f = 0; f < 3; ++f) {
      s.spawn(ids[i], fmt::format("worker{}", f), [&, i, f] {
        Rng rng(seed, fmt::format("node{}/f{}/inc{}", i, f, s.incarnation(ids[i])));
        for (int step = 0; step < 200; ++step) {
          s.sleep_for(Nanos(static_cast<std::int64_t>(rng.below(5'000'000))));
          const int to = static_cast<int>(rng.below(kNodes));
          boxes[to].items.push_back(fmt::format("{}.{}.{}", i, f, step));
          s.trace().record(s.now_ns(), s.node_name(ids[i]), "msg.send", boxes[to].items.back());
          boxes[to].q->notify_one();
          if (!boxes[i].items.empty()) {
            s.trace().record(s.now_ns(), s.node_name(ids[i]), "msg.recv", boxes[i].items.front());
            boxes[i].items.erase(boxes[i].items.begin());
          } else {
            boxes[i].q->wait(Nanos(static_cast<std::int64_t>(rng.below(3'000'000))));
          }
        }
      });
    }
  };
  for (int i = 0; i < kNodes; ++i) start_node(i);
  s.spawn(kNoNode, "nemesis", [&] {
    for (int k = 0; k < 20; ++k) {
      s.sleep_for(Nanos(static_cast<std::int64_t>(faults.below(50'000'000))));
      const int victim = static_cast<int>(faults.below(kNodes));
      if (s.node_state(ids[victim]) == NodeState::up) {
        s.crash_node(ids[victim], "nemesis");
        boxes[victim].items.clear();
      } else if (s.node_state(ids[victim]) == NodeState::down) {
        s.restart_node(ids[victim]);
        start_node(victim);
      }
    }
  });
  s.run(SimTime(1h));
  if (events) *events = s.events_run();
  return trace.hash();
}

}  // namespace

TEST_CASE("randomized workload: same seed => same hash, different seeds => different hashes") {
  std::uint64_t events = 0;
  const auto h1 = random_workload(1, &events);
  CHECK(events > 1000);
  CHECK(h1 == random_workload(1));
  CHECK(h1 != random_workload(2));
  // Run several in one process, interleaved: no state leaks between runs.
  const auto h3 = random_workload(3);
  CHECK(random_workload(1) == h1);
  CHECK(random_workload(3) == h3);
}

TEST_CASE("a task spawned but never started is discarded cleanly by a crash") {
  Trace trace;
  Scheduler s(trace);
  const NodeId n = s.add_node("n1");
  bool ran = false;
  s.spawn(n, "never", [&] { ran = true; });
  s.crash_node(n, "before start");
  s.run(SimTime(1s));
  CHECK_FALSE(ran);
  CHECK(s.task_count() == 0);
}

TEST_CASE("destroying the scheduler unwinds tasks that are still parked") {
  int destroyed = 0;
  {
    Trace trace;
    Scheduler s(trace);
    for (int i = 0; i < 3; ++i) {
      s.spawn(kNoNode, "forever", [&] {
        Guard g(&destroyed);
        s.sleep_for(kForever);
      });
    }
    s.run(SimTime(1s));
  }
  CHECK(destroyed == 3);
}
