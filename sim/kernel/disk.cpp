// sim/kernel/disk.cpp — the simulated disk: operations, injected faults and the crash model.
//
// The fault model is stated in disk.h. This file keeps each inode's current bytes equal to its durable
// bytes with its unsynced writes replayed in order — the invariant the crash model relies on — and
// never lets an injected fault touch the stored bytes.
#include "sim/kernel/disk.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace replsim::kernel {

namespace {

[[noreturn]] void disk_assert_fail(const char* what, const char* file, int line) {
  std::fprintf(stderr, "replsim disk assertion failed: %s at %s:%d\n", what, file, line);
  std::abort();
}

#define DISK_ASSERT(cond) \
  ((cond) ? static_cast<void>(0) : disk_assert_fail(#cond, __FILE__, __LINE__))

bool is_write_op(DiskOp op) {
  return op == DiskOp::append || op == DiskOp::write_at || op == DiskOp::truncate;
}

std::string join_names(const std::vector<std::string>& names) {
  return fmt::format("{}", fmt::join(names, ","));
}

}  // namespace

// ---- names ---------------------------------------------------------------------------------------

std::string_view disk_op_name(DiskOp op) {
  switch (op) {
    case DiskOp::append: return "append";
    case DiskOp::write_at: return "write_at";
    case DiskOp::read_at: return "read_at";
    case DiskOp::file_size: return "file_size";
    case DiskOp::truncate: return "truncate";
    case DiskOp::sync: return "sync";
    case DiskOp::rename: return "rename";
    case DiskOp::remove: return "remove";
    case DiskOp::list_files: return "list_files";
    case DiskOp::sync_dir: return "sync_dir";
    case DiskOp::exists: return "exists";
  }
  return "unknown";
}

std::string_view torn_sector_fill_name(TornSectorFill fill) {
  switch (fill) {
    case TornSectorFill::none: return "none";
    case TornSectorFill::zeros: return "zeros";
    case TornSectorFill::garbage: return "garbage";
  }
  return "unknown";
}

std::string_view injected_fault_kind_name(InjectedFault::Kind kind) {
  switch (kind) {
    case InjectedFault::Kind::eio: return "eio";
    case InjectedFault::Kind::no_space: return "no_space";
    case InjectedFault::Kind::bit_flip: return "bit_flip";
  }
  return "unknown";
}

std::string InjectedFault::detail() const {
  std::string out = fmt::format("kind={} op={} file={}", injected_fault_kind_name(kind),
                                disk_op_name(op), name);
  if (kind == Kind::bit_flip) out += fmt::format(" offset={} bit={}", offset, bit_index);
  return out;
}

std::string CrashFileOutcome::detail() const {
  std::string out = fmt::format(
      "file={} inode={} writes_kept={}/{} bytes_kept={} bytes_lost={} size={}->{} torn={}", name,
      inode, writes_kept, writes_unsynced, bytes_kept, bytes_lost(), size_before_bytes,
      size_after_bytes, torn ? 1 : 0);
  if (torn) {
    out += fmt::format(" torn_at={} torn_fill={} torn_fill_bytes={}", torn_at_offset,
                       torn_sector_fill_name(torn_fill), torn_fill_bytes);
  }
  return out;
}

std::string CrashReport::detail() const {
  std::uint64_t torn_files = 0;
  std::uint64_t bytes_lost = 0;
  for (const auto& f : files) {
    torn_files += f.torn ? 1 : 0;
    bytes_lost += f.bytes_lost();
  }
  return fmt::format(
      "files={} bytes_lost={} torn_files={} names_lost={} names_restored={} names_reverted={}",
      files.size(), bytes_lost, torn_files, join_names(names_lost), join_names(names_restored),
      join_names(names_reverted));
}

// ---- construction and helpers --------------------------------------------------------------------

Disk::Disk(std::string node_name, DiskConfig config, Rng rng)
    : node_name_(std::move(node_name)), config_(config), rng_(rng) {
  DISK_ASSERT(config_.sector_size_bytes > 0);
  DISK_ASSERT(config_.max_file_size_bytes > 0);
}

std::string Disk::subject(const std::string& name) const {
  if (name.empty()) return node_name_;
  return fmt::format("{}/{}", node_name_, name);
}

core::Status Disk::not_found(DiskOp op, const std::string& name) const {
  return {core::Err::not_found, fmt::format("{}: {}: no such file", subject(name), disk_op_name(op))};
}

// A name is one flat path component: the store's directory has no subdirectories.
core::Status Disk::check_name(DiskOp op, const std::string& name) const {
  const bool bad = name.empty() || name == "." || name == ".." ||
                   name.find('/') != std::string::npos || name.find('\0') != std::string::npos;
  if (!bad) return core::Status::ok();
  return {core::Err::invalid,
          fmt::format("{}/'{}': {}: invalid file name (want a non-empty flat name without '/')",
                      node_name_, name, disk_op_name(op))};
}

Disk::Inode* Disk::find(const std::string& name) {
  const auto it = names_.find(name);
  if (it == names_.end()) return nullptr;
  const auto inode = inodes_.find(it->second);
  DISK_ASSERT(inode != inodes_.end());
  return &inode->second;
}

const Disk::Inode* Disk::find(const std::string& name) const {
  return const_cast<Disk*>(this)->find(name);
}

// Growth is checked against the space held by the files the directory names now.
core::Status Disk::check_growth(DiskOp op, const std::string& name, std::uint64_t old_size,
                                std::uint64_t new_size, const Describe& what) {
  if (new_size <= old_size) return core::Status::ok();
  const DiskFaults& f = config_.faults;
  std::string reason;
  if (f.no_space_forced) {
    reason = "no space left on device (ENOSPC forced by the fault injector)";
  } else {
    const std::uint64_t used = total_bytes();
    const std::uint64_t needed = new_size - old_size;
    if (f.capacity_bytes != kUnlimitedCapacity &&
        (used > f.capacity_bytes || needed > f.capacity_bytes - used)) {
      reason = fmt::format("no space left on device ({} bytes in use, {} more needed, capacity {})",
                           used, needed, f.capacity_bytes);
    }
  }
  if (reason.empty()) return core::Status::ok();
  ++stats_.no_space_injected;
  last_fault_ = InjectedFault{InjectedFault::Kind::no_space, op, name, 0, 0};
  return {core::Err::no_space, fmt::format("{}: {}: {}", subject(name), what(), reason)};
}

core::Status Disk::inject_eio(DiskOp op, const std::string& name, double probability, const Describe& what) {
  if (!rng_.chance(probability)) return core::Status::ok();
  ++stats_.eio_injected;
  last_fault_ = InjectedFault{InjectedFault::Kind::eio, op, name, 0, 0};
  return {core::Err::io_error, fmt::format("{}: {}: injected EIO", subject(name), what())};
}

// Replays one write on top of the bytes before it. This is the only place bytes change, so the
// live path and the crash path cannot disagree on what a write does.
void Disk::apply(std::string& bytes, const PendingWrite& w) {
  if (w.op == DiskOp::truncate) {
    bytes.resize(w.offset, '\0');
    return;
  }
  DISK_ASSERT(is_write_op(w.op));
  if (w.data.empty()) return;
  if (w.offset == bytes.size()) {
    bytes.append(w.data);  // an append at the end (the usual write): no zero fill to overwrite
    return;
  }
  const std::uint64_t end = w.offset + w.data.size();
  if (bytes.size() < end) bytes.resize(end, '\0');
  bytes.replace(w.offset, w.data.size(), w.data);
}

void Disk::drop_unreferenced_inodes() {
  std::set<std::uint64_t> referenced;
  for (const auto& [name, id] : names_) referenced.insert(id);
  for (const auto& [name, id] : durable_names_) referenced.insert(id);
  for (auto it = inodes_.begin(); it != inodes_.end();) {
    it = referenced.count(it->first) ? std::next(it) : inodes_.erase(it);
  }
}

// ---- writes --------------------------------------------------------------------------------------

core::Status Disk::write(DiskOp op, const std::string& name, std::uint64_t offset,
                         std::string_view data) {
  DISK_ASSERT(op == DiskOp::append || op == DiskOp::write_at);
  last_fault_.reset();
  if (auto s = check_name(op, name); !s) return s;
  Inode* inode = find(name);
  const std::uint64_t old_size = inode ? inode->current.size() : 0;
  if (op == DiskOp::append) offset = old_size;
  // One pointer to the facts instead of three captures, so the std::function stores it in place
  // rather than allocating at every write.
  struct WriteFacts {
    DiskOp op;
    std::size_t data_size;
    std::uint64_t offset;
  };
  const WriteFacts facts{op, data.size(), offset};
  const Describe what = [f = &facts] {
    return f->op == DiskOp::append ? fmt::format("append {} bytes at offset {}", f->data_size, f->offset)
                                   : fmt::format("write_at offset {}", f->offset);
  };
  const std::uint64_t limit = config_.max_file_size_bytes;
  if (offset > limit || data.size() > limit - offset) {
    return {core::Err::invalid,
            fmt::format("{}: {} length {}: file would exceed the disk's max file size of {} bytes",
                        subject(name), what(), data.size(), limit)};
  }
  const std::uint64_t new_size = data.empty() ? old_size : std::max(old_size, offset + data.size());
  if (auto s = check_growth(op, name, old_size, new_size, what); !s) return s;
  if (auto s = inject_eio(op, name, config_.faults.eio_write_probability, what); !s) return s;

  if (!inode) {
    const std::uint64_t id = next_inode_++;
    inode = &inodes_[id];
    names_[name] = id;
  }
  if (!data.empty()) {
    PendingWrite w{op, offset, std::string(data)};
    apply(inode->current, w);
    inode->unsynced.push_back(std::move(w));
  }
  DISK_ASSERT(inode->current.size() == new_size);
  ++stats_.writes;
  stats_.bytes_written += data.size();
  return core::Status::ok();
}

core::Status Disk::append(const std::string& name, std::string_view data) {
  return write(DiskOp::append, name, 0, data);
}

core::Status Disk::write_at(const std::string& name, std::uint64_t offset, std::string_view data) {
  return write(DiskOp::write_at, name, offset, data);
}

core::Status Disk::truncate(const std::string& name, std::uint64_t length) {
  last_fault_.reset();
  if (auto s = check_name(DiskOp::truncate, name); !s) return s;
  Inode* inode = find(name);
  if (!inode) return not_found(DiskOp::truncate, name);
  const Describe what = [length] { return fmt::format("truncate to {} bytes", length); };
  if (length > config_.max_file_size_bytes) {
    return {core::Err::invalid,
            fmt::format("{}: {}: exceeds the disk's max file size of {} bytes", subject(name), what(),
                        config_.max_file_size_bytes)};
  }
  const std::uint64_t old_size = inode->current.size();
  if (auto s = check_growth(DiskOp::truncate, name, old_size, length, what); !s) return s;
  if (auto s = inject_eio(DiskOp::truncate, name, config_.faults.eio_write_probability, what); !s) {
    return s;
  }
  PendingWrite w{DiskOp::truncate, length, {}};
  apply(inode->current, w);
  inode->unsynced.push_back(std::move(w));
  ++stats_.writes;
  return core::Status::ok();
}

// ---- reads ---------------------------------------------------------------------------------------

core::Result<std::string> Disk::read_at(const std::string& name, std::uint64_t offset,
                                        std::size_t length) {
  std::string copy;
  if (core::Status s = read_at_into(name, offset, length, copy); !s) return s;
  return copy;
}

core::Status Disk::read_at_into(const std::string& name, std::uint64_t offset, std::size_t length,
                                std::string& out) {
  out.clear();
  last_fault_.reset();
  if (auto s = check_name(DiskOp::read_at, name); !s) return s;
  const Inode* inode = find(name);
  if (!inode) return not_found(DiskOp::read_at, name);
  const Describe what = [offset, length] { return fmt::format("read_at offset {} length {}", offset, length); };
  const std::uint64_t size = inode->current.size();
  if (offset > size) {
    return core::Status{core::Err::invalid,
                        fmt::format("{}: {}: offset past the end of the file (size {})",
                                    subject(name), what(), size)};
  }
  if (auto s = inject_eio(DiskOp::read_at, name, config_.faults.eio_read_probability, what); !s) {
    return s;
  }
  out.assign(inode->current, offset, length);
  // The flip goes into the caller's copy only: the stored bytes stay true.
  if (!out.empty() && rng_.chance(config_.faults.bit_flip_read_probability)) {
    const std::uint64_t index = rng_.below(out.size());
    const auto bit = static_cast<std::uint32_t>(rng_.below(8));
    out[index] = static_cast<char>(static_cast<unsigned char>(out[index]) ^ (1U << bit));
    ++stats_.bit_flips_injected;
    last_fault_ = InjectedFault{InjectedFault::Kind::bit_flip, DiskOp::read_at, name,
                                offset + index, bit};
  }
  ++stats_.reads;
  stats_.bytes_read += out.size();
  return core::Status::ok();
}

core::Result<std::uint64_t> Disk::file_size(const std::string& name) const {
  if (auto s = check_name(DiskOp::file_size, name); !s) return s;
  const Inode* inode = find(name);
  if (!inode) return not_found(DiskOp::file_size, name);
  return static_cast<std::uint64_t>(inode->current.size());
}

bool Disk::exists(const std::string& name) const { return names_.count(name) != 0; }

std::vector<std::string> Disk::list_files() const {
  std::vector<std::string> out;
  out.reserve(names_.size());
  for (const auto& [name, id] : names_) out.push_back(name);
  return out;
}

// ---- durability ----------------------------------------------------------------------------------

core::Status Disk::sync(const std::string& name) {
  last_fault_.reset();
  if (auto s = check_name(DiskOp::sync, name); !s) return s;
  Inode* inode = find(name);
  if (!inode) return not_found(DiskOp::sync, name);
  if (auto s = inject_eio(DiskOp::sync, name, config_.faults.eio_sync_probability, [] { return std::string("sync"); });
      !s) {
    return s;
  }
  // current is durable with the unsynced writes applied: when they are all appends (an AOF's
  // usual case), the durable bytes are a prefix of current and only the tail needs copying.
  const bool appends_only = std::all_of(inode->unsynced.begin(), inode->unsynced.end(),
                                        [](const PendingWrite& w) { return w.op == DiskOp::append; });
  if (appends_only && inode->durable.size() <= inode->current.size()) {
    inode->durable.append(inode->current, inode->durable.size());
  } else {
    inode->durable = inode->current;
  }
  DISK_ASSERT(inode->durable.size() == inode->current.size());
  inode->unsynced.clear();
  ++stats_.syncs;
  return core::Status::ok();
}

core::Status Disk::sync_dir() {
  last_fault_.reset();
  if (auto s = inject_eio(DiskOp::sync_dir, "", config_.faults.eio_sync_probability,
                          [] { return std::string("sync_dir"); });
      !s) {
    return s;
  }
  durable_names_ = names_;
  drop_unreferenced_inodes();
  ++stats_.syncs;
  return core::Status::ok();
}

// ---- directory -----------------------------------------------------------------------------------

core::Status Disk::rename(const std::string& from, const std::string& to) {
  if (auto s = check_name(DiskOp::rename, from); !s) return s;
  if (auto s = check_name(DiskOp::rename, to); !s) return s;
  const auto it = names_.find(from);
  if (it == names_.end()) {
    return {core::Err::not_found,
            fmt::format("{}: rename to '{}': no such file", subject(from), to)};
  }
  if (from == to) return core::Status::ok();
  const std::uint64_t id = it->second;
  names_.erase(it);
  names_[to] = id;
  // The replaced target's inode lives on only while the durable directory still names it.
  drop_unreferenced_inodes();
  return core::Status::ok();
}

core::Status Disk::remove(const std::string& name) {
  if (auto s = check_name(DiskOp::remove, name); !s) return s;
  if (names_.erase(name) == 0) return not_found(DiskOp::remove, name);
  drop_unreferenced_inodes();
  return core::Status::ok();
}

// ---- latency -------------------------------------------------------------------------------------

Nanos Disk::op_latency(DiskOp op) {
  const DiskLatency& l = config_.faults.latency;
  const LatencyRange* range = &l.metadata;
  switch (op) {
    case DiskOp::read_at: range = &l.read; break;
    case DiskOp::append:
    case DiskOp::write_at:
    case DiskOp::truncate: range = &l.write; break;
    case DiskOp::sync:
    case DiskOp::sync_dir: range = &l.sync; break;
    case DiskOp::file_size:
    case DiskOp::rename:
    case DiskOp::remove:
    case DiskOp::list_files:
    case DiskOp::exists: range = &l.metadata; break;
  }
  if (range->max <= range->min) return range->min;
  return Nanos{rng_.range(range->min.count(), range->max.count())};
}

// ---- crash ---------------------------------------------------------------------------------------

// Decides what of one inode's unsynced writes lands, and makes the result its durable state.
CrashFileOutcome Disk::crash_inode(std::uint64_t id, Inode& inode, Rng& crash_rng) const {
  CrashFileOutcome out;
  out.inode = id;
  out.size_before_bytes = inode.current.size();
  out.writes_unsynced = inode.unsynced.size();
  for (const auto& w : inode.unsynced) out.bytes_unsynced += w.data.size();

  std::string bytes = inode.durable;
  const std::uint64_t kept = crash_rng.below(inode.unsynced.size() + 1);
  for (std::uint64_t i = 0; i < kept; ++i) {
    apply(bytes, inode.unsynced[i]);
    out.bytes_kept += inode.unsynced[i].data.size();
  }
  out.writes_kept = kept;

  // The first write that did not land may have been in flight: it tears at a sector boundary
  // strictly inside its range, so a write within one sector never tears.
  if (kept < inode.unsynced.size()) {
    const PendingWrite& w = inode.unsynced[kept];
    const std::uint64_t sector = config_.sector_size_bytes;
    const std::uint64_t end = w.offset + w.data.size();
    const std::uint64_t first = (w.offset / sector + 1) * sector;
    const std::uint64_t last = w.data.empty() ? 0 : ((end - 1) / sector) * sector;
    const bool tearable = w.op != DiskOp::truncate && !w.data.empty() && first <= last;
    if (tearable && crash_rng.chance(config_.faults.torn_write_probability)) {
      const std::uint64_t boundary = first + crash_rng.below((last - first) / sector + 1) * sector;
      PendingWrite landed{w.op, w.offset, w.data.substr(0, boundary - w.offset)};
      out.bytes_kept += landed.data.size();
      out.torn = true;
      out.torn_at_offset = boundary;
      out.torn_fill = config_.faults.torn_sector_fill;
      if (out.torn_fill != TornSectorFill::none) {
        out.torn_fill_bytes = std::min(sector, end - boundary);
        std::string fill(out.torn_fill_bytes, '\0');
        if (out.torn_fill == TornSectorFill::garbage) {
          for (auto& c : fill) c = static_cast<char>(crash_rng.below(256));
        }
        landed.data += fill;
      }
      apply(bytes, landed);
    }
  }

  inode.current = std::move(bytes);
  inode.durable = inode.current;
  inode.unsynced.clear();
  out.size_after_bytes = inode.current.size();
  DISK_ASSERT(out.bytes_kept <= out.bytes_unsynced);
  return out;
}

CrashReport Disk::crash(Rng& crash_rng) {
  last_fault_.reset();
  CrashReport report;
  const std::map<std::string, std::uint64_t> before = std::move(names_);
  names_ = durable_names_;
  drop_unreferenced_inodes();

  for (const auto& [name, id] : names_) {
    CrashFileOutcome outcome = crash_inode(id, inodes_.at(id), crash_rng);
    outcome.name = name;
    report.files.push_back(std::move(outcome));
  }
  for (const auto& [name, id] : before) {
    const auto it = names_.find(name);
    if (it == names_.end()) {
      report.names_lost.push_back(name);
    } else if (it->second != id) {
      report.names_reverted.push_back(name);
    }
  }
  for (const auto& [name, id] : names_) {
    if (!before.count(name)) report.names_restored.push_back(name);
  }
  ++stats_.crashes;
  return report;
}

void Disk::wipe() {
  last_fault_.reset();
  inodes_.clear();
  names_.clear();
  durable_names_.clear();
}

// ---- inspection ----------------------------------------------------------------------------------

core::Result<std::string> Disk::true_contents(const std::string& name) const {
  const Inode* inode = find(name);
  if (!inode) return not_found(DiskOp::read_at, name);
  return inode->current;
}

core::Result<std::string> Disk::durable_contents(const std::string& name) const {
  const Inode* inode = find(name);
  if (!inode) return not_found(DiskOp::read_at, name);
  return inode->durable;
}

core::Result<std::uint64_t> Disk::durable_size(const std::string& name) const {
  const Inode* inode = find(name);
  if (!inode) return not_found(DiskOp::file_size, name);
  return static_cast<std::uint64_t>(inode->durable.size());
}

core::Result<std::uint64_t> Disk::unsynced_bytes(const std::string& name) const {
  const Inode* inode = find(name);
  if (!inode) return not_found(DiskOp::sync, name);
  std::uint64_t total = 0;
  for (const auto& w : inode->unsynced) total += w.data.size();
  return total;
}

core::Result<std::uint64_t> Disk::unsynced_writes(const std::string& name) const {
  const Inode* inode = find(name);
  if (!inode) return not_found(DiskOp::sync, name);
  return static_cast<std::uint64_t>(inode->unsynced.size());
}

bool Disk::name_durable(const std::string& name) const {
  const auto now = names_.find(name);
  const auto durable = durable_names_.find(name);
  return now != names_.end() && durable != durable_names_.end() && now->second == durable->second;
}

std::uint64_t Disk::total_bytes() const {
  std::uint64_t total = 0;
  for (const auto& [name, id] : names_) total += inodes_.at(id).current.size();
  return total;
}

}  // namespace replsim::kernel
