// core/duplication_format.h — the data formats of cross-cluster duplication: its states, what a source
// node persists about each duplication (dup.state), and the two record kinds a duplication writes into
// AOFs (DUPNOOP on a source, DUPAPPLY on a target).
//
// Everything here is pure: parsing, printing and applying records to a Keyspace passed in. It does no
// I/O and keeps no state. The protocol and the state machine that use these formats are in
// core/duplication.h; the whole design is core/doc/duplication.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/env.h"
#include "core/keyspace.h"

namespace replsim::core {

// The states of one duplication on its source node (Pegasus's duplication_status).
enum class DupState : std::uint8_t {
  init,     // added; the duplicator has not started (next: PREPARE, or LOG without a checkpoint)
  prepare,  // a checkpoint at min_checkpoint_decree is made, then the target is contacted
  app,      // the target drops the source's slots and loads the checkpoint, key by key
  log,      // AOF records after confirmed_decree are shipped; the target applies each at most once
  pause,    // stopped by PAUSE (or because this node stopped being a primary); START resumes
  removed,  // stopped for good by REMOVE; kept in the list so LIST shows what happened
};

// "INIT", "PREPARE", "APP", "LOG", "PAUSE", "REMOVED".
std::string_view dup_state_name(DupState state);
std::optional<DupState> parse_dup_state(std::string_view name);

inline constexpr std::string_view kDupStateFile = "dup.state";
// Duplications a node holds at most (REMOVED ones count until an ADD of the same id replaces them).
inline constexpr std::size_t kMaxDuplications = 16;

// One duplication as dup.state holds it. min_checkpoint_decree is deliberately not here: it is
// rebuilt on every start as max(last applied decree, 1) (Pegasus's fix for incident 004).
struct DupEntry {
  std::string id;                    // 1..64 of [A-Za-z0-9_.-], unique on the node
  std::string stream;                // "<id>.<16 hex>", new for every ADD: the target's progress key
  std::vector<std::string> targets;  // seed addresses of the target cluster, "host:port"
  std::string password;              // sent with AUTH to the target; empty: no AUTH
  bool with_checkpoint = true;       // INIT -> PREPARE -> APP -> LOG; false: INIT -> LOG
  DupState state = DupState::init;
  // Whether the LOG phase has begun (confirmed_* are meaningful): START after PAUSE resumes LOG then.
  bool log_started = false;
  // Paused because this node stopped being a primary: its AOF may now hold another history, so the
  // duplication never resumes here (REMOVE it and ADD it on the new primary).
  bool orphaned = false;
  // Every source record up to confirmed_decree is applied on the target; confirmed_address is the AOF
  // address just after that record (where shipping resumes). Never decrease.
  std::uint64_t confirmed_decree = 0;
  std::uint64_t confirmed_address = 0;
  // The decree LOG began after (the APP checkpoint's, or the last one at ADD without a checkpoint):
  // records up to it reached the target another way and are never shipped.
  std::uint64_t log_start_decree = 0;

