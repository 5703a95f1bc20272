// core/store_cluster.cpp — the store's cluster mode: nodes.conf at start, slot routing (MOVED,
// CROSSSLOT, CLUSTERDOWN, READONLY), config changes (persisted, then installed, then replication
// follows), gossip merges, the failover handshake and the CLUSTER command with Redis's replies.
#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "core/resp.h"
#include "core/duplication.h"
#include "core/store.h"

namespace replsim::core {

namespace {

using std::chrono::milliseconds;

// After a restart, how long a node that knows peers waits to hear the cluster before it serves keys
// on its own config.
constexpr Nanos kClusterJoinGrace = std::chrono::seconds(2);
// Default failover: how long the primary holds writes, and how long the replica waits to catch up.
constexpr Nanos kFailoverPause = std::chrono::seconds(10);
constexpr Nanos kFailoverCatchUp = std::chrono::seconds(5);
constexpr Nanos kFailoverPoll = std::chrono::milliseconds(10);

std::string subcommand_arity_error(std::string_view sub) {
  return encode_error(wrong_arity_error("cluster|" + lowercase_ascii(sub)));
}

// Parses a slot argument as Redis's getSlotOrReply does.
std::optional<int> parse_slot(std::string_view text) {
  const auto v = parse_int64_strict(text);
  if (!v || *v < 0 || *v >= kClusterSlots) return std::nullopt;
  return static_cast<int>(*v);
}

constexpr std::string_view kErrBadSlot = "ERR Invalid or out of range slot";

// Whether two configs give the bus the same peers (ids and addresses, in order). Most config changes
// (epochs, roles, slots) do not, and the bus rebuilds its peer list only when they do: in a large
// cluster every node changes its config hundreds of times while the cluster forms.
bool same_bus_peers(const ClusterConfig& a, const ClusterConfig& b) {
  const auto& x = a.nodes();
  const auto& y = b.nodes();
  if (x.size() != y.size()) return false;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (x[i].port != y[i].port || x[i].host != y[i].host) return false;
  }
  return a.same_ids(b);
}

}  // namespace

const std::string& Store::BusAdapter::bus_my_id() { return store_.cluster_.my_id(); }
const std::string& Store::BusAdapter::bus_gossip_payload() { return store_.cluster_text_; }
const std::string& Store::BusAdapter::bus_gossip_section() {
  // Redis's count: a tenth of the other nodes, at least three (all of them in a small cluster),
  // from a random place in this node's list.
  const ClusterConfig& c = store_.cluster_;
  const std::size_t others = c.nodes().size() - 1;
  const std::size_t count = std::max<std::size_t>(3, others / 10);
  const std::size_t first = others > count ? static_cast<std::size_t>(store_.env_.random_below(others)) : 0;
  store_.gossip_section_ = c.serialize_section(first, count);
  return store_.gossip_section_;
}
std::uint64_t Store::BusAdapter::bus_gossip_digest() { return store_.cluster_digest_; }
void Store::BusAdapter::bus_on_gossip(std::string_view payload) { store_.on_gossip(payload); }
bool Store::BusAdapter::bus_on_digest(std::string_view sender_id, std::uint64_t digest) {
  return store_.on_gossip_digest(sender_id, digest);
}
std::uint64_t Store::BusAdapter::bus_peers_version() { return store_.peers_version_; }
std::string Store::BusAdapter::bus_on_request(const std::vector<std::string>& argv) {
  return store_.on_bus_request(argv);
}
std::vector<BusPeer> Store::BusAdapter::bus_peers() { return store_.bus_peers(); }

// ==== start =======================================================================================

Status Store::load_cluster_config() {
  auto loaded = load_nodes_conf(env_);
  if (!loaded) return Status(loaded.code(), fmt::format("refusing to start: {}", loaded.status().message()));
  if (loaded->has_value()) {
    cluster_ = std::move(**loaded);
    if (cluster_.myself().host != env_.host() || cluster_.myself().port != config_.port) {
      cluster_.set_my_address(env_.host(), config_.port);
      if (Status st = save_nodes_conf(env_, cluster_); !st) return st;
    }
    env_.log("cluster.config.loaded",
             fmt::format("id={} role={} epoch={} slots={} nodes={}", cluster_.my_id(),
                         node_role_name(cluster_.myself().role), cluster_.myself().config_epoch,
                         cluster_.slot_count(cluster_.my_id()), cluster_.nodes().size()));
  } else {
    const std::string id = new_node_id();
    cluster_ = ClusterConfig::fresh(id, env_.host(), config_.port);
    if (Status st = save_nodes_conf(env_, cluster_); !st) return st;
    env_.log("cluster.config.fresh", fmt::format("id={}", id));
  }
  persisted_role_ = cluster_.is_primary() ? Role::master : Role::replica;
  cluster_text_ = cluster_.serialize();
  cluster_digest_ = ClusterConfig::digest_of_text(cluster_text_);
  cluster_heard_ = cluster_.nodes().size() <= 1;
  return Status::ok();
}

