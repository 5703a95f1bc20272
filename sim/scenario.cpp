// sim/scenario.cpp — the scenario loader: JSON text -> validated Scenario, and Scenario -> normalized
// JSON.
//
// The loader owns the vocabulary of the format (the key and enum tables that scenarios/schema.json
// must agree with) and every rule a file can break before it runs. Inside, a problem is thrown as a
// LoadError carrying "<json path>: <message>" and turned into a core::Status at the public boundary,
// so each section parser reads as a list of fields. It never runs anything and never touches the
// simulator; iteration is over std::map / nlohmann's key-ordered objects only, so the first error
// reported for a file is always the same one.
#include "sim/scenario.h"

#include "core/known_bugs.h"

#include <algorithm>
#include <cassert>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <system_error>
#include <tuple>
#include <utility>

#include <fmt/format.h>

namespace replsim::sim {
namespace {

using nlohmann::json;

// ==== vocabulary ==================================================================================

constexpr std::int64_t kMaxNodesPerCluster = 100;
constexpr std::int64_t kMaxDurationMs = std::int64_t{30} * 24 * 3600 * 1000;  // 30 days of sim time
constexpr std::int64_t kMaxClockOffsetMs = std::int64_t{24} * 3600 * 1000;
constexpr double kMaxDriftPpm = 100'000.0;
constexpr std::int64_t kMaxValueBytes = std::int64_t{64} * 1024 * 1024;
constexpr std::int64_t kDefaultSimTimeSlackMs = 10'000;

// The vocabulary lives in function-local statics, so it is ready whatever the order of static
// initialization across files.

// Checks judged after the liveness phase: they make no sense when there is none.
const std::set<std::string>& checks_needing_liveness() {
  static const std::set<std::string> checks = {"replicas-converge", "single-primary-per-slot"};
  return checks;
}
// The check that needs every node to sync before acknowledging, and generated faults to stay within
// the budget the store promises to survive.
constexpr std::string_view kDurabilityCheck = "acknowledged-writes-durable";

const std::vector<std::string>& op_names() {
  static const std::vector<std::string> names = {"get",   "set",  "incr", "append", "del", "lpush",
                                                 "rpush", "lpop", "rpop", "lrange", "llen"};
  return names;
}

const std::vector<std::string>& family_names() {
  static const std::vector<std::string> names = {"crash_restart",    "pause",       "partition", "clog",
                                                 "disk_eio",         "disk_enospc", "bitflip",   "clock_skew",
                                                 "connection_reset", "buggify"};
  return names;
}

const std::vector<std::string>& placeholder_kinds() {
  static const std::vector<std::string> kinds = {"node", "addr", "host", "port"};
  return kinds;
}

// The intensity keys each swarm family accepts, in family_names() order.
const std::vector<std::vector<std::string>>& intensity_keys() {
  static const std::vector<std::vector<std::string>> keys = {
      {"interval_ms", "downtime_ms", "primary_bias"},      // crash_restart
      {"interval_ms", "downtime_ms", "primary_bias"},      // pause
      {"interval_ms", "duration_ms", "kinds"},             // partition
      {"interval_ms", "duration_ms", "extra_latency_ms"},  // clog
      {"interval_ms", "duration_ms", "probability"},       // disk_eio
      {"interval_ms", "duration_ms"},                      // disk_enospc
      {"interval_ms", "duration_ms", "probability"},       // bitflip
      {"interval_ms", "offset_ms", "drift_ppm"},           // clock_skew
      {"interval_ms"},                                     // connection_reset
      {"activation_probability", "fire_probability"},      // buggify
  };
  return keys;
}

std::vector<KeyTable> build_key_tables() {
  auto optional = [](std::initializer_list<const char*> names) {
    std::vector<KeySpec> keys;
    for (const char* n : names) keys.push_back({n, false});
    return keys;
  };
  auto with_required = [&](std::initializer_list<const char*> required,
                           std::initializer_list<const char*> rest) {
    std::vector<KeySpec> keys;
    for (const char* n : required) keys.push_back({n, true});
    for (const char* n : rest) keys.push_back({n, false});
    return keys;
  };

  std::vector<KeyTable> tables = {
      {"scenario", with_required({"name", "clusters"},
                                 {"format_version", "description", "duplications", "setup", "workload",
                                  "faults", "swarm", "operator", "checks", "phases", "limits", "expect"})},
      {"cluster", with_required({"name", "nodes"}, {"config", "topology"})},
      {"node", with_required({"name"}, {"config", "clock"})},
      {"store_config", optional({"port", "requirepass", "aof_page_size_bytes", "aof_segment_pages",
                                 "appendfsync", "checkpoint_interval_ms", "checkpoint_interval_writes",
                                 "checkpoints_retained", "max_clients", "resp_max_bulk_bytes",
                                 "resp_max_args", "resp_max_inline_bytes", "resp_max_query_buffer_bytes"})},
      {"clock", optional({"offset_ms", "drift_ppm"})},
      {"topology", optional({"shards", "shard_count", "replicas_per_shard"})},
      {"shard", with_required({"primary"}, {"replicas", "slots"})},
      {"duplication", with_required({"source", "target"}, {"target_password", "initial_checkpoint"})},
      {"setup_step", with_required({"node", "argv"},
                                   {"expect", "timeout_ms", "retry_for_ms", "retry_interval_ms", "note"})},
      {"workload", optional({"enabled", "cluster", "clients", "mix", "key_count", "value_size_bytes",
                             "ops_per_second_per_client", "duration_ms", "request_timeout_ms", "retries",
                             "large_values", "variants", "list_length_bound"})},
      {"large_values", optional({"probability", "size_bytes", "page_size_factor"})},
      {"workload_variant", with_required({"name"}, {"weight", "mix", "key_count", "value_size_bytes",
                                                    "ops_per_second_per_client", "large_values"})},
      {"fault_crash", with_required({"at_ms", "action", "node"}, {"note"})},
      {"fault_restart", with_required({"at_ms", "action", "node"}, {"note"})},
      {"fault_pause", with_required({"at_ms", "action", "node"}, {"note"})},
      {"fault_resume", with_required({"at_ms", "action", "node"}, {"note"})},
      {"fault_partition",
       with_required({"at_ms", "action", "kind"}, {"groups", "from", "to", "node", "duration_ms", "note"})},
      {"fault_heal", with_required({"at_ms", "action"}, {"note"})},
      {"fault_clog",
       with_required({"at_ms", "action", "extra_latency_ms"}, {"node", "link", "duration_ms", "note"})},
      {"fault_unclog", with_required({"at_ms", "action"}, {"node", "link", "note"})},
      {"fault_reset_connections", with_required({"at_ms", "action"}, {"node", "note"})},
      {"fault_disk_fault", with_required({"at_ms", "action", "node", "kind"},
                                         {"probability", "latency_ms", "duration_ms", "note"})},
      {"fault_clock", with_required({"at_ms", "action", "node"}, {"offset_ms", "drift_ppm", "note"})},
      {"fault_admin",
       with_required({"at_ms", "action", "node", "argv"},
                     {"expect", "timeout_ms", "retry_for_ms", "retry_interval_ms", "check", "note"})},
      {"swarm_budget", optional({"within_budget", "max_nodes_down", "never_whole_shard_down"})},
      {"operator", optional({"enabled", "poll_interval_ms", "failure_detection_delay_ms", "failover_delay_ms",
                             "reattach_delay_ms", "failover_argv"})},
      {"phases", optional({"setup_timeout_ms", "safety_duration_ms", "liveness"})},
      {"liveness", optional({"enabled", "heal_all", "restart_all", "converge_within_ms"})},
      {"limits", optional({"sim_time_ms", "events", "wall_time_ms"})},
      {"expectation", with_required({"bug", "check"}, {})},
  };

  KeyTable mix{"operation_mix", {}};
  for (const auto& op : op_names()) mix.keys.push_back({op, false});
  tables.push_back(mix);

  KeyTable swarm{"swarm", {}};
  for (std::size_t f = 0; f < family_names().size(); ++f) {
    const std::string& family = family_names()[f];
    swarm.keys.push_back({family, false});
    tables.push_back({"swarm_" + family, optional({"may_enable", "enable_probability", "intensity"})});
    KeyTable intensity{"intensity_" + family, {}};
    for (const auto& key : intensity_keys()[f]) intensity.keys.push_back({key, false});
    tables.push_back(intensity);
  }
  swarm.keys.push_back({"budget", false});
  tables.push_back(swarm);
  return tables;
}

std::vector<EnumTable> build_enum_tables() {
  return {
      {"appendfsync", {"always", "everysec", "no"}},
      {"fault_action",
       {"crash", "restart", "pause", "resume", "partition", "heal", "clog", "unclog", "reset_connections",
        "disk_fault", "clock", "admin"}},
      {"partition_kind", {"two_way", "one_way", "isolate", "random_split"}},
      {"disk_fault_kind", {"eio_write", "eio_sync", "enospc", "bitflip_read", "latency"}},
      {"check_id",
       {"no-stuck-recovering", "no-duplicate-list-entries", "valid-checkpoint-decrees", "replicas-converge",
        "single-primary-per-slot", "replicate-ok-means-sync", "aof-readable", "acknowledged-writes-durable",
        "no-abort"}},
      // The switches of issue 7's catalogue (core/known_bugs.h), by the names `--bug` takes.
      {"bug_name", core::known_bug_names()},
      {"checks_keyword", {"all", "default"}},
      {"topology_keyword", {"manual"}},
  };
}

const KeyTable& key_table(std::string_view name) {
  for (const auto& t : scenario_key_tables()) {
    if (t.name == name) return t;
  }
  assert(false && "no such key table");
  std::abort();
}

const std::vector<std::string>& enum_values(std::string_view name) {
  for (const auto& t : scenario_enum_tables()) {
    if (t.name == name) return t.values;
  }
  assert(false && "no such enum table");
  std::abort();
}

// ==== error helpers ===============================================================================

// A problem found while loading: "<json path>: <message>". Only the public entry points catch it.
struct LoadError {
  std::string message;
};

[[noreturn]] void fail(const std::string& path, const std::string& message) {
  throw LoadError{path + ": " + message};
}

std::string quote_json(std::string_view s) {
  return json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

// How a found value is shown in a message: strings quoted (and shortened), containers by kind.
std::string describe(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return v.empty() ? "an empty object" : "an object";
    case json::value_t::array:
      return v.empty() ? "an empty array" : fmt::format("an array of {}", v.size());
    case json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      if (s.size() <= 48) return quote_json(s);
      std::size_t cut = 45;
      while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // UTF-8 boundary
      std::string shown = quote_json(s.substr(0, cut));
      shown.insert(shown.size() - 1, "...");
      return shown;
    }
    default:
      return v.dump();
  }
}

[[noreturn]] void fail_expected(const std::string& path, std::string_view expected, const json& found) {
  fail(path, fmt::format("expected {}, found {}", expected, describe(found)));
}

std::string join(const std::vector<std::string>& items, std::string_view sep, bool quote = false) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += sep;
    out += quote ? quote_json(items[i]) : items[i];
  }
  return out;
}

// " (did you mean "x"?)" when a candidate is close, else "".
std::string suggestion(std::string_view word, const std::vector<std::string>& candidates) {
  auto near = nearest_name(word, candidates);
  return near ? fmt::format(" (did you mean {}?)", quote_json(*near)) : "";
}

std::string at_key(const std::string& path, std::string_view key) { return path + "." + std::string(key); }
std::string at_index(const std::string& path, std::size_t i) { return fmt::format("{}[{}]", path, i); }

// ==== typed readers ===============================================================================

