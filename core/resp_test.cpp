// core/resp_test.cpp — tests of the RESP2 request parser, the reply encoders and the reply parser:
// exact error messages for each kind of malformed input, chunking independence, bounded allocation,
// and a seeded fuzz run over thousands of mutated request streams.
#include "core/resp.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <new>
#include <string>
#include <vector>

using replsim::core::encode_array_header;
using replsim::core::encode_bulk;
using replsim::core::encode_bulk_array;
using replsim::core::encode_command;
using replsim::core::encode_error;
using replsim::core::encode_integer;
using replsim::core::encode_null_array;
using replsim::core::encode_null_bulk;
using replsim::core::encode_simple;
using replsim::core::encode_value;
using replsim::core::parse_int64_strict;
using replsim::core::RespLimits;
using replsim::core::RespReplyParser;
using replsim::core::RespStringPool;
using replsim::core::RespRequestParser;
using replsim::core::RespValue;

// ---- allocation tracking ------------------------------------------------------------------------
// The test binary replaces global operator new so it can check that no single allocation follows a
// length the peer declared but never sent.
namespace {
std::size_t g_largest_allocation_bytes = 0;
bool g_track_allocations = false;
}  // namespace

// GCC cannot see that this new and delete pair up through malloc and free.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  if (g_track_allocations && size > g_largest_allocation_bytes) g_largest_allocation_bytes = size;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace {

using Argv = std::vector<std::string>;

struct ParseOutcome {
  std::vector<Argv> requests;
  std::string error;
  bool operator==(const ParseOutcome&) const = default;
};

ParseOutcome drain(RespRequestParser& parser) {
  ParseOutcome out;
  while (auto argv = parser.next()) out.requests.push_back(std::move(*argv));
  out.error = parser.error();
  return out;
}

ParseOutcome parse_whole(std::string_view bytes, RespLimits limits = {}) {
  RespRequestParser parser(limits);
  parser.feed(bytes);
  return drain(parser);
}

ParseOutcome parse_bytewise(std::string_view bytes, RespLimits limits = {}) {
  RespRequestParser parser(limits);
  for (char c : bytes) parser.feed(std::string_view(&c, 1));
  return drain(parser);
}

std::string error_of(std::string_view bytes, RespLimits limits = {}) {
  const ParseOutcome whole = parse_whole(bytes, limits);
  // The verdict must not depend on how the bytes were split.
  CHECK(parse_bytewise(bytes, limits) == whole);
  return whole.error;
}

// xorshift64*: a tiny deterministic generator so the fuzz cases are the same on every run.
class TestRng {
 public:
  explicit TestRng(std::uint64_t seed) : state_(seed == 0 ? 0x9e3779b97f4a7c15ULL : seed) {}
  std::uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545f4914f6cdd1dULL;
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
  bool chance(std::size_t one_in) { return below(one_in) == 0; }

 private:
  std::uint64_t state_;
};

std::string random_bytes(TestRng& rng, std::size_t max_len, bool binary) {
  const std::size_t n = rng.below(max_len + 1);
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    if (binary) {
      s.push_back(static_cast<char>(rng.below(256)));
    } else {
      s.push_back(static_cast<char>('a' + rng.below(26)));
    }
  }
  return s;
}

}  // namespace

// ---- integers -----------------------------------------------------------------------------------

TEST_CASE("parse_int64_strict accepts only Redis's canonical integers") {
  CHECK(parse_int64_strict("0") == 0);
  CHECK(parse_int64_strict("7") == 7);
  CHECK(parse_int64_strict("-12") == -12);
  CHECK(parse_int64_strict("9223372036854775807") == INT64_MAX);
  CHECK(parse_int64_strict("-9223372036854775808") == INT64_MIN);
  for (const char* bad : {"", "-", "+1", "01", "-0", " 1", "1 ", "1a", "9223372036854775808",
                          "-9223372036854775809", "99999999999999999999", "123456789012345678901",
                          "1.5", "0x10"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_int64_strict(bad).has_value());
  }
}

// ---- requests: the good paths -------------------------------------------------------------------

