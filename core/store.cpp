// core/store.cpp — the store's life cycle: recovery, tasks, connections and the write path.
// Store-level commands are in store_commands.cpp, INFO in store_info.cpp, cluster mode in
// store_cluster.cpp and replication in replication.cpp.
#include "core/store.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "core/check.h"
#include "core/resp.h"

namespace replsim::core {

namespace {

// How long the accept loop waits before it looks at the stop flag again.
constexpr Nanos kAcceptPoll = std::chrono::seconds(1);
constexpr Nanos kEverysecInterval = std::chrono::seconds(1);
constexpr std::size_t kRecvChunkBytes = 64 * 1024;

std::int64_t to_ms(LocalTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}


}  // namespace

void check_failed(Env& env, std::string_view condition, std::string_view message,
                  std::string_view file, int line) {
  env.abort(fmt::format("check failed: {} ({}) at {}:{}", condition, message, file, line));
  std::abort();  // unreachable: Env::abort never returns
}

std::string_view role_name(Role role) {
  switch (role) {
    case Role::master:
      return "master";
    case Role::replica:
      return "slave";
  }
  return "unknown";
}

std::string RecoverySummary::to_string() const {
  return fmt::format(
      "checkpoint={} checkpoint_decree={} checkpoint_address={} checkpoints_skipped={} "
      "replayed={} replay_from={} aof_begin={} aof_tail={} last_decree={} torn_tail={} "
      "torn_address={} torn_bytes={}",
      checkpoint_loaded ? checkpoint_file : "none", checkpoint_decree, checkpoint_address,
      checkpoints_skipped.size(), records_replayed, replay_from_address, aof_begin_address,
      aof_tail_address, last_decree, torn_tail ? 1 : 0, torn_address, torn_bytes_truncated);
}

Store::Client::Client(Store& s, std::uint64_t client_id, std::unique_ptr<Connection> c)
    : store(s), id(client_id), conn(std::move(c)), peer(conn->peer()) {
  store.clients_.emplace(id, conn.get());
}

Store::Client::~Client() { store.clients_.erase(id); }

Store::Store(Env& env, StoreConfig config)
    : env_(env),
      config_(std::move(config)),
      mutex_(env),
      checkpoint_wake_(env.make_event()),
      cluster_mutex_(env),
      replication_(std::make_unique<Replication>(*this)),
      duplication_(std::make_unique<Duplication>(*this)) {
  commands_.add(CommandSpec{"duplication", -2, cmd_flag::admin | cmd_flag::stale, 0, 0, 0, CommandOwner::store});
}

Store::~Store() = default;

// ==== recovery ====================================================================================

Status Store::start() {
  REPLSIM_CHECK(env_, !start_called_, "Store::start called twice");
  start_called_ = true;
  if (Status st = config_.validate(); !st) return st;
  start_time_ = env_.now();
  run_id_ = new_random_id();
  env_.log("store.recovery.begin", fmt::format("port={} appendfsync={} aof_page_size_bytes={}",
                                               config_.port, fsync_policy_name(config_.appendfsync),
                                               config_.aof_page_size_bytes));
  {
    FiberLock lock(mutex_);
    if (!lock.owns()) return Status(Err::shutdown, "store start: the node is shutting down");
    if (Status st = recover(); !st) {
      env_.log("store.recovery.refused", fmt::format("reason={}", st.message()));
      return st;
    }
    if (Status st = duplication_->load(); !st) {
      env_.log("store.recovery.refused", fmt::format("reason={}", st.message()));
      return st;
    }
  }
  env_.log("store.recovery.done", recovery_.to_string());

  auto listener = env_.listen(config_.port);
  if (!listener) {
    return Status(listener.code(), fmt::format("store start: cannot listen on port {}: {}", config_.port,
                                               listener.status().message()));
  }
  if (config_.cluster_enabled) {
    if (Status st = start_cluster(); !st) return st;
  }
  started_ = true;
  // std::function needs a copyable closure: the listener travels in a shared_ptr.
  auto l = std::make_shared<std::unique_ptr<Listener>>(std::move(listener.value()));
  env_.spawn("accept", [this, l] { accept_loop(std::move(*l)); });
  env_.spawn("aof-everysec", [this] { everysec_loop(); });
  env_.spawn("checkpointer", [this] { checkpoint_loop(); });
  duplication_->start();
  return Status::ok();
}

Status Store::recover() {
  // Cluster mode: the node knows its role before it touches any data, so a replica never writes a
  // record of its own before it knows it is one (incident 003 lived in that order).
  // KNOWN BUG replica-restart-writes-locally (incident 003): kvrocks 2.7 opened its data and started
  // as a primary before it loaded the cluster topology (nodes.conf), so the role comes last here.
  const bool bug_role_last = config_.cluster_enabled && config_.known_bugs.replica_restart_writes_locally;
  if (config_.cluster_enabled) {
    if (!bug_role_last) {
      if (Status st = load_cluster_config(); !st) return st;
    }
    if (Status st = replication_->prepare_recovery(); !st) return st;
  }
  if (Status st = load_newest_checkpoint(); !st) return st;
  if (Status st = refresh_checkpoint_list(); !st) return st;

  auto aof = Aof::open(env_, config_.aof_config());
  if (!aof) {
    return Status(aof.code(), fmt::format("refusing to start: the AOF cannot be opened: {}",
                                          aof.status().message()));
  }
  aof_ = std::move(aof.value());
  if (config_.cluster_enabled) {
    if (Status st = replication_->finish_recovery(); !st) return st;
  }
  const AofRecovery& found = aof_->recovery();
  recovery_.aof_begin_address = aof_->begin_address();
  recovery_.torn_tail = found.torn_tail;
  recovery_.torn_address = found.torn_address;
  recovery_.torn_bytes_truncated = found.bytes_dropped;
  recovery_.torn_reason = found.torn_reason;
  if (found.torn_tail) {
    env_.log("store.recovery.torn_tail",
             fmt::format("address={} bytes_truncated={} reason=\"{}\"", found.torn_address,
                         found.bytes_dropped, found.torn_reason));
  }
  if (Status st = check_aof_covers_checkpoint(); !st) return st;
  if (Status st = replay_aof(); !st) return st;
  if (bug_role_last) {
    if (Status st = bug_write_record_before_role(); !st) return st;
    if (Status st = load_cluster_config(); !st) return st;
  }
  recovery_.aof_tail_address = aof_->tail_address();
  recovery_.last_decree = aof_->last_decree();
  if (!config_.cluster_enabled) {
    replication_->set_standalone_id(checkpoint_replid_.empty() ? new_random_id() : checkpoint_replid_);
    return Status::ok();
  }
  return replication_->load_ids(cluster_.is_primary(), checkpoint_replid_);
}

Status Store::bug_write_record_before_role() {
  // KNOWN BUG replica-restart-writes-locally (incident 003): with no cluster config loaded yet the
  // node reads as a lone primary (serves_as_primary() is true for an empty config), and a primary
  // that starts records its new history in its log, as kvrocks's ShiftReplId wrote the new
  // replication id into the WAL. This store's AOF holds only data writes, so the record is the
  // nearest thing that changes no key: a DEL of a key named after the new run. A replica that writes
  // it has advanced its log by a decree its primary never sent (kvrocks #2214, fix #2221).
  // Kvrocks did it on every start; here only a node that restarts with data does, so the switch
  // shows the incident (a restart) and not a fresh node's first start.
  if (!serves_as_primary()) return Status::ok();
  if (!recovery_.checkpoint_loaded && aof_->tail_address() == 0) return Status::ok();
  const std::vector<std::vector<std::string>> effects = {{"DEL", fmt::format("__replsim:run:{}", run_id_)}};
  if (Status st = log_effects(effects); !st) {
    return Status(st.code(), fmt::format("refusing to start: writing the start record: {}", st.message()));
  }
  env_.log("store.bug.record_before_role",
           fmt::format("decree={} tail={}", aof_->last_decree(), aof_->tail_address()));
  return Status::ok();
}

Status Store::load_newest_checkpoint() {
  auto loaded = load_newest_valid(env_);
  if (!loaded) {
    if (loaded.code() == Err::not_found) return Status::ok();  // a fresh node, or never saved
    // Checkpoint files exist but none verifies (or the disk failed reading them). Starting from the
    // AOF alone could silently drop the data only those files held, so an operator decides.
    return Status(loaded.code(), fmt::format("refusing to start: {}", loaded.status().message()));
  }
  LoadedCheckpoint& cp = loaded.value();
  for (const std::string& skipped : cp.skipped) {
    recovery_.checkpoints_skipped.push_back(skipped);
    env_.log("store.recovery.checkpoint_skipped", fmt::format("reason=\"{}\"", skipped));
  }
  auto keyspace = Keyspace::deserialize(cp.payload);
  if (!keyspace) {
    // The file's checksum held, so the payload is what was written: a writer bug, not disk damage.
    return Status(Err::invalid, fmt::format("refusing to start: checkpoint {} (decree {}) passed its "
                                            "checksum but its keyspace does not decode: {}; remove it "
                                            "to fall back to an older checkpoint",
                                            cp.info.file_name, cp.info.meta.decree,
                                            keyspace.status().message()));
  }
  keyspace_ = std::move(keyspace.value());
  checkpoint_replid_ = cp.info.meta.replication_id;
  recovery_.checkpoint_loaded = true;
  recovery_.checkpoint_file = cp.info.file_name;
  recovery_.checkpoint_decree = cp.info.meta.decree;
  recovery_.checkpoint_address = cp.info.meta.aof_address;
  last_checkpoint_decree_ = cp.info.meta.decree;
  last_checkpoint_address_ = cp.info.meta.aof_address;
  return Status::ok();
}

Status Store::refresh_checkpoint_list() {
  auto listed = list_checkpoints(env_);
  if (!listed) return listed.status();
  checkpoint_list_ = std::move(listed.value());
  return Status::ok();
}

Status Store::check_aof_covers_checkpoint() {
  const std::uint64_t begin = aof_->begin_address();
  const std::uint64_t tail = aof_->tail_address();
  if (!recovery_.checkpoint_loaded) {
    if (aof_->base_decree() != 0 || begin != 0) {
      std::string skipped;
      for (const std::string& s : recovery_.checkpoints_skipped) skipped += "; skipped: " + s;
      return Status(Err::invalid,
                    fmt::format("refusing to start: the AOF begins at address {} (after decree {}) but "
                                "no valid checkpoint holds the data before it{}; restore a checkpoint "
                                "file or the AOF segments below address {}",
                                begin, aof_->base_decree(), skipped, begin));
    }
    recovery_.replay_from_address = begin;
    return Status::ok();
  }
  const std::uint64_t address = recovery_.checkpoint_address;
  const std::uint64_t decree = recovery_.checkpoint_decree;
  if (address < begin || address > tail) {
    return Status(Err::invalid,
                  fmt::format("refusing to start: checkpoint {} (decree {}) continues at AOF address {} "
                              "but the AOF holds only [{}, {}); the records the checkpoint needs are "
                              "missing: restore the AOF segment files, or remove the checkpoint to fall "
                              "back to an older one",
                              recovery_.checkpoint_file, decree, address, begin, tail));
  }
  auto before = aof_->decree_before(address);
  if (!before) {
    return Status(before.code(), fmt::format("refusing to start: checkpoint {} continues at AOF address "
                                             "{}, which the AOF cannot place: {}",
                                             recovery_.checkpoint_file, address,
                                             before.status().message()));
  }
  if (before.value() != decree) {
    return Status(Err::invalid,
                  fmt::format("refusing to start: checkpoint {} holds decree {} at AOF address {}, but "
                              "the AOF's record before that address has decree {}: the files come from "
                              "different histories; keep the AOF and checkpoints of one node together",
                              recovery_.checkpoint_file, decree, address, before.value()));
  }
  recovery_.replay_from_address = address;
  return Status::ok();
}

Status Store::replay_aof() {
  Status failure;
  std::uint64_t replayed = 0;
  // One argv for every record: assigning over its strings reuses their buffers.
  std::vector<std::string> argv;
  Status scanned = aof_->scan(recovery_.replay_from_address, [&](const AofRecord& record) {
    argv.assign(record.argv.begin(), record.argv.end());
    if (Status st = apply_effect(keyspace_, argv); !st) {
      failure = Status(
          Err::invalid,
          fmt::format("refusing to start: AOF record at address {} (decree {}) in {} cannot be "
                      "applied: {}. The AOF and the checkpoint it continues disagree; nothing after "
                      "decree {} was applied. Restore this node from a replica, or cut the AOF at "
                      "address {} if losing the writes from decree {} on is acceptable",
                      record.address, record.decree, segment_containing(record.address), st.message(),
                      record.decree - 1, record.address, record.decree));
      return false;
    }
    ++replayed;
    return true;
  });
  if (!failure.is_ok()) return failure;
  if (!scanned) {
    return Status(scanned.code(), fmt::format("refusing to start: the AOF cannot be read back: {}",
                                              scanned.message()));
  }
  recovery_.records_replayed = replayed;
  return Status::ok();
}

std::string Store::segment_containing(std::uint64_t address) const {
  // Segment names carry their first address; the last one starting at or before address holds it.
  std::string found = "the AOF";
  for (const std::string& name : aof_->segment_names()) {
    const auto first = std::stoull(name.substr(name.find('.') + 1), nullptr, 16);
    if (first <= address) found = name;
  }
  return found;
}

// Node ids draw their last part first: that is the order they had when the three draws were the
// arguments of one call compiled by gcc (right to left), so every seed keeps its run. Sequenced, the
// order no longer depends on the compiler (clang went left to right and gave other runs).
std::string Store::new_node_id() {
  const std::uint64_t c = env_.random_u64();
  const std::uint64_t b = env_.random_u64();
  const std::uint64_t a = env_.random_u64();
  return fmt::format("{:016x}{:016x}{:08x}", a, b, static_cast<std::uint32_t>(c));
}

std::string Store::new_random_id() {
  // 40 hex digits (160 bits) from the node's own stream, as Redis's replication ids look.
  const std::uint64_t a = env_.random_u64();
  const std::uint64_t b = env_.random_u64();
  const std::uint64_t c = env_.random_u64();
  return fmt::format("{:016x}{:016x}{:08x}", a, b, static_cast<std::uint32_t>(c));
}

void Store::stop() {
  if (stopping_) return;
  stopping_ = true;
  env_.log("store.stop", fmt::format("clients={}", clients_.size()));
  for (auto& [id, conn] : clients_) conn->close();
  checkpoint_wake_->set();
  replication_->stop();
  duplication_->stop();
  if (bus_) bus_->stop();
}

// ==== tasks =======================================================================================

void Store::accept_loop(std::unique_ptr<Listener> listener) {
  while (!stopping_) {
    auto accepted = listener->accept(kAcceptPoll);
    if (!accepted) {
      if (accepted.code() == Err::timeout) continue;
      env_.log("store.accept.end", fmt::format("reason=\"{}\"", accepted.status().message()));
      return;
    }
    std::unique_ptr<Connection> conn = std::move(accepted.value());
    ++connections_received_;
    if (clients_.size() >= config_.max_clients) {
      ++connections_rejected_;
      env_.log("store.client.rejected",
               fmt::format("peer={} clients={} max_clients={}", conn->peer(), clients_.size(),
                           config_.max_clients));
      // Redis answers before closing, so the client learns why.
      (void)conn->send(encode_error("ERR max number of clients reached"));
      conn->close();
      continue;
    }
    auto client = std::make_unique<Client>(*this, next_client_id_++, std::move(conn));
    const std::uint64_t id = client->id;
    std::shared_ptr<Client> shared = std::move(client);
    env_.spawn(fmt::format("client-{}", id), [this, shared] { serve_client(*shared); });
  }
}

void Store::serve_client(Client& client) {
  client.authenticated = config_.requirepass.empty();
  Connection& conn = *client.conn;
  env_.log("store.client.open", fmt::format("client={} peer={}", client.id, client.peer));
  RespRequestParser parser(config_.resp_limits);
  std::vector<std::string> argv;
  std::string end_reason = "closed";
  while (!stopping_) {
    auto data = conn.recv(kRecvChunkBytes, kForever);
    if (!data) {
      end_reason = std::string(err_name(data.code()));
      break;
    }
    parser.feed(data.value());
    bool send_failed = false;
    // One argv for the connection: next_into hands its strings back to the parser to reuse.
    while (parser.next_into(argv)) {
      const std::string reply = handle_request(client, argv);
      if (client.replsync) {
        // CLUSTER REPLSYNC: this connection now carries a replica's sync and stream.
        env_.log("store.client.handoff", fmt::format("client={} replica={}", client.id, client.replsync->replica_id));
        const SyncRequest request = *client.replsync;
        replication_->serve_replica(std::move(client.conn), request);
        return;
      }
      if (stopping_) break;
      if (Status st = conn.send(reply); !st) {
        send_failed = true;
        end_reason = std::string(err_name(st.code()));
        break;
      }
    }
    if (send_failed || stopping_) break;
    if (parser.failed()) {
      ++protocol_errors_;
      env_.log("store.client.protocol_error",
               fmt::format("client={} error=\"{}\"", client.id, parser.error()));
      (void)conn.send(parser.error_reply());
      end_reason = "protocol_error";
      break;
    }
  }
  conn.close();
  env_.log("store.client.close", fmt::format("client={} reason={}", client.id, end_reason));
}

void Store::everysec_loop() {
  while (!stopping_) {
    env_.sleep_for(kEverysecInterval);
    if (stopping_) return;
    if (config_.appendfsync != FsyncPolicy::everysec) continue;
    FiberLock lock(mutex_);
    if (!lock.owns()) return;
    if (aof_->synced_tail() == aof_->tail_address()) continue;
    if (Status st = aof_->sync(); !st) stop_on_aof_failure(st, "everysec sync");
  }
}

void Store::checkpoint_loop() {
  while (!stopping_) {
    const Nanos wait = config_.checkpoint_interval_ms > 0
                           ? Nanos(std::chrono::milliseconds(config_.checkpoint_interval_ms))
                           : kForever;
    const bool woken = checkpoint_wake_->wait(wait);
    checkpoint_wake_->reset();
    if (stopping_) return;
    const bool by_writes = config_.checkpoint_interval_writes > 0 &&
                           changes_since_checkpoint() >= config_.checkpoint_interval_writes;
    const bool by_time = !woken && config_.checkpoint_interval_ms > 0;
    if (!by_writes && !by_time) continue;  // a config change woke us: recompute the wait
    FiberLock lock(mutex_);
    if (!lock.owns()) return;
    if (changes_since_checkpoint() == 0) continue;
    // A failed periodic checkpoint is logged and retried at the next trigger; the AOF still holds
    // everything, so nothing is lost by waiting.
    (void)checkpoint_locked(by_writes ? "writes" : "interval");
  }
}

void Store::config_changed() { checkpoint_wake_->set(); }

// ==== execution ===================================================================================

std::string Store::handle_request(Client& client, const std::vector<std::string>& argv) {
  ++commands_processed_;
  const std::string name = lowercase_ascii(argv.front());
  const CommandSpec* spec = commands_.find(name);
  // Redis's order: unknown command, then arity, then authentication.
  if (spec == nullptr) return encode_error(unknown_command_error(argv));
  if (!spec->arity_ok(argv.size())) return encode_error(wrong_arity_error(spec->name));
  if (!client.authenticated && !spec->has(cmd_flag::no_auth)) {
    return encode_error("NOAUTH Authentication required.");
  }
  if (spec->owner == CommandOwner::store) return execute_store_command(client, *spec, argv);
  if (config_.cluster_enabled) {
    // A primary handing over in a default failover holds writes until its replica took over (then
    // they are redirected) or the pause runs out.
    while (spec->has(cmd_flag::write) && writes_paused() && serves_as_primary() && !stopping_) {
      env_.sleep_for(std::chrono::milliseconds(10));
    }
    if (auto refusal = route(*spec, argv)) return *refusal;
  }
  return execute_data(client, *spec, argv);
}

std::string Store::execute_data(Client& client, const CommandSpec& spec, const std::vector<std::string>& argv) {
  if (spec.has(cmd_flag::write)) {
    // Refuse up front what could not be logged, so nothing is applied that the AOF cannot hold. The
    // AOF payload of an argv is never longer than its RESP encoding, and an effect's encoding exceeds
    // its request's by at most max_effect_growth_bytes(), so this bound covers every effect.
    const std::size_t bound = Aof::framed_size(Aof::payload_size(argv)) + max_effect_growth_bytes();
    if (!aof_->check_record_fits(bound).is_ok()) {
      ++writes_refused_too_large_;
      return encode_error(fmt::format(
          "ERR value too large: record of {} bytes does not fit aof_page_size_bytes={}; raise "
          "aof_page_size_bytes",
          bound, config_.aof_page_size_bytes));
    }
  }
  FiberLock lock(mutex_);
  if (!lock.owns()) return encode_error("ERR server is shutting down");
  // The role may have changed while this request waited for the mutex: a replica's log advances
  // only by its primary's records, and its keyspace only with them.
  if (config_.cluster_enabled && !serves_as_primary()) {
    if (auto refusal = route(spec, argv)) return *refusal;
    if (spec.has(cmd_flag::write)) return encode_error("READONLY You can't write against a read only replica.");
  }
  ExecContext ctx;
  ctx.now_ms = to_ms(env_.now());
  ctx.may_expire = serves_as_primary();
  ctx.max_string_bytes = config_.resp_limits.max_bulk_bytes;
  CommandResult result = execute_data_command(keyspace_, spec, argv, ctx);
  if (!result.effects.empty()) {
    if (Status st = log_effects(result.effects); !st) stop_on_aof_failure(st, "append");
    client.last_write_address = aof_->tail_address();
    if (config_.checkpoint_interval_writes > 0 &&
        changes_since_checkpoint() >= config_.checkpoint_interval_writes) {
      checkpoint_wake_->set();
    }
  }
  return std::move(result.reply);
}

Status Store::log_effects(const std::vector<std::vector<std::string>>& effects) {
  for (const auto& effect : effects) {
    // The pre-check in execute_data bounds every effect of a write; a read's only effect is the DEL
    // of a key that was written before, so a record that does not fit here is a bug.
    REPLSIM_CHECK(env_, aof_->check_record_fits(Aof::framed_size(effect)).is_ok(),
                  fmt::format("effect {} of {} bytes passed the size pre-check but does not fit a page",
                              effect.front(), Aof::framed_size(effect)));
    auto appended = aof_->append(aof_->last_decree() + 1, effect);
    if (!appended) return appended.status();
  }
  Status synced = config_.appendfsync == FsyncPolicy::always ? aof_->sync() : Status::ok();
  if (synced) replication_->notify_appended();
  return synced;
}

void Store::stop_on_aof_failure(const Status& st, std::string_view what) {
  // The keyspace already holds a change the AOF may not: continuing would acknowledge or serve state
  // that a restart cannot rebuild. Stopping makes the next start recover exactly what is on disk,
  // as Redis exits when an fsync under appendfsync always fails.
  const std::string message =
      fmt::format("AOF write failed ({}): {}; stopping so that a restart recovers from disk", what,
                  st.message());
  env_.log("store.aof.failed", fmt::format("what=\"{}\" error=\"{}\"", what, st.message()));
  env_.exit_on_error(message);
  std::abort();  // unreachable: Env::exit_on_error never returns
}

// ==== checkpoints =================================================================================

std::uint64_t Store::changes_since_checkpoint() const {
  if (!aof_) return 0;
  return aof_->last_decree() - last_checkpoint_decree_;
}

Status Store::checkpoint_locked(std::string_view reason) {
  REPLSIM_CHECK(env_, mutex_.is_locked(), "checkpoint without the store mutex");
  const std::uint64_t decree = aof_->last_decree();
  const std::uint64_t address = aof_->tail_address();
  // A checkpoint must never be durable while the AOF records before its address are not: recovery
  // continues from that address and would find a gap.
  if (aof_->synced_tail() != address) {
    if (Status st = aof_->sync(); !st) stop_on_aof_failure(st, "sync before checkpoint");
  }
  CheckpointMeta meta;
  meta.replication_id = replication_->ids().replid;
  meta.decree = decree;
  meta.aof_address = address;
  const std::string payload = keyspace_.serialize();
  env_.log("store.checkpoint.begin", fmt::format("reason={} decree={} address={} bytes={}", reason,
                                                 decree, address, payload.size()));
  CheckpointConfig cp_config;
  cp_config.checkpoints_retained = config_.checkpoints_retained;
  auto written = write_checkpoint(env_, meta, payload, cp_config);
  if (!written) {
    last_checkpoint_status_ = "err";
    env_.log("store.checkpoint.failed", fmt::format("decree={} error=\"{}\"", decree,
                                                    written.status().message()));
    return Status(written.code(), fmt::format("checkpoint at decree {} failed: {}", decree,
                                              written.status().message()));
  }
  last_checkpoint_status_ = "ok";
  last_checkpoint_decree_ = decree;
  last_checkpoint_address_ = address;
  last_checkpoint_time_ms_ = to_ms(env_.now());
  ++checkpoints_written_;
  // The AOF below the oldest checkpoint kept is no longer needed by any recovery. Without a fresh
  // listing the old one is kept: truncating less is always safe.
  if (Status st = refresh_checkpoint_list(); !st) {
    env_.log("store.checkpoint.list_failed", fmt::format("error=\"{}\"", st.message()));
    return Status::ok();
  }
  REPLSIM_CHECK(env_, !checkpoint_list_.empty(), "no checkpoint listed right after writing one");
  std::uint64_t oldest_address = address;
  for (const CheckpointInfo& info : checkpoint_list_) {
    oldest_address = std::min(oldest_address, info.meta.aof_address);
  }
  // A duplication still to ship records keeps them (Pegasus never GCs plog a duplication needs).
  oldest_address = std::min(oldest_address, duplication_->aof_needed_from());
  const std::uint64_t begin_before = aof_->begin_address();
  if (oldest_address > begin_before) {
    if (Status st = aof_->truncate_before(oldest_address); !st) {
      if (!aof_->write_error().is_ok()) stop_on_aof_failure(st, "truncate_before");
      env_.log("store.aof.truncate_failed", fmt::format("address={} error=\"{}\"", oldest_address,
                                                        st.message()));
    }
  }
  env_.log("store.checkpoint.done",
           fmt::format("decree={} address={} file={} kept={} aof_begin={}->{}", decree, address,
                       written.value(), checkpoint_list_.size(), begin_before, aof_->begin_address()));
  return Status::ok();
}

// ==== read-only state =============================================================================

std::uint64_t Store::last_decree() const { return aof_ ? aof_->last_decree() : 0; }
std::uint64_t Store::aof_begin_address() const { return aof_ ? aof_->begin_address() : 0; }
std::uint64_t Store::aof_tail_address() const { return aof_ ? aof_->tail_address() : 0; }
std::uint64_t Store::aof_synced_address() const { return aof_ ? aof_->synced_tail() : 0; }

std::vector<std::uint64_t> Store::checkpoint_decrees() const {
  std::vector<std::uint64_t> out;
  for (auto it = checkpoint_list_.rbegin(); it != checkpoint_list_.rend(); ++it) {
    out.push_back(it->meta.decree);
  }
  return out;
}

std::string Store::digest_hex() const { return fmt::format("{:040x}", keyspace_.digest()); }

Role Store::role() const { return serves_as_primary() ? Role::master : Role::replica; }

bool Store::recovering() const { return replication_->recovering(); }

}  // namespace replsim::core
