// core/duplication.cpp — cross-cluster duplication: the DUPLICATION commands, the source's duplicator
// (INIT -> PREPARE -> APP -> LOG) and the target's at-most-once apply. See core/doc/duplication.md.
#include "core/duplication.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <utility>

#include "core/check.h"
#include "core/checkpoint.h"
#include "core/cluster_config.h"
#include "core/commands.h"
#include "core/small_file.h"
#include "core/store.h"

namespace replsim::core {

namespace {

using std::chrono::milliseconds;

// How often a duplication that is not shipping takes its next step (Pegasus's duplication sync
// timer, which moves a duplication from one state to the next, runs every 10 s; simulations need it
// shorter). PREPARE therefore lasts at least one round: the checkpoint, then the target.
constexpr Nanos kSyncInterval = milliseconds(1000);
// LOG: how often to look for newly durable records once everything was shipped.
constexpr Nanos kLogPoll = milliseconds(50);
// LOG: the confirmed decree is persisted at most this often while records flow (and when LOG stops).
constexpr Nanos kPersistInterval = milliseconds(200);
// After a failed step: the first retry, doubling up to the last.
constexpr Nanos kBackoffMin = milliseconds(200);
constexpr Nanos kBackoffMax = milliseconds(2000);
constexpr Nanos kConnectTimeout = milliseconds(1000);
constexpr Nanos kReplyTimeout = milliseconds(2000);
constexpr std::size_t kRecvChunkBytes = 64 * 1024;
constexpr int kMaxRedirects = 5;
// LOG reads at most this much of the AOF at a time.
constexpr std::size_t kBatchRecords = 64;
constexpr std::size_t kBatchBytes = 64 * 1024;
// LOG: how often every open link is asked whether its node changed role or history.
constexpr Nanos kLinkCheckInterval = milliseconds(1000);
// LOG: slots verified again (after a target node changed) between two batches at most.
constexpr std::size_t kVerifySlotsPerRound = 64;
// Streams a target node remembers a handshake for (more only after a clear: sources handshake again).
constexpr std::size_t kMaxSessions = 1024;

std::string errmsg(std::string_view text) { return encode_error(text); }

std::string no_such(std::string_view id) {
  return errmsg(fmt::format("ERR no such duplication '{}' (DUPLICATION LIST shows them)", id));
}

// "host:port" -> (host, port); nullopt when it is not one.
std::optional<std::pair<std::string, std::uint16_t>> split_address(std::string_view address) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const auto port = parse_int64_strict(address.substr(colon + 1));
  if (!port || *port <= 0 || *port > 65535) return std::nullopt;
  return std::pair{std::string(address.substr(0, colon)), static_cast<std::uint16_t>(*port)};
}

// The slots of `slots` as "first-last" ranges.
std::vector<std::string> slot_ranges(const std::vector<int>& slots) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < slots.size()) {
    std::size_t j = i;
    while (j + 1 < slots.size() && slots[j + 1] == slots[j] + 1) ++j;
    out.push_back(fmt::format("{}-{}", slots[i], slots[j]));
    i = j + 1;
  }
  return out;
}

// The commands that make a target hold exactly `value` under `key`: a string is one SET (keeping its
// expiry); a list is a DEL and RPUSHes of at most chunk_bytes each.
std::vector<std::vector<std::string>> restore_commands(const std::string& key, const Value& value,
                                                       std::size_t chunk_bytes) {
  std::vector<std::vector<std::string>> out;
  if (value.type() == ValueType::string) {
    std::vector<std::string> set{"SET", key, value.str()};
    if (value.expire_at_ms) {
      set.emplace_back("PXAT");
      set.push_back(std::to_string(*value.expire_at_ms));
    }
    out.push_back(std::move(set));
    return out;
  }
  out.push_back({"DEL", key});
  std::vector<std::string> push{"RPUSH", key};
  std::size_t bytes = 0;
  for (const std::string& element : value.list()) {
    if (push.size() > 2 && bytes + element.size() > chunk_bytes) {
      out.push_back(std::move(push));
      push = {"RPUSH", key};
      bytes = 0;
    }
    push.push_back(element);
    bytes += element.size() + 8;
  }
  out.push_back(std::move(push));
  return out;
}

std::string quote(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += (c == '\n' || c == '\r') ? ' ' : c;
  }
  out += '"';
  return out;
}

}  // namespace

Duplication::Duplication(Store& store) : store_(store), env_(store.env_), mutex_(store.env_) {}

Duplication::~Duplication() = default;

// ==== life cycle ==================================================================================

Status Duplication::load() {
  auto body = load_small_file(env_, std::string(kDupStateFile));
  if (!body) {
    return Status(body.code(), fmt::format("refusing to start: {} cannot be read: {}; remove it to forget "
                                           "every duplication of this node",
                                           kDupStateFile, body.status().message()));
  }
  if (!body.value()) return Status::ok();
  auto entries = parse_dup_entries(**body);
  if (!entries) return Status(entries.code(), "refusing to start: " + entries.status().message());
  const std::uint64_t last_applied = store_.aof_->last_decree();
  for (DupEntry& e : entries.value()) {
    auto d = std::make_shared<Duplicator>();
    d->status.entry = std::move(e);
    d->wake = env_.make_event();
    if (!store_.config_.known_bugs.duplication_decree_reset) {
      // Rebuilt, not remembered: every field used after a restart must be persisted or rebuilt
      // (pegasus #2097). The checkpoint may therefore be newer than the one before the restart.
      d->status.min_checkpoint_decree = static_cast<std::int64_t>(std::max<std::uint64_t>(last_applied, 1));
    }
    // KNOWN BUG duplication-decree-reset (incident 004): with the switch on, min_checkpoint_decree is
    // only ever set by ADD, so after a restart it is the invalid decree -1 (pegasus #2098).
    env_.log("dup.load", fmt::format("id={} state={} confirmed_decree={} min_checkpoint_decree={}", d->status.entry.id,
                                     dup_state_name(d->status.entry.state), d->status.entry.confirmed_decree,
                                     d->status.min_checkpoint_decree));
    if (d->status.entry.state == DupState::prepare) {
      // Pegasus's duplicator resumed PREPARE in its constructor and asserted there.
      check_min_checkpoint_decree(*d, "load");
    }
    dups_.emplace(d->status.entry.id, std::move(d));
  }
  return Status::ok();
}

void Duplication::start() {
  started_ = true;
  for (auto& [id, d] : dups_) spawn(d);
  // A replica promoted (or this node's ADD) just before a crash: take over what it did not yet run.
  if (store_.serves_as_primary() && adoption_needed()) env_.spawn("dup-adopt", [this] { adopt(); });
}

namespace {

// A duplication whose node stopped being a primary: paused for good, with the cursor's progress kept.
void orphan_entry(DupEntry& e, bool cursor, std::uint64_t decree, std::uint64_t address) {
  e.state = DupState::pause;
  e.orphaned = true;
  if (cursor && e.log_started && decree > e.confirmed_decree) {
    e.confirmed_decree = decree;
    e.confirmed_address = address;
  }
}

constexpr std::string_view kOrphanedError =
    "this node is no longer a primary; the shard's new primary takes the duplication over";

}  // namespace

void Duplication::role_changed() {
  if (!started_ || stopping_) return;
  if (store_.serves_as_primary()) {
    if (adoption_needed()) env_.spawn("dup-adopt", [this] { adopt(); });
    return;
  }
  bool any = false;
  for (auto& [id, d] : dups_) {
    DupEntry& e = d->status.entry;
    if (e.state == DupState::removed || e.orphaned) continue;
    // In memory first: the sync that follows a demotion may replace the AOF at once, and from then
    // on nothing of this duplication (its decrees, its cursor) belongs to the node's history.
    ++d->generation;
    d->wake->set();
    for (auto& [address, link] : d->links) {
      if (link->conn) link->conn->close();
    }
    orphan_entry(e, d->cursor_set, d->cursor_decree, d->cursor_address);
    d->status.last_error = std::string(kOrphanedError);
    d->app_address = UINT64_MAX;
    env_.log("dup.orphaned", fmt::format("id={} confirmed_decree={}", id, e.confirmed_decree));
    any = true;
  }
  if (!any) return;
  env_.spawn("dup-orphan", [this] {
    FiberLock lock(mutex_);
    if (!lock.owns()) return;
    std::vector<DupEntry> all;
    for (const auto& [id, d] : dups_) all.push_back(d->status.entry);
    // A failed write is redone by the duplicator's own check when the node starts as a replica.
    (void)persist_locked(all);
  });
}

bool Duplication::adoption_needed() const {
  std::vector<DupEntry> defs = dup_definitions(store_.keyspace_);
  for (const DupEntry& def : defs) {
    auto local = find(def.id);
    if (!local || local->status.entry.orphaned || local->status.entry.state == DupState::removed ||
        local->status.entry.stream != def.stream) {
      return true;
    }
  }
  for (const auto& [id, d] : dups_) {
    if (d->status.entry.orphaned && d->status.entry.state != DupState::removed) return true;
  }
  return false;
}