TEST_CASE("multibulk requests parse whole and byte by byte") {
  const std::string wire = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*1\r\n$4\r\nPING\r\n";
  const ParseOutcome expected{{{"SET", "k", "hello"}, {"PING"}}, ""};
  CHECK(parse_whole(wire) == expected);
  CHECK(parse_bytewise(wire) == expected);
}

TEST_CASE("bulk strings are binary safe") {
  const std::string value("a\0b\r\nc\n\r", 8);
  const std::string wire = encode_command({"SET", "k", value});
  const ParseOutcome out = parse_bytewise(wire);
  REQUIRE(out.requests.size() == 1);
  CHECK(out.requests[0][2] == value);
  CHECK(out.error.empty());
}

TEST_CASE("empty bulk strings and empty multibulks") {
  CHECK(parse_whole("*2\r\n$4\r\nECHO\r\n$0\r\n\r\n") == ParseOutcome{{{"ECHO", ""}}, ""});
  // "*0" and negative counts carry no command and are skipped, as Redis does.
  CHECK(parse_whole("*0\r\n*-1\r\n*-10\r\n*1\r\n$4\r\nPING\r\n") == ParseOutcome{{{"PING"}}, ""});
}

TEST_CASE("inline requests") {
  CHECK(parse_whole("PING\r\n") == ParseOutcome{{{"PING"}}, ""});
  CHECK(parse_whole("set  k   v\n") == ParseOutcome{{{"set", "k", "v"}}, ""});
  CHECK(parse_whole("\r\n\n  \r\nPING\r\n") == ParseOutcome{{{"PING"}}, ""});
  CHECK(parse_whole("SET k \"a b\\n\\x41\"\r\n") == ParseOutcome{{{"SET", "k", "a b\nA"}}, ""});
  CHECK(parse_whole("SET k 'it\\'s'\r\n") == ParseOutcome{{{"SET", "k", "it's"}}, ""});
  CHECK(parse_whole("ECHO \"\"\r\n") == ParseOutcome{{{"ECHO", ""}}, ""});
  // An incomplete inline line waits for its newline.
  RespRequestParser parser;
  parser.feed("PIN");
  CHECK_FALSE(parser.next().has_value());
  parser.feed("G\r\n");
  CHECK(parser.next() == Argv{"PING"});
}

TEST_CASE("inline and multibulk requests mix on one connection") {
  CHECK(parse_bytewise("PING\r\n*2\r\n$4\r\nECHO\r\n$1\r\nx\r\nDBSIZE\r\n") ==
        ParseOutcome{{{"PING"}, {"ECHO", "x"}, {"DBSIZE"}}, ""});
}

// ---- requests: malformed input ------------------------------------------------------------------

TEST_CASE("malformed multibulk counts") {
  const std::string kInvalid = "Protocol error: invalid multibulk length";
  CHECK(error_of("*abc\r\n") == kInvalid);
  CHECK(error_of("*\r\n") == kInvalid);
  CHECK(error_of("*+1\r\n") == kInvalid);
  CHECK(error_of("*01\r\n") == kInvalid);
  CHECK(error_of("*1 \r\n") == kInvalid);
  CHECK(error_of("*99999999999999999999999\r\n") == kInvalid);
  CHECK(error_of("*1048577\r\n") == kInvalid);  // one more than max_args
  CHECK(error_of("*1\n") == kInvalid);          // LF without CR
  CHECK(error_of("*1\rX\n") == kInvalid);
  RespLimits small;
  small.max_args = 3;
  CHECK(error_of("*4\r\n", small) == kInvalid);
  CHECK(error_of("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", small).empty());
  CHECK(error_of("a b c\r\n", small).empty());
  CHECK(error_of("a b c d\r\n", small) == "Protocol error: too many arguments in inline request");
}

