// core/cluster_bus.cpp — bus listener, per-peer gossip links, MEET handshakes and one-shot requests.
//
// Wire format: RESP. A link's ping is ["PINGD", <sender id>, <16 hex digit config digest>]; the peer
// answers +SAME when its config has the same digest and +DIFF otherwise, and on +DIFF the link sends
// ["PING", <config text>, <its digest>], which the peer merges and answers with a bulk string of its
// own config text (the PONG), or +SAME when the merge made its config equal to the one it received.
// MEET's handshake sends ["PING", <config text>] and always gets the PONG. Other requests are RESP
// arrays the handler answers.
#include "core/cluster_bus.h"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <exception>
#include <optional>
#include <utility>

#include "core/cluster_config.h"
#include "core/commands.h"

namespace replsim::core {

namespace {

constexpr Nanos kAcceptPoll = std::chrono::seconds(1);
constexpr std::size_t kRecvChunkBytes = 64 * 1024;
// Redis's clusterCron: once a second, of a few random peers, ping the one heard from least recently.
constexpr Nanos kRandomPingEvery = std::chrono::seconds(1);
constexpr int kRandomPingSample = 5;

// The 16 lowercase hex digits of a digest, as "{:016x}" writes them.
std::array<char, 16> digest_hex(std::uint64_t digest) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::array<char, 16> out{};
  for (int k = 15; k >= 0; --k) {
    out[static_cast<std::size_t>(k)] = kDigits[digest & 0xfU];
    digest >>= 4U;
  }
  return out;
}

std::string_view view_of(const std::array<char, 16>& hex) { return {hex.data(), hex.size()}; }

// A link's message, ["PINGD" or "PING", <id or config text>, <digest>], encoded as encode_command
// would encode it, without first copying the text into an argument vector.
std::string encode_link_message(std::string_view kind, std::string_view body, std::uint64_t digest) {
  std::string out;
  out.reserve(body.size() + 64);
  out += "*3\r\n";
  append_bulk(out, kind);
  append_bulk(out, body);
  append_bulk(out, view_of(digest_hex(digest)));
  return out;
}

// Whether text, in any case, is word (lowercase): the command names of the bus, without a copy.
bool is_word_nocase(std::string_view text, std::string_view word) {
  if (text.size() != word.size()) return false;
  for (std::size_t k = 0; k < text.size(); ++k) {
    char c = text[k];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != word[k]) return false;
  }
  return true;
}

std::optional<std::uint64_t> parse_digest_hex(std::string_view text) {
  std::uint64_t value = 0;
  if (text.size() != 16) return std::nullopt;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

// Registers a connection for stop() for as long as the scope lives (also when a crash unwinds it).
class ConnectionRegistration {
 public:
  ConnectionRegistration(std::map<std::uint64_t, Connection*>& registry, std::uint64_t id, Connection* conn)
      : registry_(registry), id_(id) {
    registry_.emplace(id_, conn);
  }
  ~ConnectionRegistration() { registry_.erase(id_); }
  ConnectionRegistration(const ConnectionRegistration&) = delete;
  ConnectionRegistration& operator=(const ConnectionRegistration&) = delete;

 private:
  std::map<std::uint64_t, Connection*>& registry_;
  std::uint64_t id_;
};

}  // namespace

ClusterBus::ClusterBus(Env& env, ClusterBusHandler& handler, ClusterBusOptions options)
    : env_(env), handler_(handler), options_(options), manager_wake_(env.make_event()) {}

ClusterBus::~ClusterBus() = default;

Status ClusterBus::start(std::uint16_t bus_port) {
  auto listener = env_.listen(bus_port);
  if (!listener) {
    return Status(listener.code(), fmt::format("cluster bus: cannot listen on port {}: {}", bus_port,
                                               listener.status().message()));
  }
  started_ = true;
  auto l = std::make_shared<std::unique_ptr<Listener>>(std::move(listener.value()));
  env_.spawn("bus-accept", [this, l] { accept_loop(std::move(*l)); });
  env_.spawn("bus-links", [this] { manage_links(); });
  return Status::ok();
}