Status Store::start_cluster() {
  if (config_.port > 65535 - kClusterBusPortOffset) {
    return Status(Err::invalid, fmt::format("store start: port {} leaves no room for the cluster bus port (port + {})",
                                            config_.port, kClusterBusPortOffset));
  }
  bus_adapter_ = std::make_unique<BusAdapter>(*this);
  ClusterBusOptions options;
  options.gossip_interval = milliseconds(config_.cluster_gossip_interval_ms);
  options.node_timeout = milliseconds(config_.cluster_node_timeout_ms);
  bus_ = std::make_unique<ClusterBus>(env_, *bus_adapter_, options);
  if (Status st = bus_->start(static_cast<std::uint16_t>(config_.port + kClusterBusPortOffset)); !st) return st;
  reconcile_replication("start");
  return Status::ok();
}

// ==== routing =====================================================================================

bool Store::serves_as_primary() const {
  return !config_.cluster_enabled || cluster_.empty() || cluster_.is_primary();
}

bool Store::writes_paused() const { return env_.now() < writes_paused_until_; }

std::optional<std::string> Store::route(const CommandSpec& spec, const std::vector<std::string>& argv) const {
  // The keys at command_key_positions(spec, argv), walked in place: this runs for every request.
  int slot = -1;
  if (spec.first_key > 0 && spec.key_step > 0) {
    const auto argc = static_cast<std::int64_t>(argv.size());
    const std::int64_t last = spec.last_key < 0 ? argc + spec.last_key : spec.last_key;
    for (std::int64_t i = spec.first_key; i <= last && i < argc; i += spec.key_step) {
      const int key_slot = key_hash_slot(argv[static_cast<std::size_t>(i)]);
      if (slot < 0) {
        slot = key_slot;
      } else if (key_slot != slot) {
        return encode_error("CROSSSLOT Keys in request don't hash to the same slot");
      }
    }
  }
  const bool primary = serves_as_primary();
  if (slot < 0) {
    if (spec.has(cmd_flag::write) && !primary) return encode_error("READONLY You can't write against a read only replica.");
    return std::nullopt;
  }
  auto moved = [slot](const ClusterNode& n) { return encode_error(fmt::format("MOVED {} {}:{}", slot, n.host, n.port)); };
  if (!primary) {
    // A replica (recovering or not) sends clients to its primary.
    if (const ClusterNode* p = cluster_.my_primary()) return moved(*p);
    if (const ClusterNode* owner = cluster_.slot_owner(slot)) return moved(*owner);
    return encode_error("CLUSTERDOWN Hash slot not served");
  }
  if (replication_->recovering()) return encode_error("CLUSTERDOWN The cluster is down: this node is recovering");
  if (!cluster_heard_ && env_.now() - start_time_ < kClusterJoinGrace) {
    return encode_error("CLUSTERDOWN The cluster is down: waiting for the cluster's configuration after a restart");
  }
  const ClusterNode* owner = cluster_.slot_owner(slot);
  if (owner == nullptr) return encode_error("CLUSTERDOWN Hash slot not served");
  if (owner->id != cluster_.my_id()) return moved(*owner);
  return std::nullopt;
}

// ==== config changes ==============================================================================

