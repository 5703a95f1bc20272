// sim/world.cpp — building the world from a scenario, node lifecycles, admin commands.
#include "sim/world.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "core/known_bugs.h"

namespace replsim::sim {

nlohmann::json Decision::to_json() const {
  return {{"time_ns", time_ns}, {"source", source}, {"action", action}, {"detail", detail}};
}

World::World(const Scenario& scenario, WorldOptions options)
    : scenario_(scenario), options_(std::move(options)), trace_(options_.trace_ring) {
  sched_ = std::make_unique<kernel::Scheduler>(trace_);
  net_ = std::make_unique<kernel::Network>(*sched_, options_.seed);
  buggify_ = std::make_unique<Buggify>(options_.seed, BuggifyConfig{});
  for (const ClusterSpec& cluster : scenario_.clusters) {
    for (const NodeSpec& spec : cluster.nodes) {
      Node n;
      n.spec = spec;
      n.cluster = cluster.name;
      kernel::NodeClockSpec clock;
      clock.offset = kernel::Nanos(spec.clock.offset_ms * 1'000'000);
      clock.drift_ppm = static_cast<std::int64_t>(spec.clock.drift_ppm);
      n.id = sched_->add_node(spec.name, clock);
      n.disk = std::make_unique<kernel::Disk>(spec.name, kernel::DiskConfig{},
                                              kernel::Rng(options_.seed, "disk/" + spec.name));
      n.crash_rng = std::make_unique<kernel::Rng>(options_.seed, "disk-crash/" + spec.name);
      nodes_.push_back(std::move(n));
    }
  }
  for (std::size_t i = 0; i < nodes_.size(); ++i) index_by_name_.emplace_back(nodes_[i].spec.name, static_cast<int>(i));
  std::stable_sort(index_by_name_.begin(), index_by_name_.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
}

World::~World() {
  // Order matters: unwind each node's fibers while its store still exists, then drop the stores,
  // then detach the network's handles, and only then unwind the harness's own tasks.
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (sched_->node_state(nodes_[i].id) != kernel::NodeState::down) {
      sched_->crash_node(nodes_[i].id, "end of run");
    }
    nodes_[i].store.reset();
    nodes_[i].env.reset();
  }
  for (AdminClient& a : admin_clients_) a.client.reset();  // the vector stays for unwinding borrowers
  net_.reset();
  sched_.reset();
}

int World::node_index(const std::string& name) const {
  // Every client call resolves a node's name: a binary search over a small sorted array, not a walk
  // over the nodes (each a large struct: at 81 nodes a walk read 81 cold cache lines).
  const auto it = std::lower_bound(index_by_name_.begin(), index_by_name_.end(), name,
                                   [](const auto& entry, const std::string& n) { return entry.first < n; });
  if (it == index_by_name_.end() || it->first != name) return -1;
  return it->second;
}

core::Store* World::store(int i) {
  Node& n = nodes_[static_cast<std::size_t>(i)];
  if (!n.started || sched_->node_state(n.id) == kernel::NodeState::down) return nullptr;
  return n.store.get();
}

std::string World::cluster_node_id(int i) const { return nodes_[static_cast<std::size_t>(i)].cluster_id; }

AddressBook World::address_book() {
  return [this](const std::string& name) -> std::optional<NodeAddress> {
    const int i = node_index(name);
    if (i < 0) return std::nullopt;
    return NodeAddress{nodes_[static_cast<std::size_t>(i)].id, nodes_[static_cast<std::size_t>(i)].spec.config.port};
  };
}

core::StoreConfig World::store_config(const Node& n) const {
  const StoreSpec& s = n.spec.config;
  core::StoreConfig c;
  c.port = s.port;
  c.requirepass = s.requirepass;
  c.aof_page_size_bytes = static_cast<std::uint64_t>(s.aof_page_size_bytes);
  c.aof_segment_pages = static_cast<std::uint64_t>(s.aof_segment_pages);
  switch (s.appendfsync) {
    case StoreSpec::Fsync::always: c.appendfsync = core::FsyncPolicy::always; break;
    case StoreSpec::Fsync::everysec: c.appendfsync = core::FsyncPolicy::everysec; break;
    case StoreSpec::Fsync::no: c.appendfsync = core::FsyncPolicy::no; break;
  }
  c.checkpoint_interval_ms = s.checkpoint_interval_ms;
  c.checkpoints_retained = static_cast<std::size_t>(s.checkpoints_retained);
  c.resp_limits.max_bulk_bytes = static_cast<std::size_t>(s.resp_max_bulk_bytes);
  c.resp_limits.max_args = static_cast<std::size_t>(s.resp_max_args);
  c.resp_limits.max_inline_bytes = static_cast<std::size_t>(s.resp_max_inline_bytes);
  // Every node of a scenario runs in cluster mode: the world builds shards with CLUSTER commands.
  c.cluster_enabled = true;
  for (const std::string& bug : options_.bugs) {
    // The CLI refuses unknown names before a run starts; one reaching here is a caller's bug.
    if (core::Status st = core::enable_known_bug(c.known_bugs, bug); !st) throw std::invalid_argument(st.message());
  }
  return c;
}

// ---- lifecycles --------------------------------------------------------------------------------

void World::start_all() {
  for (int i = 0; i < node_count(); ++i) boot(i);
}

// Builds a fresh env and store for the node's current incarnation and starts it in a task of the
// node: recovery reads the disk, which takes (simulated) time.
void World::boot(int i) {
  Node& n = nodes_[static_cast<std::size_t>(i)];
  SimEnvParts parts;
  parts.sched = sched_.get();
  parts.net = net_.get();
  parts.disk = n.disk.get();
  parts.buggify = buggify_.get();
  parts.resolve = [this](const std::string& name) -> std::optional<kernel::Host> {
    const int k = node_index(name);
    if (k < 0) return std::nullopt;
    return nodes_[static_cast<std::size_t>(k)].id;
  };
  parts.on_abort = [this](kernel::NodeId id, const std::string& message) {
    aborts_.push_back({sched_->node_name(id), sched_->now_ns(), message});
  };
  n.started = false;
  n.start_error.clear();
  n.env = std::make_unique<SimEnv>(std::move(parts), n.id, options_.seed);
  n.store = std::make_unique<core::Store>(*n.env, store_config(n));
  core::Store* store = n.store.get();
  sched_->spawn(n.id, "start", [this, i, store] {
    const core::Status st = store->start();
    Node& node = nodes_[static_cast<std::size_t>(i)];
    if (node.store.get() != store) return;  // replaced meanwhile
    if (st) {
      node.started = true;
      node.started_at_ns = sched_->now_ns();
    } else {
      node.start_error = st.to_string();
      trace_.record(sched_->now_ns(), node.spec.name, "node.start_failed", node.start_error);
    }
  });
}

void World::crash(int i, const std::string& source, const std::string& reason) {
  Node& n = nodes_[static_cast<std::size_t>(i)];
  if (sched_->node_state(n.id) == kernel::NodeState::down) return;
  decide(source, "crash", {{"node", n.spec.name}, {"reason", reason}});
  sched_->crash_node(n.id, reason);
  // The node's fibers are gone; now its store may go, then the disk loses what was not synced.
  n.store.reset();
  n.env.reset();
  n.started = false;
  n.started_at_ns = -1;
  const kernel::CrashReport report = n.disk->crash(*n.crash_rng);
  trace_.record(sched_->now_ns(), n.spec.name, "disk.crash", report.detail());
}

void World::restart(int i, const std::string& source) {
  Node& n = nodes_[static_cast<std::size_t>(i)];
  if (sched_->node_state(n.id) != kernel::NodeState::down) return;
  decide(source, "restart", {{"node", n.spec.name}});
  sched_->restart_node(n.id);
  boot(i);
}

void World::pause(int i, const std::string& source) {
  Node& n = nodes_[static_cast<std::size_t>(i)];
  if (sched_->node_state(n.id) != kernel::NodeState::up) return;
  decide(source, "pause", {{"node", n.spec.name}});
  sched_->pause_node(n.id);
}

void World::resume(int i, const std::string& source) {
  Node& n = nodes_[static_cast<std::size_t>(i)];
  if (sched_->node_state(n.id) != kernel::NodeState::paused) return;
  decide(source, "resume", {{"node", n.spec.name}});
  sched_->resume_node(n.id);
}

// ---- admin -------------------------------------------------------------------------------------

std::string World::expand_arg(const std::string& arg) {
  auto pieces = parse_arg_template(arg);
  if (!pieces) return arg;  // the loader validated templates; keep the text as written otherwise
  return expand_arg_template(pieces.value(), [this](ArgPiece::Kind kind, const std::string& name) {
    const int i = node_index(name);
    if (i < 0) return name;
    const Node& n = nodes_[static_cast<std::size_t>(i)];
    switch (kind) {
      case ArgPiece::Kind::node_id: return cluster_node_id(i);
      case ArgPiece::Kind::addr: return fmt::format("{}:{}", n.spec.name, n.spec.config.port);
      case ArgPiece::Kind::host: return n.spec.name;
      case ArgPiece::Kind::port: return std::to_string(n.spec.config.port);
      case ArgPiece::Kind::text: break;
    }
    return name;
  });
}

ClientReply World::admin(const std::string& node, const std::vector<std::string>& argv,
                         kernel::Nanos timeout) {
  std::vector<std::string> expanded;
  expanded.reserve(argv.size());
  for (const std::string& a : argv) expanded.push_back(expand_arg(a));
  std::size_t slot = 0;
  while (slot < admin_clients_.size() && admin_clients_[slot].busy) ++slot;
  if (slot == admin_clients_.size()) {
    const std::string name = slot == 0 ? std::string("admin") : fmt::format("admin{}", slot);
    admin_clients_.push_back(
        {std::make_unique<SimClient>(*sched_, *net_, net_->add_client(name), address_book(), name), false});
  }
  // Index, not reference: the vector may grow while this call is parked.
  admin_clients_[slot].busy = true;
  struct Release {
    std::vector<AdminClient>& clients;
    std::size_t slot;
    ~Release() { clients[slot].busy = false; }
  } release{admin_clients_, slot};
  const int i = node_index(node);
  if (i >= 0 && !nodes_[static_cast<std::size_t>(i)].spec.config.requirepass.empty()) {
    (void)admin_clients_[slot].client->call(
        node, {"AUTH", nodes_[static_cast<std::size_t>(i)].spec.config.requirepass}, timeout, 0);
  }
  ClientReply r = admin_clients_[slot].client->call(node, expanded, timeout, 0);
  std::string shown;
  for (const std::string& a : expanded) shown += (shown.empty() ? "" : " ") + a.substr(0, 64);
  trace_.record(sched_->now_ns(), node, "admin.reply", fmt::format("cmd=\"{}\" reply={}", shown, r.display()));
  if (admin_observer_) admin_observer_(node, expanded, r);
  return r;
}

void World::decide(std::string source, std::string action, nlohmann::json detail) {
  trace_.record(sched_->now_ns(), "", "fault." + action,
                fmt::format("source={} {}", source, detail.dump()));
  decisions_.push_back({sched_->now_ns(), std::move(source), std::move(action), std::move(detail)});
}

}  // namespace replsim::sim