void Duplication::adopt() {
  FiberLock lock(mutex_);
  if (!lock.owns() || stopping_) return;
  std::map<std::string, DupEntry> next;
  for (const auto& [id, d] : dups_) next[id] = d->status.entry;
  std::map<std::string, std::int64_t> fresh;  // id -> min_checkpoint_decree
  {
    FiberLock store_lock(store_.mutex_);
    if (!store_lock.owns() || !store_.serves_as_primary()) return;
    const std::vector<DupEntry> defs = dup_definitions(store_.keyspace_);
    std::set<std::string> defined;
    Aof& aof = *store_.aof_;
    for (const DupEntry& def : defs) {
      defined.insert(def.id);
      auto local = find(def.id);
      if (local && !local->status.entry.orphaned && local->status.entry.state != DupState::removed &&
          local->status.entry.stream == def.stream) {
        continue;  // this node runs it already (it was the primary that published it)
      }
      if (!local && next.size() >= kMaxDuplications) continue;
      // This node's history is not the one the previous primary shipped: replication is asynchronous,
      // so the target may hold records this node never had, under decrees it reuses. A new stream and a
      // new checkpoint replace the target's data with this node's (as ADD does); without a checkpoint
      // only what is written from now on is shipped.
      if (aof.last_decree() == 0) log_noop_locked();
      if (aof.synced_tail() != aof.tail_address()) {
        if (Status st = aof.sync(); !st) store_.stop_on_aof_failure(st, "sync for a duplication's takeover");
      }
      DupEntry e;
      e.id = def.id;
      e.targets = def.targets;
      e.password = def.password;
      e.with_checkpoint = def.with_checkpoint;
      e.stream = fmt::format("{}.{:016x}", def.id, env_.random_u64());
      if (!e.with_checkpoint) {
        e.log_started = true;
        e.log_start_decree = aof.last_decree();
        e.confirmed_decree = aof.last_decree();
        e.confirmed_address = aof.tail_address();
      }
      e.state = def.state == DupState::pause ? DupState::pause
                                             : (e.with_checkpoint ? DupState::prepare : DupState::log);
      next[def.id] = e;
      fresh[def.id] = static_cast<std::int64_t>(std::max<std::uint64_t>(aof.last_decree(), 1));
    }
    // An orphaned duplication the shard no longer defines was removed on another primary.
    for (auto& [id, e] : next) {
      if (e.orphaned && e.state != DupState::removed && !defined.contains(id)) e.state = DupState::removed;
    }
  }
  std::vector<DupEntry> all;
  for (const auto& [id, e] : next) all.push_back(e);
  bool changed = fresh.size() > 0;
  for (const auto& [id, d] : dups_) changed = changed || !(d->status.entry == next[id]);
  if (!changed) return;
  if (Status st = persist_locked(all); !st) return;  // the next promotion or start tries again
  std::vector<std::shared_ptr<Duplicator>> to_spawn;
  for (auto& [id, e] : next) {
    if (!fresh.contains(id)) {
      auto d = find(id);
      if (d && e.state == DupState::removed && d->status.entry.state != DupState::removed) {
        d->status.entry.state = DupState::removed;
        env_.log("dup.state", fmt::format("id={} why=\"not defined by the shard\" state=PAUSE->REMOVED", id));
      }
      continue;
    }
    if (auto old = find(id)) {
      ++old->generation;  // its task, if any, ends
      old->wake->set();
    }
    auto d = std::make_shared<Duplicator>();
    d->status.entry = e;
    d->status.min_checkpoint_decree = fresh[id];
    d->wake = env_.make_event();
    dups_[id] = d;
    env_.log("dup.adopt", fmt::format("id={} stream={} state={} min_checkpoint_decree={} confirmed_decree={}", id,
                                      e.stream, dup_state_name(e.state), fresh[id], e.confirmed_decree));
    to_spawn.push_back(d);
  }
  (void)publish_definitions();
  for (auto& d : to_spawn) spawn(d);
}

Status Duplication::publish_definitions() {
  FiberLock lock(store_.mutex_);
  if (!lock.owns()) return Status(Err::shutdown, "the node is shutting down");
  if (!store_.serves_as_primary()) return Status::ok();
  std::vector<DupEntry> defs;
  for (const auto& [id, d] : dups_) {
    const DupEntry& e = d->status.entry;
    if (e.state == DupState::removed || e.orphaned) continue;
    defs.push_back(dup_definition_of(e));
  }
  if (defs == dup_definitions(store_.keyspace_)) return Status::ok();
  const std::vector<std::string> record = make_dup_defs_record(defs);
  (void)apply_duplication_record(store_.keyspace_, record);
  return log_durably({record});
}

void Duplication::stop() {
  stopping_ = true;
  for (auto& [id, d] : dups_) {
    d->wake->set();
    for (auto& [address, link] : d->links) {
      if (link->conn) link->conn->close();
    }
  }
}

std::shared_ptr<Duplication::Duplicator> Duplication::find(std::string_view id) const {
  auto it = dups_.find(std::string(id));
  return it == dups_.end() ? nullptr : it->second;
}

std::uint64_t Duplication::aof_needed_from() const {
  std::uint64_t needed = UINT64_MAX;
  for (const auto& [id, d] : dups_) {
    const DupEntry& e = d->status.entry;
    if (e.state == DupState::removed || e.orphaned) continue;
    if (e.log_started) needed = std::min(needed, e.confirmed_address);
    if (e.state == DupState::app) needed = std::min(needed, d->app_address);
  }
  return needed;
}

std::vector<DupStatus> Duplication::statuses() const {
  std::vector<DupStatus> out;
  for (const auto& [id, d] : dups_) out.push_back(d->status);
  return out;
}

std::optional<DupStatus> Duplication::status(std::string_view id) const {
  auto d = find(id);
  if (!d) return std::nullopt;
  return d->status;
}

std::string Duplication::list_text() const {
  std::string out;
  for (const auto& [id, d] : dups_) {
    const DupStatus& s = d->status;
    const DupEntry& e = s.entry;
    std::string targets;
    for (const std::string& t : e.targets) targets += (targets.empty() ? "" : ",") + t;
    out += fmt::format(
        "id={} state={} confirmed_decree={} min_checkpoint_decree={} checkpoint_decree={} shipped_decree={} "
        "checkpoint={} orphaned={} targets={} applied={} already={} rejected={} restored={} last_error={}\n",
        e.id, dup_state_name(e.state), e.confirmed_decree, s.min_checkpoint_decree, s.checkpoint_decree,
        s.shipped_decree, e.with_checkpoint ? "yes" : "no", e.orphaned ? "yes" : "no", targets, s.records_applied,
        s.records_already, s.records_rejected, s.keys_restored, quote(s.last_error));
  }
  return out;
}

// ==== persistence =================================================================================

Status Duplication::persist_locked(const std::vector<DupEntry>& entries) {
  REPLSIM_CHECK(env_, mutex_.is_locked(), "dup.state written without the duplication mutex");
  if (Status st = save_small_file(env_, std::string(kDupStateFile), serialize_dup_entries(entries)); !st) {
    env_.log("dup.persist_failed", fmt::format("error=\"{}\"", st.message()));
    return st;
  }
  return Status::ok();
}

Status Duplication::update(Duplicator& d, std::optional<std::uint64_t> generation, std::string_view why,
                           const std::function<void(DupEntry&)>& change) {
  FiberLock lock(mutex_);
  if (!lock.owns()) return Status(Err::shutdown, "the node is shutting down");
  // A task's change loses to a command (PAUSE, START, REMOVE) that came first.
  if (generation && *generation != d.generation) return Status(Err::invalid, "superseded by a command");
  DupEntry next = d.status.entry;
  change(next);
  REPLSIM_CHECK(env_, next.confirmed_decree >= d.status.entry.confirmed_decree,
                fmt::format("duplication {}: confirmed decree would go back from {} to {}", next.id,
                            d.status.entry.confirmed_decree, next.confirmed_decree));
  if (next == d.status.entry) return Status::ok();
  std::vector<DupEntry> all;
  for (const auto& [id, other] : dups_) all.push_back(other.get() == &d ? next : other->status.entry);
  if (Status st = persist_locked(all); !st) return st;
  const DupState before = d.status.entry.state;
  d.status.entry = std::move(next);
  env_.log("dup.state",
           fmt::format("id={} why=\"{}\" state={}->{} confirmed_decree={} confirmed_address={}", d.status.entry.id, why,
                       dup_state_name(before), dup_state_name(d.status.entry.state), d.status.entry.confirmed_decree,
                       d.status.entry.confirmed_address));
  return Status::ok();
}

// ==== commands ====================================================================================

