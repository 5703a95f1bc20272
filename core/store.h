// core/store.h — the single-node store: recovery, the RESP server, the write path to the AOF, and
// checkpoints.
//
// A Store owns its keyspace, its AOF, its checkpoint files and the tasks it spawns (accept loop, one
// task per client, the everysec syncer, the periodic checkpointer). It reaches the world only through
// the Env it is given. It never aborts because of bad data on disk (start() returns the error), and
// its destructor never blocks: the harness destroys a Store only after the node's tasks are gone.
// The write path, the recovery order and what INFO reports are described in core/doc/store.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/aof.h"
#include "core/checkpoint.h"
#include "core/commands.h"
#include "core/env.h"
#include "core/fiber_sync.h"
#include "core/keyspace.h"
#include "core/store_config.h"

namespace replsim::core {

// The node's role. The replication issue adds the replica side.
enum class Role : std::uint8_t {
  master,  // accepts writes from clients and is the source of its own AOF
};
std::string_view role_name(Role role);

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
  Role role() const { return role_; }
  // True while the node refuses service until a sync finishes; always false until replication.
  bool recovering() const { return recovering_; }
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
  const std::string& replication_id() const { return replication_id_; }
  const RecoverySummary& recovery() const { return recovery_; }
  const StoreConfig& config() const { return config_; }
  std::size_t connected_clients() const { return clients_.size(); }
  // The INFO text for a section ("", "all", "default", "server", "persistence", ...).
  std::string info(std::string_view section) const;

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
  };

  // ---- recovery (store.cpp) ----
  Status recover();
  Status load_newest_checkpoint();
  Status check_aof_covers_checkpoint();
  Status replay_aof();
  Status refresh_checkpoint_list();
  std::string segment_containing(std::uint64_t address) const;
  std::string new_replication_id();

  // ---- tasks ----
  void accept_loop(std::unique_ptr<Listener> listener);
  void serve_client(Client& client);
  void everysec_loop();
  void checkpoint_loop();

  // ---- execution ----
  // The complete reply to one request. May block (the store mutex, the disk).
  std::string handle_request(Client& client, const std::vector<std::string>& argv);
  std::string execute_data(const CommandSpec& spec, const std::vector<std::string>& argv);
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
  std::string cmd_wait(const std::vector<std::string>& argv);
  // INFO sections (store_info.cpp).
  std::string info_server() const;
  std::string info_clients() const;
  std::string info_persistence() const;
  std::string info_stats() const;
  std::string info_replication() const;
  std::string info_keyspace() const;

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
  Role role_ = Role::master;
  bool recovering_ = false;
  bool started_ = false;
  bool start_called_ = false;
  bool stopping_ = false;
  std::string replication_id_;
  std::string run_id_;
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
};

}  // namespace replsim::core
