// core/replication.cpp — replication ids, the sync decision, the replica's sync task and the primary's
// sync sessions.
//
// Wire protocol, on the primary's client port:
//   replica -> primary  CLUSTER REPLSYNC <id> <host> <port> <replid> <replid2|-> <offset2> <tail> <decree>
//   primary -> replica  +FULLSYNC <replid> <replid2|-> <offset2> <decree> <address> <bytes>
//                       then the checkpoint payload as bulk strings of at most 16 KiB
//                   or  +CONTINUE <replid> <replid2|-> <offset2> <address>
//                   or  -ERR <why>
//   then                *3 AOF <address> <raw AOF bytes>   (address for address, whole records)
//                       *1 PING                            (keepalive when idle)
//   replica -> primary  REPLCONF ACK <aof tail>            (after each chunk and each keepalive)
#include "core/replication.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <exception>
#include <utility>

#include "core/check.h"
#include "core/checkpoint.h"
#include "core/cluster_config.h"
#include "core/commands.h"
#include "core/keyspace.h"
#include "core/small_file.h"
#include "core/store.h"

namespace replsim::core {

namespace {

constexpr Nanos kConnectTimeout = std::chrono::seconds(2);
constexpr Nanos kHandshakeTimeout = std::chrono::seconds(5);
// The primary sends a keepalive every kKeepalive; a replica that hears nothing for kStreamIdleTimeout
// considers the link lost and reconnects.
constexpr Nanos kKeepalive = std::chrono::seconds(1);
constexpr Nanos kStreamIdleTimeout = std::chrono::seconds(5);
// A replica reports its tail (REPLCONF ACK) at most once per kAckInterval, as Redis's replicas do
// from their cron, and at once when the primary asks (REPLCONF GETACK, sent for a WAIT). Acking every
// chunk would double the replication traffic for nothing: only WAIT and INFO read the acks.
constexpr Nanos kAckInterval = std::chrono::seconds(1);
constexpr Nanos kRetryFast = std::chrono::milliseconds(200);
constexpr Nanos kRetrySlow = std::chrono::seconds(1);
constexpr int kFastRetries = 5;
constexpr std::size_t kTransferChunkBytes = 16 * 1024;
constexpr std::size_t kStreamChunkBytes = 64 * 1024;
constexpr std::size_t kRecvChunkBytes = 64 * 1024;

std::int64_t seconds_between(LocalTime from, LocalTime to) {
  return std::chrono::duration_cast<std::chrono::seconds>(to - from).count();
}

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  std::uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) end = text.size();
    if (end > pos) out.emplace_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::vector<std::string> split_words_lines(std::string_view text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    out.emplace_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::string one_line_text(std::string_view text) {
  std::string out(text);
  std::replace(out.begin(), out.end(), '\r', ' ');
  std::replace(out.begin(), out.end(), '\n', ' ');
  return out;
}

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

std::string from_dash(std::string_view s) { return s == "-" ? std::string() : std::string(s); }

// KNOWN BUG replica-restart-writes-locally (incident 003): where the record after `decree` begins in
// aof (the address right after the record with that decree; the begin address for the base decree),
// or nullopt when aof holds no record with that decree.
std::optional<std::uint64_t> bug_address_after_decree(Aof& aof, std::uint64_t decree) {
  if (decree == aof.base_decree()) return aof.begin_address();
  if (decree < aof.base_decree() || decree > aof.last_decree()) return std::nullopt;
  std::optional<std::uint64_t> found;
  const Status scanned = aof.scan(aof.begin_address(), [&](const AofRecord& record) {
    if (record.decree == decree) found = record.end_address;
    return record.decree < decree;
  });
  if (!scanned) return std::nullopt;
  return found;
}


}  // namespace

// ==== ids, requests and the sync decision =========================================================

std::string ReplicationIds::serialize() const {
  return fmt::format("replid {}\nreplid2 {}\noffset2 {}\n", replid, or_dash(replid2), offset2);
}

Result<ReplicationIds> ReplicationIds::parse(std::string_view text) {
  ReplicationIds ids;
  bool have_replid = false;
  for (const std::string& line : split_words_lines(text)) {
    const std::vector<std::string> w = split_words(line);
    if (w.size() != 2) continue;
    if (w[0] == "replid") {
      ids.replid = w[1];
      have_replid = true;
    } else if (w[0] == "replid2") {
      ids.replid2 = from_dash(w[1]);
    } else if (w[0] == "offset2") {
      const auto v = parse_u64(w[1]);
      if (!v) return Status(Err::invalid, fmt::format("replication ids: bad offset2 \"{}\"", w[1]));
      ids.offset2 = *v;
    }
  }
  if (!have_replid || ids.replid.empty()) return Status(Err::invalid, "replication ids: no replid line");
  return ids;
}

std::vector<std::string> SyncRequest::to_argv() const {
  return {"CLUSTER",
          "REPLSYNC",
          replica_id,
          host,
          std::to_string(port),
          ids.replid,
          or_dash(ids.replid2),
          std::to_string(ids.offset2),
          std::to_string(aof_tail),
          std::to_string(last_decree)};
}

Result<SyncRequest> SyncRequest::from_argv(const std::vector<std::string>& argv) {
  if (argv.size() != 10) return Status(Err::invalid, "ERR wrong number of arguments for 'cluster|replsync' command");
  SyncRequest r;
  r.replica_id = argv[2];
  r.host = argv[3];
  const auto port = parse_u64(argv[4]);
  const auto offset2 = parse_u64(argv[7]);
  const auto tail = parse_u64(argv[8]);
  const auto decree = parse_u64(argv[9]);
  if (!is_node_id(r.replica_id) || !port || *port > 65535 || !offset2 || !tail || !decree || argv[5].empty()) {
    return Status(Err::invalid, "ERR malformed CLUSTER REPLSYNC request");
  }
  r.port = static_cast<std::uint16_t>(*port);
  r.ids.replid = argv[5];
  r.ids.replid2 = from_dash(argv[6]);
  r.ids.offset2 = *offset2;
  r.aof_tail = *tail;
  r.last_decree = *decree;
  return r;
}

std::string_view sync_mode_name(SyncMode mode) { return mode == SyncMode::partial ? "partial" : "full"; }

SyncDecision choose_sync_mode(const SyncRequest& request, const ReplicationIds& primary, std::uint64_t aof_begin,
                              std::uint64_t aof_tail, std::optional<std::uint64_t> decree_before_tail,
                              bool bug_no_offset2_cap) {
  const std::uint64_t tail = request.aof_tail;
  // Whether our history contains the replica's log, read as history `id` up to its tail.
  auto contains = [&](const std::string& id) {
    if (id.empty()) return false;
    if (id == primary.replid) return tail <= aof_tail;
    if (!primary.replid2.empty() && id == primary.replid2) {
      // KNOWN BUG failover-replays-diverged-aof (incident 000): without the offset2 cap, a former
      // primary's log counts as ours up to wherever it ends, diverged suffix included.
      if (bug_no_offset2_cap) return tail <= aof_tail;
      return tail <= primary.offset2;
    }
    return false;
  };
  const bool same_history =
      contains(request.ids.replid) ||
      (!request.ids.replid2.empty() && tail <= request.ids.offset2 && contains(request.ids.replid2));
  if (!same_history) {
    return {SyncMode::full,
            fmt::format("replication id mismatch: the replica's log is {} (and {} up to {}) up to {}, this "
                        "primary's is {} up to {} (and {} up to {})",
                        request.ids.replid, or_dash(request.ids.replid2), request.ids.offset2, tail,
                        primary.replid, aof_tail, or_dash(primary.replid2), primary.offset2)};
  }
  if (tail < aof_begin) {
    return {SyncMode::full, fmt::format("the replica's AOF tail {} is below the address this primary can "
                                        "serve from ({})",
                                        tail, aof_begin)};
  }
  if (!decree_before_tail) {
    return {SyncMode::full, fmt::format("the replica's AOF tail {} is not a record boundary of this "
                                        "primary's AOF [{}, {}]",
                                        tail, aof_begin, aof_tail)};
  }
  // The decree check is the second half of the cap: the record ending at the replica's tail must be
  // the same record in both logs. (The bug skips it along with the cap.)
  if (!bug_no_offset2_cap && *decree_before_tail != request.last_decree) {
    return {SyncMode::full, fmt::format("the replica's last decree {} differs from this primary's decree "
                                        "{} at address {}",
                                        request.last_decree, *decree_before_tail, tail)};
  }
  return {SyncMode::partial, fmt::format("continuing from address {} (decree {}); this primary holds [{}, {}]",
                                         tail, request.last_decree, aof_begin, aof_tail)};
}

SyncDecision bug_choose_sync_mode_by_decree(const SyncRequest& request, std::uint64_t base_decree,
                                            std::uint64_t last_decree,
                                            std::optional<std::uint64_t> address_after_decree) {
  // KNOWN BUG replica-restart-writes-locally (incident 003): kvrocks's psync asked for "the records
  // after sequence N" and the primary checked only that it still held them; a replica whose own
  // record took decree N (written before it knew it was a replica) is thereby continued after the
  // primary's record N, which it never receives.
  if (request.last_decree < base_decree || request.last_decree > last_decree || !address_after_decree) {
    return {SyncMode::full, fmt::format("the replica's decree {} is outside this primary's log [{}, {}]",
                                        request.last_decree, base_decree, last_decree)};
  }
  return {SyncMode::partial, fmt::format("continuing after decree {} at address {} (by decree alone); this primary "
                                         "holds decrees [{}, {}]",
                                         request.last_decree, *address_after_decree, base_decree, last_decree)};
}

std::string_view sync_state_name(SyncState state) {
  switch (state) {
    case SyncState::none: return "none";
    case SyncState::connecting: return "connecting";
    case SyncState::transfer: return "transfer";
    case SyncState::installing: return "installing";
    case SyncState::streaming: return "streaming";
    case SyncState::retrying: return "retrying";
  }
  return "unknown";
}

// ==== attempts: the recovering flag ===============================================================

// One sync attempt of the replica. It sets the recovering flag when it begins and clears it exactly
// once when it ends (synced, failed, aborted, or unwound by a crash) — unless the flag has since been
// taken over by a newer attempt or cleared by an abort, which then owns it. Incident 001 lived here:
// a failed attempt that reset the role but left the flag set.
class Replication::Attempt {
 public:
  Attempt(Replication& r, std::uint64_t id) : r_(r), id_(id == 0 ? r.next_attempt_id_++ : id) {
    ++r_.attempts_started_;
    r_.recovering_ = true;
    r_.recovering_attempt_ = id_;
    // Every change of the flag reaches the trace (a retry sets it again after the last attempt's
    // repl.sync.end cleared it); the report's timeline draws the flag from these events.
    r_.env_.log("repl.attempt.begin", fmt::format("attempt={} recovering=1", id_));
  }
  ~Attempt() {
    if (ended_) return;
    // Unwinding (a crash) or an early return: end without logging, which must not block.
    ended_ = true;
    ++r_.attempts_ended_;
    if (r_.recovering_attempt_ == id_) {
      r_.recovering_ = false;
      r_.recovering_attempt_ = 0;
    }
  }
  Attempt(const Attempt&) = delete;
  Attempt& operator=(const Attempt&) = delete;

