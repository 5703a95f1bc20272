// core/duplication.h — cross-cluster duplication (the Pegasus model): a source primary ships its
// writes to another cluster, and every target node applies each shipped record at most once.
//
// A Duplication belongs to its Store. On a source primary it owns dup.state, one duplicator task per
// duplication (INIT -> PREPARE -> APP -> LOG, plus PAUSE and REMOVED) and that task's connections to
// the target cluster. On a target node it executes DUPLICATION PROGRESS, APPLY, RESTORE, CLEARSLOTS
// and MARK under the store mutex, writing each applied record and its decree as one AOF record. It
// never ships a record that is not durable on the source, never lets a confirmed decree go backwards,
// and never lets the store truncate AOF that a duplication still needs. See core/doc/duplication.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/duplication_format.h"
#include "core/env.h"
#include "core/fiber_sync.h"
#include "core/resp.h"

namespace replsim::core {

class Store;
struct CommandSpec;

// One duplication as LIST shows it and the harness reads it.
struct DupStatus {
  DupEntry entry;  // what dup.state holds
  // The decree the duplication's checkpoint must cover: max(last applied decree, 1), set by ADD and
  // rebuilt on every start. -1 means unset, which only KNOWN BUG duplication-decree-reset allows.
  std::int64_t min_checkpoint_decree = -1;
  std::uint64_t checkpoint_decree = 0;  // the checkpoint APP ships (0 until APP picked one)
  // The highest decree the target acknowledged since this node started (>= entry.confirmed_decree
  // once LOG runs; confirmed_decree is its persisted, never decreasing, form).
  std::uint64_t shipped_decree = 0;
  std::uint64_t records_applied = 0;   // records the target applied (since this node started)
  std::uint64_t records_already = 0;   // re-shipped records the target already had (at-most-once)
  std::uint64_t records_rejected = 0;  // records the target could not apply (e.g. WRONGTYPE)
  std::uint64_t keys_restored = 0;     // keys APP loaded into the target
  std::string last_error;              // why the last step failed; "" after a step succeeds
};

class Duplication {
 public:
  explicit Duplication(Store& store);
  ~Duplication();
  Duplication(const Duplication&) = delete;
  Duplication& operator=(const Duplication&) = delete;

  // ---- life cycle (called by the store) ---------------------------------------------------------
  // Recovery, under the store mutex after the AOF replay: loads dup.state and rebuilds every
  // min_checkpoint_decree as max(last applied decree, 1). A PREPARE duplication checks it at once, as
  // Pegasus's duplicator did when it was constructed (the assertion of incident 004).
  Status load();
  // Spawns the duplicator of each duplication that runs. REQUIRES: the store has started.
  void start();
  // Ends the duplicators at their next wake-up and closes their connections. Never blocks.
  void stop();
  // The node's role flipped (called by the store under its mutex as the new cluster config is
  // installed; never blocks). Became a replica: every duplication is orphaned at once, before a sync
  // can replace the AOF under it (dup.state follows in a task). Became a primary: a task takes over
  // the shard's duplications that the keyspace's definitions name (DUPDEFS) and this node does not
  // run: each starts again from PREPARE with a new stream (see core/doc/duplication.md, "Failover").
  void role_changed();

  // ---- commands ---------------------------------------------------------------------------------
  // DUPLICATION <subcommand> ...: the complete RESP reply (see core/doc/duplication.md).
  std::string command(const std::vector<std::string>& argv);

  // ---- read-only state --------------------------------------------------------------------------
  // The smallest AOF address some duplication still needs (the store never truncates below it);
  // UINT64_MAX when none needs any.
  std::uint64_t aof_needed_from() const;
  // Every duplication of this node, by id.
  std::vector<DupStatus> statuses() const;
  std::optional<DupStatus> status(std::string_view id) const;
  // LIST's text: one line per duplication.
  std::string list_text() const;

