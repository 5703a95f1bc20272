// core/cluster_bus.h — the cluster bus: node-to-node connections on the client port + 10000 (as in
// Redis) that carry gossip and the few requests a failover needs.
//
// Gossip follows Redis Cluster's pacing with a digest in place of its header: a node pings each peer
// it has not heard from within node_timeout/2, one of a few random peers every second, and every peer
// right after its own entry changed (broadcast). A ping carries only the sender's config digest;
// when the digests differ, gossip sections go both ways (each side's own entry and slots and a tenth
// of the others, at least three, as Redis's gossip carries a few nodes per message). So a settled
// cluster costs each node O(1) bytes per ping and O(peers) pings per node_timeout/2, and a change
// costs each node that learns it a message of O(n/10) entries instead of the whole config.
//
// Tasks: as Redis keeps a link as a small struct in its event loop, an idle link or connection holds
// no task (a task's stack is tens of KiB, and a cluster of n nodes has n² links). A ClusterBus owns
// its listener and three long-lived tasks: the accept loop, the link manager and the dispatcher.
// - The link manager keeps each known peer's link (connection, reply parser, when last heard, whether
//   up) and when it is due; when a link is due it spawns a short "bus-link" task for one exchange
//   (connect if needed, the digest ping, the sections when the configs differ), at most one per link.
// - The dispatcher ("bus-serve") serves every accepted connection: each connection's readiness
//   callback queues it (in arrival order) and wakes the dispatcher, which reads what is buffered and
//   answers digest pings inline. A PING (a merge: the cluster lock and the disk) or any other request
//   goes to a short "bus-request" task; the connection is busy until that task has sent the reply,
//   so replies keep request order and a connection never has two. Should an inline digest ping block
//   after all (an epoch collision changes the config), the dispatcher finishes that one connection
//   as its worker and, once another connection is ready, a fresh dispatcher takes over.
// - MEET handshakes and one-shot requests run in the caller's or their own short task.
// It knows nothing about slots or roles: the handler (the store) supplies the payload and digest to
// send, merges what arrives and answers requests. It never blocks in stop() or its destructor; every
// wait it makes is bounded or ended by stop(), so its tasks end soon after stop().
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/env.h"
#include "core/resp.h"

namespace replsim::core {

struct BusPeer {
  std::string id;
  std::string host;
  std::uint16_t bus_port = 0;
};

// What the bus asks of its owner. Every call comes from a bus task and may block (the dispatcher calls
// bus_on_digest inline and copes when it blocks, see the top of this file).
class ClusterBusHandler {
 public:
  virtual ~ClusterBusHandler() = default;
  // This node's id, which names the sender of a digest ping. Valid until the config changes: the bus
  // uses it before it blocks.
  virtual const std::string& bus_my_id() = 0;
  // The whole config text, for MEET's handshake (a node met learns everything the other knows).
  // Valid until the config changes, like bus_my_id(): the bus encodes it into a message before it
  // blocks, not a copy of it first (a config of n nodes is O(n) bytes).
  virtual const std::string& bus_gossip_payload() = 0;
  // What a link's exchange carries when the digests differ, in both directions: a gossip section
  // (ClusterConfig::serialize_section: this node's own entry and slots and a few others), as Redis
  // gossips a few nodes per message. MEET's handshake still carries the whole config. Valid until
  // the next call.
  virtual const std::string& bus_gossip_section() = 0;
  // The digest of that config (ClusterConfig::digest): equal digests mean equal configs.
  virtual std::uint64_t bus_gossip_digest() = 0;
  // A config another node sent (in a PING or a PONG).
  virtual void bus_on_gossip(std::string_view payload) = 0;
  // A peer holds a config with this digest (its digest ping, or the answer "same" to ours). Returns
  // whether it equals this node's: then the peer's config needs no merging, only what gossip from a
  // node with an equal config implies (the cluster has been heard, epoch collisions).
  virtual bool bus_on_digest(std::string_view sender_id, std::uint64_t digest) = 0;
  // Any request other than the pings, e.g. the failover handshake. Returns the complete RESP reply.
  virtual std::string bus_on_request(const std::vector<std::string>& argv) = 0;
  // The nodes to keep links to (every known node but this one).
  virtual std::vector<BusPeer> bus_peers() = 0;
  // Changes whenever bus_peers() may have changed (a new node, a forgotten one, a new address).
  virtual std::uint64_t bus_peers_version() = 0;
};

struct ClusterBusOptions {
  // The bus's tick (Redis's cron period): links that failed retry after it, MEET retries after it.
  Nanos gossip_interval = std::chrono::milliseconds(100);
  // Connect and reply timeout on the bus; a link that exceeds it is closed and retried. A peer not
  // heard from within half of it is pinged.
  Nanos node_timeout = std::chrono::milliseconds(1000);
  // MEET handshakes are retried this many times, gossip_interval apart, before they are given up.
  int meet_attempts = 50;
};

class ClusterBus {
 public:
  ClusterBus(Env& env, ClusterBusHandler& handler, ClusterBusOptions options);
  ~ClusterBus();
  ClusterBus(const ClusterBus&) = delete;
  ClusterBus& operator=(const ClusterBus&) = delete;

