// sim/history.h — the Jepsen-style record of every client operation in a run.
//
// Each operation is recorded when it is invoked and again when it completes: ok (the store answered
// and the answer says it happened), fail (the store answered and the answer says it did not happen,
// e.g. an error reply or MOVED), or unknown (timeout or connection loss: it may or may not have
// happened). Every list push carries a value unique in the run, so duplicates and losses can be
// attributed to one operation. The history is data only: the checks read it after the run.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/resp.h"

namespace replsim::sim {

enum class OpKind : std::uint8_t { get, set, incr, append, del, lpush, rpush, lpop, rpop, lrange, llen };
std::string_view op_kind_name(OpKind kind);
bool op_kind_writes(OpKind kind);

enum class Outcome : std::uint8_t {
  pending,  // invoked, not completed (the run ended first)
  ok,       // definitely happened
  fail,     // definitely did not happen
  unknown,  // may or may not have happened
};
std::string_view outcome_name(Outcome outcome);

// The reply an operation got, as redis-cli would show it (shortened to about 160 chars). Rendering
// every reply while the run goes cost as much as the rest of recording it, and only history.json and
// report.html show it, so a reply is kept as its value and rendered the first time it is read.
// Arrays keep only the elements a rendering can reach.
class ReplyText {
 public:
  ReplyText() = default;
  // Text already rendered (a reply that never came, a test's stand-in).
  ReplyText(std::string shown) : shown_(std::move(shown)) {}  // NOLINT(google-explicit-constructor)
  ReplyText(const char* shown) : shown_(shown) {}             // NOLINT(google-explicit-constructor)
  static ReplyText of(core::RespValue value);
  // The same as of(std::move(value)), but of an array it moves out only the elements a rendering
  // reaches and leaves the rest (and the element vector) in `value`, for reuse.
  static ReplyText of_reached(core::RespValue& value);

  // Renders on first use. Not thread-safe: one thread reads a finished run's history.
  const std::string& str() const;
  operator std::string_view() const { return str(); }  // NOLINT(google-explicit-constructor)

 private:
  mutable std::string shown_;
  mutable bool pending_ = false;  // value_ is not rendered yet
  core::RespValue value_;
};

inline constexpr std::size_t kReplyDisplayChars = 160;

struct Operation {
  std::uint64_t id = 0;
  int client = 0;
  OpKind kind = OpKind::get;
  std::string key;
  // Written values: SET/APPEND value, pushed values (unique), INCR delta, pop count.
  std::vector<std::string> args;
  std::string node;  // the node that answered last (after MOVED redirections)
  std::int64_t invoke_ns = 0;
  std::int64_t complete_ns = -1;
  Outcome outcome = Outcome::pending;
  ReplyText reply;                   // the reply as redis-cli would show it (shortened)
  std::vector<std::string> values;   // values read: GET value, LRANGE elements, popped elements
  // How many values the reply held. For an LRANGE whose elements are all distinct only the first
  // kLrangeValuesKept are kept in `values` (see History::complete); otherwise values.size().
  std::size_t values_total = 0;
  bool read_nil = false;             // GET returned nil / pop on a missing key

  nlohmann::json to_json() const;
};

// An LRANGE of a long list would make the history hold every list many times over. The only check
// that reads LRANGE values looks for an element twice in one reply, so a reply without one keeps just
// this many elements, to show in history.json what the reply began with.
inline constexpr std::size_t kLrangeValuesKept = 8;

class History {
 public:
  // Records an invocation; returns its id (0, 1, 2, ... in invocation order).
  std::uint64_t invoke(int client, OpKind kind, std::string key, std::vector<std::string> args,
                       std::int64_t now_ns);
  // Records the completion of an invoked operation.
  void complete(std::uint64_t id, Outcome outcome, std::int64_t now_ns, std::string node,
                ReplyText reply, std::vector<std::string> values = {}, bool read_nil = false);
  // Records the completion of an operation that got `reply`. With `reads` (an ok GET, pop or LRANGE)
  // the values read come out of the reply (a null is a nil read); an LRANGE copies only what it keeps.
  void complete(std::uint64_t id, Outcome outcome, std::int64_t now_ns, std::string node,
                core::RespValue reply, bool reads);
  // The same, taking from `reply` only what the history keeps: of an array, the few elements its
  // rendering reaches (the rest stays in `reply`, for the caller to hand back to the parser that
  // reads the next replies, see core::RespStringPool); any other value is moved out whole.
  void complete_keeping(std::uint64_t id, Outcome outcome, std::int64_t now_ns, std::string node,
                        core::RespValue& reply, bool reads);

  // A deque: a long run's history grows without the copy (and twice the memory) of a vector's growth.
  const std::deque<Operation>& ops() const { return ops_; }
  Operation& op(std::uint64_t id) { return ops_.at(id); }
  std::size_t size() const { return ops_.size(); }
  std::size_t count(Outcome outcome) const;

  nlohmann::json to_json() const;

 private:
  void finish(Operation& op, Outcome outcome, std::int64_t now_ns, std::string node, ReplyText reply,
              std::vector<std::string> values, bool read_nil);

  std::deque<Operation> ops_;
  std::vector<std::string_view> distinct_scratch_;  // an LRANGE reply's texts for all_distinct, reused
};

// Whether no two of `values` are equal. Compares 64-bit hashes (sorting long strings with common
// prefixes cost more than the rest of a check), and the strings themselves only when two hashes are
// equal.
bool all_distinct(const std::vector<std::string_view>& values);

}  // namespace replsim::sim
