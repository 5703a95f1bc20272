// sim/history.cpp — recording and serialising client operations.
#include "sim/history.h"

#include <algorithm>
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
                       std::string reply, std::vector<std::string> values, bool read_nil) {
  Operation& op = ops_.at(id);
  op.outcome = outcome;
  op.complete_ns = now_ns;
  op.node = std::move(node);
  op.reply = std::move(reply);
  op.values_total = values.size();
  if (op.kind == OpKind::lrange && values.size() > kLrangeValuesKept) {
    std::vector<std::string_view> sorted(values.begin(), values.end());
    std::sort(sorted.begin(), sorted.end());
    const bool distinct = std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end();
    if (distinct) {
      // A fresh vector: resize() would keep the capacity of the whole reply.
      values = std::vector<std::string>(std::make_move_iterator(values.begin()),
                                        std::make_move_iterator(values.begin() + kLrangeValuesKept));
    }
  }
  op.values = std::move(values);
  op.read_nil = read_nil;
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
  j["reply"] = reply;
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