TEST_CASE("malformed bulk headers") {
  const std::string kInvalid = "Protocol error: invalid bulk length";
  CHECK(error_of("*1\r\n$-1\r\n") == kInvalid);
  CHECK(error_of("*1\r\n$-5\r\n") == kInvalid);
  CHECK(error_of("*1\r\n$abc\r\n") == kInvalid);
  CHECK(error_of("*1\r\n$\r\n") == kInvalid);
  CHECK(error_of("*1\r\n$3\n") == kInvalid);
  CHECK(error_of("*1\r\n$536870913\r\n") == kInvalid);  // 512 MiB + 1
  CHECK(error_of("*1\r\n$99999999999999999999\r\n") == kInvalid);
  CHECK(error_of("*1\r\nx3\r\n") == "Protocol error: expected '$', got 'x'");
  CHECK(error_of("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n") == "Protocol error: expected '$', got 'f'");
  CHECK(error_of(std::string("*1\r\n\x01", 5)) == "Protocol error: expected '$', got '\\x01'");
  CHECK(error_of("*1\r\n:1\r\n") == "Protocol error: expected '$', got ':'");
}

TEST_CASE("bulk data must end in CRLF") {
  const std::string kMissing = "Protocol error: expected '\\r\\n' after bulk string data";
  CHECK(error_of("*1\r\n$3\r\nfooXY") == kMissing);
  CHECK(error_of("*1\r\n$3\r\nfoo\rX") == kMissing);
  CHECK(error_of("*1\r\n$3\r\nfoo\n\r") == kMissing);
  CHECK(error_of("*1\r\n$3\r\nfoobar\r\n") == kMissing);
  // A lone CR is not an error yet: the LF may still come.
  CHECK(error_of("*1\r\n$3\r\nfoo\r").empty());
}

TEST_CASE("oversized lines") {
  RespLimits limits;
  limits.max_inline_bytes = 100;
  const std::string long_text(150, 'a');
  CHECK(error_of(long_text, limits) == "Protocol error: too big inline request");
  CHECK(error_of(long_text + "\r\n", limits) == "Protocol error: too big inline request");
  // The limit counts the line with its CR, as a line still waiting for its LF is counted.
  CHECK(error_of(std::string(99, 'a') + "\r\n", limits).empty());
  CHECK(error_of(std::string(100, 'a') + "\r\n", limits) == "Protocol error: too big inline request");
  CHECK(error_of("*" + std::string(150, '1'), limits) == "Protocol error: too big mbulk count string");
  CHECK(error_of("*1\r\n$" + std::string(150, '1'), limits) ==
        "Protocol error: too big bulk count string");
  // The default limit is Redis's 64 KiB.
  CHECK(error_of(std::string(64 * 1024 + 1, 'a')) == "Protocol error: too big inline request");
}

TEST_CASE("unbalanced quotes") {
  const std::string kUnbalanced = "Protocol error: unbalanced quotes in request";
  CHECK(error_of("SET k \"abc\r\n") == kUnbalanced);
  CHECK(error_of("SET k 'abc\r\n") == kUnbalanced);
  CHECK(error_of("SET k \"abc\"def\r\n") == kUnbalanced);
  CHECK(error_of("SET k 'abc'def\r\n") == kUnbalanced);
}

TEST_CASE("a request larger than the query buffer limit is refused") {
  RespLimits limits;
  limits.max_query_buffer_bytes = 1000;
  RespRequestParser parser(limits);
  parser.feed("*2\r\n$4\r\nECHO\r\n$5000\r\n");
  CHECK_FALSE(parser.failed());
  parser.feed(std::string(990, 'x'));
  CHECK(parser.failed());
  CHECK(parser.error() ==
        "Protocol error: request of more than 1000 bytes exceeds the query buffer limit");
  CHECK(parser.error_reply() ==
        "-ERR Protocol error: request of more than 1000 bytes exceeds the query buffer limit\r\n");
  CHECK(parser.pending_bytes() == 0);
  // Many small complete requests never count against the limit.
  RespRequestParser many(limits);
  std::string wire;
  for (int i = 0; i < 500; ++i) wire += "*1\r\n$4\r\nPING\r\n";
  many.feed(wire);
  CHECK_FALSE(many.failed());
  CHECK(many.queued_requests() == 500);
}

