// core/cluster_config.h — the cluster configuration one node holds: the known nodes (40-hex ids,
// addresses, config epochs, roles, the primary of each replica), the owner of each of the 16384 hash
// slots, the merge rules applied to configs learned by gossip, and nodes.conf on disk.
//
// ClusterConfig is a value: every change is made on a copy that the store persists before it
// installs it, so what a node acts on and gossips is always what a restart would find. This file does
// no I/O except save_nodes_conf/load_nodes_conf, reads no clock and draws no randomness (node ids are
// passed in). The merge rules follow Garnet and Redis: another node's entry is replaced only by a
// strictly greater config epoch, a node never accepts gossip about itself, and a slot moves only to a
// claimant with a greater epoch than its current owner's.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/env.h"

namespace replsim::core {

inline constexpr int kClusterSlots = 16384;
inline constexpr std::size_t kNodeIdHexDigits = 40;
// The cluster bus listens on the client port plus this offset, as Redis's does.
inline constexpr std::uint16_t kClusterBusPortOffset = 10000;

// ---- hash slots ----------------------------------------------------------------------------------

// CRC16-CCITT in the XMODEM variant (polynomial 0x1021, initial value 0), the one Redis Cluster uses:
// crc16("123456789") == 0x31C3.
std::uint16_t crc16_xmodem(std::string_view data);

// The slot of a key: CRC16 of the key, or of the part between the first '{' and the next '}' when that
// part is not empty, modulo 16384 (Redis's keyHashSlot).
int key_hash_slot(std::string_view key);

struct SlotSpan {
  int first = 0;
  int last = 0;  // inclusive
  bool operator==(const SlotSpan&) const = default;
};

// Sorted slots as maximal runs: {0,1,2,5} -> [0-2], [5-5].
std::vector<SlotSpan> slot_spans(const std::vector<int>& sorted_slots);

// ---- nodes ---------------------------------------------------------------------------------------

enum class NodeRole : std::uint8_t {
  primary,  // owns slots (or none yet) and is the source of its own AOF
  replica,  // copies its primary's AOF and keyspace; owns no slots
};

// Redis's words, as INFO and CLUSTER NODES print them: "master", "slave".
std::string_view node_role_name(NodeRole role);

struct ClusterNode {
  std::string id;  // 40 lowercase hex digits
  std::string host;
  std::uint16_t port = 0;  // client port; the bus is port + kClusterBusPortOffset
  std::uint64_t config_epoch = 0;
  NodeRole role = NodeRole::primary;
  std::string primary_id;  // the node this one replicates; empty for a primary

  bool operator==(const ClusterNode&) const = default;
};

// Whether text is a well-formed node id (40 lowercase hex digits).
bool is_node_id(std::string_view text);

// What merge() changed and what the merging node should do about it.
struct MergeOutcome {
  bool changed = false;         // anything at all (the caller persists)
  std::size_t nodes_added = 0;  // entries for nodes this config did not know
  std::size_t nodes_updated = 0;
  std::size_t slots_moved = 0;     // slots whose owner changed
  std::size_t slots_released = 0;  // slots the sender no longer claims, now unassigned
  // Set when this node should become a replica of that node: it lost every slot it owned to it, its
  // primary lost every slot to it, or its primary became that node's replica. The merge itself never
  // changes this node's own entry; the caller does, with make_replica_of().
  std::optional<std::string> follow;
  std::string follow_reason;
  // The sender and this node are both primaries with the same config epoch and this node's id is
  // the smaller: this node must bump its epoch (Redis's collision rule), so epochs end up unique.
  bool epoch_collision = false;
};

class ClusterConfig {
 public:
  // An empty config that knows no node. Only parse() and fresh() make usable ones.
  ClusterConfig();

  // A config that knows only this node: a primary with no slots and config epoch 0.
  static ClusterConfig fresh(std::string my_id, std::string host, std::uint16_t port);

  // ---- reading --------------------------------------------------------------------------------
  bool empty() const { return nodes_.empty(); }
  const std::string& my_id() const { return nodes_.front().id; }
  const ClusterNode& myself() const { return nodes_.front(); }
  // Every known node, this one first, the others in the order they became known.
  const std::vector<ClusterNode>& nodes() const { return nodes_; }
  const ClusterNode* find(std::string_view id) const;
  bool is_primary() const { return myself().role == NodeRole::primary; }
  // My primary's entry, or nullptr (a primary, or a replica of a node this config does not know).
  const ClusterNode* my_primary() const;

