// core/replication.h — primary/replica replication of one store: replication ids, the primary's sync
// sessions (full checkpoint transfer or AOF-only sync, then AOF streaming with acks, WAIT), and the
// replica's sync task (recovering flag, gauges, install of a full sync that survives crashes).
//
// Replication belongs to its Store and works on the store's keyspace and AOF under the store mutex.
// It owns its tasks' shared state, repl.state (the ids) and fullsync.intent (a full sync being
// installed). It never changes the cluster configuration (the store does), never wipes data before
// the new data is in hand, and never lets a replica's AOF advance except by its primary's bytes,
// address for address.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/env.h"
#include "core/resp.h"

namespace replsim::core {

class Store;

// One INFO line, "key:value\r\n", appended in place: text as it is, an integer in decimal (what
// fmt's "{}" writes for both). INFO is polled often, and a format call per line showed in profiles.
inline void append_info_line(std::string& out, std::string_view key, std::string_view value) {
  out.append(key);
  out.push_back(':');
  out.append(value);
  out.append("\r\n");
}
template <typename T>
  requires std::is_integral_v<T> && (!std::is_same_v<T, bool>) && (!std::is_same_v<T, char>)
void append_info_line(std::string& out, std::string_view key, T value) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  append_info_line(out, key, std::string_view(digits, static_cast<std::size_t>(end - digits)));
}

// ---- replication ids -------------------------------------------------------------------------------

// The history a node's AOF belongs to (Redis's replid, replid2 and second_repl_offset): the AOF is
// replid's history; up to offset2 it is also replid2's (the history before the last failover or
// restart as primary). Persisted in repl.state.
struct ReplicationIds {
  std::string replid;
  std::string replid2;        // empty when there is none
  std::uint64_t offset2 = 0;  // meaningful only with replid2

  bool operator==(const ReplicationIds&) const = default;
  std::string serialize() const;
  static Result<ReplicationIds> parse(std::string_view text);
};

inline constexpr std::string_view kReplStateFile = "repl.state";
inline constexpr std::string_view kFullSyncIntentFile = "fullsync.intent";

// What a replica sends when it asks to sync: CLUSTER REPLSYNC <id> <host> <port> <replid> <replid2|->
// <offset2> <aof tail> <last decree>.
struct SyncRequest {
  std::string replica_id;
  std::string host;
  std::uint16_t port = 0;
  ReplicationIds ids;
  std::uint64_t aof_tail = 0;
  std::uint64_t last_decree = 0;

  std::vector<std::string> to_argv() const;
  // argv as the store received it (argv[0] "CLUSTER", argv[1] "REPLSYNC").
  static Result<SyncRequest> from_argv(const std::vector<std::string>& argv);
};

enum class SyncMode : std::uint8_t {
  partial,  // the replica's AOF is a prefix of ours from an address we still hold: stream from its tail
  full,     // transfer a checkpoint of our keyspace, then stream from its address
};
std::string_view sync_mode_name(SyncMode mode);

struct SyncDecision {
  SyncMode mode = SyncMode::full;
  std::string reason;  // why, with both sides' values (as Redis logs its fallbacks)
};

// The primary's choice between AOF-only and full sync, the one place that decides it (incident 000
// lived here: a replica whose tail is below what the primary can serve from must get a full sync, not
// an error; incident 002's diverged suffix too: a replica that holds records the primary's history
// does not must never continue from its tail). decree_before_tail is the primary's decree of the
// record ending at request.aof_tail, or nullopt when that address is not a record boundary of the
// primary's AOF within [aof_begin, aof_tail].
// bug_no_offset2_cap brings back KNOWN BUG failover-replays-diverged-aof (incident 000); false in a
// correct store.
SyncDecision choose_sync_mode(const SyncRequest& request, const ReplicationIds& primary, std::uint64_t aof_begin,
                              std::uint64_t aof_tail, std::optional<std::uint64_t> decree_before_tail,
                              bool bug_no_offset2_cap = false);