  std::uint64_t id() const { return id_; }
  bool ended() const { return ended_; }

 private:
  friend class Replication;
  Replication& r_;
  std::uint64_t id_;
  bool ended_ = false;
};

void Replication::end_attempt(Attempt& attempt, const Status& outcome) {
  if (attempt.ended_) return;
  attempt.ended_ = true;
  ++attempts_ended_;
  const bool owned = recovering_attempt_ == attempt.id_;
  if (owned) {
    recovering_ = false;
    recovering_attempt_ = 0;
  }
  if (outcome.is_ok()) {
    last_sync_error_.clear();
  } else {
    last_sync_error_ = outcome.message();
  }
  env_.log("repl.sync.end", fmt::format("attempt={} ok={} recovering_cleared={} error=\"{}\"", attempt.id_,
                                        outcome.is_ok() ? 1 : 0, owned ? 1 : 0, outcome.message()));
}

// ==== construction, ids ===========================================================================

struct Replication::Session {
  std::uint64_t id = 0;
  std::string replica_id;
  std::string host;
  std::uint16_t port = 0;
  std::shared_ptr<Connection> conn;
  std::unique_ptr<Event> wake;
  std::uint64_t sent = 0;
  std::uint64_t acked = 0;
  bool getack = false;  // a WAIT asked for the replica's tail: send REPLCONF GETACK once caught up
  bool online = false;
  bool closed = false;
  SyncMode mode = SyncMode::full;
};

Replication::Replication(Store& store) : store_(store), env_(store.env_), retry_wake_(store.env_.make_event()) {}

Replication::~Replication() = default;

std::string Replication::new_replid() { return store_.new_random_id(); }

Status Replication::save_ids(const ReplicationIds& ids) {
  return save_small_file(env_, std::string(kReplStateFile), ids.serialize());
}

Status Replication::begin_new_history(std::string_view reason) {
  ReplicationIds next;
  next.replid2 = ids_.replid;
  next.offset2 = store_.aof_tail_address();
  next.replid = new_replid();
  env_.log("repl.history.new", fmt::format("reason=\"{}\" replid={} replid2={} offset2={}", reason, next.replid,
                                           next.replid2, next.offset2));
  // In memory first: whatever happens to the file, records from here on are the new history's.
  ids_ = next;
  return save_ids(next);
}

// ==== recovery ====================================================================================

namespace {

struct FullSyncIntent {
  ReplicationIds ids;
  std::uint64_t decree = 0;
  std::uint64_t address = 0;
  std::string checkpoint;  // file name, or "-" when the snapshot was empty (decree 0)