  // Listens on bus_port and spawns the accept loop and the link manager.
  Status start(std::uint16_t bus_port);
  // Closes every connection; tasks end at their next wake-up. Never blocks.
  void stop();

  // Starts a handshake with the node whose client port is port: its PONG brings its config, and with
  // it its id. Returns at once.
  void meet(const std::string& host, std::uint16_t client_port);
  // Ping every peer now (this node's own entry changed: the others must learn it soon).
  void broadcast();
  // The config changed: links to new peers start, links to forgotten ones end.
  void config_changed() { manager_wake_->set(); }
  // One request on a fresh connection to a node's bus, waiting up to timeout for the reply.
  Result<RespValue> request(const std::string& host, std::uint16_t bus_port,
                            const std::vector<std::string>& argv, Nanos timeout);

  // Whether the last exchange with a node, in either direction, succeeded (for CLUSTER NODES).
  bool link_up(std::string_view id) const;
  std::uint64_t messages_sent() const { return messages_sent_; }
  std::uint64_t messages_received() const { return messages_received_; }

 private:
  // A known peer's link: what its exchanges share. No task waits on an idle link.
  struct Link {
    const std::string* id = nullptr;   // the peer's id: this link's key in links_
    std::uint64_t serial = 0;          // order of creation, which breaks ties in link_due_
    std::unique_ptr<Connection> conn;  // kept between exchanges; null until an exchange connects
    std::uint64_t conn_id = 0;         // conn's key in connections_
    RespReplyParser parser;
    bool exchanging = false;       // a bus-link task is in flight (at most one per link)
    bool up = false;
    bool ping_now = false;         // a broadcast or the random pick wants a ping before it is due
    bool forgotten = false;        // no longer a known node: the link ends (after its exchange)
    bool address_changed = false;  // reconnect to the new host and bus_port
    LocalTime last_heard{};        // the last exchange with the peer that succeeded, either direction
    LocalTime retry_at{};          // after a failed exchange, the next one waits until then
    std::uint64_t listed_in = 0;   // the refresh_links() that last found the peer in bus_peers()
    bool filed = false;            // has its one entry in link_due_, at filed_at
    LocalTime filed_at{};
    std::string host;
    std::uint16_t bus_port = 0;
  };
  // When the manager looks at a link again; ordered by time, then by link creation.
  struct DueEntry {
    LocalTime when;
    std::uint64_t serial = 0;
    Link* link = nullptr;
    bool operator<(const DueEntry& other) const {
      return when != other.when ? when < other.when : serial < other.serial;
    }
  };
  // An accepted connection, served by the dispatcher.
  struct Served {
    std::unique_ptr<Connection> conn;
    RespRequestParser parser;
    bool busy = false;    // a task owns its current request until the reply is sent
    bool queued = false;  // in ready_
    bool broken = false;  // a reply could not be sent: the dispatcher closes it
  };

