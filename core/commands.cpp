// core/commands.cpp — the command table and the data command handlers. Each handler validates all of
// its arguments before it touches the keyspace, so an error reply never comes with a partial change
// (other than the lazy deletion of an expired key, which is a change of its own with its own DEL).
#include "core/commands.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <utility>

#include "core/duplication_format.h"
#include "core/resp.h"

namespace replsim::core {

// ==== the command table ==========================================================================

namespace {

using namespace cmd_flag;

constexpr CommandOwner kData = CommandOwner::data;
constexpr CommandOwner kStore = CommandOwner::store;

// Redis 7's arity, flags and key specs for each command. Sorted by name (checked in a test).
constexpr std::array kBuiltinCommands = {
    CommandSpec{"append", 3, write | fast, 1, 1, 1, kData},
    CommandSpec{"auth", -2, no_auth | fast | loading | stale, 0, 0, 0, kStore},
    CommandSpec{"cluster", -2, admin | stale, 0, 0, 0, kStore},
    CommandSpec{"config", -2, admin | loading | stale, 0, 0, 0, kStore},
    CommandSpec{"dbsize", 1, readonly | fast, 0, 0, 0, kData},
    CommandSpec{"debug", -2, admin | loading | stale, 0, 0, 0, kStore},
    CommandSpec{"del", -2, write, 1, -1, 1, kData},
    CommandSpec{"echo", 2, fast, 0, 0, 0, kData},
    CommandSpec{"exists", -2, readonly | fast, 1, -1, 1, kData},
    CommandSpec{"flushall", -1, write, 0, 0, 0, kData},
    CommandSpec{"get", 2, readonly | fast, 1, 1, 1, kData},
    CommandSpec{"incr", 2, write | fast, 1, 1, 1, kData},
    CommandSpec{"incrby", 3, write | fast, 1, 1, 1, kData},
    CommandSpec{"info", -1, loading | stale, 0, 0, 0, kStore},
    CommandSpec{"llen", 2, readonly | fast, 1, 1, 1, kData},
    CommandSpec{"lpop", -2, write | fast, 1, 1, 1, kData},
    CommandSpec{"lpush", -3, write | fast, 1, 1, 1, kData},
    CommandSpec{"lrange", 4, readonly, 1, 1, 1, kData},
    CommandSpec{"ping", -1, fast | stale, 0, 0, 0, kData},
    CommandSpec{"rpop", -2, write | fast, 1, 1, 1, kData},
    CommandSpec{"rpush", -3, write | fast, 1, 1, 1, kData},
    CommandSpec{"save", 1, admin, 0, 0, 0, kStore},
    CommandSpec{"set", -3, write, 1, 1, 1, kData},
    CommandSpec{"type", 2, readonly | fast, 1, 1, 1, kData},
    CommandSpec{"wait", 3, 0, 0, 0, 0, kStore},
};

}  // namespace

bool CommandSpec::arity_ok(std::size_t argc) const {
  if (arity >= 0) return argc == static_cast<std::size_t>(arity);
  return argc >= static_cast<std::size_t>(-arity);
}

std::span<const CommandSpec> builtin_commands() { return kBuiltinCommands; }

const CommandSpec* find_command(std::string_view lowercase_name) {
  auto it = std::lower_bound(kBuiltinCommands.begin(), kBuiltinCommands.end(), lowercase_name,
                             [](const CommandSpec& spec, std::string_view n) { return spec.name < n; });
  if (it == kBuiltinCommands.end() || it->name != lowercase_name) return nullptr;
  return &*it;
}

CommandTable::CommandTable() {
  for (const CommandSpec& spec : kBuiltinCommands) specs_.emplace(spec.name, spec);
}

void CommandTable::add(const CommandSpec& spec) { specs_.insert_or_assign(spec.name, spec); }

const CommandSpec* CommandTable::find(std::string_view lowercase_name) const {
  auto it = specs_.find(lowercase_name);
  return it == specs_.end() ? nullptr : &it->second;
}

std::vector<std::size_t> command_key_positions(const CommandSpec& spec,
                                               const std::vector<std::string>& argv) {
  std::vector<std::size_t> out;
  if (spec.first_key <= 0 || spec.key_step <= 0) return out;
  const auto argc = static_cast<std::int64_t>(argv.size());
  const std::int64_t last = spec.last_key < 0 ? argc + spec.last_key : spec.last_key;
  for (std::int64_t i = spec.first_key; i <= last && i < argc; i += spec.key_step) {
    out.push_back(static_cast<std::size_t>(i));
  }
  return out;
}

std::string lowercase_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string wrong_arity_error(std::string_view lowercase_name) {
  return fmt::format("ERR wrong number of arguments for '{}' command", lowercase_name);
}

std::string unknown_command_error(const std::vector<std::string>& argv) {
  // Redis formats these with C strings: a NUL ends an argument early, the name is cut at 128 bytes, and
  // arguments are listed only while the list is under 128 bytes, the last one cut to fit.
  constexpr std::size_t kPartBytesMax = 128;
  auto c_string = [](std::string_view s) { return s.substr(0, s.find('\0')); };
  const std::string_view name = argv.empty() ? std::string_view{} : c_string(argv[0]);
  std::string args;
  for (std::size_t i = 1; i < argv.size() && args.size() < kPartBytesMax; ++i) {
    args += "'";
    args += c_string(argv[i]).substr(0, kPartBytesMax - args.size() + 1);
    args += "' ";
  }
  return fmt::format("ERR unknown command '{}', with args beginning with: {}",
                     name.substr(0, kPartBytesMax), args);
}

// ==== execution ==================================================================================

namespace {

// One command's run: the inputs, the reply being built and the effects being recorded.
class Exec {
 public:
  Exec(Keyspace& keyspace, const std::vector<std::string>& argv, const ExecContext& ctx)
      : ks_(keyspace), argv_(argv), ctx_(ctx) {}