Status Store::change_cluster_config(std::string_view why, const std::function<Status(ClusterConfig&)>& change,
                                    const std::function<void()>& after_install,
                                    const std::function<bool()>& still_needed) {
  FiberLock cluster_lock(cluster_mutex_);
  if (!cluster_lock.owns()) return Status(Err::shutdown, "ERR server is shutting down");
  if (still_needed && !still_needed()) return Status::ok();
  ClusterConfig& next = cluster_next_;
  next = cluster_;
  if (Status st = change(next); !st) return st;
  const bool changed = !(next == cluster_);
  // Whether this node's own entry changed (a command, or a follow or epoch bump after gossip): the
  // other nodes learn it by pinging this node, so it pings them all now rather than when due.
  // Learning or forgetting another node is not such a change: a node met pings every peer it learns
  // of itself, and the others hear of it at their next ping.
  const bool self_changed = changed && !next.same_own_entry(cluster_);
  std::string next_text;
  if (changed) {
    // Persisted before anyone (this node's requests, its peers) can act on it. The lines of entries
    // the change left alone are copied from the installed text (O(nodes) compares, not writes).
    next_text = next.serialize_reusing(cluster_, cluster_text_);
    if (Status st = save_nodes_conf_text(env_, next_text); !st) {
      env_.log("cluster.config.persist_failed", fmt::format("why=\"{}\" error=\"{}\"", why, st.message()));
      return Status(st.code(), "ERR " + st.message());
    }
  }
  {
    // Installed under the store mutex: no write is half done when the role flips.
    FiberLock lock(mutex_);
    if (!lock.owns()) return Status(Err::shutdown, "ERR server is shutting down");
    if (changed) {
      const bool was_primary = serves_as_primary();
      // A pause held for a default failover ends with the role it was held in.
      if (next.is_primary() != cluster_.is_primary()) writes_paused_until_ = LocalTime{};
      if (!same_bus_peers(cluster_, next)) ++peers_version_;
      std::swap(cluster_, next);  // next keeps the old config's buffers for the next change
      ++config_installs_;
      cluster_text_ = std::move(next_text);
      cluster_digest_ = ClusterConfig::digest_of_text(cluster_text_);
      persisted_role_ = cluster_.is_primary() ? Role::master : Role::replica;
      const ClusterNode& me = cluster_.myself();
      env_.log("cluster.config.change",
               fmt::format("why=\"{}\" role={} primary={} epoch={} current_epoch={} slots={} nodes={}", why,
                           node_role_name(me.role), me.primary_id.empty() ? "-" : me.primary_id, me.config_epoch,
                           cluster_.current_epoch(), cluster_.slot_count(me.id), cluster_.nodes().size()));
      if (serves_as_primary() != was_primary) duplication_->role_changed();
    }
    reconcile_replication(why);
    if (after_install) after_install();
  }
  if (changed && bus_) {
    bus_->config_changed();
    if (self_changed) bus_->broadcast();
  }
  return Status::ok();
}

void Store::reconcile_replication(std::string_view why) {
  if (cluster_.is_primary()) {
    if (replication_->target() || replication_->recovering()) replication_->stop_sync(why);
    return;
  }
  const ClusterNode* p = cluster_.my_primary();
  if (p == nullptr) return;  // a primary we do not know (yet): gossip will bring it
  const SyncTarget target{p->id, p->host, p->port};
  if (replication_->target() && *replication_->target() == target) return;
  replication_->start_sync(target, why);
}

void Store::after_replicated_write() {
  if (config_.checkpoint_interval_writes > 0 && changes_since_checkpoint() >= config_.checkpoint_interval_writes) {
    checkpoint_wake_->set();
  }
}

// ==== the bus =====================================================================================

std::vector<BusPeer> Store::bus_peers() const {
  std::vector<BusPeer> out;
  for (const ClusterNode& n : cluster_.nodes()) {
    if (n.id == cluster_.my_id()) continue;
    out.push_back({n.id, n.host, static_cast<std::uint16_t>(n.port + kClusterBusPortOffset)});
  }
  return out;
}

namespace {

// The id on the "myself" line of a config text, without parsing the rest (empty when there is none).
std::string_view gossip_sender_id(std::string_view text) {
  constexpr std::string_view kMyself = "\nmyself ";
  const std::size_t at = text.find(kMyself);
  if (at == std::string_view::npos) return {};
  const std::string_view rest = text.substr(at + kMyself.size());
  return rest.substr(0, std::min(rest.find('\n'), rest.size()));
}

}  // namespace

