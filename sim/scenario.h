// sim/scenario.h — what a scenario file says, and the loader that turns a JSON file into it.
//
// A Scenario is plain data: clusters and their nodes' store config, setup commands, the workload,
// scripted faults, swarm fault generators, the operator, the checks, phases and limits. The loader
// validates everything it can see without running (types, ranges, unknown keys, unknown nodes, an
// impossible schedule, contradictory options) and reports the first problem as one line naming the
// file, the JSON path, what was expected and what was found. It never guesses: unknown keys are
// errors. The format is documented in scenarios/README.md and described by scenarios/schema.json.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/env.h"

namespace replsim::sim {

inline constexpr int kScenarioFormatVersion = 1;
inline constexpr int kClusterSlotCount = 16384;

// An inclusive [min, max] interval, written [min, max] in JSON. Invariant after loading: min <= max.
template <class T>
struct Range {
  T min{};
  T max{};
  bool operator==(const Range&) const = default;
};

// ---- clusters and nodes --------------------------------------------------------------------------

// One node's store configuration (the world turns it into a core::StoreConfig). A cluster's "config"
// gives defaults for its nodes; a node's own "config" overrides them key by key. After loading every
// node holds its complete, resolved config. Defaults are the store's, except that checkpoints run
// every 10 s, so that simulations exercise them unless a scenario turns them off.
struct StoreSpec {
  enum class Fsync : std::uint8_t {
    always,    // sync the AOF before acknowledging each write
    everysec,  // sync at most once a second; a crash may lose the last second
    no,        // never sync explicitly; a crash may lose any unsynced suffix
  };

  std::uint16_t port = 6379;
  std::string requirepass;                  // empty: clients need no AUTH
  std::int64_t aof_page_size_bytes = 4096;  // the largest AOF record is one page
  std::int64_t aof_segment_pages = 1024;
  Fsync appendfsync = Fsync::everysec;
  std::int64_t checkpoint_interval_ms = 10'000;  // 0: no time trigger
  std::int64_t checkpoint_interval_writes = 0;   // 0: no write-count trigger (both 0: only SAVE)
  std::int64_t checkpoints_retained = 2;
  std::int64_t max_clients = 10'000;
  std::int64_t resp_max_bulk_bytes = std::int64_t{512} * 1024 * 1024;
  std::int64_t resp_max_args = 1024 * 1024;
  std::int64_t resp_max_inline_bytes = 64 * 1024;
  std::int64_t resp_max_query_buffer_bytes = std::int64_t{1024} * 1024 * 1024;

  bool operator==(const StoreSpec&) const = default;
};

// A node's local clock against the simulator's true time: local = true * (1 + drift_ppm / 1e6) + offset.
struct ClockSpec {
  std::int64_t offset_ms = 0;
  double drift_ppm = 0.0;
  bool operator==(const ClockSpec&) const = default;
};

struct NodeSpec {
  std::string name;  // unique in the whole scenario; also the node's host name
  StoreSpec config;
  ClockSpec clock;
  bool operator==(const NodeSpec&) const = default;
};

// Inclusive slot range, 0 <= first <= last < kClusterSlotCount.
struct SlotRange {
  int first = 0;
  int last = 0;
  bool operator==(const SlotRange&) const = default;
};

struct ShardSpec {
  std::string primary;
  std::vector<std::string> replicas;
  std::vector<SlotRange> slots;  // sorted, disjoint; empty only when the cluster has many shards
  bool operator==(const ShardSpec&) const = default;
};

struct ClusterSpec {
  enum class Topology : std::uint8_t {
    shards,  // the world builds `shards` before setup runs (slots assigned, replicas attached)
    manual,  // every node starts as an empty primary with no slots; setup commands build the rest
  };

  std::string name;
  std::vector<NodeSpec> nodes;
  Topology topology = Topology::shards;
  std::vector<ShardSpec> shards;  // empty when topology is manual; otherwise covers every node once

