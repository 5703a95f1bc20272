// sim/sim_env.cpp — adapters from the kernel's handles to core's interfaces, plus tracing.
#include "sim/sim_env.h"

#include <cstdio>
#include <cstdlib>
#include <exception>

#include <fmt/compile.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <iterator>

namespace replsim::sim {

namespace {

// "disk.<op>", the trace kind of a disk operation, without formatting it at every operation.
std::string_view disk_kind(kernel::DiskOp op) {
  switch (op) {
    case kernel::DiskOp::append: return "disk.append";
    case kernel::DiskOp::write_at: return "disk.write_at";
    case kernel::DiskOp::read_at: return "disk.read_at";
    case kernel::DiskOp::file_size: return "disk.file_size";
    case kernel::DiskOp::truncate: return "disk.truncate";
    case kernel::DiskOp::sync: return "disk.sync";
    case kernel::DiskOp::rename: return "disk.rename";
    case kernel::DiskOp::remove: return "disk.remove";
    case kernel::DiskOp::list_files: return "disk.list_files";
    case kernel::DiskOp::sync_dir: return "disk.sync_dir";
    case kernel::DiskOp::exists: return "disk.exists";
  }
  return "disk.unknown";
}

// A short "key=value" argument of a disk trace, formatted on the stack.
struct ShortDetail {
  std::array<char, 64> bytes{};
  std::size_t size = 0;
  std::string_view view() const { return {bytes.data(), size}; }
};
// `format` is an FMT_COMPILE format: parsed at compile time, as this runs at every disk write.
template <class Format, class... Args>
ShortDetail short_detail(const Format& format, const Args&... args) {
  ShortDetail d;
  d.size = fmt::format_to_n(d.bytes.data(), d.bytes.size(), format, args...).size;
  d.size = std::min(d.size, d.bytes.size());
  return d;
}

class SimConnection final : public core::Connection {
 public:
  SimConnection(kernel::Scheduler& sched, kernel::NodeId node,
                std::unique_ptr<kernel::NetConnection> conn)
      : sched_(sched), node_(node), conn_(std::move(conn)) {}
  core::Status send(std::string_view bytes) override { return conn_->send(bytes); }
  core::Result<std::string> recv(std::size_t max_bytes, core::Nanos timeout) override {
    return conn_->recv(max_bytes, sched_.local_to_global(node_, timeout));
  }
  void set_on_readable(std::function<void()> callback) override { conn_->set_on_readable(std::move(callback)); }
  void close() override { conn_->close(); }
  std::string peer() const override { return conn_->peer(); }

 private:
  kernel::Scheduler& sched_;
  kernel::NodeId node_;
  std::unique_ptr<kernel::NetConnection> conn_;
};

class SimListener final : public core::Listener {
 public:
  SimListener(kernel::Scheduler& sched, kernel::NodeId node,
              std::unique_ptr<kernel::NetListener> listener)
      : sched_(sched), node_(node), listener_(std::move(listener)) {}
  core::Result<std::unique_ptr<core::Connection>> accept(core::Nanos timeout) override {
    auto r = listener_->accept(sched_.local_to_global(node_, timeout));
    if (!r) return r.status();
    return std::unique_ptr<core::Connection>(
        std::make_unique<SimConnection>(sched_, node_, std::move(r.value())));
  }

 private:
  kernel::Scheduler& sched_;
  kernel::NodeId node_;
  std::unique_ptr<kernel::NetListener> listener_;
};

class SimEventAdapter final : public core::Event {
 public:
  SimEventAdapter(kernel::Scheduler& sched, kernel::NodeId node) : sched_(sched), node_(node), ev_(sched) {}
  void set() override { ev_.set(); }
  void reset() override { ev_.reset(); }
  bool is_set() const override { return ev_.is_set(); }
  bool wait(core::Nanos timeout) override { return ev_.wait(sched_.local_to_global(node_, timeout)); }

