// sim/client.cpp — one command at a time over simulated connections, with MOVED following.
#include "sim/client.h"

#include <array>
#include <charconv>

#include <fmt/format.h>

namespace replsim::sim {

namespace {

constexpr std::size_t kDisplayChars = 160;

// How many chars each byte takes in a rendering (1 to 4), learnt from RespValue::to_display itself.
const std::array<std::uint8_t, 256>& shown_widths() {
  static const std::array<std::uint8_t, 256> widths = [] {
    std::array<std::uint8_t, 256> w{};
    for (std::size_t c = 0; c < w.size(); ++c) {
      // "\"x\"" and the like: the byte's width between the quotes.
      w[c] = static_cast<std::uint8_t>(core::RespValue::bulk(std::string(1, static_cast<char>(c))).to_display(16).size() - 2);
    }
    return w;
  }();
  return widths;
}

// A long bulk reply (an INFO reply) shows only its first chars, but to_display walks every byte to
// count the chars it cuts. The same text, cheaper: render a prefix long enough to reach the cut (each
// byte takes at least one char), then add the widths of the bytes after it to the count the prefix's
// rendering ends with ("...(+N chars)"). nullopt when the rendering has no such count.
std::optional<std::string> display_long_bulk(std::string_view text) {
  const std::string_view prefix = text.substr(0, kDisplayChars + 1);
  std::string shown = core::RespValue::bulk(std::string(prefix)).to_display(kDisplayChars);
  if (shown.size() <= kDisplayChars) return std::nullopt;
  const std::size_t end = shown.find_last_of("0123456789");
  if (end == std::string::npos || end < kDisplayChars) return std::nullopt;
  std::size_t begin = end;
  while (begin > kDisplayChars && shown[begin - 1] >= '0' && shown[begin - 1] <= '9') --begin;
  std::size_t cut = 0;
  std::from_chars(shown.data() + begin, shown.data() + end + 1, cut);
  const std::array<std::uint8_t, 256>& widths = shown_widths();
  for (const char c : text.substr(prefix.size())) cut += widths[static_cast<unsigned char>(c)];
  shown.replace(begin, end + 1 - begin, std::to_string(cut));
  return shown;
}

}  // namespace

std::string ClientReply::display() const {
  if (!answered) return fmt::format("(no reply: {})", error_text.empty() ? std::string(core::err_name(error)) : error_text);
  if (value.type == core::RespValue::Type::bulk && value.text.size() > kDisplayChars + 1) {
    if (std::optional<std::string> shown = display_long_bulk(value.text)) return std::move(*shown);
  }
  return value.to_display(kDisplayChars);
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
      fresh.parser.use_pool(&pool_);
      it = conns_.insert_or_assign(node, std::move(fresh)).first;
    }
    // The request is encoded into a buffer the client keeps: one allocation less per command.
    request_.assign(core::encode_array_header(argv.size()));
    for (const std::string& a : argv) core::append_bulk(request_, a);
    const core::Status st = it->second.conn->send(request_);
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