std::int64_t read_int(const json& v, const std::string& path, std::int64_t min, std::int64_t max,
                      std::string_view expected) {
  std::int64_t n = 0;
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(max)) {
      fail_expected(path, expected, v);
    }
    n = v.get<std::int64_t>();
  } else if (v.is_number_float()) {
    // 1e6 is a convenient way to write a million; 1.5 is not an integer.
    double d = v.get<double>();
    if (!(std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15)) fail_expected(path, expected, v);
    n = static_cast<std::int64_t>(d);
  } else {
    fail_expected(path, expected, v);
  }
  if (n < min || n > max) fail_expected(path, expected, v);
  return n;
}

std::int64_t read_duration(const json& v, const std::string& path, bool positive) {
  return read_int(v, path, positive ? 1 : 0, kMaxDurationMs,
                  positive ? "a positive integer (milliseconds)" : "a non-negative integer (milliseconds)");
}

double read_number(const json& v, const std::string& path, double min, double max,
                   std::string_view expected) {
  if (!v.is_number()) fail_expected(path, expected, v);
  double d = v.get<double>();
  if (!std::isfinite(d) || d < min || d > max) fail_expected(path, expected, v);
  return d;
}

double read_probability(const json& v, const std::string& path) {
  return read_number(v, path, 0.0, 1.0, "a probability from 0 to 1");
}

bool read_bool(const json& v, const std::string& path) {
  if (!v.is_boolean()) fail_expected(path, "true or false", v);
  return v.get<bool>();
}

std::string read_string(const json& v, const std::string& path, std::string_view expected) {
  if (!v.is_string()) fail_expected(path, expected, v);
  return v.get<std::string>();
}

// Names of clusters and nodes: also host names, so letters, digits, '_', '-', '.'.
std::string read_name(const json& v, const std::string& path, std::string_view what) {
  std::string expected = fmt::format("{} (letters, digits, '_', '-', '.')", what);
  std::string s = read_string(v, path, expected);
  bool ok = !s.empty() && s.size() <= 64 && std::isalnum(static_cast<unsigned char>(s[0]));
  for (char c : s) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.');
  }
  if (!ok) fail_expected(path, expected, v);
  return s;
}

// One of a closed set of strings; returns its index.
std::size_t read_choice(const json& v, const std::string& path, const std::vector<std::string>& values) {
  std::string expected = "one of " + join(values, ", ", true);
  if (!v.is_string()) fail_expected(path, expected, v);
  const auto& s = v.get_ref<const std::string&>();
  auto it = std::find(values.begin(), values.end(), s);
  if (it == values.end()) {
    fail(path, fmt::format("expected {}, found {}{}", expected, describe(v), suggestion(s, values)));
  }
  return static_cast<std::size_t>(it - values.begin());
}

template <class E>
E read_enum(const json& v, const std::string& path, std::string_view table) {
  return static_cast<E>(read_choice(v, path, enum_values(table)));
}

// A range is [min, max], or one number meaning [n, n].
template <class T, class ReadOne>
Range<T> read_range(const json& v, const std::string& path, std::string_view expected, ReadOne read_one) {
  if (v.is_number()) {
    T n = read_one(v, path);
    return {n, n};
  }
  if (!v.is_array() || v.size() != 2) {
    fail_expected(path, fmt::format("[min, max] of {}", expected), v);
  }
  Range<T> r{read_one(v[0], at_index(path, 0)), read_one(v[1], at_index(path, 1))};
  if (r.min > r.max) {
    fail(path, fmt::format("range {} has min above max (write [min, max])", v.dump()));
  }
  return r;
}

Range<std::int64_t> read_int_range(const json& v, const std::string& path, std::int64_t min, std::int64_t max,
                                   std::string_view expected) {
  return read_range<std::int64_t>(v, path, expected, [&](const json& x, const std::string& p) {
    return read_int(x, p, min, max, expected);
  });
}

Range<double> read_number_range(const json& v, const std::string& path, double min, double max,
                                std::string_view expected) {
  return read_range<double>(v, path, expected, [&](const json& x, const std::string& p) {
    return read_number(x, p, min, max, expected);
  });
}

// Reads one JSON object of a known kind: rejects unknown keys (with a suggestion) on construction,
// and hands out its fields by name. Asking for a key the kind's table lacks is a loader bug.
class ObjectReader {
 public:
  ObjectReader(const json& value, std::string path, std::string_view table_name, std::string_view what)
      : value_(value), path_(std::move(path)), table_(key_table(table_name)) {
    if (!value_.is_object()) fail_expected(path_, what, value_);
    std::vector<std::string> allowed;
    for (const auto& k : table_.keys) allowed.push_back(k.name);
    for (const auto& item : value_.items()) {
      if (std::find(allowed.begin(), allowed.end(), item.key()) != allowed.end()) continue;
      auto near = nearest_name(item.key(), allowed);
      fail(path_,
           near ? fmt::format("unknown key {} (did you mean {}?)", quote_json(item.key()), quote_json(*near))
                : fmt::format("unknown key {} (keys here: {})", quote_json(item.key()), join(allowed, ", ")));
    }
  }

  const json* find(std::string_view key) const {
    assert(spec(key) != nullptr);
    auto it = value_.find(std::string(key));
    return it == value_.end() ? nullptr : &*it;
  }

  // REQUIRES: key is marked required in the table (the schema's "required" says the same).
  const json& need(std::string_view key, std::string_view expected) const {
    assert(spec(key) != nullptr && spec(key)->required);
    const json* v = find(key);
    if (v == nullptr) fail(at(key), fmt::format("required key is missing (expected {})", expected));
    return *v;
  }

  std::string at(std::string_view key) const { return at_key(path_, key); }
  const std::string& path() const { return path_; }

 private:
  const KeySpec* spec(std::string_view key) const {
    for (const auto& k : table_.keys) {
      if (k.name == key) return &k;
    }
    return nullptr;
  }

  const json& value_;
  std::string path_;
  const KeyTable& table_;
};

// "a, b, c" with at most `limit` names, then "... (N in all)".
std::string list_names(const std::vector<std::string>& names, std::size_t limit = 12) {
  if (names.size() <= limit) return join(names, ", ");
  std::vector<std::string> head(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(limit));
  return fmt::format("{}, ... ({} in all)", join(head, ", "), names.size());
}

// ==== the loader ==================================================================================

class Loader {
 public:
  explicit Loader(std::string source) { scenario_.source = std::move(source); }

  Scenario load(const json& document) {
    ObjectReader root(document, "$", "scenario", "a scenario object");
    load_header(root);
    load_clusters(root.need("clusters", "a non-empty list of clusters"), root.at("clusters"));
    if (const json* v = root.find("duplications")) load_duplications(*v, root.at("duplications"));
    load_phases(root.find("phases"), root.at("phases"));
    load_limits(root.find("limits"), root.at("limits"));
    load_workload(root.find("workload"), root.at("workload"));
    if (const json* v = root.find("setup")) load_setup(*v, root.at("setup"));
    if (const json* v = root.find("faults")) load_faults(*v, root.at("faults"));
    if (const json* v = root.find("swarm")) load_swarm(*v, root.at("swarm"));
    load_operator(root.find("operator"), root.at("operator"));
    load_checks(root.find("checks"), root.at("checks"));
    if (const json* v = root.find("expect")) load_expectations(*v, root.at("expect"));
    return std::move(scenario_);
  }

 private:
  // ---- header ------------------------------------------------------------------------------------

  void load_header(const ObjectReader& root) {
    if (const json* v = root.find("format_version")) {
      scenario_.format_version = static_cast<int>(
          read_int(*v, root.at("format_version"), kScenarioFormatVersion, kScenarioFormatVersion,
                   fmt::format("{} (the only format version this build reads)", kScenarioFormatVersion)));
    }
    scenario_.name =
        read_string(root.need("name", "a non-empty string"), root.at("name"), "a non-empty string");
    if (scenario_.name.empty()) fail_expected(root.at("name"), "a non-empty string", json(""));
    if (const json* v = root.find("description")) {
      scenario_.description = read_string(*v, root.at("description"), "a string");
    }
  }

  // ---- clusters and nodes ------------------------------------------------------------------------

  // Every cluster's nodes first, then the topologies, so a shard naming a node of a later cluster
  // gets "belongs to cluster ..." rather than "unknown node".
  void load_clusters(const json& v, const std::string& path) {
    if (!v.is_array() || v.empty()) fail_expected(path, "a non-empty list of clusters", v);
    for (std::size_t i = 0; i < v.size(); ++i) load_cluster(v[i], at_index(path, i));
    for (std::size_t i = 0; i < v.size(); ++i) {
      ObjectReader obj(v[i], at_index(path, i), "cluster", "a cluster object");
      load_topology(obj.find("topology"), obj.at("topology"), scenario_.clusters[i]);
    }
  }

  void load_cluster(const json& v, const std::string& path) {
    ObjectReader obj(v, path, "cluster", "a cluster object");
    ClusterSpec cluster;
    cluster.name =
        read_name(obj.need("name", "a cluster name such as \"c0\""), obj.at("name"), "a cluster name");
    auto [it, inserted] = cluster_paths_.emplace(cluster.name, obj.at("name"));
    if (!inserted)
      fail(obj.at("name"),
           fmt::format("cluster {} is defined twice (first at {})", quote_json(cluster.name), it->second));

    StoreSpec defaults;
    if (const json* c = obj.find("config")) apply_store_config(*c, obj.at("config"), defaults);
    load_nodes(obj.need("nodes", "a node count or a list of nodes"), obj.at("nodes"), defaults, cluster);
    scenario_.clusters.push_back(std::move(cluster));
  }

  void load_nodes(const json& v, const std::string& path, const StoreSpec& defaults, ClusterSpec& cluster) {
    constexpr std::string_view kExpected = "a node count (1 to 100) or a non-empty list of nodes";
    if (v.is_number()) {
      auto count = read_int(v, path, 1, kMaxNodesPerCluster, kExpected);
      for (std::int64_t i = 0; i < count; ++i) {
        add_node(NodeSpec{fmt::format("{}n{}", cluster.name, i), defaults, {}}, path, cluster);
      }
      return;
    }
    if (!v.is_array() || v.empty() || v.size() > static_cast<std::size_t>(kMaxNodesPerCluster)) {
      fail_expected(path, kExpected, v);
    }
    for (std::size_t i = 0; i < v.size(); ++i) {
      std::string item_path = at_index(path, i);
      NodeSpec node{"", defaults, {}};
      if (v[i].is_string()) {
        node.name = read_name(v[i], item_path, "a node name");
      } else {
        ObjectReader obj(v[i], item_path, "node", "a node name or a node object");
        node.name =
            read_name(obj.need("name", "a node name such as \"c0n0\""), obj.at("name"), "a node name");
        if (const json* c = obj.find("config")) apply_store_config(*c, obj.at("config"), node.config);
        if (const json* c = obj.find("clock")) load_clock(*c, obj.at("clock"), node.clock);
        item_path = obj.at("name");
      }
      add_node(std::move(node), item_path, cluster);
    }
  }

  void add_node(NodeSpec node, const std::string& path, ClusterSpec& cluster) {
    auto [it, inserted] = node_paths_.emplace(node.name, path);
    if (!inserted)
      fail(path, fmt::format("node {} is defined twice (first at {})", quote_json(node.name), it->second));
    node_cluster_[node.name] = cluster.name;
    node_names_.push_back(node.name);
    cluster.nodes.push_back(std::move(node));
  }

