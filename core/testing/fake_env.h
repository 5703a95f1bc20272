// core/testing/fake_env.h — an in-memory Env for core's own unit tests, header-only and compiled only
// into test executables.
//
// It owns a small disk model (per-file current bytes, durable bytes and the unsynced writes between
// them; a current and a durable directory), a fake clock, a deterministic random stream and hooks to
// inject faults and crashes. It must never be linked into the store or the simulator: the full
// simulated disk with its random fault model is sim/kernel/disk.h; this fake does only what a test
// asks, so each test says exactly which crash or fault it exercises.
//
// Crash model (crash()): the directory reverts to what the last sync_dir() made durable; every file
// keeps its synced bytes plus, if the test asks, a prefix of its unsynced writes in order, and the next
// write may land torn (only its first bytes). Files whose names were not durable disappear.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/env.h"

namespace replsim::core::testing {

// Thrown by a disk operation when the test scheduled a crash at that operation, so the code under
// test unwinds exactly as a crashed node's task does in the simulator.
struct CrashNow {
  std::uint64_t op_index = 0;
};

// How much of each file's unsynced writes survives a crash.
struct CrashSpec {
  // Unsynced writes kept per file (by name in the current directory); files not listed keep
  // default_kept_writes. SIZE_MAX keeps them all.
  std::map<std::string, std::size_t> kept_writes;
  std::size_t default_kept_writes = 0;
  // If set, the first write that is not kept lands torn: only this many of its leading bytes
  // (clipped to its size). Truncates never tear.
  std::optional<std::size_t> torn_bytes;
  // Whether the directory keeps operations made since the last sync_dir (a journaled directory that
  // happened to commit them). Default: it reverts to the last sync_dir.
  bool keep_unsynced_directory = false;
};

class FakeEnv : public Env {
 public:
  explicit FakeEnv(std::string node_name = "n0") : node_name_(std::move(node_name)) {}

  // ---- test controls --------------------------------------------------------------------------

  // The next disk operation whose index (counted from 0 over every disk call) equals op_index throws
  // CrashNow instead of running. The current index is disk_ops().
  void crash_at_op(std::uint64_t op_index) { crash_at_op_ = op_index; }
  std::uint64_t disk_ops() const { return disk_ops_; }

  // The next append, write_at or truncate fails with code and changes nothing.
  void fail_next_write(Err code) { fail_next_write_ = code; }
  // The next sync or sync_dir fails with code and makes nothing durable.
  void fail_next_sync(Err code) { fail_next_sync_ = code; }
  // Flips one bit of a stored byte (current and durable copies): damage at rest.
  void flip_bit(const std::string& name, std::uint64_t offset, int bit = 0) {
    Inode& inode = *dir_.at(name);
    inode.bytes.at(offset) = static_cast<char>(inode.bytes.at(offset) ^ (1 << bit));
    if (offset < inode.durable.size()) {
      inode.durable[offset] = static_cast<char>(inode.durable[offset] ^ (1 << bit));
    }
  }
  // The next read_at of name that covers offset returns that bit flipped; the stored bytes stay true.
  void flip_bit_on_next_read(const std::string& name, std::uint64_t offset, int bit = 0) {
    read_flips_.push_back(ReadFlip{name, offset, bit});
  }

  // Power loss: see the crash model at the top of this file. Also clears pending faults.
  void crash(const CrashSpec& spec = {}) {
    std::map<std::string, std::shared_ptr<Inode>> survivors =
        spec.keep_unsynced_directory ? dir_ : durable_dir_;
    std::map<const Inode*, std::string> current_name;
    for (const auto& [name, inode] : dir_) current_name[inode.get()] = name;
    for (auto& [name, inode] : survivors) {
      std::size_t kept = spec.default_kept_writes;
      auto cur = current_name.find(inode.get());
      if (cur != current_name.end()) {
        auto it = spec.kept_writes.find(cur->second);
        if (it != spec.kept_writes.end()) kept = it->second;
      }
      std::string bytes = inode->durable;
      std::size_t i = 0;
      for (; i < inode->unsynced.size() && i < kept; ++i) apply(bytes, inode->unsynced[i]);
      if (i < inode->unsynced.size() && spec.torn_bytes && !inode->unsynced[i].is_truncate) {
        Write torn = inode->unsynced[i];
        torn.data.resize(std::min(torn.data.size(), *spec.torn_bytes));
        apply(bytes, torn);
      }
      inode->bytes = bytes;
      inode->durable = std::move(bytes);
      inode->unsynced.clear();
    }
    dir_ = survivors;
    durable_dir_ = std::move(survivors);
    crash_at_op_.reset();
    fail_next_write_.reset();
    fail_next_sync_.reset();
    read_flips_.clear();
  }

