// sim/kernel/network.h — simulated TCP-like byte streams between hosts, and the network's faults.
//
// The Network owns every connection and listener of the run and moves bytes between them on the
// Scheduler's virtual clock. It draws every random choice from its own Rng stream, keeps its state in
// ordered containers keyed by counters (never by address), and records every send, delivery, reset
// and fault in the trace. It never reads the wall clock and never parks inside a destructor.
//
// Hosts. A host is either a kernel node (its NodeId from Scheduler::add_node) or a client host added
// with add_client("client-0"): harness tasks (clients, operator) open connections from a client host.
// An endpoint is (host, port); the connecting side gets an ephemeral port (49152..65535) for naming.
//
// Fault model.
// - Latency: each send is delivered at max(now + latency, previous delivery time of that direction),
//   so bytes never reorder within a connection. The latency is drawn per send from the link's
//   LinkLatency: uniform in [latency_min, latency_max], plus, with tail_probability, an extra delay
//   uniform in [0, tail_max]. Links without their own setting use NetworkConfig::latency.
// - Clogging adds a fixed extra delay to every send (and handshake leg) that starts while the clog is
//   on: per host (its traffic in both directions) and per link. Bytes already in flight keep their
//   times. Clogs last until unclogged.
// - Partitions block directed host pairs: two-way between two host sets, one-way (senders' bytes to
//   receivers are blocked, the reverse still flows), isolate-one (a host from every host known at the
//   time of the call), and a random split of a host set into two non-empty groups. A host always
//   reaches itself. Bytes whose delivery time comes while their direction is blocked are HELD, never
//   dropped: after the block is healed they are delivered in order, after a fresh latency. If a
//   direction holds bytes for reset_after, the connection is reset on both sides, as TCP does after
//   its retransmissions time out. A direction with nothing to send never notices a partition.
// - Connects: the SYN takes one link latency; when it arrives, both directions must be open or it is
//   lost and retried every syn_retry until the timeout (Err::timeout). A down target, a port without
//   a listener, a full accept backlog or the connection limit answer Err::refused after the return
//   latency. Otherwise the connection joins the listener's backlog and connect returns after the
//   return latency.
// - Resets (a fault on one connection or all of a host's, a node going down, reset_after, the buffer
//   cap, or bytes arriving at a side that was closed, as a TCP RST would) act on both sides at once:
//   in-flight and unread bytes are discarded, parked recv calls wake with Err::reset.
// - A node going down (Scheduler::on_node_down) resets every connection with an end on it and makes
//   its listeners vanish (their unaccepted connections are reset). Connects to it are refused until
//   it restarts and listens again. A paused node's connections keep receiving bytes (its kernel's
//   buffers); only its tasks are frozen.
//
// Limits. Per direction, bytes sent but not yet read by the receiver (in flight, held or waiting in
// the receiver's buffer) are capped at buffer_cap_bytes: a send that would exceed the cap resets the
// connection and fails with Err::reset (a slow consumer is disconnected, as Redis does with its output
// buffer limits); a byte stream with a gap would be worse. Accept backlogs hold at most backlog_max
// connections and the network at most connections_max live connections; beyond, connects are refused.
//
// Closing. close() is a full close: the peer reads the bytes already sent, then Err::closed (EOF).
// Bytes that reach a closed side reset the connection, so a writer learns its reader is gone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/env.h"
#include "core/fifo.h"
#include "sim/kernel/rng.h"
#include "sim/kernel/scheduler.h"

namespace replsim::kernel {

// A network address: a kernel NodeId, or kFirstClientHost + n for the n-th client host.
using Host = std::uint32_t;
inline constexpr Host kFirstClientHost = 0x40000000U;
using Port = std::uint16_t;
using ConnId = std::uint64_t;  // 1, 2, 3, ... in order of establishment; stable for the trace

struct LinkLatency {
  Nanos latency_min = std::chrono::microseconds(100);
  Nanos latency_max = std::chrono::milliseconds(2);
  double tail_probability = 0.01;  // chance that a send also gets a long-tail delay
  Nanos tail_max = std::chrono::milliseconds(50);
};

struct NetworkConfig {
  LinkLatency latency;                             // every link without its own setting
  Nanos reset_after = std::chrono::seconds(10);    // held bytes for this long reset the connection
  Nanos syn_retry = std::chrono::seconds(1);       // a lost SYN is retried after this long
  std::size_t buffer_cap_bytes = 64U << 20U;       // unread bytes per direction
  std::size_t backlog_max = 128;                   // unaccepted connections per listener
  std::size_t connections_max = 1U << 16U;         // live connections in the whole network
};

struct NetworkStats {
  std::uint64_t connects = 0;          // connect() calls
  std::uint64_t established = 0;
  std::uint64_t refused = 0;
  std::uint64_t connect_timeouts = 0;
  std::uint64_t sends = 0;             // messages: successful non-empty send() calls
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_delivered = 0;   // bytes that reached the receiver's buffer
  std::uint64_t resets = 0;
};

class Network;

// One end of a connection. Owned by whoever opened or accepted it; destroying it closes it (without
// parking, so it is safe while a crash unwinds the owner's stack). It may outlive the Network, after
// which every operation fails with Err::closed.
class NetConnection {
 public:
  ~NetConnection();
  NetConnection(const NetConnection&) = delete;
  NetConnection& operator=(const NetConnection&) = delete;

