// core/resp.cpp — RESP2 parsing and encoding. Both parsers copy bytes out of their buffer as soon as a
// piece is complete, so a huge bulk string is held once, grows only as its bytes arrive, and never
// causes a re-scan of what was already read.
#include "core/resp.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <utility>

namespace replsim::core {

namespace {

// Never reserve more than this on a peer's say-so: a declared length is a claim, not bytes in hand.
constexpr std::size_t kReserveBytesMax = 16 * 1024;
constexpr std::size_t kReserveArgsMax = 1024;
// Strings RespStringPool::recycle keeps for later values (a few LRANGE replies' worth).
constexpr std::size_t kSpareTextsMax = 4096;
// The read position is compacted away once it passes this many bytes, keeping the buffer O(pending).
constexpr std::size_t kCompactThresholdBytes = 4096;

bool is_inline_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == '\0';
}

int hex_digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Splits an inline request the way redis-cli users expect: whitespace separates arguments, "double
// quotes" take C-like escapes (\n \r \t \b \a \xHH, anything else literal), 'single quotes' take only
// \'. A closing quote must be followed by whitespace or the end of the line. Returns nullopt on
// unbalanced quotes.
std::optional<std::vector<std::string>> split_inline(std::string_view line) {
  std::vector<std::string> args;
  std::size_t i = 0;
  const std::size_t n = line.size();
  while (true) {
    while (i < n && is_inline_space(line[i])) ++i;
    if (i == n) return args;
    std::string current;
    bool in_double = false;
    bool in_single = false;
    bool done = false;
    while (!done) {
      if (in_double) {
        if (i == n) return std::nullopt;
        const char c = line[i];
        if (c == '\\' && i + 3 < n && line[i + 1] == 'x' && hex_digit_value(line[i + 2]) >= 0 &&
            hex_digit_value(line[i + 3]) >= 0) {
          current.push_back(
              static_cast<char>(hex_digit_value(line[i + 2]) * 16 + hex_digit_value(line[i + 3])));
          i += 4;
        } else if (c == '\\' && i + 1 < n) {
          const char e = line[i + 1];
          switch (e) {
            case 'n': current.push_back('\n'); break;
            case 'r': current.push_back('\r'); break;
            case 't': current.push_back('\t'); break;
            case 'b': current.push_back('\b'); break;
            case 'a': current.push_back('\a'); break;
            default: current.push_back(e); break;
          }
          i += 2;
        } else if (c == '"') {
          if (i + 1 < n && !is_inline_space(line[i + 1])) return std::nullopt;
          ++i;
          done = true;
        } else {
          current.push_back(c);
          ++i;
        }
      } else if (in_single) {
        if (i == n) return std::nullopt;
        const char c = line[i];
        if (c == '\\' && i + 1 < n && line[i + 1] == '\'') {
          current.push_back('\'');
          i += 2;
        } else if (c == '\'') {
          if (i + 1 < n && !is_inline_space(line[i + 1])) return std::nullopt;
          ++i;
          done = true;
        } else {
          current.push_back(c);
          ++i;
        }
      } else {
        if (i == n) {
          done = true;
        } else {
          const char c = line[i];
          if (is_inline_space(c)) {
            done = true;
          } else if (c == '"') {
            in_double = true;
          } else if (c == '\'') {
            in_single = true;
          } else {
            current.push_back(c);
          }
          ++i;
        }
      }
    }
    args.push_back(std::move(current));
  }
}

// Appends value in decimal, as fmt's "{}" writes it, without parsing a format string.
template <class Int>
void append_decimal(std::string& out, Int value) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out.append(digits, static_cast<std::size_t>(end - digits));
}

// Appends text with CR and LF turned into spaces, so a one-line reply cannot break the framing of
// the stream.
void append_one_line(std::string& out, std::string_view text) {
  const std::size_t start = out.size();
  out.append(text);
  for (std::size_t i = start; i < out.size(); ++i) {
    if (out[i] == '\r' || out[i] == '\n') out[i] = ' ';
  }
}

// "<prefix><one line of text>\r\n" in one allocation: simple strings and errors are sent per reply.
std::string encode_line(char prefix, std::string_view text) {
  std::string out;
  out.reserve(text.size() + 3);
  out.push_back(prefix);
  append_one_line(out, text);
  out += "\r\n";
  return out;
}

