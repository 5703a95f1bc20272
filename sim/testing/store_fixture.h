// sim/testing/store_fixture.h — a small simulated world for the store's own tests.
//
// StoreFixture owns a scheduler, trace, network, buggify state and, per node, a kernel node, a disk
// and the node's current env and store. Tests start, crash and restart stores, count and crash at disk
// operations, and talk to stores through FixtureClient, a raw RESP client that runs as a harness task.
// It is test-only code: it never decides what a test checks, and it keeps every random choice on the
// run's seed so a failing case replays exactly.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/resp.h"
#include "core/store.h"
#include "sim/buggify.h"
#include "sim/kernel/disk.h"
#include "sim/kernel/network.h"
#include "sim/kernel/rng.h"
#include "sim/kernel/scheduler.h"
#include "sim/kernel/trace.h"
#include "sim/sim_env.h"

namespace replsim::sim::testing {

using namespace std::chrono_literals;

struct FixtureConfig {
  std::uint64_t seed = 1;
  kernel::NetworkConfig network;
  // Every node's disk. The default has no operation-time faults; torn writes on crash follow
  // faults.torn_write_probability (the kernel's default, 0.5).
  kernel::DiskConfig disk;
  BuggifyConfig buggify;
};

// Disk operations that change the disk (the crash points): append, write_at, truncate, sync, rename,
// remove, sync_dir. Reads, sizes and listings are counted separately.
bool is_mutating_disk_op(kernel::DiskOp op);

// The Env a fixture node's store gets: the node's SimEnv, plus a hook in front of every disk
// operation and a record of deliberate exits (aborts reach the fixture through SimEnv's on_abort).
class HookedEnv final : public core::Env {
 public:
  // Called before a disk operation runs, from the task that performs it.
  using DiskHook = std::function<void(kernel::DiskOp op, const std::string& name)>;

  HookedEnv(std::unique_ptr<SimEnv> inner, DiskHook hook);

  std::string node_name() const override { return inner_->node_name(); }
  std::string host() const override { return inner_->host(); }
  core::LocalTime now() const override { return inner_->now(); }
  void sleep_for(core::Nanos d) override { inner_->sleep_for(d); }
  core::TaskInfo spawn(std::string name, std::function<void()> fn) override {
    return inner_->spawn(std::move(name), std::move(fn));
  }
  std::unique_ptr<core::Event> make_event() override { return inner_->make_event(); }
  core::Result<std::unique_ptr<core::Listener>> listen(std::uint16_t port) override {
    return inner_->listen(port);
  }
  core::Result<std::unique_ptr<core::Connection>> connect(const std::string& host, std::uint16_t port,
                                                          core::Nanos timeout) override {
    return inner_->connect(host, port, timeout);
  }

  core::Status append(const std::string& name, std::string_view data) override;
  core::Status write_at(const std::string& name, std::uint64_t offset, std::string_view data) override;
  core::Result<std::string> read_at(const std::string& name, std::uint64_t offset,
                                    std::size_t length) override;
  core::Result<std::uint64_t> file_size(const std::string& name) override;
  core::Status truncate(const std::string& name, std::uint64_t length) override;
  core::Status sync(const std::string& name) override;
  core::Status rename(const std::string& from, const std::string& to) override;
  core::Status remove(const std::string& name) override;
  core::Result<std::vector<std::string>> list_files() override;
  core::Status sync_dir() override;

  std::uint64_t random_u64() override { return inner_->random_u64(); }
  void log(std::string_view kind, std::string_view detail) override { inner_->log(kind, detail); }
  bool buggify(std::string_view site) override { return inner_->buggify(site); }
  [[noreturn]] void abort(std::string_view why) override;
  [[noreturn]] void exit_on_error(std::string_view why) override;

  const std::vector<std::string>& exits() const { return exits_; }

 private:
  void before(kernel::DiskOp op, const std::string& name) {
    if (hook_) hook_(op, name);
  }

  std::unique_ptr<SimEnv> inner_;
  DiskHook hook_;
  std::vector<std::string> exits_;
};

class StoreFixture {
 public:
  explicit StoreFixture(FixtureConfig config = {});
  ~StoreFixture();
  StoreFixture(const StoreFixture&) = delete;
  StoreFixture& operator=(const StoreFixture&) = delete;

  kernel::Scheduler& sched() { return *sched_; }
  kernel::Network& net() { return *net_; }
  kernel::Trace& trace() { return trace_; }
  std::uint64_t seed() const { return config_.seed; }

  // ---- nodes ------------------------------------------------------------------------------------
  // Adds a node ("n0", "n1", ...) with an empty disk; returns its index. Nothing runs until start().
  std::size_t add_node(core::StoreConfig config);
  std::size_t node_count() const { return nodes_.size(); }
  kernel::NodeId node_id(std::size_t i) const { return nodes_.at(i).id; }
  kernel::Disk& disk(std::size_t i) { return *nodes_.at(i).disk; }
  // The node's store configuration for its next start (tests may change it between restarts).
  core::StoreConfig& store_config(std::size_t i) { return nodes_.at(i).config; }
  // The current store, or nullptr while the node is down.
  core::Store* store(std::size_t i) { return nodes_.at(i).store.get(); }
  bool is_up(std::size_t i) const;