void Store::on_gossip(std::string_view payload) {
  if (stopping_ || cluster_.empty()) return;
  // A node's own config (MEET of itself) changes nothing here: no need to wait for the lock.
  if (gossip_sender_id(payload) == cluster_.my_id()) return;
  gossip_queue_.emplace_back(payload);
  const std::uint64_t ticket = ++gossip_queued_;
  // Each queued config is parsed once, against the config it merges into, with the cluster lock
  // held (parsing before the lock meant parsing again whenever the config changed meanwhile).
  struct Followed {
    std::string primary;
    std::string reason;
    std::string sender;
  };
  std::vector<Followed> followed;
  bool merged_here = false;
  // The one place a node follows the configuration it learns (incident 002): a node whose slots,
  // or whose primary's slots, went to a node with a greater epoch becomes that node's replica,
  // instead of resuming as a primary from a stale nodes.conf.
  const Status st = change_cluster_config(
      "gossip",
      [&](ClusterConfig& next) {
        merged_here = true;
        std::vector<std::string> batch;
        batch.swap(gossip_queue_);
        gossip_taken_ = gossip_queued_;
        for (const std::string& text : batch) {
          auto sender = ClusterConfig::parse_for_merge(text, next);
          if (!sender) {
            env_.log("cluster.gossip.bad", fmt::format("error=\"{}\"", sender.status().message()));
            continue;
          }
          MergeOutcome outcome = next.merge(*sender);
          if (outcome.epoch_collision) next.bump_my_epoch();
          if (!outcome.follow) continue;
          const ClusterNode* target = next.find(*outcome.follow);
          if (target != nullptr && target->role == NodeRole::primary && target->id != next.my_id()) {
            next.make_replica_of(target->id);
            followed.push_back({*outcome.follow, std::move(outcome.follow_reason), sender->my_id()});
          }
        }
        return Status::ok();
      },
      {}, [&] { return gossip_taken_ < ticket; });
  // A task whose config an earlier task merged has nothing more to do: that task installed it.
  if (!merged_here || !st) return;
  // Heard only once the merge is installed: the install persists nodes.conf first (disk time), and a
  // restarted stale primary must not serve its old slots in between (CLUSTERDOWN until then).
  cluster_heard_ = true;
  for (const Followed& f : followed) {
    env_.log("cluster.follow", fmt::format("primary={} reason=\"{}\" from={}", f.primary, f.reason, f.sender));
  }
}

bool Store::on_gossip_digest(std::string_view sender_id, std::uint64_t digest) {
  if (stopping_ || cluster_.empty()) return true;  // nothing to merge into
  if (digest != cluster_digest_) return false;
  if (sender_id == cluster_.my_id()) return true;
  cluster_heard_ = true;
  // Equal digests: the sender's entry here is the one it holds itself, so the epoch collision rule
  // of merge() (two primaries with one epoch: the smaller id bumps) is decided on this config alone.
  const ClusterNode& me = cluster_.myself();
  if (me.role != NodeRole::primary) return true;  // the rule is between two primaries
  const ClusterNode* sender = cluster_.find(sender_id);
  if (sender != nullptr && sender->role == NodeRole::primary &&
      sender->config_epoch == me.config_epoch && sender->id > me.id) {
    (void)change_cluster_config("gossip", [&](ClusterConfig& next) {
      const ClusterNode* s = next.find(sender_id);
      if (s != nullptr && next.is_primary() && s->role == NodeRole::primary &&
          s->config_epoch == next.myself().config_epoch && s->id > next.my_id()) {
        next.bump_my_epoch();
      }
      return Status::ok();
    });
  }
  return true;
}

std::string Store::on_bus_request(const std::vector<std::string>& argv) {
  const std::string cmd = lowercase_ascii(argv.front());
  if (cmd == "failover-stopwrites" && argv.size() == 2) {
    // A replica asks for a default failover: hold writes, and tell it the offset to reach.
    const ClusterNode* replica = cluster_.find(argv[1]);
    if (!cluster_.is_primary()) return encode_error("ERR this node is not a primary");
    if (replica == nullptr || replica->role != NodeRole::replica || replica->primary_id != cluster_.my_id()) {
      return encode_error(fmt::format("ERR node {} is not a replica of this node", argv[1]));
    }
    FiberLock lock(mutex_);  // no write is half done once this holds
    if (!lock.owns()) return encode_error("ERR server is shutting down");
    writes_paused_until_ = env_.now() + kFailoverPause;
    env_.log("cluster.failover.stopwrites", fmt::format("replica={} offset={}", argv[1], aof_->tail_address()));
    return encode_integer(static_cast<std::int64_t>(aof_->tail_address()));
  }
  if (cmd == "failover-resumewrites" && argv.size() == 2) {
    writes_paused_until_ = LocalTime{};
    env_.log("cluster.failover.resumewrites", fmt::format("replica={}", argv[1]));
    return encode_simple("OK");
  }
  return encode_error(fmt::format("ERR unknown cluster bus request '{}'", argv.front()));
}

// ==== read-only state ===========================================================================

std::string Store::primary_node_name() const {
  if (cluster_.empty() || cluster_.is_primary()) return {};
  const ClusterNode* p = cluster_.my_primary();
  return p == nullptr ? std::string() : p->host;
}