// A byte as it appears in an error message: printable as is, anything else as \xHH, so a message
// never carries raw control bytes.
std::string printable_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return std::string(1, c);
  return fmt::format("\\x{:02x}", u);
}

// Runs parse over bytes, the next chunk of a stream. With nothing left over from earlier chunks
// (the usual case: whole requests and replies arrive together) the chunk is parsed where it lies and
// only an unfinished tail is copied into buffer; otherwise it is appended to buffer first. input is
// what the parser reads, from read_pos on; it points into bytes only while parse runs.
template <class Parse, class Failed>
void parse_chunk(std::string_view& input, std::string& buffer, std::size_t& read_pos, std::string_view bytes,
                 Parse parse, Failed failed) {
  if (buffer.empty()) {
    input = bytes;
    read_pos = 0;
    parse();
    if (!failed()) buffer.assign(input.substr(read_pos));
    read_pos = 0;
  } else {
    buffer.append(bytes);
    input = buffer;
    parse();
  }
  input = buffer;
}

}  // namespace

std::optional<std::int64_t> parse_int64_strict(std::string_view text) {
  // 20 characters is "-9223372036854775808"; anything longer cannot be an int64 in canonical form.
  if (text.empty() || text.size() > 20) return std::nullopt;
  if (text == "0") return 0;
  std::size_t i = 0;
  const bool negative = text[0] == '-';
  if (negative) {
    ++i;
    if (i == text.size()) return std::nullopt;
  }
  if (text[i] < '1' || text[i] > '9') return std::nullopt;
  const std::size_t digits = text.size() - i;
  if (digits <= 18) {
    // Every length and count on the wire takes this path: up to 18 digits cannot overflow an int64,
    // so no per-digit bound is needed.
    std::int64_t value = 0;
    for (; i < text.size(); ++i) {
      const char c = text[i];
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + (c - '0');
    }
    return negative ? -value : value;
  }
  std::uint64_t magnitude = 0;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (magnitude > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
    magnitude = magnitude * 10 + digit;
  }
  constexpr auto kMaxPositive = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (negative) {
    if (magnitude > kMaxPositive + 1) return std::nullopt;
    if (magnitude == kMaxPositive + 1) return std::numeric_limits<std::int64_t>::min();
    return -static_cast<std::int64_t>(magnitude);
  }
  if (magnitude > kMaxPositive) return std::nullopt;
  return static_cast<std::int64_t>(magnitude);
}

// ==== RespRequestParser ==========================================================================

RespRequestParser::RespRequestParser(RespLimits limits) : limits_(limits) {}

void RespRequestParser::feed(std::string_view bytes) {
  if (failed()) return;
  pending_bytes_ += bytes.size();
  parse_chunk(input_, buffer_, read_pos_, bytes, [this] { parse_available(); }, [this] { return failed(); });
  if (!failed() && pending_bytes_ > limits_.max_query_buffer_bytes) {
    fail(fmt::format("Protocol error: request of more than {} bytes exceeds the query buffer limit",
                     limits_.max_query_buffer_bytes));
  }
  compact();
}

std::optional<std::vector<std::string>> RespRequestParser::next() {
  if (ready_.empty()) return std::nullopt;
  std::vector<std::string> argv = std::move(ready_.front());
  ready_.pop_front();
  return argv;
}

bool RespRequestParser::next_into(std::vector<std::string>& argv) {
  if (argv.size() > spare_.size()) spare_ = std::move(argv);
  argv.clear();
  if (ready_.empty()) return false;
  argv = std::move(ready_.front());
  ready_.pop_front();
  return true;
}

std::string RespRequestParser::error_reply() const { return encode_error("ERR " + error_); }


void RespRequestParser::compact() {
  if (read_pos_ == buffer_.size()) {
    buffer_.clear();
    read_pos_ = 0;
  } else if (read_pos_ >= kCompactThresholdBytes && read_pos_ * 2 >= buffer_.size()) {
    buffer_.erase(0, read_pos_);
    read_pos_ = 0;
  }
}

void RespRequestParser::fail(std::string message) {
  error_ = std::move(message);
  // Nothing after the error is ever parsed, so its bytes and the partial request can go.
  input_ = {};
  buffer_.clear();
  buffer_.shrink_to_fit();
  read_pos_ = 0;
  argv_.clear();
  argc_ = 0;
  pending_bytes_ = 0;
}