  // Queues bytes for delivery; never waits. Err::closed after close(), Err::reset once reset,
  // Err::shutdown when the calling task's node is crashing.
  core::Status send(std::string_view bytes);
  // Waits up to `timeout` (global time) for at least one byte and returns at most max_bytes.
  // Err::closed: the peer closed and every byte was read, or this end was closed. Err::reset,
  // Err::timeout, Err::shutdown (the caller's node is crashing: returns at once without parking).
  // A zero timeout never parks: Err::timeout at once when nothing is buffered.
  // REQUIRES: called from a task unless timeout is zero.
  core::Result<std::string> recv(std::size_t max_bytes, Nanos timeout);
  // Readiness callback: called where a parked recv of this end would be woken (bytes delivered, the
  // peer's end of stream, a reset, a local close), after the network's state is updated, and at once
  // from this call when this end is readable already (unread bytes, end of stream, reset, closed).
  // Once this end is closed nothing more is called (its own close was the last call).
  // It runs inside the network (a delivery timer, or the call that broke the stream), so it must not
  // park, destroy this handle or call the network except to read state; setting an event or spawning
  // a task is fine. Destroying the handle removes it (it is not called for that close).
  void set_on_readable(std::function<void()> callback);
  // Full close: the peer gets the bytes already sent, then end of stream. Idempotent, never parks.
  void close();

  ConnId id() const { return id_; }
  Host local_host() const { return local_host_; }
  Host peer_host() const { return peer_host_; }
  std::string local() const { return local_address_; }  // "host:port"
  std::string peer() const { return peer_address_; }    // "host:port"

 private:
  friend class Network;
  NetConnection(Network* net, ConnId id, int side, Host local_host, Host peer_host,
                std::string local_address, std::string peer_address);

  Network* net_;  // null once the Network is gone
  ConnId id_;
  int side_;      // 0: the connecting end, 1: the accepting end
  Host local_host_;
  Host peer_host_;
  std::string local_address_;
  std::string peer_address_;
};

// A listening port. Owned by whoever listened; destroying it stops listening and resets the
// connections it had not accepted yet. It may outlive the Network, like NetConnection.
class NetListener {
 public:
  ~NetListener();
  NetListener(const NetListener&) = delete;
  NetListener& operator=(const NetListener&) = delete;

  // Waits up to `timeout` for an established connection. Err::closed when the listener was closed
  // or its node went down, Err::timeout, Err::shutdown (the caller's node is crashing).
  // REQUIRES: called from a task unless timeout is zero.
  core::Result<std::unique_ptr<NetConnection>> accept(Nanos timeout);
  void close();

  Host host() const { return host_; }
  Port port() const { return port_; }

 private:
  friend class Network;
  NetListener(Network* net, std::uint64_t id, Host host, Port port)
      : net_(net), id_(id), host_(host), port_(port) {}

  Network* net_;
  std::uint64_t id_;
  Host host_;
  Port port_;
};

class Network : private TimerTarget {
 public:
  // Draws from Rng(seed, "net"). Subscribes to the scheduler's node-down notifications.
  Network(Scheduler& sched, std::uint64_t seed, NetworkConfig config = {});
  // Detaches surviving handles and drops the network's queued timers.
  // REQUIRES: the scheduler outlives the network.
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // ---- hosts ----------------------------------------------------------------------------------
  // A host for harness tasks (clients, operator). It never goes down.
  Host add_client(std::string name);
  bool is_known(Host host) const;
  bool is_client(Host host) const { return host >= kFirstClientHost; }
  std::string host_name(Host host) const;
  // The host with that name (a node's name or a client's), for adapters that connect by name.
  std::optional<Host> find_host(std::string_view name) const;
  // Every kernel node, then every client host, ascending.
  std::vector<Host> hosts() const;

