// core/resp.h — the RESP2 wire protocol: a server-side request parser, reply encoders and a client-side
// reply parser. It owns only byte buffers and parse state; it performs no I/O and reads no clock. It must
// never crash on hostile input, never trust a declared length before the bytes have arrived, and keep
// every buffer under the configured RespLimits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/fifo.h"

namespace replsim::core {

// Bounds that keep one connection's memory finite whatever the peer sends. Defaults follow Redis:
// proto-max-bulk-len 512 MiB, client-query-buffer-limit 1 GiB, 64 KiB inline requests.
struct RespLimits {
  std::size_t max_bulk_bytes = std::size_t{512} * 1024 * 1024;
  // Elements of one multibulk request (or of one array in a reply).
  std::size_t max_args = std::size_t{1024} * 1024;
  // One inline request, and any header line ("*3", "$5", "+OK", ...), counted with its CR.
  std::size_t max_inline_bytes = std::size_t{64} * 1024;
  // Wire bytes of the one request (or reply) still being assembled.
  std::size_t max_query_buffer_bytes = std::size_t{1024} * 1024 * 1024;
  // Arrays inside arrays in a reply; requests are flat.
  std::size_t max_nesting_depth = 64;
};

// Parses Redis's canonical decimal integer form, as Redis's string2ll does: an optional '-', no '+',
// no leading zeros, no spaces, at most 20 characters, within int64. Used for lengths on the wire and
// for integer arguments and values in commands, so "01" or " 1" are rejected the same way everywhere.
std::optional<std::int64_t> parse_int64_strict(std::string_view text);

// ---- server side: requests ----------------------------------------------------------------------

// Splits an incoming byte stream into requests (argv vectors). Bytes may arrive in arbitrary chunks;
// requests are parsed as soon as they are complete and queued in order. The first malformed or
// oversized input sets a sticky error: the requests completed before it are still delivered, nothing
// after it is, and every later feed() is ignored. The caller replies error_reply() and closes.
//
// Usage: feed(chunk); while (auto argv = next()) execute(*argv); if (failed()) reply and close.
// The query-buffer limit is checked after each feed(), so memory stays within the limit plus one chunk.
class RespRequestParser {
 public:
  explicit RespRequestParser(RespLimits limits = {});

  void feed(std::string_view bytes);
  // The next complete request in arrival order; never an empty argv.
  std::optional<std::vector<std::string>> next();
  // The same into `argv`, whose old strings the parser keeps to parse later requests into (their
  // buffers are reused: a server loop then allocates nothing per argument). Returns false, and
  // leaves `argv` empty, when no request is complete.
  bool next_into(std::vector<std::string>& argv);
  // True once a protocol error has been seen (even if requests before it are still queued).
  bool failed() const { return !error_.empty(); }
  // "Protocol error: ..." — the message Redis would put after "-ERR ". Empty unless failed().
  const std::string& error() const { return error_; }
  // The full reply to send before closing: "-ERR Protocol error: ...\r\n".
  std::string error_reply() const;
  // Wire bytes held for the request being assembled (partial line, partial arguments).
  std::size_t pending_bytes() const { return pending_bytes_; }
  std::size_t queued_requests() const { return ready_.size(); }

 private:
  // Where the parser is inside the current request.
  enum class State : std::uint8_t {
    idle,         // between requests: the next byte decides multibulk ('*') or inline
    bulk_header,  // inside a multibulk request, expecting "$<len>\r\n"
    bulk_body,    // copying the declared number of bulk bytes into the current argument
    bulk_crlf,    // expecting the "\r\n" that ends a bulk argument
  };

  void parse_available();
  bool parse_idle();
  bool parse_inline();
  bool parse_multibulk_header();
  bool parse_bulk_header();
  bool parse_bulk_body();
  bool parse_bulk_crlf();
  // One argument is complete: the next one's header, or the request is complete.
  void end_argument();
  void finish_request();
  // The string the next argument goes into: a recycled one (cleared) while argv_ has one.
  std::string& next_argument();
  void fail(std::string message);
  // The next line ending in "\n" from the unread buffer, without its line terminator. Returns
  // nullopt when the line is not complete yet (or an error was set because it is too long).
  std::optional<std::string_view> take_line(std::string_view too_long_message);
  std::string_view unread() const { return input_.substr(read_pos_); }
  void compact();

  RespLimits limits_;
  State state_ = State::idle;
  // What feed() parses: buffer_, or the caller's chunk while nothing was left over (see feed()).
  std::string_view input_;
  std::string buffer_;
  std::size_t read_pos_ = 0;
  std::size_t pending_bytes_ = 0;
  std::int64_t args_remaining_ = 0;
  std::size_t bulk_remaining_ = 0;
  // The request being assembled: its first argc_ strings; any after them are recycled strings
  // waiting to be parsed over, cut off when the request completes.
  std::vector<std::string> argv_;
  std::size_t argc_ = 0;
  std::vector<std::string> spare_;  // a request given back through next_into, for argv_ to reuse
  Fifo<std::vector<std::string>> ready_;
  std::string error_;
};

// ---- replies: encoders --------------------------------------------------------------------------

// Simple strings and errors are one line on the wire, so any CR or LF inside is replaced by a space
// (as Redis does) rather than corrupting the stream. `message` for an error includes its prefix
// ("ERR ...", "WRONGTYPE ...").
std::string encode_simple(std::string_view text);
std::string encode_error(std::string_view message);
std::string encode_integer(std::int64_t value);
std::string encode_bulk(std::string_view bytes);
std::string encode_null_bulk();
std::string encode_array_header(std::size_t count);
std::string encode_null_array();
std::string encode_bulk_array(const std::vector<std::string>& items);
void append_bulk(std::string& out, std::string_view bytes);
// A request (or a logged/replicated command) as a multibulk array of bulk strings.
std::string encode_command(const std::vector<std::string>& argv);

// ---- client side: replies -----------------------------------------------------------------------

// One decoded reply. RESP2's two nulls ("$-1" and "*-1") both decode to type null.
struct RespValue {
  enum class Type : std::uint8_t { simple, error, integer, bulk, null, array };

