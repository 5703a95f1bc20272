// core/store_commands.cpp — the commands the store executes itself rather than the data layer:
// AUTH, CONFIG, DEBUG, INFO, SAVE, WAIT, CLUSTER and DUPLICATION (core/duplication.cpp), with Redis 7's
// replies and error strings.
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "core/resp.h"
#include "core/store.h"

namespace replsim::core {

namespace {

std::string subcommand_syntax_error(std::string_view sub, std::string_view command) {
  return encode_error(fmt::format(
      "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.", sub, command));
}

std::string help_reply(const std::vector<std::string>& lines) {
  std::string out = encode_array_header(lines.size());
  for (const std::string& line : lines) out += encode_simple(line);
  return out;
}

}  // namespace

std::string Store::execute_store_command(Client& client, const CommandSpec& spec,
                                         const std::vector<std::string>& argv) {
  const std::string_view name = spec.name;
  if (name == "auth") return cmd_auth(client, argv);
  if (name == "config") return cmd_config(argv);
  if (name == "debug") return cmd_debug(argv);
  if (name == "info") return cmd_info(argv);
  if (name == "save") return cmd_save();
  if (name == "wait") return cmd_wait(client, argv);
  if (name == "duplication") return duplication_->command(argv);
  if (name == "cluster") {
    if (!config_.cluster_enabled) return encode_error("ERR This instance has cluster support disabled");
    return cmd_cluster(client, argv);
  }
  return encode_error(unknown_command_error(argv));
}

// ---- AUTH ----------------------------------------------------------------------------------------

std::string Store::cmd_auth(Client& client, const std::vector<std::string>& argv) {
  if (argv.size() > 3) return encode_error(kErrSyntax);
  std::string_view user = "default";
  std::string_view password;
  if (argv.size() == 2) {
    if (config_.requirepass.empty()) {
      return encode_error(
          "ERR AUTH <password> called without any password configured for the default user. Are "
          "you sure your configuration is correct?");
    }
    password = argv[1];
  } else {
    user = argv[1];
    password = argv[2];
  }
  // The only user is "default"; without requirepass it takes any password (Redis's nopass).
  const bool ok = user == "default" && (config_.requirepass.empty() || password == config_.requirepass);
  env_.log("store.auth", fmt::format("client={} ok={}", client.id, ok ? 1 : 0));
  if (!ok) return encode_error("WRONGPASS invalid username-password pair or user is disabled.");
  client.authenticated = true;
  return encode_simple("OK");
}

// ---- CONFIG --------------------------------------------------------------------------------------

std::string Store::cmd_config(const std::vector<std::string>& argv) {
  const std::string sub = lowercase_ascii(argv[1]);
  if (sub == "get") {
    if (argv.size() < 3) return encode_error(wrong_arity_error("config|get"));
    // Several patterns may name one parameter; each appears once, in name order.
    std::map<std::string, std::string> found;
    for (std::size_t i = 2; i < argv.size(); ++i) {
      for (auto& [key, value] : config_get(config_, argv[i])) found.emplace(key, value);
    }
    std::string out = encode_array_header(found.size() * 2);
    for (const auto& [key, value] : found) {
      append_bulk(out, key);
      append_bulk(out, value);
    }
    return out;
  }
  if (sub == "set") {
    if (argv.size() < 4 || argv.size() % 2 != 0) return encode_error(wrong_arity_error("config|set"));
    FiberLock lock(mutex_);
    if (!lock.owns()) return encode_error("ERR server is shutting down");
    // All pairs or none: apply to a copy, commit only if every one is valid.
    StoreConfig changed = config_;
    std::set<std::string> seen;
    for (std::size_t i = 2; i < argv.size(); i += 2) {
      if (!seen.insert(lowercase_ascii(argv[i])).second) {
        return encode_error(fmt::format(
            "ERR CONFIG SET failed (possibly related to argument '{}') - duplicate parameter", argv[i]));
      }
      if (Status st = config_set(changed, argv[i], argv[i + 1]); !st) return encode_error(st.message());
    }
    const bool password_changed = changed.requirepass != config_.requirepass;
    config_ = std::move(changed);
    aof_->set_fsync_policy(config_.appendfsync);
    env_.log("store.config.set",
             fmt::format("appendfsync={} checkpoint_interval_ms={} checkpoint_interval_writes={} "
                         "checkpoints_retained={} requirepass_changed={}",
                         fsync_policy_name(config_.appendfsync), config_.checkpoint_interval_ms,
                         config_.checkpoint_interval_writes, config_.checkpoints_retained,
                         password_changed ? 1 : 0));
    config_changed();
    return encode_simple("OK");
  }
  if (sub == "help") {
    return help_reply({"CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                       "GET <pattern>", "    Return parameters matching the glob-like <pattern> and their values.",
                       "SET <directive> <value>", "    Set the configuration <directive> to <value>.",
                       "HELP", "    Print this help."});
  }
  return encode_error(fmt::format("ERR unknown subcommand '{}'. Try CONFIG HELP.", argv[1]));
}

// ---- DEBUG ---------------------------------------------------------------------------------------

std::string Store::cmd_debug(const std::vector<std::string>& argv) {
  const std::string sub = lowercase_ascii(argv[1]);
  if (sub == "digest" && argv.size() == 2) {
    FiberLock lock(mutex_);
    if (!lock.owns()) return encode_error("ERR server is shutting down");
    return encode_simple(digest_hex());
  }
  if (sub == "help" && argv.size() == 2) {
    return help_reply({"DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", "DIGEST",
                       "    Output a hex signature representing the current DB content.", "HELP",
                       "    Print this help."});
  }
  return subcommand_syntax_error(argv[1], "DEBUG");
}

// ---- INFO ----------------------------------------------------------------------------------------

std::string Store::cmd_info(const std::vector<std::string>& argv) const {
  if (argv.size() <= 1) return encode_bulk(info(""));
  // Several sections may be asked for at once (Redis 7); each is reported once, in the usual order.
  std::string text;
  std::set<std::string> asked;
  for (std::size_t i = 1; i < argv.size(); ++i) asked.insert(lowercase_ascii(argv[i]));
  const bool everything = asked.count("all") != 0 || asked.count("everything") != 0 ||
                          asked.count("default") != 0;
  for (std::string_view section :
       {"server", "clients", "persistence", "stats", "replication", "cluster", "keyspace"}) {
    if (!everything && asked.count(std::string(section)) == 0) continue;
    if (!text.empty()) text += "\r\n";
    text += info(section);
  }
  return encode_bulk(text);
}

// ---- SAVE ----------------------------------------------------------------------------------------

std::string Store::cmd_save() {
  FiberLock lock(mutex_);
  if (!lock.owns()) return encode_error("ERR server is shutting down");
  if (aof_->last_decree() == 0 || (last_checkpoint_decree_ == aof_->last_decree() &&
                                   !checkpoint_list_.empty())) {
    // Nothing to save: no write yet (a checkpoint at decree 0 would be the empty keyspace, which
    // recovery rebuilds without one), or the newest checkpoint already holds the last decree.
    env_.log("store.checkpoint.skipped", fmt::format("reason=unchanged decree={}", aof_->last_decree()));
    return encode_simple("OK");
  }
  if (Status st = checkpoint_locked("save"); !st) return encode_error("ERR " + st.message());
  return encode_simple("OK");
}

// ---- WAIT ----------------------------------------------------------------------------------------

std::string Store::cmd_wait(Client& client, const std::vector<std::string>& argv) {
  const auto replicas = parse_int64_strict(argv[1]);
  const auto timeout = parse_int64_strict(argv[2]);
  if (!replicas || !timeout) return encode_error(kErrNotInteger);
  if (*timeout < 0) return encode_error("ERR timeout is negative");
  if (!serves_as_primary()) {
    return encode_error("ERR WAIT cannot be used with replica instances. Please also note that writes to "
                        "replicas are just local and are not propagated.");
  }
  // Redis's semantics: the replicas that acknowledged this client's last write, waiting up to the
  // timeout (0: without limit) for `replicas` of them.
  const Nanos limit = *timeout == 0 ? kForever : Nanos(std::chrono::milliseconds(*timeout));
  return encode_integer(replication_->wait_for_acks(client.last_write_address, *replicas, limit));
}

}  // namespace replsim::core