  // ---- endpoints ------------------------------------------------------------------------------
  // Err::invalid for an unknown host or a port in use, Err::shutdown when the host's node is down or
  // the calling task's node is crashing.
  core::Result<std::unique_ptr<NetListener>> listen(Host host, Port port);
  // Opens a connection from `from` to (to, port); parks the calling task for the handshake (see the
  // fault model). Errors: refused, timeout, invalid (unknown host), shutdown (from's node is down or
  // the calling task's node is crashing). REQUIRES: called from a task.
  core::Result<std::unique_ptr<NetConnection>> connect(Host from, Host to, Port port, Nanos timeout);

  // ---- latency --------------------------------------------------------------------------------
  // Both directions of the link between a and b.
  void set_link_latency(Host a, Host b, LinkLatency latency);

  // ---- faults (callable at any time, from tasks or timers) ------------------------------------
  // Blocks every host of `a` from every host of `b`, both ways.
  void partition(const std::vector<Host>& a, const std::vector<Host>& b);
  // Blocks bytes from `senders` to `receivers`; the reverse direction keeps flowing.
  void partition_one_way(const std::vector<Host>& senders, const std::vector<Host>& receivers);
  // Blocks `host` from every other host known now, both ways.
  void isolate(Host host);
  // Splits `hosts` (at least two) into two random non-empty groups and partitions them; returns the
  // groups, each sorted. Without `hosts`: every kernel node.
  std::pair<std::vector<Host>, std::vector<Host>> partition_random(Rng& rng, std::vector<Host> hosts);
  std::pair<std::vector<Host>, std::vector<Host>> partition_random(Rng& rng);
  // Removes every block (clogs stay) and releases held bytes.
  void heal();
  // Removes the blocks between a and b, both directions.
  void heal_link(Host a, Host b);
  bool is_blocked(Host from, Host to) const;
  std::size_t blocked_link_count() const { return blocked_.size(); }

  void clog_host(Host host, Nanos extra);
  void unclog_host(Host host);
  void clog_link(Host a, Host b, Nanos extra);  // both directions
  void unclog_link(Host a, Host b);
  void unclog_all();

  // Resets one connection on both sides. False when no such live connection.
  bool reset_connection(ConnId id, std::string_view reason = "fault");
  // Resets every connection with an end on `host`; returns how many.
  std::size_t reset_host_connections(Host host, std::string_view reason = "fault");

  // ---- inspection -----------------------------------------------------------------------------
  std::vector<ConnId> connection_ids() const;  // live (not reset) connections, ascending
  std::vector<ConnId> connections_of(Host host) const;
  const NetworkStats& stats() const { return stats_; }
  const NetworkConfig& config() const { return config_; }

 private:
  friend class NetConnection;
  friend class NetListener;

  struct Segment {
    std::int64_t due_ns = 0;  // delivery time; non-decreasing along a direction's queue
    std::string bytes;
    bool fin = false;  // end of stream
  };
  // Bytes flowing from side s of a connection to side 1 - s.
  struct Direction {
    core::Fifo<Segment> queue;         // sent, not delivered yet (in flight or held)
    std::int64_t last_due_ns = 0;      // no later send is delivered before this
    std::uint64_t pump_generation = 0;  // names the one live delivery timer
    std::int64_t held_since_ns = -1;   // >= 0 while blocked bytes wait for a heal
    std::uint64_t hold_episode = 0;    // names the one live reset_after check
    std::size_t unread_bytes = 0;      // queue plus the receiver's unread buffer
  };
  struct Side {
    Host host = 0;
    Port port = 0;
    NetConnection* handle = nullptr;  // for detaching at ~Network only
    bool owned = false;   // by a handle, a listener's backlog, or a connect in progress
    bool closed = false;  // closed by this side
    bool eof = false;     // the peer's FIN arrived
    std::string inbox;    // delivered bytes; unread from inbox_offset
    std::size_t inbox_offset = 0;
    std::vector<Scheduler::WaitToken> waiters;  // tasks parked in recv
    std::function<void()> on_readable;          // set_on_readable's callback, if any
  };
  struct Conn {
    ConnId id = 0;
    Side side[2];
    Direction dir[2];  // dir[s]: from side s to side 1 - s
    bool reset = false;
    std::string reset_reason;
    std::string label[2];  // "a:49152->b:6379" per direction, for the trace
  };
  struct ListenerState {
    Host host = 0;
    Port port = 0;
    NetListener* handle = nullptr;
    bool gone = false;  // closed, or its node went down
    std::string gone_reason;
    core::Fifo<ConnId> backlog;
    std::vector<Scheduler::WaitToken> waiters;  // tasks parked in accept
  };