TEST_CASE("errors are sticky and requests before the error are still delivered") {
  RespRequestParser parser;
  parser.feed("PING\r\n*1\r\n$4\r\nECHO\r\n*x\r\n*1\r\n$4\r\nPING\r\n");
  CHECK(parser.failed());
  CHECK(parser.next() == Argv{"PING"});
  CHECK(parser.next() == Argv{"ECHO"});
  CHECK_FALSE(parser.next().has_value());
  parser.feed("PING\r\n");
  CHECK_FALSE(parser.next().has_value());
  CHECK(parser.error() == "Protocol error: invalid multibulk length");
  CHECK(parser.error_reply() == "-ERR Protocol error: invalid multibulk length\r\n");
}

TEST_CASE("declared lengths do not drive allocation") {
  RespRequestParser parser;
  g_largest_allocation_bytes = 0;
  g_track_allocations = true;
  parser.feed("*1000000\r\n$536870912\r\nabc");
  g_track_allocations = false;
  CHECK_FALSE(parser.failed());
  CHECK(g_largest_allocation_bytes < 64 * 1024);
  CHECK(parser.pending_bytes() == 25);

  RespReplyParser replies;
  g_largest_allocation_bytes = 0;
  g_track_allocations = true;
  replies.feed("*1000000\r\n*1000000\r\n$536870912\r\nabc");
  g_track_allocations = false;
  CHECK_FALSE(replies.failed());
  CHECK(g_largest_allocation_bytes < 256 * 1024);
}

TEST_CASE("a large bulk fed in small chunks arrives intact") {
  std::string value;
  for (int i = 0; i < 300000; ++i) value.push_back(static_cast<char>(i * 7));
  const std::string wire = encode_command({"SET", "big", value});
  RespRequestParser parser;
  for (std::size_t at = 0; at < wire.size(); at += 1000) {
    parser.feed(std::string_view(wire).substr(at, 1000));
  }
  auto argv = parser.next();
  REQUIRE(argv.has_value());
  CHECK((*argv)[2] == value);
  CHECK(parser.pending_bytes() == 0);
}

// ---- requests: fuzz -----------------------------------------------------------------------------

namespace {

std::string random_request_wire(TestRng& rng, std::vector<Argv>& sent) {
  Argv argv;
  const std::size_t argc = 1 + rng.below(5);
  const bool inline_form = rng.chance(4);
  for (std::size_t i = 0; i < argc; ++i) argv.push_back(random_bytes(rng, 12, !inline_form));
  if (inline_form) {
    std::string line;
    bool any = false;
    for (const std::string& a : argv) {
      if (a.empty()) continue;
      line += a + " ";
      any = true;
    }
    if (!any) return {};
    Argv words;
    for (const std::string& a : argv) {
      if (!a.empty()) words.push_back(a);
    }
    sent.push_back(words);
    return line + (rng.chance(2) ? "\r\n" : "\n");
  }
  sent.push_back(argv);
  return encode_command(argv);
}

void mutate(TestRng& rng, std::string& wire) {
  const std::size_t kinds = 6;
  const std::size_t mutations = 1 + rng.below(4);
  for (std::size_t m = 0; m < mutations && !wire.empty(); ++m) {
    const std::size_t at = rng.below(wire.size());
    switch (rng.below(kinds)) {
      case 0: wire[at] = static_cast<char>(rng.below(256)); break;
      case 1: wire.erase(at, 1 + rng.below(4)); break;
      case 2: wire.insert(at, random_bytes(rng, 6, true)); break;
      case 3: wire.resize(at); break;
      case 4: {
        // Swap a length digit for another, the classic off-by-some header.
        static constexpr char kSpecial[] = {'*', '$', '-', '0', '9', '\r', '\n', ' ', '"', '\''};
        wire[at] = kSpecial[rng.below(sizeof kSpecial)];
        break;
      }
      case 5: wire.insert(at, wire.substr(rng.below(wire.size()), rng.below(16))); break;
    }
  }
}

}  // namespace

