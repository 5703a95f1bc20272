// core/store.h — the store: recovery, the RESP server, the write path to the AOF, checkpoints, and in
// cluster mode the cluster config, the cluster bus, replication and failover.
//
// A Store owns its keyspace, its AOF, its checkpoint files, its cluster config (nodes.conf), its
// replication state and the tasks it spawns (accept loop, one task per client, the everysec syncer,
// the periodic checkpointer, the bus and sync tasks). It reaches the world only through
// the Env it is given. It never aborts because of bad data on disk (start() returns the error), and
// its destructor never blocks: the harness destroys a Store only after the node's tasks are gone.
// The write path, the recovery order and what INFO reports are described in core/doc/store.md;
// cluster mode in core/doc/cluster.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/aof.h"
#include "core/checkpoint.h"
#include "core/cluster_bus.h"
#include "core/cluster_config.h"
#include "core/commands.h"
#include "core/duplication.h"
#include "core/env.h"
#include "core/fiber_sync.h"
#include "core/keyspace.h"
#include "core/replication.h"
#include "core/store_config.h"

namespace replsim::core {

// The node's role, in Redis's words.
enum class Role : std::uint8_t {
  master,   // accepts writes from clients and is the source of its own AOF
  replica,  // copies a primary's AOF and keyspace; answers MOVED for keys (cluster mode)
};
std::string_view role_name(Role role);  // "master", "slave"

// What start() found on disk and did about it, for INFO, the trace and the harness.
struct RecoverySummary {
  // The checkpoint the keyspace was loaded from (none on a fresh node or when none was valid).
  bool checkpoint_loaded = false;
  std::string checkpoint_file;
  std::uint64_t checkpoint_decree = 0;
  std::uint64_t checkpoint_address = 0;
  // Newer checkpoint files that failed their checks and were skipped, with the reason for each.
  std::vector<std::string> checkpoints_skipped;
  // AOF records applied after the checkpoint, and the range they came from.
  std::uint64_t records_replayed = 0;
  std::uint64_t replay_from_address = 0;
  std::uint64_t aof_begin_address = 0;
  std::uint64_t aof_tail_address = 0;
  std::uint64_t last_decree = 0;
  // A torn AOF tail that was truncated (bytes a crash left half-written).
  bool torn_tail = false;
  std::uint64_t torn_address = 0;
  std::uint64_t torn_bytes_truncated = 0;
  std::string torn_reason;

  // "checkpoint=checkpoint.0000000000000007 decree=7 address=512 replayed=3 torn_bytes=0 ..."
  std::string to_string() const;
};

class Store {
 public:
  // Nothing happens until start(). config is validated by start().
  Store(Env& env, StoreConfig config);
  // Never blocks and never touches the disk. REQUIRES: the node's tasks are gone (after a crash) or
  // were never started; stop() alone does not end a task parked in a disk operation.
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Recovers from disk (newest valid checkpoint, then the AOF after it), then listens on the port and
  // spawns the accept loop, the everysec syncer and the periodic checkpointer. Returns the reason
  // when the data on disk cannot be trusted (naming the file, the address and what to do) or the port
  // cannot be opened; the store then serves nothing. REQUIRES: called once, from a task of the node.
  Status start();
  // Asks every task to finish: connections are closed, loops end at their next wake-up. Never
  // blocks; safe to call at any time, also while the node is crashing.
  void stop();