std::string Duplication::command(const std::vector<std::string>& argv) {
  const std::string sub = argv.size() > 1 ? lowercase_ascii(argv[1]) : std::string();
  const std::size_t n = argv.size();
  auto arity = [&] { return errmsg(fmt::format("ERR wrong number of arguments for 'duplication|{}' command", sub)); };
  if (sub == "add") return n >= 4 ? cmd_add(argv) : arity();
  if (sub == "list") return n == 2 ? cmd_list() : arity();
  if (sub == "pause") return n == 3 ? cmd_pause(argv[2]) : arity();
  if (sub == "start") return n == 3 ? cmd_start(argv[2]) : arity();
  if (sub == "remove") return n == 3 ? cmd_remove(argv[2]) : arity();
  if (sub == "set") return n == 5 ? cmd_set(argv) : arity();
  if (sub == "progress") return n == 3 || n == 4 ? cmd_progress(argv) : arity();
  if (sub == "apply") return n >= 5 ? cmd_apply(argv) : arity();
  if (sub == "restore") return n >= 5 ? cmd_restore(argv) : arity();
  if (sub == "clearslots") return n >= 3 ? cmd_clearslots(argv) : arity();
  if (sub == "mark") return n == 4 ? cmd_mark(argv) : arity();
  if (sub == "help" && n == 2) {
    // Each subcommand and what it does, as Redis's HELP replies read.
    const std::pair<std::string_view, std::string_view> help[] = {
        {"ADD <id> <host:port>[,<host:port>...] [PASSWORD <password>] [CHECKPOINT|NOCHECKPOINT]",
         "Duplicate this primary's writes to the cluster at those addresses (default CHECKPOINT)."},
        {"LIST", "One line per duplication: state, confirmed and checkpoint decrees, last error."},
        {"PAUSE <id> | START <id> | REMOVE <id>", "Stop shipping, resume it, or end the duplication."},
        {"SET <id> PASSWORD <password>", "Change the password sent with AUTH to the target."},
    };
    std::string out = encode_array_header(1 + 2 * std::size(help));
    out += encode_simple("DUPLICATION <subcommand> [<arg> ...]. Subcommands are:");
    for (const auto& [usage, meaning] : help) {
      out += encode_simple(usage);
      out += encode_simple(fmt::format("    {}", meaning));
    }
    return out;
  }
  return errmsg(fmt::format("ERR unknown subcommand or wrong number of arguments for '{}'. Try DUPLICATION HELP.",
                            n > 1 ? argv[1] : std::string()));
}

std::string Duplication::cmd_add(const std::vector<std::string>& argv) {
  const std::string& id = argv[2];
  if (!valid_dup_id(id)) {
    return errmsg(fmt::format("ERR invalid duplication id '{}': use 1 to 64 of A-Z a-z 0-9 _ . -", id.substr(0, 80)));
  }
  DupEntry entry;
  entry.id = id;
  std::string_view list = argv[3];
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view address = list.substr(0, comma);
    if (!split_address(address)) {
      return errmsg(fmt::format("ERR invalid target address '{}': expected host:port", address.substr(0, 80)));
    }
    entry.targets.emplace_back(address);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
  }
  if (entry.targets.empty()) return errmsg("ERR no target address: expected host:port[,host:port...]");
  for (std::size_t i = 4; i < argv.size(); ++i) {
    const std::string opt = lowercase_ascii(argv[i]);
    if (opt == "password" && i + 1 < argv.size()) {
      entry.password = argv[++i];
    } else if (opt == "checkpoint") {
      entry.with_checkpoint = true;
    } else if (opt == "nocheckpoint") {
      entry.with_checkpoint = false;
    } else {
      return errmsg(kErrSyntax);
    }
  }
  if (!store_.serves_as_primary()) {
    return errmsg("ERR DUPLICATION ADD needs a primary: this node is a replica; send it to the primary of its shard");
  }
  FiberLock lock(mutex_);
  if (!lock.owns()) return errmsg("ERR server is shutting down");
  auto old = find(id);
  if (old && old->status.entry.state != DupState::removed) {
    return errmsg(fmt::format("ERR duplication '{}' already exists (state {}); REMOVE it first", id,
                              dup_state_name(old->status.entry.state)));
  }
  if (!old && dups_.size() >= kMaxDuplications) {
    return errmsg(
        fmt::format("ERR this node holds {} duplications already (the most it keeps); REMOVE one and "
                    "ADD this one with an id that was removed",
                    dups_.size()));
  }
  std::int64_t min_checkpoint_decree = 1;
  {
    FiberLock store_lock(store_.mutex_);
    if (!store_lock.owns()) return errmsg("ERR server is shutting down");
    Aof& aof = *store_.aof_;
    // A checkpoint at decree >= 1 needs a decree: an empty source gets an empty write first, durable
    // before the duplication exists (Pegasus commits an empty write for an empty replica).
    if (aof.last_decree() == 0) {
      log_noop_locked();
    }
    if (aof.synced_tail() != aof.tail_address()) {
      if (Status st = aof.sync(); !st) store_.stop_on_aof_failure(st, "sync for DUPLICATION ADD");
    }
    min_checkpoint_decree = static_cast<std::int64_t>(std::max<std::uint64_t>(aof.last_decree(), 1));
    if (!entry.with_checkpoint) {
      // Only what is written from now on: everything up to here counts as confirmed.
      entry.log_started = true;
      entry.log_start_decree = aof.last_decree();
      entry.confirmed_decree = aof.last_decree();
      entry.confirmed_address = aof.tail_address();
    }
  }
  entry.stream = fmt::format("{}.{:016x}", id, env_.random_u64());
  std::vector<DupEntry> all;
  for (const auto& [other_id, other] : dups_) {
    if (other_id != id) all.push_back(other->status.entry);
  }
  all.push_back(entry);
  if (Status st = persist_locked(all); !st) return errmsg("ERR " + st.message());
  auto d = std::make_shared<Duplicator>();
  d->status.entry = entry;
  d->status.min_checkpoint_decree = min_checkpoint_decree;
  d->wake = env_.make_event();
  if (old) {
    ++old->generation;  // a parked task of the removed one ends
    old->wake->set();
  }
  dups_[id] = d;
  env_.log("dup.add", fmt::format("id={} stream={} targets={} checkpoint={} min_checkpoint_decree={} "
                                  "confirmed_decree={}",
                                  id, entry.stream, argv[3], entry.with_checkpoint ? 1 : 0, min_checkpoint_decree,
                                  entry.confirmed_decree));
  (void)publish_definitions();
  spawn(d);
  return encode_simple("OK");
}

std::string Duplication::cmd_list() const { return encode_bulk(list_text()); }

std::string Duplication::cmd_pause(const std::string& id) {
  auto d = find(id);
  if (!d || d->status.entry.state == DupState::removed) return no_such(id);
  if (d->status.entry.state == DupState::pause)
    return errmsg(fmt::format("ERR duplication '{}' is already paused", id));
  const std::uint64_t decree = d->cursor_decree;
  const std::uint64_t address = d->cursor_address;
  const bool cursor = d->cursor_set;
  ++d->generation;  // before the write: the task must not persist a state over this one
  Status st = update(*d, std::nullopt, "PAUSE", [&](DupEntry& e) {
    e.state = DupState::pause;
    if (cursor && e.log_started && decree > e.confirmed_decree) {
      e.confirmed_decree = decree;
      e.confirmed_address = address;
    }
  });
  d->wake->set();
  if (!st) {
    spawn(d);  // nothing changed: keep it running
    return errmsg("ERR " + st.message());
  }
  (void)publish_definitions();
  return encode_simple("OK");
}

std::string Duplication::cmd_start(const std::string& id) {
  auto d = find(id);
  if (!d || d->status.entry.state == DupState::removed) return no_such(id);
  const DupEntry& e = d->status.entry;
  if (e.state != DupState::pause) {
    return errmsg(fmt::format("ERR duplication '{}' is not paused (state {})", id, dup_state_name(e.state)));
  }
  if (e.orphaned) {
    return errmsg(
        fmt::format("ERR duplication '{}' stopped because this node stopped being a primary; the shard's "
                    "current primary runs it (REMOVE it here to forget it)",
                    id));
  }
  if (!store_.serves_as_primary()) return errmsg("ERR DUPLICATION START needs a primary: this node is a replica");
  const DupState resume = e.log_started ? DupState::log : DupState::prepare;
  ++d->generation;
  if (Status st = update(*d, std::nullopt, "START", [&](DupEntry& x) { x.state = resume; }); !st)
    return errmsg("ERR " + st.message());
  d->cursor_set = false;
  d->prepared = false;
  d->backoff = Nanos(0);
  (void)publish_definitions();
  spawn(d);
  return encode_simple("OK");
}

std::string Duplication::cmd_remove(const std::string& id) {
  auto d = find(id);
  if (!d || d->status.entry.state == DupState::removed) return no_such(id);
  ++d->generation;
  Status st = update(*d, std::nullopt, "REMOVE", [](DupEntry& e) { e.state = DupState::removed; });
  d->wake->set();
  for (auto& [address, link] : d->links) {
    if (link->conn) link->conn->close();
  }
  if (!st) {
    spawn(d);
    return errmsg("ERR " + st.message());
  }
  d->app_address = UINT64_MAX;
  (void)publish_definitions();
  return encode_simple("OK");
}

