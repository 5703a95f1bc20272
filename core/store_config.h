// core/store_config.h — the single-node store's configuration and its CONFIG GET/SET parameters.
//
// StoreConfig is plain data that a scenario file (or a command line) fills field by field; validate()
// says what is wrong with it. The parameter table maps Redis-style names ("appendfsync",
// "proto-max-bulk-len") to fields for CONFIG GET and CONFIG SET. Nothing here does I/O or keeps state
// beyond the struct it is given.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/aof.h"
#include "core/env.h"
#include "core/known_bugs.h"
#include "core/resp.h"

namespace replsim::core {

struct StoreConfig {
  std::uint16_t port = 6379;
  // Empty: no password, every client is authenticated from the start.
  std::string requirepass;

  // AOF layout; fixed for the life of the files (AOF::open refuses files written with other values).
  std::uint64_t aof_page_size_bytes = 4096;
  std::uint64_t aof_segment_pages = 1024;
  FsyncPolicy appendfsync = FsyncPolicy::everysec;

  // A checkpoint is taken when either interval has passed since the last one and something changed.
  // 0 turns that trigger off; with both 0, checkpoints happen only on SAVE.
  std::int64_t checkpoint_interval_ms = 0;
  std::uint64_t checkpoint_interval_writes = 0;
  // Checkpoint files kept (the newest ones). The AOF below the oldest kept one is truncated.
  std::size_t checkpoints_retained = 2;

  // Bounds on every client's requests (proto-max-bulk-len, client-query-buffer-limit, ...).
  RespLimits resp_limits;
  // Connected clients at most; one more gets "-ERR max number of clients reached" and is closed.
  std::size_t max_clients = 10000;

  // Cluster mode (Redis's cluster-enabled): 16384 slots with MOVED, nodes.conf, the cluster bus on
  // port + 10000, replication and failover. Off, the store is standalone and serves every key.
  bool cluster_enabled = false;
  // How often the bus gossips with each peer, and how long a bus connect or reply may take.
  std::int64_t cluster_gossip_interval_ms = 100;
  std::int64_t cluster_node_timeout_ms = 1000;

  KnownBugs known_bugs;

  // Err::invalid naming the first bad field, its value and the allowed range; ok otherwise.
  Status validate() const;
  AofConfig aof_config() const;
};

// Parses "always" / "everysec" / "no" (case-insensitive).
Result<FsyncPolicy> parse_fsync_policy(std::string_view text);

// Redis-style glob: '*', '?', '[abc]', '[a-z]', '[^a]' and '\' escapes.
bool glob_match(std::string_view pattern, std::string_view text, bool nocase);

// ---- CONFIG GET / CONFIG SET ---------------------------------------------------------------------

// Every parameter name with its current value, sorted by name, for CONFIG GET.
std::vector<std::pair<std::string, std::string>> config_parameters(const StoreConfig& config);

// The parameters CONFIG GET reports for one glob pattern (case-insensitive), sorted by name.
std::vector<std::pair<std::string, std::string>> config_get(const StoreConfig& config,
                                                            std::string_view pattern);

// Sets one parameter by name (case-insensitive). On failure config is unchanged and the Status
// message is the Redis error text after "-": "ERR Unknown option or number of arguments for CONFIG
// SET - 'foo'", or "ERR CONFIG SET failed (possibly related to argument 'x') - <reason>".
Status config_set(StoreConfig& config, std::string_view name, std::string_view value);

}  // namespace replsim::core
