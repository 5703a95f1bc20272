// core/cluster_bus.cpp — bus listener, per-peer gossip links, MEET handshakes and one-shot requests.
//
// Wire format: RESP. A link sends ["PING", <config text>] and the peer answers with a bulk string of
// its own config text (the PONG). Other requests are RESP arrays the handler answers.
#include "core/cluster_bus.h"

#include <fmt/format.h>

#include <exception>
#include <optional>
#include <utility>

#include "core/cluster_config.h"
#include "core/commands.h"

namespace replsim::core {

namespace {

constexpr Nanos kAcceptPoll = std::chrono::seconds(1);
constexpr std::size_t kRecvChunkBytes = 64 * 1024;

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

void ClusterBus::wake() {
  for (auto& [id, link] : links_) link.wake->set();
  manager_wake_->set();
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
      if (lowercase_ascii((*argv)[0]) == "ping" && argv->size() == 2) {
        handler_.bus_on_gossip((*argv)[1]);
        reply = encode_bulk(handler_.bus_gossip_payload());
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

// ---- links ---------------------------------------------------------------------------------------

void ClusterBus::manage_links() {
  while (!stopping_) {
    for (const BusPeer& peer : handler_.bus_peers()) {
      if (links_.count(peer.id) != 0) continue;
      links_[peer.id].wake = env_.make_event();
      const std::string id = peer.id;
      env_.spawn("bus-link", [this, id] { link_loop(id); });
    }
    manager_wake_->wait(options_.gossip_interval * 10);
    manager_wake_->reset();
  }
}

void ClusterBus::link_loop(const std::string& peer_id) {
  // The entry was made by manage_links; it goes when this task ends, however it ends.
  struct Leave {
    ClusterBus& bus;
    const std::string& id;
    ~Leave() { bus.links_.erase(id); }
  } leave{*this, peer_id};
  Link& link = links_.at(peer_id);
  std::unique_ptr<Connection> conn;
  std::unique_ptr<ConnectionRegistration> registration;
  RespReplyParser parser;
  while (!stopping_) {
    std::optional<BusPeer> peer;
    for (BusPeer& p : handler_.bus_peers()) {
      if (p.id == peer_id) peer = std::move(p);
    }
    if (!peer) break;  // forgotten (CLUSTER RESET)
    if (!conn) {
      auto opened = env_.connect(peer->host, peer->bus_port, options_.node_timeout);
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
    auto pong = exchange(*conn, parser, {"PING", handler_.bus_gossip_payload()}, options_.node_timeout);
    if (!pong || pong->type != RespValue::Type::bulk) {
      if (link.up) {
        env_.log("bus.link.down", fmt::format("peer={} reason=\"{}\"", peer_id,
                                              pong ? pong->to_display() : pong.status().message()));
      }
      link.up = false;
      registration.reset();
      conn.reset();
      link.wake->wait(options_.gossip_interval);
      link.wake->reset();
      continue;
    }
    if (!link.up) env_.log("bus.link.up", fmt::format("peer={}", peer_id));
    link.up = true;
    handler_.bus_on_gossip(pong->text);
    link.wake->wait(options_.gossip_interval);
    link.wake->reset();
  }
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
  auto reply = exchange(*conn, parser, argv, timeout);
  conn->close();
  return reply;
}

Result<RespValue> ClusterBus::exchange(Connection& conn, RespReplyParser& parser,
                                       const std::vector<std::string>& argv, Nanos timeout) {
  if (stopping_) return Status(Err::closed, "cluster bus is stopping");
  if (Status st = conn.send(encode_command(argv)); !st) return st;
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