  const std::vector<std::string>& argv() const { return argv_; }
  const ExecContext& ctx() const { return ctx_; }
  Keyspace& ks() { return ks_; }

  // The live value of key, or nullptr. An expired key is absent; on a primary it is also deleted
  // here, with a DEL effect, so the AOF and the replicas learn of the deletion in order.
  Value* lookup(std::string_view key) {
    Value* value = ks_.find(key);
    if (value == nullptr || !value->is_expired_at(ctx_.now_ms)) return value;
    if (ctx_.may_expire) {
      ks_.erase(key);
      effect({"DEL", std::string(key)});
    }
    return nullptr;
  }

  // Called before creating key after lookup() found it absent. Where expiry is not ours to decide, an
  // expired value may still sit there; it is replaced, and the DEL makes the record mean the same
  // thing when replayed on a keyspace that still holds the old value.
  void prepare_create(std::string_view key) {
    if (ks_.erase(key)) effect({"DEL", std::string(key)});
  }

  void effect(std::vector<std::string> record) { result_.effects.push_back(std::move(record)); }

  void reply(std::string bytes) { result_.reply = std::move(bytes); }
  void error(std::string_view message) { result_.reply = encode_error(message); }
  void ok() { result_.reply = "+OK\r\n"; }

  CommandResult take() { return std::move(result_); }