  void accept_loop(std::unique_ptr<Listener> listener);
  // The dispatcher: serves ready connections until stop() or until a newer dispatcher took over.
  void dispatch(std::uint64_t generation);
  // Answers what conn has buffered, until it has nothing left or a request went to a task.
  void serve_connection(std::uint64_t id, Served& served, std::uint64_t generation);
  // A bus-request task: answers one PING or request, sends the reply, hands the connection back.
  void serve_request(std::uint64_t id, const std::vector<std::string>& argv);
  std::string answer_ping(const std::vector<std::string>& argv);
  void send_reply(Served& served, std::string_view reply);
  // The readiness callback of accepted connection id: queue it for the dispatcher.
  void mark_ready(std::uint64_t id, Served& served);
  void end_served(std::uint64_t id);
  void manage_links();
  // Spawns an exchange for every link whose time has come (re-filing the others).
  void start_due_links(LocalTime now);
  // When link should next exchange: ping_now at once, else when not heard for node_timeout/2, but not
  // before retry_at.
  LocalTime link_due(const Link& link) const;
  // Files a time to look at a link again (unless it is filed for an earlier one already), waking the
  // manager if that is earlier than its wait.
  void schedule_link(Link& link, LocalTime when);
  void unfile_link(Link& link);
  // A bus-link task: one exchange on the link, then the link is filed again (or ends).
  void link_exchange(Link& link);
  void run_link_exchange(Link& link);
  void drop_link_conn(Link& link);
  void erase_link(Link& link);
  // One gossip exchange on conn: the digest ping, and sections both ways when the configs differ.
  Status gossip_exchange(const std::string& peer_id, Connection& conn, RespReplyParser& parser);
  // The encoded digest ping for this node's id and digest, kept until either changes (every link
  // sends the same one between config changes). The view is valid until the next call: exchange()
  // hands it to the connection before it blocks.
  std::string_view pingd_message(std::uint64_t digest);
  // Adds links to peers without one and ends those to forgotten peers; every second, pings the least
  // recently heard of a few random peers.
  void refresh_links();
  void random_ping();
  // The link to a peer, or null: a binary search over link_index_ (contiguous, rebuilt after links
  // come or go) instead of links_'s tree of string keys, which every digest ping served walked.
  const Link* find_link(std::string_view id) const;
  Link* find_link(std::string_view id);
  void meet_task(const std::string& host, std::uint16_t bus_port);
  void serve_digest(const std::vector<std::string>& argv, std::string& reply);
  // Sends one encoded request and reads one reply on conn.
  Result<RespValue> exchange(Connection& conn, RespReplyParser& parser, std::string_view message, Nanos timeout);

  Env& env_;
  ClusterBusHandler& handler_;
  ClusterBusOptions options_;
  bool started_ = false;
  bool stopping_ = false;
  std::unique_ptr<Event> manager_wake_;
  std::uint64_t peers_version_seen_ = 0;
  bool peers_seen_ = false;
  std::uint64_t refresh_generation_ = 0;
  LocalTime next_random_ping_{};
  std::map<std::string, Link> links_;  // by peer id, from refresh_links until forgotten
  // links_ as (the id's first 8 bytes, big-endian; the link), in id order, for find_link.
  mutable std::vector<std::pair<std::uint64_t, Link*>> link_index_;
  mutable bool link_index_dirty_ = true;
  std::uint64_t next_link_serial_ = 1;
  // At most one entry per link (Link::filed), and none for a link exchanging or gone. An entry may
  // come up early (the peer was heard from meanwhile): the manager files the link again.
  std::set<DueEntry> link_due_;
  LocalTime manager_wakes_at_ = LocalTime::max();  // the end of the manager's wait while it waits
  // Connections opened by links and requests, so stop() can close them (accepted ones: served_).
  std::map<std::uint64_t, Connection*> connections_;
  std::uint64_t next_connection_id_ = 1;
  std::unique_ptr<Event> serve_wake_;
  std::uint64_t dispatcher_generation_ = 0;  // the dispatcher running now; older ones end
  bool dispatcher_in_handler_ = false;       // it is inside a handler call that may block
  // Accepted connections to serve, in order of readiness: (id, entry); end_served takes an entry off.
  std::deque<std::pair<std::uint64_t, Served*>> ready_;
  std::map<std::uint64_t, Served> served_;   // accepted connections, by id; after serve_wake_ (callbacks)
  std::uint64_t messages_sent_ = 0;
  std::uint64_t messages_received_ = 0;
  bool pingd_cached_ = false;  // pingd_message_ encodes pingd_id_ and pingd_digest_
  std::string pingd_id_;
  std::uint64_t pingd_digest_ = 0;
  std::string pingd_message_;
};

}  // namespace replsim::core