  bool operator==(const ClusterSpec&) const = default;
};

// Source cluster duplicates its writes to the target cluster (Pegasus model).
struct DuplicationSpec {
  std::string source;              // cluster name
  std::string target;              // cluster name
  std::string target_password;     // what the duplication sends with AUTH; empty: no AUTH
  bool initial_checkpoint = true;  // start with a checkpoint transfer (INIT -> PREPARE -> APP -> LOG)
  bool operator==(const DuplicationSpec&) const = default;
};

// ---- admin commands ------------------------------------------------------------------------------

// An admin command sent to one node, used by setup and by scripted `admin` faults. Arguments may hold
// placeholders (`${node:c0n1}`, see parse_arg_template) resolved when the command is sent. When
// `expect` is set the reply must match it (see reply_matches); with retry_for_ms > 0 the command is
// re-sent every retry_interval_ms until it matches or retry_for_ms has passed.
struct AdminCommand {
  std::string node;
  std::vector<std::string> argv;
  std::optional<std::string> expect;
  std::int64_t timeout_ms = 5'000;
  std::int64_t retry_for_ms = 0;
  std::int64_t retry_interval_ms = 100;
  bool operator==(const AdminCommand&) const = default;
};

// One setup command; `note` is free text for the reader (e.g. the write-up's step it follows).
struct SetupStep {
  AdminCommand command;
  std::string note;
  bool operator==(const SetupStep&) const = default;
};

// ---- workload ------------------------------------------------------------------------------------

struct WorkloadSpec {
  // The operations clients draw from, in this order in `mix`.
  enum class Op : std::uint8_t { get, set, incr, append, del, lpush, rpush, lpop, rpop, lrange, llen };
  static constexpr std::size_t kOpCount = 11;

  // Values around or above the AOF page size (incident 000 needs records as big as a page). Exactly
  // one of size_bytes (absolute) and page_size_factor (times the target node's aof_page_size_bytes)
  // is set.
  struct LargeValues {
    double probability = 0.0;  // chance that a written value is large
    std::optional<Range<std::int64_t>> size_bytes;
    std::optional<Range<double>> page_size_factor = Range<double>{0.5, 2.0};
    bool operator==(const LargeValues&) const = default;
  };

  // A per-seed alternative to the workload as written (swarm testing over workloads, as the swarm
  // does over fault families): each seed picks one variant by weight (workload_for_seed in
  // sim/workload.h), and the keys it gives replace the workload's.
  struct Variant {
    std::string name;
    std::int64_t weight = 1;
    std::optional<std::array<std::int64_t, kOpCount>> mix;
    std::optional<int> key_count;
    std::optional<Range<std::int64_t>> value_size_bytes;
    std::optional<double> ops_per_second_per_client;
    std::optional<LargeValues> large_values;
    bool operator==(const Variant&) const = default;
  };

  bool enabled = false;  // false when the scenario has no "workload"
  std::string cluster;   // the cluster clients talk to; default: the first one
  int clients = 4;
  // Weights by Op; at least one is positive. A "mix" in the file replaces all of them (unnamed: 0).
  std::array<std::int64_t, kOpCount> mix{20, 20, 5, 5, 5, 15, 15, 5, 5, 4, 1};
  int key_count = 100;
  Range<std::int64_t> value_size_bytes{8, 64};
  double ops_per_second_per_client = 50.0;
  std::int64_t duration_ms = 0;  // default: the whole safety phase
  std::int64_t request_timeout_ms = 1'000;
  int retries = 3;
  LargeValues large_values;
  std::vector<Variant> variants;  // empty: every seed runs the workload as written
  // A client that last saw a list longer than this pops the surplus (down to half of it) with its
  // next pop of that list, so lists stay bounded in long runs; 0: no bound. The mix and the rate
  // are unchanged: only that pop's count grows.
  std::int64_t list_length_bound = 256;