TEST_CASE("fuzz: mutated request streams never crash and never depend on chunking") {
  TestRng rng(0x5eed5eedULL);
  constexpr int kCases = 6000;
  int failed_cases = 0;
  int clean_cases = 0;
  for (int c = 0; c < kCases; ++c) {
    std::vector<Argv> sent;
    std::string wire;
    const std::size_t requests = 1 + rng.below(6);
    for (std::size_t r = 0; r < requests; ++r) wire += random_request_wire(rng, sent);
    const bool mutated = !rng.chance(5);
    if (mutated) mutate(rng, wire);

    RespLimits limits;
    if (rng.chance(3)) {
      limits.max_args = 1 + rng.below(6);
      limits.max_bulk_bytes = rng.below(16);
      limits.max_inline_bytes = 1 + rng.below(40);
    }

    const ParseOutcome whole = parse_whole(wire, limits);
    RespRequestParser chunked_parser(limits);
    for (std::size_t at = 0; at < wire.size();) {
      const std::size_t n = 1 + rng.below(9);
      chunked_parser.feed(std::string_view(wire).substr(at, n));
      at += n;
    }
    const ParseOutcome chunked = drain(chunked_parser);
    CAPTURE(c);
    CHECK(chunked == whole);
    for (const Argv& argv : whole.requests) CHECK_FALSE(argv.empty());
    if (!whole.error.empty()) {
      ++failed_cases;
      CHECK(whole.error.rfind("Protocol error: ", 0) == 0);
      // Sticky: more valid input changes nothing.
      chunked_parser.feed("PING\r\n");
      CHECK_FALSE(chunked_parser.next().has_value());
    }
    if (!mutated && limits.max_args == RespLimits{}.max_args) {
      ++clean_cases;
      CHECK(whole.error.empty());
      CHECK(whole.requests == sent);
    }
  }
  // The mutations must actually reach the error paths, and clean streams must be exercised too.
  CHECK(failed_cases > kCases / 4);
  CHECK(clean_cases > kCases / 20);
}

TEST_CASE("next_into gives the requests next gives, parsing later ones over the strings handed back") {
  TestRng rng(0xa11ce);
  for (int c = 0; c < 2000; ++c) {
    std::vector<Argv> sent;
    std::string wire;
    const std::size_t requests = 1 + rng.below(6);
    for (std::size_t r = 0; r < requests; ++r) wire += random_request_wire(rng, sent);
    if (rng.chance(3)) mutate(rng, wire);
    RespLimits limits;
    if (rng.chance(3)) {
      limits.max_bulk_bytes = rng.below(16);
      limits.max_inline_bytes = 1 + rng.below(40);
    }
    const ParseOutcome whole = parse_whole(wire, limits);
    // Drained after every chunk into one argv, as a server loop does: each request is parsed into
    // the strings of the one before it.
    RespRequestParser parser(limits);
    ParseOutcome recycled;
    Argv argv = {"left", "over", "from an earlier connection and long enough to be on the heap"};
    for (std::size_t at = 0; at < wire.size();) {
      const std::size_t n = 1 + rng.below(9);
      parser.feed(std::string_view(wire).substr(at, n));
      at += n;
      while (parser.next_into(argv)) recycled.requests.push_back(argv);
      CHECK(argv.empty());
    }
    recycled.error = parser.error();
    CAPTURE(c);
    CHECK(recycled == whole);
  }
}

// ---- encoders -----------------------------------------------------------------------------------