  // Inspection for assertions.
  bool exists(const std::string& name) const { return dir_.count(name) != 0; }
  const std::string& bytes(const std::string& name) const { return dir_.at(name)->bytes; }
  std::size_t unsynced_writes(const std::string& name) const {
    return dir_.at(name)->unsynced.size();
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& entry : dir_) out.push_back(entry.first);
    return out;
  }
  // Overwrites a file's bytes directly, durable at once (setting up a scenario, not an operation).
  void put_file(const std::string& name, std::string data) {
    auto inode = std::make_shared<Inode>();
    inode->bytes = data;
    inode->durable = std::move(data);
    dir_[name] = inode;
    durable_dir_[name] = inode;
  }
  const std::vector<std::string>& log_lines() const { return log_lines_; }
  void advance(Nanos d) { now_ += d; }

  // ---- Env: identity, clock, tasks, network ---------------------------------------------------

  std::string node_name() const override { return node_name_; }
  std::string host() const override { return "10.0.0.1"; }
  LocalTime now() const override { return LocalTime(now_); }
  void sleep_for(Nanos d) override { now_ += d; }
  // Runs fn at once, to completion: the fake has no scheduler.
  TaskInfo spawn(std::string, std::function<void()> fn) override {
    fn();
    return TaskInfo{++task_count_};
  }
  std::unique_ptr<Event> make_event() override { return std::make_unique<FakeEvent>(); }
  Result<std::unique_ptr<Listener>> listen(std::uint16_t port) override {
    return Status(Err::refused, "fake env has no network (listen on port " + std::to_string(port) + ")");
  }
  Result<std::unique_ptr<Connection>> connect(const std::string& host_name, std::uint16_t port,
                                              Nanos) override {
    return Status(Err::refused, "fake env has no network (connect to " + host_name + ":" +
                                    std::to_string(port) + ")");
  }

  // ---- Env: disk ------------------------------------------------------------------------------

  Status append(const std::string& name, std::string_view data) override {
    begin_op();
    if (Status s = take_write_fault(name); !s) return s;
    Inode& inode = open_or_create(name);
    Write w{false, inode.bytes.size(), std::string(data)};
    apply(inode.bytes, w);
    inode.unsynced.push_back(std::move(w));
    return Status::ok();
  }
  Status write_at(const std::string& name, std::uint64_t offset, std::string_view data) override {
    begin_op();
    auto it = dir_.find(name);
    const std::uint64_t size = it == dir_.end() ? 0 : it->second->bytes.size();
    if (offset > size) {
      return Status(Err::invalid, "write_at " + name + " offset " + std::to_string(offset) +
                                      " past end " + std::to_string(size));
    }
    if (Status s = take_write_fault(name); !s) return s;
    Inode& inode = open_or_create(name);
    Write w{false, offset, std::string(data)};
    apply(inode.bytes, w);
    inode.unsynced.push_back(std::move(w));
    return Status::ok();
  }
  Result<std::string> read_at(const std::string& name, std::uint64_t offset,
                              std::size_t length) override {
    begin_op();
    auto it = dir_.find(name);
    if (it == dir_.end()) return Status(Err::not_found, "read_at: no file " + name);
    const std::string& b = it->second->bytes;
    if (offset > b.size()) {
      return Status(Err::invalid, "read_at " + name + " offset " + std::to_string(offset) +
                                      " past end " + std::to_string(b.size()));
    }
    std::string out = b.substr(offset, length);
    for (auto f = read_flips_.begin(); f != read_flips_.end(); ++f) {
      if (f->name == name && f->offset >= offset && f->offset < offset + out.size()) {
        out[f->offset - offset] = static_cast<char>(out[f->offset - offset] ^ (1 << f->bit));
        read_flips_.erase(f);
        break;
      }
    }
    return out;
  }
  Result<std::uint64_t> file_size(const std::string& name) override {
    begin_op();
    auto it = dir_.find(name);
    if (it == dir_.end()) return Status(Err::not_found, "file_size: no file " + name);
    return static_cast<std::uint64_t>(it->second->bytes.size());
  }
  Status truncate(const std::string& name, std::uint64_t length) override {
    begin_op();
    auto it = dir_.find(name);
    if (it == dir_.end()) return Status(Err::not_found, "truncate: no file " + name);
    if (Status s = take_write_fault(name); !s) return s;
    Write w{true, length, {}};
    apply(it->second->bytes, w);
    it->second->unsynced.push_back(std::move(w));
    return Status::ok();
  }
  Status sync(const std::string& name) override {
    begin_op();
    auto it = dir_.find(name);
    if (it == dir_.end()) return Status(Err::not_found, "sync: no file " + name);
    if (Status s = take_sync_fault(name); !s) return s;
    it->second->durable = it->second->bytes;
    it->second->unsynced.clear();
    return Status::ok();
  }
  Status rename(const std::string& from, const std::string& to) override {
    begin_op();
    auto it = dir_.find(from);
    if (it == dir_.end()) return Status(Err::not_found, "rename: no file " + from);
    auto inode = it->second;
    dir_.erase(it);
    dir_[to] = std::move(inode);
    return Status::ok();
  }
  Status remove(const std::string& name) override {
    begin_op();
    if (dir_.erase(name) == 0) return Status(Err::not_found, "remove: no file " + name);
    return Status::ok();
  }
  Result<std::vector<std::string>> list_files() override {
    begin_op();
    return names();
  }
  Status sync_dir() override {
    begin_op();
    if (Status s = take_sync_fault("<dir>"); !s) return s;
    durable_dir_ = dir_;
    return Status::ok();
  }