  bool operator==(const WorkloadSpec&) const = default;
};

std::string_view workload_op_name(WorkloadSpec::Op op);  // "get", "set", ... as written in `mix`

// ---- scripted faults -----------------------------------------------------------------------------

struct CrashStep {
  std::string node;
  bool operator==(const CrashStep&) const = default;
};
struct RestartStep {
  std::string node;
  bool operator==(const RestartStep&) const = default;
};
struct PauseStep {
  std::string node;
  bool operator==(const PauseStep&) const = default;
};
struct ResumeStep {
  std::string node;
  bool operator==(const ResumeStep&) const = default;
};

struct PartitionStep {
  enum class Kind : std::uint8_t {
    two_way,       // no traffic between different `groups`; nodes in no group still reach everybody
    one_way,       // bytes from any node of `from` to any node of `to` are held; the reverse flows
    isolate,       // `node` reaches nobody and nobody reaches it
    random_split,  // the fault stream splits the nodes into two random non-empty halves
  };
  Kind kind = Kind::two_way;
  std::vector<std::vector<std::string>> groups;  // two_way
  std::vector<std::string> from;                 // one_way
  std::vector<std::string> to;                   // one_way
  std::string node;                              // isolate
  std::optional<std::int64_t> duration_ms;       // heals itself after this long; unset: until heal
  bool operator==(const PartitionStep&) const = default;
};

// Heals every partition in effect.
struct HealStep {
  bool operator==(const HealStep&) const = default;
};

// Extra delay on everything a node sends and receives, or on one link (both directions).
// Exactly one of `node` and `link` is set.
struct ClogStep {
  std::string node;
  std::vector<std::string> link;  // two node names
  std::int64_t extra_latency_ms = 0;
  std::optional<std::int64_t> duration_ms;  // unclogs itself after this long; unset: until unclog
  bool operator==(const ClogStep&) const = default;
};

// Removes the clog on a node or link; with neither set, removes every clog.
struct UnclogStep {
  std::string node;
  std::vector<std::string> link;
  bool operator==(const UnclogStep&) const = default;
};

// Resets the connections of one node (empty: every connection in the world).
struct ResetConnectionsStep {
  std::string node;
  bool operator==(const ResetConnectionsStep&) const = default;
};

struct DiskFaultStep {
  enum class Kind : std::uint8_t {
    eio_write,     // writes and appends fail with EIO
    eio_sync,      // sync and sync_dir fail with EIO
    enospc,        // writes and appends fail with ENOSPC
    bitflip_read,  // a read returns the data with one bit flipped (the store's checksums must notice)
    latency,       // every disk operation takes latency_ms longer
  };
  std::string node;
  Kind kind = Kind::eio_write;
  double probability = 1.0;                 // per operation
  std::int64_t latency_ms = 0;              // kind latency only
  std::optional<std::int64_t> duration_ms;  // unset: until the liveness phase heals everything
  bool operator==(const DiskFaultStep&) const = default;
};

// Sets a node's clock offset and/or drift (absolute values, not increments). At least one is set.
struct ClockStep {
  std::string node;
  std::optional<std::int64_t> offset_ms;
  std::optional<double> drift_ppm;
  bool operator==(const ClockStep&) const = default;
};

// An admin command in the middle of the run. A reply that does not match `expect` is reported as a
// violation of `check` (one of the check ids), or of "scenario-expect" when `check` is empty.
struct AdminStep {
  AdminCommand command;
  std::string check;
  bool operator==(const AdminStep&) const = default;
};

// The alternatives are in the order of FaultStep::Action.
using FaultDetail =
    std::variant<CrashStep, RestartStep, PauseStep, ResumeStep, PartitionStep, HealStep, ClogStep, UnclogStep,
                 ResetConnectionsStep, DiskFaultStep, ClockStep, AdminStep>;

struct FaultStep {
  enum class Action : std::uint8_t {
    crash,
    restart,
    pause,
    resume,
    partition,
    heal,
    clog,
    unclog,
    reset_connections,
    disk_fault,
    clock,
    admin,
  };
  static constexpr std::size_t kActionCount = 12;

  std::int64_t at_ms = 0;  // from the start of the safety phase; non-decreasing down the list
  FaultDetail detail;
  std::string note;  // free text for the reader (e.g. the write-up's step it follows)