void ClusterBus::stop() {
  if (stopping_) return;
  stopping_ = true;
  for (auto& [id, conn] : connections_) conn->close();
  for (auto& [id, link] : links_) link.wake->set();
  manager_wake_->set();
}

void ClusterBus::broadcast() {
  for (auto& [id, link] : links_) {
    link.ping_now = true;
    link.wake->set();
  }
  manager_wake_->set();  // peers this node did not know yet get their links now
}

bool ClusterBus::link_up(std::string_view id) const {
  const auto it = links_.find(std::string(id));
  return it != links_.end() && it->second.up;
}

// ---- server side -------------------------------------------------------------------------------

void ClusterBus::accept_loop(std::unique_ptr<Listener> listener) {
  while (!stopping_) {
    auto accepted = listener->accept(kAcceptPoll);
    if (!accepted) {
      if (accepted.code() == Err::timeout) continue;
      env_.log("bus.accept.end", fmt::format("reason=\"{}\"", accepted.status().message()));
      return;
    }
    auto conn = std::make_shared<std::unique_ptr<Connection>>(std::move(accepted.value()));
    env_.spawn("bus-serve", [this, conn] { serve(**conn); });
  }
}

void ClusterBus::serve(Connection& conn) {
  ConnectionRegistration registration(connections_, next_connection_id_++, &conn);
  RespRequestParser parser;
  while (!stopping_) {
    auto data = conn.recv(kRecvChunkBytes, kForever);
    if (!data) break;
    parser.feed(data.value());
    while (auto argv = parser.next()) {
      ++messages_received_;
      std::string reply;
      const std::string_view cmd = (*argv)[0];
      if (is_word_nocase(cmd, "pingd") && argv->size() == 3) {
        serve_digest(*argv, reply);
      } else if (is_word_nocase(cmd, "ping") && (argv->size() == 2 || argv->size() == 3)) {
        handler_.bus_on_gossip((*argv)[1]);
        // A link's ping names the digest of the config it carries: when the merge made this node's
        // config equal to it, the answer is +SAME instead of a whole config the sender would parse
        // and merge for nothing (after a broadcast, that is every answer).
        const auto digest = argv->size() == 3 ? parse_digest_hex((*argv)[2]) : std::nullopt;
        if (digest && handler_.bus_gossip_digest() == *digest) {
          reply = encode_simple("SAME");
        } else {
          reply = encode_bulk(handler_.bus_gossip_payload());
        }
      } else {
        reply = handler_.bus_on_request(*argv);
      }
      if (stopping_) break;
      ++messages_sent_;
      if (!conn.send(reply)) break;
    }
    if (parser.failed()) {
      env_.log("bus.protocol_error", fmt::format("peer={} error=\"{}\"", conn.peer(), parser.error()));
      break;
    }
  }
  conn.close();
}

void ClusterBus::serve_digest(const std::vector<std::string>& argv, std::string& reply) {
  const auto digest = parse_digest_hex(argv[2]);
  if (!digest) {
    reply = encode_error(fmt::format("ERR PINGD: bad digest \"{}\" (expected 16 hex digits)", argv[2]));
    return;
  }
  const bool same = handler_.bus_on_digest(argv[1], *digest);
  if (same) {
    // Heard from the peer: this node's own ping to it can wait another half node timeout.
    if (auto it = links_.find(argv[1]); it != links_.end()) {
      it->second.last_heard = env_.now();
      it->second.up = true;
    }
  }
  reply = encode_simple(same ? "SAME" : "DIFF");
}

// ---- links ---------------------------------------------------------------------------------------

void ClusterBus::manage_links() {
  while (!stopping_) {
    refresh_links();
    if (env_.now() >= next_random_ping_) {
      random_ping();
      next_random_ping_ = env_.now() + kRandomPingEvery;
    }
    manager_wake_->wait(next_random_ping_ - env_.now());
    manager_wake_->reset();
  }
}