void RespRequestParser::parse_available() {
  bool progressed = true;
  while (progressed && !failed()) {
    switch (state_) {
      case State::idle: progressed = parse_idle(); break;
      case State::bulk_header: progressed = parse_bulk_header(); break;
      case State::bulk_body: progressed = parse_bulk_body(); break;
      case State::bulk_crlf: progressed = parse_bulk_crlf(); break;
    }
  }
}

std::optional<std::string_view> RespRequestParser::take_line(std::string_view too_long_message) {
  const std::string_view rest = unread();
  const std::size_t newline = rest.find('\n');
  if (newline == std::string_view::npos) {
    if (rest.size() > limits_.max_inline_bytes) fail(std::string(too_long_message));
    return std::nullopt;
  }
  if (newline > limits_.max_inline_bytes) {
    fail(std::string(too_long_message));
    return std::nullopt;
  }
  read_pos_ += newline + 1;
  std::string_view line = rest.substr(0, newline);
  return line;
}

bool RespRequestParser::parse_idle() {
  if (unread().empty()) return false;
  if (unread().front() == '*') return parse_multibulk_header();
  return parse_inline();
}

bool RespRequestParser::parse_inline() {
  std::optional<std::string_view> line = take_line("Protocol error: too big inline request");
  if (!line) return false;
  if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
  std::optional<std::vector<std::string>> args = split_inline(*line);
  if (!args) {
    fail("Protocol error: unbalanced quotes in request");
    return false;
  }
  if (args->size() > limits_.max_args) {
    // Redis has no such bound for inline requests; ours keeps max_args true for every request.
    fail("Protocol error: too many arguments in inline request");
    return false;
  }
  if (args->empty()) {
    // An empty line is a keep-alive some clients send; Redis ignores it and so do we.
    pending_bytes_ = unread().size();
    return true;
  }
  argv_ = std::move(*args);
  argc_ = argv_.size();
  finish_request();
  return true;
}

bool RespRequestParser::parse_multibulk_header() {
  std::optional<std::string_view> line = take_line("Protocol error: too big mbulk count string");
  if (!line) return false;
  // A header line must end in CRLF; a bare LF, or a CR inside, leaves a number that does not parse.
  std::optional<std::int64_t> count;
  if (!line->empty() && line->back() == '\r') {
    count = parse_int64_strict(line->substr(1, line->size() - 2));
  }
  if (!count || *count > static_cast<std::int64_t>(limits_.max_args)) {
    fail("Protocol error: invalid multibulk length");
    return false;
  }
  if (*count <= 0) {
    // "*0" and "*-1" carry no command; Redis skips them silently.
    pending_bytes_ = unread().size();
    return true;
  }
  args_remaining_ = *count;
  // A request given back by the caller is parsed over, its strings keeping their buffers.
  if (spare_.size() > argv_.size()) std::swap(argv_, spare_);
  argc_ = 0;
  argv_.reserve(std::min(static_cast<std::size_t>(*count), kReserveArgsMax));
  state_ = State::bulk_header;
  return true;
}

std::string& RespRequestParser::next_argument() {
  if (argc_ < argv_.size()) {
    std::string& arg = argv_[argc_++];
    arg.clear();
    return arg;
  }
  ++argc_;
  return argv_.emplace_back();
}

