// core/cluster_bus.cpp — bus listener and dispatcher, per-peer gossip links run by one manager, MEET
// handshakes and one-shot requests.
//
// Wire format: RESP. A link's ping is ["PINGD", <sender id>, <16 hex digit config digest>]; the peer
// answers +SAME when its config has the same digest and +DIFF otherwise, and on +DIFF the link sends
// ["PING", <gossip section>, <digest of its whole config>], which the peer merges and answers with a
// bulk string of its own section (the PONG), or +SAME when the merge made its config equal to the
// sender's. A section is a config text with the sender's own entry and slots and a few other entries
// (ClusterBusHandler::bus_gossip_section). MEET's handshake sends ["PING", <whole config text>] and
// always gets the whole config back. Other requests are RESP arrays the handler answers.
#include "core/cluster_bus.h"

#include <fmt/format.h>

#include <algorithm>
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
    : env_(env),
      handler_(handler),
      options_(options),
      manager_wake_(env.make_event()),
      serve_wake_(env.make_event()) {}

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
  const std::uint64_t generation = ++dispatcher_generation_;
  env_.spawn("bus-serve", [this, generation] { dispatch(generation); });
  return Status::ok();
}

void ClusterBus::stop() {
  if (stopping_) return;
  stopping_ = true;
  for (auto& [id, conn] : connections_) conn->close();
  for (auto& [id, served] : served_) served.conn->close();
  manager_wake_->set();
  serve_wake_->set();
}

void ClusterBus::broadcast() {
  const LocalTime now = env_.now();
  for (auto& [id, link] : links_) {
    link.ping_now = true;
    link.retry_at = LocalTime{};  // a link waiting to retry tries now
    if (!link.exchanging) schedule_link(link, now);  // else its exchange files it when it ends
  }
  manager_wake_->set();  // peers this node did not know yet get their links now
}

bool ClusterBus::link_up(std::string_view id) const {
  const Link* link = find_link(id);
  return link != nullptr && link->up;
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
    if (stopping_) return;
    const std::uint64_t id = next_connection_id_++;
    Served& served = served_[id];
    served.conn = std::move(accepted.value());
    // Called at once when the peer's first request is here already.
    // The entry outlives the callback: destroying the connection drops it.
    served.conn->set_on_readable([this, id, &served] { mark_ready(id, served); });
  }
}

void ClusterBus::mark_ready(std::uint64_t id, Served& served) {
  // A busy connection is handed back (and queued) by the task answering it.
  if (served.busy || served.queued) return;
  served.queued = true;
  ready_.emplace_back(id, &served);
  serve_wake_->set();
  if (dispatcher_in_handler_ && !stopping_) {
    // The dispatcher is blocked inside a handler call (it becomes that connection's worker): a fresh
    // dispatcher serves the others meanwhile. Never during a crash: unwinding cleared the flag.
    dispatcher_in_handler_ = false;
    const std::uint64_t generation = ++dispatcher_generation_;
    env_.log("bus.serve.handover", fmt::format("generation={}", generation));
    env_.spawn("bus-serve", [this, generation] { dispatch(generation); });
  }
}

void ClusterBus::dispatch(std::uint64_t generation) {
  while (!stopping_ && generation == dispatcher_generation_) {
    if (ready_.empty()) {
      serve_wake_->reset();
      serve_wake_->wait(kForever);  // stop() sets it too
      continue;
    }
    const auto [id, served] = ready_.front();
    ready_.pop_front();
    served->queued = false;
    serve_connection(id, *served, generation);
  }
}