void ClusterBus::refresh_links() {
  const std::uint64_t version = handler_.bus_peers_version();
  if (peers_seen_ && version == peers_version_seen_) return;
  peers_seen_ = true;
  peers_version_seen_ = version;
  ++refresh_generation_;  // a link whose peer is not listed now keeps an older one
  for (BusPeer& peer : handler_.bus_peers()) {
    auto [it, fresh] = links_.try_emplace(peer.id);
    Link& link = it->second;
    link.listed_in = refresh_generation_;
    link.forgotten = false;
    if (link.host != peer.host || link.bus_port != peer.bus_port) {
      link.host = std::move(peer.host);
      link.bus_port = peer.bus_port;
      link.address_changed = !fresh;
      if (!fresh) link.wake->set();
    }
    if (fresh) {
      link.wake = env_.make_event();
      const std::string id = peer.id;
      env_.spawn("bus-link", [this, id] { link_loop(id); });
    }
  }
  for (auto& [id, link] : links_) {
    if (link.listed_in == refresh_generation_) continue;
    link.forgotten = true;  // CLUSTER RESET: the link task ends at its next wake-up
    link.wake->set();
  }
}

void ClusterBus::random_ping() {
  if (links_.empty()) return;
  std::vector<Link*> all;
  all.reserve(links_.size());
  for (auto& [id, link] : links_) all.push_back(&link);
  Link* oldest = nullptr;
  for (int k = 0; k < kRandomPingSample; ++k) {
    Link* candidate = all[env_.random_below(all.size())];
    if (oldest == nullptr || candidate->last_heard < oldest->last_heard) oldest = candidate;
  }
  oldest->ping_now = true;
  oldest->wake->set();
}

void ClusterBus::link_loop(const std::string& peer_id) {
  // The entry was made by refresh_links; it goes when this task ends, however it ends.
  struct Leave {
    ClusterBus& bus;
    const std::string& id;
    ~Leave() { bus.links_.erase(id); }
  } leave{*this, peer_id};
  Link& link = links_.at(peer_id);
  const Nanos period = options_.node_timeout / 2;
  std::unique_ptr<Connection> conn;
  std::unique_ptr<ConnectionRegistration> registration;
  RespReplyParser parser;
  while (!stopping_ && !link.forgotten) {
    if (link.address_changed) {
      link.address_changed = false;
      registration.reset();
      conn.reset();
    }
    if (!conn) {
      auto opened = env_.connect(link.host, link.bus_port, options_.node_timeout);
      if (!opened) {
        link.up = false;
        link.wake->wait(options_.gossip_interval);
        link.wake->reset();
        continue;
      }
      conn = std::move(opened.value());
      registration = std::make_unique<ConnectionRegistration>(connections_, next_connection_id_++, conn.get());
      parser = RespReplyParser();
    }
    // Ping when asked to, or when the peer has not been heard from for half the node timeout.
    const LocalTime due = link.last_heard + period;
    if (!link.ping_now && env_.now() < due) {
      link.wake->wait(due - env_.now());
      link.wake->reset();
      continue;
    }
    link.ping_now = false;
    if (Status st = gossip_exchange(peer_id, *conn, parser); !st) {
      if (link.up) env_.log("bus.link.down", fmt::format("peer={} reason=\"{}\"", peer_id, st.message()));
      link.up = false;
      registration.reset();
      conn.reset();
      link.wake->wait(options_.gossip_interval);
      link.wake->reset();
      continue;
    }
    if (!link.up) env_.log("bus.link.up", fmt::format("peer={}", peer_id));
    link.up = true;
    link.last_heard = env_.now();
  }
}