std::string Duplication::cmd_set(const std::vector<std::string>& argv) {
  const std::string& id = argv[2];
  auto d = find(id);
  if (!d || d->status.entry.state == DupState::removed) return no_such(id);
  if (lowercase_ascii(argv[3]) != "password") return errmsg(kErrSyntax);
  const std::string password = argv[4];
  if (Status st = update(*d, std::nullopt, "SET PASSWORD", [&](DupEntry& e) { e.password = password; }); !st) {
    return errmsg("ERR " + st.message());
  }
  // The task reconnects with the new password at once, without waiting out its backoff.
  d->links_stale = true;
  d->backoff = Nanos(0);
  d->wake->set();
  (void)publish_definitions();
  return encode_simple("OK");
}

// ---- target side ------------------------------------------------------------------------------

void Duplication::log_noop_locked() {
  REPLSIM_CHECK(env_, store_.mutex_.is_locked(), "empty write without the store mutex");
  if (Status st = store_.log_effects({{std::string(kDupNoopRecord)}}); !st) store_.stop_on_aof_failure(st, "append");
}

Status Duplication::log_durably(const std::vector<std::vector<std::string>>& effects) {
  if (Status st = store_.log_effects(effects); !st) store_.stop_on_aof_failure(st, "append");
  Aof& aof = *store_.aof_;
  if (aof.synced_tail() != aof.tail_address()) {
    if (Status st = aof.sync(); !st) store_.stop_on_aof_failure(st, "sync of duplicated records");
  }
  return Status::ok();
}

std::optional<std::string> Duplication::slot_refusal(int slot) const {
  if (!store_.config_.cluster_enabled || store_.cluster_.empty() || slot < 0) return std::nullopt;
  auto moved = [slot](const ClusterNode& n) { return errmsg(fmt::format("MOVED {} {}:{}", slot, n.host, n.port)); };
  const ClusterNode* owner = store_.cluster_.slot_owner(slot);
  if (!store_.serves_as_primary()) {
    if (const ClusterNode* p = store_.cluster_.my_primary()) return moved(*p);
    if (owner != nullptr) return moved(*owner);
    return errmsg("CLUSTERDOWN Hash slot not served");
  }
  if (store_.replication_->recovering()) return errmsg("CLUSTERDOWN The cluster is down: this node is recovering");
  if (owner == nullptr) return errmsg("CLUSTERDOWN Hash slot not served");
  if (owner->id != store_.cluster_.my_id()) return moved(*owner);
  return std::nullopt;
}

std::string Duplication::cmd_progress(const std::vector<std::string>& argv) {
  const std::string& stream = argv[2];
  if (!valid_dup_stream(stream)) return errmsg("ERR invalid duplication stream name");
  std::optional<int> slot;
  if (argv.size() == 4) {
    const auto parsed = parse_int64_strict(argv[3]);
    if (!parsed || *parsed < kDupNoSlot || *parsed >= kClusterSlots) return errmsg("ERR invalid slot");
    slot = static_cast<int>(*parsed);
  }
  FiberLock lock(store_.mutex_);
  if (!lock.owns()) return errmsg("ERR server is shutting down");
  // A slot's progress is asked of the node that serves the slot, like its records.
  if (slot) {
    if (auto refusal = slot_refusal(*slot)) return *refusal;
  }
  const bool primary = store_.serves_as_primary();
  if (primary) {
    // From now on this node takes the stream's records, as long as its history does not change.
    if (sessions_.size() >= kMaxSessions && sessions_.count(stream) == 0) sessions_.clear();
    sessions_[stream] = store_.replication_->ids().replid;
  }
  const std::uint64_t progress =
      slot ? dup_progress(store_.keyspace_, stream, *slot) : dup_progress(store_.keyspace_, stream);
  std::string out = encode_array_header(3);
  out += encode_integer(static_cast<std::int64_t>(progress));
  out += encode_simple(primary ? "master" : "slave");
  out += encode_simple(store_.replication_->ids().replid);
  return out;
}

std::optional<std::string> Duplication::parse_shipped_write(const std::vector<std::string>& argv,
                                                            ShippedWrite& out) const {
  out.stream = argv[2];
  if (!valid_dup_stream(out.stream)) return errmsg("ERR invalid duplication stream name");
  const auto decree = parse_int64_strict(argv[3]);
  if (!decree || *decree <= 0) return errmsg("ERR invalid decree: expected a positive integer");
  out.decree = static_cast<std::uint64_t>(*decree);
  out.inner.assign(argv.begin() + 4, argv.end());
  const CommandSpec* spec = store_.commands_.find(lowercase_ascii(out.inner[0]));
  const bool data_write = spec != nullptr && spec->owner == CommandOwner::data && spec->has(cmd_flag::write) &&
                          spec->arity_ok(out.inner.size());
  out.spec = data_write ? spec : nullptr;
  return std::nullopt;
}

std::string Duplication::cmd_apply(const std::vector<std::string>& argv) {
  ShippedWrite shipped;
  if (auto refusal = parse_shipped_write(argv, shipped)) return *refusal;
  const std::string stream(shipped.stream);
  const std::vector<std::string>& inner = shipped.inner;
  const CommandSpec* spec = shipped.spec;
  if (spec == nullptr) {
    return errmsg(fmt::format("ERR DUPLICATION APPLY: '{}' with {} arguments is not a data write record",
                              inner[0].substr(0, 32), inner.size() - 1));
  }
  const int slot = dup_record_slot(inner);
  const std::uint64_t d = shipped.decree;
  std::vector<std::string> record = make_dup_apply_record(stream, slot, d, inner);
  if (!store_.aof_->check_record_fits(Aof::framed_size(record)).is_ok()) {
    return errmsg(
        fmt::format("ERR value too large: duplicated record of {} bytes does not fit "
                    "aof_page_size_bytes={}; give the target a larger aof_page_size_bytes than the source",
                    Aof::framed_size(record), store_.config_.aof_page_size_bytes));
  }
  if (store_.config_.cluster_enabled) {
    if (auto refusal = store_.route(*spec, inner)) return *refusal;
  }
  FiberLock lock(store_.mutex_);
  if (!lock.owns()) return errmsg("ERR server is shutting down");
  if (store_.config_.cluster_enabled) {
    // The role or the slots may have changed while this request waited for the mutex.
    if (auto refusal = store_.route(*spec, inner)) return *refusal;
    if (!store_.serves_as_primary()) return errmsg("READONLY You can't write against a read only replica.");
  }
  // A node whose history changed since the source last asked its progress (it became a primary, it
  // took a full sync) may lack records the source believes it has: the source must ask again (and
  // ship what is missing) before it sends more.
  if (auto it = sessions_.find(stream); it == sessions_.end() || it->second != store_.replication_->ids().replid) {
    return errmsg(
        "DUPHANDSHAKE this node has not told its progress for the stream since its history changed; send "
        "DUPLICATION PROGRESS first");
  }
  if (const std::uint64_t progress = dup_progress(store_.keyspace_, stream, slot); d <= progress) {
    // Applied before: a re-ship after a source restart or a repair.
    env_.log("dup.apply.already", fmt::format("stream={} slot={} decree={} progress={}", stream, slot, d, progress));
    return encode_integer(0);
  }
  std::string reply = encode_integer(1);
  if (Status st = apply_duplication_record(store_.keyspace_, record); !st) {
    // The record cannot apply here (e.g. the target holds another type under the key): it is
    // skipped, and the skip is durable like an apply, so it is never retried differently.
    record = make_dup_apply_record(stream, slot, d, {});
    (void)apply_duplication_record(store_.keyspace_, record);
    reply = errmsg(fmt::format("DUPSKIPPED decree {} of {} does not apply here: {}", d, stream, st.message()));
  }
  (void)log_durably({record});
  return reply;
}

std::string Duplication::cmd_restore(const std::vector<std::string>& argv) {
  ShippedWrite shipped;
  if (auto refusal = parse_shipped_write(argv, shipped)) return *refusal;
  const std::vector<std::string>& inner = shipped.inner;
  const CommandSpec* spec = shipped.spec;
  if (spec == nullptr || command_key_positions(*spec, inner).empty()) {
    return errmsg(fmt::format("ERR DUPLICATION RESTORE: '{}' is not a keyed data write", inner[0].substr(0, 32)));
  }
  // Logged like a shipped record at the checkpoint's decree: the slot's progress says the node holds
  // the checkpoint's data of that slot (a node that does not was bypassed, e.g. in a split brain).
  const std::vector<std::string> record =
      make_dup_apply_record(shipped.stream, dup_record_slot(inner), shipped.decree, inner);
  if (!store_.aof_->check_record_fits(Aof::framed_size(record)).is_ok()) {
    return errmsg(fmt::format("ERR value too large: restored record of {} bytes does not fit aof_page_size_bytes={}",
                              Aof::framed_size(record), store_.config_.aof_page_size_bytes));
  }
  if (store_.config_.cluster_enabled) {
    if (auto refusal = store_.route(*spec, inner)) return *refusal;
  }
  FiberLock lock(store_.mutex_);
  if (!lock.owns()) return errmsg("ERR server is shutting down");
  if (store_.config_.cluster_enabled) {
    if (auto refusal = store_.route(*spec, inner)) return *refusal;
  }
  // No at-most-once test: restoring replaces whole values, so doing it twice does no harm.
  if (Status st = apply_duplication_record(store_.keyspace_, record); !st) return errmsg("ERR " + st.message());
  (void)log_durably({record});
  return encode_simple("OK");
}