  Type type = Type::null;
  std::string text;  // simple, error (without the leading '-'), bulk
  std::int64_t integer = 0;
  std::vector<RespValue> elements;  // array

  static RespValue simple(std::string s);
  static RespValue error(std::string s);
  static RespValue from_integer(std::int64_t v);
  static RespValue bulk(std::string s);
  static RespValue null();
  static RespValue array(std::vector<RespValue> items);

  bool is_error() const { return type == Type::error; }
  // A redis-cli-like one-line rendering for logs: OK, (error) ERR x, (integer) 3, "a\x00b", (nil),
  // 1) "a" 2) "b", nested arrays in brackets. Output is cut near max_chars with a note of how much.
  std::string to_display(std::size_t max_chars = 256) const;
  bool operator==(const RespValue& other) const = default;
};

// The wire form of a value; a null encodes as the null bulk "$-1\r\n".
std::string encode_value(const RespValue& value);

// Storage of reply values a client is done with, for the next replies to be parsed into: a client
// reading long LRANGE replies otherwise pays for a new element, and an allocation and a free for
// its text, at every element. One pool
// can serve all of a client's connections (RespReplyParser::use_pool). The values parsed are the same
// either way; only where their bytes live changes.
class RespStringPool {
 public:
  // Keeps the roomiest spent array whole (its elements are parsed over in place later) and the heap
  // buffers of the other arrays' element texts, up to a bound.
  void recycle(RespValue&& spent);
  // Puts an empty string with a heap buffer into `into`; false (and `into` untouched) if none is left.
  bool take_text(std::string& into);
  // Element vector for a top-level array: its old elements are to be overwritten (empty if none).
  std::vector<RespValue> take_elements() { return std::exchange(elements_, {}); }

 private:
  void keep_texts(std::vector<RespValue>& elements);

  std::vector<std::string> texts_;
  std::vector<RespValue> elements_;
};

// Splits a reply stream into values, with the same chunking, bounds and sticky-error behaviour as
// RespRequestParser. Arrays may nest up to limits.max_nesting_depth.
class RespReplyParser {
 public:
  explicit RespReplyParser(RespLimits limits = {});

  void feed(std::string_view bytes);
  std::optional<RespValue> next();
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  std::size_t pending_bytes() const { return pending_bytes_; }
  // Parses top-level arrays over the recycled elements of `pool`, and texts too long for the string
  // at hand into its spare strings (see RespStringPool); nullptr for none. The pool must outlive
  // the parser or be unset first.
  void use_pool(RespStringPool* pool) { pool_ = pool; }

 private:
  struct Frame {
    RespValue array;
    std::size_t remaining = 0;
    // Elements in place so far. array.elements may hold more, left from a recycled value, to be
    // parsed over and cut off when the array completes.
    std::size_t filled = 0;
    // The slot for the array's next element (see open_slot).
    RespValue& open_element();
  };

  void parse_available();
  bool parse_line();
  bool parse_bulk_body();
  // Inside an array: parses the complete bulk strings that come next (an LRANGE reply's elements)
  // in one loop, and stops before anything else, which parse_line takes (see the definition).
  void parse_bulk_run();
  // Where the next complete value goes, and what to do once it is filled in.
  RespValue& open_slot();
  void slot_filled();
  // A complete value of a type with no elements (text only for simple, error and bulk).
  void complete_value(RespValue::Type type, std::string_view text);
  void fail(std::string message);
  std::string_view unread() const { return input_.substr(read_pos_); }
  void compact();

  RespLimits limits_;
  // What feed() parses: buffer_, or the caller's chunk while nothing was left over (see feed()).
  std::string_view input_;
  std::string buffer_;
  std::size_t read_pos_ = 0;
  std::size_t pending_bytes_ = 0;
  // A bulk string whose bytes are still arriving.
  bool in_bulk_ = false;
  std::size_t bulk_remaining_ = 0;
  std::string bulk_;
  std::vector<Frame> stack_;
  Fifo<RespValue> ready_;
  std::string error_;
  RespStringPool* pool_ = nullptr;  // see use_pool()
};

// Owned copies of parsed argument views (a command's argv outlives the buffer it was parsed from).
inline std::vector<std::string> to_strings(const std::vector<std::string_view>& views) {
  return std::vector<std::string>(views.begin(), views.end());
}

}  // namespace replsim::core