 private:
  Keyspace& ks_;
  const std::vector<std::string>& argv_;
  const ExecContext& ctx_;
  CommandResult result_;
};

std::string int_text(std::int64_t v) { return fmt::format("{}", v); }

std::vector<std::string> set_record(const std::string& key, const std::string& value,
                                    std::optional<std::int64_t> expire_at_ms) {
  if (!expire_at_ms) return {"SET", key, value};
  return {"SET", key, value, "PXAT", int_text(*expire_at_ms)};
}

// ---- strings ------------------------------------------------------------------------------------

void cmd_ping(Exec& x) {
  if (x.argv().size() > 2) return x.error(wrong_arity_error("ping"));
  if (x.argv().size() == 2) return x.reply(encode_bulk(x.argv()[1]));
  x.reply("+PONG\r\n");
}

void cmd_echo(Exec& x) { x.reply(encode_bulk(x.argv()[1])); }

void cmd_get(Exec& x) {
  const Value* v = x.lookup(x.argv()[1]);
  if (v == nullptr) return x.reply(encode_null_bulk());
  if (v->type() != ValueType::string) return x.error(kErrWrongType);
  x.reply(encode_bulk(v->str()));
}

enum class ExpiryKind : std::uint8_t { none, ex, px, exat, pxat };

struct SetOptions {
  bool nx = false;
  bool xx = false;
  bool get = false;
  bool keepttl = false;
  ExpiryKind expiry = ExpiryKind::none;
  const std::string* expiry_arg = nullptr;
};

// Redis's grammar: NX and XX exclude each other, KEEPTTL excludes any expiry, and two different
// expiry options exclude each other; repeating the same option is allowed (the last one wins).
bool parse_set_options(const std::vector<std::string>& argv, SetOptions& o) {
  for (std::size_t j = 3; j < argv.size(); ++j) {
    const std::string opt = lowercase_ascii(argv[j]);
    const bool has_next = j + 1 < argv.size();
    ExpiryKind kind = ExpiryKind::none;
    if (opt == "ex") kind = ExpiryKind::ex;
    if (opt == "px") kind = ExpiryKind::px;
    if (opt == "exat") kind = ExpiryKind::exat;
    if (opt == "pxat") kind = ExpiryKind::pxat;
    if (opt == "nx" && !o.xx) {
      o.nx = true;
    } else if (opt == "xx" && !o.nx) {
      o.xx = true;
    } else if (opt == "get") {
      o.get = true;
    } else if (opt == "keepttl" && o.expiry == ExpiryKind::none) {
      o.keepttl = true;
    } else if (kind != ExpiryKind::none && !o.keepttl &&
               (o.expiry == ExpiryKind::none || o.expiry == kind) && has_next) {
      o.expiry = kind;
      o.expiry_arg = &argv[++j];
    } else {
      return false;
    }
  }
  return true;
}

// Resolves an expiry option to absolute ms, or returns the error message.
std::variant<std::int64_t, std::string_view> resolve_expiry(const SetOptions& o, std::int64_t now_ms) {
  constexpr std::string_view kInvalid = "ERR invalid expire time in 'set' command";
  const std::optional<std::int64_t> n = parse_int64_strict(*o.expiry_arg);
  if (!n) return kErrNotInteger;
  const bool seconds = o.expiry == ExpiryKind::ex || o.expiry == ExpiryKind::exat;
  if (*n <= 0 || (seconds && *n > std::numeric_limits<std::int64_t>::max() / 1000)) return kInvalid;
  std::int64_t ms = seconds ? *n * 1000 : *n;
  if (o.expiry == ExpiryKind::ex || o.expiry == ExpiryKind::px) {
    if (__builtin_add_overflow(ms, now_ms, &ms)) return kInvalid;
  }
  if (ms <= 0) return kInvalid;
  return ms;
}

void cmd_set(Exec& x) {
  const std::string& key = x.argv()[1];
  const std::string& value = x.argv()[2];
  SetOptions o;
  if (!parse_set_options(x.argv(), o)) return x.error(kErrSyntax);
  std::optional<std::int64_t> expire_at_ms;
  if (o.expiry != ExpiryKind::none) {
    auto resolved = resolve_expiry(o, x.ctx().now_ms);
    if (auto* message = std::get_if<std::string_view>(&resolved)) return x.error(*message);
    expire_at_ms = std::get<std::int64_t>(resolved);
  }
  Value* current = x.lookup(key);
  std::string old_reply;
  if (o.get) {
    if (current != nullptr && current->type() != ValueType::string) return x.error(kErrWrongType);
    old_reply = current != nullptr ? encode_bulk(current->str()) : encode_null_bulk();
  }
  const bool found = current != nullptr;
  if ((o.nx && found) || (o.xx && !found)) {
    return x.reply(o.get ? old_reply : encode_null_bulk());
  }
  if (o.keepttl && found) expire_at_ms = current->expire_at_ms;
  if (!found) x.prepare_create(key);
  x.ks().put(key, Value{value, expire_at_ms});
  x.effect(set_record(key, value, expire_at_ms));
  if (o.get) return x.reply(std::move(old_reply));
  x.ok();
}

void incr_by(Exec& x, std::int64_t increment) {
  const std::string& key = x.argv()[1];
  Value* v = x.lookup(key);
  if (v != nullptr && v->type() != ValueType::string) return x.error(kErrWrongType);
  std::int64_t current = 0;
  if (v != nullptr) {
    const std::optional<std::int64_t> parsed = parse_int64_strict(v->str());
    if (!parsed) return x.error(kErrNotInteger);
    current = *parsed;
  }
  std::int64_t updated = 0;
  if (__builtin_add_overflow(current, increment, &updated)) return x.error(kErrOverflow);
  std::string text = int_text(updated);
  if (v != nullptr) {
    v->str() = text;
  } else {
    x.prepare_create(key);
    v = &x.ks().put(key, Value{text, std::nullopt});
  }
  // SET of the result (TTL kept) replays to the same state however many times it is applied.
  x.effect(set_record(key, text, v->expire_at_ms));
  x.reply(encode_integer(updated));
}

void cmd_incr(Exec& x) { incr_by(x, 1); }

void cmd_incrby(Exec& x) {
  const std::optional<std::int64_t> increment = parse_int64_strict(x.argv()[2]);
  if (!increment) return x.error(kErrNotInteger);
  incr_by(x, *increment);
}

void cmd_append(Exec& x) {
  const std::string& key = x.argv()[1];
  const std::string& suffix = x.argv()[2];
  Value* v = x.lookup(key);
  if (v != nullptr && v->type() != ValueType::string) return x.error(kErrWrongType);
  if (v == nullptr) {
    x.prepare_create(key);
    x.ks().put(key, Value{suffix, std::nullopt});
    x.effect({"APPEND", key, suffix});
    return x.reply(encode_integer(static_cast<std::int64_t>(suffix.size())));
  }
  if (v->str().size() + suffix.size() > x.ctx().max_string_bytes) return x.error(kErrStringTooLong);
  v->str() += suffix;
  if (!suffix.empty()) x.effect({"APPEND", key, suffix});
  x.reply(encode_integer(static_cast<std::int64_t>(v->str().size())));
}

// ---- keyspace -----------------------------------------------------------------------------------

void cmd_del(Exec& x) {
  std::vector<std::string> record = {"DEL"};
  for (std::size_t i = 1; i < x.argv().size(); ++i) {
    const std::string& key = x.argv()[i];
    if (x.lookup(key) == nullptr) continue;
    x.ks().erase(key);
    record.push_back(key);
  }
  const auto deleted = static_cast<std::int64_t>(record.size() - 1);
  if (deleted > 0) x.effect(std::move(record));
  x.reply(encode_integer(deleted));
}

void cmd_exists(Exec& x) {
  std::int64_t count = 0;
  for (std::size_t i = 1; i < x.argv().size(); ++i) {
    if (x.lookup(x.argv()[i]) != nullptr) ++count;
  }
  x.reply(encode_integer(count));
}

void cmd_type(Exec& x) {
  const Value* v = x.lookup(x.argv()[1]);
  x.reply(encode_simple(v == nullptr ? "none" : value_type_name(v->type())));
}

void cmd_dbsize(Exec& x) { x.reply(encode_integer(static_cast<std::int64_t>(x.ks().size()))); }

void cmd_flushall(Exec& x) {
  if (x.argv().size() > 2) return x.error(kErrSyntax);
  if (x.argv().size() == 2) {
    const std::string mode = lowercase_ascii(x.argv()[1]);
    if (mode != "async" && mode != "sync") return x.error(kErrSyntax);
  }
  if (!x.ks().empty()) {
    x.ks().clear();
    x.effect({"FLUSHALL"});
  }
  x.ok();
}

// ---- lists --------------------------------------------------------------------------------------

void push(Exec& x, bool at_head) {
  const std::string& key = x.argv()[1];
  Value* v = x.lookup(key);
  if (v != nullptr && v->type() != ValueType::list) return x.error(kErrWrongType);
  if (v == nullptr) {
    x.prepare_create(key);
    v = &x.ks().put(key, Value{List{}, std::nullopt});
  }
  List& list = v->list();
  for (std::size_t i = 2; i < x.argv().size(); ++i) {
    if (at_head) {
      list.push_front(x.argv()[i]);
    } else {
      list.push_back(x.argv()[i]);
    }
  }
  std::vector<std::string> record = x.argv();
  record[0] = at_head ? "LPUSH" : "RPUSH";
  x.effect(std::move(record));
  x.reply(encode_integer(static_cast<std::int64_t>(list.size())));
}

void cmd_lpush(Exec& x) { push(x, true); }
void cmd_rpush(Exec& x) { push(x, false); }

void pop(Exec& x, bool at_head) {
  const std::string_view name = at_head ? "lpop" : "rpop";
  if (x.argv().size() > 3) return x.error(wrong_arity_error(name));
  const bool has_count = x.argv().size() == 3;
  std::int64_t count = 1;
  if (has_count) {
    const std::optional<std::int64_t> parsed = parse_int64_strict(x.argv()[2]);
    if (!parsed) return x.error(kErrNotInteger);
    if (*parsed < 0) return x.error(kErrMustBePositive);
    count = *parsed;
  }
  const std::string& key = x.argv()[1];
  Value* v = x.lookup(key);
  if (v == nullptr) return x.reply(has_count ? encode_null_array() : encode_null_bulk());
  if (v->type() != ValueType::list) return x.error(kErrWrongType);
  if (count == 0) return x.reply(encode_array_header(0));
  List& list = v->list();
  const std::size_t n = std::min(list.size(), static_cast<std::size_t>(count));
  std::vector<std::string> popped;
  popped.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (at_head) {
      popped.push_back(std::move(list.front()));
      list.pop_front();
    } else {
      popped.push_back(std::move(list.back()));
      list.pop_back();
    }
  }
  // Redis never keeps an empty list.
  if (list.empty()) x.ks().erase(key);
  std::vector<std::string> record = {at_head ? "LPOP" : "RPOP", key};
  if (has_count) record.push_back(int_text(static_cast<std::int64_t>(n)));
  x.effect(std::move(record));
  x.reply(has_count ? encode_bulk_array(popped) : encode_bulk(popped.front()));
}

void cmd_lpop(Exec& x) { pop(x, true); }
void cmd_rpop(Exec& x) { pop(x, false); }

void cmd_lrange(Exec& x) {
  const std::optional<std::int64_t> start_arg = parse_int64_strict(x.argv()[2]);
  const std::optional<std::int64_t> stop_arg = parse_int64_strict(x.argv()[3]);
  if (!start_arg || !stop_arg) return x.error(kErrNotInteger);
  const Value* v = x.lookup(x.argv()[1]);
  if (v == nullptr) return x.reply(encode_array_header(0));
  if (v->type() != ValueType::list) return x.error(kErrWrongType);
  const List& list = v->list();
  const auto length = static_cast<std::int64_t>(list.size());
  std::int64_t start = *start_arg;
  std::int64_t stop = *stop_arg;
  // Negative indices count from the tail; the range is then clamped to the list, as in Redis.
  if (start < 0) start += length;
  if (stop < 0) stop += length;
  if (start < 0) start = 0;
  if (start > stop || start >= length) return x.reply(encode_array_header(0));
  if (stop >= length) stop = length - 1;
  // Ranges of long lists are the largest replies the store sends, an element at a time: the reply
  // is sized first, and a short element ("$<len>\r\n<bytes>\r\n", as append_bulk writes it) goes
  // in with one append from the stack. The list is walked with an iterator rather than indexed.
  const auto first = list.begin() + start;
  const auto last = list.begin() + stop + 1;
  // Room for a header line: a type byte, up to 20 digits and CRLF.
  constexpr std::size_t kHeaderBytesMax = 24;
  std::size_t bytes = kHeaderBytesMax;
  for (auto it = first; it != last; ++it) bytes += it->size() + kHeaderBytesMax + 2;
  std::string out;
  out.reserve(bytes);
  out += encode_array_header(static_cast<std::size_t>(stop - start + 1));
  std::array<char, 128> element{};
  for (auto it = first; it != last; ++it) {
    if (it->size() + kHeaderBytesMax + 2 > element.size()) {
      append_bulk(out, *it);
      continue;
    }
    char* p = element.data();
    *p++ = '$';
    p = std::to_chars(p, p + 20, it->size()).ptr;
    *p++ = '\r';
    *p++ = '\n';
    if (!it->empty()) std::memcpy(p, it->data(), it->size());
    p += it->size();
    *p++ = '\r';
    *p++ = '\n';
    out.append(element.data(), static_cast<std::size_t>(p - element.data()));
  }
  x.reply(std::move(out));
}

void cmd_llen(Exec& x) {
  const Value* v = x.lookup(x.argv()[1]);
  if (v == nullptr) return x.reply(encode_integer(0));
  if (v->type() != ValueType::list) return x.error(kErrWrongType);
  x.reply(encode_integer(static_cast<std::int64_t>(v->list().size())));
}

// ---- dispatch -----------------------------------------------------------------------------------

using Handler = void (*)(Exec&);

struct HandlerEntry {
  std::string_view name;
  Handler handler;
};

constexpr std::array kHandlers = {
    HandlerEntry{"append", cmd_append}, HandlerEntry{"dbsize", cmd_dbsize},
    HandlerEntry{"del", cmd_del},       HandlerEntry{"echo", cmd_echo},
    HandlerEntry{"exists", cmd_exists}, HandlerEntry{"flushall", cmd_flushall},
    HandlerEntry{"get", cmd_get},       HandlerEntry{"incr", cmd_incr},
    HandlerEntry{"incrby", cmd_incrby}, HandlerEntry{"llen", cmd_llen},
    HandlerEntry{"lpop", cmd_lpop},     HandlerEntry{"lpush", cmd_lpush},
    HandlerEntry{"lrange", cmd_lrange}, HandlerEntry{"ping", cmd_ping},
    HandlerEntry{"rpop", cmd_rpop},     HandlerEntry{"rpush", cmd_rpush},
    HandlerEntry{"set", cmd_set},       HandlerEntry{"type", cmd_type},
};

Handler find_handler(std::string_view name) {
  for (const HandlerEntry& entry : kHandlers) {
    if (entry.name == name) return entry.handler;
  }
  return nullptr;
}

// A record in a message: its name and a few arguments, quoted and cut short.
std::string describe_record(const std::vector<std::string>& argv) {
  constexpr std::size_t kArgsShown = 3;
  constexpr std::size_t kArgBytesShown = 32;
  std::string out;
  for (std::size_t i = 0; i < argv.size() && i <= kArgsShown; ++i) {
    if (i > 0) out += ' ';
    out += RespValue::bulk(argv[i]).to_display(kArgBytesShown);
  }
  if (argv.size() > kArgsShown + 1) out += fmt::format(" ...(+{} args)", argv.size() - kArgsShown - 1);
  return out;
}

}  // namespace