  static void apply_store_config(const json& v, const std::string& path, StoreSpec& s) {
    ObjectReader obj(v, path, "store_config", "a store config object");
    if (const json* x = obj.find("port")) {
      s.port = static_cast<std::uint16_t>(read_int(*x, obj.at("port"), 1, 65535, "a port from 1 to 65535"));
    }
    if (const json* x = obj.find("requirepass")) {
      s.requirepass = read_string(*x, obj.at("requirepass"), "a string (empty: no AUTH)");
    }
    if (const json* x = obj.find("aof_page_size_bytes")) {
      s.aof_page_size_bytes = read_int(*x, obj.at("aof_page_size_bytes"), 64, std::int64_t{1} << 30,
                                       "an integer from 64 to 1073741824 (bytes)");
    }
    if (const json* x = obj.find("aof_segment_pages")) {
      s.aof_segment_pages =
          read_int(*x, obj.at("aof_segment_pages"), 1, 1 << 20, "a page count from 1 to 1048576");
    }
    if (const json* x = obj.find("appendfsync")) {
      s.appendfsync = read_enum<StoreSpec::Fsync>(*x, obj.at("appendfsync"), "appendfsync");
    }
    if (const json* x = obj.find("checkpoint_interval_ms")) {
      s.checkpoint_interval_ms = read_duration(*x, obj.at("checkpoint_interval_ms"), false);
    }
    if (const json* x = obj.find("checkpoint_interval_writes")) {
      s.checkpoint_interval_writes = read_int(*x, obj.at("checkpoint_interval_writes"), 0,
                                              std::int64_t{1} << 40, "a non-negative integer (writes)");
    }
    if (const json* x = obj.find("checkpoints_retained")) {
      s.checkpoints_retained =
          read_int(*x, obj.at("checkpoints_retained"), 1, 1000, "a count from 1 to 1000");
    }
    if (const json* x = obj.find("max_clients")) {
      s.max_clients = read_int(*x, obj.at("max_clients"), 1, 1'000'000, "a count from 1 to 1000000");
    }
    if (const json* x = obj.find("resp_max_bulk_bytes")) {
      s.resp_max_bulk_bytes =
          read_int(*x, obj.at("resp_max_bulk_bytes"), 1, std::int64_t{1} << 40, "a positive integer (bytes)");
    }
    if (const json* x = obj.find("resp_max_args")) {
      s.resp_max_args = read_int(*x, obj.at("resp_max_args"), 1, std::int64_t{1} << 30, "a positive integer");
    }
    if (const json* x = obj.find("resp_max_inline_bytes")) {
      s.resp_max_inline_bytes = read_int(*x, obj.at("resp_max_inline_bytes"), 1, std::int64_t{1} << 30,
                                         "a positive integer (bytes)");
    }
    if (const json* x = obj.find("resp_max_query_buffer_bytes")) {
      s.resp_max_query_buffer_bytes = read_int(*x, obj.at("resp_max_query_buffer_bytes"), 1,
                                               std::int64_t{1} << 40, "a positive integer (bytes)");
    }
  }

  static void load_clock(const json& v, const std::string& path, ClockSpec& clock) {
    ObjectReader obj(v, path, "clock", "a clock object");
    if (const json* x = obj.find("offset_ms")) {
      clock.offset_ms = read_int(*x, obj.at("offset_ms"), -kMaxClockOffsetMs, kMaxClockOffsetMs,
                                 "an integer within +-86400000 (milliseconds)");
    }
    if (const json* x = obj.find("drift_ppm")) {
      clock.drift_ppm = read_number(*x, obj.at("drift_ppm"), -kMaxDriftPpm, kMaxDriftPpm,
                                    "a number within +-100000 (parts per million)");
    }
  }

  // ---- topology ----------------------------------------------------------------------------------

  void load_topology(const json* v, const std::string& path, ClusterSpec& cluster) {
    if (v == nullptr) {
      // One shard: the first node is the primary, the others its replicas.
      ShardSpec shard{cluster.nodes[0].name, {}, {{0, kClusterSlotCount - 1}}};
      for (std::size_t i = 1; i < cluster.nodes.size(); ++i) shard.replicas.push_back(cluster.nodes[i].name);
      cluster.shards.push_back(std::move(shard));
      return;
    }
    if (v->is_string()) {
      read_choice(*v, path, enum_values("topology_keyword"));
      cluster.topology = ClusterSpec::Topology::manual;
      return;
    }
    ObjectReader obj(*v, path, "topology",
                     "\"manual\" or a topology object with \"shards\" or \"shard_count\"");
    const json* shards = obj.find("shards");
    const json* count = obj.find("shard_count");
    const json* per_shard = obj.find("replicas_per_shard");
    if (shards != nullptr && (count != nullptr || per_shard != nullptr)) {
      fail(path, "give either \"shards\" or \"shard_count\" (with \"replicas_per_shard\"), not both");
    }
    if (shards == nullptr && count == nullptr) {
      fail(path, per_shard != nullptr
                     ? "\"replicas_per_shard\" needs \"shard_count\""
                     : "expected \"shards\" or \"shard_count\" (or write \"topology\": \"manual\")");
    }
    if (count != nullptr) {
      generate_shards(*count, obj.at("shard_count"), per_shard, obj.at("replicas_per_shard"), cluster);
    } else {
      load_shard_list(*shards, obj.at("shards"), cluster);
    }
  }

  // shard_count shards of (1 + replicas_per_shard) nodes, taken in node order.
  static void generate_shards(const json& count_v, const std::string& count_path, const json* per_shard_v,
                              const std::string& per_shard_path, ClusterSpec& cluster) {
    auto count = read_int(count_v, count_path, 1, kMaxNodesPerCluster, "a positive shard count");
    std::int64_t replicas = 0;
    if (per_shard_v != nullptr) {
      replicas = read_int(*per_shard_v, per_shard_path, 0, kMaxNodesPerCluster - 1, "a non-negative integer");
    }
    auto needed = count * (1 + replicas);
    if (needed != static_cast<std::int64_t>(cluster.nodes.size())) {
      fail(count_path,
           fmt::format("{} shards of 1 primary and {} replicas need {} nodes, but cluster {} has {}", count,
                       replicas, needed, quote_json(cluster.name), cluster.nodes.size()));
    }
    std::size_t next = 0;
    for (std::int64_t s = 0; s < count; ++s) {
      ShardSpec shard;
      shard.primary = cluster.nodes[next++].name;
      for (std::int64_t r = 0; r < replicas; ++r) shard.replicas.push_back(cluster.nodes[next++].name);
      cluster.shards.push_back(std::move(shard));
    }
    spread_slots(cluster);
  }

  static void spread_slots(ClusterSpec& cluster) {
    const auto n = static_cast<int>(cluster.shards.size());
    for (int s = 0; s < n; ++s) {
      int first = s * kClusterSlotCount / n;
      int last = (s + 1) * kClusterSlotCount / n - 1;
      cluster.shards[static_cast<std::size_t>(s)].slots = {{first, last}};
    }
  }

  void load_shard_list(const json& v, const std::string& path, ClusterSpec& cluster) {
    if (!v.is_array() || v.empty()) fail_expected(path, "a non-empty list of shards", v);
    std::map<std::string, std::string> placed;  // node -> where it was put in a shard
    auto place = [&](const std::string& node, const std::string& where) {
      auto [it, inserted] = placed.emplace(node, where);
      if (!inserted)
        fail(where, fmt::format("node {} is already in a shard (at {})", quote_json(node), it->second));
    };
    struct Owned {
      SlotRange range;
      std::string path;
    };
    std::vector<Owned> owned;
    std::size_t with_slots = 0;

    for (std::size_t i = 0; i < v.size(); ++i) {
      ObjectReader obj(v[i], at_index(path, i), "shard", "a shard object");
      ShardSpec shard;
      shard.primary = read_cluster_node(obj.need("primary", "a node name"), obj.at("primary"), cluster);
      place(shard.primary, obj.at("primary"));
      if (const json* r = obj.find("replicas")) {
        if (!r->is_array()) fail_expected(obj.at("replicas"), "a list of node names", *r);
        for (std::size_t j = 0; j < r->size(); ++j) {
          std::string p = at_index(obj.at("replicas"), j);
          shard.replicas.push_back(read_cluster_node((*r)[j], p, cluster));
          place(shard.replicas.back(), p);
        }
      }
      if (const json* s = obj.find("slots")) {
        ++with_slots;
        if (!s->is_array()) fail_expected(obj.at("slots"), "a list of [first, last] slot ranges", *s);
        for (std::size_t j = 0; j < s->size(); ++j) {
          std::string p = at_index(obj.at("slots"), j);
          auto r = read_int_range((*s)[j], p, 0, kClusterSlotCount - 1, "slot numbers from 0 to 16383");
          shard.slots.push_back({static_cast<int>(r.min), static_cast<int>(r.max)});
          owned.push_back({shard.slots.back(), p});
        }
        std::sort(shard.slots.begin(), shard.slots.end(),
                  [](const SlotRange& a, const SlotRange& b) { return a.first < b.first; });
      }
      cluster.shards.push_back(std::move(shard));
    }

    for (const auto& node : cluster.nodes) {
      if (placed.count(node.name) == 0) {
        fail(path,
             fmt::format("node {} is in no shard (add it to a shard, or write \"topology\": \"manual\")",
                         quote_json(node.name)));
      }
    }
    if (with_slots == 0) {
      spread_slots(cluster);
      return;
    }
    if (with_slots != v.size()) {
      fail(path, "either every shard lists its \"slots\" or none does (then slots are spread evenly)");
    }
    std::stable_sort(owned.begin(), owned.end(),
                     [](const Owned& a, const Owned& b) { return a.range.first < b.range.first; });
    for (std::size_t i = 1; i < owned.size(); ++i) {
      if (owned[i].range.first <= owned[i - 1].range.last) {
        fail(owned[i].path, fmt::format("slots [{}, {}] overlap slots [{}, {}] at {}", owned[i].range.first,
                                        owned[i].range.last, owned[i - 1].range.first,
                                        owned[i - 1].range.last, owned[i - 1].path));
      }
    }
  }

  // ---- node and cluster references ---------------------------------------------------------------

  [[noreturn]] void fail_unknown_node(const std::string& path, const std::string& name,
                                      const std::vector<std::string>& names) const {
    fail(path, fmt::format("unknown node {} (nodes are {})", quote_json(name), list_names(names)));
  }

  // Any node of the scenario.
  std::string read_node(const json& v, const std::string& path) const {
    std::string name = read_string(v, path, "a node name");
    if (node_cluster_.count(name) == 0) fail_unknown_node(path, name, node_names_);
    return name;
  }

  // A node of this cluster.
  std::string read_cluster_node(const json& v, const std::string& path, const ClusterSpec& cluster) const {
    std::string name = read_string(v, path, "a node name");
    auto it = node_cluster_.find(name);
    if (it != node_cluster_.end() && it->second != cluster.name) {
      fail(path, fmt::format("node {} belongs to cluster {}, not {}", quote_json(name),
                             quote_json(it->second), quote_json(cluster.name)));
    }
    if (it == node_cluster_.end()) {
      std::vector<std::string> names;
      for (const auto& n : cluster.nodes) names.push_back(n.name);
      fail_unknown_node(path, name, names);
    }
    return name;
  }

  std::vector<std::string> read_node_list(const json& v, const std::string& path,
                                          std::size_t min_size) const {
    if (!v.is_array() || v.size() < min_size) {
      fail_expected(path, min_size == 2 ? "a list of two node names" : "a non-empty list of node names", v);
    }
    std::vector<std::string> names;
    std::set<std::string> seen;
    for (std::size_t i = 0; i < v.size(); ++i) {
      names.push_back(read_node(v[i], at_index(path, i)));
      if (!seen.insert(names.back()).second) {
        fail(at_index(path, i), fmt::format("node {} is listed twice", quote_json(names.back())));
      }
    }
    return names;
  }

  std::string read_cluster(const json& v, const std::string& path) const {
    std::string name = read_string(v, path, "a cluster name");
    if (cluster_paths_.count(name) == 0) {
      std::vector<std::string> names;
      for (const auto& c : scenario_.clusters) names.push_back(c.name);
      fail(path, fmt::format("unknown cluster {} (clusters are {})", quote_json(name), list_names(names)));
    }
    return name;
  }

