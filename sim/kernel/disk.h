// sim/kernel/disk.h — the simulated disk of one node: files, what is durable, and the faults.
//
// A pure data model. It owns the node's files (their true bytes and, separately, what has been made
// durable), the durable directory and its own fault stream. It never sleeps, reads a clock, touches the
// OS or runs a fiber: the simulator's env layer calls it, sleeps for op_latency(), and traces what the
// disk reports. Every random choice comes from an Rng stream, so one seed gives one disk history.
//
// ---- Fault model ------------------------------------------------------------------------------------
//
// Files are inodes; the directory maps flat names to inodes. Each inode keeps three things:
//   * its current bytes: what reads return (before any read-time fault);
//   * its durable bytes: what the last successful sync(name) made stable;
//   * its unsynced writes: every append, write_at and truncate since that sync, in order.
// The directory keeps two mappings: the current one (every create, rename and remove applies at once)
// and the durable one, a copy of the current mapping taken by the last successful sync_dir(). Metadata
// operations — creating a file, renaming, removing — are durable only after sync_dir(); syncing a
// file makes its bytes durable but not its name.
//
// crash(rng) models power loss:
//   * The directory reverts to the durable mapping. A name created or renamed into place since the
//     last sync_dir disappears (or points back at its old inode); a name removed or renamed away comes
//     back. An inode that no durable name refers to is gone, with its bytes.
//   * Each surviving inode keeps its durable bytes plus a uniformly random prefix of its unsynced
//     writes: none, some, or all of them. Writes are never reordered: a later write never lands
//     without every earlier one.
//   * The first write that does not land fully may instead be torn, with torn_write_probability, if
//     it spans a sector boundary (sectors are sector_size_bytes, aligned to file offset 0). A torn
//     write lands only its bytes up to a random sector boundary strictly inside it. Depending on
//     torn_sector_fill, the sector just after that boundary (clipped to the write's own range) is
//     then left as it was (`none`), or holds zeros (`zeros`) or random bytes (`garbage`) — the write
//     was in flight when the power went. Truncates never tear; they land or not as a whole.
//   So after a crash every byte of a file is one that was written to it (or a zero of a gap or an
//   extension), except inside the single torn sector of a torn write, whose bytes may be zeros or
//   garbage. The returned CrashReport says, per surviving file, which writes and bytes were kept or
//   lost and where the tear fell, and which names were lost, restored or reverted, for the trace.
//   After a crash the surviving bytes are the durable bytes: a second crash changes nothing.
//
// Faults injected at operation time (DiskFaults, changeable at run time by the fault injector):
//   * EIO on writes (append, write_at, truncate) with eio_write_probability, on sync and sync_dir
//     with eio_sync_probability, on read_at with eio_read_probability. A failed write changes
//     nothing: no bytes, no file creation. A failed sync leaves the data unsynced (it stays exposed to
//     the next crash) and a failed sync_dir leaves the durable directory as it was.
//   * ENOSPC when a write would grow the bytes held by the directory's files above capacity_bytes, or
//     on every append/write_at/truncate that grows a file while no_space_forced is set. Shrinking and
//     overwriting in place still work on a full disk, as on most filesystems.
//   * Bit flips on read: with bit_flip_read_probability one random bit of the returned copy is
//     inverted. The stored bytes stay true; the flip is counted and reported by last_injected_fault(),
//     so the store's checksums must catch it and a checker can tell.
//   * Latency: op_latency(op) draws a duration uniformly from the operation class's [min, max].
// A probability of 0 never draws from the stream, so switching a fault family off does not shift the
// draws of the others.
//
// What this model leaves out: write reordering inside the unsynced window, lost or misdirected writes
// on read, corruption of durable data at rest, hard links, and fsync errors that silently drop dirty
// pages (a failed sync here keeps them).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/env.h"
#include "sim/kernel/rng.h"