void ClusterBus::serve_connection(std::uint64_t id, Served& served, std::uint64_t generation) {
  while (!served.busy && !stopping_) {
    if (served.broken) {
      end_served(id);
      return;
    }
    auto argv = served.parser.next();
    if (!argv) {
      if (served.parser.failed()) {
        env_.log("bus.protocol_error",
                 fmt::format("peer={} error=\"{}\"", served.conn->peer(), served.parser.error()));
        end_served(id);
        return;
      }
      auto data = served.conn->recv(kRecvChunkBytes, Nanos::zero());
      if (!data) {
        if (data.code() != Err::timeout) end_served(id);  // the end of the stream, a reset, a close
        return;  // nothing more for now: the callback queues it again
      }
      served.parser.feed(data.value());
      continue;
    }
    ++messages_received_;
    if (is_word_nocase((*argv)[0], "pingd") && argv->size() == 3) {
      // Answered here: it only compares digests, unless an epoch collision makes the handler change
      // the config, which blocks. Then this task is the connection's worker until the reply is sent,
      // and the first connection to become ready meanwhile gets a fresh dispatcher (mark_ready).
      struct InHandler {
        ClusterBus& bus;
        std::uint64_t generation;
        explicit InHandler(ClusterBus& b, std::uint64_t g) : bus(b), generation(g) { bus.dispatcher_in_handler_ = true; }
        ~InHandler() {
          if (bus.dispatcher_generation_ == generation) bus.dispatcher_in_handler_ = false;
        }
        InHandler(const InHandler&) = delete;
        InHandler& operator=(const InHandler&) = delete;
      };
      std::string reply;
      served.busy = true;
      {
        InHandler in_handler(*this, generation);
        serve_digest(*argv, reply);
      }
      served.busy = false;
      send_reply(served, reply);
      if (generation != dispatcher_generation_) {
        mark_ready(id, served);  // handed over: the new dispatcher reads what follows
        return;
      }
      continue;
    }
    served.busy = true;
    auto request = std::make_shared<std::vector<std::string>>(std::move(*argv));
    env_.spawn("bus-request", [this, id, request] { serve_request(id, *request); });
    return;
  }
}

std::string ClusterBus::answer_ping(const std::vector<std::string>& argv) {
  handler_.bus_on_gossip(argv[1]);
  // A link's ping names the digest of the config it carries: when the merge made this node's config
  // equal to it, the answer is +SAME instead of a section the sender would parse and merge for
  // nothing (after a broadcast, that is every answer).
  const auto digest = argv.size() == 3 ? parse_digest_hex(argv[2]) : std::nullopt;
  if (digest && handler_.bus_gossip_digest() == *digest) return encode_simple("SAME");
  // A link's ping (it names a digest) gets a section back; MEET's handshake the whole config.
  return encode_bulk(argv.size() == 3 ? handler_.bus_gossip_section() : handler_.bus_gossip_payload());
}

void ClusterBus::serve_request(std::uint64_t id, const std::vector<std::string>& argv) {
  const bool ping = is_word_nocase(argv[0], "ping") && (argv.size() == 2 || argv.size() == 3);
  const std::string reply = ping ? answer_ping(argv) : handler_.bus_on_request(argv);
  // The entry stays while the connection is busy: only the dispatcher ends one, and never a busy one.
  const auto it = served_.find(id);
  if (it == served_.end()) return;
  send_reply(it->second, reply);
  it->second.busy = false;
  mark_ready(id, it->second);  // the dispatcher reads the next request, if any
}

void ClusterBus::send_reply(Served& served, std::string_view reply) {
  if (stopping_) return;
  ++messages_sent_;
  if (!served.conn->send(reply)) served.broken = true;
}

void ClusterBus::end_served(std::uint64_t id) {
  const auto it = served_.find(id);
  if (it == served_.end()) return;
  if (it->second.queued) {
    // Queued again by its own callback, e.g. a send of the dispatcher's that reset the connection.
    const auto queued = std::find_if(ready_.begin(), ready_.end(), [id](const auto& entry) { return entry.first == id; });
    if (queued != ready_.end()) ready_.erase(queued);
  }
  served_.erase(it);  // destroying the connection closes it and drops its callback
}

void ClusterBus::serve_digest(const std::vector<std::string>& argv, std::string& reply) {
  const auto digest = parse_digest_hex(argv[2]);
  if (!digest) {
    reply = encode_error(fmt::format("ERR PINGD: bad digest \"{}\" (expected 16 hex digits)", argv[2]));
    return;
  }
  const bool same = handler_.bus_on_digest(argv[1], *digest);
  if (same) {
    // Heard from the peer: this node's own ping to it can wait another half node timeout (the
    // manager finds the link not due when its filed time comes, and files it again).
    if (Link* link = find_link(argv[1])) {
      link->last_heard = env_.now();
      link->up = true;
    }
  }
  reply = encode_simple(same ? "SAME" : "DIFF");
}