  // ---- duplications ------------------------------------------------------------------------------

  void load_duplications(const json& v, const std::string& path) {
    if (!v.is_array()) fail_expected(path, "a list of duplications", v);
    std::map<std::pair<std::string, std::string>, std::string> seen;
    for (std::size_t i = 0; i < v.size(); ++i) {
      ObjectReader obj(v[i], at_index(path, i), "duplication", "a duplication object");
      DuplicationSpec dup;
      dup.source = read_cluster(obj.need("source", "a cluster name"), obj.at("source"));
      dup.target = read_cluster(obj.need("target", "a cluster name"), obj.at("target"));
      if (dup.source == dup.target) {
        fail(obj.at("target"),
             fmt::format("a cluster cannot duplicate to itself ({})", quote_json(dup.source)));
      }
      auto [it, inserted] = seen.emplace(std::make_pair(dup.source, dup.target), obj.path());
      if (!inserted)
        fail(obj.path(),
             fmt::format("duplicates {} -> {} again (first at {})", dup.source, dup.target, it->second));
      if (const json* x = obj.find("target_password")) {
        dup.target_password = read_string(*x, obj.at("target_password"), "a string (empty: no AUTH)");
      }
      if (const json* x = obj.find("initial_checkpoint"))
        dup.initial_checkpoint = read_bool(*x, obj.at("initial_checkpoint"));
      scenario_.duplications.push_back(std::move(dup));
    }
  }

  // ---- phases and limits -------------------------------------------------------------------------

  void load_phases(const json* v, const std::string& path) {
    PhasesSpec& phases = scenario_.phases;
    if (v == nullptr) return;
    ObjectReader obj(*v, path, "phases", "a phases object");
    if (const json* x = obj.find("setup_timeout_ms"))
      phases.setup_timeout_ms = read_duration(*x, obj.at("setup_timeout_ms"), true);
    if (const json* x = obj.find("safety_duration_ms")) {
      phases.safety_duration_ms = read_duration(*x, obj.at("safety_duration_ms"), true);
    }
    if (const json* l = obj.find("liveness")) {
      ObjectReader live(*l, obj.at("liveness"), "liveness", "a liveness object");
      LivenessSpec& spec = phases.liveness;
      if (const json* x = live.find("enabled")) spec.enabled = read_bool(*x, live.at("enabled"));
      if (const json* x = live.find("heal_all")) spec.heal_all = read_bool(*x, live.at("heal_all"));
      if (const json* x = live.find("restart_all")) spec.restart_all = read_bool(*x, live.at("restart_all"));
      if (const json* x = live.find("converge_within_ms")) {
        spec.converge_within_ms = read_duration(*x, live.at("converge_within_ms"), true);
      }
    }
  }

  std::int64_t phases_need_ms() const {
    const PhasesSpec& p = scenario_.phases;
    return p.setup_timeout_ms + p.safety_duration_ms +
           (p.liveness.enabled ? p.liveness.converge_within_ms : 0);
  }

  void load_limits(const json* v, const std::string& path) {
    LimitsSpec& limits = scenario_.limits;
    limits.sim_time_ms = phases_need_ms() + kDefaultSimTimeSlackMs;
    if (v == nullptr) return;
    ObjectReader obj(*v, path, "limits", "a limits object");
    if (const json* x = obj.find("sim_time_ms")) {
      limits.sim_time_ms = read_duration(*x, obj.at("sim_time_ms"), true);
      if (limits.sim_time_ms < phases_need_ms()) {
        const PhasesSpec& p = scenario_.phases;
        fail(obj.at("sim_time_ms"),
             fmt::format("{} ms is shorter than the phases need (setup {} + safety {} + liveness {} = {} ms)",
                         limits.sim_time_ms, p.setup_timeout_ms, p.safety_duration_ms,
                         p.liveness.enabled ? p.liveness.converge_within_ms : 0, phases_need_ms()));
      }
    }
    if (const json* x = obj.find("events")) {
      limits.events =
          read_int(*x, obj.at("events"), 1, std::numeric_limits<std::int64_t>::max(), "a positive integer");
    }
    if (const json* x = obj.find("wall_time_ms"))
      limits.wall_time_ms = read_duration(*x, obj.at("wall_time_ms"), true);
  }

  // ---- workload ----------------------------------------------------------------------------------