CommandResult execute_data_command(Keyspace& keyspace, const std::vector<std::string>& argv,
                                   const ExecContext& ctx) {
  CommandResult result;
  if (argv.empty()) {
    result.reply = encode_error("ERR empty command");
    return result;
  }
  const std::string name = lowercase_ascii(argv[0]);
  const CommandSpec* spec = find_command(name);
  if (spec == nullptr) {
    result.reply = encode_error(unknown_command_error(argv));
    return result;
  }
  return execute_data_command(keyspace, *spec, argv, ctx);
}

CommandResult execute_data_command(Keyspace& keyspace, const CommandSpec& spec, const std::vector<std::string>& argv,
                                   const ExecContext& ctx) {
  CommandResult result;
  if (!spec.arity_ok(argv.size())) {
    result.reply = encode_error(wrong_arity_error(spec.name));
    return result;
  }
  const Handler handler = find_handler(spec.name);
  if (spec.owner != CommandOwner::data || handler == nullptr) {
    // Reaching here means the store routed one of its own commands to the data layer.
    result.reply = encode_error(
        fmt::format("ERR command '{}' is executed by the store, not the data layer", spec.name));
    return result;
  }
  Exec exec(keyspace, argv, ctx);
  handler(exec);
  return exec.take();
}

Status apply_effect(Keyspace& keyspace, const std::vector<std::string>& argv) {
  if (argv.empty()) return Status(Err::invalid, "cannot apply an empty record");
  // A duplication's records (core/duplication_format.h) travel through the same AOFs and streams.
  if (is_duplication_record(argv)) return apply_duplication_record(keyspace, argv);
  const std::string name = lowercase_ascii(argv[0]);
  const CommandSpec* spec = find_command(name);
  if (spec == nullptr || spec->owner != CommandOwner::data || !spec->has(cmd_flag::write)) {
    return Status(Err::invalid, fmt::format("cannot apply record {}: not a data write command",
                                            describe_record(argv)));
  }
  if (!spec->arity_ok(argv.size())) {
    return Status(Err::invalid, fmt::format("cannot apply record {}: {}", describe_record(argv),
                                            wrong_arity_error(spec->name)));
  }
  if (name == "set") {
    // EX and PX are relative to the clock of whoever runs them; only the primary may resolve them.
    for (std::size_t j = 3; j < argv.size(); ++j) {
      const std::string opt = lowercase_ascii(argv[j]);
      if (opt == "ex" || opt == "px") {
        return Status(Err::invalid,
                      fmt::format("cannot apply record {}: relative expiry '{}' (records carry PXAT)",
                                  describe_record(argv), argv[j]));
      }
      if (opt == "exat" || opt == "pxat") ++j;
    }
  }
  // The earliest time there is: nothing counts as expired, so the record decides alone what goes.
  ExecContext ctx;
  ctx.now_ms = std::numeric_limits<std::int64_t>::min();
  ctx.may_expire = false;
  ctx.max_string_bytes = std::numeric_limits<std::size_t>::max();
  const CommandResult result = execute_data_command(keyspace, *spec, argv, ctx);
  if (result.is_error()) {
    std::string_view message = result.reply;
    message.remove_prefix(1);
    message.remove_suffix(2);
    return Status(Err::invalid,
                  fmt::format("cannot apply record {}: {}", describe_record(argv), message));
  }
  return Status::ok();
}

std::size_t max_effect_growth_bytes() {
  // The worst case is INCR k -> SET k <20-digit value> PXAT <19-digit ms>: the name shrinks by one
  // byte, the value adds "$20\r\n" + 20 + "\r\n" = 27, "PXAT" adds 10 and its number at most 26, and
  // the array header keeps one digit: 62 bytes. SET ... KEEPTTL -> PXAT adds at most 23. The bound
  // is rounded up so a future rewrite of similar size does not silently exceed it.
  return 128;
}

}  // namespace replsim::core