// ---- links ---------------------------------------------------------------------------------------

void ClusterBus::manage_links() {
  while (!stopping_) {
    manager_wake_->reset();
    refresh_links();
    const LocalTime now = env_.now();
    if (now >= next_random_ping_) {
      random_ping();
      next_random_ping_ = now + kRandomPingEvery;
    }
    start_due_links(now);
    LocalTime next = next_random_ping_;
    if (!link_due_.empty() && link_due_.begin()->when < next) next = link_due_.begin()->when;
    manager_wakes_at_ = next;
    manager_wake_->wait(next - now);
    manager_wakes_at_ = LocalTime::max();  // while it runs, every filing sets the event
  }
}

LocalTime ClusterBus::link_due(const Link& link) const {
  const LocalTime wanted = link.ping_now ? LocalTime::min() : link.last_heard + options_.node_timeout / 2;
  return std::max(wanted, link.retry_at);
}

void ClusterBus::schedule_link(Link& link, LocalTime when) {
  if (link.filed) {
    if (link.filed_at <= when) return;  // it comes up earlier and is filed again then if need be
    unfile_link(link);
  }
  link_due_.insert(DueEntry{when, link.serial, &link});
  link.filed = true;
  link.filed_at = when;
  if (when < manager_wakes_at_) manager_wake_->set();
}

void ClusterBus::unfile_link(Link& link) {
  if (!link.filed) return;
  link_due_.erase(DueEntry{link.filed_at, link.serial, &link});
  link.filed = false;
}

void ClusterBus::start_due_links(LocalTime now) {
  while (!link_due_.empty() && link_due_.begin()->when <= now) {
    Link& link = *link_due_.begin()->link;
    link_due_.erase(link_due_.begin());
    link.filed = false;
    if (link.exchanging) continue;  // never filed while exchanging; its exchange files it at the end
    const LocalTime due = link_due(link);
    if (due > now) {
      schedule_link(link, due);  // heard from meanwhile
      continue;
    }
    link.exchanging = true;
    Link* const l = &link;  // stays in links_ while exchanging
    env_.spawn("bus-link", [this, l] { link_exchange(*l); });
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
    if (fresh) {
      link_index_dirty_ = true;
      link.id = &it->first;
      link.serial = next_link_serial_++;
    }
    link.listed_in = refresh_generation_;
    link.forgotten = false;
    if (link.host != peer.host || link.bus_port != peer.bus_port) {
      link.host = std::move(peer.host);
      link.bus_port = peer.bus_port;
      if (!fresh) {
        link.retry_at = LocalTime{};  // reconnect to the new address now
        if (link.exchanging) {
          link.address_changed = true;  // its exchange drops the old connection when it ends
        } else {
          drop_link_conn(link);
        }
      }
    }
    if (!link.exchanging) schedule_link(link, link_due(link));
  }
  for (auto it = links_.begin(); it != links_.end();) {
    Link& link = it->second;
    if (link.listed_in == refresh_generation_) {
      ++it;
      continue;
    }
    link.forgotten = true;  // CLUSTER RESET
    if (link.exchanging) {
      ++it;  // it ends when its exchange does
      continue;
    }
    ++it;
    erase_link(link);
  }
}

namespace {

// The first 8 bytes of an id as a big-endian number (zero-padded): ordered as the ids are.
std::uint64_t id_key(std::string_view id) {
  std::uint64_t key = 0;
  for (std::size_t k = 0; k < 8; ++k) {
    key = (key << 8U) | (k < id.size() ? static_cast<unsigned char>(id[k]) : 0U);
  }
  return key;
}

}  // namespace

const ClusterBus::Link* ClusterBus::find_link(std::string_view id) const {
  if (link_index_dirty_) {
    // links_ iterates in id order, which is the keys' order: no sort needed.
    link_index_.clear();
    for (const auto& [peer_id, link] : links_) {
      link_index_.emplace_back(id_key(peer_id), const_cast<Link*>(&link));  // NOLINT: links_ is ours
    }
    link_index_dirty_ = false;
  }
  const std::uint64_t key = id_key(id);
  auto it = std::lower_bound(link_index_.begin(), link_index_.end(), key,
                             [](const auto& entry, std::uint64_t k) { return entry.first < k; });
  for (; it != link_index_.end() && it->first == key; ++it) {
    if (*it->second->id == id) return it->second;
  }
  return nullptr;
}