  void load_workload(const json* v, const std::string& path) {
    WorkloadSpec& w = scenario_.workload;
    w.cluster = scenario_.clusters[0].name;
    w.duration_ms = scenario_.phases.safety_duration_ms;
    if (v == nullptr) return;
    ObjectReader obj(*v, path, "workload", "a workload object");
    w.enabled = true;
    if (const json* x = obj.find("enabled")) w.enabled = read_bool(*x, obj.at("enabled"));
    if (const json* x = obj.find("cluster")) w.cluster = read_cluster(*x, obj.at("cluster"));
    if (const json* x = obj.find("clients")) {
      w.clients = static_cast<int>(read_int(*x, obj.at("clients"), 1, 10'000, "a positive integer"));
    }
    if (const json* x = obj.find("mix")) w.mix = read_mix(*x, obj.at("mix"));
    if (const json* x = obj.find("key_count")) w.key_count = read_key_count(*x, obj.at("key_count"));
    if (const json* x = obj.find("value_size_bytes")) {
      w.value_size_bytes = read_value_sizes(*x, obj.at("value_size_bytes"));
    }
    if (const json* x = obj.find("ops_per_second_per_client")) {
      w.ops_per_second_per_client = read_rate(*x, obj.at("ops_per_second_per_client"));
    }
    if (const json* x = obj.find("duration_ms")) {
      w.duration_ms = read_duration(*x, obj.at("duration_ms"), true);
      if (w.duration_ms > scenario_.phases.safety_duration_ms) {
        fail(obj.at("duration_ms"), fmt::format("{} ms is longer than the safety phase ({} ms, "
                                                "$.phases.safety_duration_ms)",
                                                w.duration_ms, scenario_.phases.safety_duration_ms));
      }
    }
    if (const json* x = obj.find("request_timeout_ms")) {
      w.request_timeout_ms = read_duration(*x, obj.at("request_timeout_ms"), true);
    }
    if (const json* x = obj.find("retries")) {
      w.retries = static_cast<int>(read_int(*x, obj.at("retries"), 0, 1000, "a non-negative integer"));
    }
    if (const json* x = obj.find("large_values"))
      load_large_values(*x, obj.at("large_values"), w.large_values);
    if (const json* x = obj.find("variants")) load_variants(*x, obj.at("variants"), w);
    if (const json* x = obj.find("list_length_bound")) {
      w.list_length_bound = read_int(*x, obj.at("list_length_bound"), 0, 1'000'000'000,
                                     "a non-negative integer (elements; 0: no bound)");
    }
  }

  static int read_key_count(const json& v, const std::string& path) {
    return static_cast<int>(read_int(v, path, 1, 10'000'000, "a positive integer"));
  }
  static Range<std::int64_t> read_value_sizes(const json& v, const std::string& path) {
    return read_int_range(v, path, 0, kMaxValueBytes, "sizes from 0 to 67108864 (bytes)");
  }
  static double read_rate(const json& v, const std::string& path) {
    const double rate = read_number(v, path, 0.0, 1.0e6, "a positive number (operations per second)");
    if (rate <= 0.0) fail_expected(path, "a positive number (operations per second)", v);
    return rate;
  }

  static std::array<std::int64_t, WorkloadSpec::kOpCount> read_mix(const json& v, const std::string& path) {
    ObjectReader obj(v, path, "operation_mix", "an object of operation weights");
    std::array<std::int64_t, WorkloadSpec::kOpCount> mix{};
    std::int64_t total = 0;
    for (std::size_t i = 0; i < op_names().size(); ++i) {
      if (const json* x = obj.find(op_names()[i])) {
        mix[i] = read_int(*x, obj.at(op_names()[i]), 0, 1'000'000, "a non-negative integer weight");
        total += mix[i];
      }
    }
    if (total == 0) fail(path, "every weight is 0; give at least one operation a positive weight");
    return mix;
  }

  static void load_variants(const json& v, const std::string& path, WorkloadSpec& w) {
    if (!v.is_array() || v.empty()) fail_expected(path, "a non-empty list of workload variants", v);
    std::map<std::string, std::string> seen;
    for (std::size_t i = 0; i < v.size(); ++i) {
      ObjectReader obj(v[i], at_index(path, i), "workload_variant", "a workload variant object");
      WorkloadSpec::Variant variant;
      variant.name = read_name(obj.need("name", "a name"), obj.at("name"), "variant name");
      auto [it, inserted] = seen.emplace(variant.name, obj.path());
      if (!inserted) {
        fail(obj.at("name"), fmt::format("variant {} is named twice (first at {})", quote_json(variant.name),
                                         it->second));
      }
      if (const json* x = obj.find("weight")) {
        variant.weight = read_int(*x, obj.at("weight"), 1, 1'000'000, "a positive integer weight");
      }
      if (const json* x = obj.find("mix")) variant.mix = read_mix(*x, obj.at("mix"));
      if (const json* x = obj.find("key_count")) variant.key_count = read_key_count(*x, obj.at("key_count"));
      if (const json* x = obj.find("value_size_bytes")) {
        variant.value_size_bytes = read_value_sizes(*x, obj.at("value_size_bytes"));
      }
      if (const json* x = obj.find("ops_per_second_per_client")) {
        variant.ops_per_second_per_client = read_rate(*x, obj.at("ops_per_second_per_client"));
      }
      if (const json* x = obj.find("large_values")) {
        variant.large_values = w.large_values;
        load_large_values(*x, obj.at("large_values"), *variant.large_values);
      }
      w.variants.push_back(std::move(variant));
    }
  }

  static void load_large_values(const json& v, const std::string& path, WorkloadSpec::LargeValues& lv) {
    ObjectReader obj(v, path, "large_values", "a large_values object");
    if (const json* x = obj.find("probability")) lv.probability = read_probability(*x, obj.at("probability"));
    const json* size = obj.find("size_bytes");
    const json* factor = obj.find("page_size_factor");
    if (size != nullptr && factor != nullptr) {
      fail(path, "give either \"size_bytes\" or \"page_size_factor\", not both");
    }
    if (size != nullptr) {
      lv.size_bytes =
          read_int_range(*size, obj.at("size_bytes"), 1, kMaxValueBytes, "sizes from 1 to 67108864 (bytes)");
      lv.page_size_factor.reset();
    }
    if (factor != nullptr) {
      lv.page_size_factor =
          read_number_range(*factor, obj.at("page_size_factor"), 0.001, 64.0, "factors from 0.001 to 64");
    }
  }

  // ---- admin commands ----------------------------------------------------------------------------

  // argv is a list of strings, or one string split at spaces. Placeholders must name known nodes.
  std::vector<std::string> read_argv(const json& v, const std::string& path) const {
    constexpr std::string_view kExpected = "a non-empty list of strings (or one string of words)";
    std::vector<std::string> argv;
    if (v.is_string()) {
      std::istringstream words(v.get<std::string>());
      for (std::string word; words >> word;) argv.push_back(word);
      if (argv.empty()) fail_expected(path, kExpected, v);
      for (const auto& word : argv) check_arg(word, path);
      return argv;
    }
    if (!v.is_array() || v.empty()) fail_expected(path, kExpected, v);
    for (std::size_t i = 0; i < v.size(); ++i) {
      argv.push_back(read_string(v[i], at_index(path, i), "a string"));
      check_arg(argv.back(), at_index(path, i));
    }
    return argv;
  }

  void check_arg(const std::string& arg, const std::string& path) const {
    auto pieces = parse_arg_template(arg);
    if (!pieces.is_ok()) fail(path, pieces.status().message());
    for (const auto& piece : *pieces) {
      if (piece.kind != ArgPiece::Kind::text && node_cluster_.count(piece.value) == 0) {
        fail(path, fmt::format("placeholder in {} names unknown node {} (nodes are {})", quote_json(arg),
                               quote_json(piece.value), list_names(node_names_)));
      }
    }
  }

  // Reads the keys setup steps and admin faults share.
  AdminCommand read_admin_command(const ObjectReader& obj) const {
    AdminCommand cmd;
    cmd.node = read_node(obj.need("node", "a node name"), obj.at("node"));
    cmd.argv = read_argv(obj.need("argv", "a non-empty list of strings"), obj.at("argv"));
    if (const json* x = obj.find("expect")) {
      cmd.expect = read_string(*x, obj.at("expect"), "a reply pattern such as \"OK\", \"+OK\" or \"ERR*\"");
      if (cmd.expect->empty()) {
        fail_expected(obj.at("expect"), "a reply pattern such as \"OK\", \"+OK\" or \"ERR*\"", *x);
      }
    }
    if (const json* x = obj.find("timeout_ms"))
      cmd.timeout_ms = read_duration(*x, obj.at("timeout_ms"), true);
    if (const json* x = obj.find("retry_for_ms"))
      cmd.retry_for_ms = read_duration(*x, obj.at("retry_for_ms"), false);
    if (const json* x = obj.find("retry_interval_ms")) {
      cmd.retry_interval_ms = read_duration(*x, obj.at("retry_interval_ms"), true);
    }
    if (cmd.retry_for_ms > 0 && !cmd.expect) {
      fail(obj.at("retry_for_ms"),
           "retries repeat the command until its reply matches \"expect\", which is missing");
    }
    return cmd;
  }

  static std::string read_note(const ObjectReader& obj) {
    const json* x = obj.find("note");
    return x == nullptr ? std::string() : read_string(*x, obj.at("note"), "a string");
  }

  void load_setup(const json& v, const std::string& path) {
    if (!v.is_array()) fail_expected(path, "a list of setup commands", v);
    for (std::size_t i = 0; i < v.size(); ++i) {
      ObjectReader obj(v[i], at_index(path, i), "setup_step", "a setup command object");
      scenario_.setup.push_back({read_admin_command(obj), read_note(obj)});
    }
  }

  // ---- scripted faults ---------------------------------------------------------------------------

  // What the schedule has done so far, to reject steps that cannot happen (restart of a running
  // node, resume without pause, heal with nothing partitioned).
  struct ScheduleState {
    enum class Run : std::uint8_t { up, paused, crashed };
    std::map<std::string, Run> nodes;                          // absent: up
    std::vector<std::optional<std::int64_t>> partition_ends;   // one per partition in effect
    std::map<std::string, std::optional<std::int64_t>> clogs;  // node or "a|b" link -> end

    void advance_to(std::int64_t t) {
      std::erase_if(partition_ends, [t](const auto& end) { return end && *end <= t; });
      std::erase_if(clogs, [t](const auto& entry) { return entry.second && *entry.second <= t; });
    }
    Run run(const std::string& node) const {
      auto it = nodes.find(node);
      return it == nodes.end() ? Run::up : it->second;
    }
  };

  void load_faults(const json& v, const std::string& path) {
    if (!v.is_array()) fail_expected(path, "a list of fault steps", v);
    ScheduleState state;
    const auto& actions = enum_values("fault_action");
    for (std::size_t i = 0; i < v.size(); ++i) {
      std::string item_path = at_index(path, i);
      if (!v[i].is_object()) fail_expected(item_path, "a fault step object", v[i]);
      auto action_it = v[i].find("action");
      if (action_it == v[i].end()) {
        fail(at_key(item_path, "action"),
             fmt::format("required key is missing (expected one of {})", join(actions, ", ", true)));
      }
      auto action = read_choice(*action_it, at_key(item_path, "action"), actions);
      ObjectReader obj(v[i], item_path, "fault_" + actions[action], "a fault step object");

      FaultStep step;
      step.at_ms = read_duration(obj.need("at_ms", "a time in ms from the start of the safety phase"),
                                 obj.at("at_ms"), false);
      check_step_time(step.at_ms, obj.at("at_ms"), i);
      step.note = read_note(obj);
      state.advance_to(step.at_ms);
      step.detail = load_fault_detail(static_cast<FaultStep::Action>(action), obj, step.at_ms, state);
      scenario_.faults.push_back(std::move(step));
    }
  }

  void check_step_time(std::int64_t at_ms, const std::string& path, std::size_t index) const {
    const std::int64_t end = scenario_.phases.safety_duration_ms;
    if (at_ms > end) {
      fail(path, fmt::format("{} is after the end of the run (safety phase ends at {} ms)", at_ms, end));
    }
    if (index > 0 && at_ms < scenario_.faults.back().at_ms) {
      fail(path,
           fmt::format("{} ms is earlier than the step before it ($.faults[{}] at {} ms); list faults in "
                       "time order",
                       at_ms, index - 1, scenario_.faults.back().at_ms));
    }
  }

  FaultDetail load_fault_detail(FaultStep::Action action, const ObjectReader& obj, std::int64_t t,
                                ScheduleState& state) const {
    using Run = ScheduleState::Run;
    using Action = FaultStep::Action;
    auto node_at = [&](std::string_view key) { return read_node(obj.need(key, "a node name"), obj.at(key)); };
    switch (action) {
      case Action::crash: {
        std::string node = node_at("node");
        if (state.run(node) == Run::crashed) {
          fail(obj.at("node"),
               fmt::format("{} is already crashed at {} ms (restart it first)", quote_json(node), t));
        }
        state.nodes[node] = Run::crashed;
        return CrashStep{node};
      }
      case Action::restart: {
        std::string node = node_at("node");
        if (state.run(node) != Run::crashed) {
          fail(obj.at("node"),
               fmt::format("restart of {}, which is {} at {} ms ({})", quote_json(node),
                           state.run(node) == Run::paused ? "paused, not crashed" : "not crashed", t,
                           state.run(node) == Run::paused ? "use resume" : "crash it first"));
        }
        state.nodes[node] = Run::up;
        return RestartStep{node};
      }
      case Action::pause: {
        std::string node = node_at("node");
        if (state.run(node) != Run::up) {
          fail(obj.at("node"), fmt::format("pause of {}, which is already {} at {} ms", quote_json(node),
                                           state.run(node) == Run::paused ? "paused" : "crashed", t));
        }
        state.nodes[node] = Run::paused;
        return PauseStep{node};
      }
      case Action::resume: {
        std::string node = node_at("node");
        if (state.run(node) != Run::paused) {
          fail(obj.at("node"), fmt::format("resume of {}, which is not paused at {} ms (pause it first)",
                                           quote_json(node), t));
        }
        state.nodes[node] = Run::up;
        return ResumeStep{node};
      }
      case Action::partition:
        return load_partition(obj, t, state);
      case Action::heal:
        if (state.partition_ends.empty()) {
          fail(obj.at("at_ms"), fmt::format("heal at {} ms, but no partition is in effect then "
                                            "(a partition with duration_ms heals itself)",
                                            t));
        }
        state.partition_ends.clear();
        return HealStep{};
      case Action::clog:
        return load_clog(obj, t, state);
      case Action::unclog:
        return load_unclog(obj, t, state);
      case Action::reset_connections: {
        ResetConnectionsStep step;
        if (const json* x = obj.find("node")) step.node = read_node(*x, obj.at("node"));
        return step;
      }
      case Action::disk_fault:
        return load_disk_fault(obj);
      case Action::clock: {
        ClockStep step;
        step.node = node_at("node");
        if (const json* x = obj.find("offset_ms")) {
          step.offset_ms = read_int(*x, obj.at("offset_ms"), -kMaxClockOffsetMs, kMaxClockOffsetMs,
                                    "an integer within +-86400000 (milliseconds)");
        }
        if (const json* x = obj.find("drift_ppm")) {
          step.drift_ppm = read_number(*x, obj.at("drift_ppm"), -kMaxDriftPpm, kMaxDriftPpm,
                                       "a number within +-100000 (parts per million)");
        }
        if (!step.offset_ms && !step.drift_ppm)
          fail(obj.path(), "a clock step sets \"offset_ms\", \"drift_ppm\" or both");
        return step;
      }
      case Action::admin: {
        AdminStep step{read_admin_command(obj), ""};
        if (const json* x = obj.find("check"))
          step.check = scenario_check_ids()[read_choice(*x, obj.at("check"), scenario_check_ids())];
        return step;
      }
    }
    assert(false && "unhandled fault action");
    std::abort();
  }

  static std::optional<std::int64_t> read_optional_duration(const ObjectReader& obj) {
    const json* x = obj.find("duration_ms");
    if (x == nullptr) return std::nullopt;
    return read_duration(*x, obj.at("duration_ms"), true);
  }

  // Keys a partition kind does not use are errors, so a typo'd kind cannot silently drop groups.
  static void reject_keys(const ObjectReader& obj, std::initializer_list<const char*> keys,
                          std::string_view why) {
    for (const char* key : keys) {
      if (obj.find(key) != nullptr) fail(obj.at(key), fmt::format("not used {}", why));
    }
  }

  PartitionStep load_partition(const ObjectReader& obj, std::int64_t t, ScheduleState& state) const {
    PartitionStep step;
    step.kind = read_enum<PartitionStep::Kind>(obj.need("kind", "a partition kind"), obj.at("kind"),
                                               "partition_kind");
    std::string kind_name(partition_kind_name(step.kind));
    std::string why = fmt::format("by partition kind {}", quote_json(kind_name));
    switch (step.kind) {
      case PartitionStep::Kind::two_way: {
        reject_keys(obj, {"from", "to", "node"}, why + " (it takes \"groups\")");
        const json* g = obj.find("groups");
        if (g == nullptr)
          fail(obj.at("groups"),
               "required for kind \"two_way\" (expected a list of at least two node lists)");
        if (!g->is_array() || g->size() < 2)
          fail_expected(obj.at("groups"), "a list of at least two node lists", *g);
        std::map<std::string, std::string> seen;
        for (std::size_t i = 0; i < g->size(); ++i) {
          std::string p = at_index(obj.at("groups"), i);
          step.groups.push_back(read_node_list((*g)[i], p, 1));
          for (const auto& n : step.groups.back()) {
            auto [it, inserted] = seen.emplace(n, p);
            if (!inserted)
              fail(p, fmt::format("node {} is in two groups (also {})", quote_json(n), it->second));
          }
        }
        break;
      }
      case PartitionStep::Kind::one_way: {
        reject_keys(obj, {"groups", "node"}, why + " (it takes \"from\" and \"to\")");
        for (const char* key : {"from", "to"}) {
          const json* x = obj.find(key);
          if (x == nullptr)
            fail(obj.at(key), "required for kind \"one_way\" (expected a non-empty list of node names)");
          (std::string_view(key) == "from" ? step.from : step.to) = read_node_list(*x, obj.at(key), 1);
        }
        for (const auto& n : step.to) {
          if (std::find(step.from.begin(), step.from.end(), n) != step.from.end()) {
            fail(obj.at("to"), fmt::format("node {} is in both \"from\" and \"to\"", quote_json(n)));
          }
        }
        break;
      }
      case PartitionStep::Kind::isolate: {
        reject_keys(obj, {"groups", "from", "to"}, why + " (it takes \"node\")");
        const json* x = obj.find("node");
        if (x == nullptr) fail(obj.at("node"), "required for kind \"isolate\" (expected a node name)");
        step.node = read_node(*x, obj.at("node"));
        break;
      }
      case PartitionStep::Kind::random_split:
        reject_keys(obj, {"groups", "from", "to", "node"}, why + " (the fault stream picks the halves)");
        if (node_names_.size() < 2) fail(obj.at("kind"), "a random split needs at least two nodes");
        break;
    }
    step.duration_ms = read_optional_duration(obj);
    state.partition_ends.push_back(step.duration_ms ? std::optional(t + *step.duration_ms) : std::nullopt);
    return step;
  }

  // The clog target: "node" or "link" (two nodes), exactly one; returns its key in ScheduleState.
  std::string read_clog_target(const ObjectReader& obj, std::string& node, std::vector<std::string>& link,
                               bool optional) const {
    const json* n = obj.find("node");
    const json* l = obj.find("link");
    if (n != nullptr && l != nullptr) fail(obj.path(), "give either \"node\" or \"link\", not both");
    if (n == nullptr && l == nullptr) {
      if (optional) return "";
      fail(obj.path(), "a clog needs \"node\" or \"link\" (a list of two node names)");
    }
    if (n != nullptr) {
      node = read_node(*n, obj.at("node"));
      return node;
    }
    link = read_node_list(*l, obj.at("link"), 2);
    if (link.size() != 2) fail_expected(obj.at("link"), "a list of two node names", *l);
    std::vector<std::string> sorted = link;
    std::sort(sorted.begin(), sorted.end());
    return sorted[0] + "|" + sorted[1];
  }

  ClogStep load_clog(const ObjectReader& obj, std::int64_t t, ScheduleState& state) const {
    ClogStep step;
    std::string key = read_clog_target(obj, step.node, step.link, false);
    step.extra_latency_ms = read_duration(obj.need("extra_latency_ms", "a positive integer (milliseconds)"),
                                          obj.at("extra_latency_ms"), true);
    step.duration_ms = read_optional_duration(obj);
    if (state.clogs.count(key) != 0) {
      fail(obj.path(), fmt::format("{} is already clogged at {} ms (unclog it first)", key, t));
    }
    state.clogs[key] = step.duration_ms ? std::optional(t + *step.duration_ms) : std::nullopt;
    return step;
  }

  UnclogStep load_unclog(const ObjectReader& obj, std::int64_t t, ScheduleState& state) const {
    UnclogStep step;
    std::string key = read_clog_target(obj, step.node, step.link, true);
    if (key.empty()) {
      if (state.clogs.empty())
        fail(obj.at("at_ms"), fmt::format("unclog at {} ms, but nothing is clogged then", t));
      state.clogs.clear();
    } else {
      if (state.clogs.erase(key) == 0) {
        fail(obj.path(), fmt::format("unclog of {}, which is not clogged at {} ms (clog it first)", key, t));
      }
    }
    return step;
  }

  DiskFaultStep load_disk_fault(const ObjectReader& obj) const {
    DiskFaultStep step;
    step.node = read_node(obj.need("node", "a node name"), obj.at("node"));
    step.kind = read_enum<DiskFaultStep::Kind>(obj.need("kind", "a disk fault kind"), obj.at("kind"),
                                               "disk_fault_kind");
    if (const json* x = obj.find("probability")) {
      step.probability = read_number(*x, obj.at("probability"), 0.0, 1.0, "a probability above 0, at most 1");
      if (step.probability <= 0.0)
        fail_expected(obj.at("probability"), "a probability above 0, at most 1", *x);
    }
    const json* latency = obj.find("latency_ms");
    if (step.kind == DiskFaultStep::Kind::latency) {
      if (latency == nullptr)
        fail(obj.at("latency_ms"),
             "required for kind \"latency\" (expected a positive integer (milliseconds))");
      step.latency_ms = read_duration(*latency, obj.at("latency_ms"), true);
    } else if (latency != nullptr) {
      fail(obj.at("latency_ms"),
           fmt::format("only used by kind \"latency\", not {}", quote_json(disk_fault_kind_name(step.kind))));
    }
    step.duration_ms = read_optional_duration(obj);
    return step;
  }

  // ---- swarm -------------------------------------------------------------------------------------

  void load_swarm(const json& v, const std::string& path) {
    ObjectReader obj(v, path, "swarm", "a swarm object");
    SwarmSpec& swarm = scenario_.swarm;
    for (std::size_t f = 0; f < family_names().size(); ++f) {
      if (const json* x = obj.find(family_names()[f]))
        load_family(*x, obj.at(family_names()[f]), f, swarm.families[f]);
    }
    if (const json* b = obj.find("budget")) {
      ObjectReader budget(*b, obj.at("budget"), "swarm_budget", "a budget object");
      if (const json* x = budget.find("within_budget"))
        swarm.budget.within_budget = read_bool(*x, budget.at("within_budget"));
      if (const json* x = budget.find("max_nodes_down")) {
        swarm.budget.max_nodes_down = static_cast<int>(
            read_int(*x, budget.at("max_nodes_down"), 0, kMaxNodesPerCluster, "a non-negative integer"));
      }
      if (const json* x = budget.find("never_whole_shard_down")) {
        swarm.budget.never_whole_shard_down = read_bool(*x, budget.at("never_whole_shard_down"));
      }
    }
    const bool may_take_down = swarm.family(SwarmSpec::Family::crash_restart).may_enable ||
                               swarm.family(SwarmSpec::Family::pause).may_enable;
    if (swarm.budget.within_budget && swarm.budget.max_nodes_down == 0 && may_take_down) {
      fail(at_key(at_key(path, "budget"), "max_nodes_down"),
           "0 forbids every crash and pause, but crash_restart or pause may be enabled "
           "(allow a node down, or set their may_enable to false)");
    }
  }

  static void load_family(const json& v, const std::string& path, std::size_t f, SwarmFamilySpec& spec) {
    if (v.is_boolean()) {
      spec.may_enable = v.get<bool>();
      return;
    }
    const std::string& family = family_names()[f];
    ObjectReader obj(v, path, "swarm_" + family, "true, false or a swarm family object");
    spec.may_enable = true;
    if (const json* x = obj.find("may_enable")) spec.may_enable = read_bool(*x, obj.at("may_enable"));
    if (const json* x = obj.find("enable_probability")) {
      spec.enable_probability = read_probability(*x, obj.at("enable_probability"));
      if (spec.may_enable && spec.enable_probability == 0.0) {
        fail(obj.at("enable_probability"), "0 never turns the family on; set \"may_enable\": false instead");
      }
    }
    const json* in = obj.find("intensity");
    if (in == nullptr) return;
    ObjectReader intensity(*in, obj.at("intensity"), "intensity_" + family, "an intensity object");
    for (const auto& key : intensity_keys()[f]) {
      if (const json* x = intensity.find(key)) load_intensity_key(key, *x, intensity.at(key), spec);
    }
  }

  static void load_intensity_key(const std::string& key, const json& v, const std::string& path,
                                 SwarmFamilySpec& spec) {
    if (key == "interval_ms") {
      spec.interval_ms = read_int_range(v, path, 1, kMaxDurationMs, "positive integers (milliseconds)");
    } else if (key == "downtime_ms" || key == "duration_ms") {
      spec.duration_ms = read_int_range(v, path, 0, kMaxDurationMs, "non-negative integers (milliseconds)");
    } else if (key == "extra_latency_ms") {
      spec.extra_latency_ms =
          read_int_range(v, path, 0, kMaxDurationMs, "non-negative integers (milliseconds)");
    } else if (key == "probability") {
      spec.probability = read_number_range(v, path, 0.0, 1.0, "probabilities from 0 to 1");
    } else if (key == "primary_bias") {
      spec.primary_bias = read_number_range(v, path, 0.0, 1.0, "probabilities from 0 to 1");
    } else if (key == "activation_probability") {
      spec.activation_probability = read_number_range(v, path, 0.0, 1.0, "probabilities from 0 to 1");
    } else if (key == "fire_probability") {
      spec.fire_probability = read_number_range(v, path, 0.0, 1.0, "probabilities from 0 to 1");
    } else if (key == "offset_ms") {
      spec.offset_ms = read_int_range(v, path, -kMaxClockOffsetMs, kMaxClockOffsetMs,
                                      "integers within +-86400000 (milliseconds)");
    } else if (key == "drift_ppm") {
      spec.drift_ppm = read_number_range(v, path, -kMaxDriftPpm, kMaxDriftPpm,
                                         "numbers within +-100000 (parts per million)");
    } else if (key == "kinds") {
      if (!v.is_array() || v.empty()) fail_expected(path, "a non-empty list of partition kinds", v);
      spec.partition_kinds.clear();
      for (std::size_t i = 0; i < v.size(); ++i) {
        auto kind = read_enum<PartitionStep::Kind>(v[i], at_index(path, i), "partition_kind");
        if (std::find(spec.partition_kinds.begin(), spec.partition_kinds.end(), kind) !=
            spec.partition_kinds.end()) {
          fail(at_index(path, i),
               fmt::format("partition kind {} is listed twice", quote_json(partition_kind_name(kind))));
        }
        spec.partition_kinds.push_back(kind);
      }
    } else {
      assert(false && "intensity key without a reader");
    }
  }

  // ---- operator ----------------------------------------------------------------------------------

  bool some_cluster_can_have_a_replica() const {
    for (const auto& c : scenario_.clusters) {
      if (c.topology == ClusterSpec::Topology::manual && c.nodes.size() >= 2) return true;
      for (const auto& s : c.shards) {
        if (!s.replicas.empty()) return true;
      }
    }
    return false;
  }

  void load_operator(const json* v, const std::string& path) {
    OperatorSpec& op = scenario_.operator_;
    if (v == nullptr) return;
    ObjectReader obj(*v, path, "operator", "an operator object");
    op.enabled = true;
    if (const json* x = obj.find("enabled")) op.enabled = read_bool(*x, obj.at("enabled"));
    if (const json* x = obj.find("poll_interval_ms"))
      op.poll_interval_ms = read_duration(*x, obj.at("poll_interval_ms"), true);
    if (const json* x = obj.find("failure_detection_delay_ms")) {
      op.failure_detection_delay_ms = read_duration(*x, obj.at("failure_detection_delay_ms"), false);
    }
    if (const json* x = obj.find("failover_delay_ms"))
      op.failover_delay_ms = read_duration(*x, obj.at("failover_delay_ms"), false);
    if (const json* x = obj.find("reattach_delay_ms"))
      op.reattach_delay_ms = read_duration(*x, obj.at("reattach_delay_ms"), false);
    if (const json* x = obj.find("failover_argv")) {
      op.failover_argv = read_argv(*x, obj.at("failover_argv"));
    }
    if (op.enabled && !some_cluster_can_have_a_replica()) {
      fail(obj.find("enabled") != nullptr ? obj.at("enabled") : path,
           "the operator fails primaries over to replicas, but no cluster has a replica "
           "(add replicas to a shard, or set \"enabled\": false)");
    }
  }

  // ---- checks and expectations -------------------------------------------------------------------

  // Why `check` cannot be judged in this scenario, or "" when it can.
  std::string check_unusable_because(const std::string& check) const {
    if (checks_needing_liveness().count(check) != 0 && !scenario_.phases.liveness.enabled) {
      return fmt::format(
          "{} is judged after the liveness phase, which is disabled "
          "($.phases.liveness.enabled); enable it or drop the check",
          check);
    }
    if (check != kDurabilityCheck) return "";
    for (const auto& c : scenario_.clusters) {
      for (const auto& n : c.nodes) {
        if (n.config.appendfsync != StoreSpec::Fsync::always) {
          return fmt::format(
              "{} needs appendfsync \"always\" on every node, but {} uses {}; set it or drop the check",
              check, quote_json(n.name), quote_json(fsync_name(n.config.appendfsync)));
        }
      }
    }
    if (!scenario_.swarm.budget.within_budget) {
      return fmt::format(
          "{} holds only within the fault budget, but $.swarm.budget.within_budget is false; "
          "drop the check or keep the budget",
          check);
    }
    return "";
  }

  void load_checks(const json* v, const std::string& path) {
    const auto& ids = scenario_check_ids();
    auto& checks = scenario_.checks;
    if (v == nullptr || v->is_string()) {
      bool all = v != nullptr && read_choice(*v, path, enum_values("checks_keyword")) == 0;
      for (const auto& id : ids) {
        std::string why = check_unusable_because(id);
        if (why.empty()) {
          checks.push_back(id);
        } else if (all) {
          fail(path, "\"all\" includes " + why);
        }
      }
      return;
    }
    if (!v->is_array()) fail_expected(path, "\"all\", \"default\" or a list of check ids", *v);
    std::set<std::size_t> chosen;
    for (std::size_t i = 0; i < v->size(); ++i) {
      std::size_t id = read_choice((*v)[i], at_index(path, i), ids);
      if (!chosen.insert(id).second)
        fail(at_index(path, i), fmt::format("check {} is listed twice", ids[id]));
      std::string why = check_unusable_because(ids[id]);
      if (!why.empty()) fail(at_index(path, i), why);
    }
    for (std::size_t id : chosen) checks.push_back(ids[id]);  // catalogue order
  }

  void load_expectations(const json& v, const std::string& path) {
    auto load_one = [&](const json& item, const std::string& item_path) {
      ObjectReader obj(item, item_path, "expectation",
                       "an expectation object {\"bug\": ..., \"check\": ...}");
      ExpectedFailure e;
      const auto& bugs = scenario_bug_names();
      e.bug = bugs[read_choice(obj.need("bug", "a known bug name"), obj.at("bug"), bugs)];
      const auto& ids = scenario_check_ids();
      e.check = ids[read_choice(obj.need("check", "a check id"), obj.at("check"), ids)];
      const auto& checks = scenario_.checks;
      if (std::find(checks.begin(), checks.end(), e.check) == checks.end()) {
        fail(obj.at("check"), fmt::format("{} is not among the checks this scenario applies ({})", e.check,
                                          join(checks, ", ")));
      }
      for (const auto& earlier : scenario_.expect) {
        if (earlier.bug == e.bug)
          fail(obj.at("bug"), fmt::format("bug {} has two expectations", quote_json(e.bug)));
      }
      scenario_.expect.push_back(std::move(e));
    };
    if (v.is_object()) {
      load_one(v, path);
      return;
    }
    if (!v.is_array()) fail_expected(path, "an expectation object or a list of them", v);
    for (std::size_t i = 0; i < v.size(); ++i) load_one(v[i], at_index(path, i));
  }

  Scenario scenario_;
  std::map<std::string, std::string> cluster_paths_;  // cluster name -> where it is defined
  std::map<std::string, std::string> node_paths_;     // node name -> where it is defined
  std::map<std::string, std::string> node_cluster_;   // node name -> cluster name
  std::vector<std::string> node_names_;               // in definition order
};

// ==== parsing with duplicate-key detection ========================================================

// nlohmann keeps the last of two equal keys silently; a scenario with a repeated "at_ms" or
// "faults" would lose a step without a word, so the parse callback rejects duplicates with their path.
json parse_document(std::string_view text) {
  struct Frame {
    bool is_object = false;
    std::set<std::string> keys;
    std::string key;
    std::size_t index = 0;
  };
  std::vector<Frame> frames;
  auto container_path = [&frames]() {
    std::string path = "$";
    for (std::size_t i = 0; i + 1 < frames.size(); ++i) {
      path += frames[i].is_object ? "." + frames[i].key : fmt::format("[{}]", frames[i].index);
    }
    return path;
  };
  auto value_done = [&frames]() {
    if (!frames.empty() && !frames.back().is_object) ++frames.back().index;
  };
  json::parser_callback_t callback = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        frames.push_back({true, {}, {}, 0});
        break;
      case json::parse_event_t::array_start:
        frames.push_back({false, {}, {}, 0});
        break;
      case json::parse_event_t::key: {
        std::string key = parsed.get<std::string>();
        if (!frames.back().keys.insert(key).second) {
          fail(container_path(),
               fmt::format("key {} appears twice (JSON keeps only the last; merge them)", quote_json(key)));
        }
        frames.back().key = std::move(key);
        break;
      }
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        frames.pop_back();
        value_done();
        break;
      case json::parse_event_t::value:
        value_done();
        break;
    }
    return true;
  };
  return json::parse(text.begin(), text.end(), callback);
}

