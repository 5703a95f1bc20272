// core/keyspace_test.cpp — tests of the keyspace: snapshot round trips, rejection of corrupt snapshots
// with the offset of the damage, and a digest that depends only on content.
#include "core/keyspace.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

using replsim::core::Err;
using replsim::core::Keyspace;
using replsim::core::List;
using replsim::core::Value;
using replsim::core::ValueType;

namespace {

class TestRng {
 public:
  explicit TestRng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545f4914f6cdd1dULL;
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }

 private:
  std::uint64_t state_;
};

std::string random_text(TestRng& rng, std::size_t max_len) {
  std::string s(rng.below(max_len + 1), '\0');
  for (char& c : s) c = static_cast<char>(rng.below(256));
  return s;
}

Keyspace sample() {
  Keyspace ks;
  ks.put("s", Value{std::string("hello"), std::nullopt});
  ks.put("e", Value{std::string(""), 12345});
  ks.put(std::string("bin\0key", 7), Value{std::string("\0\r\n", 3), std::nullopt});
  ks.put("l", Value{List{"a", "", "c"}, -5});
  return ks;
}

std::string corrupt_message(std::string_view blob) {
  auto result = Keyspace::deserialize(blob);
  REQUIRE_FALSE(result.is_ok());
  CHECK(result.code() == Err::invalid);
  return result.status().message();
}

}  // namespace

TEST_CASE("find, put, erase, keys") {
  Keyspace ks = sample();
  CHECK(ks.size() == 4);
  REQUIRE(ks.find("s") != nullptr);
  CHECK(ks.find("s")->type() == ValueType::string);
  CHECK(ks.find("l")->type() == ValueType::list);
  CHECK(ks.find("l")->list().size() == 3);
  CHECK(ks.find("e")->expire_at_ms == 12345);
  CHECK(ks.find("missing") == nullptr);
  ks.put("s", Value{List{"x"}, std::nullopt});
  CHECK(ks.find("s")->type() == ValueType::list);
  CHECK(ks.size() == 4);
  CHECK(ks.erase("s"));
  CHECK_FALSE(ks.erase("s"));
  CHECK(ks.keys() == std::vector<std::string>{std::string("bin\0key", 7), "e", "l"});
  ks.clear();
  CHECK(ks.empty());
}

TEST_CASE("expiry follows Redis: alive at the instant, gone after") {
  const Value v{std::string("x"), 100};
  CHECK_FALSE(v.is_expired_at(99));
  CHECK_FALSE(v.is_expired_at(100));
  CHECK(v.is_expired_at(101));
  CHECK_FALSE(Value{std::string("x"), std::nullopt}.is_expired_at(INT64_MAX));
}

TEST_CASE("serialize and deserialize round-trip") {
  const Keyspace ks = sample();
  const std::string blob = ks.serialize();
  auto back = Keyspace::deserialize(blob);
  REQUIRE(back.is_ok());
  CHECK(*back == ks);
  CHECK(back->digest() == ks.digest());
  CHECK(back->serialize() == blob);

  auto empty = Keyspace::deserialize(Keyspace().serialize());
  REQUIRE(empty.is_ok());
  CHECK(empty->size() == 0);
  CHECK(Keyspace().digest() == 0);
}

TEST_CASE("random keyspaces round-trip") {
  TestRng rng(99);
  for (int c = 0; c < 200; ++c) {
    Keyspace ks;
    const std::size_t n = rng.below(20);
    for (std::size_t i = 0; i < n; ++i) {
      Value v;
      if (rng.below(2) == 0) {
        v.data = random_text(rng, 30);
      } else {
        List list;
        const std::size_t len = 1 + rng.below(5);
        for (std::size_t j = 0; j < len; ++j) list.push_back(random_text(rng, 10));
        v.data = std::move(list);
      }
      if (rng.below(3) == 0) v.expire_at_ms = static_cast<std::int64_t>(rng.next());
      ks.put(random_text(rng, 8), std::move(v));
    }
    auto back = Keyspace::deserialize(ks.serialize());
    REQUIRE(back.is_ok());
    CHECK(*back == ks);
  }
}

TEST_CASE("digest is independent of insertion order and history") {
  TestRng rng(5);
  std::vector<std::pair<std::string, Value>> entries;
  for (int i = 0; i < 50; ++i) {
    Value v;
    if (i % 3 == 0) {
      v.data = List{random_text(rng, 5), random_text(rng, 5)};
    } else {
      v.data = random_text(rng, 12);
    }
    if (i % 4 == 0) v.expire_at_ms = i * 1000;
    entries.emplace_back("key" + std::to_string(i), std::move(v));
  }
  Keyspace forward;
  for (const auto& [k, v] : entries) forward.put(k, v);
  Keyspace backward;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) backward.put(it->first, it->second);
  // Built the long way round: extra keys, overwrites and list edits that end in the same content.
  Keyspace winding;
  for (const auto& [k, v] : entries) winding.put(k, Value{std::string("junk"), 7});
  winding.put("extra", Value{std::string("x"), std::nullopt});
  for (const auto& [k, v] : entries) {
    if (v.type() == ValueType::list) {
      List built;
      built.push_front(v.list()[1]);
      built.push_front(v.list()[0]);
      winding.put(k, Value{std::move(built), v.expire_at_ms});
    } else {
      winding.put(k, v);
    }
  }
  winding.erase("extra");
  CHECK(forward.digest() == backward.digest());
  CHECK(forward.digest() == winding.digest());
  CHECK(forward.serialize() == winding.serialize());

  // Every kind of content change moves the digest.
  const std::uint64_t base = forward.digest();
  Keyspace changed = forward;
  changed.find("key1")->str() += "!";
  CHECK(changed.digest() != base);
  changed = forward;
  changed.find("key0")->expire_at_ms = 1;
  CHECK(changed.digest() != base);
  changed = forward;
  changed.find("key3")->list().push_back("z");
  CHECK(changed.digest() != base);
  changed = forward;
  changed.put("key1", Value{List{forward.find("key1")->str()}, std::nullopt});
  CHECK(changed.digest() != base);
  changed = forward;
  changed.erase("key2");
  CHECK(changed.digest() != base);
}