std::size_t Store::slots_owned() const { return cluster_.empty() ? 0 : cluster_.slot_count(cluster_.my_id()); }

// ==== CLUSTER =====================================================================================

std::string Store::cmd_cluster(Client& client, const std::vector<std::string>& argv) {
  const std::string sub = lowercase_ascii(argv[1]);
  const std::size_t n = argv.size();
  if (sub == "myid" && n == 2) return encode_bulk(cluster_.my_id());
  if (sub == "keyslot") {
    if (n != 3) return subcommand_arity_error(sub);
    return encode_integer(key_hash_slot(argv[2]));
  }
  if (sub == "countkeysinslot") {
    if (n != 3) return subcommand_arity_error(sub);
    const auto slot = parse_slot(argv[2]);
    if (!slot) return encode_error(kErrBadSlot);
    std::int64_t count = 0;
    for (const std::string& key : keyspace_.keys()) count += key_hash_slot(key) == *slot ? 1 : 0;
    return encode_integer(count);
  }
  if (sub == "info" && n == 2) return encode_bulk(cluster_info_text());
  if (sub == "nodes" && n == 2) return encode_bulk(cluster_nodes_text());
  if (sub == "slots" && n == 2) return cluster_slots_reply();
  if (sub == "shards" && n == 2) return cluster_shards_reply();
  if (sub == "replicas" || sub == "slaves") {
    if (n != 3) return subcommand_arity_error(sub);
    const ClusterNode* node = cluster_.find(argv[2]);
    if (node == nullptr) return encode_error(fmt::format("ERR Unknown node {}", argv[2]));
    if (node->role != NodeRole::primary) return encode_error("ERR The specified node is not a master");
    std::vector<std::string> lines;
    const std::string all = cluster_nodes_text();
    for (const ClusterNode* r : cluster_.replicas_of(node->id)) {
      std::size_t pos = all.find(r->id + " ");
      if (pos != std::string::npos) lines.push_back(all.substr(pos, all.find('\n', pos) - pos));
    }
    return encode_bulk_array(lines);
  }
  if (sub == "meet") {
    if (n != 4 && n != 5) return subcommand_arity_error(sub);
    const auto port = parse_int64_strict(argv[3]);
    if (!port) return encode_error(fmt::format("ERR Invalid base port specified: {}", argv[3]));
    if (*port <= 0 || *port > 65535 - kClusterBusPortOffset || argv[2].empty()) {
      return encode_error(fmt::format("ERR Invalid node address specified: {}:{}", argv[2], argv[3]));
    }
    env_.log("cluster.meet", fmt::format("address={}:{}", argv[2], *port));
    bus_->meet(argv[2], static_cast<std::uint16_t>(*port));
    return encode_simple("OK");
  }
  if (sub == "addslots" || sub == "delslots" || sub == "addslotsrange" || sub == "delslotsrange") {
    const bool ranges = sub.ends_with("range");
    if (n < 3 || (ranges && (n - 2) % 2 != 0)) return subcommand_arity_error(sub);
    std::vector<int> slots;
    for (std::size_t i = 2; i < n; i += ranges ? 2 : 1) {
      const auto first = parse_slot(argv[i]);
      const auto last = ranges ? parse_slot(argv[i + 1]) : first;
      if (!first || !last) return encode_error(kErrBadSlot);
      if (*first > *last) {
        return encode_error(fmt::format("ERR start slot number {} is greater than end slot number {}", *first, *last));
      }
      for (int s = *first; s <= *last; ++s) slots.push_back(s);
    }
    const bool add = sub.starts_with("add");
    const Status st = change_cluster_config(sub, [&](ClusterConfig& next) {
      if (add && !next.is_primary()) {
        return Status(Err::invalid, "ERR Node is a replica: slots can only be assigned to primaries (CLUSTER RESET "
                                    "or FAILOVER it first)");
      }
      return add ? next.add_slots(slots) : next.del_slots(slots);
    });
    return st ? encode_simple("OK") : encode_error(st.message());
  }
  if (sub == "set-config-epoch") {
    if (n != 3) return subcommand_arity_error(sub);
    const auto epoch = parse_int64_strict(argv[2]);
    if (!epoch || *epoch < 0) return encode_error(fmt::format("ERR Invalid config epoch specified: {}", argv[2]));
    const Status st = change_cluster_config(sub, [&](ClusterConfig& next) {
      if (next.nodes().size() > 1) {
        return Status(Err::invalid,
                      "ERR The user can assign a config epoch only when the node does not know any other node.");
      }
      if (next.myself().config_epoch != 0) return Status(Err::invalid, "ERR Node config epoch is already non-zero");
      next.set_my_epoch(static_cast<std::uint64_t>(*epoch));
      return Status::ok();
    });
    return st ? encode_simple("OK") : encode_error(st.message());
  }
  if (sub == "bumpepoch" && n == 2) {
    bool bumped = false;
    std::uint64_t epoch = 0;
    const Status st = change_cluster_config(sub, [&](ClusterConfig& next) {
      // Redis's rule: bump unless this node already holds the greatest epoch.
      if (next.myself().config_epoch == 0 || next.myself().config_epoch != next.current_epoch()) {
        next.bump_my_epoch();
        bumped = true;
      }
      epoch = next.myself().config_epoch;
      return Status::ok();
    });
    if (!st) return encode_error(st.message());
    return encode_simple(fmt::format("{} {}", bumped ? "BUMPED" : "STILL", epoch));
  }
  if (sub == "reset") {
    if (n > 3) return subcommand_arity_error(sub);
    const std::string mode = n == 3 ? lowercase_ascii(argv[2]) : "soft";
    if (mode != "soft" && mode != "hard") return encode_error(kErrSyntax);
    return cluster_reset(mode == "hard");
  }
  if (sub == "replicate") {
    if (n != 3) return subcommand_arity_error(sub);
    return cluster_replicate(argv[2]);
  }
  if (sub == "failover") {
    if (n > 3) return subcommand_arity_error(sub);
    const std::string mode = n == 3 ? lowercase_ascii(argv[2]) : "";
    if (!mode.empty() && mode != "force" && mode != "takeover") return encode_error(kErrSyntax);
    return cluster_failover(mode);
  }
  if (sub == "replsync") {
    // Internal: a replica's sync request. The reply loop hands the connection to replication.
    auto request = SyncRequest::from_argv(argv);
    if (!request) return encode_error(request.status().message());
    client.replsync = std::move(request.value());
    return {};
  }
  if (sub == "help" && n == 2) {
    const std::vector<std::string> lines = {
        "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ADDSLOTS <slot> [<slot> ...]", "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
        "BUMPEPOCH", "COUNTKEYSINSLOT <slot>", "DELSLOTS <slot> [<slot> ...]",
        "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]", "FAILOVER [FORCE|TAKEOVER]",
        "INFO", "KEYSLOT <key>", "MEET <ip> <port> [<bus-port>]", "MYID", "NODES", "REPLICAS <node-id>",
        "REPLICATE <node-id>", "RESET [HARD|SOFT]", "SET-CONFIG-EPOCH <epoch>", "SHARDS", "SLOTS", "HELP"};
    std::string out = encode_array_header(lines.size());
    for (const std::string& l : lines) out += encode_simple(l);
    return out;
  }
  return encode_error(fmt::format("ERR unknown subcommand '{}'. Try CLUSTER HELP.", argv[1]));
}