  // ---- read-only state for the harness's checks ------------------------------------------------
  bool started() const { return started_; }
  bool stopping() const { return stopping_; }
  Role role() const;
  // True while a sync attempt of this node is in flight (a replica answers MOVED to its primary; a
  // primary would answer CLUSTERDOWN).
  bool recovering() const;
  std::uint64_t last_decree() const;
  std::uint64_t aof_begin_address() const;
  std::uint64_t aof_tail_address() const;
  std::uint64_t aof_synced_address() const;
  // Decrees of the checkpoint files kept on disk, oldest first.
  std::vector<std::uint64_t> checkpoint_decrees() const;
  std::uint64_t last_checkpoint_decree() const { return last_checkpoint_decree_; }
  std::uint64_t last_checkpoint_address() const { return last_checkpoint_address_; }
  std::uint64_t digest() const { return keyspace_.digest(); }
  // 40 lowercase hex digits, as DEBUG DIGEST answers.
  std::string digest_hex() const;
  const Keyspace& keyspace() const { return keyspace_; }
  const std::string& replication_id() const { return replication_->ids().replid; }
  const ReplicationIds& replication_ids() const { return replication_->ids(); }
  const RecoverySummary& recovery() const { return recovery_; }
  const StoreConfig& config() const { return config_; }
  std::size_t connected_clients() const { return clients_.size(); }
  // The INFO text for a section ("", "all", "default", "server", "persistence", ...).
  std::string info(std::string_view section) const;

  // ---- cluster mode, read-only for the harness's checks -----------------------------------------
  bool cluster_enabled() const { return config_.cluster_enabled; }
  // The config this node acts on; it is always what nodes.conf holds (changes are persisted first).
  const ClusterConfig& cluster_config() const { return cluster_; }
  std::string node_id() const { return cluster_.empty() ? std::string() : cluster_.my_id(); }
  std::uint64_t config_epoch() const { return cluster_.empty() ? 0 : cluster_.myself().config_epoch; }
  // The node name (host) of this node's primary; empty for a primary or an unknown primary.
  std::string primary_node_name() const;
  std::size_t slots_owned() const;
  // The role nodes.conf on disk holds (the last config persisted).
  Role persisted_role() const { return persisted_role_; }
  // Replication: the sync state, the last sync error ("" after a successful sync) and the link.
  const std::string& last_sync_error() const { return replication_->last_sync_error(); }
  bool master_link_up() const { return replication_->link_up(); }
  const Replication& replication() const { return *replication_; }

  // ---- duplication, read-only for the harness's checks ----------------------------------------
  const Duplication& duplication() const { return *duplication_; }

 private:
  // One connected client: its connection and session state. Registered in clients_ for its whole
  // life so stop() can close the connection; it lives in its task's closure, so a crash that destroys
  // the task (started or not) unregisters it too.
  struct Client {
    Client(Store& s, std::uint64_t client_id, std::unique_ptr<Connection> c);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    Store& store;
    std::uint64_t id;
    std::unique_ptr<Connection> conn;
    std::string peer;
    bool authenticated = false;
    // The AOF tail after this client's last write (WAIT waits for replicas to ack it).
    std::uint64_t last_write_address = 0;
    // Set by CLUSTER REPLSYNC: the connection is handed to replication once the reply loop ends.
    std::optional<SyncRequest> replsync;
  };
  friend class Replication;
  friend class Duplication;
  // The bus talks to the store through this adapter, so the handler methods stay private.
  class BusAdapter final : public ClusterBusHandler {
   public:
    explicit BusAdapter(Store& store) : store_(store) {}
    const std::string& bus_my_id() override;
    const std::string& bus_gossip_payload() override;
    const std::string& bus_gossip_section() override;
    std::uint64_t bus_gossip_digest() override;
    void bus_on_gossip(std::string_view payload) override;
    bool bus_on_digest(std::string_view sender_id, std::uint64_t digest) override;
    std::string bus_on_request(const std::vector<std::string>& argv) override;
    std::vector<BusPeer> bus_peers() override;
    std::uint64_t bus_peers_version() override;

   private:
    Store& store_;
  };

  // ---- recovery (store.cpp) ----
  Status recover();
  Status load_newest_checkpoint();
  Status check_aof_covers_checkpoint();
  Status replay_aof();
  // KNOWN BUG replica-restart-writes-locally (incident 003): the record a node appends at start
  // before it has loaded its role. Never called by a correct store.
  Status bug_write_record_before_role();
  Status refresh_checkpoint_list();
  std::string segment_containing(std::uint64_t address) const;
  // 40 random hex digits: replication ids and the run id; node ids (cluster) in their own order.
  std::string new_random_id();
  std::string new_node_id();

