// sim/history.cpp — recording and serialising client operations.
#include "sim/history.h"

#include <algorithm>
#include <iterator>
#include <string_view>

#include <xxhash.h>

namespace replsim::sim {

std::string_view op_kind_name(OpKind kind) {
  switch (kind) {
    case OpKind::get: return "get";
    case OpKind::set: return "set";
    case OpKind::incr: return "incr";
    case OpKind::append: return "append";
    case OpKind::del: return "del";
    case OpKind::lpush: return "lpush";
    case OpKind::rpush: return "rpush";
    case OpKind::lpop: return "lpop";
    case OpKind::rpop: return "rpop";
    case OpKind::lrange: return "lrange";
    case OpKind::llen: return "llen";
  }
  return "?";
}

bool op_kind_writes(OpKind kind) {
  switch (kind) {
    case OpKind::get:
    case OpKind::lrange:
    case OpKind::llen:
      return false;
    default:
      return true;
  }
}

std::string_view outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::pending: return "pending";
    case Outcome::ok: return "ok";
    case Outcome::fail: return "fail";
    case Outcome::unknown: return "unknown";
  }
  return "?";
}

std::uint64_t History::invoke(int client, OpKind kind, std::string key,
                              std::vector<std::string> args, std::int64_t now_ns) {
  Operation& op = ops_.emplace_back();
  op.id = ops_.size() - 1;
  op.client = client;
  op.kind = kind;
  op.key = std::move(key);
  op.args = std::move(args);
  op.invoke_ns = now_ns;
  return op.id;
}

void History::complete(std::uint64_t id, Outcome outcome, std::int64_t now_ns, std::string node,
                       ReplyText reply, std::vector<std::string> values, bool read_nil) {
  Operation& op = ops_.at(id);
  op.values_total = values.size();
  if (op.kind == OpKind::lrange && values.size() > kLrangeValuesKept &&
      all_distinct(std::vector<std::string_view>(values.begin(), values.end()))) {
    // A fresh vector: resize() would keep the capacity of the whole reply.
    values = std::vector<std::string>(std::make_move_iterator(values.begin()),
                                      std::make_move_iterator(values.begin() + kLrangeValuesKept));
  }
  finish(op, outcome, now_ns, std::move(node), std::move(reply), std::move(values), read_nil);
}

void History::complete(std::uint64_t id, Outcome outcome, std::int64_t now_ns, std::string node,
                       core::RespValue reply, bool reads) {
  complete_keeping(id, outcome, now_ns, std::move(node), reply, reads);
}

void History::complete_keeping(std::uint64_t id, Outcome outcome, std::int64_t now_ns, std::string node,
                               core::RespValue& reply, bool reads) {
  using Type = core::RespValue::Type;
  Operation& op = ops_.at(id);
  std::vector<std::string> values;
  bool read_nil = false;
  op.values_total = 0;
  if (reads) {
    if (reply.type == Type::null) {
      read_nil = true;
    } else if (reply.type == Type::bulk || reply.type == Type::simple) {
      values.push_back(reply.text);
    } else if (reply.type == Type::array) {
      const std::vector<core::RespValue>& elements = reply.elements;
      std::size_t keep = elements.size();
      if (op.kind == OpKind::lrange && keep > kLrangeValuesKept) {
        std::vector<std::string_view>& texts = distinct_scratch_;
        texts.clear();
        for (const core::RespValue& e : elements) texts.push_back(e.text);
        if (all_distinct(texts)) keep = kLrangeValuesKept;
      }
      values.reserve(keep);
      for (std::size_t i = 0; i < keep; ++i) values.push_back(elements[i].text);
      op.values_total = elements.size();
    }
    if (reply.type != Type::array) op.values_total = values.size();
  }
  // After the values are copied: the rendering takes the elements it reaches (see the declaration).
  finish(op, outcome, now_ns, std::move(node), ReplyText::of_reached(reply), std::move(values), read_nil);
}

void History::finish(Operation& op, Outcome outcome, std::int64_t now_ns, std::string node, ReplyText reply,
                     std::vector<std::string> values, bool read_nil) {
  op.outcome = outcome;
  op.complete_ns = now_ns;
  op.node = std::move(node);
  op.reply = std::move(reply);
  op.values = std::move(values);
  op.read_nil = read_nil;
}

bool all_distinct(const std::vector<std::string_view>& values) {
  if (values.size() < 2) return true;
  // An open-addressing set of the values' hashes, at most half full. Only membership is asked, so
  // its order never shows; equal hashes (equal values, or rarely a collision) go to the exact test.
  std::size_t slots = 16;
  while (slots < 2 * values.size()) slots *= 2;
  std::vector<std::uint64_t> table(slots, 0);
  bool collided = false;
  for (std::string_view v : values) {
    // 0 marks a free slot, so a hash of 0 is stored as 1 (a collision at worst).
    const std::uint64_t h = std::max<std::uint64_t>(XXH3_64bits(v.data(), v.size()), 1);
    std::size_t at = h & (slots - 1);
    while (table[at] != 0 && table[at] != h) at = (at + 1) & (slots - 1);
    if (table[at] == h) {
      collided = true;
      break;
    }
    table[at] = h;
  }
  if (!collided) return true;
  std::vector<std::string_view> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  return std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end();
}