std::string Duplication::cmd_clearslots(const std::vector<std::string>& argv) {
  if (!valid_dup_stream(argv[2])) return errmsg("ERR invalid duplication stream name");
  std::vector<std::pair<int, int>> ranges;
  for (std::size_t i = 3; i < argv.size(); ++i) {
    const std::size_t dash = argv[i].find('-');
    const auto first = parse_int64_strict(std::string_view(argv[i]).substr(0, dash));
    const auto last =
        dash == std::string::npos ? first : parse_int64_strict(std::string_view(argv[i]).substr(dash + 1));
    if (!first || !last || *first < 0 || *last >= kClusterSlots || *first > *last) {
      return errmsg(
          fmt::format("ERR invalid slot range '{}': expected first-last within 0-16383", argv[i].substr(0, 32)));
    }
    ranges.emplace_back(static_cast<int>(*first), static_cast<int>(*last));
  }
  FiberLock lock(store_.mutex_);
  if (!lock.owns()) return errmsg("ERR server is shutting down");
  if (!store_.serves_as_primary()) return errmsg("READONLY You can't write against a read only replica.");
  std::vector<std::vector<std::string>> effects;
  for (const std::string& key : store_.keyspace_.keys()) {
    if (is_dup_progress_key(key)) continue;
    const int slot = key_hash_slot(key);
    const bool in = std::any_of(ranges.begin(), ranges.end(),
                                [slot](const auto& r) { return slot >= r.first && slot <= r.second; });
    if (!in) continue;
    store_.keyspace_.erase(key);
    effects.push_back({"DEL", key});
  }
  if (!effects.empty()) (void)log_durably(effects);
  env_.log("dup.clearslots", fmt::format("stream={} keys={}", argv[2], effects.size()));
  return encode_integer(static_cast<std::int64_t>(effects.size()));
}

std::string Duplication::cmd_mark(const std::vector<std::string>& argv) {
  const std::string& stream = argv[2];
  if (!valid_dup_stream(stream)) return errmsg("ERR invalid duplication stream name");
  const auto decree = parse_int64_strict(argv[3]);
  if (!decree || *decree <= 0) return errmsg("ERR invalid decree: expected a positive integer");
  FiberLock lock(store_.mutex_);
  if (!lock.owns()) return errmsg("ERR server is shutting down");
  if (!store_.serves_as_primary()) return errmsg("READONLY You can't write against a read only replica.");
  if (static_cast<std::uint64_t>(*decree) > dup_progress(store_.keyspace_, stream)) {
    const std::vector<std::string> record = make_dup_mark_record(stream, static_cast<std::uint64_t>(*decree));
    (void)apply_duplication_record(store_.keyspace_, record);
    (void)log_durably({record});
  }
  return encode_integer(static_cast<std::int64_t>(dup_progress(store_.keyspace_, stream)));
}

// ==== the duplicator ==============================================================================

void Duplication::spawn(const std::shared_ptr<Duplicator>& d) {
  if (!started_ || stopping_) return;
  const DupState s = d->status.entry.state;
  if (s == DupState::pause || s == DupState::removed || d->status.entry.orphaned) return;
  const std::uint64_t generation = ++d->generation;
  env_.spawn(fmt::format("dup-{}", d->status.entry.id), [this, d, generation] { run(d, generation); });
}

bool Duplication::running(const Duplicator& d, std::uint64_t generation) const {
  return !stopping_ && !store_.stopping_ && d.generation == generation;
}

void Duplication::nap(Duplicator& d, Nanos how_long) {
  if (how_long > Nanos(0)) (void)d.wake->wait(how_long);
  d.wake->reset();
}

void Duplication::check_min_checkpoint_decree(const Duplicator& d, std::string_view where) {
  REPLSIM_CHECK(env_, d.status.min_checkpoint_decree > 0,
                fmt::format("duplication {} ({}): min_checkpoint_decree {} must be greater than 0 to prepare "
                            "a checkpoint",
                            d.status.entry.id, where, d.status.min_checkpoint_decree));
}

void Duplication::run(std::shared_ptr<Duplicator> d, std::uint64_t generation) {
  env_.log("dup.task.begin", fmt::format("id={} state={}", d->status.entry.id, dup_state_name(d->status.entry.state)));
  while (running(*d, generation)) {
    if (!store_.serves_as_primary()) {
      // A duplication ships one primary's history; a node that became a replica may hold another
      // history from now on, so it stops here for good (the shard's new primary takes it over).
      const std::uint64_t decree = d->cursor_decree;
      const std::uint64_t address = d->cursor_address;
      const bool cursor = d->cursor_set;
      (void)update(*d, generation, "not a primary",
                   [&](DupEntry& e) { orphan_entry(e, cursor, decree, address); });
      d->status.last_error = std::string(kOrphanedError);
      return;
    }
    const DupState state = d->status.entry.state;
    Status st;
    switch (state) {
      case DupState::init:
        st = step_init(*d, generation);
        break;
      case DupState::prepare:
        st = step_prepare(*d, generation);
        break;
      case DupState::app:
        st = step_app(*d, generation);
        break;
      case DupState::log:
        st = step_log(*d, generation);
        break;
      case DupState::pause:
      case DupState::removed:
        return;
    }
    if (!running(*d, generation)) return;
    if (!st) {
      d->status.last_error = st.message();
      d->backoff = std::clamp(d->backoff * 2, kBackoffMin, kBackoffMax);
      env_.log("dup.step.failed", fmt::format("id={} state={} retry_in_ms={} error=\"{}\"", d->status.entry.id,
                                              dup_state_name(state), d->backoff.count() / 1'000'000, st.message()));
      // Links that failed were dropped; the ones left may be fine, but a fresh start costs little.
      nap(*d, d->backoff);
      continue;
    }
    d->status.last_error.clear();
    d->backoff = Nanos(0);
    if (d->status.entry.state != DupState::log) nap(*d, kSyncInterval);
  }
}

Status Duplication::step_init(Duplicator& d, std::uint64_t generation) {
  if (d.status.entry.with_checkpoint) {
    return update(d, generation, "INIT done", [](DupEntry& e) { e.state = DupState::prepare; });
  }
  return update(d, generation, "INIT done (no checkpoint)", [](DupEntry& e) {
    e.state = DupState::log;
    e.log_started = true;
  });
}

Status Duplication::ensure_checkpoint_locked(Duplicator& d) {
  REPLSIM_CHECK(env_, store_.mutex_.is_locked(), "duplication checkpoint without the store mutex");
  const auto min = static_cast<std::uint64_t>(d.status.min_checkpoint_decree);
  Aof& aof = *store_.aof_;
  if (aof.last_decree() < min) {
    log_noop_locked();
  }
  if (store_.checkpoint_list_.empty() || store_.checkpoint_list_.front().meta.decree < min) {
    if (Status st = store_.checkpoint_locked("duplication"); !st) {
      return Status(st.code(), fmt::format("cannot make the checkpoint at decree >= {} that duplication {} needs: {}",
                                           min, d.status.entry.id, st.message()));
    }
  }
  if (store_.checkpoint_list_.empty() || store_.checkpoint_list_.front().meta.decree < min) {
    return Status(Err::io_error, fmt::format("no checkpoint at decree >= {} is listed after writing one", min));
  }
  return Status::ok();
}

Status Duplication::step_prepare(Duplicator& d, std::uint64_t generation) {
  check_min_checkpoint_decree(d, "PREPARE");
  if (!d.prepared) {
    FiberLock lock(store_.mutex_);
    if (!lock.owns()) return Status(Err::shutdown, "the node is shutting down");
    if (Status st = ensure_checkpoint_locked(d); !st) return st;
    d.prepared = true;
    d.status.checkpoint_decree = store_.checkpoint_list_.front().meta.decree;
    env_.log("dup.prepare.checkpoint",
             fmt::format("id={} min_checkpoint_decree={} checkpoint_decree={}", d.status.entry.id,
                         d.status.min_checkpoint_decree, d.status.checkpoint_decree));
    return Status::ok();  // the next round contacts the target
  }
  // The checkpoint is in place; the target must accept this duplication before APP (in Pegasus the
  // remote table is created here, which is where a target requiring AUTH blocked incident 004).
  auto link = link_to(d, seed(d));
  if (!link) {
    ++d.next_seed;
    return link.status();
  }
  if (!running(d, generation)) return Status::ok();
  return update(d, generation, "PREPARE done", [](DupEntry& e) { e.state = DupState::app; });
}