  // The node owning a slot, or nullptr when the slot is unassigned. REQUIRES: 0 <= slot < 16384.
  const ClusterNode* slot_owner(int slot) const;
  // Every maximal run of consecutive slots with one owner, in slot order (unassigned slots skipped).
  std::vector<std::pair<SlotSpan, const ClusterNode*>> owned_runs() const;
  std::vector<int> slots_of(std::string_view id) const;
  std::size_t slot_count(std::string_view id) const;
  std::size_t assigned_slots() const;
  // The greatest config epoch known (Redis's currentEpoch): never below any node's epoch.
  std::uint64_t current_epoch() const;
  // Whether this node's own entry and the slots it owns are the same in both configs (what other
  // nodes learn from this node itself).
  bool same_own_entry(const ClusterConfig& other) const;
  // Whether both configs list the same ids in the same order (from the id indexes: no id string is
  // read, as the store asks at every config change whether the bus's peers changed).
  bool same_ids(const ClusterConfig& other) const;
  // Replicas of a node, in the order they became known.
  std::vector<const ClusterNode*> replicas_of(std::string_view id) const;

  // ---- changes to this node (the caller persists the result) ----------------------------------
  // Claims slots for this node. Errors (config unchanged), with Redis's texts after the '-':
  // "ERR Slot N is already busy", "ERR Slot N specified multiple times".
  // REQUIRES: every slot in [0, 16384).
  Status add_slots(const std::vector<int>& slots);
  // Unassigns slots: "ERR Slot N is already unassigned", "ERR Slot N specified multiple times".
  Status del_slots(const std::vector<int>& slots);
  // My config epoch becomes current_epoch() + 1.
  void bump_my_epoch();
  void set_my_epoch(std::uint64_t epoch);
  // This node becomes a replica of primary_id (which must be known): it releases its slots and bumps
  // its epoch so that the change wins over what others know about it.
  void make_replica_of(const std::string& primary_id);
  // This node becomes a primary of no slots, epoch unchanged (the role reset of KNOWN BUGs
  // stuck-recovering and failed-attach-resets-role; a correct store never calls it).
  void drop_to_primary_without_slots();
  // A replica takes over: it becomes a primary, claims every slot its primary owns in this config,
  // and bumps its epoch above every known one. Returns how many slots it took.
  std::size_t take_over_from_primary();
  // CLUSTER RESET: forget every other node and every slot; this node becomes a primary. A hard reset
  // also takes a new id and sets the epochs to 0.
  void reset(bool hard, std::string new_id);
  // This node's own address (it may differ after a restart elsewhere); id, epoch and role stay.
  void set_my_address(std::string host, std::uint16_t port);
  // Adds a node learned by MEET's handshake (or replaces its address when known). Does not touch
  // its epoch or role.
  void learn_node(const ClusterNode& node);

  // ---- gossip ---------------------------------------------------------------------------------
  // Merges the config another node sent (its myself() is the sender). Pure: returns what changed.
  MergeOutcome merge(const ClusterConfig& sender);

  // ---- text form (gossip payload and nodes.conf body) -----------------------------------------
  // Line-based and canonical: equal configs give equal text.
  std::string serialize() const;
  // The same text, copying the node lines of entries unchanged since `previous`, whose text is
  // previous_text (== previous.serialize()): a config changes at every merge, most entries stay.
  std::string serialize_reusing(const ClusterConfig& previous, std::string_view previous_text) const;
  // A gossip section (Redis's gossip: a few entries per message, not the whole config): the text of a
  // config that holds this node's own entry and slots and `count` other entries, those from position
  // `first` of the others on (cyclically), and the current epoch. It parses as a config, so a
  // receiver merges it as it merges a whole one; what it leaves out changes nothing there.
  std::string serialize_section(std::size_t first, std::size_t count) const;
  // Err::invalid naming the line and what was expected there.
  static Result<ClusterConfig> parse(std::string_view text);
  // The same checks, keeping only what merge() into receiver reads: the sender's own entry and slots,
  // the entries receiver does not hold at an equal or greater epoch, and the greatest epoch of all.
  // receiver.merge(parse_for_merge(text, receiver)) == receiver.merge(parse(text)), at a fraction of
  // the cost: gossip parses a whole config at every exchange of configs that differ.
  static Result<ClusterConfig> parse_for_merge(std::string_view text, const ClusterConfig& receiver);
  // A 64-bit hash of what every node of a settled cluster holds alike: the current epoch, every
  // node's entry (in id order) and the owner of every slot, but not which node is "myself". Two nodes
  // with equal digests hold equal configs, so merging one into the other would change nothing; the
  // bus pings with it and exchanges whole configs only when the digests differ.
  std::uint64_t digest() const;
  // The same digest from this config's serialize() text, for a caller that has the text already.
  static std::uint64_t digest_of_text(std::string_view serialized);