namespace {

std::size_t decimal_digits(std::size_t n) {
  std::size_t d = 1;
  for (; n >= 10; n /= 10) ++d;
  return d;
}

// Drops the array elements that RespValue::to_display(kReplyDisplayChars) never reaches: it stops
// before an element once it has written more than the cut. `shown` follows what the rendering has
// written: each part adds at most what the rendering writes for it (a byte shows as 1 to 4 chars),
// so while the rendering is within the cut, shown <= written, and shown past the cut means the
// rendering is past it too.
void keep_reached(core::RespValue& v, bool nested, std::size_t& shown) {
  using Type = core::RespValue::Type;
  switch (v.type) {
    case Type::simple: shown += v.text.size(); return;     // CR and LF become spaces
    case Type::error: shown += 8 + v.text.size(); return;  // "(error) "
    case Type::integer: shown += 11; return;               // "(integer) " and a digit
    case Type::bulk: shown += v.text.size() + 2; return;   // in quotes
    case Type::null: shown += 5; return;                   // "(nil)"
    case Type::array: break;
  }
  if (v.elements.empty()) {
    shown += 13;  // "(empty array)"
    return;
  }
  if (nested) ++shown;  // "["
  for (std::size_t i = 0; i < v.elements.size(); ++i) {
    // Element 0 stays even past the cut: an array emptied here would show as "(empty array)".
    if (i > 0 && shown > kReplyDisplayChars) {
      // A fresh vector: erase() would keep the capacity of the whole reply.
      const auto end = v.elements.begin() + static_cast<std::ptrdiff_t>(i);
      v.elements = std::vector<core::RespValue>(std::make_move_iterator(v.elements.begin()),
                                                std::make_move_iterator(end));
      return;
    }
    shown += (i > 0 ? 1 : 0) + decimal_digits(i + 1) + 2;  // " N) "
    keep_reached(v.elements[i], true, shown);
  }
}

// How many elements of the array `v` keep_reached keeps, moving `shown` as keep_reached does; `v`
// is left as it is. Must follow keep_reached step for step (history_test compares the two).
std::size_t count_reached(const core::RespValue& v, bool nested, std::size_t& shown) {
  if (v.type != core::RespValue::Type::array || v.elements.empty()) {
    // What keep_reached counts for a value without elements (an empty array: "(empty array)").
    switch (v.type) {
      case core::RespValue::Type::simple: shown += v.text.size(); break;
      case core::RespValue::Type::error: shown += 8 + v.text.size(); break;
      case core::RespValue::Type::integer: shown += 11; break;
      case core::RespValue::Type::bulk: shown += v.text.size() + 2; break;
      case core::RespValue::Type::null: shown += 5; break;
      case core::RespValue::Type::array: shown += 13; break;
    }
    return 0;
  }
  if (nested) ++shown;
  for (std::size_t i = 0; i < v.elements.size(); ++i) {
    if (i > 0 && shown > kReplyDisplayChars) return i;
    shown += (i > 0 ? 1 : 0) + decimal_digits(i + 1) + 2;
    count_reached(v.elements[i], true, shown);
  }
  return v.elements.size();
}

}  // namespace

ReplyText ReplyText::of_reached(core::RespValue& value) {
  if (value.type != core::RespValue::Type::array) return of(std::move(value));
  std::size_t shown = 0;
  const std::size_t n = count_reached(value, false, shown);
  core::RespValue head;
  head.type = value.type;
  head.text = value.text;
  head.integer = value.integer;
  const auto begin = value.elements.begin();
  head.elements.assign(std::make_move_iterator(begin), std::make_move_iterator(begin + static_cast<std::ptrdiff_t>(n)));
  // keep_reached keeps all n top-level elements again and cuts what nested arrays it does not reach.
  return of(std::move(head));
}

ReplyText ReplyText::of(core::RespValue value) {
  ReplyText r;
  std::size_t shown = 0;
  keep_reached(value, false, shown);
  r.value_ = std::move(value);
  r.pending_ = true;
  return r;
}

const std::string& ReplyText::str() const {
  if (pending_) {
    shown_ = value_.to_display(kReplyDisplayChars);
    pending_ = false;
  }
  return shown_;
}

std::size_t History::count(Outcome outcome) const {
  std::size_t n = 0;
  for (const Operation& op : ops_) n += op.outcome == outcome ? 1 : 0;
  return n;
}

nlohmann::json Operation::to_json() const {
  nlohmann::json j;
  j["id"] = id;
  j["client"] = client;
  j["op"] = op_kind_name(kind);
  j["key"] = key;
  j["args"] = args;
  j["node"] = node;
  j["invoke_ns"] = invoke_ns;
  j["complete_ns"] = complete_ns;
  j["outcome"] = outcome_name(outcome);
  j["reply"] = reply.str();
  if (!values.empty()) j["values"] = values;
  if (values_total != values.size()) j["values_total"] = values_total;
  if (read_nil) j["nil"] = true;
  return j;
}

nlohmann::json History::to_json() const {
  nlohmann::json arr = nlohmann::json::array();
  for (const Operation& op : ops_) arr.push_back(op.to_json());
  return arr;
}

}  // namespace replsim::sim
