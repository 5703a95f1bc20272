// sim/history.cpp — recording and serialising client operations.
#include "sim/history.h"

#include <algorithm>
#include <functional>
#include <iterator>
#include <string_view>

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
  Operation op;
  op.id = ops_.size();
  op.client = client;
  op.kind = kind;
  op.key = std::move(key);
  op.args = std::move(args);
  op.invoke_ns = now_ns;
  ops_.push_back(std::move(op));
  return ops_.back().id;
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
        std::vector<std::string_view> texts;
        texts.reserve(keep);
        for (const core::RespValue& e : elements) texts.push_back(e.text);
        if (all_distinct(texts)) keep = kLrangeValuesKept;
      }
      values.reserve(keep);
      for (std::size_t i = 0; i < keep; ++i) values.push_back(elements[i].text);
      op.values_total = elements.size();
    }
    if (reply.type != Type::array) op.values_total = values.size();
  }
  finish(op, outcome, now_ns, std::move(node), ReplyText::of(std::move(reply)), std::move(values), read_nil);
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
  std::vector<std::size_t> hashes;
  hashes.reserve(values.size());
  for (std::string_view v : values) hashes.push_back(std::hash<std::string_view>{}(v));
  std::sort(hashes.begin(), hashes.end());
  if (std::adjacent_find(hashes.begin(), hashes.end()) == hashes.end()) return true;
  // Two hashes are equal: equal strings, or a collision. The strings decide.
  std::vector<std::string_view> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  return std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end();
}

namespace {

// Drops the array elements no rendering reaches, at every depth.
void keep_displayed_elements(core::RespValue& v) {
  if (v.type != core::RespValue::Type::array) return;
  if (v.elements.size() > kDisplayElementsKept) {
    // A fresh vector: erase() would keep the capacity of the whole reply.
    v.elements = std::vector<core::RespValue>(std::make_move_iterator(v.elements.begin()),
                                              std::make_move_iterator(v.elements.begin() + kDisplayElementsKept));
  }
  for (core::RespValue& e : v.elements) keep_displayed_elements(e);
}

}  // namespace

ReplyText ReplyText::of(core::RespValue value) {
  ReplyText r;
  keep_displayed_elements(value);
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