bool RespRequestParser::parse_bulk_header() {
  const std::string_view rest = unread();
  if (rest.empty()) return false;
  if (rest.front() != '$') {
    fail(fmt::format("Protocol error: expected '$', got '{}'", printable_byte(rest.front())));
    return false;
  }
  // The usual header, "$<1 to 18 digits, no leading zero>\r\n" within the limits, is read in place;
  // anything else (incomplete, "$0", malformed, too long) goes through take_line and
  // parse_int64_strict, which judge it as they always have.
  std::size_t length = 0;
  std::size_t p = 1;
  if (rest.size() >= 4 && rest[1] >= '1' && rest[1] <= '9') {
    const std::size_t digits_end = std::min<std::size_t>(rest.size(), 19);
    while (p < digits_end && rest[p] >= '0' && rest[p] <= '9') {
      length = length * 10 + static_cast<std::size_t>(rest[p] - '0');
      ++p;
    }
  }
  if (p > 1 && rest.size() - p >= 2 && rest[p] == '\r' && rest[p + 1] == '\n' &&
      p + 1 <= limits_.max_inline_bytes && length <= limits_.max_bulk_bytes) {
    read_pos_ += p + 2;
  } else {
    std::optional<std::string_view> line = take_line("Protocol error: too big bulk count string");
    if (!line) return false;
    std::optional<std::int64_t> parsed;
    if (line->back() == '\r') parsed = parse_int64_strict(line->substr(1, line->size() - 2));
    if (!parsed || *parsed < 0 || static_cast<std::uint64_t>(*parsed) > limits_.max_bulk_bytes) {
      fail("Protocol error: invalid bulk length");
      return false;
    }
    length = static_cast<std::size_t>(*parsed);
  }
  bulk_remaining_ = length;
  const std::string_view body = unread();
  if (body.size() >= bulk_remaining_ + 2 && body[bulk_remaining_] == '\r' && body[bulk_remaining_ + 1] == '\n') {
    // The whole argument is here (the usual case): one copy, and the body and CRLF states are skipped.
    next_argument().assign(body.substr(0, bulk_remaining_));
    read_pos_ += bulk_remaining_ + 2;
    bulk_remaining_ = 0;
    end_argument();
    return true;
  }
  next_argument().reserve(std::min(bulk_remaining_, kReserveBytesMax));
  state_ = State::bulk_body;
  return true;
}

bool RespRequestParser::parse_bulk_body() {
  if (bulk_remaining_ == 0) {
    state_ = State::bulk_crlf;
    return true;
  }
  const std::string_view rest = unread();
  if (rest.empty()) return false;
  const std::size_t take = std::min(rest.size(), bulk_remaining_);
  argv_[argc_ - 1].append(rest.substr(0, take));
  read_pos_ += take;
  bulk_remaining_ -= take;
  return true;
}

bool RespRequestParser::parse_bulk_crlf() {
  const std::string_view rest = unread();
  if (rest.size() < 2) {
    // A wrong first byte is already an error; no need to wait for the second one.
    if (!rest.empty() && rest[0] != '\r') {
      fail("Protocol error: expected '\\r\\n' after bulk string data");
    }
    return false;
  }
  if (rest[0] != '\r' || rest[1] != '\n') {
    fail("Protocol error: expected '\\r\\n' after bulk string data");
    return false;
  }
  read_pos_ += 2;
  end_argument();
  return true;
}

void RespRequestParser::end_argument() {
  --args_remaining_;
  if (args_remaining_ > 0) {
    state_ = State::bulk_header;
  } else {
    finish_request();
  }
}

void RespRequestParser::finish_request() {
  argv_.resize(argc_);  // recycled strings past the request go
  ready_.push_back(std::move(argv_));
  argv_ = {};
  argc_ = 0;
  state_ = State::idle;
  args_remaining_ = 0;
  bulk_remaining_ = 0;
  pending_bytes_ = unread().size();
}

// ==== encoders ===================================================================================

std::string encode_simple(std::string_view text) { return encode_line('+', text); }

std::string encode_error(std::string_view message) { return encode_line('-', message); }

namespace {

// "<prefix><value>\r\n": the header of every bulk string, array and integer reply. With to_chars
// rather than fmt::format, which parsed its format string at each of the many calls.
template <class Int>
void append_header(std::string& out, char prefix, Int value) {
  out += prefix;
  append_decimal(out, value);
  out += "\r\n";
}

// A header line alone, as one string built once from the stack (it fits the string's inline
// buffer: integer replies and array headers are sent per command).
template <class Int>
std::string header_line(char prefix, Int value) {
  char line[24];
  line[0] = prefix;
  char* end = std::to_chars(line + 1, line + sizeof line - 2, value).ptr;
  *end++ = '\r';
  *end++ = '\n';
  return std::string(line, static_cast<std::size_t>(end - line));
}

}  // namespace

std::string encode_integer(std::int64_t value) { return header_line(':', value); }