  // Handle operations.
  core::Status conn_send(ConnId id, int side, std::string_view bytes);
  core::Result<std::string> conn_recv(ConnId id, int side, std::size_t max_bytes, Nanos timeout);
  void conn_close(ConnId id, int side);
  void conn_release(ConnId id, int side);
  void conn_set_on_readable(ConnId id, int side, std::function<void()> callback);
  // Calls the side's readiness callback, if any (a copy: the callback may replace itself).
  void notify_readable(ConnId id, int side);
  core::Result<std::unique_ptr<NetConnection>> listener_accept(std::uint64_t id, Nanos timeout);
  void listener_close(std::uint64_t id, std::string_view reason);
  void listener_release(std::uint64_t id);

  // Connect helpers.
  std::string refusal_reason(Host to, Port port) const;
  ConnId open_connection(Host from, Port from_port, Host to, Port port);
  std::unique_ptr<NetConnection> make_handle(Conn& c, int side);
  bool sleep_until(std::int64_t when_ns, std::int64_t deadline_ns);

  // Streams.
  Conn* find_conn(ConnId id);
  void enqueue(Conn& c, int d, Segment seg);
  void schedule_pump(Conn& c, int d);
  void pump(ConnId id, int d, std::uint64_t generation);
  // The delivery timers (pump) and reset_after checks (check_hold) of one direction.
  enum class TimerKind : std::uint64_t { pump = 0, check_hold = 1 };
  void arm_timer(SimTime when, TimerKind kind, ConnId id, int d, std::uint64_t stamp);
  void on_timer(std::uint64_t a, std::uint64_t b) override;
  void hold(Conn& c, int d);
  void check_hold(ConnId id, int d, std::uint64_t episode);
  void release_held();
  void reset(Conn& c, std::string_view reason);
  void maybe_erase(ConnId id);
  void on_node_down(NodeId node);

  // Links.
  void block(Host from, Host to);
  Nanos draw_latency(Host from, Host to);
  Nanos clog_extra(Host from, Host to) const;
  bool is_down(Host host) const;
  std::string address(Host host, Port port) const;
  static const std::string& dir_name(const Conn& c, int d) { return c.label[d]; }
  std::string host_list(const std::vector<Host>& hosts) const;
  std::int64_t deadline_after(Nanos timeout) const;
  void wake_all(std::vector<Scheduler::WaitToken>& waiters);
  void record(Host host, std::string_view kind, std::string_view detail);
  [[noreturn]] void fail(const char* what, const char* file, int line) const;

  Scheduler& sched_;
  std::uint64_t seed_;
  NetworkConfig config_;
  Rng rng_;
  NetworkStats stats_;
  std::vector<std::string> clients_;  // client host names, by index
  std::map<Host, Port> next_ephemeral_port_;
  std::map<ConnId, Conn> conns_;
  // conns_'s connections by id (ids are handed out in order): find_conn runs at every send, receive
  // and delivery, and a cluster of n nodes holds n² bus connections.
  std::vector<Conn*> conn_by_id_;
  // (host, id) for both ends of every connection in conns_: a host's connections in id order without
  // a walk over every connection (a node going down, a fault on one host).
  std::set<std::pair<Host, ConnId>> conns_of_host_;
  ConnId next_conn_id_ = 1;
  std::map<std::uint64_t, ListenerState> listeners_;
  std::map<std::pair<Host, Port>, std::uint64_t> bound_;  // (host, port) -> listener id
  std::uint64_t next_listener_id_ = 1;
  std::set<std::pair<Host, Host>> blocked_;  // (from, to) directions that hold bytes
  std::map<std::pair<Host, Host>, LinkLatency> link_latency_;  // (from, to)
  std::map<Host, Nanos> host_clog_;
  std::map<std::pair<Host, Host>, Nanos> link_clog_;  // (min, max) host pair
  fmt::memory_buffer detail_;  // the detail of the hot trace records, formatted in place
  // The node-down listener holds a weak reference: it does nothing once the Network is gone.
  std::shared_ptr<char> alive_ = std::make_shared<char>(0);
  std::uint32_t timer_target_;  // this network as the scheduler's call-timer target
};

}  // namespace replsim::kernel