  // ---- Env: randomness, logging, fault hooks --------------------------------------------------

  std::uint64_t random_u64() override {
    rng_state_ ^= rng_state_ >> 12;
    rng_state_ ^= rng_state_ << 25;
    rng_state_ ^= rng_state_ >> 27;
    return rng_state_ * 0x2545f4914f6cdd1dULL;
  }
  void log(std::string_view kind, std::string_view detail) override {
    log_lines_.push_back(std::string(kind) + " " + std::string(detail));
  }
  bool buggify(std::string_view) override { return false; }
  [[noreturn]] void abort(std::string_view why) override {
    throw std::logic_error("FakeEnv::abort: " + std::string(why));
  }

 private:
  // One unsynced operation on a file, replayed in order by crash().
  struct Write {
    bool is_truncate = false;
    std::uint64_t offset = 0;  // write position, or the new length of a truncate
    std::string data;
  };
  struct Inode {
    std::string bytes;    // what reads return
    std::string durable;  // what the last sync made stable
    std::vector<Write> unsynced;
  };
  struct ReadFlip {
    std::string name;
    std::uint64_t offset = 0;
    int bit = 0;
  };
  class FakeEvent : public Event {
   public:
    void set() override { set_ = true; }
    void reset() override { set_ = false; }
    bool is_set() const override { return set_; }
    bool wait(Nanos) override { return set_; }

   private:
    bool set_ = false;
  };

  static void apply(std::string& bytes, const Write& w) {
    if (w.is_truncate) {
      bytes.resize(w.offset, '\0');
      return;
    }
    if (bytes.size() < w.offset + w.data.size()) bytes.resize(w.offset + w.data.size(), '\0');
    bytes.replace(w.offset, w.data.size(), w.data);
  }

  void begin_op() {
    const std::uint64_t index = disk_ops_++;
    if (crash_at_op_ && *crash_at_op_ == index) {
      crash_at_op_.reset();
      throw CrashNow{index};
    }
  }
  Inode& open_or_create(const std::string& name) {
    auto& slot = dir_[name];
    if (!slot) slot = std::make_shared<Inode>();
    return *slot;
  }
  Status take_write_fault(const std::string& name) {
    if (!fail_next_write_) return Status::ok();
    const Err code = *fail_next_write_;
    fail_next_write_.reset();
    return Status(code, "injected write fault on " + name);
  }
  Status take_sync_fault(const std::string& name) {
    if (!fail_next_sync_) return Status::ok();
    const Err code = *fail_next_sync_;
    fail_next_sync_.reset();
    return Status(code, "injected sync fault on " + name);
  }

  std::string node_name_;
  Nanos now_{0};
  std::uint64_t task_count_ = 0;
  std::uint64_t rng_state_ = 0x9E3779B97F4A7C15ULL;
  std::map<std::string, std::shared_ptr<Inode>> dir_;
  std::map<std::string, std::shared_ptr<Inode>> durable_dir_;
  std::uint64_t disk_ops_ = 0;
  std::optional<std::uint64_t> crash_at_op_;
  std::optional<Err> fail_next_write_;
  std::optional<Err> fail_next_sync_;
  std::vector<ReadFlip> read_flips_;
  std::vector<std::string> log_lines_;
};

}  // namespace replsim::core::testing