void append_bulk(std::string& out, std::string_view bytes) {
  out.reserve(out.size() + bytes.size() + 24);
  // The header goes in with one append from the stack: list replies and streams append many bulks.
  char header[24];
  header[0] = '$';
  char* end = std::to_chars(header + 1, header + sizeof header - 2, bytes.size()).ptr;
  *end++ = '\r';
  *end++ = '\n';
  out.append(header, static_cast<std::size_t>(end - header));
  out.append(bytes);
  out.append("\r\n", 2);
}

std::string encode_bulk(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() + 16);
  append_bulk(out, bytes);
  return out;
}

std::string encode_null_bulk() { return "$-1\r\n"; }

std::string encode_array_header(std::size_t count) { return header_line('*', count); }

std::string encode_null_array() { return "*-1\r\n"; }

std::string encode_bulk_array(const std::vector<std::string>& items) {
  std::size_t bytes = 24;
  for (const std::string& item : items) bytes += item.size() + 24;
  std::string out;
  out.reserve(bytes);
  append_header(out, '*', items.size());
  for (const std::string& item : items) append_bulk(out, item);
  return out;
}

std::string encode_command(const std::vector<std::string>& argv) { return encode_bulk_array(argv); }

// ==== RespValue ==================================================================================

RespValue RespValue::simple(std::string s) {
  RespValue v;
  v.type = Type::simple;
  v.text = std::move(s);
  return v;
}

RespValue RespValue::error(std::string s) {
  RespValue v;
  v.type = Type::error;
  v.text = std::move(s);
  return v;
}

RespValue RespValue::from_integer(std::int64_t i) {
  RespValue v;
  v.type = Type::integer;
  v.integer = i;
  return v;
}

RespValue RespValue::bulk(std::string s) {
  RespValue v;
  v.type = Type::bulk;
  v.text = std::move(s);
  return v;
}

RespValue RespValue::null() { return RespValue{}; }

RespValue RespValue::array(std::vector<RespValue> items) {
  RespValue v;
  v.type = Type::array;
  v.elements = std::move(items);
  return v;
}

namespace {

// How a byte is quoted like redis-cli: printable ASCII as is, the usual escapes, anything else as
// \xHH. Writes at most 4 chars to `to` and returns how many.
std::size_t quote_byte(char c, char* to) {
  switch (c) {
    case '\\': to[0] = '\\'; to[1] = '\\'; return 2;
    case '"': to[0] = '\\'; to[1] = '"'; return 2;
    case '\n': to[0] = '\\'; to[1] = 'n'; return 2;
    case '\r': to[0] = '\\'; to[1] = 'r'; return 2;
    case '\t': to[0] = '\\'; to[1] = 't'; return 2;
    case '\a': to[0] = '\\'; to[1] = 'a'; return 2;
    case '\b': to[0] = '\\'; to[1] = 'b'; return 2;
    default: break;
  }
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) {
    to[0] = c;
    return 1;
  }
  constexpr std::string_view kHex = "0123456789abcdef";
  to[0] = '\\';
  to[1] = 'x';
  to[2] = kHex[u >> 4U];
  to[3] = kHex[u & 0xfU];
  return 4;
}

// How many chars quote_byte writes for c, without writing them.
std::size_t quoted_size(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (c == '\\' || c == '"' || c == '\n' || c == '\r' || c == '\t' || c == '\a' || c == '\b') return 2;
  return u >= 0x20 && u < 0x7f ? 1 : 4;
}

// Quotes bytes like redis-cli. Once `out` holds more than max_chars (the caller cuts there) the
// rest is only counted into `skipped`, so a large value is not copied whole to be thrown away.
void append_quoted(std::string& out, std::string_view bytes, std::size_t max_chars, std::size_t& skipped) {
  out.push_back('"');
  char quoted[4];
  std::size_t i = 0;
  const std::size_t n = bytes.size();
  while (i < n && out.size() <= max_chars) {
    // A run of bytes that stand for themselves goes in with one append (values and keys are mostly
    // printable), cut where the byte-by-byte rule would stop: each of them adds one char while the
    // output is within the budget.
    const std::size_t room = max_chars + 1 - out.size();
    std::size_t run = i;
    while (run < n && run - i < room && quoted_size(bytes[run]) == 1) ++run;
    if (run > i) {
      out.append(bytes.data() + i, run - i);
      i = run;
      continue;
    }
    out.append(quoted, quote_byte(bytes[i], quoted));
    ++i;
  }
  for (; i < n; ++i) skipped += quoted_size(bytes[i]);
  if (out.size() <= max_chars) {
    out.push_back('"');
  } else {
    ++skipped;
  }
}