  // ---- tasks ----
  void accept_loop(std::unique_ptr<Listener> listener);
  void serve_client(Client& client);
  void everysec_loop();
  void checkpoint_loop();

  // ---- execution ----
  // The complete reply to one request. May block (the store mutex, the disk).
  std::string handle_request(Client& client, const std::vector<std::string>& argv);
  std::string execute_data(Client& client, const CommandSpec& spec, const std::vector<std::string>& argv);
  std::string execute_store_command(Client& client, const CommandSpec& spec,
                                    const std::vector<std::string>& argv);
  // Appends every effect as an AOF record and syncs under fsync always. On failure the node stops
  // (see core/doc/store.md): the error reply is returned only if the stop did not happen.
  Status log_effects(const std::vector<std::vector<std::string>>& effects);
  [[noreturn]] void stop_on_aof_failure(const Status& st, std::string_view what);

  // ---- store-level commands (store_commands.cpp) ----
  std::string cmd_auth(Client& client, const std::vector<std::string>& argv);
  std::string cmd_config(const std::vector<std::string>& argv);
  std::string cmd_debug(const std::vector<std::string>& argv);
  std::string cmd_info(const std::vector<std::string>& argv) const;
  std::string cmd_save();
  std::string cmd_wait(Client& client, const std::vector<std::string>& argv);
  // INFO sections (store_info.cpp).
  std::string info_server() const;
  std::string info_clients() const;
  std::string info_persistence() const;
  std::string info_stats() const;
  std::string info_replication() const;
  std::string info_cluster() const;
  std::string info_keyspace() const;

  // ---- cluster mode (store_cluster.cpp) ----
  // Loads nodes.conf, or makes and persists a fresh config with a new node id.
  Status load_cluster_config();
  // Starts the bus and, for a replica, its sync task. REQUIRES: recovery is done.
  Status start_cluster();
  // Whether this node takes writes: always outside cluster mode; a primary in it.
  bool serves_as_primary() const;
  // The redirection or refusal for a data command in cluster mode (MOVED, CROSSSLOT, CLUSTERDOWN,
  // READONLY), or nullopt when this node serves it.
  std::optional<std::string> route(const CommandSpec& spec, const std::vector<std::string>& argv) const;
  // Applies change to a copy of the config, persists the copy, then installs it under the store
  // mutex and brings replication in line with it (and runs after_install there, if given). An error
  // from change is returned as is (its message is the reply after '-'); the config stays unchanged.
  // still_needed, if given, is asked once the cluster lock is held: false returns ok at once (gossip
  // that an earlier task merged while this one waited for the lock).
  Status change_cluster_config(std::string_view why, const std::function<Status(ClusterConfig&)>& change,
                               const std::function<void()>& after_install = {},
                               const std::function<bool()>& still_needed = {});
  // KNOWN BUGs stuck-recovering (incident 001) and failed-attach-resets-role (incident 002): after a
  // failed attach the node persists itself as a primary of no slots, as Garnet did. Never called by a
  // correct store.
  void bug_reset_role_after_failed_attach();
  // Starts, restarts or stops the sync task so that it follows the installed config.
  void reconcile_replication(std::string_view why);
  void on_gossip(std::string_view payload);
  bool on_gossip_digest(std::string_view sender_id, std::uint64_t digest);
  std::string on_bus_request(const std::vector<std::string>& argv);
  std::vector<BusPeer> bus_peers() const;
  bool writes_paused() const;
  // A replica applied records from its primary: checkpoint triggers count them as writes.
  void after_replicated_write();
  std::string cmd_cluster(Client& client, const std::vector<std::string>& argv);
  std::string cluster_replicate(const std::string& node_id);
  std::string cluster_failover(std::string_view mode);
  std::string cluster_reset(bool hard);
  std::string cluster_nodes_text() const;
  std::string cluster_slots_reply() const;
  std::string cluster_shards_reply() const;
  std::string cluster_info_text() const;

