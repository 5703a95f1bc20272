// sim/client.cpp — one command at a time over simulated connections, with MOVED following.
#include "sim/client.h"

#include <fmt/format.h>

namespace replsim::sim {

std::string ClientReply::display() const {
  if (!answered) return fmt::format("(no reply: {})", error_text.empty() ? std::string(core::err_name(error)) : error_text);
  return value.to_display(160);
}

char ClientReply::type_byte() const {
  switch (value.type) {
    case core::RespValue::Type::simple: return '+';
    case core::RespValue::Type::error: return '-';
    case core::RespValue::Type::integer: return ':';
    case core::RespValue::Type::bulk:
    case core::RespValue::Type::null: return '$';
    case core::RespValue::Type::array: return '*';
  }
  return '?';
}

std::string ClientReply::text() const {
  switch (value.type) {
    case core::RespValue::Type::integer: return std::to_string(value.integer);
    case core::RespValue::Type::null: return "(nil)";
    case core::RespValue::Type::array: return value.to_display(100000);
    default: return value.text;
  }
}

std::optional<std::string> moved_target(const core::RespValue& reply) {
  if (reply.type != core::RespValue::Type::error) return std::nullopt;
  const std::string& t = reply.text;
  if (t.rfind("MOVED ", 0) != 0) return std::nullopt;
  const auto space = t.find(' ', 6);
  if (space == std::string::npos) return std::nullopt;
  const std::string addr = t.substr(space + 1);
  const auto colon = addr.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  return addr.substr(0, colon);
}

SimClient::SimClient(kernel::Scheduler& sched, kernel::Network& net, kernel::Host self,
                     AddressBook book, std::string name)
    : sched_(sched), net_(net), self_(self), book_(std::move(book)), name_(std::move(name)) {}

ClientReply SimClient::call(const std::string& node, const std::vector<std::string>& argv,
                            kernel::Nanos timeout, int max_redirects) {
  std::string target = node;
  int redirects = 0;
  for (;;) {
    ClientReply r = call_once(target, argv, timeout);
    r.redirects = redirects;
    if (!r.answered || redirects >= max_redirects) return r;
    auto moved = moved_target(r.value);
    if (!moved || *moved == target) return r;
    target = *moved;
    ++redirects;
  }
}

ClientReply SimClient::call_once(const std::string& node, const std::vector<std::string>& argv,
                                 kernel::Nanos timeout) {
  ClientReply r;
  r.node = node;
  const std::optional<NodeAddress> addr = book_(node);
  if (!addr) {
    r.error = core::Err::invalid;
    r.error_text = fmt::format("unknown node {}", node);
    return r;
  }
  // A cached connection may have died since its last use (the node crashed, a fault reset it). A send
  // that fails on it sent nothing, so it is safe to open a fresh connection and send once more, as
  // client libraries do; a failure on a fresh connection is the answer.
  auto it = conns_.find(node);
  for (bool reused = it != conns_.end();; reused = false) {
    if (!reused) {
      auto conn = net_.connect(self_, addr->host, addr->port, timeout);
      if (!conn) {
        r.error = conn.code();
        r.error_text = conn.status().to_string();
        return r;
      }
      Conn fresh{std::move(conn.value()), core::RespReplyParser()};
      it = conns_.insert_or_assign(node, std::move(fresh)).first;
    }
    const core::Status st = it->second.conn->send(core::encode_command(argv));
    if (st) break;
    conns_.erase(it);
    if (!reused) {
      r.error = st.code();
      r.error_text = st.to_string();
      return r;
    }
  }
  Conn& c = it->second;
  const std::int64_t deadline = sched_.now_ns() + timeout.count();
  for (;;) {
    if (auto value = c.parser.next()) {
      r.answered = true;
      r.value = std::move(*value);
      return r;
    }
    if (c.parser.failed()) {
      r.error = core::Err::invalid;
      r.error_text = "malformed reply: " + c.parser.error();
      conns_.erase(it);
      return r;
    }
    const std::int64_t left = deadline - sched_.now_ns();
    if (left <= 0) {
      r.error = core::Err::timeout;
      r.error_text = "timeout";
      conns_.erase(it);
      return r;
    }
    auto data = c.conn->recv(1 << 20, kernel::Nanos(left));
    if (!data) {
      r.error = data.code();
      r.error_text = data.status().to_string();
      conns_.erase(it);
      return r;
    }
    c.parser.feed(data.value());
  }
}

}  // namespace replsim::sim
