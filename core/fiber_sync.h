// core/fiber_sync.h — a mutex for tasks (fibers) of one node, built on core::Event.
//
// It owns only its wait list; the waiters' events live in the waiting tasks' frames. It never blocks
// in a destructor and stays consistent when the node's tasks are unwound by a crash in any order: a
// waiter that is unwound leaves the list, and a holder that is unwound passes the mutex on.
#pragma once

#include <cstddef>
#include <exception>
#include <list>
#include <memory>

#include "core/env.h"

namespace replsim::core {

// Mutual exclusion between the tasks of one node. Waiters are served first come, first served: on
// unlock the mutex passes straight to the oldest waiter, so a task arriving later never overtakes one
// that is waiting. Not reentrant.
class FiberMutex {
 public:
  explicit FiberMutex(Env& env) : env_(env) {}
  FiberMutex(const FiberMutex&) = delete;
  FiberMutex& operator=(const FiberMutex&) = delete;
  ~FiberMutex() = default;  // REQUIRES: no task waits (the node's tasks are gone)

  // Waits until the mutex is this task's. Returns false, without the mutex, only when the wait ended
  // because the node is crashing; the caller then returns without touching the protected state.
  [[nodiscard]] bool lock() {
    if (!locked_) {
      locked_ = true;
      return true;
    }
    Waiter self{env_.make_event()};
    const auto pos = waiters_.insert(waiters_.end(), &self);
    // Runs on every exit, including a crash unwinding this task's stack.
    struct Leave {
      FiberMutex& mutex;
      Waiter& self;
      std::list<Waiter*>::iterator pos;
      int exceptions_before = std::uncaught_exceptions();
      ~Leave() {
        if (!self.granted) {
          mutex.waiters_.erase(pos);
        } else if (std::uncaught_exceptions() > exceptions_before) {
          mutex.unlock();  // handed over to a task that is being unwound: pass it on
        }
      }
    } leave{*this, self, pos};
    while (!self.granted) {
      if (!self.ready->wait(kForever)) break;
    }
    return self.granted;
  }

  // REQUIRES: the calling task holds the mutex.
  void unlock() {
    if (waiters_.empty()) {
      locked_ = false;
      return;
    }
    Waiter* next = waiters_.front();
    waiters_.pop_front();
    next->granted = true;  // locked_ stays true: ownership moves without a gap
    next->ready->set();
  }

  bool is_locked() const { return locked_; }
  std::size_t waiting() const { return waiters_.size(); }

 private:
  struct Waiter {
    std::unique_ptr<Event> ready;
    bool granted = false;
  };

  Env& env_;
  bool locked_ = false;
  std::list<Waiter*> waiters_;  // oldest first; each points into a waiting task's frame
};

// Holds a FiberMutex for a scope. Check owns() after construction: false means the node is crashing.
class FiberLock {
 public:
  explicit FiberLock(FiberMutex& mutex) : mutex_(mutex), owns_(mutex.lock()) {}
  ~FiberLock() {
    if (owns_) mutex_.unlock();
  }
  FiberLock(const FiberLock&) = delete;
  FiberLock& operator=(const FiberLock&) = delete;

  bool owns() const { return owns_; }

 private:
  FiberMutex& mutex_;
  bool owns_;
};

}  // namespace replsim::core
