// core/env.h — the store's only window on the world.
//
// Every effect the store has (time, tasks, network, disk, randomness, logging, fault hooks) goes
// through an Env passed into its constructor. The simulator implements it on the deterministic kernel
// (sim/sim_env.*); a later real mode implements it on sockets and files. Nothing in core/ may include a
// simulator header or reach the OS directly. Calls look blocking; inside they yield the calling task.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace replsim::core {

// Node-local time. Each node sees its own clock, which may be offset from and drift against others,
// so values from two nodes must never be compared.
struct LocalClock {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::duration<rep, period>;
  using time_point = std::chrono::time_point<LocalClock>;
  static constexpr bool is_steady = false;
};
using Nanos = std::chrono::nanoseconds;
using LocalTime = LocalClock::time_point;

// Waits that should not time out pass kForever.
inline constexpr Nanos kForever = Nanos::max();

// Operational error codes. They are values, not exceptions: the store decides what each one means.
enum class Err : std::uint8_t {
  none = 0,
  timeout,    // the wait ran out before the operation completed
  reset,      // the peer or the network reset the connection
  refused,    // nothing listens at that address, or the node is down
  closed,     // orderly end of stream, or the handle was closed locally
  io_error,   // EIO from the disk
  no_space,   // ENOSPC from the disk
  not_found,  // no such file
  invalid,    // bad argument (offset past end, bad name)
  shutdown,   // the calling node is crashing; the operation was not performed
};

std::string_view err_name(Err e);

// Outcome of an operation: ok, or an error code with a message naming the object and the reason.
class Status {
 public:
  Status() = default;
  Status(Err code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return {}; }

  bool is_ok() const { return code_ == Err::none; }
  explicit operator bool() const { return is_ok(); }
  Err code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string to_string() const;

 private:
  Err code_ = Err::none;
  std::string message_;
};