ClusterBus::Link* ClusterBus::find_link(std::string_view id) {
  return const_cast<Link*>(std::as_const(*this).find_link(id));  // NOLINT: non-const this
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
  oldest->retry_at = LocalTime{};
  if (!oldest->exchanging) schedule_link(*oldest, env_.now());
}

void ClusterBus::drop_link_conn(Link& link) {
  if (!link.conn) return;
  connections_.erase(link.conn_id);
  link.conn.reset();  // closes it
}

void ClusterBus::erase_link(Link& link) {
  unfile_link(link);
  drop_link_conn(link);
  const std::string id = *link.id;  // the key goes with the entry
  links_.erase(id);
  link_index_dirty_ = true;
}

void ClusterBus::link_exchange(Link& link) {
  // The link stays in links_ while exchanging is set: refresh_links does not erase such a link.
  run_link_exchange(link);
  link.exchanging = false;
  if (link.forgotten) {
    erase_link(link);
    return;
  }
  if (link.address_changed) {
    link.address_changed = false;
    drop_link_conn(link);
  }
  if (!stopping_) schedule_link(link, link_due(link));
}

void ClusterBus::run_link_exchange(Link& link) {
  const std::string& peer_id = *link.id;
  if (stopping_) return;
  if (link.address_changed) {
    link.address_changed = false;
    drop_link_conn(link);
  }
  if (!link.conn) {
    auto opened = env_.connect(link.host, link.bus_port, options_.node_timeout);
    if (stopping_ || link.forgotten) return;  // a connection just opened goes with `opened`
    if (!opened) {
      link.up = false;
      link.retry_at = env_.now() + options_.gossip_interval;
      return;
    }
    link.conn = std::move(opened.value());
    link.conn_id = next_connection_id_++;
    connections_.emplace(link.conn_id, link.conn.get());
    link.parser = RespReplyParser();
  }
  link.ping_now = false;
  if (Status st = gossip_exchange(peer_id, *link.conn, link.parser); !st) {
    if (link.up) env_.log("bus.link.down", fmt::format("peer={} reason=\"{}\"", peer_id, st.message()));
    link.up = false;
    drop_link_conn(link);
    link.retry_at = env_.now() + options_.gossip_interval;
    return;
  }
  if (!link.up) env_.log("bus.link.up", fmt::format("peer={}", peer_id));
  link.up = true;
  link.last_heard = env_.now();
}

std::string_view ClusterBus::pingd_message(std::uint64_t digest) {
  const std::string& my_id = handler_.bus_my_id();
  if (!pingd_cached_ || digest != pingd_digest_ || my_id != pingd_id_) {
    pingd_message_ = encode_link_message("PINGD", my_id, digest);
    pingd_id_ = my_id;
    pingd_digest_ = digest;
    pingd_cached_ = true;
  }
  return pingd_message_;
}

Status ClusterBus::gossip_exchange(const std::string& peer_id, Connection& conn, RespReplyParser& parser) {
  const std::uint64_t digest = handler_.bus_gossip_digest();
  auto answer = exchange(conn, parser, pingd_message(digest), options_.node_timeout);
  if (!answer) return answer.status();
  if (answer->type == RespValue::Type::simple && answer->text == "SAME") {
    handler_.bus_on_digest(peer_id, digest);
    return Status::ok();
  }
  if (answer->type != RespValue::Type::simple || answer->text != "DIFF") {
    return Status(Err::invalid, fmt::format("PINGD answered {}", answer->to_display()));
  }
  // The configs differ: the peer merges this node's section and answers with its own, which this
  // node merges, unless the merge made the peer's config equal to this one.
  const std::uint64_t sent_digest = handler_.bus_gossip_digest();
  auto pong = exchange(conn, parser, encode_link_message("PING", handler_.bus_gossip_section(), sent_digest),
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
