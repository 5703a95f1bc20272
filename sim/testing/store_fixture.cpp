// sim/testing/store_fixture.cpp — the store test fixture: nodes, crashes, crash points and a raw client.
#include "sim/testing/store_fixture.h"

#include <fmt/format.h>

#include <utility>

namespace replsim::sim::testing {

bool is_mutating_disk_op(kernel::DiskOp op) {
  switch (op) {
    case kernel::DiskOp::append:
    case kernel::DiskOp::write_at:
    case kernel::DiskOp::truncate:
    case kernel::DiskOp::sync:
    case kernel::DiskOp::rename:
    case kernel::DiskOp::remove:
    case kernel::DiskOp::sync_dir:
      return true;
    case kernel::DiskOp::read_at:
    case kernel::DiskOp::file_size:
    case kernel::DiskOp::list_files:
    case kernel::DiskOp::exists:
      return false;
  }
  return false;
}

// ==== HookedEnv ===================================================================================

HookedEnv::HookedEnv(std::unique_ptr<SimEnv> inner, DiskHook hook)
    : inner_(std::move(inner)), hook_(std::move(hook)) {}

core::Status HookedEnv::append(const std::string& name, std::string_view data) {
  before(kernel::DiskOp::append, name);
  return inner_->append(name, data);
}

core::Status HookedEnv::write_at(const std::string& name, std::uint64_t offset, std::string_view data) {
  before(kernel::DiskOp::write_at, name);
  return inner_->write_at(name, offset, data);
}

core::Result<std::string> HookedEnv::read_at(const std::string& name, std::uint64_t offset,
                                             std::size_t length) {
  before(kernel::DiskOp::read_at, name);
  return inner_->read_at(name, offset, length);
}

core::Result<std::uint64_t> HookedEnv::file_size(const std::string& name) {
  before(kernel::DiskOp::file_size, name);
  return inner_->file_size(name);
}

core::Status HookedEnv::truncate(const std::string& name, std::uint64_t length) {
  before(kernel::DiskOp::truncate, name);
  return inner_->truncate(name, length);
}

core::Status HookedEnv::sync(const std::string& name) {
  before(kernel::DiskOp::sync, name);
  return inner_->sync(name);
}

core::Status HookedEnv::rename(const std::string& from, const std::string& to) {
  before(kernel::DiskOp::rename, from);
  return inner_->rename(from, to);
}

core::Status HookedEnv::remove(const std::string& name) {
  before(kernel::DiskOp::remove, name);
  return inner_->remove(name);
}

core::Result<std::vector<std::string>> HookedEnv::list_files() {
  before(kernel::DiskOp::list_files, "");
  return inner_->list_files();
}

core::Status HookedEnv::sync_dir() {
  before(kernel::DiskOp::sync_dir, "");
  return inner_->sync_dir();
}

void HookedEnv::abort(std::string_view why) { inner_->abort(why); }

void HookedEnv::exit_on_error(std::string_view why) {
  exits_.emplace_back(why);
  inner_->exit_on_error(why);
}

// ==== StoreFixture ================================================================================

StoreFixture::StoreFixture(FixtureConfig config) : config_(std::move(config)) {
  sched_ = std::make_unique<kernel::Scheduler>(trace_);
  net_ = std::make_unique<kernel::Network>(*sched_, config_.seed, config_.network);
  buggify_ = std::make_unique<Buggify>(config_.seed, config_.buggify);
  sched_->on_node_down([this](kernel::NodeId id) { on_node_down(id); });
}

StoreFixture::~StoreFixture() {
  // Unwind every node's tasks while its store still exists; on_node_down then drops the store.
  for (Node& n : nodes_) {
    if (sched_->node_state(n.id) != kernel::NodeState::down) sched_->crash_node(n.id, "fixture teardown");
  }
  net_.reset();
  sched_.reset();
}

std::size_t StoreFixture::add_node(core::StoreConfig config) {
  Node n;
  n.name = fmt::format("n{}", nodes_.size());
  n.id = sched_->add_node(n.name);
  n.config = std::move(config);
  n.disk = std::make_unique<kernel::Disk>(n.name, config_.disk,
                                          kernel::Rng(config_.seed, fmt::format("disk/{}", n.name)));
  n.crash_rng = std::make_unique<kernel::Rng>(config_.seed, fmt::format("disk/{}/crash", n.name));
  nodes_.push_back(std::move(n));
  return nodes_.size() - 1;
}

bool StoreFixture::is_up(std::size_t i) const {
  return sched_->node_state(nodes_.at(i).id) != kernel::NodeState::down;
}

core::Status StoreFixture::start(std::size_t i, kernel::Nanos limit) {
  Node& n = nodes_.at(i);
  if (!is_up(i)) return core::Status(core::Err::invalid, fmt::format("{} is down", n.name));
  n.store.reset();
  n.env.reset();
  SimEnvParts parts;
  parts.sched = sched_.get();
  parts.net = net_.get();
  parts.disk = n.disk.get();
  parts.buggify = buggify_.get();
  parts.resolve = [this](const std::string& name) -> std::optional<kernel::Host> {
    for (const Node& other : nodes_) {
      if (other.name == name) return other.id;
    }
    return std::nullopt;
  };
  // SimEnv reports every abort here, also those of an exception escaping a task.
  parts.on_abort = [this, i](kernel::NodeId, const std::string& message) {
    nodes_.at(i).aborts.push_back(message);
  };
  auto sim_env = std::make_unique<SimEnv>(std::move(parts), n.id, config_.seed);
  n.env = std::make_unique<HookedEnv>(std::move(sim_env), [this, i](kernel::DiskOp op, const std::string&) {
    on_disk_op(i, op);
  });
  n.store = std::make_unique<core::Store>(*n.env, n.config);
  auto result = std::make_shared<std::optional<core::Status>>();
  core::Store* store = n.store.get();
  n.env->spawn("store-start", [store, result] { *result = store->start(); });
  const kernel::NodeId id = n.id;
  sched_->run(sched_->now() + limit, UINT64_MAX, [&] {
    return result->has_value() || sched_->node_state(id) == kernel::NodeState::down;
  });
  if (result->has_value()) return **result;
  if (!is_up(i)) return core::Status(core::Err::shutdown, fmt::format("{} went down during start", n.name));
  return core::Status(core::Err::timeout, fmt::format("{}: start did not finish", n.name));
}

void StoreFixture::crash(std::size_t i, const std::string& reason) {
  Node& n = nodes_.at(i);
  if (!is_up(i)) return;
  sched_->crash_node(n.id, reason);
}

core::Status StoreFixture::restart(std::size_t i, kernel::Nanos limit) {
  Node& n = nodes_.at(i);
  if (is_up(i)) return core::Status(core::Err::invalid, fmt::format("{} is not down", n.name));
  sched_->restart_node(n.id);
  return start(i, limit);
}

void StoreFixture::on_node_down(kernel::NodeId id) {
  for (Node& n : nodes_) {
    if (n.id != id) continue;
    // The node's tasks are gone: the store may go now, then the disk loses what was not durable.
    n.store.reset();
    if (n.env) {
      n.exits.insert(n.exits.end(), n.env->exits().begin(), n.env->exits().end());
    }
    n.env.reset();
    n.crash_at_op.reset();
    n.crash_report = n.disk->crash(*n.crash_rng);
    trace_.record(sched_->now_ns(), n.name, "disk.crash", n.crash_report.detail());
  }
}

void StoreFixture::crash_before_mutating_op(std::size_t i, std::uint64_t op_index) {
  Node& n = nodes_.at(i);
  n.crash_at_op = op_index;
  n.crash_point_hit = false;
}

void StoreFixture::on_disk_op(std::size_t i, kernel::DiskOp op) {
  Node& n = nodes_.at(i);
  ++n.all_ops;
  if (!is_mutating_disk_op(op)) return;
  // A task being unwound must not park; it can only be on its way down anyway.
  if (n.crash_at_op && *n.crash_at_op == n.mutating_ops && !sched_->current_is_dying()) {
    n.crash_point_hit = true;
    n.crash_at_op.reset();
    sched_->crash_self(fmt::format("crash point before mutating disk op {}", n.mutating_ops));
  }
  ++n.mutating_ops;
}

void StoreFixture::run_for(kernel::Nanos d) { sched_->run(sched_->now() + d); }

bool StoreFixture::run_task(std::function<void()> fn, kernel::Nanos limit) {
  auto done = std::make_shared<bool>(false);
  sched_->spawn(kernel::kNoNode, "test", [fn = std::move(fn), done] {
    fn();
    *done = true;
  });
  sched_->run(sched_->now() + limit, UINT64_MAX, [done] { return *done; });
  return *done;
}

// ==== FixtureClient ===============================================================================

FixtureClient::FixtureClient(StoreFixture& fixture, std::string name)
    : fixture_(fixture), name_(std::move(name)), host_(fixture.add_client_host(name_)) {}

core::Status FixtureClient::connect(std::size_t node, kernel::Nanos timeout) {
  close();
  auto conn = fixture_.net().connect(host_, fixture_.node_id(node), fixture_.store_config(node).port,
                                     timeout);
  if (!conn) return conn.status();
  conn_ = std::move(conn.value());
  parser_ = core::RespReplyParser();
  default_node_ = node;
  return core::Status::ok();
}

core::Status FixtureClient::send_raw(std::string_view bytes) {
  if (!conn_) return core::Status(core::Err::closed, fmt::format("{}: not connected", name_));
  return conn_->send(bytes);
}

core::Result<core::RespValue> FixtureClient::read_reply(kernel::Nanos timeout) {
  if (!conn_) return core::Status(core::Err::closed, fmt::format("{}: not connected", name_));
  const std::int64_t deadline = fixture_.sched().now_ns() + timeout.count();
  for (;;) {
    if (auto value = parser_.next()) return std::move(*value);
    if (parser_.failed()) return core::Status(core::Err::invalid, "malformed reply: " + parser_.error());
    const std::int64_t left = deadline - fixture_.sched().now_ns();
    if (left <= 0) return core::Status(core::Err::timeout, fmt::format("{}: no reply in time", name_));
    auto data = conn_->recv(1 << 20, kernel::Nanos(left));
    if (!data) return data.status();
    parser_.feed(data.value());
  }
}

core::Result<core::RespValue> FixtureClient::call(const std::vector<std::string>& argv,
                                                  kernel::Nanos timeout) {
  if (!conn_) {
    if (core::Status st = connect(default_node_, timeout); !st) return st;
  }
  if (core::Status st = send_raw(core::encode_command(argv)); !st) {
    close();
    return st;
  }
  auto reply = read_reply(timeout);
  if (!reply) close();  // the command's fate is unknown; a later call starts afresh
  return reply;
}

bool FixtureClient::expect_closed(kernel::Nanos timeout) {
  if (!conn_) return false;
  if (parser_.pending_bytes() > 0 || parser_.next()) return false;
  const std::int64_t deadline = fixture_.sched().now_ns() + timeout.count();
  for (;;) {
    const std::int64_t left = deadline - fixture_.sched().now_ns();
    if (left <= 0) return false;
    auto data = conn_->recv(1 << 20, kernel::Nanos(left));
    if (!data) {
      const bool closed = data.code() == core::Err::closed || data.code() == core::Err::reset;
      close();
      return closed;
    }
    if (!data->empty()) return false;
  }
}

void FixtureClient::close() {
  if (conn_) conn_->close();
  conn_.reset();
}

std::string display(const core::Result<core::RespValue>& reply) {
  if (!reply) return fmt::format("<no reply: {}>", reply.status().to_string());
  return reply.value().to_display(200);
}

}  // namespace replsim::sim::testing