  Action action() const { return static_cast<Action>(detail.index()); }
  bool operator==(const FaultStep&) const = default;
};

std::string_view fault_action_name(FaultStep::Action action);  // "crash", "reset_connections", ...
std::string_view partition_kind_name(PartitionStep::Kind kind);
std::string_view disk_fault_kind_name(DiskFaultStep::Kind kind);
std::string_view fsync_name(StoreSpec::Fsync fsync);

// ---- swarm fault generators ----------------------------------------------------------------------

// One fault family. Per seed the family is on with enable_probability (if may_enable), and each
// intensity parameter is drawn from its range. Which ranges a family uses is listed per family in
// scenarios/README.md; the others keep their defaults and are not written out.
struct SwarmFamilySpec {
  bool may_enable = false;
  double enable_probability = 0.5;
  Range<std::int64_t> interval_ms{5'000, 30'000};  // mean time between two faults of the family
  Range<std::int64_t> duration_ms{500, 5'000};     // how long one fault lasts (crash/pause: downtime)
  Range<double> probability{0.01, 0.1};            // per disk operation (disk_eio, bitflip)
  Range<std::int64_t> extra_latency_ms{10, 500};   // clog
  Range<std::int64_t> offset_ms{-5'000, 5'000};    // clock_skew
  Range<double> drift_ppm{-200.0, 200.0};          // clock_skew
  // crash_restart, pause: the chance that one fault hits a node serving as a primary (of slots)
  // rather than any node. Failovers, re-attaches and lost tails all start at a primary.
  Range<double> primary_bias{0.0, 0.0};
  std::vector<PartitionStep::Kind> partition_kinds{PartitionStep::Kind::two_way, PartitionStep::Kind::one_way,
                                                   PartitionStep::Kind::isolate,
                                                   PartitionStep::Kind::random_split};
  Range<double> activation_probability{0.25, 0.25};  // buggify: a site is active in this run
  Range<double> fire_probability{0.25, 0.25};        // buggify: an active site fires
  bool operator==(const SwarmFamilySpec&) const = default;
};

// What generated faults may do at once. With within_budget false the generators ignore the rest.
struct SwarmBudget {
  bool within_budget = true;
  int max_nodes_down = 1;              // crashed or paused at the same time, per cluster
  bool never_whole_shard_down = true;  // never the primary and all replicas of a shard at once
  bool operator==(const SwarmBudget&) const = default;
};

struct SwarmSpec {
  enum class Family : std::uint8_t {
    crash_restart,
    pause,
    partition,
    clog,
    disk_eio,
    disk_enospc,
    bitflip,
    clock_skew,
    connection_reset,
    buggify,
  };
  static constexpr std::size_t kFamilyCount = 10;

  std::array<SwarmFamilySpec, kFamilyCount> families{};  // indexed by Family
  SwarmBudget budget;

  const SwarmFamilySpec& family(Family f) const { return families[static_cast<std::size_t>(f)]; }
  bool operator==(const SwarmSpec&) const = default;
};

std::string_view swarm_family_name(SwarmSpec::Family family);

// ---- operator, phases, limits, expectations ------------------------------------------------------

struct OperatorSpec {
  bool enabled = false;
  std::int64_t poll_interval_ms = 500;
  std::int64_t failure_detection_delay_ms = 2'000;  // a primary unreachable this long is dead
  std::int64_t failover_delay_ms = 500;             // then wait this long before failing over
  std::int64_t reattach_delay_ms = 1'000;           // a restarted node is re-attached after this
  std::vector<std::string> failover_argv{"CLUSTER", "FAILOVER", "FORCE"};
  bool operator==(const OperatorSpec&) const = default;
};

struct LivenessSpec {
  bool enabled = true;
  bool heal_all = true;     // heal partitions, clogs and disk faults when it starts
  bool restart_all = true;  // restart crashed nodes and resume paused ones
  std::int64_t converge_within_ms = 30'000;
  bool operator==(const LivenessSpec&) const = default;
};

struct PhasesSpec {
  std::int64_t setup_timeout_ms = 30'000;
  std::int64_t safety_duration_ms = 30'000;
  LivenessSpec liveness;
  bool operator==(const PhasesSpec&) const = default;
};

struct LimitsSpec {
  std::int64_t sim_time_ms = 0;  // default: setup + safety + liveness + 10 s
  std::int64_t events = 100'000'000;
  std::int64_t wall_time_ms = 300'000;  // per seed
  bool operator==(const LimitsSpec&) const = default;
};

// With `bug` switched on, the run is expected to fail `check`.
struct ExpectedFailure {
  std::string bug;
  std::string check;
  bool operator==(const ExpectedFailure&) const = default;
};

// ---- the scenario --------------------------------------------------------------------------------

struct Scenario {
  std::string source;  // the file it came from (not part of the normalized form; not compared)
  int format_version = kScenarioFormatVersion;
  std::string name;
  std::string description;
  std::vector<ClusterSpec> clusters;
  std::vector<DuplicationSpec> duplications;
  std::vector<SetupStep> setup;
  WorkloadSpec workload;
  std::vector<FaultStep> faults;
  SwarmSpec swarm;
  OperatorSpec operator_;           // "operator" in JSON
  std::vector<std::string> checks;  // check ids, in catalogue order
  PhasesSpec phases;
  LimitsSpec limits;
  std::vector<ExpectedFailure> expect;