void append_display(std::string& out, const RespValue& v, bool nested, std::size_t max_chars, std::size_t& skipped) {
  // Stop descending once the budget is spent; the caller cuts the result to size anyway.
  if (out.size() > max_chars) return;
  switch (v.type) {
    case RespValue::Type::simple: append_one_line(out, v.text); break;
    case RespValue::Type::error:
      out += "(error) ";
      append_one_line(out, v.text);
      break;
    case RespValue::Type::integer:
      out += "(integer) ";
      append_decimal(out, v.integer);
      break;
    case RespValue::Type::bulk: append_quoted(out, v.text, max_chars, skipped); break;
    case RespValue::Type::null: out += "(nil)"; break;
    case RespValue::Type::array:
      if (v.elements.empty()) {
        out += "(empty array)";
        break;
      }
      if (nested) out.push_back('[');
      for (std::size_t i = 0; i < v.elements.size() && out.size() <= max_chars; ++i) {
        if (i > 0) out.push_back(' ');
        append_decimal(out, i + 1);
        out += ") ";
        append_display(out, v.elements[i], true, max_chars, skipped);
      }
      if (nested) {
        if (out.size() <= max_chars) {
          out.push_back(']');
        } else {
          ++skipped;
        }
      }
      break;
  }
}

void append_encoded(std::string& out, const RespValue& v) {
  switch (v.type) {
    case RespValue::Type::simple: out += encode_simple(v.text); break;
    case RespValue::Type::error: out += encode_error(v.text); break;
    case RespValue::Type::integer: out += encode_integer(v.integer); break;
    case RespValue::Type::bulk: append_bulk(out, v.text); break;
    case RespValue::Type::null: out += encode_null_bulk(); break;
    case RespValue::Type::array:
      out += encode_array_header(v.elements.size());
      for (const RespValue& e : v.elements) append_encoded(out, e);
      break;
  }
}

}  // namespace

std::string RespValue::to_display(std::size_t max_chars) const {
  std::string out;
  std::size_t skipped = 0;  // chars past the budget that were counted, not appended
  append_display(out, *this, false, max_chars, skipped);
  if (out.size() + skipped > max_chars) {
    const std::size_t cut = out.size() + skipped - max_chars;
    out.resize(max_chars);
    out += fmt::format("...(+{} chars)", cut);
  }
  return out;
}

std::string encode_value(const RespValue& value) {
  std::string out;
  append_encoded(out, value);
  return out;
}

// ==== RespReplyParser ============================================================================

RespReplyParser::RespReplyParser(RespLimits limits) : limits_(limits) {}

void RespReplyParser::feed(std::string_view bytes) {
  if (failed()) return;
  pending_bytes_ += bytes.size();
  parse_chunk(input_, buffer_, read_pos_, bytes, [this] { parse_available(); }, [this] { return failed(); });
  if (!failed() && pending_bytes_ > limits_.max_query_buffer_bytes) {
    fail(fmt::format("Protocol error: reply of more than {} bytes exceeds the buffer limit",
                     limits_.max_query_buffer_bytes));
  }
  compact();
}

std::optional<RespValue> RespReplyParser::next() {
  if (ready_.empty()) return std::nullopt;
  RespValue v = std::move(ready_.front());
  ready_.pop_front();
  return v;
}


void RespReplyParser::compact() {
  if (read_pos_ == buffer_.size()) {
    buffer_.clear();
    read_pos_ = 0;
  } else if (read_pos_ >= kCompactThresholdBytes && read_pos_ * 2 >= buffer_.size()) {
    buffer_.erase(0, read_pos_);
    read_pos_ = 0;
  }
}

void RespReplyParser::fail(std::string message) {
  error_ = std::move(message);
  input_ = {};
  buffer_.clear();
  buffer_.shrink_to_fit();
  read_pos_ = 0;
  stack_.clear();
  bulk_.clear();
  in_bulk_ = false;
  pending_bytes_ = 0;
}

RespValue& RespReplyParser::Frame::open_element() {
  if (filled < array.elements.size()) {
    // A recycled element, cleared to what a new one holds; its string keeps its buffer.
    RespValue& slot = array.elements[filled++];
    slot.type = RespValue::Type::null;
    slot.text.clear();
    slot.integer = 0;
    slot.elements.clear();
    return slot;
  }
  ++filled;
  return array.elements.emplace_back();
}