Status Duplication::step_app(Duplicator& d, std::uint64_t generation) {
  check_min_checkpoint_decree(d, "APP");
  std::string file;
  CheckpointMeta meta;
  std::vector<int> my_slots;
  std::size_t chunk_bytes = 1024;
  {
    FiberLock lock(store_.mutex_);
    if (!lock.owns()) return Status(Err::shutdown, "the node is shutting down");
    if (Status st = ensure_checkpoint_locked(d); !st) return st;
    const CheckpointInfo& cp = store_.checkpoint_list_.front();
    file = cp.file_name;
    meta = cp.meta;
    d.app_address = meta.aof_address;  // from now on the store keeps the AOF after this checkpoint
    d.status.checkpoint_decree = meta.decree;
    if (!store_.config_.cluster_enabled || store_.cluster_.empty()) {
      for (int s = 0; s < kClusterSlots; ++s) my_slots.push_back(s);
    } else {
      my_slots = store_.cluster_.slots_of(store_.cluster_.my_id());
    }
    chunk_bytes = std::max<std::size_t>(64, store_.config_.aof_page_size_bytes / 2);
  }
  auto loaded = read_checkpoint(env_, file);
  if (!loaded)
    return Status(loaded.code(), fmt::format("cannot read checkpoint {} for APP: {}", file, loaded.status().message()));
  auto keyspace = Keyspace::deserialize(loaded->payload);
  if (!keyspace) return keyspace.status();
  // Which target nodes hold the source's slots: every primary of the target cluster drops what it
  // holds there, so the target ends with exactly the checkpoint (also when APP runs again after a
  // restart, with a newer checkpoint).
  auto slots = call_routed(d, {"CLUSTER", "SLOTS"}, nullptr);
  if (!slots) return slots.status();
  std::vector<std::string> primaries;
  if (slots->is_error()) {
    if (slots->text.find("cluster support disabled") == std::string::npos) {
      return Status(Err::invalid, fmt::format("target refused CLUSTER SLOTS: {}", slots->text));
    }
    primaries.push_back(seed(d));
  } else {
    for (const RespValue& span : slots->elements) {
      if (span.elements.size() < 3 || span.elements[2].elements.size() < 2) continue;
      const std::string address =
          fmt::format("{}:{}", span.elements[2].elements[0].text, span.elements[2].elements[1].integer);
      if (std::find(primaries.begin(), primaries.end(), address) == primaries.end()) primaries.push_back(address);
    }
  }
  if (primaries.empty()) return Status(Err::invalid, "the target cluster serves no slots yet");
  std::vector<std::string> clear{"DUPLICATION", "CLEARSLOTS", d.status.entry.stream};
  for (const std::string& r : slot_ranges(my_slots)) clear.push_back(r);
  for (const std::string& address : primaries) {
    auto link = link_to(d, address);
    if (!link) return link.status();
    auto r = call(**link, clear);
    if (!r) {
      drop_link(d, address);
      return r.status();
    }
    if (r->is_error()) return Status(Err::invalid, fmt::format("target {} refused CLEARSLOTS: {}", address, r->text));
    if (!running(d, generation)) return Status::ok();
  }
  std::uint64_t restored = 0;
  d.app_slots.clear();
  for (const std::string& key : keyspace->keys()) {
    if (is_dup_progress_key(key)) continue;
    const Value* value = keyspace->find(key);
    for (std::vector<std::string>& cmd : restore_commands(key, *value, chunk_bytes)) {
      std::vector<std::string> argv{"DUPLICATION", "RESTORE", d.status.entry.stream, std::to_string(meta.decree)};
      argv.insert(argv.end(), std::make_move_iterator(cmd.begin()), std::make_move_iterator(cmd.end()));
      auto r = call_routed(d, argv, &key);
      if (!r) return r.status();
      if (r->is_error()) {
        return Status(Err::invalid, fmt::format("target refused RESTORE of key {}: {}", key.substr(0, 64), r->text));
      }
      if (!running(d, generation)) return Status::ok();
    }
    ++restored;
    d.app_slots.insert(key_hash_slot(key));
  }
  // Every primary remembers that it holds the stream up to the checkpoint: one that later says less
  // lost the checkpoint's data (LOG then takes a new checkpoint).
  for (const std::string& address : primaries) {
    auto link = link_to(d, address);
    if (!link) return link.status();
    auto r = call(**link, {"DUPLICATION", "MARK", d.status.entry.stream, std::to_string(meta.decree)});
    if (!r) {
      drop_link(d, address);
      return r.status();
    }
    if (r->is_error()) return Status(Err::invalid, fmt::format("target {} refused MARK: {}", address, r->text));
  }
  d.status.keys_restored = restored;
  Status st = update(d, generation, "APP done", [&](DupEntry& e) {
    e.state = DupState::log;
    e.log_started = true;
    e.log_start_decree = meta.decree;
    if (meta.decree > e.confirmed_decree) {
      e.confirmed_decree = meta.decree;
      e.confirmed_address = meta.aof_address;
    }
  });
  if (st) {
    d.app_address = UINT64_MAX;
    d.app_decree = meta.decree;
    d.cursor_set = false;
    d.resync = false;
  }
  return st;
}

// ---- LOG ----------------------------------------------------------------------------------------

Status Duplication::begin_resync(Duplicator& d, std::uint64_t generation) {
  std::int64_t min_checkpoint_decree = 1;
  {
    FiberLock lock(store_.mutex_);
    if (!lock.owns()) return Status(Err::shutdown, "the node is shutting down");
    min_checkpoint_decree = static_cast<std::int64_t>(std::max<std::uint64_t>(store_.aof_->last_decree(), 1));
  }
  const std::uint64_t decree = d.cursor_decree;
  const std::uint64_t address = d.cursor_address;
  Status st = update(d, generation, "target lost data: new checkpoint", [&](DupEntry& e) {
    e.state = DupState::prepare;
    if (decree > e.confirmed_decree) {
      e.confirmed_decree = decree;
      e.confirmed_address = address;
    }
  });
  if (!st) return st;
  d.status.min_checkpoint_decree = min_checkpoint_decree;
  d.status.last_error = "a target primary lost data the source cannot ship again; taking a new checkpoint";
  d.prepared = false;
  d.cursor_set = false;
  d.resync = false;
  return Status::ok();
}

Result<std::vector<Duplication::ShipRecord>> Duplication::read_batch(Duplicator& d) {
  FiberLock lock(store_.mutex_);
  if (!lock.owns()) return Status(Err::shutdown, "the node is shutting down");
  Aof& aof = *store_.aof_;
  std::vector<ShipRecord> out;
  // Only what is durable here is shipped: a crash never takes back a record the target applied.
  if (d.cursor_address >= aof.synced_tail() && aof.synced_tail() < aof.tail_address() &&
      aof.fsync_policy() == FsyncPolicy::no) {
    // Nothing else would make these records durable soon enough to ship them.
    if (Status st = aof.sync(); !st) store_.stop_on_aof_failure(st, "sync for duplication");
  }
  const std::uint64_t synced = aof.synced_tail();
  if (d.cursor_address >= synced) return out;
  if (d.cursor_address < aof.begin_address()) {
    return Status(Err::not_found,
                  fmt::format("the AOF from address {} (after decree {}) that duplication {} still needs is gone (the "
                              "AOF begins at {}); REMOVE the duplication and ADD it again with CHECKPOINT",
                              d.cursor_address, d.cursor_decree, d.status.entry.id, aof.begin_address()));
  }
  std::size_t bytes = 0;
  Status st = aof.scan(d.cursor_address, [&](const AofRecord& r) {
    if (r.end_address > synced) return false;
    out.push_back({r.address, r.end_address, r.decree, to_strings(r.argv)});
    bytes += r.end_address - r.address;
    return out.size() < kBatchRecords && bytes < kBatchBytes;
  });
  if (!st) return Status(st.code(), fmt::format("cannot read the AOF to ship it: {}", st.message()));
  return out;
}