core::Status invalid(const std::string& source, const std::string& message) {
  return {core::Err::invalid, source + ": " + message};
}

// ==== normalized form =============================================================================

template <class T>
json range_json(const Range<T>& r) {
  return json::array({r.min, r.max});
}

json store_json(const StoreSpec& s) {
  return {
      {"port", s.port},
      {"requirepass", s.requirepass},
      {"aof_page_size_bytes", s.aof_page_size_bytes},
      {"aof_segment_pages", s.aof_segment_pages},
      {"appendfsync", fsync_name(s.appendfsync)},
      {"checkpoint_interval_ms", s.checkpoint_interval_ms},
      {"checkpoint_interval_writes", s.checkpoint_interval_writes},
      {"checkpoints_retained", s.checkpoints_retained},
      {"max_clients", s.max_clients},
      {"resp_max_bulk_bytes", s.resp_max_bulk_bytes},
      {"resp_max_args", s.resp_max_args},
      {"resp_max_inline_bytes", s.resp_max_inline_bytes},
      {"resp_max_query_buffer_bytes", s.resp_max_query_buffer_bytes},
  };
}

json cluster_json(const ClusterSpec& c) {
  json nodes = json::array();
  for (const auto& n : c.nodes) {
    nodes.push_back({{"name", n.name},
                     {"config", store_json(n.config)},
                     {"clock", {{"offset_ms", n.clock.offset_ms}, {"drift_ppm", n.clock.drift_ppm}}}});
  }
  json out = {{"name", c.name}, {"nodes", nodes}};
  if (c.topology == ClusterSpec::Topology::manual) {
    out["topology"] = "manual";
    return out;
  }
  json shards = json::array();
  for (const auto& s : c.shards) {
    json slots = json::array();
    for (const auto& r : s.slots) slots.push_back({r.first, r.last});
    shards.push_back({{"primary", s.primary}, {"replicas", s.replicas}, {"slots", slots}});
  }
  out["topology"] = {{"shards", shards}};
  return out;
}

