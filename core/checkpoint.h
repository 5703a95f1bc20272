// core/checkpoint.h — checkpoint files: a snapshot blob of the keyspace plus where it stands in the
// replication history (replication id, decree, AOF address), checksummed and written atomically.
//
// These functions own the files named checkpoint.<16 hex digits of the decree> (and their .tmp
// siblings) in the node's directory; they treat the payload as opaque bytes and reach the disk only
// through core::Env. They never load a checkpoint that does not verify, and never delete the newest
// ones. The format is core/doc/checkpoint-format.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/env.h"

namespace replsim::core {

// Where a checkpoint stands: the keyspace it holds is the state after every record up to decree, and
// the AOF from aof_address on holds the records after it.
struct CheckpointMeta {
  std::string replication_id;  // at most kMaxReplicationIdBytes
  std::uint64_t decree = 0;
  std::uint64_t aof_address = 0;

  bool operator==(const CheckpointMeta&) const = default;
};

struct CheckpointConfig {
  // How many checkpoints to keep, newest first (at least 1). Older ones are removed after a write.
  std::size_t checkpoints_retained = 2;
};

// What a checkpoint's header says, for listings.
struct CheckpointInfo {
  std::string file_name;
  // Write order: one more than the greatest generation on disk when it was written. "Newest" means
  // the greatest generation, not the greatest decree: after a full sync from a new primary the newest
  // checkpoint may well have a smaller decree than a stale one from an abandoned history.
  std::uint64_t generation = 0;
  CheckpointMeta meta;
  std::uint64_t payload_bytes = 0;
};

struct LoadedCheckpoint {
  CheckpointInfo info;
  std::string payload;
  // One line per checkpoint file that was passed over because it did not verify:
  // "<file>: <what is wrong>".
  std::vector<std::string> skipped;
};

inline constexpr std::size_t kMaxReplicationIdBytes = 1024;

// "checkpoint.<16 lowercase hex digits of decree>".
std::string checkpoint_file_name(std::uint64_t decree);

// Writes <name>.tmp, syncs it, renames it to <name>, syncs the directory; then keeps the newest
// config.checkpoints_retained checkpoints that verify (reading the older kept ones whole) and removes
// the others, stale .tmp files and files whose header is damaged. Returns the file name. The checkpoint is durable when this returns ok; a failure
// leaves every checkpoint that was there before.
Result<std::string> write_checkpoint(Env& env, const CheckpointMeta& meta, std::string_view payload,
                                     const CheckpointConfig& config = {});

// Reads and verifies one checkpoint file (a failed verification is read once more before it counts).
// Errors name the file, the byte offset, what was expected and what to do.
Result<LoadedCheckpoint> read_checkpoint(Env& env, const std::string& file_name);

// The newest checkpoint that verifies, with the newer ones that did not in skipped. Err::not_found
// when there is no checkpoint file at all; Err::io_error listing every file's problem when none
// verifies.
Result<LoadedCheckpoint> load_newest_valid(Env& env);

// Every checkpoint whose header verifies, newest first.
Result<std::vector<CheckpointInfo>> list_checkpoints(Env& env);

// The smallest AOF address among the retained checkpoints (the store may drop AOF below it), or
// nullopt when there is none.
Result<std::optional<std::uint64_t>> oldest_retained_address(Env& env);

}  // namespace replsim::core