// KNOWN BUG replica-restart-writes-locally (incident 003): the primary's choice as kvrocks made it
// without use-rsid-psync — by sequence number alone. The replica's position is its last decree; the
// sync is partial whenever this primary still holds the records after that decree
// ([base_decree, last_decree]), with no check that the replica's history (its replication id, its
// address, its record at that decree) is this primary's. address_after_decree is the address right
// after this primary's record with the replica's last decree (aof_begin when it is base_decree), or
// nullopt when it holds no such record. Never called by a correct store.
SyncDecision bug_choose_sync_mode_by_decree(const SyncRequest& request, std::uint64_t base_decree,
                                            std::uint64_t last_decree,
                                            std::optional<std::uint64_t> address_after_decree);

// ---- the replica's view of its sync --------------------------------------------------------------

// Where a replica's sync stands, for INFO and the harness.
enum class SyncState : std::uint8_t {
  none,        // not a replica (or no attempt yet)
  connecting,  // opening the connection to the primary and sending the request
  transfer,    // receiving a full sync's checkpoint
  installing,  // writing the received checkpoint and resetting the AOF
  streaming,   // in sync: applying the primary's AOF stream and acking it
  retrying,    // the last attempt failed; waiting before the next one
};
std::string_view sync_state_name(SyncState state);

struct SyncTarget {
  std::string primary_id;
  std::string host;
  std::uint16_t port = 0;
  bool operator==(const SyncTarget&) const = default;
};

class Replication {
 public:
  explicit Replication(Store& store);
  ~Replication();
  Replication(const Replication&) = delete;
  Replication& operator=(const Replication&) = delete;

  // ---- recovery (called by Store::recover, under the store mutex) ------------------------------
  // Before the checkpoint is loaded: if a full sync was being installed when the node went down,
  // either finish it (its checkpoint is durable: drop every other checkpoint) or abandon it (it is
  // not: the old data stays). Returns the reset the AOF still needs, if any.
  Status prepare_recovery();
  // After the AOF is open: finishes an interrupted full sync's AOF reset.
  Status finish_recovery();
  // After replay: loads repl.state (or takes the checkpoint's id); a node that starts as a primary
  // begins a new history (its replicas may hold records it lost in the crash).
  Status load_ids(bool starts_as_primary, const std::string& checkpoint_replid);

  // Outside cluster mode: the id from the checkpoint (or a new one), never persisted separately.
  void set_standalone_id(std::string replid) { ids_ = ReplicationIds{std::move(replid), {}, 0}; }

  // ---- ids -----------------------------------------------------------------------------------------
  const ReplicationIds& ids() const { return ids_; }
  // Failover, RESET or restart as primary: replid2 = replid, offset2 = the AOF tail, a new replid.
  // Persists repl.state. REQUIRES: the store mutex is held.
  Status begin_new_history(std::string_view reason);

  // ---- replica side --------------------------------------------------------------------------------
  // Starts syncing from target, aborting any attempt in flight (which then ends without touching
  // the recovering flag of the new one). Sets recovering at once.
  void start_sync(const SyncTarget& target, std::string_view reason);
  // Ends the sync task (RESET, failover, the node became a primary). Clears recovering if an
  // attempt was in flight. Never blocks.
  void stop_sync(std::string_view reason);
  bool recovering() const { return recovering_; }
  bool link_up() const { return state_ == SyncState::streaming; }
  SyncState sync_state() const { return state_; }
  const std::optional<SyncTarget>& target() const { return target_; }
  const std::string& last_sync_error() const { return last_sync_error_; }
  std::uint64_t sync_attempts() const { return attempts_started_; }
  std::uint64_t sync_attempts_ended() const { return attempts_ended_; }
  std::uint64_t full_syncs() const { return full_syncs_; }
  std::uint64_t partial_syncs() const { return partial_syncs_; }

