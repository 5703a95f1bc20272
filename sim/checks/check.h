// sim/checks/check.h — what every check produces and what it reads.
//
// A check has a stable id used everywhere (scenario files, FAIL lines, reports, `replsim checks`).
// Online checks watch the run as it goes and report through a ViolationSink; history checks read the
// finished run (the client history and the final state of every node) and return violations. A check
// never changes the run: it only reads.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/history.h"

namespace replsim::sim {

struct Violation {
  std::string check;          // the check id
  std::int64_t time_ns = 0;   // global virtual time at which it was seen
  std::string node;           // the node it concerns, or "" for the whole run
  std::string message;        // one sentence a person can act on
  nlohmann::json evidence;    // the facts behind it (operation ids, values, addresses)

  nlohmann::json to_json() const;
};

struct CheckInfo {
  std::string_view id;
  std::string_view meaning;  // one line: what it guarantees
  std::string_view source;   // the incident(s) it comes from
};

// Every check the harness knows, in a stable order.
const std::vector<CheckInfo>& check_catalogue();
const CheckInfo* find_check(std::string_view id);

// One node entry of a cluster config, as a node holds it (for single-primary-per-slot).
struct ConfigEntry {
  std::string id;
  std::string host;
  std::uint64_t epoch = 0;
  std::string role;        // "primary" or "replica"
  std::string primary_id;  // for a replica
  bool operator==(const ConfigEntry&) const = default;
};

// A maximal run of slots with one owner in a node's config.
struct SlotOwner {
  int first = 0;
  int last = 0;  // inclusive
  std::string owner_id;
  bool operator==(const SlotOwner&) const = default;
};

// One AOF record as the replicas-converge check compares it: where it lies, its decree and a hash of
// its payload (so two AOFs can be compared address for address without keeping their bytes).
struct AofRecordPrint {
  std::uint64_t address = 0;
  std::uint64_t end_address = 0;
  std::uint64_t decree = 0;
  std::uint64_t payload_hash = 0;
  bool operator==(const AofRecordPrint&) const = default;
};

// One duplication held by a source node (core/duplication.h), as the checks see it.
struct DuplicationFinal {
  std::string id;
  std::string stream;
  std::string state;  // "INIT", "PREPARE", "APP", "LOG", "PAUSE", "REMOVED"
  bool orphaned = false;
  std::int64_t min_checkpoint_decree = -1;
  std::uint64_t confirmed_decree = 0;
  std::uint64_t shipped_decree = 0;
  std::string last_error;
  bool operator==(const DuplicationFinal&) const = default;
};

// The final state of one node after the liveness phase, as the checks see it.
struct NodeFinal {
  std::string node;
  std::string cluster;
  bool up = false;            // running and started
  std::string start_error;    // why the store refused to start, if it did
  std::string role;           // "primary" or "replica"
  std::string primary;        // for a replica: its primary's node name
  bool recovering = false;
  std::string last_sync_error;
  bool link_up = false;       // a replica streaming from its primary
  std::string sync_state;     // core::sync_state_name
  // Cluster mode: this node's id, the role nodes.conf holds, and the config it acts on (entries
  // sorted by id, slot owners in slot order). Empty outside cluster mode.
  std::string node_id;
  std::string persisted_role;
  std::vector<ConfigEntry> config;
  std::vector<SlotOwner> slot_owners;
  // The AOF's records from its begin to its tail, read back from disk with the store's reader;
  // aof_read_error says why that failed (then aof_records is incomplete).
  std::vector<AofRecordPrint> aof_records;
  std::string aof_read_error;
  std::uint64_t digest = 0;
  std::uint64_t aof_begin = 0;
  std::uint64_t aof_tail = 0;
  std::int64_t last_decree = 0;
  std::vector<std::int64_t> checkpoint_decrees;
  // Every list in the keyspace, by key (for duplicate and loss checks).
  std::map<std::string, std::vector<std::string>> lists;
  // Duplications this node holds as a source, by id.
  std::vector<DuplicationFinal> duplications;
  // Nodes of clusters that take part in a duplication: a hash of each key's value (type, content,
  // expiry), without a duplication's progress keys, to compare a target with its source.
  std::map<std::string, std::uint64_t> value_hashes;
};

struct AbortRecord {
  std::string node;
  std::int64_t time_ns = 0;
  std::string message;
};

// Everything the history checks read.
struct RunFacts {
  const History* history = nullptr;
  std::vector<NodeFinal> finals;
  std::vector<AbortRecord> aborts;
  // Whether acknowledged writes are promised to survive (fsync always on every node, faults within
  // budget); the durability check only runs when they are.
  bool durability_promised = false;
};

// ---- the history checks ---------------------------------------------------------------------------
std::vector<Violation> check_no_duplicate_list_entries(const RunFacts& facts);
std::vector<Violation> check_acknowledged_writes_durable(const RunFacts& facts);
std::vector<Violation> check_no_abort(const RunFacts& facts);
// replicas_converge.cpp: every up replica against its primary (digest, AOF tail, last decree, and
// the records both AOFs hold, address for address).
std::vector<Violation> check_replicas_converge(const RunFacts& facts, std::int64_t now_ns);
// single_primary.cpp: per cluster, every up node holds the same config, each assigned slot has
// exactly one primary that claims it, and every node's persisted and running role match the config.
std::vector<Violation> check_single_primary_per_slot(const RunFacts& facts, std::int64_t now_ns);

}  // namespace replsim::sim