  // Builds a fresh env and store and runs start() in a task of the node; runs the simulation until
  // start() returned (or `limit` of simulated time passed: Err::timeout). Returns start()'s status.
  core::Status start(std::size_t i, kernel::Nanos limit = 60s);
  // Power loss: crashes the node (its tasks are unwound, its connections reset), destroys its store,
  // then applies the disk's crash model (unsynced writes partly lost, maybe torn).
  void crash(std::size_t i, const std::string& reason = "test crash");
  // restart_node + start(). REQUIRES: the node is down.
  core::Status restart(std::size_t i, kernel::Nanos limit = 60s);
  // The disk crash report of the node's last crash.
  const kernel::CrashReport& last_crash_report(std::size_t i) const { return nodes_.at(i).crash_report; }
  // Messages of Env::abort (internal assertions) and Env::exit_on_error over every incarnation.
  std::vector<std::string> aborts(std::size_t i) const { return nodes_.at(i).aborts; }
  std::vector<std::string> exits(std::size_t i) const { return nodes_.at(i).exits; }

  // ---- disk-operation counting and crash points -------------------------------------------------
  // Disk operations the node has performed since the fixture began (over every incarnation).
  std::uint64_t mutating_disk_ops(std::size_t i) const { return nodes_.at(i).mutating_ops; }
  std::uint64_t all_disk_ops(std::size_t i) const { return nodes_.at(i).all_ops; }
  // The node crashes just before its mutating disk operation number `op_index` (counted like
  // mutating_disk_ops) would run: every operation before it happened, it and none after did. The
  // crash unwinds the node's tasks, destroys the store and applies the disk crash model, as crash().
  void crash_before_mutating_op(std::size_t i, std::uint64_t op_index);
  // Whether the node went down at its crash point (it may finish its work before reaching it).
  bool crash_point_hit(std::size_t i) const { return nodes_.at(i).crash_point_hit; }

  // ---- running ----------------------------------------------------------------------------------
  // Runs the simulation for d of simulated time.
  void run_for(kernel::Nanos d);
  // Runs fn as a harness task (it never crashes) and the simulation until fn returns or `limit` of
  // simulated time passes. Returns whether fn finished. Inside fn use CHECK, not REQUIRE: an
  // exception must not leave a fiber.
  bool run_task(std::function<void()> fn, kernel::Nanos limit = 600s);

  // A client host for FixtureClient.
  kernel::Host add_client_host(const std::string& name) { return net_->add_client(name); }

 private:
  struct Node {
    std::string name;
    kernel::NodeId id = 0;
    core::StoreConfig config;
    std::unique_ptr<kernel::Disk> disk;
    std::unique_ptr<kernel::Rng> crash_rng;
    std::unique_ptr<HookedEnv> env;
    std::unique_ptr<core::Store> store;
    kernel::CrashReport crash_report;
    std::vector<std::string> aborts;
    std::vector<std::string> exits;
    std::uint64_t mutating_ops = 0;
    std::uint64_t all_ops = 0;
    std::optional<std::uint64_t> crash_at_op;
    bool crash_point_hit = false;
  };

  void on_node_down(kernel::NodeId id);
  void on_disk_op(std::size_t i, kernel::DiskOp op);

  FixtureConfig config_;
  kernel::Trace trace_;
  std::unique_ptr<kernel::Scheduler> sched_;
  std::unique_ptr<kernel::Network> net_;
  std::unique_ptr<Buggify> buggify_;
  std::vector<Node> nodes_;
};

// A raw RESP client on its own client host. Every call must come from a harness task (run_task).
class FixtureClient {
 public:
  FixtureClient(StoreFixture& fixture, std::string name);

  // Opens a connection to node i (closing any earlier one).
  core::Status connect(std::size_t node, kernel::Nanos timeout = 1s);
  bool connected() const { return conn_ != nullptr; }
  core::Status send_raw(std::string_view bytes);
  // The next complete reply. Err::closed: the server closed the connection before a whole reply;
  // Err::invalid: the reply bytes did not parse; Err::timeout, Err::reset.
  core::Result<core::RespValue> read_reply(kernel::Nanos timeout = 5s);
  // send encode_command(argv), then read_reply. Connects to `node` first if not connected.
  core::Result<core::RespValue> call(const std::vector<std::string>& argv, kernel::Nanos timeout = 5s);
  // Reads until the server closes the connection: true if it did (cleanly or by reset) within the
  // timeout, with no further reply bytes; false if more replies arrived or it stayed open.
  bool expect_closed(kernel::Nanos timeout = 5s);
  void close();
  void set_default_node(std::size_t node) { default_node_ = node; }

 private:
  StoreFixture& fixture_;
  std::string name_;
  kernel::Host host_;
  std::size_t default_node_ = 0;
  std::unique_ptr<kernel::NetConnection> conn_;
  core::RespReplyParser parser_;
};

// "OK", "(error) ERR ...", "(integer) 3" ... for messages; "<no reply: reason>" for an error.
std::string display(const core::Result<core::RespValue>& reply);

}  // namespace replsim::sim::testing
