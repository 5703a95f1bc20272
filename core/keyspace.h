// core/keyspace.h — the store's in-memory data: keys holding strings or lists, each with an optional
// absolute expiry. It owns the values and their canonical binary form (snapshot blob and content
// digest); it makes no expiry decisions itself (commands do, with a time passed in) and never reads a
// clock. Iteration is always in key order, so nothing it produces depends on how it was built.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/env.h"

namespace replsim::core {

// The tag written to snapshots and hashed into the digest; the numbers are part of the format.
enum class ValueType : std::uint8_t { string = 0, list = 1 };

std::string_view value_type_name(ValueType type);  // "string", "list" (as TYPE answers)

using List = std::deque<std::string>;

struct Value {
  std::variant<std::string, List> data;
  // Absolute time in ms on the clock of the primary that set it. The key is logically gone once
  // now_ms > expire_at_ms (Redis's rule: alive at exactly the expiry instant).
  std::optional<std::int64_t> expire_at_ms;

  ValueType type() const { return data.index() == 0 ? ValueType::string : ValueType::list; }
  bool is_expired_at(std::int64_t now_ms) const { return expire_at_ms && now_ms > *expire_at_ms; }
  // REQUIRES: type() matches.
  std::string& str() { return std::get<std::string>(data); }
  const std::string& str() const { return std::get<std::string>(data); }
  List& list() { return std::get<List>(data); }
  const List& list() const { return std::get<List>(data); }

  bool operator==(const Value& other) const = default;
};

// Keys to values. Invariant (kept by the commands, checked by deserialize): a list is never empty —
// popping the last element deletes the key, as in Redis.
//
// Snapshot format (all integers little-endian):
//   header  "RSKS" magic (4 bytes) | version u8 = 1 | entry count u64
//   entry   key length u64 | key bytes | type u8 (0 string, 1 list) | flags u8 (bit 0: has expiry)
//           | [expire_at_ms i64 if bit 0]
//           | string: length u64 | bytes
//           | list:   element count u64 (>= 1) | (length u64 | bytes) per element, head first
// Entries are in strictly increasing byte order of key, so one keyspace has exactly one blob.
class Keyspace {
 public:
  // The raw entry, expired or not. Callers decide what expiry means for them.
  Value* find(std::string_view key);
  const Value* find(std::string_view key) const;
  // Inserts or replaces the whole value of key.
  Value& put(std::string_view key, Value value);
  // Returns whether the key existed.
  bool erase(std::string_view key);
  void clear() { entries_.clear(); }

  // Physically present keys, including expired ones not yet deleted (what Redis's DBSIZE counts).
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  // All keys in byte order.
  std::vector<std::string> keys() const;

  // A 64-bit hash of the content (keys, types, values, expiries): the sum of per-entry XXH3 hashes of
  // each entry's snapshot encoding, so it is independent of insertion order and history. Empty is 0.
  std::uint64_t digest() const;

  std::string serialize() const;
  // Rebuilds a keyspace from serialize()'s output. Malformed input fails with Err::invalid and a
  // message naming the byte offset and what was expected there; lengths are checked against the
  // bytes actually present before anything is allocated.
  static Result<Keyspace> deserialize(std::string_view blob);

  bool operator==(const Keyspace& other) const = default;

 private:
  std::map<std::string, Value, std::less<>> entries_;
};

}  // namespace replsim::core