std::string Store::cluster_replicate(const std::string& node_id) {
  const ClusterNode* target = cluster_.find(node_id);
  if (target == nullptr) return encode_error(fmt::format("ERR Unknown node {}", node_id));
  if (node_id == cluster_.my_id()) return encode_error("ERR Can't replicate myself");
  if (target->role != NodeRole::primary) return encode_error("ERR I can only replicate a master, not a replica.");
  if (!cluster_.is_primary() && cluster_.myself().primary_id == node_id) {
    // Already its replica: a sync that is not running (failed, waiting to retry) starts again now.
    if (!replication_->link_up() && !replication_->recovering()) {
      replication_->start_sync(SyncTarget{target->id, target->host, target->port}, "REPLICATE");
    }
    return encode_simple("OK");
  }
  const Status st = change_cluster_config("REPLICATE", [&](ClusterConfig& next) {
    const ClusterNode* t = next.find(node_id);
    if (t == nullptr || t->role != NodeRole::primary) {
      return Status(Err::invalid, "ERR I can only replicate a master, not a replica.");
    }
    if (next.is_primary() && next.slot_count(next.my_id()) > 0) {
      return Status(Err::invalid, "ERR To set a master the node must be empty and without assigned slots.");
    }
    next.make_replica_of(node_id);
    return Status::ok();
  });
  return st ? encode_simple("OK") : encode_error(st.message());
}