  bool operator==(const ClusterConfig& other) const = default;

 private:
  static Result<ClusterConfig> parse_impl(std::string_view text, const ClusterConfig* receiver);
  // The first lines of serialize() and serialize_section(): header, myself, current epoch.
  void append_header(std::string& out) const;
  // The slots lines of serialize(): one per owner, in nodes_ order.
  void append_slots_lines(std::string& out) const;
  int index_of(std::string_view id) const;  // -1 when unknown; O(log nodes)
  void reindex();                            // rebuilds by_id_ after nodes_ gained or lost entries
  std::size_t count_slots_of_index(int index) const;

  // The owner of every slot, as runs: run k gives its owner the slots from runs_[k].first up to the
  // next run's first (the last run ends at 16384). Canonical: the first run starts at slot 0 and two
  // adjacent runs never have one owner, so equal tables have equal runs (operator== compares them).
  // A cluster's table is a run or two per shard, and a config is copied, compared, serialized and
  // merged at every change a node learns of: O(runs) each, where a flat 16384-entry table made every
  // one of them O(16384) (at 81 nodes, a third of the cluster's setup).
  struct OwnerRun {
    std::uint16_t first = 0;
    std::int16_t owner = -1;  // index into nodes_, or -1 for unassigned
    bool operator==(const OwnerRun&) const = default;
  };
  // A span of slots to give to an owner (-1: unassigned), for overlay().
  struct OwnedSpan {
    int first = 0;
    int last = 0;  // inclusive
    std::int16_t owner = -1;
  };
  int run_end(std::size_t k) const;                  // one past run k's last slot
  std::int16_t owner_at(int slot) const;             // O(log runs); std::out_of_range outside [0, 16384)
  // Gives each span's slots to its owner. REQUIRES: spans sorted by first, disjoint, in [0, 16384).
  // O(runs + spans).
  void overlay(const std::vector<OwnedSpan>& spans);
  // Gives every slot of owner `from` to `to`; returns how many slots that was. O(runs).
  std::size_t remap_owner(std::int16_t from, std::int16_t to);
  // Distinct slots, in any order, as sorted spans of one owner.
  static std::vector<OwnedSpan> spans_of(const std::vector<int>& slots, std::int16_t owner);

  std::vector<ClusterNode> nodes_;  // nodes_[0] is this node
  // Indices into nodes_ sorted by id, each with a copy of its id's bytes (the first 8 also as a
  // number), for index_of: every gossip ping looks its sender up. Derived from nodes_ alone, so
  // equal node lists have equal indexes (operator== may compare it).
  struct IdKey {
    std::uint64_t prefix = 0;                       // the first 8 bytes, big-endian
    int index = 0;                                  // into nodes_
    bool whole = false;                             // bytes holds the id: it has 40 bytes (every valid id)
    std::array<char, kNodeIdHexDigits> bytes{};
    bool operator==(const IdKey&) const = default;
  };
  static IdKey id_key(std::string_view id, int index);
  std::vector<IdKey> by_id_;
  std::vector<OwnerRun> runs_;
  std::uint64_t current_epoch_ = 0;
};

// ---- nodes.conf ----------------------------------------------------------------------------------

inline constexpr std::string_view kNodesConfFile = "nodes.conf";

// Writes nodes.conf.tmp with the serialized config and a CRC32C line, syncs it, renames it over
// nodes.conf and syncs the directory: after a crash either the old or the new file is there, whole.
Status save_nodes_conf(Env& env, const ClusterConfig& config);
// The same with the config's serialize() text, for a caller that has the text already.
Status save_nodes_conf_text(Env& env, std::string_view serialized);

// nullopt when there is no nodes.conf (a fresh node). A file whose checksum or content does not verify
// is an error naming the file and what to do (remove it to rejoin the cluster as a fresh node).
Result<std::optional<ClusterConfig>> load_nodes_conf(Env& env);

}  // namespace replsim::core