namespace replsim::kernel {

using Nanos = std::chrono::nanoseconds;

// Every operation the disk offers to a store, for latency classes, faults and stats.
enum class DiskOp : std::uint8_t {
  append,
  write_at,
  read_at,
  file_size,
  truncate,
  sync,
  rename,
  remove,
  list_files,
  sync_dir,
  exists,
};
std::string_view disk_op_name(DiskOp op);

// A closed range of latency; min == max is a fixed latency and draws nothing.
struct LatencyRange {
  Nanos min{0};
  Nanos max{0};
};

// Latency by operation class. read: read_at. write: append, write_at, truncate. sync: sync,
// sync_dir. metadata: file_size, rename, remove, list_files, exists.
struct DiskLatency {
  LatencyRange read{Nanos{20'000}, Nanos{100'000}};
  LatencyRange write{Nanos{10'000}, Nanos{50'000}};
  LatencyRange sync{Nanos{500'000}, Nanos{3'000'000}};
  LatencyRange metadata{Nanos{5'000}, Nanos{20'000}};
};

// What a torn write leaves in the sector that was in flight when the power went.
enum class TornSectorFill : std::uint8_t {
  none,     // the sector keeps its old contents: the write simply stops at a sector boundary
  zeros,    // the sector's part of the write reads as zeros
  garbage,  // the sector's part of the write reads as random bytes
};
std::string_view torn_sector_fill_name(TornSectorFill fill);

inline constexpr std::uint64_t kUnlimitedCapacity = UINT64_MAX;

// Faults of one disk. The fault injector may replace them at any time with set_faults().
struct DiskFaults {
  double eio_write_probability = 0.0;
  double eio_sync_probability = 0.0;
  double eio_read_probability = 0.0;
  double bit_flip_read_probability = 0.0;
  std::uint64_t capacity_bytes = kUnlimitedCapacity;
  bool no_space_forced = false;
  double torn_write_probability = 0.5;
  TornSectorFill torn_sector_fill = TornSectorFill::none;
  DiskLatency latency;
};

struct DiskConfig {
  std::uint64_t sector_size_bytes = 512;
  // A write that would make a file larger fails with Err::invalid (EFBIG): it bounds the memory one
  // stray offset can claim.
  std::uint64_t max_file_size_bytes = std::uint64_t{1} << 30;
  DiskFaults faults;
};

// One fault injected by the last operation, so the env layer can trace it.
struct InjectedFault {
  enum class Kind : std::uint8_t { eio, no_space, bit_flip };
  Kind kind = Kind::eio;
  DiskOp op = DiskOp::append;
  std::string name;             // the file (empty for sync_dir)
  std::uint64_t offset = 0;     // bit_flip: the file offset of the flipped byte
  std::uint32_t bit_index = 0;  // bit_flip: which bit of that byte, 0 = least significant

  // "kind=bit_flip op=read_at file=aof.0 offset=4100 bit=3" for the trace.
  std::string detail() const;
};
std::string_view injected_fault_kind_name(InjectedFault::Kind kind);

// What a crash did to one surviving file, listed under its name after the crash.
struct CrashFileOutcome {
  std::string name;
  std::uint64_t inode = 0;
  std::uint64_t size_before_bytes = 0;  // the true size just before the crash
  std::uint64_t size_after_bytes = 0;
  std::uint64_t writes_unsynced = 0;    // unsynced writes (including truncates) before the crash
  std::uint64_t writes_kept = 0;        // of those, how many landed fully
  std::uint64_t bytes_unsynced = 0;     // payload bytes of the unsynced writes
  std::uint64_t bytes_kept = 0;         // payload bytes that landed (a torn write's landed part too)
  bool torn = false;
  std::uint64_t torn_at_offset = 0;     // torn: the file offset where the write stopped landing
  std::uint64_t torn_fill_bytes = 0;    // torn: how many bytes after it hold zeros or garbage
  TornSectorFill torn_fill = TornSectorFill::none;

  std::uint64_t bytes_lost() const { return bytes_unsynced - bytes_kept; }
  // "file=aof.0 inode=3 writes_kept=2/5 bytes_kept=1024 bytes_lost=3072 size=4096->2048 torn=1 ..."
  std::string detail() const;
};

struct CrashReport {
  std::vector<CrashFileOutcome> files;       // every surviving file, sorted by name
  std::vector<std::string> names_lost;       // named before the crash, gone after (sorted)
  std::vector<std::string> names_restored;   // absent before the crash, back after (sorted)
  std::vector<std::string> names_reverted;   // named before and after, but another inode (sorted)

  // "files=3 names_lost=tmp.1 names_restored= names_reverted=nodes.conf torn_files=1 ..."
  std::string detail() const;
};

// Counters over the disk's life in the run; wipe() keeps them.
struct DiskStats {
  std::uint64_t writes = 0;  // successful append / write_at / truncate
  std::uint64_t bytes_written = 0;
  std::uint64_t reads = 0;  // successful read_at
  std::uint64_t bytes_read = 0;
  std::uint64_t syncs = 0;  // successful sync / sync_dir
  std::uint64_t eio_injected = 0;
  std::uint64_t no_space_injected = 0;
  std::uint64_t bit_flips_injected = 0;
  std::uint64_t crashes = 0;
};

class Disk {
 public:
  // node_name prefixes every error message ("c0n1/aof.0: ..."). rng is the disk's own stream for
  // operation-time faults and latency, e.g. Rng(seed, "disk/c0n1").
  Disk(std::string node_name, DiskConfig config, Rng rng);

  const std::string& node_name() const { return node_name_; }
  const DiskConfig& config() const { return config_; }
  const DiskFaults& faults() const { return config_.faults; }
  void set_faults(const DiskFaults& faults) { config_.faults = faults; }
  const DiskStats& stats() const { return stats_; }

  // ---- the operations of core::Env ------------------------------------------------------------
  // append and write_at create a missing file. write_at past the end fills the gap with zeros.
  core::Status append(const std::string& name, std::string_view data);
  core::Status write_at(const std::string& name, std::uint64_t offset, std::string_view data);
  // Returns up to length bytes: fewer at the end of the file, none at offset == size. An offset past
  // the end is Err::invalid.
  core::Result<std::string> read_at(const std::string& name, std::uint64_t offset,
                                    std::size_t length);
  // The same into `out` (replaced, its buffer reused); `out` is left empty on an error.
  core::Status read_at_into(const std::string& name, std::uint64_t offset, std::size_t length,
                            std::string& out);
  core::Result<std::uint64_t> file_size(const std::string& name) const;
  // Shrinks, or extends with zeros (as ftruncate does).
  core::Status truncate(const std::string& name, std::uint64_t length);
  core::Status sync(const std::string& name);
  // Atomically points `to` at from's inode, replacing whatever `to` named. from == to is a no-op.
  core::Status rename(const std::string& from, const std::string& to);
  core::Status remove(const std::string& name);
  std::vector<std::string> list_files() const;  // sorted by name
  core::Status sync_dir();
  bool exists(const std::string& name) const;

  // A latency for one operation, drawn from the current faults' latency range of its class.
  Nanos op_latency(DiskOp op);
  // The fault the last operation injected, if any. The operations that can inject one (append,
  // write_at, read_at, truncate, sync, sync_dir) clear it first; the others never inject and leave it.
  const std::optional<InjectedFault>& last_injected_fault() const { return last_fault_; }

  // ---- power loss -----------------------------------------------------------------------------
  // Applies the crash model above. crash_rng decides what lands; passing a stream of its own (e.g.
  // Rng(seed, "disk/c0n1/crash")) keeps the outcome independent of how many faults were drawn.
  CrashReport crash(Rng& crash_rng);
  // Forgets every file and all durable state: a brand-new empty disk (faults, stream, stats stay).
  void wipe();

  // ---- inspection for checkers and reports (never faulted, never drawn) -----------------------
  // The true current bytes, as a fault-free read of the whole file would return them.
  core::Result<std::string> true_contents(const std::string& name) const;
  // The bytes sync last made durable (what a crash keeps at least, if the name is durable).
  core::Result<std::string> durable_contents(const std::string& name) const;
  core::Result<std::uint64_t> durable_size(const std::string& name) const;
  // Payload bytes of the writes since the last sync (truncates count 0), and how many writes.
  core::Result<std::uint64_t> unsynced_bytes(const std::string& name) const;
  core::Result<std::uint64_t> unsynced_writes(const std::string& name) const;
  // Whether `name` would survive a crash pointing at the inode it names now.
  bool name_durable(const std::string& name) const;
  // Sum of the current sizes of every file in the directory (what capacity_bytes limits).
  std::uint64_t total_bytes() const;

 private:
  // One unsynced change to an inode's bytes, replayable on top of the bytes before it.
  struct PendingWrite {
    DiskOp op = DiskOp::write_at;  // append, write_at or truncate
    std::uint64_t offset = 0;      // append/write_at: where the data went; truncate: the new length
    std::string data;
  };
  struct Inode {
    std::string current;
    std::string durable;
    std::vector<PendingWrite> unsynced;
  };

  core::Status write(DiskOp op, const std::string& name, std::uint64_t offset, std::string_view data);
  core::Status check_name(DiskOp op, const std::string& name) const;
  // `what` describes the operation for an error message; it is only called when there is one, so
  // the common path formats nothing.
  using Describe = std::function<std::string()>;
  core::Status check_growth(DiskOp op, const std::string& name, std::uint64_t old_size,
                            std::uint64_t new_size, const Describe& what);
  core::Status inject_eio(DiskOp op, const std::string& name, double probability, const Describe& what);
  core::Status not_found(DiskOp op, const std::string& name) const;
  std::string subject(const std::string& name) const;
  Inode* find(const std::string& name);
  const Inode* find(const std::string& name) const;
  CrashFileOutcome crash_inode(std::uint64_t id, Inode& inode, Rng& crash_rng) const;
  void drop_unreferenced_inodes();

  static void apply(std::string& bytes, const PendingWrite& w);

  std::string node_name_;
  DiskConfig config_;
  Rng rng_;
  DiskStats stats_;
  std::optional<InjectedFault> last_fault_;
  std::map<std::uint64_t, Inode> inodes_;
  std::map<std::string, std::uint64_t> names_;          // the current directory
  std::map<std::string, std::uint64_t> durable_names_;  // the directory as of the last sync_dir
  std::uint64_t next_inode_ = 1;
};

}  // namespace replsim::kernel