json admin_fields(const AdminCommand& cmd) {
  json out = {{"node", cmd.node},
              {"argv", cmd.argv},
              {"timeout_ms", cmd.timeout_ms},
              {"retry_for_ms", cmd.retry_for_ms},
              {"retry_interval_ms", cmd.retry_interval_ms}};
  if (cmd.expect) out["expect"] = *cmd.expect;
  return out;
}

json mix_json(const std::array<std::int64_t, WorkloadSpec::kOpCount>& weights) {
  json mix = json::object();
  for (std::size_t i = 0; i < op_names().size(); ++i) mix[op_names()[i]] = weights[i];
  return mix;
}

json large_values_json(const WorkloadSpec::LargeValues& lv) {
  json large = {{"probability", lv.probability}};
  if (lv.size_bytes) large["size_bytes"] = range_json(*lv.size_bytes);
  if (lv.page_size_factor) large["page_size_factor"] = range_json(*lv.page_size_factor);
  return large;
}

json workload_json(const WorkloadSpec& w) {
  const json mix = mix_json(w.mix);
  const json large = large_values_json(w.large_values);
  json out = {{"enabled", w.enabled},
          {"cluster", w.cluster},
          {"clients", w.clients},
          {"mix", mix},
          {"key_count", w.key_count},
          {"value_size_bytes", range_json(w.value_size_bytes)},
          {"ops_per_second_per_client", w.ops_per_second_per_client},
          {"duration_ms", w.duration_ms},
          {"request_timeout_ms", w.request_timeout_ms},
          {"retries", w.retries},
          {"large_values", large},
          {"list_length_bound", w.list_length_bound}};
  if (!w.variants.empty()) {
    json variants = json::array();
    for (const WorkloadSpec::Variant& v : w.variants) {
      json j = {{"name", v.name}, {"weight", v.weight}};
      if (v.mix) j["mix"] = mix_json(*v.mix);
      if (v.key_count) j["key_count"] = *v.key_count;
      if (v.value_size_bytes) j["value_size_bytes"] = range_json(*v.value_size_bytes);
      if (v.ops_per_second_per_client) j["ops_per_second_per_client"] = *v.ops_per_second_per_client;
      if (v.large_values) j["large_values"] = large_values_json(*v.large_values);
      variants.push_back(std::move(j));
    }
    out["variants"] = std::move(variants);
  }
  return out;
}

// Fills `out` with the keys of one fault step's detail.
struct FaultJson {
  json& out;
  void operator()(const CrashStep& s) const { out["node"] = s.node; }
  void operator()(const RestartStep& s) const { out["node"] = s.node; }
  void operator()(const PauseStep& s) const { out["node"] = s.node; }
  void operator()(const ResumeStep& s) const { out["node"] = s.node; }
  void operator()(const PartitionStep& s) const {
    out["kind"] = partition_kind_name(s.kind);
    if (s.kind == PartitionStep::Kind::two_way) out["groups"] = s.groups;
    if (s.kind == PartitionStep::Kind::one_way) {
      out["from"] = s.from;
      out["to"] = s.to;
    }
    if (s.kind == PartitionStep::Kind::isolate) out["node"] = s.node;
    if (s.duration_ms) out["duration_ms"] = *s.duration_ms;
  }
  void operator()(const HealStep&) const {}
  void operator()(const ClogStep& s) const {
    if (!s.node.empty()) out["node"] = s.node;
    if (!s.link.empty()) out["link"] = s.link;
    out["extra_latency_ms"] = s.extra_latency_ms;
    if (s.duration_ms) out["duration_ms"] = *s.duration_ms;
  }
  void operator()(const UnclogStep& s) const {
    if (!s.node.empty()) out["node"] = s.node;
    if (!s.link.empty()) out["link"] = s.link;
  }
  void operator()(const ResetConnectionsStep& s) const {
    if (!s.node.empty()) out["node"] = s.node;
  }
  void operator()(const DiskFaultStep& s) const {
    out["node"] = s.node;
    out["kind"] = disk_fault_kind_name(s.kind);
    out["probability"] = s.probability;
    if (s.kind == DiskFaultStep::Kind::latency) out["latency_ms"] = s.latency_ms;
    if (s.duration_ms) out["duration_ms"] = *s.duration_ms;
  }
  void operator()(const ClockStep& s) const {
    out["node"] = s.node;
    if (s.offset_ms) out["offset_ms"] = *s.offset_ms;
    if (s.drift_ppm) out["drift_ppm"] = *s.drift_ppm;
  }
  void operator()(const AdminStep& s) const {
    out.update(admin_fields(s.command));
    if (!s.check.empty()) out["check"] = s.check;
  }
};

json swarm_json(const SwarmSpec& swarm) {
  json out = json::object();
  for (std::size_t f = 0; f < family_names().size(); ++f) {
    const SwarmFamilySpec& spec = swarm.families[f];
    json intensity = json::object();
    for (const auto& key : intensity_keys()[f]) {
      if (key == "interval_ms") intensity[key] = range_json(spec.interval_ms);
      if (key == "downtime_ms" || key == "duration_ms") intensity[key] = range_json(spec.duration_ms);
      if (key == "extra_latency_ms") intensity[key] = range_json(spec.extra_latency_ms);
      if (key == "probability") intensity[key] = range_json(spec.probability);
      if (key == "primary_bias") intensity[key] = range_json(spec.primary_bias);
      if (key == "activation_probability") intensity[key] = range_json(spec.activation_probability);
      if (key == "fire_probability") intensity[key] = range_json(spec.fire_probability);
      if (key == "offset_ms") intensity[key] = range_json(spec.offset_ms);
      if (key == "drift_ppm") intensity[key] = range_json(spec.drift_ppm);
      if (key == "kinds") {
        json kinds = json::array();
        for (auto k : spec.partition_kinds) kinds.push_back(partition_kind_name(k));
        intensity[key] = kinds;
      }
    }
    out[family_names()[f]] = {{"may_enable", spec.may_enable},
                              {"enable_probability", spec.enable_probability},
                              {"intensity", intensity}};
  }
  out["budget"] = {{"within_budget", swarm.budget.within_budget},
                   {"max_nodes_down", swarm.budget.max_nodes_down},
                   {"never_whole_shard_down", swarm.budget.never_whole_shard_down}};
  return out;
}