Status Duplication::repair(Duplicator& d, Link& link, int slot, std::uint64_t from, std::uint64_t to) {
  const DupEntry& e = d.status.entry;
  if (e.with_checkpoint && from <= e.log_start_decree) {
    // It lacks even the checkpoint's records: only a new checkpoint repairs that.
    d.resync = true;
    return Status::ok();
  }
  from = std::max(from, e.log_start_decree + 1);
  std::vector<ShipRecord> missing;
  {
    FiberLock lock(store_.mutex_);
    if (!lock.owns()) return Status(Err::shutdown, "the node is shutting down");
    Aof& aof = *store_.aof_;
    if (aof.base_decree() >= from) {
      // Below the AOF's begin nothing can be shipped again.
      env_.log("dup.repair.lost",
               fmt::format("id={} slot={} from_decree={} aof_base_decree={}", e.id, slot, from, aof.base_decree()));
      if (e.with_checkpoint) {
        d.resync = true;
        return Status::ok();
      }
      d.status.last_error = fmt::format(
          "target {} lacks decrees {} to {} of slot {}, which this node's AOF no longer "
          "holds; REMOVE the duplication and ADD it again with CHECKPOINT",
          link.address, from, aof.base_decree(), slot);
    }
    Status st = aof.scan(aof.begin_address(), [&](const AofRecord& r) {
      if (r.decree > to) return false;
      if (r.decree < from || is_duplication_record(r.argv)) return true;
      std::vector<std::string> argv = to_strings(r.argv);
      if (dup_record_slot(argv) == slot) missing.push_back({r.address, r.end_address, r.decree, std::move(argv)});
      return true;
    });
    if (!st) return Status(st.code(), fmt::format("cannot read the AOF to ship it again: {}", st.message()));
  }
  env_.log("dup.repair", fmt::format("id={} target={} slot={} from_decree={} to_decree={} records={}", e.id,
                                     link.address, slot, from, to, missing.size()));
  for (const ShipRecord& record : missing) {
    std::vector<std::string> argv{"DUPLICATION", "APPLY", e.stream, std::to_string(record.decree)};
    argv.insert(argv.end(), record.argv.begin(), record.argv.end());
    auto r = call(link, argv);
    if (!r) {
      drop_link(d, link.address);
      return r.status();
    }
    if (r->type == RespValue::Type::integer) {
      ++(r->integer == 1 ? d.status.records_applied : d.status.records_already);
    } else if (r->is_error() && r->text.starts_with("DUPSKIPPED")) {
      ++d.status.records_rejected;
    } else {
      return Status(Err::invalid, fmt::format("target {} answered APPLY of decree {} (shipped again) with: {}",
                                              link.address, record.decree, r->to_display(200)));
    }
  }
  return Status::ok();
}

bool Duplication::slot_verified(const Duplicator& d, int slot, const std::string& address) const {
  auto sent = d.sent.find(slot);
  if (sent == d.sent.end() || sent->second.address != address) return false;
  auto link = d.links.find(address);
  return link != d.links.end() && link->second->epoch == sent->second.epoch;
}

Status Duplication::verify_slot(Duplicator& d, int slot, std::string& address) {
  const DupEntry& e = d.status.entry;
  for (int hop = 0; hop <= kMaxRedirects; ++hop) {
    auto link = link_to(d, address);
    if (!link) {
      d.forget_owner(slot);
      return link.status();
    }
    if (d.resync) return Status::ok();
    Link& l = **link;
    auto r = call(l, {"DUPLICATION", "PROGRESS", e.stream, std::to_string(slot)});
    if (!r) {
      drop_link(d, address);
      d.forget_owner(slot);
      return r.status();
    }
    if (r->is_error() && r->text.starts_with("MOVED ")) {
      address = moved_address(d, r->text);
      continue;
    }
    if (r->type != RespValue::Type::array || r->elements.size() != 3 ||
        r->elements[0].type != RespValue::Type::integer) {
      return Status(Err::invalid,
                    fmt::format("target {} answered PROGRESS of slot {} with {}", address, slot, r->to_display(200)));
    }
    const auto progress = static_cast<std::uint64_t>(std::max<std::int64_t>(r->elements[0].integer, 0));
    auto sent = d.sent.find(slot);
    const std::uint64_t expected = sent == d.sent.end() ? 0 : sent->second.decree;
    if (progress < expected) {
      if (Status st = repair(d, l, slot, progress + 1, expected); !st) return st;
      if (d.resync) return Status::ok();
    }
    d.sent[slot] = SlotSent{address, l.epoch, std::max(progress, expected)};
    return Status::ok();
  }
  return Status(Err::invalid, fmt::format("more than {} MOVED redirections for slot {}", kMaxRedirects, slot));
}

Status Duplication::verify_slots(Duplicator& d, std::size_t limit) {
  std::vector<int> stale;
  for (const auto& [slot, sent] : d.sent) {
    if (stale.size() >= limit) break;
    auto owner = d.slot_owner.find(slot);
    const std::string& address = owner != d.slot_owner.end() ? owner->second : sent.address;
    if (address.empty() || !slot_verified(d, slot, address)) stale.push_back(slot);
  }
  for (const int slot : stale) {
    std::string address = seed(d);
    if (auto owner = d.slot_owner.find(slot); owner != d.slot_owner.end()) address = owner->second;
    if (Status st = verify_slot(d, slot, address); !st) return st;
    if (d.resync) return Status::ok();
  }
  return Status::ok();
}

Status Duplication::check_links(Duplicator& d) {
  if (env_.now() - d.last_link_check < kLinkCheckInterval) return Status::ok();
  d.last_link_check = env_.now();
  std::vector<std::string> changed;
  for (auto& [address, link] : d.links) {
    auto r = call(*link, {"DUPLICATION", "PROGRESS", d.status.entry.stream});
    if (!r || r->type != RespValue::Type::array || r->elements.size() != 3 || r->elements[1].text != link->role ||
        r->elements[2].text != link->replid) {
      changed.push_back(address);
    }
  }
  for (const std::string& address : changed) {
    // The node went away, or changed role or history (a failover, a demotion, a full sync): every
    // slot shipped to it is verified again where it is served now.
    env_.log("dup.link.changed", fmt::format("id={} target={}", d.status.entry.id, address));
    drop_link(d, address);
  }
  return Status::ok();
}

Status Duplication::ship(Duplicator& d, const ShipRecord& record) {
  auto advance = [&] {
    d.cursor_address = record.end_address;
    d.cursor_decree = record.decree;
    d.status.shipped_decree = std::max(d.status.shipped_decree, record.decree);
  };
  if (is_duplication_record(record.argv)) {
    // An empty write has nothing to apply, and a record this node applied for another duplication is
    // never shipped on (so two clusters duplicating to each other do not loop).
    advance();
    return Status::ok();
  }
  const DupEntry& e = d.status.entry;
  const int slot = dup_record_slot(record.argv);
  std::string address = seed(d);
  if (auto it = d.slot_owner.find(slot); it != d.slot_owner.end()) address = it->second;
  for (int hop = 0; hop <= kMaxRedirects; ++hop) {
    if (!slot_verified(d, slot, address)) {
      // This node is new for the slot (or the connection is): it gets the slot's next record only once
      // it holds every earlier one. Failovers and split brains on the target lose records a primary had
      // acknowledged; they are shipped again here, never skipped.
      if (Status st = verify_slot(d, slot, address); !st) return st;
      if (d.resync) return Status::ok();  // not sent: step_log takes a new checkpoint first
    }
    auto link = link_to(d, address);
    if (!link) {
      d.forget_owner(slot);
      return link.status();
    }
    if (d.resync) return Status::ok();
    Link& l = **link;
    if (!slot_verified(d, slot, address)) continue;  // the link was opened again: ask again
    std::vector<std::string> argv{"DUPLICATION", "APPLY", e.stream, std::to_string(record.decree)};
    argv.insert(argv.end(), record.argv.begin(), record.argv.end());
    auto r = call(l, argv);
    if (!r) {
      drop_link(d, address);
      d.forget_owner(slot);
      return r.status();
    }
    if (r->is_error() && r->text.starts_with("MOVED ")) {
      address = moved_address(d, r->text);
      continue;
    }
    if (r->is_error() && r->text.starts_with("DUPHANDSHAKE")) {
      drop_link(d, address);  // its history changed: it is asked again for every slot it serves
      continue;
    }
    if (r->type == RespValue::Type::integer) {
      ++(r->integer == 1 ? d.status.records_applied : d.status.records_already);
    } else if (r->is_error() && r->text.starts_with("DUPSKIPPED")) {
      ++d.status.records_rejected;
      d.status.last_error = r->text;
    } else {
      return Status(Err::invalid, fmt::format("target {} answered APPLY of decree {} with: {}", address, record.decree,
                                              r->to_display(200)));
    }
    d.sent[slot] = SlotSent{address, l.epoch, record.decree};
    advance();
    return Status::ok();
  }
  return Status(Err::invalid, fmt::format("more than {} MOVED redirections for one record", kMaxRedirects));
}

void Duplication::maybe_persist_confirmed(Duplicator& d, std::uint64_t generation, bool force) {
  if (!d.cursor_set || d.cursor_decree <= d.status.entry.confirmed_decree) return;
  if (!force && env_.now() - d.last_persist < kPersistInterval) return;
  const std::uint64_t decree = d.cursor_decree;
  const std::uint64_t address = d.cursor_address;
  d.last_persist = env_.now();
  (void)update(d, generation, "confirmed", [&](DupEntry& e) {
    if (decree > e.confirmed_decree) {
      e.confirmed_decree = decree;
      e.confirmed_address = address;
    }
  });
}