  // ---- primary side --------------------------------------------------------------------------------
  // Serves one replica on conn (the client task that received CLUSTER REPLSYNC hands its connection
  // over). Returns when the replica goes away or the session fails.
  void serve_replica(std::unique_ptr<Connection> conn, const SyncRequest& request);
  // The AOF tail moved: wake every session.
  void notify_appended();
  // Closes every session (the node stopped being a primary, or is stopping).
  void close_sessions(std::string_view reason);
  // WAIT: waits until `replicas` sessions acked at least `offset` or the timeout passes (kForever:
  // no limit). Returns how many acked it.
  std::int64_t wait_for_acks(std::uint64_t offset, std::int64_t replicas, Nanos timeout);
  std::size_t connected_replicas() const;
  std::size_t acked_at_least(std::uint64_t offset) const;

  // ---- INFO ----------------------------------------------------------------------------------------
  // The replication lines after "role:" (Redis's names), for the given role.
  std::string info_lines(bool is_primary) const;

  // Called by Store::stop(). Never blocks.
  void stop();

 private:
  struct Session;
  class Attempt;

  void sync_task(std::uint64_t generation, SyncTarget target, std::uint64_t first_attempt);
  Status run_attempt(std::uint64_t generation, const SyncTarget& target, Attempt& attempt);
  Status receive_full_sync(std::uint64_t generation, Connection& conn, RespReplyParser& parser,
                           const std::vector<std::string>& header);
  Status accept_partial_sync(std::uint64_t generation, const std::vector<std::string>& header);
  Status install_full_sync(std::uint64_t generation, const ReplicationIds& ids, std::uint64_t decree,
                           std::uint64_t address, std::string payload);
  // KNOWN BUG replica-restart-writes-locally (incident 003): the replica takes the address the
  // primary continues at as its own. Never called by a correct store.
  Status bug_continue_at_primary_address(std::uint64_t generation, const ReplicationIds& ids,
                                         std::uint64_t address);
  Status stream(std::uint64_t generation, Connection& conn, RespReplyParser& parser);
  Status apply_stream_chunk(std::uint64_t generation, std::uint64_t address, std::string_view bytes);
  Result<RespValue> read_value(Connection& conn, RespReplyParser& parser, Nanos timeout);
  void end_attempt(Attempt& attempt, const Status& outcome);

  void ack_reader(std::shared_ptr<Session> session);
  Status stream_to_replica(Session& session, std::uint64_t from);
  Status save_ids(const ReplicationIds& ids);
  std::string new_replid();

  Store& store_;
  Env& env_;
  ReplicationIds ids_;
  // Recovery: the body of a full sync intent whose AOF reset is still to be done, and whether
  // finishing it already set the ids.
  std::string pending_intent_;
  bool recovered_ids_ = false;

  // Replica side. generation_ changes whenever the sync target changes or syncing stops; a task of
  // an older generation only ever ends.
  std::uint64_t generation_ = 0;
  std::optional<SyncTarget> target_;
  SyncState state_ = SyncState::none;
  bool recovering_ = false;
  std::uint64_t recovering_attempt_ = 0;  // the attempt that set recovering_
  std::uint64_t next_attempt_id_ = 1;
  std::uint64_t attempts_started_ = 0;
  std::uint64_t attempts_ended_ = 0;
  std::uint64_t full_syncs_ = 0;
  std::uint64_t partial_syncs_ = 0;
  std::string last_sync_error_;
  std::string last_link_error_;
  std::string last_sync_mode_ = "none";
  Connection* sync_conn_ = nullptr;  // the attempt's connection, so an abort can close it
  std::unique_ptr<Event> retry_wake_;
  // Gauges of the transfer in flight (Redis's master_sync_*).
  std::uint64_t sync_total_bytes_ = 0;
  std::uint64_t sync_read_bytes_ = 0;
  LocalTime sync_last_io_{};
  LocalTime link_last_io_{};

  // Primary side: live sessions by id.
  std::map<std::uint64_t, Session*> sessions_;
  std::uint64_t next_session_id_ = 1;
  std::list<Event*> ack_waiters_;
  bool stopping_ = false;
};

}  // namespace replsim::core