std::string Store::cluster_failover(std::string_view mode) {
  if (cluster_.is_primary()) return encode_error("ERR Node is not configured as a REPLICA");
  if (mode.empty()) {
    // Default: the primary holds writes and reports its offset; once this replica has it all, it
    // takes over. The primary learns the new configuration by gossip and follows it.
    const ClusterNode* p = cluster_.my_primary();
    if (p == nullptr || !replication_->link_up()) {
      return encode_error("ERR Master is down or failed, please use CLUSTER FAILOVER FORCE");
    }
    const std::string primary_id = p->id;
    const std::string host = p->host;
    const auto bus_port = static_cast<std::uint16_t>(p->port + kClusterBusPortOffset);
    auto reply = bus_->request(host, bus_port, {"FAILOVER-STOPWRITES", cluster_.my_id()},
                               milliseconds(config_.cluster_node_timeout_ms));
    if (!reply || reply->type != RespValue::Type::integer) {
      env_.log("cluster.failover.refused",
               fmt::format("primary={} reply=\"{}\"", primary_id, reply ? reply->to_display() : reply.status().message()));
      return encode_error("ERR Master is down or failed, please use CLUSTER FAILOVER FORCE");
    }
    const auto offset = static_cast<std::uint64_t>(reply->integer);
    const LocalTime deadline = env_.now() + kFailoverCatchUp;
    while (aof_tail_address() < offset && env_.now() < deadline && !stopping_) env_.sleep_for(kFailoverPoll);
    if (aof_tail_address() < offset) {
      (void)bus_->request(host, bus_port, {"FAILOVER-RESUMEWRITES", cluster_.my_id()},
                          milliseconds(config_.cluster_node_timeout_ms));
      return encode_error(fmt::format("ERR Failover timed out: this replica reached offset {} of the primary's {}",
                                      aof_tail_address(), offset));
    }
  }
  std::size_t taken = 0;
  const Status st = change_cluster_config(
      fmt::format("failover{}{}", mode.empty() ? "" : " ", mode),
      [&](ClusterConfig& next) {
        if (next.is_primary()) return Status(Err::invalid, "ERR Node is not configured as a REPLICA");
        taken = next.take_over_from_primary();
        return Status::ok();
      },
      [&] {
        // The new primary's records are a new history that shares the old one up to here, so that a
        // former replica or primary never continues from a suffix this node does not have.
        if (Status s = replication_->begin_new_history("failover"); !s) {
          env_.exit_on_error(fmt::format("failover: cannot persist the new replication id: {}", s.message()));
        }
      });
  if (!st) return encode_error(st.message());
  cluster_heard_ = true;  // an operator made this node the primary: its config is the news
  env_.log("cluster.failover.done", fmt::format("mode={} slots_taken={} epoch={}", mode.empty() ? "default" : mode,
                                                taken, cluster_.myself().config_epoch));
  return encode_simple("OK");
}

void Store::bug_reset_role_after_failed_attach() {
  const Status st = change_cluster_config("failed attach", [](ClusterConfig& next) {
    next.drop_to_primary_without_slots();
    return Status::ok();
  });
  env_.log("cluster.bug.role_reset", fmt::format("ok={} error=\"{}\"", st.is_ok() ? 1 : 0, st.message()));
}

std::string Store::cluster_reset(bool hard) {
  if (cluster_.is_primary() && !keyspace_.empty()) {
    return encode_error("ERR CLUSTER RESET can't be called with master nodes containing keys");
  }
  const bool was_replica = !cluster_.is_primary();
  const std::string new_id = hard ? new_node_id() : std::string();
  const Status st = change_cluster_config(
      hard ? "reset hard" : "reset soft",
      [&](ClusterConfig& next) {
        next.reset(hard, new_id);
        return Status::ok();
      },
      [&] {
        if (!was_replica) return;
        if (Status s = replication_->begin_new_history("reset"); !s) {
          env_.exit_on_error(fmt::format("reset: cannot persist the new replication id: {}", s.message()));
        }
      });
  if (!st) return encode_error(st.message());
  cluster_heard_ = true;
  return encode_simple("OK");
}

// ==== CLUSTER views ===============================================================================