 private:
  // A connection to one target node, authenticated and past the PROGRESS handshake.
  struct Link {
    std::string address;      // "host:port"
    std::uint64_t epoch = 0;  // which connection this is (a new one is asked every slot's progress)
    std::string role;         // "master" or "slave", and the replication id, when it was last asked
    std::string replid;
    std::unique_ptr<Connection> conn;
    RespReplyParser parser;
  };
  // Where the records of one slot went last (in this run) and up to which decree.
  struct SlotSent {
    std::string address;  // "" when only the AOF says so (records shipped before this run)
    std::uint64_t epoch = 0;
    std::uint64_t decree = 0;
  };
  // One duplication on this node and its duplicator's working state. Shared with its task, so a
  // REMOVE + ADD of the same id never pulls the state from under a task that is parked.
  struct Duplicator {
    DupStatus status;
    std::uint64_t generation = 0;  // PAUSE, START, REMOVE and SET bump it: a task of an older one ends
    std::unique_ptr<Event> wake;
    std::map<std::string, std::unique_ptr<Link>> links;  // by address
    std::map<int, std::string> slot_owner;               // learned from MOVED replies
    std::size_t next_seed = 0;
    // A target could not be reached or answered nothing: where the slot lives is unknown again, and
    // the next request without a known owner goes to the next seed address.
    void forget_owner(int slot) {
      if (slot >= 0) slot_owner.erase(slot);
      ++next_seed;
    }
    bool links_stale = false;  // set by commands: the task drops its links before using one again
    Nanos backoff{0};
    bool prepared = false;  // PREPARE's checkpoint is in place (since this node started)
    // LOG: the AOF position after the last record shipped (the target acknowledged it).
    bool cursor_set = false;
    std::uint64_t cursor_address = 0;
    std::uint64_t cursor_decree = 0;
    std::map<int, SlotSent> sent;  // by slot (kDupNoSlot for keyless records)
    std::uint64_t next_link_epoch = 0;
    LocalTime last_link_check{};
    bool resync = false;                     // a target primary lost what cannot be shipped again: back to PREPARE
    std::uint64_t app_address = UINT64_MAX;  // the AOF address the APP checkpoint continues at
    // The slots APP restored keys of, and the checkpoint's decree: LOG verifies them first.
    std::set<int> app_slots;
    std::uint64_t app_decree = 0;
    LocalTime last_persist{};
  };
  // One record read from the AOF for shipping.
  struct ShipRecord {
    std::uint64_t address = 0;
    std::uint64_t end_address = 0;
    std::uint64_t decree = 0;
    std::vector<std::string> argv;
  };

  // ---- source: commands ----
  std::string cmd_add(const std::vector<std::string>& argv);
  std::string cmd_list() const;
  std::string cmd_pause(const std::string& id);
  std::string cmd_start(const std::string& id);
  std::string cmd_remove(const std::string& id);
  std::string cmd_set(const std::vector<std::string>& argv);
  // ---- target: commands ----
  std::string cmd_progress(const std::vector<std::string>& argv);
  std::string cmd_apply(const std::vector<std::string>& argv);
  std::string cmd_restore(const std::vector<std::string>& argv);
  // What APPLY and RESTORE share: <stream> <decree> <command> [arg ...]. spec is the command when it
  // is a data write with a valid arity, else null (each caller words its own refusal).
  struct ShippedWrite {
    std::string_view stream;
    std::uint64_t decree = 0;
    std::vector<std::string> inner;
    const CommandSpec* spec = nullptr;
  };
  // The error reply for a bad stream name or decree; nullopt when out is filled.
  std::optional<std::string> parse_shipped_write(const std::vector<std::string>& argv, ShippedWrite& out) const;
  std::string cmd_clearslots(const std::vector<std::string>& argv);
  std::string cmd_mark(const std::vector<std::string>& argv);
  // ---- the definitions a shard's primaries share ----
  // Logs DUPDEFS when the running duplications' definitions differ from the keyspace's (a primary only).
  Status publish_definitions();
  // Whether the keyspace names a duplication this primary does not run (or runs with another stream).
  bool adoption_needed() const;
  // The task role_changed and start spawn on a primary: takes over the definitions it does not run.
  void adopt();
  // Appends the empty record DUPNOOP. REQUIRES: the store mutex is held.
  void log_noop_locked();
  // Logs effects and makes them durable before the reply (a duplication confirms what it is told).
  Status log_durably(const std::vector<std::vector<std::string>>& effects);