  bool operator==(const DupEntry&) const = default;
};

// Whether id can name a duplication (1..64 of [A-Za-z0-9_.-]).
bool valid_dup_id(std::string_view id);
// Whether a stream name is well formed (what a target accepts in PROGRESS/APPLY/RESTORE).
bool valid_dup_stream(std::string_view stream);

// The body of dup.state (small_file adds the checksum line):
//   replsim-duplication 1
//   dup id=<id> stream=<stream> state=<STATE> checkpoint=<0|1> log_started=<0|1> orphaned=<0|1>
//       confirmed_decree=<n> confirmed_address=<n> log_start_decree=<n> targets=<host:port,...>
//       password=<hex|->
// (one line per duplication). Entries are written in id order.
std::string serialize_dup_entries(const std::vector<DupEntry>& entries);
// Err::invalid naming the line and the field when the body does not parse.
Result<std::vector<DupEntry>> parse_dup_entries(std::string_view body);

// ---- records ------------------------------------------------------------------------------------

// A source writes an empty record when it has no decree yet, so a duplication's checkpoint can be at
// decree >= 1 (as Pegasus commits an empty write for an empty replica): argv {"DUPNOOP"}.
inline constexpr std::string_view kDupNoopRecord = "DUPNOOP";
// A target writes every record it applies from a duplication together with the stream, the record's
// hash slot and its decree: argv {"DUPAPPLY", stream, slot, decree, inner argv...}. Applying it sets
// the progress of (stream, slot) and applies the inner record, in one AOF record, so "applied up to
// decree d" is durable exactly when the data is, and travels with it to replicas and checkpoints.
// Without inner argv it only advances the progress (a record the target could not apply).
inline constexpr std::string_view kDupApplyRecord = "DUPAPPLY";
// At the end of APP every target primary records that it took part in it: argv {"DUPMARK", stream,
// decree}. A primary whose mark is below the checkpoint's decree lost APP's data.
inline constexpr std::string_view kDupMarkRecord = "DUPMARK";
// A source primary keeps the definitions of its duplications (what ADD, PAUSE, START, SET and REMOVE
// decided; not their progress) in its keyspace, so they reach its replicas, checkpoints and full syncs
// like data, and a replica that becomes the primary takes them over: argv {"DUPDEFS", body}, body as
// dup.state's (serialize_dup_entries) with one entry per duplication that is not removed, reduced to
// id, stream, targets, password, checkpoint and state (PAUSE when paused, INIT otherwise).
inline constexpr std::string_view kDupDefsRecord = "DUPDEFS";
// The slot of a keyless record (FLUSHALL).
inline constexpr int kDupNoSlot = -1;

// Keys under this prefix hold a target's progress: "<prefix><stream>" the mark, "<prefix><stream>:<slot>"
// per slot. They are never duplicated, never cleared by APP, and not part of what "the target holds
// the source's data" compares.
inline constexpr std::string_view kDupProgressKeyPrefix = "__replsim_dup__:";
std::string dup_progress_key(std::string_view stream);
std::string dup_progress_key(std::string_view stream, int slot);
bool is_dup_progress_key(std::string_view key);
// The key DUPDEFS sets (under the prefix, so it is never shipped, cleared or compared either).
inline constexpr std::string_view kDupDefsKey = "__replsim_dup__:defs";
// The definitions the keyspace holds (none when the key is absent or does not parse).
std::vector<DupEntry> dup_definitions(const Keyspace& keyspace);
// The definition of e as DUPDEFS keeps it.
DupEntry dup_definition_of(const DupEntry& e);
// {"DUPDEFS", body}.
std::vector<std::string> make_dup_defs_record(const std::vector<DupEntry>& definitions);
// The stream's mark on this keyspace (0: none).
std::uint64_t dup_progress(const Keyspace& keyspace, std::string_view stream);
// The last decree of the stream's records of `slot` this keyspace holds (a record shipped in LOG, or the
// checkpoint's decree for a slot APP restored keys of); 0: none. The mark is not counted.
std::uint64_t dup_progress(const Keyspace& keyspace, std::string_view stream, int slot);

// The hash slot of a data record's first key, or kDupNoSlot for a record without keys (or that is no
// known data command).
int dup_record_slot(const std::vector<std::string>& argv);

// Whether a logged record is one of the kinds above (argv[0] exactly "DUPNOOP", "DUPAPPLY", "DUPMARK" or
// "DUPDEFS").
bool is_duplication_record(const std::vector<std::string>& argv);
bool is_duplication_record(const std::vector<std::string_view>& argv);
// Applies a DUPNOOP (nothing), a DUPDEFS (the definitions), a DUPMARK (the mark) or a DUPAPPLY (the slot's progress, then the inner
// record through apply_effect). Progress never goes back. Err::invalid naming the record when it is
// malformed or its inner record does not apply; then the keyspace is unchanged.
Status apply_duplication_record(Keyspace& keyspace, const std::vector<std::string>& argv);
// {"DUPAPPLY", stream, slot, decree, inner...}.
std::vector<std::string> make_dup_apply_record(std::string_view stream, int slot, std::uint64_t decree,
                                               const std::vector<std::string>& inner);
// {"DUPMARK", stream, decree}.
std::vector<std::string> make_dup_mark_record(std::string_view stream, std::uint64_t decree);

}  // namespace replsim::core
