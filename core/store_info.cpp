// core/store_info.cpp — the INFO sections, formatted as Redis does: "# Section" then "key:value"
// lines, each ending in CRLF. Values never contain CR, LF or spaces' worth of surprises: free text
// (reasons) has CR and LF replaced so a line stays a line.
#include <fmt/format.h>

#include <algorithm>

#include "core/store.h"

namespace replsim::core {

namespace {

constexpr std::string_view kRedisVersion = "7.0.0";
constexpr std::string_view kReplsimVersion = "0.1.0";

void line(std::string& out, std::string_view key, const auto& value) { append_info_line(out, key, value); }

std::string one_line(std::string_view text) {
  std::string out(text);
  std::replace(out.begin(), out.end(), '\r', ' ');
  std::replace(out.begin(), out.end(), '\n', ' ');
  return out;
}

}  // namespace

std::string Store::info(std::string_view section) const {
  const std::string s = lowercase_ascii(section);
  if (s == "server") return info_server();
  if (s == "clients") return info_clients();
  if (s == "persistence") return info_persistence();
  if (s == "stats") return info_stats();
  if (s == "replication") return info_replication();
  if (s == "cluster") return info_cluster();
  if (s == "keyspace") return info_keyspace();
  if (s.empty() || s == "all" || s == "default" || s == "everything") {
    return info_server() + "\r\n" + info_clients() + "\r\n" + info_persistence() + "\r\n" +
           info_stats() + "\r\n" + info_replication() + "\r\n" + info_cluster() + "\r\n" +
           info_keyspace();
  }
  return {};  // an unknown section is empty, as in Redis
}

std::string Store::info_server() const {
  std::string out = "# Server\r\n";
  const std::int64_t uptime_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(env_.now() - start_time_).count();
  line(out, "redis_version", kRedisVersion);
  line(out, "replsim_version", kReplsimVersion);
  line(out, "redis_mode", config_.cluster_enabled ? "cluster" : "standalone");
  line(out, "node_name", env_.node_name());
  line(out, "run_id", run_id_);
  line(out, "tcp_port", config_.port);
  line(out, "uptime_in_seconds", uptime_ms / 1000);
  line(out, "uptime_in_milliseconds", uptime_ms);
  return out;
}

std::string Store::info_clients() const {
  std::string out = "# Clients\r\n";
  line(out, "connected_clients", clients_.size());
  line(out, "maxclients", config_.max_clients);
  return out;
}

std::string Store::info_persistence() const {
  std::string out = "# Persistence\r\n";
  line(out, "loading", started_ ? 0 : 1);
  line(out, "aof_enabled", 1);
  line(out, "appendfsync", fsync_policy_name(config_.appendfsync));
  line(out, "aof_page_size_bytes", config_.aof_page_size_bytes);
  line(out, "aof_segment_pages", config_.aof_segment_pages);
  line(out, "aof_begin_address", aof_begin_address());
  line(out, "aof_tail_address", aof_tail_address());
  line(out, "aof_synced_address", aof_synced_address());
  line(out, "aof_last_decree", last_decree());
  line(out, "aof_last_write_status", aof_ && !aof_->write_error().is_ok() ? "err" : "ok");
  line(out, "aof_writes_refused_too_large", writes_refused_too_large_);
  line(out, "rdb_changes_since_last_save", changes_since_checkpoint());
  line(out, "checkpoints", checkpoint_list_.size());
  line(out, "checkpoints_written", checkpoints_written_);
  line(out, "last_checkpoint_decree", last_checkpoint_decree_);
  line(out, "last_checkpoint_address", last_checkpoint_address_);
  line(out, "last_checkpoint_time_ms", last_checkpoint_time_ms_);
  line(out, "last_checkpoint_status", last_checkpoint_status_);
  line(out, "checkpoint_interval_ms", config_.checkpoint_interval_ms);
  line(out, "checkpoint_interval_writes", config_.checkpoint_interval_writes);
  // What start() found.
  line(out, "recovery_checkpoint_decree", recovery_.checkpoint_decree);
  line(out, "recovery_checkpoint_address", recovery_.checkpoint_address);
  line(out, "recovery_checkpoints_skipped", recovery_.checkpoints_skipped.size());
  line(out, "recovery_records_replayed", recovery_.records_replayed);
  line(out, "aof_torn_tail", recovery_.torn_tail ? 1 : 0);
  line(out, "aof_torn_tail_address", recovery_.torn_address);
  line(out, "aof_torn_tail_bytes_truncated", recovery_.torn_bytes_truncated);
  line(out, "aof_torn_tail_reason", one_line(recovery_.torn_reason));
  return out;
}

std::string Store::info_stats() const {
  std::string out = "# Stats\r\n";
  line(out, "total_connections_received", connections_received_);
  line(out, "total_commands_processed", commands_processed_);
  line(out, "rejected_connections", connections_rejected_);
  line(out, "total_protocol_errors", protocol_errors_);
  return out;
}

std::string Store::info_replication() const {
  // Redis's fields (master_repl_offset is the AOF tail address), then replsim's: recovering, the
  // sync state and the last sync error.
  std::string out = "# Replication\r\n";
  line(out, "role", role_name(role()));
  out += replication_->info_lines(serves_as_primary());
  return out;
}

std::string Store::info_cluster() const {
  std::string out = "# Cluster\r\n";
  line(out, "cluster_enabled", config_.cluster_enabled ? 1 : 0);
  if (config_.cluster_enabled && !cluster_.empty()) {
    line(out, "cluster_node_id", cluster_.my_id());
    line(out, "cluster_my_epoch", cluster_.myself().config_epoch);
    line(out, "cluster_current_epoch", cluster_.current_epoch());
    line(out, "cluster_slots_owned", slots_owned());
    line(out, "cluster_persisted_role", role_name(persisted_role_));
  }
  return out;
}

std::string Store::info_keyspace() const {
  std::string out = "# Keyspace\r\n";
  if (keyspace_.empty()) return out;  // Redis lists only databases that hold keys
  std::size_t expires = 0;
  for (const std::string& key : keyspace_.keys()) {
    const Value* v = keyspace_.find(key);
    if (v != nullptr && v->expire_at_ms) ++expires;
  }
  line(out, "db0", fmt::format("keys={},expires={},avg_ttl=0", keyspace_.size(), expires));
  return out;
}

}  // namespace replsim::core