 private:
  kernel::Scheduler& sched_;
  kernel::NodeId node_;
  kernel::SimEvent ev_;
};

core::Status shutdown_status(std::string_view what) {
  return {core::Err::shutdown, fmt::format("{}: node is crashing", what)};
}

}  // namespace

SimEnv::SimEnv(SimEnvParts parts, kernel::NodeId node, std::uint64_t rng_seed)
    : parts_(std::move(parts)),
      node_(node),
      rng_(rng_seed, fmt::format("node/{}/{}", parts_.sched->node_name(node),
                                 parts_.sched->incarnation(node))) {}

std::string SimEnv::node_name() const { return parts_.sched->node_name(node_); }
std::string SimEnv::host() const { return parts_.sched->node_name(node_); }

void SimEnv::trace(std::string_view kind, std::string_view detail) {
  parts_.sched->trace().record(parts_.sched->now_ns(), parts_.sched->node_name(node_), kind, detail);
}

// ---- clock and tasks ---------------------------------------------------------------------------

core::LocalTime SimEnv::now() const { return core::LocalTime(parts_.sched->local_now(node_)); }

core::Nanos SimEnv::to_global(core::Nanos local) const {
  return parts_.sched->local_to_global(node_, local);
}

void SimEnv::sleep_for(core::Nanos d) { parts_.sched->sleep_for(to_global(d)); }

core::TaskInfo SimEnv::spawn(std::string name, std::function<void()> fn) {
  // An exception escaping a store task is an internal error of the store: the node aborts with the
  // message (the no-abort check sees it) instead of taking the whole simulator down.
  auto guarded = [this, fn = std::move(fn)] {
    std::string failure;
    try {
      fn();
      return;
    } catch (const std::exception& e) {
      failure = fmt::format("uncaught exception in task: {}", e.what());
    }
    abort(failure);
  };
  return {parts_.sched->spawn(node_, std::move(name), std::move(guarded))};
}

std::unique_ptr<core::Event> SimEnv::make_event() {
  return std::make_unique<SimEventAdapter>(*parts_.sched, node_);
}

// ---- network -----------------------------------------------------------------------------------

core::Result<std::unique_ptr<core::Listener>> SimEnv::listen(std::uint16_t port) {
  auto r = parts_.net->listen(node_, port);
  if (!r) return r.status();
  return std::unique_ptr<core::Listener>(
      std::make_unique<SimListener>(*parts_.sched, node_, std::move(r.value())));
}

core::Result<std::unique_ptr<core::Connection>> SimEnv::connect(const std::string& host,
                                                                std::uint16_t port,
                                                                core::Nanos timeout) {
  std::optional<kernel::Host> to = parts_.resolve ? parts_.resolve(host) : std::nullopt;
  if (!to) {
    return core::Status(core::Err::refused, fmt::format("{}:{}: unknown host", host, port));
  }
  auto r = parts_.net->connect(node_, *to, port, to_global(timeout));
  if (!r) return r.status();
  return std::unique_ptr<core::Connection>(
      std::make_unique<SimConnection>(*parts_.sched, node_, std::move(r.value())));
}

// ---- disk --------------------------------------------------------------------------------------

bool SimEnv::pay_disk_latency(kernel::DiskOp op) {
  if (parts_.sched->current_is_dying()) return false;
  const kernel::Nanos latency = parts_.disk->op_latency(op);
  if (latency > kernel::Nanos::zero() && parts_.sched->in_task()) parts_.sched->sleep_for(latency);
  return !parts_.sched->current_is_dying() &&
         parts_.sched->node_state(node_) != kernel::NodeState::down;
}

core::Status SimEnv::disk_status(kernel::DiskOp op, const std::string& name, core::Status st,
                                 std::string_view extra) {
  detail_.clear();
  fmt::format_to(std::back_inserter(detail_), FMT_COMPILE("file={} {} result="), name, extra);
  if (st.is_ok()) {
    detail_.append(std::string_view("ok"));
  } else {
    const std::string text = st.to_string();
    detail_.append(text);
  }
  trace(disk_kind(op), detail());
  return st;
}

core::Status SimEnv::append(const std::string& name, std::string_view data) {
  if (!pay_disk_latency(kernel::DiskOp::append)) return shutdown_status(name);
  return disk_status(kernel::DiskOp::append, name, parts_.disk->append(name, data),
                     short_detail(FMT_COMPILE("bytes={}"), data.size()).view());
}

core::Status SimEnv::write_at(const std::string& name, std::uint64_t offset, std::string_view data) {
  if (!pay_disk_latency(kernel::DiskOp::write_at)) return shutdown_status(name);
  return disk_status(kernel::DiskOp::write_at, name, parts_.disk->write_at(name, offset, data),
                     short_detail(FMT_COMPILE("offset={} bytes={}"), offset, data.size()).view());
}

core::Result<std::string> SimEnv::read_at(const std::string& name, std::uint64_t offset,
                                          std::size_t length) {
  std::string out;
  if (core::Status st = read_at_into(name, offset, length, out); !st) return st;
  return out;
}

core::Status SimEnv::read_at_into(const std::string& name, std::uint64_t offset, std::size_t length,
                                  std::string& out) {
  if (!pay_disk_latency(kernel::DiskOp::read_at)) {
    out.clear();
    return shutdown_status(name);
  }
  const core::Status st = parts_.disk->read_at_into(name, offset, length, out);
  const auto& fault = parts_.disk->last_injected_fault();
  detail_.clear();
  fmt::format_to(std::back_inserter(detail_), FMT_COMPILE("file={} offset={} length={} got="), name, offset, length);
  if (st) {
    fmt::format_to(std::back_inserter(detail_), FMT_COMPILE("{}"), out.size());
  } else {
    const std::string text = st.to_string();
    detail_.append(text);
  }
  if (fault) detail_.append(std::string_view(" fault=injected"));
  trace("disk.read_at", detail());
  return st;
}

core::Result<std::uint64_t> SimEnv::file_size(const std::string& name) {
  if (!pay_disk_latency(kernel::DiskOp::file_size)) return shutdown_status(name);
  return parts_.disk->file_size(name);
}

core::Status SimEnv::truncate(const std::string& name, std::uint64_t length) {
  if (!pay_disk_latency(kernel::DiskOp::truncate)) return shutdown_status(name);
  return disk_status(kernel::DiskOp::truncate, name, parts_.disk->truncate(name, length),
                     short_detail(FMT_COMPILE("length={}"), length).view());
}

core::Status SimEnv::sync(const std::string& name) {
  if (!pay_disk_latency(kernel::DiskOp::sync)) return shutdown_status(name);
  return disk_status(kernel::DiskOp::sync, name, parts_.disk->sync(name), "");
}

core::Status SimEnv::rename(const std::string& from, const std::string& to) {
  if (!pay_disk_latency(kernel::DiskOp::rename)) return shutdown_status(from);
  return disk_status(kernel::DiskOp::rename, from, parts_.disk->rename(from, to),
                     fmt::format("to={}", to));
}

core::Status SimEnv::remove(const std::string& name) {
  if (!pay_disk_latency(kernel::DiskOp::remove)) return shutdown_status(name);
  return disk_status(kernel::DiskOp::remove, name, parts_.disk->remove(name), "");
}

core::Result<std::vector<std::string>> SimEnv::list_files() {
  if (!pay_disk_latency(kernel::DiskOp::list_files)) return shutdown_status("list_files");
  return parts_.disk->list_files();
}

core::Status SimEnv::sync_dir() {
  if (!pay_disk_latency(kernel::DiskOp::sync_dir)) return shutdown_status("sync_dir");
  return disk_status(kernel::DiskOp::sync_dir, ".", parts_.disk->sync_dir(), "");
}

// ---- randomness, logging, faults ---------------------------------------------------------------

std::uint64_t SimEnv::random_u64() { return rng_.next_u64(); }

void SimEnv::log(std::string_view kind, std::string_view detail) { trace(kind, detail); }

bool SimEnv::buggify(std::string_view site) {
  const bool fire = parts_.buggify != nullptr && parts_.buggify->fire(site);
  if (fire) trace("buggify.fire", fmt::format("site={}", site));
  return fire;
}

void SimEnv::abort(std::string_view why) {
  const std::string message(why);
  trace("node.abort", fmt::format("message={}", message));
  if (parts_.on_abort) parts_.on_abort(node_, message);
  if (!parts_.sched->in_task() || parts_.sched->current_node() != node_) {
    std::fprintf(stderr, "replsim: node %s aborted outside its own task: %s\n",
                 node_name().c_str(), message.c_str());
    std::abort();
  }
  parts_.sched->crash_self(fmt::format("abort: {}", message));
}

void SimEnv::exit_on_error(std::string_view why) {
  const std::string message(why);
  trace("node.exit", fmt::format("message={}", message));
  if (!parts_.sched->in_task() || parts_.sched->current_node() != node_) {
    std::fprintf(stderr, "replsim: node %s stopped outside its own task: %s\n", node_name().c_str(),
                 message.c_str());
    std::abort();
  }
  parts_.sched->crash_self(fmt::format("exit: {}", message));
}

}  // namespace replsim::sim