Status Duplication::step_log(Duplicator& d, std::uint64_t generation) {
  if (!d.cursor_set) {
    FiberLock lock(store_.mutex_);
    if (!lock.owns()) return Status(Err::shutdown, "the node is shutting down");
    Aof& aof = *store_.aof_;
    const DupEntry& e = d.status.entry;
    if (e.confirmed_address < aof.begin_address() || e.confirmed_address > aof.tail_address()) {
      return Status(
          Err::not_found,
          fmt::format("duplication {} resumes after decree {} at AOF address {}, but the AOF holds [{}, {}); "
                      "REMOVE the duplication and ADD it again with CHECKPOINT",
                      e.id, e.confirmed_decree, e.confirmed_address, aof.begin_address(), aof.tail_address()));
    }
    auto before = aof.decree_before(e.confirmed_address);
    if (!before || before.value() != e.confirmed_decree) {
      return Status(Err::invalid,
                    fmt::format("duplication {} resumes after decree {} at AOF address {}, but the AOF has {} there: "
                                "this node's log is another history now; REMOVE the duplication and ADD it again",
                                e.id, e.confirmed_decree, e.confirmed_address,
                                before ? fmt::format("decree {}", before.value()) : before.status().message()));
    }
    // What the AOF says was shipped before this run, per slot: a target node that holds less of a
    // slot than that (it lost records while this node was down) gets them again.
    d.sent.clear();
    Status scanned = aof.scan(aof.begin_address(), [&](const AofRecord& r) {
      if (r.decree > e.confirmed_decree) return false;
      if (r.decree <= e.log_start_decree || is_duplication_record(r.argv)) return true;
      d.sent[dup_record_slot(to_strings(r.argv))] = SlotSent{"", 0, r.decree};
      return true;
    });
    if (!scanned) {
      return Status(scanned.code(), fmt::format("cannot read the AOF to resume shipping: {}", scanned.message()));
    }
    // Right after APP, the slots it restored: their nodes must hold the checkpoint's data (a node that
    // was bypassed, e.g. by a split brain on the target, is found when its slots are verified).
    for (const int slot : d.app_slots) {
      SlotSent& sent = d.sent[slot];
      sent.decree = std::max(sent.decree, d.app_decree);
    }
    d.app_slots.clear();
    d.cursor_address = e.confirmed_address;
    d.cursor_decree = e.confirmed_decree;
    d.status.shipped_decree = std::max(d.status.shipped_decree, e.confirmed_decree);
    d.cursor_set = true;
    d.last_persist = env_.now();
  }
  while (running(d, generation)) {
    // Back to run(), which stops a duplication whose node is no longer a primary.
    if (d.status.entry.state != DupState::log || !store_.serves_as_primary()) return Status::ok();
    if (d.resync) return begin_resync(d, generation);
    if (Status st = check_links(d); !st) return st;
    if (Status st = verify_slots(d, kVerifySlotsPerRound); !st) return st;
    if (d.resync) return begin_resync(d, generation);
    auto batch = read_batch(d);
    if (!batch) return batch.status();
    if (batch->empty()) {
      maybe_persist_confirmed(d, generation, /*force=*/true);
      nap(d, kLogPoll);
      continue;
    }
    for (const ShipRecord& record : batch.value()) {
      if (!running(d, generation) || d.resync) break;
      if (Status st = ship(d, record); !st) {
        maybe_persist_confirmed(d, generation, /*force=*/true);
        return st;
      }
    }
    maybe_persist_confirmed(d, generation, /*force=*/false);
  }
  return Status::ok();
}

// ==== talking to the target =======================================================================

const std::string& Duplication::seed(Duplicator& d) const {
  const std::vector<std::string>& targets = d.status.entry.targets;
  return targets[d.next_seed % targets.size()];
}

void Duplication::drop_link(Duplicator& d, const std::string& address) {
  auto it = d.links.find(address);
  if (it == d.links.end()) return;
  if (it->second->conn) it->second->conn->close();
  d.links.erase(it);
}

void Duplication::drop_links(Duplicator& d) {
  while (!d.links.empty()) drop_link(d, d.links.begin()->first);
}

Result<RespValue> Duplication::call(Link& link, const std::vector<std::string>& argv) {
  if (Status st = link.conn->send(encode_command(argv)); !st) {
    return Status(st.code(), fmt::format("cannot send to target {}: {}", link.address, st.message()));
  }
  const LocalTime deadline = env_.now() + kReplyTimeout;
  for (;;) {
    if (auto value = link.parser.next()) return std::move(*value);
    if (link.parser.failed())
      return Status(Err::invalid, fmt::format("malformed reply from target {}: {}", link.address, link.parser.error()));
    const Nanos left = deadline - env_.now();
    if (left <= Nanos::zero())
      return Status(Err::timeout, fmt::format("target {} did not answer in time", link.address));
    auto data = link.conn->recv(kRecvChunkBytes, left);
    if (!data)
      return Status(data.code(),
                    fmt::format("lost the connection to target {}: {}", link.address, data.status().message()));
    link.parser.feed(data.value());
  }
}

Result<Duplication::Link*> Duplication::link_to(Duplicator& d, const std::string& address) {
  if (d.links_stale) {
    // A command changed what a connection needs (the password) or stopped using them.
    drop_links(d);
    d.links_stale = false;
  }
  if (auto it = d.links.find(address); it != d.links.end()) return it->second.get();
  auto where = split_address(address);
  if (!where) return Status(Err::invalid, fmt::format("invalid target address '{}'", address));
  auto opened = env_.connect(where->first, where->second, kConnectTimeout);
  if (!opened) {
    return Status(opened.code(), fmt::format("cannot connect to target {}: {}", address, opened.status().message()));
  }
  auto link = std::make_unique<Link>();
  link->address = address;
  link->conn = std::move(opened.value());
  const DupEntry& e = d.status.entry;
  if (!e.password.empty()) {
    auto r = call(*link, {"AUTH", e.password});
    if (!r) return r.status();
    if (r->is_error()) {
      return Status(Err::invalid, fmt::format("target {} refused AUTH: {}; set the right password with DUPLICATION "
                                              "SET {} PASSWORD <password>",
                                              address, r->text, e.id));
    }
  }
  auto r = call(*link, {"DUPLICATION", "PROGRESS", e.stream});
  if (!r) return r.status();
  if (r->is_error()) {
    if (r->text.starts_with("NOAUTH")) {
      return Status(Err::invalid, fmt::format("target {} requires a password ({}); set it with DUPLICATION SET {} "
                                              "PASSWORD <password>",
                                              address, r->text, e.id));
    }
    return Status(Err::invalid, fmt::format("target {} refused the duplication handshake: {}", address, r->text));
  }
  if (r->type != RespValue::Type::array || r->elements.size() != 3 || r->elements[0].type != RespValue::Type::integer ||
      r->elements[0].integer < 0) {
    return Status(Err::invalid, fmt::format("target {} answered PROGRESS with {}", address, r->to_display(100)));
  }
  const auto progress = static_cast<std::uint64_t>(r->elements[0].integer);
  const bool primary = r->elements[1].text == "master";
  env_.log("dup.link",
           fmt::format("id={} target={} progress={} role={}", e.id, address, progress, r->elements[1].text));
  if (primary && d.cursor_set && e.with_checkpoint && progress < e.log_start_decree) {
    // Every primary got the checkpoint and a mark at its decree in APP: this one lacks (some of) it
    // (a forced failover to a replica that never synced, say). Only a new checkpoint repairs that.
    env_.log("dup.resync", fmt::format("id={} target={} progress={} log_start_decree={}", e.id, address, progress,
                                       e.log_start_decree));
    d.resync = true;
  }
  link->epoch = ++d.next_link_epoch;
  link->role = r->elements[1].text;
  link->replid = r->elements[2].text;
  Link* raw = link.get();
  d.links[address] = std::move(link);
  return raw;
}

std::string Duplication::moved_address(Duplicator& d, const std::string& reply) {
  // "MOVED <slot> <host>:<port>": remember the slot's owner.
  const std::size_t space = reply.find(' ', 6);
  if (space == std::string::npos) return seed(d);
  std::string address = reply.substr(space + 1);
  if (const auto slot = parse_int64_strict(std::string_view(reply).substr(6, space - 6))) {
    d.slot_owner[static_cast<int>(*slot)] = address;
  }
  return address;
}

Result<RespValue> Duplication::call_routed(Duplicator& d, const std::vector<std::string>& argv,
                                           const std::string* key) {
  int slot = -1;
  std::string address = seed(d);
  if (key != nullptr) {
    slot = key_hash_slot(*key);
    if (auto it = d.slot_owner.find(slot); it != d.slot_owner.end()) address = it->second;
  }
  for (int hop = 0; hop <= kMaxRedirects; ++hop) {
    auto link = link_to(d, address);
    if (!link) {
      d.forget_owner(slot);
      return link.status();
    }
    auto r = call(**link, argv);
    if (!r) {
      drop_link(d, address);
      d.forget_owner(slot);
      return r.status();
    }
    if (r->is_error() && r->text.starts_with("MOVED ")) {
      address = moved_address(d, r->text);
      continue;
    }
    return r;
  }
  return Status(Err::invalid, fmt::format("more than {} MOVED redirections for one request", kMaxRedirects));
}

}  // namespace replsim::core