TEST_CASE("corrupt snapshots are rejected with the offset and what was expected") {
  const std::string good = sample().serialize();

  CHECK(corrupt_message("") ==
        "keyspace snapshot is corrupt at byte offset 0: expected magic \"RSKS\", found only 0 bytes");
  CHECK(corrupt_message("XXXX" + good.substr(4)) ==
        "keyspace snapshot is corrupt at byte offset 0: expected magic \"RSKS\", found other bytes "
        "(not a keyspace snapshot)");
  std::string bad_version = good;
  bad_version[4] = 9;
  CHECK(corrupt_message(bad_version) ==
        "keyspace snapshot is corrupt at byte offset 4: expected format version 1, found 9");
  CHECK(corrupt_message(good.substr(0, 8)) ==
        "keyspace snapshot is corrupt at byte offset 5: expected entry count (8 bytes), found only 3 "
        "bytes before the end");

  // A huge entry count is refused before anything is reserved for it.
  std::string huge_count = good;
  for (int i = 5; i < 13; ++i) huge_count[i] = '\xff';
  CHECK(corrupt_message(huge_count).find("at byte offset 5: expected an entry count of at most") !=
        std::string::npos);

  // The first key's length sits at offset 13; claim more bytes than exist.
  std::string long_key = good;
  long_key[13 + 6] = 0x10;
  CHECK(corrupt_message(long_key).find("at byte offset 13: expected length of key of entry 0 at most") !=
        std::string::npos);

  // First entry is the 7-byte key "bin\0key": its type byte is at 13 + 8 + 7 = 28.
  std::string bad_type = good;
  bad_type[28] = 7;
  CHECK(corrupt_message(bad_type) ==
        "keyspace snapshot is corrupt at byte offset 28: expected value type 0 (string) or 1 (list), "
        "found 7");
  std::string bad_flags = good;
  bad_flags[29] = 4;
  CHECK(corrupt_message(bad_flags) ==
        "keyspace snapshot is corrupt at byte offset 29: expected flags 0 or 1, found 4");

  CHECK(corrupt_message(good + "z") ==
        fmt::format("keyspace snapshot is corrupt at byte offset {}: expected the end after 4 "
                    "entries, found 1 more bytes",
                    good.size()));
}

TEST_CASE("non-canonical snapshots are rejected") {
  Keyspace one;
  one.put("a", Value{List{"x"}, std::nullopt});
  std::string blob = one.serialize();
  // Layout: magic 4, version 1, count 8, key length 8, "a", type, flags, element count at 24.
  std::string empty_list = blob.substr(0, 24) + std::string(8, '\0');
  CHECK(corrupt_message(empty_list) ==
        "keyspace snapshot is corrupt at byte offset 24: expected a list element count from 1 to 0, "
        "found 0");
  std::string big_list = blob;
  big_list[24 + 7] = 0x40;
  CHECK(corrupt_message(big_list).find(
            "at byte offset 24: expected a list element count from 1 to 1,") != std::string::npos);

  // Two entries with keys out of order (built by hand from two single-entry blobs).
  Keyspace b;
  b.put("b", Value{std::string("1"), std::nullopt});
  Keyspace a;
  a.put("a", Value{std::string("2"), std::nullopt});
  const std::string header_two = std::string("RSKS\x01", 5) + std::string("\x02\0\0\0\0\0\0\0", 8);
  const std::string entry_b = b.serialize().substr(13);
  const std::string entry_a = a.serialize().substr(13);
  CHECK(corrupt_message(header_two + entry_b + entry_a) ==
        fmt::format("keyspace snapshot is corrupt at byte offset {}: expected keys in strictly "
                    "increasing order, entry 1 is not after the one before it",
                    13 + entry_b.size()));
  CHECK(corrupt_message(header_two + entry_a + entry_a).find("strictly increasing") !=
        std::string::npos);
  auto ok = Keyspace::deserialize(header_two + entry_a + entry_b);
  REQUIRE(ok.is_ok());
  CHECK(ok->size() == 2);
}

TEST_CASE("fuzz: every truncation and byte flip of a snapshot is handled") {
  const std::string good = sample().serialize();
  for (std::size_t n = 0; n < good.size(); ++n) {
    CAPTURE(n);
    CHECK_FALSE(Keyspace::deserialize(good.substr(0, n)).is_ok());
  }
  TestRng rng(11);
  int rejected = 0;
  for (int c = 0; c < 5000; ++c) {
    std::string blob = good;
    const std::size_t flips = 1 + rng.below(3);
    for (std::size_t f = 0; f < flips; ++f) {
      blob[rng.below(blob.size())] = static_cast<char>(rng.below(256));
    }
    auto result = Keyspace::deserialize(blob);
    if (!result.is_ok()) {
      ++rejected;
      CHECK(result.status().message().find("at byte offset ") != std::string::npos);
    } else {
      // Whatever was accepted is canonical: it serializes back to exactly the input.
      CHECK(result->serialize() == blob);
    }
  }
  CHECK(rejected > 1000);
}