// A value or a Status explaining why there is none.
template <class T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {}  // NOLINT(google-explicit-constructor)
  Result(Err code, std::string message) : status_(code, std::move(message)) {}

  bool is_ok() const { return value_.has_value(); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const { return status_; }
  Err code() const { return status_.code(); }
  // REQUIRES: is_ok().
  T& value() { return *value_; }
  const T& value() const { return *value_; }
  T& operator*() { return *value_; }
  T* operator->() { return &*value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

// A signal a task can wait on, with a timeout. Level-triggered: once set, waits return at once
// until reset.
class Event {
 public:
  virtual ~Event() = default;
  virtual void set() = 0;
  virtual void reset() = 0;
  virtual bool is_set() const = 0;
  // Returns true when the event is set, false when the timeout ran out (or the node is crashing).
  virtual bool wait(Nanos timeout) = 0;
};

// One end of a reliable, ordered byte stream (TCP-like).
class Connection {
 public:
  virtual ~Connection() = default;  // closes the connection
  // Queues bytes for delivery; does not wait. Fails with reset/closed once the stream is broken.
  virtual Status send(std::string_view bytes) = 0;
  // Waits for at least one byte (at most max_bytes). Err::closed means the peer closed in order.
  // A zero timeout never waits: with nothing buffered (and the stream not ended) it returns
  // Err::timeout at once, so a task serving many connections can read what each one has.
  virtual Result<std::string> recv(std::size_t max_bytes, Nanos timeout) = 0;
  // Readiness, for one task serving many connections instead of a task parked in recv on each:
  // callback is called whenever a parked recv would be woken, i.e. when bytes arrive, when the
  // stream ends or is reset, and when this end is closed; and at once, from this call, when one of
  // those has already happened and is not yet consumed (unread bytes, the end of the stream). It may
  // be called when nothing is left to read (another reader took it): recv with a zero timeout tells.
  // It runs in whatever context the Env delivers bytes in (in simulation: the network's delivery
  // timer, outside any task, or inside the task whose call broke the stream), so it must never block;
  // setting an Event, noting which connection is ready and spawning a task are fine. A new callback
  // replaces the old one, an empty one removes it, and it is never called once this Connection is
  // destroyed.
  virtual void set_on_readable(std::function<void()> callback) = 0;
  virtual void close() = 0;
  // "host:port" of the other end, for logs.
  virtual std::string peer() const = 0;
};

class Listener {
 public:
  virtual ~Listener() = default;  // stops listening
  virtual Result<std::unique_ptr<Connection>> accept(Nanos timeout) = 0;
};

// Handle of a spawned task. The store cancels its own tasks cooperatively (a flag or an Event the task
// waits on); a crash of the node ends every task of the node by unwinding its stack.
struct TaskInfo {
  std::uint64_t id = 0;
};

// Unwinding of a crashed node's tasks goes through exceptions: code in core/ must never swallow an
// exception it did not expect (no catch-all without rethrow) and must never block in a destructor.
class Env {
 public:
  virtual ~Env() = default;

  // ---- identity -------------------------------------------------------------------------------
  // Stable name of this node (e.g. "c0n1") and the host part of its address (for MOVED replies).
  virtual std::string node_name() const = 0;
  virtual std::string host() const = 0;

  // ---- clock and tasks ------------------------------------------------------------------------
  virtual LocalTime now() const = 0;
  virtual void sleep_for(Nanos d) = 0;
  virtual TaskInfo spawn(std::string name, std::function<void()> fn) = 0;
  virtual std::unique_ptr<Event> make_event() = 0;

  // ---- network --------------------------------------------------------------------------------
  virtual Result<std::unique_ptr<Listener>> listen(std::uint16_t port) = 0;
  virtual Result<std::unique_ptr<Connection>> connect(const std::string& host, std::uint16_t port,
                                                      Nanos timeout) = 0;

  // ---- disk: flat file names inside the node's own directory ----------------------------------
  // append and write_at create a missing file. Data reaches stable storage only after sync(name)
  // (contents) and sync_dir() (the file's existence under that name, renames and removals).
  virtual Status append(const std::string& name, std::string_view data) = 0;
  virtual Status write_at(const std::string& name, std::uint64_t offset, std::string_view data) = 0;
  virtual Result<std::string> read_at(const std::string& name, std::uint64_t offset,
                                      std::size_t length) = 0;
  // read_at into `out` (replaced; its buffer is reused): what a reader going over a log page by page
  // calls, so it does not allocate a string per read. The default goes through read_at.
  virtual Status read_at_into(const std::string& name, std::uint64_t offset, std::size_t length,
                              std::string& out);
  virtual Result<std::uint64_t> file_size(const std::string& name) = 0;
  virtual Status truncate(const std::string& name, std::uint64_t length) = 0;
  virtual Status sync(const std::string& name) = 0;
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  virtual Status remove(const std::string& name) = 0;
  virtual Result<std::vector<std::string>> list_files() = 0;  // sorted by name
  virtual Status sync_dir() = 0;

  // ---- randomness, logging, fault hooks -------------------------------------------------------
  // This node's own deterministic stream.
  virtual std::uint64_t random_u64() = 0;
  // A structured event for the trace: kind is a short dotted id ("aof.truncate_tail"), detail is
  // "key=value" pairs separated by spaces.
  virtual void log(std::string_view kind, std::string_view detail) = 0;
  // FoundationDB-style code-level fault injection; always false outside simulation.
  virtual bool buggify(std::string_view site) = 0;
  // An internal invariant broke: the node stops (in simulation it crashes and the no-abort check
  // records the message). Never returns.
  [[noreturn]] virtual void abort(std::string_view why) = 0;
  // A deliberate stop on an operational error the store cannot continue after (e.g. an AOF write
  // failed under fsync always, as Redis exits): the node goes down like a crash, but this is not an
  // internal assertion, so it is not a no-abort violation. Never returns.
  [[noreturn]] virtual void exit_on_error(std::string_view why);

  // Uniform in [0, n) without modulo bias. REQUIRES: n > 0.
  std::uint64_t random_below(std::uint64_t n);
};

}  // namespace replsim::core