TEST_CASE("reply encoders produce exact RESP2 bytes") {
  CHECK(encode_simple("OK") == "+OK\r\n");
  CHECK(encode_simple("a\r\nb") == "+a  b\r\n");
  CHECK(encode_error("ERR bad") == "-ERR bad\r\n");
  CHECK(encode_error("ERR x\ny") == "-ERR x y\r\n");
  CHECK(encode_integer(0) == ":0\r\n");
  CHECK(encode_integer(-42) == ":-42\r\n");
  CHECK(encode_integer(INT64_MIN) == ":-9223372036854775808\r\n");
  CHECK(encode_bulk("") == "$0\r\n\r\n");
  CHECK(encode_bulk(std::string("a\0b", 3)) == std::string("$3\r\na\0b\r\n", 9));
  CHECK(encode_null_bulk() == "$-1\r\n");
  CHECK(encode_array_header(3) == "*3\r\n");
  CHECK(encode_null_array() == "*-1\r\n");
  CHECK(encode_bulk_array({}) == "*0\r\n");
  CHECK(encode_bulk_array({"a", "bc"}) == "*2\r\n$1\r\na\r\n$2\r\nbc\r\n");
  CHECK(encode_command({"GET", "k"}) == "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
}

// ---- replies: parser ----------------------------------------------------------------------------

namespace {

RespValue random_value(TestRng& rng, int depth) {
  switch (rng.below(depth > 3 ? 5 : 6)) {
    case 0: return RespValue::simple(random_bytes(rng, 10, false));
    case 1: return RespValue::error("ERR " + random_bytes(rng, 10, false));
    case 2: return RespValue::from_integer(static_cast<std::int64_t>(rng.next()));
    case 3: return RespValue::bulk(random_bytes(rng, 20, true));
    case 4: return RespValue::null();
    default: {
      std::vector<RespValue> items;
      const std::size_t n = rng.below(5);
      for (std::size_t i = 0; i < n; ++i) items.push_back(random_value(rng, depth + 1));
      return RespValue::array(std::move(items));
    }
  }
}

std::vector<RespValue> parse_replies(std::string_view wire, std::size_t chunk, std::string* error,
                                     RespLimits limits = {}) {
  RespReplyParser parser(limits);
  std::vector<RespValue> out;
  for (std::size_t at = 0; at < wire.size(); at += chunk) parser.feed(wire.substr(at, chunk));
  while (auto v = parser.next()) out.push_back(std::move(*v));
  if (error) *error = parser.error();
  return out;
}

std::string reply_error_of(std::string_view wire, RespLimits limits = {}) {
  std::string whole;
  std::string bytewise;
  parse_replies(wire, wire.size() + 1, &whole, limits);
  parse_replies(wire, 1, &bytewise, limits);
  CHECK(whole == bytewise);
  return whole;
}

}  // namespace

TEST_CASE("reply parser decodes every type") {
  std::string error;
  // The wire holds a NUL, so it is built with an explicit length.
  static constexpr char kWire[] =
      "+OK\r\n-ERR no\r\n:-7\r\n$3\r\na\0b\r\n$-1\r\n*-1\r\n*0\r\n*2\r\n:1\r\n*1\r\n$0\r\n\r\n";
  const std::string wire(kWire, sizeof kWire - 1);
  const auto parsed = parse_replies(wire, 1, &error);
  CHECK(error.empty());
  REQUIRE(parsed.size() == 8);
  CHECK(parsed[0] == RespValue::simple("OK"));
  CHECK(parsed[1] == RespValue::error("ERR no"));
  CHECK(parsed[2] == RespValue::from_integer(-7));
  CHECK(parsed[3] == RespValue::bulk(std::string("a\0b", 3)));
  CHECK(parsed[4] == RespValue::null());
  CHECK(parsed[5] == RespValue::null());
  CHECK(parsed[6] == RespValue::array({}));
  CHECK(parsed[7] ==
        RespValue::array({RespValue::from_integer(1), RespValue::array({RespValue::bulk("")})}));
}

TEST_CASE("reply parser round-trips random values under random chunking") {
  TestRng rng(42);
  for (int c = 0; c < 2000; ++c) {
    std::vector<RespValue> values;
    std::string wire;
    const std::size_t n = 1 + rng.below(4);
    for (std::size_t i = 0; i < n; ++i) {
      values.push_back(random_value(rng, 0));
      wire += encode_value(values.back());
    }
    std::string error;
    CAPTURE(c);
    CHECK(parse_replies(wire, 1 + rng.below(7), &error) == values);
    CHECK(error.empty());
  }
}

TEST_CASE("reply parser with a string pool parses the same values, reusing recycled storage") {
  TestRng rng(7);
  RespStringPool pool;
  RespReplyParser pooled;
  pooled.use_pool(&pool);
  RespReplyParser plain;
  for (int c = 0; c < 500; ++c) {
    // Arrays of texts longer than a string holds inline, as LRANGE replies are, and other values.
    RespValue value;
    if (rng.below(3) != 0) {
      std::vector<RespValue> items;
      const std::size_t n = rng.below(40);
      for (std::size_t i = 0; i < n; ++i) {
        items.push_back(rng.below(4) == 0 ? random_value(rng, 1) : RespValue::bulk(random_bytes(rng, 200, true)));
      }
      value = RespValue::array(std::move(items));
    } else {
      value = random_value(rng, 0);
    }
    const std::string wire = encode_value(value);
    const std::size_t chunk = 1 + rng.below(64);
    for (std::size_t at = 0; at < wire.size(); at += chunk) {
      pooled.feed(std::string_view(wire).substr(at, chunk));
      plain.feed(std::string_view(wire).substr(at, chunk));
    }
    auto a = pooled.next();
    auto b = plain.next();
    CAPTURE(c);
    REQUIRE(a.has_value());
    REQUIRE(b.has_value());
    CHECK(*a == value);
    CHECK(*b == value);
    pool.recycle(std::move(*a));
  }
  CHECK_FALSE(pooled.failed());
  // A pool keeps the roomiest array whole, for its elements to be parsed over, and hands out the
  // heap buffers of the others' texts: an empty string with a buffer, then nothing.
  RespStringPool small;
  std::string into = "kept";
  CHECK_FALSE(small.take_text(into));
  CHECK(into == "kept");
  small.recycle(RespValue::array({RespValue::bulk("a"), RespValue::bulk("b"), RespValue::bulk("c")}));
  CHECK_FALSE(small.take_text(into));
  CHECK(small.take_elements().size() == 3);
  CHECK(small.take_elements().empty());
  small.recycle(RespValue::array({RespValue::bulk("a"), RespValue::bulk("b"), RespValue::bulk("c")}));
  small.recycle(RespValue::array({RespValue::bulk(std::string(100, 'x')), RespValue::bulk("s")}));
  REQUIRE(small.take_text(into));
  CHECK(into.empty());
  CHECK(into.capacity() >= 100);
  CHECK_FALSE(small.take_text(into));
}

TEST_CASE("reply parser rejects malformed replies") {
  CHECK(reply_error_of("?x\r\n") == "Protocol error: unknown reply type '?'");
  CHECK(reply_error_of(":12a\r\n") == "Protocol error: invalid integer reply");
  CHECK(reply_error_of("$-2\r\n") == "Protocol error: invalid bulk length");
  CHECK(reply_error_of("$x\r\n") == "Protocol error: invalid bulk length");
  CHECK(reply_error_of("*-2\r\n") == "Protocol error: invalid multibulk length");
  CHECK(reply_error_of("*2000000\r\n") == "Protocol error: invalid multibulk length");
  CHECK(reply_error_of("+OK\n") == "Protocol error: reply line not terminated by '\\r\\n'");
  CHECK(reply_error_of("$3\r\nabcd\r\n") == "Protocol error: expected '\\r\\n' after bulk string data");
  RespLimits limits;
  limits.max_nesting_depth = 3;
  CHECK(reply_error_of("*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", limits) ==
        "Protocol error: reply nests arrays too deeply");
  CHECK(reply_error_of("*1\r\n*1\r\n*1\r\n:1\r\n", limits).empty());
  limits.max_inline_bytes = 10;
  CHECK(reply_error_of("+" + std::string(20, 'a'), limits) == "Protocol error: too big reply line");
  limits.max_query_buffer_bytes = 50;
  RespReplyParser parser(limits);
  parser.feed("$100\r\n" + std::string(60, 'a'));
  CHECK(parser.error() == "Protocol error: reply of more than 50 bytes exceeds the buffer limit");
}

TEST_CASE("reply parser reads an array's bulk elements the same whole as byte by byte") {
  // Fed whole, the bulk elements before an array's last take the parser's run-of-elements path;
  // fed byte by byte, none do. Values and errors must not tell the two apart.
  std::string error;
  const std::string wire = "*5\r\n$3\r\nabc\r\n$10\r\n0123456789\r\n:5\r\n$0\r\n\r\n$2\r\nxy\r\n+OK\r\n";
  const std::vector<RespValue> expected = {
      RespValue::array({RespValue::bulk("abc"), RespValue::bulk("0123456789"), RespValue::from_integer(5),
                        RespValue::bulk(""), RespValue::bulk("xy")}),
      RespValue::simple("OK")};
  CHECK(parse_replies(wire, wire.size(), &error) == expected);
  CHECK(error.empty());
  CHECK(parse_replies(wire, 1, &error) == expected);
  CHECK(error.empty());
  CHECK(reply_error_of("*3\r\n$1\r\na\r\n$03\r\nabc\r\n$1\r\nb\r\n") == "Protocol error: invalid bulk length");
  CHECK(reply_error_of("*3\r\n$1\r\na\r\n$1234567890123456789\r\nx\r\n$1\r\nb\r\n") ==
        "Protocol error: invalid bulk length");
  CHECK(reply_error_of("*3\r\n$1\r\na\r\n$2\r\nabc\r\n$1\r\nb\r\n") ==
        "Protocol error: expected '\\r\\n' after bulk string data");
  CHECK(reply_error_of("*3\r\n$1\r\na\r\n$2\nab\r\n$1\r\nb\r\n") ==
        "Protocol error: reply line not terminated by '\\r\\n'");
  RespLimits limits;
  limits.max_bulk_bytes = 4;
  CHECK(reply_error_of("*3\r\n$1\r\na\r\n$5\r\nabcde\r\n$1\r\nb\r\n", limits) ==
        "Protocol error: invalid bulk length");
  limits = {};
  limits.max_inline_bytes = 3;
  CHECK(reply_error_of("*3\r\n$1\r\na\r\n$10\r\n0123456789\r\n$1\r\nb\r\n", limits) ==
        "Protocol error: too big reply line");
  CHECK(reply_error_of("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", limits).empty());
}

TEST_CASE("reply parser fuzz: mutated replies never crash") {
  TestRng rng(7);
  RespLimits limits;
  limits.max_nesting_depth = 4;
  for (int c = 0; c < 3000; ++c) {
    std::string wire = encode_value(random_value(rng, 0)) + encode_value(random_value(rng, 0));
    mutate(rng, wire);
    std::string whole;
    std::string chunked;
    const auto a = parse_replies(wire, wire.size() + 1, &whole, limits);
    const auto b = parse_replies(wire, 1 + rng.below(5), &chunked, limits);
    CAPTURE(c);
    CHECK(a == b);
    CHECK(whole == chunked);
  }
}

TEST_CASE("to_display renders like redis-cli on one line") {
  CHECK(RespValue::simple("OK").to_display() == "OK");
  CHECK(RespValue::error("ERR x").to_display() == "(error) ERR x");
  CHECK(RespValue::from_integer(3).to_display() == "(integer) 3");
  CHECK(RespValue::null().to_display() == "(nil)");
  CHECK(RespValue::bulk(std::string("a\"\n\0\xff", 5)).to_display() == "\"a\\\"\\n\\x00\\xff\"");
  CHECK(RespValue::array({}).to_display() == "(empty array)");
  CHECK(RespValue::array({RespValue::bulk("a"), RespValue::array({RespValue::from_integer(1),
                                                                  RespValue::null()})})
            .to_display() == "1) \"a\" 2) [1) (integer) 1 2) (nil)]");
  const std::string shown = RespValue::bulk(std::string(1000, 'x')).to_display(20);
  CHECK(shown == "\"" + std::string(19, 'x') + "...(+982 chars)");
  // A cut value shows what the whole rendering begins with and counts everything after the cut,
  // escapes included, wherever the cut falls (the rest is counted, not rendered).
  std::string bytes;
  for (int i = 0; i < 300; ++i) bytes += std::string("ab\n\x01\"", 5);
  const RespValue nested = RespValue::array({RespValue::from_integer(7),
                                             RespValue::array({RespValue::bulk("x"), RespValue::bulk(bytes)})});
  for (const RespValue& v : {RespValue::bulk(bytes), nested}) {
    const std::string whole = v.to_display(100000);
    // (An array stops before an element that starts past the budget: cuts inside the big value.)
    const std::size_t start = whole.find("ab");
    for (const std::size_t max : {start + 1, start + 17, start + 18, start + 19, start + 40, whole.size() - 1}) {
      CHECK(v.to_display(max) == whole.substr(0, max) + "...(+" + std::to_string(whole.size() - max) + " chars)");
    }
    CHECK(v.to_display(whole.size()) == whole);
  }
  CHECK(nested.to_display(1) == "1...(+2 chars)");  // "1) " and nothing of the elements past the budget
}