  // Everything but `source`.
  bool operator==(const Scenario& other) const;

  // The node with that name, or nullptr.
  const NodeSpec* find_node(std::string_view node_name) const;
  // The cluster a node belongs to, or nullptr.
  const ClusterSpec* cluster_of(std::string_view node_name) const;
};

// ---- loading -------------------------------------------------------------------------------------

// Reads and validates a scenario file. On failure the status (Err::invalid, or Err::not_found when
// the file cannot be read) carries one line: "<path>: <json path>: <what is wrong>".
core::Result<Scenario> load_scenario_file(const std::string& path);

// Validates an already parsed document; source_name is used in messages and kept in Scenario::source.
core::Result<Scenario> load_scenario_json(const nlohmann::json& document, std::string source_name);

// Parses text (with duplicate-key detection and line/column on syntax errors), then validates it.
core::Result<Scenario> load_scenario_text(std::string_view text, std::string source_name);

// The normalized form: every default filled in, node configs resolved, shards explicit with slots,
// checks listed. load_scenario_json(scenario_to_json(s)) yields a Scenario equal to s. Replays and
// report.json embed this form.
nlohmann::json scenario_to_json(const Scenario& scenario);

// ---- argument templates --------------------------------------------------------------------------

// A command argument is text with placeholders `${kind:node}` resolved when the command is sent:
//   ${node:c0n1}  the node's 40-hex cluster node id     ${addr:c0n1}  "host:port"
//   ${host:c0n1}  the node's host name                   ${port:c0n1}  its port
// `$$` is a literal `$`. Braces alone are literal text, so Redis hash tags (`{user}:1`) need no escape.
struct ArgPiece {
  enum class Kind : std::uint8_t { text, node_id, addr, host, port };
  Kind kind = Kind::text;
  std::string value;  // the literal text, or the node name of a placeholder
  bool operator==(const ArgPiece&) const = default;
};

// Splits an argument into literal text and placeholders. The error names the problem only (no file
// or path); the loader adds those.
core::Result<std::vector<ArgPiece>> parse_arg_template(std::string_view arg);

// Fills in the placeholders; `resolve` is called for each one with its kind and node name.
std::string expand_arg_template(
    const std::vector<ArgPiece>& pieces,
    const std::function<std::string(ArgPiece::Kind, const std::string&)>& resolve);

// ---- reply expectations --------------------------------------------------------------------------

// Whether a reply matches an `expect` pattern. The reply is given as its RESP type byte ('+', '-',
// ':', '$', '*') and its text: simple strings and errors without the type byte, integers in decimal,
// bulk strings as their bytes, a nil bulk as "(nil)", arrays as the caller renders them. A pattern that
// starts with '+', '-', ':', '$' or '*' also requires that type; the rest is compared as a glob where
// `*` matches any run of characters (`\*` is a literal star). Examples: "OK" matches +OK and $2 OK;
// "+OK" matches only +OK; "ERR*" matches -ERR anything; "-CLUSTERDOWN*" only that error.
bool reply_matches(std::string_view pattern, char reply_type, std::string_view reply_text);

// ---- the loader's vocabulary (kept in agreement with scenarios/schema.json by a test) -----------

struct KeySpec {
  std::string name;
  bool required = false;
};

// The keys one kind of JSON object may have. `name` is the object's definition name in the
// schema's $defs (e.g. "store_config", "fault_partition", "swarm_partition").
struct KeyTable {
  std::string name;
  std::vector<KeySpec> keys;
};

// A closed set of string values; `name` is its $defs name in the schema (e.g. "appendfsync").
struct EnumTable {
  std::string name;
  std::vector<std::string> values;
};

const std::vector<KeyTable>& scenario_key_tables();
const std::vector<EnumTable>& scenario_enum_tables();

// The check ids of DESIGN.md section 5 in catalogue order, and the known-bug switch names.
const std::vector<std::string>& scenario_check_ids();
const std::vector<std::string>& scenario_bug_names();

// The closest candidate to `word` by edit distance, when it is close enough to be a likely typo.
std::optional<std::string> nearest_name(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace replsim::sim