void RespReplyParser::parse_available() {
  bool progressed = true;
  while (progressed && !failed()) {
    if (in_bulk_) {
      progressed = parse_bulk_body();
      continue;
    }
    if (!stack_.empty()) parse_bulk_run();
    progressed = parse_line();
  }
}

void RespReplyParser::parse_bulk_run() {
  // The elements of a long array reply are nearly all "$<len>\r\n<bytes>\r\n" with every byte at
  // hand. Each is put in place here as parse_line would put it, without its per-value dispatch,
  // line search and number parsing. Anything else stops the run and is left to parse_line: another
  // type, a null, "$0", a malformed or incomplete element, a limit hit, and the array's last element
  // (whose completion closes the array), so errors and completions are handled in one place only.
  Frame& top = stack_.back();
  const std::string_view in = input_;
  std::size_t pos = read_pos_;
  while (top.remaining > 1) {
    if (in.size() - pos < 4 || in[pos] != '$' || in[pos + 1] < '1' || in[pos + 1] > '9') break;
    // Up to 18 digits cannot overflow, as in parse_int64_strict; a 19th is left to parse_line.
    std::size_t p = pos + 1;
    const std::size_t digits_end = std::min(in.size(), p + 18);
    std::uint64_t length = 0;
    while (p < digits_end && in[p] >= '0' && in[p] <= '9') {
      length = length * 10 + static_cast<std::uint64_t>(in[p] - '0');
      ++p;
    }
    // p is at the line's CR: the header line runs from pos to its LF at p + 1.
    if (in.size() - p < 2 || in[p] != '\r' || in[p + 1] != '\n' || p + 1 - pos > limits_.max_inline_bytes ||
        length > limits_.max_bulk_bytes) {
      break;
    }
    const std::size_t body = p + 2;
    if (in.size() - body < length + 2 || in[body + length] != '\r' || in[body + length + 1] != '\n') break;
    RespValue& slot = top.open_element();
    slot.type = RespValue::Type::bulk;
    const std::string_view text = in.substr(body, length);
    if (pool_ != nullptr && text.size() > slot.text.capacity()) pool_->take_text(slot.text);
    slot.text.assign(text);
    --top.remaining;  // never the last one: the array stays open
    pos = body + length + 2;
  }
  read_pos_ = pos;
}

void RespStringPool::keep_texts(std::vector<RespValue>& elements) {
  for (RespValue& e : elements) {
    if (texts_.size() >= kSpareTextsMax) return;
    // Only heap buffers are worth keeping: short texts live inside the string itself.
    if (e.text.capacity() > std::string().capacity()) texts_.push_back(std::move(e.text));
  }
}

void RespStringPool::recycle(RespValue&& spent) {
  if (spent.elements.size() > elements_.size()) std::swap(spent.elements, elements_);
  keep_texts(spent.elements);
}

bool RespStringPool::take_text(std::string& into) {
  if (texts_.empty()) return false;
  into = std::move(texts_.back());
  texts_.pop_back();
  into.clear();
  return true;
}

RespValue& RespReplyParser::open_slot() {
  // A value is built where it ends up: in the innermost open array, or in the queue of values.
  if (stack_.empty()) return ready_.emplace_back();
  return stack_.back().open_element();
}

void RespReplyParser::slot_filled() {
  // Every array that fills up completes in turn and goes into the array (or queue) around it.
  while (!stack_.empty()) {
    Frame& top = stack_.back();
    --top.remaining;
    if (top.remaining > 0) return;
    RespValue done = std::move(top.array);
    done.elements.resize(top.filled);  // recycled elements past the end go
    stack_.pop_back();
    open_slot() = std::move(done);
  }
  pending_bytes_ = unread().size();
}

void RespReplyParser::complete_value(RespValue::Type type, std::string_view text) {
  RespValue& slot = open_slot();
  slot.type = type;
  if (pool_ != nullptr && text.size() > slot.text.capacity()) pool_->take_text(slot.text);
  slot.text.assign(text);
  slot_filled();
}

