// sim/kernel/network.cpp — connections, delivery timers, partitions, clogs and resets.
//
// Each direction of a connection is a queue of segments with non-decreasing delivery times and at
// most one live delivery timer (the "pump"), named by a generation so a superseded timer does nothing.
// A pump that finds its direction blocked leaves the bytes queued (held) and arms a reset_after check;
// a heal re-times held bytes and restarts their pumps. Everything is keyed by counters and iterated in
// key order, so the trace depends only on the seed. Nothing here parks except connect, recv and accept.
#include "sim/kernel/network.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include <fmt/compile.h>
#include <fmt/format.h>

#include <iterator>

namespace replsim::kernel {

using core::Err;
using ConnResult = core::Result<std::unique_ptr<NetConnection>>;

#define NET_ASSERT(cond) ((cond) ? static_cast<void>(0) : fail(#cond, __FILE__, __LINE__))

namespace {

constexpr Port kFirstEphemeralPort = 49152;
constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
// A reader's consumed prefix is dropped once it is this large and more than half the buffer.
constexpr std::size_t kInboxCompactBytes = 64 * 1024;

}  // namespace

// ==== handles ====================================================================================

NetConnection::NetConnection(Network* net, ConnId id, int side, Host local_host, Host peer_host,
                             std::string local_address, std::string peer_address)
    : net_(net),
      id_(id),
      side_(side),
      local_host_(local_host),
      peer_host_(peer_host),
      local_address_(std::move(local_address)),
      peer_address_(std::move(peer_address)) {}

NetConnection::~NetConnection() {
  if (net_ != nullptr) net_->conn_release(id_, side_);
}

core::Status NetConnection::send(std::string_view bytes) {
  if (net_ == nullptr) return {Err::closed, fmt::format("conn {}: the network is gone", id_)};
  return net_->conn_send(id_, side_, bytes);
}

core::Result<std::string> NetConnection::recv(std::size_t max_bytes, Nanos timeout) {
  if (net_ == nullptr) return {Err::closed, fmt::format("conn {}: the network is gone", id_)};
  return net_->conn_recv(id_, side_, max_bytes, timeout);
}

void NetConnection::close() {
  if (net_ != nullptr) net_->conn_close(id_, side_);
}

void NetConnection::set_on_readable(std::function<void()> callback) {
  if (net_ != nullptr) {
    net_->conn_set_on_readable(id_, side_, std::move(callback));
  } else if (callback) {
    callback();  // the network is gone: recv reports the end of the stream at once
  }
}

NetListener::~NetListener() {
  if (net_ != nullptr) net_->listener_release(id_);
}

ConnResult NetListener::accept(Nanos timeout) {
  if (net_ == nullptr) return {Err::closed, fmt::format("listener on port {}: the network is gone", port_)};
  return net_->listener_accept(id_, timeout);
}

void NetListener::close() {
  if (net_ != nullptr) net_->listener_close(id_, "closed");
}

// ==== construction, hosts ========================================================================

Network::Network(Scheduler& sched, std::uint64_t seed, NetworkConfig config)
    : sched_(sched),
      seed_(seed),
      config_(config),
      rng_(seed, "net"),
      timer_target_(sched.add_timer_target(this)) {
  NET_ASSERT(config_.syn_retry > Nanos::zero());
  NET_ASSERT(config_.reset_after > Nanos::zero());
  NET_ASSERT(config_.buffer_cap_bytes > 0);
  NET_ASSERT(config_.latency.latency_min >= Nanos::zero());
  NET_ASSERT(config_.latency.latency_min <= config_.latency.latency_max);
  NET_ASSERT(config_.latency.tail_max >= Nanos::zero());
  sched_.on_node_down([this, alive = std::weak_ptr<char>(alive_)](NodeId node) {
    if (!alive.expired()) on_node_down(node);
  });
}

Network::~Network() {
  sched_.remove_timer_target(timer_target_);
  for (auto& [id, c] : conns_) {
    for (Side& s : c.side) {
      if (s.handle != nullptr) s.handle->net_ = nullptr;
    }
  }
  for (auto& [id, l] : listeners_) {
    if (l.handle != nullptr) l.handle->net_ = nullptr;
  }
}

void Network::fail(const char* what, const char* file, int line) const {
  std::fprintf(stderr, "replsim network assertion failed: %s at %s:%d (seed=%llu t=%lldns)\n", what,
               file, line, static_cast<unsigned long long>(seed_),
               static_cast<long long>(sched_.now_ns()));
  std::abort();
}

Host Network::add_client(std::string name) {
  NET_ASSERT(clients_.size() < std::numeric_limits<Host>::max() - kFirstClientHost);
  const Host host = kFirstClientHost + static_cast<Host>(clients_.size());
  record(kNoNode, "net.add_client", fmt::format("host={} name={}", host, name));
  clients_.push_back(std::move(name));
  return host;
}

bool Network::is_known(Host host) const {
  if (is_client(host)) return host - kFirstClientHost < clients_.size();
  return host < sched_.node_count();
}

std::string Network::host_name(Host host) const {
  if (!is_known(host)) return fmt::format("unknown-host-{}", host);
  if (is_client(host)) return clients_[host - kFirstClientHost];
  return sched_.node_name(host);
}

std::optional<Host> Network::find_host(std::string_view name) const {
  for (Host h : hosts()) {
    if (host_name(h) == name) return h;
  }
  return std::nullopt;
}

std::vector<Host> Network::hosts() const {
  std::vector<Host> out;
  for (std::size_t n = 0; n < sched_.node_count(); ++n) out.push_back(static_cast<Host>(n));
  for (std::size_t i = 0; i < clients_.size(); ++i) out.push_back(kFirstClientHost + static_cast<Host>(i));
  return out;
}

bool Network::is_down(Host host) const {
  return !is_client(host) && sched_.node_state(host) == NodeState::down;
}

std::string Network::address(Host host, Port port) const {
  return fmt::format("{}:{}", host_name(host), port);
}

std::string Network::host_list(const std::vector<Host>& hosts) const {
  std::string out;
  for (Host h : hosts) {
    if (!out.empty()) out += ',';
    out += host_name(h);
  }
  return out;
}

void Network::record(Host host, std::string_view kind, std::string_view detail) {
  std::string_view name;
  if (host != kNoNode) {
    NET_ASSERT(is_known(host));
    name = is_client(host) ? std::string_view(clients_[host - kFirstClientHost])
                           : std::string_view(sched_.node_name(host));
  }
  sched_.trace().record(sched_.now_ns(), name, kind, detail);
}

std::int64_t Network::deadline_after(Nanos timeout) const {
  if (timeout <= Nanos::zero()) return sched_.now_ns();
  if (timeout == kForever || timeout.count() >= kNever - sched_.now_ns()) return kNever;
  return sched_.now_ns() + timeout.count();
}

void Network::wake_all(std::vector<Scheduler::WaitToken>& waiters) {
  // wake() only queues events, so the list cannot change under the loop; clearing it in place keeps
  // its buffer for the next waiter.
  for (const auto& w : waiters) sched_.wake(w);
  waiters.clear();
}

// ==== listen, connect, accept ====================================================================

core::Result<std::unique_ptr<NetListener>> Network::listen(Host host, Port port) {
  if (sched_.current_is_dying()) return {Err::shutdown, "listen: the calling node is crashing"};
  if (!is_known(host)) return {Err::invalid, fmt::format("listen: unknown host {}", host)};
  const std::string where = address(host, port);
  if (is_down(host)) return {Err::shutdown, fmt::format("listen on {}: the node is down", where)};
  if (bound_.contains({host, port})) {
    return {Err::invalid, fmt::format("listen on {}: address already in use", where)};
  }
  const std::uint64_t id = next_listener_id_++;
  ListenerState& l = listeners_[id];
  l.host = host;
  l.port = port;
  bound_[{host, port}] = id;
  auto handle = std::unique_ptr<NetListener>(new NetListener(this, id, host, port));
  l.handle = handle.get();
  record(host, "net.listen", fmt::format("port={}", port));
  return core::Result<std::unique_ptr<NetListener>>(std::move(handle));
}

// Sleeps until when_ns, but not past deadline_ns. True when when_ns came within the deadline.
bool Network::sleep_until(std::int64_t when_ns, std::int64_t deadline_ns) {
  const std::int64_t target = std::min(when_ns, deadline_ns);
  if (target > sched_.now_ns()) sched_.sleep_for(Nanos(target - sched_.now_ns()));
  return when_ns <= deadline_ns;
}

// Why a SYN arriving at (to, port) now would be refused, or "" when it would be accepted.
std::string Network::refusal_reason(Host to, Port port) const {
  if (is_down(to)) return "host down";
  auto it = bound_.find({to, port});
  if (it == bound_.end()) return "no listener";
  if (listeners_.at(it->second).backlog.size() >= config_.backlog_max) return "backlog full";
  if (conns_.size() >= config_.connections_max) return "network connection limit";
  return "";
}

ConnId Network::open_connection(Host from, Port from_port, Host to, Port port) {
  const ConnId id = next_conn_id_++;
  Conn& c = conns_[id];
  if (conn_by_id_.size() <= id) conn_by_id_.resize(id + 1, nullptr);
  conn_by_id_[id] = &c;
  c.id = id;
  conns_of_host_.emplace(from, id);
  conns_of_host_.emplace(to, id);
  c.side[0].host = from;
  c.side[0].port = from_port;
  c.side[0].owned = true;  // by the connecting task's handle, made right after
  c.side[1].host = to;
  c.side[1].port = port;
  c.side[1].owned = true;  // by the listener's backlog until accepted
  c.label[0] = fmt::format(FMT_COMPILE("{}->{}"), address(from, from_port), address(to, port));
  c.label[1] = fmt::format(FMT_COMPILE("{}->{}"), address(to, port), address(from, from_port));
  ListenerState& l = listeners_.at(bound_.at({to, port}));
  l.backlog.push_back(id);
  ++stats_.established;
  record(to, "net.establish", fmt::format(FMT_COMPILE("conn={} {}"), id, dir_name(c, 0)));
  wake_all(l.waiters);
  return id;
}

std::unique_ptr<NetConnection> Network::make_handle(Conn& c, int side) {
  auto handle = std::unique_ptr<NetConnection>(new NetConnection(
      this, c.id, side, c.side[side].host, c.side[1 - side].host,
      address(c.side[side].host, c.side[side].port),
      address(c.side[1 - side].host, c.side[1 - side].port)));
  c.side[side].handle = handle.get();
  return handle;
}

ConnResult Network::connect(Host from, Host to, Port port, Nanos timeout) {
  if (sched_.current_is_dying()) return {Err::shutdown, "connect: the calling node is crashing"};
  if (!is_known(from) || !is_known(to)) {
    return {Err::invalid, fmt::format("connect: unknown host ({} or {})", from, to)};
  }
  NET_ASSERT(sched_.in_task());
  const std::string target = address(to, port);
  if (is_down(from)) {
    return {Err::shutdown, fmt::format("connect to {}: {} is down", target, host_name(from))};
  }
  ++stats_.connects;
  Port& next_port = next_ephemeral_port_.try_emplace(from, kFirstEphemeralPort).first->second;
  const Port from_port = next_port;
  next_port = next_port == std::numeric_limits<Port>::max() ? kFirstEphemeralPort : next_port + 1;
  record(from, "net.connect", fmt::format(FMT_COMPILE("from_port={} to={}"), from_port, target));

  const std::int64_t deadline_ns = deadline_after(timeout);
  auto timed_out = [&](int attempts) {
    ++stats_.connect_timeouts;
    record(from, "net.connect_timeout", fmt::format("from_port={} to={} attempts={}", from_port,
                                                    target, attempts));
    return ConnResult(Err::timeout, fmt::format("connect to {}: timed out after {} attempt(s)",
                                                target, attempts));
  };
  for (int attempt = 1;; ++attempt) {
    const std::int64_t attempt_ns = sched_.now_ns();
    // The SYN travels to the target; the handshake needs both directions open when it arrives.
    if (!sleep_until(sched_.now_ns() + draw_latency(from, to).count(), deadline_ns)) {
      return timed_out(attempt);
    }
    if (is_blocked(from, to) || is_blocked(to, from)) {
      record(from, "net.syn_lost", fmt::format("from_port={} to={} attempt={}", from_port, target,
                                               attempt));
      if (!sleep_until(attempt_ns + config_.syn_retry.count(), deadline_ns)) return timed_out(attempt);
      continue;
    }
    const std::string why = refusal_reason(to, port);
    if (!why.empty()) {
      record(to, "net.refuse", fmt::format("from={} port={} reason={}",
                                           address(from, from_port), port, why));
      if (!sleep_until(sched_.now_ns() + draw_latency(to, from).count(), deadline_ns)) {
        return timed_out(attempt);
      }
      ++stats_.refused;
      return ConnResult(Err::refused, fmt::format("connect to {}: refused ({})", target, why));
    }
    const ConnId id = open_connection(from, from_port, to, port);
    // Owned from here on: if this task is unwound by a crash, the handle's destructor closes it.
    std::unique_ptr<NetConnection> handle = make_handle(conns_.at(id), 0);
    if (!sleep_until(sched_.now_ns() + draw_latency(to, from).count(), deadline_ns)) {
      return timed_out(attempt);
    }
    return ConnResult(std::move(handle));
  }
}

ConnResult Network::listener_accept(std::uint64_t id, Nanos timeout) {
  if (sched_.current_is_dying()) return {Err::shutdown, "accept: the calling node is crashing"};
  const std::int64_t deadline_ns = deadline_after(timeout);
  for (;;) {
    auto it = listeners_.find(id);
    if (it == listeners_.end()) return {Err::closed, "accept: the listener is closed"};
    ListenerState& l = it->second;
    const std::string where = address(l.host, l.port);
    if (l.gone) return {Err::closed, fmt::format("accept on {}: listener {}", where, l.gone_reason)};
    if (!l.backlog.empty()) {
      const ConnId cid = l.backlog.front();
      l.backlog.pop_front();
      Conn* c = find_conn(cid);
      NET_ASSERT(c != nullptr);
      NET_ASSERT(c->side[1].owned);
      record(l.host, "net.accept", fmt::format(FMT_COMPILE("conn={} peer={}"), cid,
                                               address(c->side[0].host, c->side[0].port)));
      return ConnResult(make_handle(*c, 1));
    }
    if (sched_.now_ns() >= deadline_ns) {
      return {Err::timeout, fmt::format(FMT_COMPILE("accept on {}: timed out"), where)};
    }
    NET_ASSERT(sched_.in_task());
    const Scheduler::WaitToken me = sched_.wait_token();
    l.waiters.push_back(me);
    const Nanos wait = deadline_ns == kNever ? kForever : Nanos(deadline_ns - sched_.now_ns());
    if (!sched_.park(wait)) {
      auto again = listeners_.find(id);
      if (again != listeners_.end()) forget_waiter(again->second.waiters, me);
    }
  }
}

void Network::listener_close(std::uint64_t id, std::string_view reason) {
  auto it = listeners_.find(id);
  if (it == listeners_.end() || it->second.gone) return;
  ListenerState& l = it->second;
  l.gone = true;
  l.gone_reason = std::string(reason);
  bound_.erase({l.host, l.port});
  record(l.host, "net.unlisten", fmt::format("port={} reason={} unaccepted={}", l.port, reason,
                                             l.backlog.size()));
  core::Fifo<ConnId> unaccepted = std::move(l.backlog);
  l.backlog.clear();
  for (ConnId cid : unaccepted) {
    Conn* c = find_conn(cid);
    NET_ASSERT(c != nullptr);
    reset(*c, "listener_closed");
    c->side[1].owned = false;
    maybe_erase(cid);
  }
  wake_all(l.waiters);
}

void Network::listener_release(std::uint64_t id) {
  listener_close(id, "closed");
  listeners_.erase(id);
}

// ==== streams ====================================================================================

Network::Conn* Network::find_conn(ConnId id) {
  return id < conn_by_id_.size() ? conn_by_id_[id] : nullptr;
}

core::Status Network::conn_send(ConnId id, int side, std::string_view bytes) {
  if (sched_.current_is_dying()) return {Err::shutdown, "send: the calling node is crashing"};
  Conn* c = find_conn(id);
  NET_ASSERT(c != nullptr);  // a live handle keeps its connection
  const Side& me = c->side[side];
  if (me.closed) return {Err::closed, fmt::format("send on conn {}: closed locally", id)};
  if (c->reset) return {Err::reset, fmt::format("send on conn {}: reset ({})", id, c->reset_reason)};
  if (bytes.empty()) return core::Status::ok();
  Direction& dir = c->dir[side];
  if (dir.unread_bytes + bytes.size() > config_.buffer_cap_bytes) {
    const std::string why = fmt::format("buffer_cap unread={} send={} cap={}", dir.unread_bytes,
                                        bytes.size(), config_.buffer_cap_bytes);
    reset(*c, why);
    return {Err::reset, fmt::format("send on conn {}: reset ({}): the reader is too slow", id, why)};
  }
  enqueue(*c, side, Segment{0, std::string(bytes), false});
  ++stats_.sends;
  stats_.bytes_sent += bytes.size();
  detail_.clear();
  fmt::format_to(std::back_inserter(detail_), FMT_COMPILE("conn={} {} bytes={} due_ns={}"), id, dir_name(*c, side),
                 bytes.size(), dir.last_due_ns);
  record(me.host, "net.send", {detail_.data(), detail_.size()});
  return core::Status::ok();
}

core::Result<std::string> Network::conn_recv(ConnId id, int side, std::size_t max_bytes,
                                             Nanos timeout) {
  if (sched_.current_is_dying()) return {Err::shutdown, "recv: the calling node is crashing"};
  if (max_bytes == 0) return {Err::invalid, fmt::format("recv on conn {}: max_bytes is 0", id)};
  const std::int64_t deadline_ns = deadline_after(timeout);
  for (;;) {
    Conn* c = find_conn(id);
    NET_ASSERT(c != nullptr);
    Side& me = c->side[side];
    if (me.closed) return {Err::closed, fmt::format("recv on conn {}: closed locally", id)};
    if (c->reset) {
      return {Err::reset, fmt::format("recv on conn {}: reset ({})", id, c->reset_reason)};
    }
    const std::size_t available = me.inbox.size() - me.inbox_offset;
    if (available > 0) {
      const std::size_t n = std::min(available, max_bytes);
      std::string out;
      if (me.inbox_offset == 0 && n == me.inbox.size()) {
        // The usual case, one message read whole: hand over the buffer (often the very one send
        // allocated, see pump) instead of copying it.
        out = std::move(me.inbox);
        me.inbox.clear();
      } else {
        out = me.inbox.substr(me.inbox_offset, n);
      }
      me.inbox_offset += n;
      if (me.inbox_offset >= me.inbox.size()) {
        me.inbox.clear();
        me.inbox_offset = 0;
      } else if (me.inbox_offset >= kInboxCompactBytes && me.inbox_offset * 2 > me.inbox.size()) {
        me.inbox.erase(0, me.inbox_offset);
        me.inbox_offset = 0;
      }
      Direction& incoming = c->dir[1 - side];
      NET_ASSERT(incoming.unread_bytes >= n);
      incoming.unread_bytes -= n;
      return core::Result<std::string>(std::move(out));
    }
    if (me.eof) return {Err::closed, fmt::format("recv on conn {}: the peer closed", id)};
    if (sched_.now_ns() >= deadline_ns) {
      // A poll (no wait) that finds nothing is the readiness-driven reader's usual end of a read:
      // a short fixed message, no formatting and no allocation.
      if (timeout <= Nanos::zero()) return {Err::timeout, "nothing to read"};
      return {Err::timeout, fmt::format(FMT_COMPILE("recv on conn {}: timed out"), id)};
    }
    NET_ASSERT(sched_.in_task());
    const Scheduler::WaitToken token = sched_.wait_token();
    me.waiters.push_back(token);
    const Nanos wait = deadline_ns == kNever ? kForever : Nanos(deadline_ns - sched_.now_ns());
    if (!sched_.park(wait)) {
      if (Conn* again = find_conn(id)) forget_waiter(again->side[side].waiters, token);
    }
  }
}

void Network::conn_close(ConnId id, int side) {
  Conn* c = find_conn(id);
  if (c == nullptr) return;
  Side& me = c->side[side];
  if (me.closed) return;
  me.closed = true;
  const std::size_t discarded = me.inbox.size() - me.inbox_offset;
  Direction& incoming = c->dir[1 - side];
  NET_ASSERT(incoming.unread_bytes >= discarded);
  incoming.unread_bytes -= discarded;
  me.inbox.clear();
  me.inbox_offset = 0;
  record(me.host, "net.close", fmt::format(FMT_COMPILE("conn={} {} unread_discarded={}"), id,
                                           dir_name(*c, side), discarded));
  if (!c->reset) enqueue(*c, side, Segment{0, std::string(), true});
  wake_all(me.waiters);  // other tasks reading this end see it closed
  notify_readable(id, side);
}

void Network::conn_release(ConnId id, int side) {
  Conn* c = find_conn(id);
  if (c == nullptr) return;
  c->side[side].on_readable = nullptr;  // the owner is going: no call for its own close
  conn_close(id, side);
  c->side[side].handle = nullptr;
  c->side[side].owned = false;
  maybe_erase(id);
}

void Network::conn_set_on_readable(ConnId id, int side, std::function<void()> callback) {
  Conn* c = find_conn(id);
  NET_ASSERT(c != nullptr);  // a live handle keeps its connection
  Side& me = c->side[side];
  me.on_readable = std::move(callback);
  if (me.closed || c->reset || me.eof || me.inbox.size() > me.inbox_offset) notify_readable(id, side);
}

void Network::notify_readable(ConnId id, int side) {
  Conn* c = find_conn(id);
  if (c == nullptr || !c->side[side].on_readable) return;
  const std::function<void()> callback = c->side[side].on_readable;
  callback();
}

void Network::maybe_erase(ConnId id) {
  const Conn* c = find_conn(id);
  if (c != nullptr && !c->side[0].owned && !c->side[1].owned) {
    conns_of_host_.erase({c->side[0].host, id});
    conns_of_host_.erase({c->side[1].host, id});
    conns_.erase(id);
    conn_by_id_[id] = nullptr;
  }
}

void Network::enqueue(Conn& c, int d, Segment seg) {
  Direction& dir = c.dir[d];
  const std::int64_t arrival_ns =
      sched_.now_ns() + draw_latency(c.side[d].host, c.side[1 - d].host).count();
  seg.due_ns = std::max(arrival_ns, dir.last_due_ns);
  dir.last_due_ns = seg.due_ns;
  dir.unread_bytes += seg.bytes.size();
  const bool idle = dir.queue.empty();
  dir.queue.push_back(std::move(seg));
  // A non-empty queue already has a pump scheduled, or is held until a heal restarts it.
  if (idle) schedule_pump(c, d);
}

void Network::schedule_pump(Conn& c, int d) {
  Direction& dir = c.dir[d];
  if (dir.queue.empty()) return;
  const std::uint64_t generation = ++dir.pump_generation;
  arm_timer(SimTime(Nanos(dir.queue.front().due_ns)), TimerKind::pump, c.id, d, generation);
}

// A timer names its connection, direction and kind in one word and its generation or episode in
// the other: a scheduler call timer, so a delivery allocates nothing.
void Network::arm_timer(SimTime when, TimerKind kind, ConnId id, int d, std::uint64_t stamp) {
  NET_ASSERT(id < (std::uint64_t{1} << 61U));
  const std::uint64_t a = (id << 2U) | (static_cast<std::uint64_t>(kind) << 1U) | static_cast<std::uint64_t>(d);
  sched_.call_at(when, timer_target_, a, stamp);
}

void Network::on_timer(std::uint64_t a, std::uint64_t b) {
  const ConnId id = a >> 2U;
  const int d = static_cast<int>(a & 1U);
  if (static_cast<TimerKind>((a >> 1U) & 1U) == TimerKind::pump) {
    pump(id, d, b);
  } else {
    check_hold(id, d, b);
  }
}

// Delivers every due segment of one direction in order, or holds them while the direction is blocked.
void Network::pump(ConnId id, int d, std::uint64_t generation) {
  Conn* c = find_conn(id);
  if (c == nullptr || c->reset) return;
  Direction& dir = c->dir[d];
  if (generation != dir.pump_generation) return;
  Side& from = c->side[d];
  Side& to = c->side[1 - d];
  if (is_blocked(from.host, to.host)) {
    hold(*c, d);
    return;
  }
  bool delivered = false;
  while (!dir.queue.empty() && dir.queue.front().due_ns <= sched_.now_ns()) {
    Segment seg = std::move(dir.queue.front());
    dir.queue.pop_front();
    delivered = true;
    if (seg.fin) {
      to.eof = true;
      record(to.host, "net.eof", fmt::format("conn={} {}", id, dir_name(*c, d)));
      continue;
    }
    if (to.closed) {
      // As TCP answers bytes sent to a closed socket with RST.
      reset(*c, "data_after_close");
      return;
    }
    stats_.bytes_delivered += seg.bytes.size();
    detail_.clear();
    fmt::format_to(std::back_inserter(detail_), FMT_COMPILE("conn={} {} bytes={}"), id, dir_name(*c, d),
                   seg.bytes.size());
    record(to.host, "net.deliver", {detail_.data(), detail_.size()});
    if (to.inbox.empty()) {
      to.inbox = std::move(seg.bytes);  // no copy: conn_recv usually hands this buffer on
    } else {
      to.inbox += seg.bytes;
    }
  }
  if (delivered) wake_all(to.waiters);
  schedule_pump(*c, d);
  // A closed end has nothing more to read (its own close already called it).
  if (delivered && !to.closed) notify_readable(id, 1 - d);
}

void Network::hold(Conn& c, int d) {
  Direction& dir = c.dir[d];
  if (dir.held_since_ns >= 0) return;
  dir.held_since_ns = sched_.now_ns();
  const std::uint64_t episode = ++dir.hold_episode;
  record(c.side[d].host, "net.hold", fmt::format("conn={} {} segments={}", c.id, dir_name(c, d),
                                                 dir.queue.size()));
  arm_timer(sched_.now() + config_.reset_after, TimerKind::check_hold, c.id, d, episode);
}

void Network::check_hold(ConnId id, int d, std::uint64_t episode) {
  Conn* c = find_conn(id);
  if (c == nullptr || c->reset) return;
  const Direction& dir = c->dir[d];
  if (dir.held_since_ns < 0 || dir.hold_episode != episode) return;
  reset(*c, "retransmit_timeout");
}

// After a heal: every held direction that is open again is re-timed after a fresh latency, in order.
void Network::release_held() {
  for (auto& [id, c] : conns_) {
    for (int d = 0; d < 2; ++d) {
      Direction& dir = c.dir[d];
      if (c.reset || dir.held_since_ns < 0) continue;
      if (is_blocked(c.side[d].host, c.side[1 - d].host)) continue;
      NET_ASSERT(!dir.queue.empty());
      dir.held_since_ns = -1;
      ++dir.hold_episode;
      std::int64_t due_ns =
          sched_.now_ns() + draw_latency(c.side[d].host, c.side[1 - d].host).count();
      for (Segment& seg : dir.queue) {
        seg.due_ns = std::max(seg.due_ns, due_ns);
        due_ns = seg.due_ns;
      }
      dir.last_due_ns = std::max(dir.last_due_ns, due_ns);
      record(c.side[d].host, "net.release", fmt::format("conn={} {} segments={} first_due_ns={}",
                                                        id, dir_name(c, d), dir.queue.size(),
                                                        dir.queue.front().due_ns));
      schedule_pump(c, d);
    }
  }
}

void Network::reset(Conn& c, std::string_view reason) {
  if (c.reset) return;
  c.reset = true;
  c.reset_reason = std::string(reason);
  for (Direction& dir : c.dir) {
    dir.queue.clear();
    dir.unread_bytes = 0;
    ++dir.pump_generation;
    dir.held_since_ns = -1;
    ++dir.hold_episode;
  }
  for (Side& s : c.side) {
    s.inbox.clear();
    s.inbox_offset = 0;
  }
  ++stats_.resets;
  record(c.side[0].host, "net.reset", fmt::format("conn={} {} reason={}", c.id, dir_name(c, 0),
                                                  reason));
  for (Side& s : c.side) wake_all(s.waiters);
  for (int s = 0; s < 2; ++s) {
    if (!c.side[s].closed) notify_readable(c.id, s);
  }
}

void Network::on_node_down(NodeId node) {
  reset_host_connections(node, "node_down");
  std::vector<std::uint64_t> doomed;
  for (const auto& [id, l] : listeners_) {
    if (l.host == node && !l.gone) doomed.push_back(id);
  }
  for (std::uint64_t id : doomed) listener_close(id, "node_down");
}

// ==== links and faults ===========================================================================

Nanos Network::draw_latency(Host from, Host to) {
  auto it = link_latency_.find({from, to});
  const LinkLatency& l = it == link_latency_.end() ? config_.latency : it->second;
  std::int64_t ns = rng_.range(l.latency_min.count(), l.latency_max.count());
  if (rng_.chance(l.tail_probability)) ns += rng_.range(0, l.tail_max.count());
  return Nanos(ns) + clog_extra(from, to);
}

Nanos Network::clog_extra(Host from, Host to) const {
  Nanos extra{0};
  if (host_clog_.empty() && link_clog_.empty()) return extra;
  if (auto it = host_clog_.find(from); it != host_clog_.end()) extra += it->second;
  if (to != from) {
    if (auto it = host_clog_.find(to); it != host_clog_.end()) extra += it->second;
  }
  if (auto it = link_clog_.find(std::minmax(from, to)); it != link_clog_.end()) extra += it->second;
  return extra;
}

void Network::set_link_latency(Host a, Host b, LinkLatency latency) {
  NET_ASSERT(is_known(a) && is_known(b));
  NET_ASSERT(latency.latency_min >= Nanos::zero());
  NET_ASSERT(latency.latency_min <= latency.latency_max);
  NET_ASSERT(latency.tail_max >= Nanos::zero());
  link_latency_[{a, b}] = latency;
  link_latency_[{b, a}] = latency;
  record(kNoNode, "net.latency", fmt::format("link={}<->{} min_ns={} max_ns={} tail_p={} tail_max_ns={}",
                                             host_name(a), host_name(b), latency.latency_min.count(),
                                             latency.latency_max.count(), latency.tail_probability,
                                             latency.tail_max.count()));
}

bool Network::is_blocked(Host from, Host to) const {
  return !blocked_.empty() && blocked_.contains({from, to});
}

void Network::block(Host from, Host to) {
  NET_ASSERT(is_known(from) && is_known(to));
  if (from != to) blocked_.insert({from, to});
}

void Network::partition(const std::vector<Host>& a, const std::vector<Host>& b) {
  for (Host x : a) {
    for (Host y : b) {
      block(x, y);
      block(y, x);
    }
  }
  record(kNoNode, "net.partition", fmt::format("mode=two_way a={} b={}", host_list(a), host_list(b)));
}

void Network::partition_one_way(const std::vector<Host>& senders, const std::vector<Host>& receivers) {
  for (Host x : senders) {
    for (Host y : receivers) block(x, y);
  }
  record(kNoNode, "net.partition", fmt::format("mode=one_way from={} to={}", host_list(senders),
                                               host_list(receivers)));
}

void Network::isolate(Host host) {
  for (Host other : hosts()) {
    block(host, other);
    block(other, host);
  }
  record(kNoNode, "net.partition", fmt::format("mode=isolate host={}", host_name(host)));
}

std::pair<std::vector<Host>, std::vector<Host>> Network::partition_random(Rng& rng,
                                                                          std::vector<Host> hosts) {
  std::sort(hosts.begin(), hosts.end());
  hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
  NET_ASSERT(hosts.size() >= 2);
  for (std::size_t i = hosts.size() - 1; i > 0; --i) {
    std::swap(hosts[i], hosts[rng.below(i + 1)]);
  }
  const std::size_t split = 1 + rng.below(hosts.size() - 1);
  std::vector<Host> a(hosts.begin(), hosts.begin() + static_cast<std::ptrdiff_t>(split));
  std::vector<Host> b(hosts.begin() + static_cast<std::ptrdiff_t>(split), hosts.end());
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  partition(a, b);
  return {std::move(a), std::move(b)};
}

std::pair<std::vector<Host>, std::vector<Host>> Network::partition_random(Rng& rng) {
  std::vector<Host> nodes;
  for (std::size_t n = 0; n < sched_.node_count(); ++n) nodes.push_back(static_cast<Host>(n));
  return partition_random(rng, std::move(nodes));
}

void Network::heal() {
  record(kNoNode, "net.heal", fmt::format("blocked_links={}", blocked_.size()));
  blocked_.clear();
  release_held();
}

void Network::heal_link(Host a, Host b) {
  record(kNoNode, "net.heal_link", fmt::format("link={}<->{}", host_name(a), host_name(b)));
  blocked_.erase({a, b});
  blocked_.erase({b, a});
  release_held();
}

void Network::clog_host(Host host, Nanos extra) {
  NET_ASSERT(is_known(host));
  NET_ASSERT(extra >= Nanos::zero());
  host_clog_[host] = extra;
  record(kNoNode, "net.clog", fmt::format("host={} extra_ns={}", host_name(host), extra.count()));
}

void Network::unclog_host(Host host) {
  host_clog_.erase(host);
  record(kNoNode, "net.unclog", fmt::format("host={}", host_name(host)));
}

void Network::clog_link(Host a, Host b, Nanos extra) {
  NET_ASSERT(is_known(a) && is_known(b));
  NET_ASSERT(extra >= Nanos::zero());
  link_clog_[std::minmax(a, b)] = extra;
  record(kNoNode, "net.clog", fmt::format("link={}<->{} extra_ns={}", host_name(a), host_name(b),
                                          extra.count()));
}

void Network::unclog_link(Host a, Host b) {
  link_clog_.erase(std::minmax(a, b));
  record(kNoNode, "net.unclog", fmt::format("link={}<->{}", host_name(a), host_name(b)));
}

void Network::unclog_all() {
  host_clog_.clear();
  link_clog_.clear();
  record(kNoNode, "net.unclog", "all");
}

bool Network::reset_connection(ConnId id, std::string_view reason) {
  Conn* c = find_conn(id);
  if (c == nullptr || c->reset) return false;
  reset(*c, reason);
  return true;
}

std::size_t Network::reset_host_connections(Host host, std::string_view reason) {
  // The host's connections in id order, as a walk over conns_ would find them: a world's teardown
  // takes every node down, and a walk over every connection per node is O(nodes³) in a cluster.
  std::size_t count = 0;
  for (auto it = conns_of_host_.lower_bound({host, 0}); it != conns_of_host_.end() && it->first == host; ++it) {
    Conn* c = find_conn(it->second);
    if (c == nullptr || c->reset) continue;
    reset(*c, reason);
    ++count;
  }
  return count;
}

std::vector<ConnId> Network::connection_ids() const {
  std::vector<ConnId> out;
  for (const auto& [id, c] : conns_) {
    if (!c.reset) out.push_back(id);
  }
  return out;
}

std::vector<ConnId> Network::connections_of(Host host) const {
  std::vector<ConnId> out;
  for (auto it = conns_of_host_.lower_bound({host, 0}); it != conns_of_host_.end() && it->first == host; ++it) {
    const auto c = conns_.find(it->second);
    if (c != conns_.end() && !c->second.reset) out.push_back(it->second);
  }
  return out;
}

}  // namespace replsim::kernel
