// sim/sim_env.h — core::Env implemented on the simulation kernel, for one node.
//
// It owns nothing of the world: the scheduler, network and the node's disk belong to the harness and
// outlive every SimEnv made for that node (one per incarnation). Each call is traced, disk calls pay
// the disk's latency (on the node's drifting clock), and a call made while the node is crashing
// returns Err::shutdown at once instead of blocking.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/env.h"
#include "sim/buggify.h"
#include "sim/kernel/disk.h"
#include "sim/kernel/network.h"
#include "sim/kernel/rng.h"
#include "sim/kernel/scheduler.h"

namespace replsim::sim {

// Name → host resolution for connect(), provided by the world.
using HostResolver = std::function<std::optional<kernel::Host>(const std::string& name)>;
// Called when a node aborts on an internal assertion (before the node crashes).
using AbortListener = std::function<void(kernel::NodeId node, const std::string& message)>;

struct SimEnvParts {
  kernel::Scheduler* sched = nullptr;
  kernel::Network* net = nullptr;
  kernel::Disk* disk = nullptr;
  Buggify* buggify = nullptr;
  HostResolver resolve;
  AbortListener on_abort;
};

class SimEnv final : public core::Env {
 public:
  // `host` is the node's network host (its kernel NodeId); rng_seed feeds the node's own stream,
  // which is derived per incarnation so a restarted node does not replay the old one's draws.
  SimEnv(SimEnvParts parts, kernel::NodeId node, std::uint64_t rng_seed);

  std::string node_name() const override;
  std::string host() const override;

  core::LocalTime now() const override;
  void sleep_for(core::Nanos d) override;
  core::TaskInfo spawn(std::string name, std::function<void()> fn) override;
  std::unique_ptr<core::Event> make_event() override;

  core::Result<std::unique_ptr<core::Listener>> listen(std::uint16_t port) override;
  core::Result<std::unique_ptr<core::Connection>> connect(const std::string& host,
                                                          std::uint16_t port,
                                                          core::Nanos timeout) override;

  core::Status append(const std::string& name, std::string_view data) override;
  core::Status write_at(const std::string& name, std::uint64_t offset,
                        std::string_view data) override;
  core::Result<std::string> read_at(const std::string& name, std::uint64_t offset,
                                    std::size_t length) override;
  core::Status read_at_into(const std::string& name, std::uint64_t offset, std::size_t length,
                            std::string& out) override;
  core::Result<std::uint64_t> file_size(const std::string& name) override;
  core::Status truncate(const std::string& name, std::uint64_t length) override;
  core::Status sync(const std::string& name) override;
  core::Status rename(const std::string& from, const std::string& to) override;
  core::Status remove(const std::string& name) override;
  core::Result<std::vector<std::string>> list_files() override;
  core::Status sync_dir() override;

  std::uint64_t random_u64() override;
  void log(std::string_view kind, std::string_view detail) override;
  bool buggify(std::string_view site) override;
  [[noreturn]] void abort(std::string_view why) override;
  [[noreturn]] void exit_on_error(std::string_view why) override;

 private:
  // Sleeps the disk's latency for `op`; false when the node is crashing (the op must not happen).
  bool pay_disk_latency(kernel::DiskOp op);
  core::Status disk_status(kernel::DiskOp op, const std::string& name, core::Status st,
                           std::string_view extra);
  // The detail of the trace record being made: formatted in place, reused from record to record.
  std::string_view detail() const { return {detail_.data(), detail_.size()}; }
  core::Nanos to_global(core::Nanos local) const;
  void trace(std::string_view kind, std::string_view detail);

  SimEnvParts parts_;
  kernel::NodeId node_;
  kernel::Rng rng_;
  fmt::memory_buffer detail_;
};

}  // namespace replsim::sim