std::string Store::cluster_nodes_text() const {
  std::string out;
  for (const ClusterNode& n : cluster_.nodes()) {
    const bool me = n.id == cluster_.my_id();
    const bool up = me || (bus_ && bus_->link_up(n.id));
    out += fmt::format("{} {}:{}@{} {}{} {} 0 0 {} {}", n.id, n.host, n.port, n.port + kClusterBusPortOffset,
                       me ? "myself," : "", node_role_name(n.role), n.primary_id.empty() ? "-" : n.primary_id,
                       n.config_epoch, up ? "connected" : "disconnected");
    for (const SlotSpan& span : slot_spans(cluster_.slots_of(n.id))) {
      out += span.first == span.last ? fmt::format(" {}", span.first) : fmt::format(" {}-{}", span.first, span.last);
    }
    out += '\n';
  }
  return out;
}

std::string Store::cluster_slots_reply() const {
  // One pass over the slot table (a table scan per node made it O(nodes x slots); clients ask for
  // it after every MOVED).
  const auto entries = cluster_.owned_runs();
  auto node_entry = [](const ClusterNode& n) {
    std::string e = encode_array_header(3);
    append_bulk(e, n.host);
    e += encode_integer(n.port);
    append_bulk(e, n.id);
    return e;
  };
  std::string out = encode_array_header(entries.size());
  for (const auto& [span, owner] : entries) {
    const std::vector<const ClusterNode*> replicas = cluster_.replicas_of(owner->id);
    out += encode_array_header(3 + replicas.size());
    out += encode_integer(span.first);
    out += encode_integer(span.last);
    out += node_entry(*owner);
    for (const ClusterNode* r : replicas) out += node_entry(*r);
  }
  return out;
}

std::string Store::cluster_shards_reply() const {
  std::vector<const ClusterNode*> primaries;
  for (const ClusterNode& n : cluster_.nodes()) {
    if (n.role == NodeRole::primary) primaries.push_back(&n);
  }
  auto node_map = [&](const ClusterNode& n) {
    const bool me = n.id == cluster_.my_id();
    const bool up = me || (bus_ && bus_->link_up(n.id));
    std::string e = encode_array_header(16);
    append_bulk(e, "id");
    append_bulk(e, n.id);
    append_bulk(e, "port");
    e += encode_integer(n.port);
    append_bulk(e, "ip");
    append_bulk(e, n.host);
    append_bulk(e, "endpoint");
    append_bulk(e, n.host);
    append_bulk(e, "hostname");
    append_bulk(e, n.host);
    append_bulk(e, "role");
    append_bulk(e, n.role == NodeRole::primary ? "master" : "replica");
    append_bulk(e, "replication-offset");
    e += encode_integer(me ? static_cast<std::int64_t>(aof_tail_address()) : 0);
    append_bulk(e, "health");
    append_bulk(e, up ? "online" : "failed");
    return e;
  };
  std::string out = encode_array_header(primaries.size());
  for (const ClusterNode* p : primaries) {
    const std::vector<SlotSpan> spans = slot_spans(cluster_.slots_of(p->id));
    const std::vector<const ClusterNode*> replicas = cluster_.replicas_of(p->id);
    out += encode_array_header(4);
    append_bulk(out, "slots");
    out += encode_array_header(spans.size() * 2);
    for (const SlotSpan& s : spans) {
      out += encode_integer(s.first);
      out += encode_integer(s.last);
    }
    append_bulk(out, "nodes");
    out += encode_array_header(1 + replicas.size());
    out += node_map(*p);
    for (const ClusterNode* r : replicas) out += node_map(*r);
  }
  return out;
}

std::string Store::cluster_info_text() const {
  std::size_t size = 0;
  for (const ClusterNode& n : cluster_.nodes()) {
    if (n.role == NodeRole::primary && cluster_.slot_count(n.id) > 0) ++size;
  }
  const std::size_t assigned = cluster_.assigned_slots();
  std::string out;
  auto line = [&out](std::string_view key, const auto& value) { out += fmt::format("{}:{}\r\n", key, value); };
  line("cluster_state", assigned == static_cast<std::size_t>(kClusterSlots) ? "ok" : "fail");
  line("cluster_slots_assigned", assigned);
  line("cluster_slots_ok", assigned);
  line("cluster_slots_pfail", 0);
  line("cluster_slots_fail", 0);
  line("cluster_known_nodes", cluster_.nodes().size());
  line("cluster_size", size);
  line("cluster_current_epoch", cluster_.current_epoch());
  line("cluster_my_epoch", cluster_.myself().config_epoch);
  line("cluster_stats_messages_sent", bus_ ? bus_->messages_sent() : 0);
  line("cluster_stats_messages_received", bus_ ? bus_->messages_received() : 0);
  return out;
}

}  // namespace replsim::core