// Levenshtein distance, case-insensitive.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); };
  std::vector<std::size_t> prev(b.size() + 1);
  std::vector<std::size_t> cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t substitute = prev[j - 1] + (lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, substitute});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

// ==== public: names and tables ====================================================================

const std::vector<KeyTable>& scenario_key_tables() {
  static const std::vector<KeyTable> tables = build_key_tables();
  return tables;
}

const std::vector<EnumTable>& scenario_enum_tables() {
  static const std::vector<EnumTable> tables = build_enum_tables();
  return tables;
}

const std::vector<std::string>& scenario_check_ids() { return enum_values("check_id"); }
const std::vector<std::string>& scenario_bug_names() { return enum_values("bug_name"); }

std::string_view workload_op_name(WorkloadSpec::Op op) { return op_names()[static_cast<std::size_t>(op)]; }
std::string_view fault_action_name(FaultStep::Action action) {
  return enum_values("fault_action")[static_cast<std::size_t>(action)];
}
std::string_view partition_kind_name(PartitionStep::Kind kind) {
  return enum_values("partition_kind")[static_cast<std::size_t>(kind)];
}
std::string_view disk_fault_kind_name(DiskFaultStep::Kind kind) {
  return enum_values("disk_fault_kind")[static_cast<std::size_t>(kind)];
}
std::string_view fsync_name(StoreSpec::Fsync fsync) {
  return enum_values("appendfsync")[static_cast<std::size_t>(fsync)];
}
std::string_view swarm_family_name(SwarmSpec::Family family) {
  return family_names()[static_cast<std::size_t>(family)];
}

std::optional<std::string> nearest_name(std::string_view word, const std::vector<std::string>& candidates) {
  // Close enough to be a typo: at most a third of the word's letters wrong, and never more than 3.
  const std::size_t allowed = std::clamp<std::size_t>(word.size() / 3, 1, 3);
  std::optional<std::string> best;
  std::size_t best_distance = allowed + 1;
  for (const auto& c : candidates) {
    std::size_t d = edit_distance(word, c);
    // A key written without its unit suffix ("aof_page_size") is a likely slip too.
    const bool prefix = word.size() >= 4 && c.size() > word.size() && c.compare(0, word.size(), word) == 0;
    if (d > allowed && prefix) d = allowed;
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

// ==== public: Scenario ============================================================================

bool Scenario::operator==(const Scenario& other) const {
  auto fields = [](const Scenario& s) {
    return std::tie(s.format_version, s.name, s.description, s.clusters, s.duplications, s.setup, s.workload,
                    s.faults, s.swarm, s.operator_, s.checks, s.phases, s.limits, s.expect);
  };
  return fields(*this) == fields(other);
}

const NodeSpec* Scenario::find_node(std::string_view node_name) const {
  for (const auto& c : clusters) {
    for (const auto& n : c.nodes) {
      if (n.name == node_name) return &n;
    }
  }
  return nullptr;
}

const ClusterSpec* Scenario::cluster_of(std::string_view node_name) const {
  for (const auto& c : clusters) {
    for (const auto& n : c.nodes) {
      if (n.name == node_name) return &c;
    }
  }
  return nullptr;
}

// ==== public: loading =============================================================================

core::Result<Scenario> load_scenario_json(const nlohmann::json& document, std::string source_name) {
  try {
    Loader loader(source_name);
    return loader.load(document);
  } catch (const LoadError& e) {
    return invalid(source_name, e.message);
  }
}

core::Result<Scenario> load_scenario_text(std::string_view text, std::string source_name) {
  json document;
  try {
    document = parse_document(text);
  } catch (const LoadError& e) {
    return invalid(source_name, e.message);
  } catch (const json::exception& e) {
    // A syntax error (parse_error: "[json.exception.parse_error.101] parse error at line 3, column 5:
    // ...") or a number too large for a double (out_of_range.406: "number overflow parsing '1E999'",
    // which tools/fuzz found ending the CLI with an internal error). The bracketed id means nothing
    // to a scenario author.
    std::string what = e.what();
    auto close = what.find("] ");
    if (what.rfind("[json.exception.", 0) == 0 && close != std::string::npos) what = what.substr(close + 2);
    return invalid(source_name, "invalid JSON: " + what);
  }
  return load_scenario_json(document, std::move(source_name));
}

core::Result<Scenario> load_scenario_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::string reason = std::error_code(errno, std::generic_category()).message();
    return core::Status(core::Err::not_found,
                        fmt::format("{}: cannot open the scenario file ({})", path, reason));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad())
    return core::Status(core::Err::io_error, fmt::format("{}: cannot read the scenario file", path));
  return load_scenario_text(text.str(), path);
}

nlohmann::json scenario_to_json(const Scenario& s) {
  json clusters = json::array();
  for (const auto& c : s.clusters) clusters.push_back(cluster_json(c));

  json duplications = json::array();
  for (const auto& d : s.duplications) {
    duplications.push_back({{"source", d.source},
                            {"target", d.target},
                            {"target_password", d.target_password},
                            {"initial_checkpoint", d.initial_checkpoint}});
  }

  json setup = json::array();
  for (const auto& step : s.setup) {
    json item = admin_fields(step.command);
    if (!step.note.empty()) item["note"] = step.note;
    setup.push_back(item);
  }

  json faults = json::array();
  for (const auto& step : s.faults) {
    json item = {{"at_ms", step.at_ms}, {"action", fault_action_name(step.action())}};
    std::visit(FaultJson{item}, step.detail);
    if (!step.note.empty()) item["note"] = step.note;
    faults.push_back(item);
  }

  const OperatorSpec& op = s.operator_;
  const PhasesSpec& ph = s.phases;
  json expect = json::array();
  for (const auto& e : s.expect) expect.push_back({{"bug", e.bug}, {"check", e.check}});

  return {
      {"format_version", s.format_version},
      {"name", s.name},
      {"description", s.description},
      {"clusters", clusters},
      {"duplications", duplications},
      {"setup", setup},
      {"workload", workload_json(s.workload)},
      {"faults", faults},
      {"swarm", swarm_json(s.swarm)},
      {"operator",
       {{"enabled", op.enabled},
        {"poll_interval_ms", op.poll_interval_ms},
        {"failure_detection_delay_ms", op.failure_detection_delay_ms},
        {"failover_delay_ms", op.failover_delay_ms},
        {"reattach_delay_ms", op.reattach_delay_ms},
        {"failover_argv", op.failover_argv}}},
      {"checks", s.checks},
      {"phases",
       {{"setup_timeout_ms", ph.setup_timeout_ms},
        {"safety_duration_ms", ph.safety_duration_ms},
        {"liveness",
         {{"enabled", ph.liveness.enabled},
          {"heal_all", ph.liveness.heal_all},
          {"restart_all", ph.liveness.restart_all},
          {"converge_within_ms", ph.liveness.converge_within_ms}}}}},
      {"limits",
       {{"sim_time_ms", s.limits.sim_time_ms},
        {"events", s.limits.events},
        {"wall_time_ms", s.limits.wall_time_ms}}},
      {"expect", expect},
  };
}

// ==== public: argument templates ==================================================================

core::Result<std::vector<ArgPiece>> parse_arg_template(std::string_view arg) {
  std::vector<ArgPiece> pieces;
  auto add_text = [&pieces](std::string_view text) {
    if (text.empty()) return;
    if (!pieces.empty() && pieces.back().kind == ArgPiece::Kind::text) {
      pieces.back().value += text;
    } else {
      pieces.push_back({ArgPiece::Kind::text, std::string(text)});
    }
  };
  std::size_t i = 0;
  while (i < arg.size()) {
    std::size_t dollar = arg.find('$', i);
    if (dollar == std::string_view::npos || dollar + 1 >= arg.size()) {
      add_text(arg.substr(i));
      break;
    }
    add_text(arg.substr(i, dollar - i));
    char next = arg[dollar + 1];
    if (next == '$') {
      add_text("$");
      i = dollar + 2;
      continue;
    }
    if (next != '{') {
      add_text("$");
      i = dollar + 1;
      continue;
    }
    std::size_t close = arg.find('}', dollar);
    if (close == std::string_view::npos) {
      return core::Status(
          core::Err::invalid,
          fmt::format("unterminated placeholder in {} (placeholders look like ${{node:NAME}})",
                      quote_json(arg)));
    }
    std::string_view body = arg.substr(dollar + 2, close - dollar - 2);
    std::size_t colon = body.find(':');
    std::string kind(body.substr(0, colon));
    auto it = std::find(placeholder_kinds().begin(), placeholder_kinds().end(), kind);
    if (it == placeholder_kinds().end()) {
      return core::Status(
          core::Err::invalid,
          fmt::format("unknown placeholder kind {} in {}{} (kinds are {}; write $$ for a literal $)",
                      quote_json(kind), quote_json(arg), suggestion(kind, placeholder_kinds()),
                      join(placeholder_kinds(), ", ")));
    }
    if (colon == std::string_view::npos || colon + 1 == body.size()) {
      return core::Status(core::Err::invalid,
                          fmt::format("placeholder ${{{}}} in {} names no node (write ${{{}:NAME}})", body,
                                      quote_json(arg), kind));
    }
    auto kind_index = static_cast<std::size_t>(it - placeholder_kinds().begin());
    pieces.push_back({static_cast<ArgPiece::Kind>(kind_index + 1), std::string(body.substr(colon + 1))});
    i = close + 1;
  }
  return pieces;
}

std::string expand_arg_template(
    const std::vector<ArgPiece>& pieces,
    const std::function<std::string(ArgPiece::Kind, const std::string&)>& resolve) {
  std::string out;
  for (const auto& piece : pieces) {
    out += piece.kind == ArgPiece::Kind::text ? piece.value : resolve(piece.kind, piece.value);
  }
  return out;
}

// ==== public: reply expectations ==================================================================

bool reply_matches(std::string_view pattern, char reply_type, std::string_view reply_text) {
  if (!pattern.empty() && (pattern[0] == '+' || pattern[0] == '-' || pattern[0] == ':')) {
    if (pattern[0] != reply_type) return false;
    pattern.remove_prefix(1);
  }
  // Glob tokens: a literal character, or a star. "\*" and "\\" are literals.
  struct Token {
    bool star;
    char c;
  };
  std::vector<Token> tokens;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\' && i + 1 < pattern.size() && (pattern[i + 1] == '*' || pattern[i + 1] == '\\')) {
      tokens.push_back({false, pattern[++i]});
    } else {
      tokens.push_back({pattern[i] == '*', pattern[i]});
    }
  }
  // Greedy matching with one backtrack point (the last star): linear in practice, never exponential.
  std::size_t t = 0;
  std::size_t s = 0;
  std::optional<std::size_t> star_token;
  std::size_t star_text = 0;
  while (s < reply_text.size()) {
    if (t < tokens.size() && !tokens[t].star && tokens[t].c == reply_text[s]) {
      ++t;
      ++s;
    } else if (t < tokens.size() && tokens[t].star) {
      star_token = t++;
      star_text = s;
    } else if (star_token) {
      t = *star_token + 1;
      s = ++star_text;
    } else {
      return false;
    }
  }
  while (t < tokens.size() && tokens[t].star) ++t;
  return t == tokens.size();
}

}  // namespace replsim::sim