Status ClusterBus::gossip_exchange(const std::string& peer_id, Connection& conn, RespReplyParser& parser) {
  const std::uint64_t digest = handler_.bus_gossip_digest();
  auto answer = exchange(conn, parser, encode_link_message("PINGD", handler_.bus_my_id(), digest), options_.node_timeout);
  if (!answer) return answer.status();
  if (answer->type == RespValue::Type::simple && answer->text == "SAME") {
    handler_.bus_on_digest(peer_id, digest);
    return Status::ok();
  }
  if (answer->type != RespValue::Type::simple || answer->text != "DIFF") {
    return Status(Err::invalid, fmt::format("PINGD answered {}", answer->to_display()));
  }
  // The configs differ: the peer merges this node's whole config and answers with its own, which
  // this node merges, as in MEET's handshake, unless the merge made the peer's equal to this one.
  const std::uint64_t sent_digest = handler_.bus_gossip_digest();
  auto pong = exchange(conn, parser, encode_link_message("PING", handler_.bus_gossip_payload(), sent_digest),
                       options_.node_timeout);
  if (!pong) return pong.status();
  if (pong->type == RespValue::Type::simple && pong->text == "SAME") {
    handler_.bus_on_digest(peer_id, sent_digest);
    return Status::ok();
  }
  if (pong->type != RespValue::Type::bulk) return Status(Err::invalid, fmt::format("PING answered {}", pong->to_display()));
  handler_.bus_on_gossip(pong->text);
  return Status::ok();
}

void ClusterBus::meet(const std::string& host, std::uint16_t client_port) {
  const auto bus_port = static_cast<std::uint16_t>(client_port + kClusterBusPortOffset);
  env_.spawn("bus-meet", [this, host, bus_port] { meet_task(host, bus_port); });
}

void ClusterBus::meet_task(const std::string& host, std::uint16_t bus_port) {
  for (int attempt = 1; attempt <= options_.meet_attempts && !stopping_; ++attempt) {
    auto pong = request(host, bus_port, {"PING", handler_.bus_gossip_payload()}, options_.node_timeout);
    if (pong && pong->type == RespValue::Type::bulk) {
      handler_.bus_on_gossip(pong->text);
      manager_wake_->set();  // start a link to the new node now
      env_.log("bus.meet.done", fmt::format("address={}:{} attempts={}", host, bus_port, attempt));
      return;
    }
    env_.sleep_for(options_.gossip_interval);
  }
  env_.log("bus.meet.failed", fmt::format("address={}:{}", host, bus_port));
}

// ---- requests --------------------------------------------------------------------------------

Result<RespValue> ClusterBus::request(const std::string& host, std::uint16_t bus_port,
                                      const std::vector<std::string>& argv, Nanos timeout) {
  auto opened = env_.connect(host, bus_port, timeout);
  if (!opened) return opened.status();
  std::unique_ptr<Connection> conn = std::move(opened.value());
  ConnectionRegistration registration(connections_, next_connection_id_++, conn.get());
  RespReplyParser parser;
  auto reply = exchange(*conn, parser, encode_command(argv), timeout);
  conn->close();
  return reply;
}

Result<RespValue> ClusterBus::exchange(Connection& conn, RespReplyParser& parser, std::string_view message,
                                       Nanos timeout) {
  if (stopping_) return Status(Err::closed, "cluster bus is stopping");
  if (Status st = conn.send(message); !st) return st;
  ++messages_sent_;
  const LocalTime deadline = env_.now() + timeout;
  for (;;) {
    if (auto value = parser.next()) {
      ++messages_received_;
      return std::move(*value);
    }
    if (parser.failed()) return Status(Err::invalid, fmt::format("bus reply from {}: {}", conn.peer(), parser.error()));
    const Nanos left = deadline - env_.now();
    if (left <= Nanos::zero() || stopping_) {
      return Status(Err::timeout, fmt::format("bus: no reply from {} in time", conn.peer()));
    }
    auto data = conn.recv(kRecvChunkBytes, left);
    if (!data) return data.status();
    parser.feed(data.value());
  }
}

}  // namespace replsim::core