  std::string serialize() const {
    return ids.serialize() + fmt::format("decree {}\naddress {}\ncheckpoint {}\n", decree, address, checkpoint);
  }
  static Result<FullSyncIntent> parse(std::string_view text) {
    auto ids = ReplicationIds::parse(text);
    if (!ids) return ids.status();
    FullSyncIntent in;
    in.ids = std::move(ids.value());
    bool have_decree = false;
    bool have_address = false;
    for (const std::string& line : split_words_lines(text)) {
      const std::vector<std::string> w = split_words(line);
      if (w.size() != 2) continue;
      if (w[0] == "decree") {
        const auto v = parse_u64(w[1]);
        have_decree = v.has_value();
        in.decree = v.value_or(0);
      } else if (w[0] == "address") {
        const auto v = parse_u64(w[1]);
        have_address = v.has_value();
        in.address = v.value_or(0);
      } else if (w[0] == "checkpoint") {
        in.checkpoint = w[1];
      }
    }
    if (!have_decree || !have_address || in.checkpoint.empty()) {
      return Status(Err::invalid, "full sync intent: missing decree, address or checkpoint line");
    }
    return in;
  }
};

// Removes every checkpoint file except keep (which may be "-": remove them all).
Status remove_checkpoints_except(Env& env, const std::string& keep) {
  auto listed = list_checkpoints(env);
  if (!listed) return listed.status();
  bool removed = false;
  for (const CheckpointInfo& info : listed.value()) {
    if (info.file_name == keep) continue;
    if (Status s = env.remove(info.file_name); !s && s.code() != Err::not_found) return s;
    removed = true;
  }
  return removed ? env.sync_dir() : Status::ok();
}

}  // namespace

Status Replication::prepare_recovery() {
  const std::string name(kFullSyncIntentFile);
  auto body = load_small_file(env_, name);
  if (!body) {
    // Written atomically, so damage means the disk: the old data is intact only if the new
    // checkpoint is not the newest; we cannot tell, so an operator decides.
    return Status(body.code(), fmt::format("refusing to start: {}; if the newest checkpoint file is the one a "
                                           "full sync was installing, remove the other checkpoints and {}; "
                                           "otherwise remove {}",
                                           body.status().message(), name, name));
  }
  if (!body->has_value()) return Status::ok();
  auto intent = FullSyncIntent::parse(**body);
  if (!intent) return Status(intent.code(), fmt::format("refusing to start: {}: {}", name, intent.status().message()));
  auto listed = list_checkpoints(env_);
  if (!listed) return listed.status();
  bool durable = intent->checkpoint == "-";
  if (!durable && !listed->empty()) {
    const CheckpointInfo& newest = listed->front();
    durable = newest.file_name == intent->checkpoint && newest.meta.decree == intent->decree &&
              newest.meta.aof_address == intent->address;
  }
  if (!durable) {
    // The new checkpoint never became durable: the old data is untouched; forget the attempt.
    env_.log("repl.fullsync.abandoned", fmt::format("checkpoint={} decree={}", intent->checkpoint, intent->decree));
    return remove_small_file(env_, name);
  }
  if (Status st = remove_checkpoints_except(env_, intent->checkpoint); !st) return st;
  env_.log("repl.fullsync.resume", fmt::format("checkpoint={} decree={} address={}", intent->checkpoint,
                                               intent->decree, intent->address));
  pending_intent_ = std::move(**body);
  return Status::ok();
}

Status Replication::finish_recovery() {
  if (pending_intent_.empty()) return Status::ok();
  auto intent = FullSyncIntent::parse(pending_intent_);
  REPLSIM_CHECK(env_, intent.is_ok(), "full sync intent parsed before but not now");
  Aof& aof = *store_.aof_;
  const bool already = aof.begin_address() == intent->address && aof.tail_address() == intent->address &&
                       aof.last_decree() == intent->decree;
  if (!already) {
    if (Status st = aof.reset_to(intent->address, intent->decree); !st) {
      return Status(st.code(), fmt::format("refusing to start: finishing an interrupted full sync: {}", st.message()));
    }
  }
  if (Status st = save_ids(intent->ids); !st) return st;
  ids_ = intent->ids;
  if (Status st = remove_small_file(env_, std::string(kFullSyncIntentFile)); !st) return st;
  pending_intent_.clear();
  recovered_ids_ = true;
  return Status::ok();
}

Status Replication::load_ids(bool starts_as_primary, const std::string& checkpoint_replid) {
  if (!recovered_ids_) {
    auto body = load_small_file(env_, std::string(kReplStateFile));
    std::optional<ReplicationIds> loaded;
    if (body && body->has_value()) {
      auto parsed = ReplicationIds::parse(**body);
      if (parsed) loaded = std::move(parsed.value());
    }
    if (!body || (body->has_value() && !loaded)) {
      // Only partial syncs depend on these ids: a new history costs a full sync, never data.
      env_.log("repl.ids.unreadable", fmt::format("file={} reason=\"{}\"", kReplStateFile,
                                                  body ? "does not parse" : body.status().message()));
    }
    if (loaded) {
      ids_ = std::move(*loaded);
    } else {
      ids_ = ReplicationIds{};
      ids_.replid = checkpoint_replid.empty() ? new_replid() : checkpoint_replid;
      if (!starts_as_primary) {
        if (Status st = save_ids(ids_); !st) return st;
      }
    }
  }
  // A primary that restarts may have lost an unsynced suffix that its replicas hold; records it writes
  // now must not be taken for the same history, so it starts a new one that shares the old up to
  // its recovered tail.
  if (starts_as_primary) return begin_new_history("restart as primary");
  return Status::ok();
}

// ==== replica side ================================================================================

void Replication::start_sync(const SyncTarget& target, std::string_view reason) {
  ++generation_;
  if (sync_conn_ != nullptr) sync_conn_->close();
  retry_wake_->set();
  const std::uint64_t attempt_id = next_attempt_id_++;
  recovering_ = true;
  recovering_attempt_ = attempt_id;
  target_ = target;
  state_ = SyncState::connecting;
  env_.log("repl.sync.start", fmt::format("primary={} address={}:{} reason=\"{}\" generation={}", target.primary_id,
                                          target.host, target.port, reason, generation_));
  const std::uint64_t generation = generation_;
  env_.spawn("repl-sync", [this, generation, target, attempt_id] {
    retry_wake_->reset();
    sync_task(generation, target, attempt_id);
  });
}

void Replication::stop_sync(std::string_view reason) {
  if (!target_ && !recovering_) return;
  // KNOWN BUG stuck-recovering (incident 001): with no sync task left, Garnet's config changes never
  // looked at the flag, so nothing cleared it.
  if (!target_ && store_.config_.known_bugs.stuck_recovering) return;
  ++generation_;
  if (sync_conn_ != nullptr) sync_conn_->close();
  retry_wake_->set();
  const bool was_recovering = recovering_;
  // The abort ends the attempt's hold on the flag; the attempt, when its task notices, ends without
  // touching it again.
  recovering_ = false;
  recovering_attempt_ = 0;
  target_.reset();
  state_ = SyncState::none;
  env_.log("repl.sync.stop", fmt::format("reason=\"{}\" recovering_cleared={}", reason, was_recovering ? 1 : 0));
}

void Replication::sync_task(std::uint64_t generation, SyncTarget target, std::uint64_t first_attempt) {
  std::uint64_t attempt_id = first_attempt;
  int failures = 0;
  while (!stopping_ && generation == generation_) {
    Status outcome;
    bool attached = false;  // the attempt synced (and then, maybe, lost its stream)
    {
      Attempt attempt(*this, attempt_id);
      attempt_id = 0;
      outcome = run_attempt(generation, target, attempt);
      attached = attempt.ended();
      if (generation != generation_) outcome = Status(Err::closed, "sync aborted: " + outcome.message());
      if (!attempt.ended()) end_attempt(attempt, outcome);
    }
    if (stopping_ || generation != generation_) return;
    const KnownBugs& bugs = store_.config_.known_bugs;
    if (!outcome.is_ok() && !attached && (bugs.stuck_recovering || bugs.failed_attach_resets_role)) {
      // KNOWN BUGs stuck-recovering (incident 001) and failed-attach-resets-role (incident 002): Garnet
      // gave up on a failed attach by making the node a primary again, on disk, instead of keeping
      // its role and retrying. Its role reset did not clear the recovering flag either (the fix of
      // garnet #227 clears it wherever the role is reset).
      store_.bug_reset_role_after_failed_attach();
      if (bugs.stuck_recovering) {
        // The flag the attach set when it began stays set: nothing on Garnet's path cleared it.
        recovering_ = true;
        env_.log("repl.bug.stuck_recovering", "recovering=1 role=primary");
      }
      return;
    }
    state_ = SyncState::retrying;
    last_link_error_ = outcome.message();
    ++failures;
    retry_wake_->wait(failures <= kFastRetries ? kRetryFast : kRetrySlow);
    retry_wake_->reset();
  }
}

Result<RespValue> Replication::read_value(Connection& conn, RespReplyParser& parser, Nanos timeout) {
  const LocalTime deadline = env_.now() + timeout;
  for (;;) {
    if (auto value = parser.next()) return std::move(*value);
    if (parser.failed()) return Status(Err::invalid, "malformed data from the primary: " + parser.error());
    const Nanos left = deadline - env_.now();
    if (left <= Nanos::zero()) return Status(Err::timeout, "no data from the primary in time");
    auto data = conn.recv(kRecvChunkBytes, left);
    if (!data) return data.status();
    parser.feed(data.value());
  }
}

Status Replication::run_attempt(std::uint64_t generation, const SyncTarget& target, Attempt& attempt) {
  if (store_.config_.known_bugs.failed_attach_resets_role) {
    // KNOWN BUG failed-attach-resets-role (incident 002): the attach drops the replica's data before
    // the new data is in hand, so an attach that fails leaves the node with nothing.
    store_.keyspace_.clear();
    env_.log("repl.bug.wipe", fmt::format("attempt={}", attempt.id()));
  }
  state_ = SyncState::connecting;
  sync_total_bytes_ = 0;
  sync_read_bytes_ = 0;
  sync_last_io_ = env_.now();
  auto opened = env_.connect(target.host, target.port, kConnectTimeout);
  if (!opened) {
    return Status(opened.code(), fmt::format("cannot connect to primary {}:{}: {}", target.host, target.port,
                                             opened.status().message()));
  }
  std::unique_ptr<Connection> conn = std::move(opened.value());
  if (generation != generation_) return Status(Err::closed, "sync aborted");
  // An abort (new REPLICATE, RESET, failover) closes this connection to end the attempt at once.
  struct Registered {
    Replication& r;
    Registered(Replication& rr, Connection* c) : r(rr) { r.sync_conn_ = c; }
    ~Registered() { r.sync_conn_ = nullptr; }
  } registered(*this, conn.get());

  RespReplyParser parser;
  if (!store_.config_.requirepass.empty()) {
    // Like Redis's masterauth, with the cluster's shared password.
    if (Status st = conn->send(encode_command({"AUTH", store_.config_.requirepass})); !st) return st;
    auto authed = read_value(*conn, parser, kHandshakeTimeout);
    if (!authed || authed->is_error()) {
      return Status(Err::invalid, fmt::format("primary {}:{} refused AUTH: {}", target.host, target.port,
                                              authed ? authed->text : authed.status().message()));
    }
  }
  SyncRequest request;
  request.replica_id = store_.cluster_.my_id();
  request.host = env_.host();
  request.port = store_.config_.port;
  request.ids = ids_;
  request.aof_tail = store_.aof_tail_address();
  request.last_decree = store_.last_decree();
  env_.log("repl.sync.request", fmt::format("primary={}:{} tail={} decree={} replid={}", target.host, target.port,
                                            request.aof_tail, request.last_decree, request.ids.replid));
  if (Status st = conn->send(encode_command(request.to_argv())); !st) {
    return Status(st.code(), fmt::format("cannot send the sync request to {}:{}: {}", target.host, target.port,
                                         st.message()));
  }
  auto header = read_value(*conn, parser, kHandshakeTimeout);
  if (!header) {
    return Status(header.code(), fmt::format("primary {}:{} did not answer the sync request: {}", target.host,
                                             target.port, header.status().message()));
  }
  if (header->is_error()) {
    return Status(Err::invalid, fmt::format("primary {}:{} refused the sync: {}", target.host, target.port,
                                            header->text));
  }
  const std::vector<std::string> words = split_words(header->text);
  Status synced;
  if (!words.empty() && words[0] == "FULLSYNC") {
    synced = receive_full_sync(generation, *conn, parser, words);
  } else if (!words.empty() && words[0] == "CONTINUE") {
    synced = accept_partial_sync(generation, words);
  } else {
    synced = Status(Err::invalid, fmt::format("unexpected answer to the sync request: {}", header->to_display()));
  }
  if (!synced) return synced;
  // In sync. Anything this node served as a primary before is over: its AOF now follows another.
  close_sessions("this node is now a replica");
  end_attempt(attempt, Status::ok());
  state_ = SyncState::streaming;
  return stream(generation, *conn, parser);
}

Status Replication::receive_full_sync(std::uint64_t generation, Connection& conn, RespReplyParser& parser,
                                      const std::vector<std::string>& header) {
  // FULLSYNC <replid> <replid2|-> <offset2> <decree> <address> <bytes>
  const auto offset2 = header.size() == 7 ? parse_u64(header[3]) : std::nullopt;
  const auto decree = header.size() == 7 ? parse_u64(header[4]) : std::nullopt;
  const auto address = header.size() == 7 ? parse_u64(header[5]) : std::nullopt;
  const auto total = header.size() == 7 ? parse_u64(header[6]) : std::nullopt;
  if (!offset2 || !decree || !address || !total) {
    return Status(Err::invalid, "malformed FULLSYNC header from the primary");
  }
  ReplicationIds ids;
  ids.replid = header[1];
  ids.replid2 = from_dash(header[2]);
  ids.offset2 = *offset2;
  state_ = SyncState::transfer;
  sync_total_bytes_ = *total;
  sync_read_bytes_ = 0;
  std::string payload;
  while (payload.size() < *total) {
    auto chunk = read_value(conn, parser, kHandshakeTimeout);
    if (!chunk) {
      return Status(chunk.code(), fmt::format("full sync transfer failed after {} of {} bytes: {}", payload.size(),
                                              *total, chunk.status().message()));
    }
    if (generation != generation_) return Status(Err::closed, "sync aborted during the transfer");
    if (chunk->type != RespValue::Type::bulk || payload.size() + chunk->text.size() > *total) {
      return Status(Err::invalid, fmt::format("full sync transfer: unexpected data after {} of {} bytes",
                                              payload.size(), *total));
    }
    payload += chunk->text;
    sync_read_bytes_ = payload.size();
    sync_last_io_ = env_.now();
  }
  state_ = SyncState::installing;
  return install_full_sync(generation, ids, *decree, *address, std::move(payload));
}

Status Replication::install_full_sync(std::uint64_t generation, const ReplicationIds& ids, std::uint64_t decree,
                                      std::uint64_t address, std::string payload) {
  // The new data is in hand and verified before anything of the old is touched.
  auto keyspace = Keyspace::deserialize(payload);
  if (!keyspace) {
    return Status(Err::invalid, fmt::format("the checkpoint from the primary (decree {}) does not decode: {}",
                                            decree, keyspace.status().message()));
  }
  FiberLock lock(store_.mutex_);
  if (!lock.owns()) return Status(Err::shutdown, "the node is shutting down");
  if (generation != generation_) return Status(Err::closed, "sync aborted before the install");
  FullSyncIntent intent;
  intent.ids = ids;
  intent.decree = decree;
  intent.address = address;
  intent.checkpoint = decree > 0 ? checkpoint_file_name(decree) : "-";
  // 1. The intent: from here a restart finishes the install once the checkpoint is durable.
  if (Status st = save_small_file(env_, std::string(kFullSyncIntentFile), intent.serialize()); !st) {
    return Status(st.code(), fmt::format("full sync install: {}", st.message()));
  }
  // 2. The checkpoint (the newest generation from now on).
  if (decree > 0) {
    CheckpointMeta meta{ids.replid, decree, address};
    CheckpointConfig cp_config;
    cp_config.checkpoints_retained = store_.config_.checkpoints_retained;
    auto written = write_checkpoint(env_, meta, payload, cp_config);
    if (!written) {
      (void)remove_small_file(env_, std::string(kFullSyncIntentFile));
      return Status(written.code(), fmt::format("full sync install: writing the checkpoint failed: {}; the old "
                                                "data is kept",
                                                written.status().message()));
    }
  }
  // 3. Checkpoints of the old history would not match the new AOF.
  if (Status st = remove_checkpoints_except(env_, intent.checkpoint); !st) {
    store_.stop_on_aof_failure(st, "removing old checkpoints during a full sync");
  }
  // 4. The AOF restarts at the checkpoint's address (atomic across crashes through aof.intent).
  if (Status st = store_.aof_->reset_to(address, decree); !st) store_.stop_on_aof_failure(st, "full sync reset");
  // 5. The ids, then the intent goes: after this a restart must not reset the AOF again.
  if (Status st = save_ids(ids); !st) {
    env_.log("repl.ids.save_failed", fmt::format("error=\"{}\"", st.message()));
  }
  if (Status st = remove_small_file(env_, std::string(kFullSyncIntentFile)); !st) {
    store_.stop_on_aof_failure(st, "removing the full sync intent");
  }
  ids_ = ids;
  store_.keyspace_ = std::move(keyspace.value());
  store_.last_checkpoint_decree_ = decree;
  store_.last_checkpoint_address_ = address;
  if (Status st = store_.refresh_checkpoint_list(); !st) {
    env_.log("store.checkpoint.list_failed", fmt::format("error=\"{}\"", st.message()));
  }
  ++full_syncs_;
  last_sync_mode_ = "full";
  env_.log("repl.fullsync.installed", fmt::format("decree={} address={} bytes={} replid={}", decree, address,
                                                  payload.size(), ids.replid));
  return Status::ok();
}

Status Replication::accept_partial_sync(std::uint64_t generation, const std::vector<std::string>& header) {
  // CONTINUE <replid> <replid2|-> <offset2> <address>
  const auto offset2 = header.size() == 5 ? parse_u64(header[3]) : std::nullopt;
  const auto address = header.size() == 5 ? parse_u64(header[4]) : std::nullopt;
  if (!offset2 || !address) return Status(Err::invalid, "malformed CONTINUE header from the primary");
  ReplicationIds ids;
  ids.replid = header[1];
  ids.replid2 = from_dash(header[2]);
  ids.offset2 = *offset2;
  if (store_.config_.known_bugs.replica_restart_writes_locally && *address != store_.aof_tail_address()) {
    return bug_continue_at_primary_address(generation, ids, *address);
  }
  FiberLock lock(store_.mutex_);
  if (!lock.owns()) return Status(Err::shutdown, "the node is shutting down");
  if (generation != generation_) return Status(Err::closed, "sync aborted");
  if (*address != store_.aof_tail_address()) {
    return Status(Err::invalid, fmt::format("the primary continues at address {} but this AOF ends at {}", *address,
                                            store_.aof_tail_address()));
  }
  if (ids != ids_) {
    if (Status st = save_ids(ids); !st) return Status(st.code(), fmt::format("partial sync: {}", st.message()));
    ids_ = ids;
  }
  ++partial_syncs_;
  last_sync_mode_ = "partial";
  env_.log("repl.partialsync.accepted", fmt::format("address={} replid={}", *address, ids.replid));
  return Status::ok();
}

Status Replication::bug_continue_at_primary_address(std::uint64_t generation, const ReplicationIds& ids,
                                                    std::uint64_t address) {
  // KNOWN BUG replica-restart-writes-locally (incident 003): a kvrocks replica's position was its
  // sequence number, so whatever the primary continued after was where it stood. In this store's
  // address-based log that means taking the primary's address as its own: the replica keeps its
  // keyspace as the state at its last decree and restarts its AOF at the primary's address, through
  // the crash-safe install of a full sync (its own data as the checkpoint).
  std::string payload;
  std::uint64_t decree = 0;
  {
    FiberLock lock(store_.mutex_);
    if (!lock.owns()) return Status(Err::shutdown, "the node is shutting down");
    if (generation != generation_) return Status(Err::closed, "sync aborted");
    payload = store_.keyspace_.serialize();
    decree = store_.last_decree();
  }
  env_.log("repl.bug.continue_by_decree", fmt::format("decree={} own_tail={} primary_address={}", decree,
                                                      store_.aof_tail_address(), address));
  if (Status st = install_full_sync(generation, ids, decree, address, std::move(payload)); !st) return st;
  // It is the partial sync the primary chose, not a transfer.
  --full_syncs_;
  ++partial_syncs_;
  last_sync_mode_ = "partial";
  return Status::ok();
}

Status Replication::stream(std::uint64_t generation, Connection& conn, RespReplyParser& parser) {
  link_last_io_ = env_.now();
  // The encoding of REPLCONF ACK <tail> built in place, with no argv; sent when the link starts,
  // when the primary asks, and otherwise at most once per kAckInterval.
  std::string ack_message;
  LocalTime last_ack{};
  auto ack = [&]() {
    ack_message.assign("*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n");
    append_bulk(ack_message, std::to_string(store_.aof_tail_address()));
    last_ack = env_.now();
    return conn.send(ack_message);
  };
  if (Status st = ack(); !st) return Status(st.code(), "lost the link to the primary: " + st.message());
  for (;;) {
    auto value = read_value(conn, parser, kStreamIdleTimeout);
    if (!value) return Status(value.code(), "lost the link to the primary: " + value.status().message());
    if (generation != generation_ || stopping_) return Status(Err::closed, "sync stopped");
    link_last_io_ = env_.now();
    const std::vector<RespValue>& items = value->elements;
    const bool is_array = value->type == RespValue::Type::array && !items.empty();
    bool asked = false;
    if (is_array && items.size() == 3 && items[0].text == "AOF") {
      const auto address = parse_u64(items[1].text);
      if (!address) return Status(Err::invalid, "malformed AOF message from the primary");
      if (Status st = apply_stream_chunk(generation, *address, items[2].text); !st) return st;
    } else if (is_array && items.size() == 3 && items[0].text == "REPLCONF" && items[1].text == "GETACK") {
      asked = true;
    } else if (!(is_array && items.size() == 1 && items[0].text == "PING")) {
      return Status(Err::invalid, fmt::format("unexpected message from the primary: {}", value->to_display()));
    }
    if (asked || env_.now() - last_ack >= kAckInterval) {
      if (Status st = ack(); !st) return Status(st.code(), "lost the link to the primary: " + st.message());
    }
  }
}

Status Replication::apply_stream_chunk(std::uint64_t generation, std::uint64_t address, std::string_view bytes) {
  FiberLock lock(store_.mutex_);
  if (!lock.owns()) return Status(Err::shutdown, "the node is shutting down");
  if (generation != generation_) return Status(Err::closed, "sync stopped");
  Aof& aof = *store_.aof_;
  if (address != aof.tail_address()) {
    return Status(Err::invalid, fmt::format("the primary's stream continues at address {} but this AOF ends at {}",
                                            address, aof.tail_address()));
  }
  const Status appended = aof.append_raw(address, bytes);
  if (!appended && !aof.write_error().is_ok()) store_.stop_on_aof_failure(appended, "append_raw");
  // A chunk that crosses a segment end is written segment by segment, so a failed append may have
  // put its first records into the log already. Those are applied like any others before the error
  // goes back: the keyspace must hold exactly what the log holds, or this replica would resume at the
  // new tail with records it never applied.
  if (!appended && aof.tail_address() == address) {
    return Status(appended.code(), fmt::format("refused the primary's AOF bytes at {}: {}", address,
                                               appended.message()));
  }
  Status failure;
  // One argv for every record of the chunk: assigning over its strings reuses their buffers.
  std::vector<std::string> argv;
  // The records are applied from the chunk in memory, not read back from the files: append_raw
  // verified them before writing, and scan_taken covers exactly what it wrote.
  Status scanned = aof.scan_taken(address, bytes, [&](const AofRecord& record) {
    argv.assign(record.argv.begin(), record.argv.end());
    if (Status st = apply_effect(store_.keyspace_, argv); !st) {
      failure = Status(st.code(), fmt::format("record at address {} (decree {}): {}", record.address, record.decree,
                                              st.message()));
      return false;
    }
    return true;
  });
  // The primary applied these records to the same keyspace: failing here means the copies diverged.
  REPLSIM_CHECK(env_, failure.is_ok(), "replicated record does not apply: " + failure.message());
  if (!scanned) store_.stop_on_aof_failure(scanned, "applying replicated records");
  if (store_.config_.appendfsync == FsyncPolicy::always) {
    if (Status st = aof.sync(); !st) store_.stop_on_aof_failure(st, "sync of replicated records");
  }
  store_.after_replicated_write();
  if (!appended) {
    return Status(appended.code(), fmt::format("took the primary's AOF bytes at {} only up to {}: {}", address,
                                               aof.tail_address(), appended.message()));
  }
  return Status::ok();
}

// ==== primary side ================================================================================

void Replication::serve_replica(std::unique_ptr<Connection> conn, const SyncRequest& request) {
  auto session = std::make_shared<Session>();
  session->id = next_session_id_++;
  session->replica_id = request.replica_id;
  session->host = request.host;
  session->port = request.port;
  session->conn = std::shared_ptr<Connection>(std::move(conn));
  session->wake = env_.make_event();
  struct Registered {
    Replication& r;
    std::uint64_t id;
    ~Registered() { r.sessions_.erase(id); }
  } registered{*this, session->id};
  sessions_.emplace(session->id, session.get());
  Connection& out = *session->conn;

  SyncDecision decision;
  std::string payload;
  std::uint64_t decree = 0;
  std::uint64_t start = 0;
  ReplicationIds ids;
  {
    FiberLock lock(store_.mutex_);
    if (!lock.owns()) return;
    if (!store_.serves_as_primary()) {
      (void)out.send(encode_error("ERR this node is not a primary; retry against the current primary"));
      out.close();
      return;
    }
    Aof& aof = *store_.aof_;
    ids = ids_;
    std::optional<std::uint64_t> bug_after_decree;
    if (store_.config().known_bugs.replica_restart_writes_locally) {
      // KNOWN BUG replica-restart-writes-locally (incident 003): the replica's position is read as
      // its decree alone (kvrocks's sequence-number psync); see bug_choose_sync_mode_by_decree.
      bug_after_decree = bug_address_after_decree(aof, request.last_decree);
      decision = bug_choose_sync_mode_by_decree(request, aof.base_decree(), aof.last_decree(), bug_after_decree);
    } else {
      std::optional<std::uint64_t> decree_before;
      if (request.aof_tail >= aof.begin_address() && request.aof_tail <= aof.tail_address()) {
        auto d = aof.decree_before(request.aof_tail);
        if (d) decree_before = d.value();
      }
      decision = choose_sync_mode(request, ids, aof.begin_address(), aof.tail_address(), decree_before,
                                  store_.config().known_bugs.failover_replays_diverged_aof);
    }
    if (decision.mode == SyncMode::full) {
      payload = store_.keyspace_.serialize();
      decree = aof.last_decree();
      start = aof.tail_address();
    } else {
      start = bug_after_decree.value_or(request.aof_tail);
    }
  }
  session->mode = decision.mode;
  env_.log("repl.session.begin", fmt::format("replica={}:{} mode={} reason=\"{}\"", request.host, request.port,
                                             sync_mode_name(decision.mode), decision.reason));
  Status st;
  if (decision.mode == SyncMode::full) {
    st = out.send(encode_simple(fmt::format("FULLSYNC {} {} {} {} {} {}", ids.replid, or_dash(ids.replid2), ids.offset2,
                                            decree, start, payload.size())));
    for (std::size_t pos = 0; st && pos < payload.size(); pos += kTransferChunkBytes) {
      st = out.send(encode_bulk(std::string_view(payload).substr(pos, kTransferChunkBytes)));
    }
  } else {
    st = out.send(encode_simple(fmt::format("CONTINUE {} {} {} {}", ids.replid, or_dash(ids.replid2), ids.offset2, start)));
  }
  if (st) {
    session->online = true;
    session->sent = start;
    env_.spawn("repl-acks", [this, session] { ack_reader(session); });
    st = stream_to_replica(*session, start);
  }
  session->closed = true;
  out.close();
  env_.log("repl.session.end", fmt::format("replica={}:{} sent={} acked={} reason=\"{}\"", request.host, request.port,
                                           session->sent, session->acked, st.message()));
}

Status Replication::stream_to_replica(Session& session, std::uint64_t from) {
  std::uint64_t pos = from;
  // The chunk and the message are built in buffers kept across chunks (a few KiB each, and one
  // chunk per write the primary takes).
  std::string bytes;
  std::string message;
  while (!stopping_ && !session.closed) {
    bytes.clear();
    {
      FiberLock lock(store_.mutex_);
      if (!lock.owns()) return Status(Err::shutdown, "the node is shutting down");
      Aof& aof = *store_.aof_;
      if (pos < aof.begin_address() || pos > aof.tail_address()) {
        return Status(Err::invalid, fmt::format("the replica's position {} left this AOF [{}, {}]; it will "
                                                "resync",
                                                pos, aof.begin_address(), aof.tail_address()));
      }
      if (pos < aof.tail_address()) {
        if (Status st = aof.read_raw(pos, kStreamChunkBytes, bytes); !st) return st;
      }
    }
    if (!bytes.empty()) {
      // "AOF <pos> <bytes>" as a three-element array, built in one buffer: the chunk is copied once.
      message.reserve(bytes.size() + 64);
      message.assign("*3\r\n$3\r\nAOF\r\n");
      append_bulk(message, std::to_string(pos));
      append_bulk(message, bytes);
      if (Status st = session.conn->send(message); !st) return st;
      pos += bytes.size();
      session.sent = pos;
      continue;
    }
    if (session.getack) {
      // Everything up to the tail is sent: the replica's answer covers the write a WAIT waits for.
      session.getack = false;
      if (Status st = session.conn->send(encode_command({"REPLCONF", "GETACK", "*"})); !st) return st;
    }
    if (!session.wake->wait(kKeepalive)) {
      if (Status st = session.conn->send(encode_command({"PING"})); !st) return st;
    }
    session.wake->reset();
  }
  return Status(Err::closed, "session closed");
}

void Replication::ack_reader(std::shared_ptr<Session> session) {
  RespRequestParser parser;
  while (!session->closed && !stopping_) {
    auto data = session->conn->recv(kRecvChunkBytes, kForever);
    if (!data) break;
    parser.feed(data.value());
    while (auto argv = parser.next()) {
      if (argv->size() == 3 && lowercase_ascii((*argv)[0]) == "replconf" && lowercase_ascii((*argv)[1]) == "ack") {
        const auto offset = parse_u64((*argv)[2]);
        if (offset && *offset > session->acked) {
          session->acked = *offset;
          for (Event* waiter : ack_waiters_) waiter->set();
        }
      }
    }
    if (parser.failed()) break;
  }
  session->closed = true;
  session->wake->set();
}

void Replication::notify_appended() {
  for (auto& [id, session] : sessions_) session->wake->set();
}

void Replication::close_sessions(std::string_view reason) {
  if (sessions_.empty()) return;
  env_.log("repl.sessions.close", fmt::format("count={} reason=\"{}\"", sessions_.size(), reason));
  for (auto& [id, session] : sessions_) {
    session->closed = true;
    session->conn->close();
    session->wake->set();
  }
}

std::size_t Replication::connected_replicas() const {
  return static_cast<std::size_t>(std::count_if(sessions_.begin(), sessions_.end(), [](const auto& entry) {
    return entry.second->online && !entry.second->closed;
  }));
}

std::size_t Replication::acked_at_least(std::uint64_t offset) const {
  return static_cast<std::size_t>(std::count_if(sessions_.begin(), sessions_.end(), [&](const auto& entry) {
    return entry.second->online && entry.second->acked >= offset;
  }));
}

std::int64_t Replication::wait_for_acks(std::uint64_t offset, std::int64_t replicas, Nanos timeout) {
  std::unique_ptr<Event> event = env_.make_event();
  const auto pos = ack_waiters_.insert(ack_waiters_.end(), event.get());
  struct Leave {
    std::list<Event*>& list;
    std::list<Event*>::iterator pos;
    ~Leave() { list.erase(pos); }
  } leave{ack_waiters_, pos};
  const bool forever = timeout == kForever;
  const LocalTime deadline = forever ? LocalTime{} : env_.now() + timeout;
  for (;;) {
    const auto acked = static_cast<std::int64_t>(acked_at_least(offset));
    if (acked >= replicas || stopping_) return acked;
    // Replicas ack on their own only once per kAckInterval; ask the ones behind for their tail now.
    for (auto& [id, session] : sessions_) {
      if (session->online && !session->closed && session->acked < offset && !session->getack) {
        session->getack = true;
        session->wake->set();
      }
    }
    Nanos left = kForever;
    if (!forever) {
      left = deadline - env_.now();
      if (left <= Nanos::zero()) return acked;
    }
    if (!event->wait(left) && !forever && env_.now() >= deadline) {
      return static_cast<std::int64_t>(acked_at_least(offset));
    }
    event->reset();
  }
}

// ==== INFO, stop ==================================================================================

std::string Replication::info_lines(bool is_primary) const {
  std::string out;
  auto line = [&out](std::string_view key, const auto& value) { append_info_line(out, key, value); };
  const LocalTime now = env_.now();
  const std::uint64_t tail = store_.aof_tail_address();
  const std::uint64_t begin = store_.aof_begin_address();
  if (is_primary) {
    line("connected_slaves", connected_replicas());
    std::size_t k = 0;
    for (const auto& [id, s] : sessions_) {
      if (!s->online || s->closed) continue;
      line(fmt::format("slave{}", k++),
           fmt::format("ip={},port={},state=online,offset={},lag=0", s->host, s->port, s->acked));
    }
  } else {
    line("master_host", target_ ? target_->host : std::string());
    line("master_port", target_ ? target_->port : 0);
    line("master_link_status", link_up() ? "up" : "down");
    line("master_last_io_seconds_ago", link_up() ? seconds_between(link_last_io_, now) : -1);
    line("master_sync_in_progress",
         state_ == SyncState::transfer || state_ == SyncState::installing ? 1 : 0);
    line("slave_read_repl_offset", tail);
    line("slave_repl_offset", tail);
    const std::uint64_t left = sync_total_bytes_ > sync_read_bytes_ ? sync_total_bytes_ - sync_read_bytes_ : 0;
    line("master_sync_total_bytes", sync_total_bytes_);
    line("master_sync_read_bytes", sync_read_bytes_);
    line("master_sync_left_bytes", left);
    line("master_sync_perc",
         fmt::format("{:.2f}", sync_total_bytes_ == 0 ? 0.0
                                                      : 100.0 * static_cast<double>(sync_read_bytes_) /
                                                            static_cast<double>(sync_total_bytes_)));
    line("master_sync_last_io_seconds_ago", seconds_between(sync_last_io_, now));
    line("slave_priority", 100);
    line("slave_read_only", 1);
    line("connected_slaves", 0);
  }
  line("master_failover_state", "no-failover");
  line("master_replid", ids_.replid);
  line("master_replid2", ids_.replid2.empty() ? std::string(40, '0') : ids_.replid2);
  line("master_repl_offset", tail);
  line("second_repl_offset", ids_.replid2.empty() ? std::int64_t{-1} : static_cast<std::int64_t>(ids_.offset2));
  line("repl_backlog_active", 1);
  line("repl_backlog_size", tail - begin);
  line("repl_backlog_first_byte_offset", begin);
  line("repl_backlog_histlen", tail - begin);
  line("recovering", recovering_ ? 1 : 0);
  line("sync_state", sync_state_name(state_));
  line("last_sync_error", one_line_text(last_sync_error_));
  line("last_link_error", one_line_text(last_link_error_));
  line("last_sync_mode", last_sync_mode_);
  line("sync_attempts", attempts_started_);
  line("full_syncs", full_syncs_);
  line("partial_syncs", partial_syncs_);
  return out;
}

void Replication::stop() {
  if (stopping_) return;
  stopping_ = true;
  ++generation_;
  if (sync_conn_ != nullptr) sync_conn_->close();
  retry_wake_->set();
  close_sessions("the node is stopping");
}

}  // namespace replsim::core
