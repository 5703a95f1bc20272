// core/cluster_bus.h — the cluster bus: node-to-node connections on the client port + 10000 (as in
// Redis) that carry gossip (each node's whole config, both ways, every interval) and the few requests
// a failover needs.
//
// A ClusterBus owns its listener, one link task per known peer, the server task of each accepted
// connection and the MEET handshakes in flight. It knows nothing about slots or roles: the handler
// (the store) supplies the payload to send, merges what arrives and answers requests. It never blocks
// in stop() or its destructor; every wait it makes is bounded so its tasks end soon after stop().
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
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

// What the bus asks of its owner. Every call comes from a bus task and may block.
class ClusterBusHandler {
 public:
  virtual ~ClusterBusHandler() = default;
  // The config text to gossip now.
  virtual std::string bus_gossip_payload() = 0;
  // A config another node sent (in a PING or a PONG).
  virtual void bus_on_gossip(std::string_view payload) = 0;
  // Any request other than PING, e.g. the failover handshake. Returns the complete RESP reply.
  virtual std::string bus_on_request(const std::vector<std::string>& argv) = 0;
  // The nodes to keep links to (every known node but this one).
  virtual std::vector<BusPeer> bus_peers() = 0;
};

struct ClusterBusOptions {
  Nanos gossip_interval = std::chrono::milliseconds(100);
  // Connect and reply timeout on the bus; a link that exceeds it is closed and retried.
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
  // Gossip now rather than at the next interval (the local config changed).
  void wake();
  // One request on a fresh connection to a node's bus, waiting up to timeout for the reply.
  Result<RespValue> request(const std::string& host, std::uint16_t bus_port,
                            const std::vector<std::string>& argv, Nanos timeout);

  // Whether the link to a node answered its last ping (for CLUSTER NODES).
  bool link_up(std::string_view id) const;
  std::uint64_t messages_sent() const { return messages_sent_; }
  std::uint64_t messages_received() const { return messages_received_; }

 private:
  struct Link {
    std::unique_ptr<Event> wake;
    bool up = false;
  };

  void accept_loop(std::unique_ptr<Listener> listener);
  void serve(Connection& conn);
  void manage_links();
  void link_loop(const std::string& peer_id);
  void meet_task(const std::string& host, std::uint16_t bus_port);
  // Sends argv and reads one reply on conn.
  Result<RespValue> exchange(Connection& conn, RespReplyParser& parser,
                             const std::vector<std::string>& argv, Nanos timeout);

  Env& env_;
  ClusterBusHandler& handler_;
  ClusterBusOptions options_;
  bool started_ = false;
  bool stopping_ = false;
  std::unique_ptr<Event> manager_wake_;
  std::map<std::string, Link> links_;  // by peer id, while its link task runs
  // Live connections (accepted and opened), so stop() can close them.
  std::map<std::uint64_t, Connection*> connections_;
  std::uint64_t next_connection_id_ = 1;
  std::uint64_t messages_sent_ = 0;
  std::uint64_t messages_received_ = 0;
};

}  // namespace replsim::core