bool RespReplyParser::parse_line() {
  const std::string_view rest = unread();
  if (rest.empty()) return false;
  const std::size_t newline = rest.find('\n');
  if (newline == std::string_view::npos) {
    if (rest.size() > limits_.max_inline_bytes) fail("Protocol error: too big reply line");
    return false;
  }
  if (newline > limits_.max_inline_bytes) {
    fail("Protocol error: too big reply line");
    return false;
  }
  if (newline == 0 || rest[newline - 1] != '\r') {
    fail("Protocol error: reply line not terminated by '\\r\\n'");
    return false;
  }
  const char type = rest[0];
  const std::string_view body = rest.substr(1, newline - 2);
  read_pos_ += newline + 1;
  switch (type) {
    case '+': complete_value(RespValue::Type::simple, body); return true;
    case '-': complete_value(RespValue::Type::error, body); return true;
    case ':': {
      const std::optional<std::int64_t> i = parse_int64_strict(body);
      if (!i) {
        fail("Protocol error: invalid integer reply");
        return false;
      }
      RespValue& slot = open_slot();
      slot.type = RespValue::Type::integer;
      slot.integer = *i;
      slot_filled();
      return true;
    }
    case '$': {
      const std::optional<std::int64_t> length = parse_int64_strict(body);
      if (length && *length == -1) {
        complete_value(RespValue::Type::null, {});
        return true;
      }
      if (!length || *length < 0 || static_cast<std::uint64_t>(*length) > limits_.max_bulk_bytes) {
        fail("Protocol error: invalid bulk length");
        return false;
      }
      const auto size = static_cast<std::size_t>(*length);
      const std::string_view after = rest.substr(newline + 1);
      if (after.size() >= size + 2 && after[size] == '\r' && after[size + 1] == '\n') {
        // The whole string is here (the usual case): one copy, straight into the value.
        read_pos_ += size + 2;
        complete_value(RespValue::Type::bulk, after.substr(0, size));
        return true;
      }
      in_bulk_ = true;
      bulk_remaining_ = static_cast<std::size_t>(*length);
      bulk_.clear();
      bulk_.reserve(std::min(bulk_remaining_, kReserveBytesMax));
      return true;
    }
    case '*': {
      const std::optional<std::int64_t> count = parse_int64_strict(body);
      if (count && *count == -1) {
        complete_value(RespValue::Type::null, {});
        return true;
      }
      if (!count || *count < 0 || static_cast<std::uint64_t>(*count) > limits_.max_args) {
        fail("Protocol error: invalid multibulk length");
        return false;
      }
      if (*count == 0) {
        complete_value(RespValue::Type::array, {});
        return true;
      }
      if (stack_.size() >= limits_.max_nesting_depth) {
        fail("Protocol error: reply nests arrays too deeply");
        return false;
      }
      Frame frame;
      // A top-level array takes a recycled element vector, if the pool has one.
      if (stack_.empty() && pool_ != nullptr) frame.array.elements = pool_->take_elements();
      frame.array.type = RespValue::Type::array;
      frame.array.elements.reserve(std::min(static_cast<std::size_t>(*count), kReserveArgsMax));
      frame.remaining = static_cast<std::size_t>(*count);
      stack_.push_back(std::move(frame));
      return true;
    }
    default:
      fail(fmt::format("Protocol error: unknown reply type '{}'", printable_byte(type)));
      return false;
  }
}

bool RespReplyParser::parse_bulk_body() {
  const std::string_view rest = unread();
  if (bulk_remaining_ > 0) {
    if (rest.empty()) return false;
    const std::size_t take = std::min(rest.size(), bulk_remaining_);
    bulk_.append(rest.substr(0, take));
    read_pos_ += take;
    bulk_remaining_ -= take;
    return true;
  }
  if (rest.size() < 2) {
    if (!rest.empty() && rest[0] != '\r') {
      fail("Protocol error: expected '\\r\\n' after bulk string data");
    }
    return false;
  }
  if (rest[0] != '\r' || rest[1] != '\n') {
    fail("Protocol error: expected '\\r\\n' after bulk string data");
    return false;
  }
  read_pos_ += 2;
  in_bulk_ = false;
  RespValue& slot = open_slot();
  slot.type = RespValue::Type::bulk;
  slot.text = std::move(bulk_);
  bulk_ = {};
  slot_filled();
  return true;
}

}  // namespace replsim::core