  // ---- source: the duplicator ----
  std::shared_ptr<Duplicator> find(std::string_view id) const;
  void spawn(const std::shared_ptr<Duplicator>& d);
  void run(std::shared_ptr<Duplicator> d, std::uint64_t generation);
  bool running(const Duplicator& d, std::uint64_t generation) const;
  void nap(Duplicator& d, Nanos how_long);
  Status step_init(Duplicator& d, std::uint64_t generation);
  Status step_prepare(Duplicator& d, std::uint64_t generation);
  Status step_app(Duplicator& d, std::uint64_t generation);
  Status step_log(Duplicator& d, std::uint64_t generation);
  // Pegasus's prepare_dup assertion: a duplication past INIT has a positive min_checkpoint_decree.
  void check_min_checkpoint_decree(const Duplicator& d, std::string_view where);
  // Makes sure the newest checkpoint covers min_checkpoint_decree (an empty write first when the log
  // has no decree that high). REQUIRES: the store mutex is held.
  Status ensure_checkpoint_locked(Duplicator& d);
  Result<std::vector<ShipRecord>> read_batch(Duplicator& d);
  // Ships the records of `slot` with decrees in [from, to] again on link (a node that lacks them).
  Status repair(Duplicator& d, Link& link, int slot, std::uint64_t from, std::uint64_t to);
  // Whether the records of `slot` were last shipped to address over its current connection.
  bool slot_verified(const Duplicator& d, int slot, const std::string& address) const;
  // Makes the node serving `slot` (from *address on, following MOVED) hold every record of the slot
  // shipped so far: asks its progress and ships what it lacks. *address ends at that node.
  Status verify_slot(Duplicator& d, int slot, std::string& address);
  // verify_slot for up to `limit` slots whose node changed since their records were shipped.
  Status verify_slots(Duplicator& d, std::size_t limit);
  // Every kLinkCheckInterval: drops links whose node went away or changed role or history.
  Status check_links(Duplicator& d);
  // LOG -> PREPARE: a new checkpoint will replace the target's data (confirmed decrees stay).
  Status begin_resync(Duplicator& d, std::uint64_t generation);
  Status ship(Duplicator& d, const ShipRecord& record);
  void maybe_persist_confirmed(Duplicator& d, std::uint64_t generation, bool force);

  // ---- source: talking to the target ----
  // The link to address, opened (connect, AUTH, PROGRESS) when there is none.
  Result<Link*> link_to(Duplicator& d, const std::string& address);
  void drop_link(Duplicator& d, const std::string& address);
  void drop_links(Duplicator& d);
  Result<RespValue> call(Link& link, const std::vector<std::string>& argv);
  // Sends argv to the target node that owns `key` (a seed when unknown, or when key is null),
  // following MOVED. Connection failures and timeouts are errors; error replies are values.
  Result<RespValue> call_routed(Duplicator& d, const std::vector<std::string>& argv, const std::string* key);
  // The address a MOVED reply names (remembered as its slot's owner).
  std::string moved_address(Duplicator& d, const std::string& reply);
  // MOVED, CLUSTERDOWN or READONLY when this node does not serve `slot` as a primary (target side).
  std::optional<std::string> slot_refusal(int slot) const;
  const std::string& seed(Duplicator& d) const;

  // Changes one duplication's persisted entry: the change is applied to a copy, dup.state is
  // rewritten, and only then is the copy installed. A task passes its generation: its change is
  // refused (and nothing written) once a command has moved the duplication on.
  Status update(Duplicator& d, std::optional<std::uint64_t> generation, std::string_view why,
                const std::function<void(DupEntry&)>& change);
  Status persist_locked(const std::vector<DupEntry>& entries);

  Store& store_;
  Env& env_;
  FiberMutex mutex_;  // serializes dup.state writes (taken before the store mutex, never after)
  std::map<std::string, std::shared_ptr<Duplicator>> dups_;
  // Target side: the streams whose source saw this node's progress while it was a primary, with the
  // replication id it had then; APPLY needs the id to be unchanged (in memory: a restart forgets).
  std::map<std::string, std::string> sessions_;
  bool started_ = false;
  bool stopping_ = false;
};

}  // namespace replsim::core