  // ---- checkpoints ----
  // Writes a checkpoint of the current state and truncates the AOF below the oldest one kept.
  // REQUIRES: the store mutex is held.
  Status checkpoint_locked(std::string_view reason);
  std::uint64_t changes_since_checkpoint() const;
  void config_changed();

  Env& env_;
  StoreConfig config_;
  FiberMutex mutex_;  // serializes execution, AOF access and checkpoints
  Keyspace keyspace_;
  std::unique_ptr<Aof> aof_;
  // The checkpoint files whose headers verify, newest first; refreshed after recovery and each write.
  std::vector<CheckpointInfo> checkpoint_list_;
  std::unique_ptr<Event> checkpoint_wake_;  // set when a checkpoint may be due or on stop()
  bool started_ = false;
  bool start_called_ = false;
  bool stopping_ = false;
  std::string run_id_;
  // The replication id of the checkpoint loaded at start (the history when repl.state is missing).
  std::string checkpoint_replid_;
  RecoverySummary recovery_;
  LocalTime start_time_{};
  std::uint64_t last_checkpoint_decree_ = 0;
  std::uint64_t last_checkpoint_address_ = 0;
  std::int64_t last_checkpoint_time_ms_ = 0;
  std::string last_checkpoint_status_ = "ok";
  std::uint64_t checkpoints_written_ = 0;
  // Live connections by client id, so stop() can close them.
  std::map<std::uint64_t, Connection*> clients_;
  std::uint64_t next_client_id_ = 1;
  // Counters for INFO stats.
  std::uint64_t connections_received_ = 0;
  std::uint64_t connections_rejected_ = 0;
  std::uint64_t commands_processed_ = 0;
  std::uint64_t protocol_errors_ = 0;
  std::uint64_t writes_refused_too_large_ = 0;
  CommandTable commands_;

  // ---- cluster mode ----
  ClusterConfig cluster_;
  // The copy a config change is made on (under cluster_mutex_), kept between changes so that copying
  // the config reuses its buffers: gossip makes a change attempt per config it merges.
  ClusterConfig cluster_next_;
  Role persisted_role_ = Role::master;
  FiberMutex cluster_mutex_;  // serializes config changes (taken before mutex_, never after)
  std::unique_ptr<BusAdapter> bus_adapter_;
  std::unique_ptr<ClusterBus> bus_;
  std::unique_ptr<Replication> replication_;
  std::unique_ptr<Duplication> duplication_;  // cross-cluster duplication (core/duplication.h)
  // After a restart a node that knows peers serves no keys until it has heard the cluster's config
  // (or kClusterJoinGrace has passed), so a stale primary never takes writes the cluster moved on from.
  bool cluster_heard_ = true;
  // Default failover: the primary holds writes while its replica catches up and takes over.
  LocalTime writes_paused_until_{};
  std::uint64_t peers_version_ = 0;    // counts config changes that changed the bus's peers
  std::uint64_t config_installs_ = 0;  // counts config changes
  // Gossip waiting for a merge. Configs that arrive while a change holds the cluster lock queue here,
  // and the next task to hold the lock merges every queued config in one change (one nodes.conf
  // write), as Redis saves its config once per event-loop pass rather than once per message. Tickets
  // count queued configs; a task whose ticket a merge has taken has nothing left to do.
  std::vector<std::string> gossip_queue_;
  std::uint64_t gossip_queued_ = 0;  // tickets handed out
  std::uint64_t gossip_taken_ = 0;   // tickets whose configs a merge has taken (installed or not)
  std::string cluster_text_;           // cluster_.serialize(), what MEET's handshake sends
  std::string gossip_section_;         // the last section a link's exchange sent (see bus_gossip_section)
  std::uint64_t cluster_digest_ = 0;   // cluster_.digest(), what the bus pings with
};

}  // namespace replsim::core
