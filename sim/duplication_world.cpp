// sim/duplication_world.cpp — adding the scenario's duplications, their liveness condition, sampling
// and final state (see duplication_world.h).
#include "sim/duplication_world.h"

#include <fmt/format.h>

#include "core/duplication_format.h"

namespace replsim::sim {

namespace {

kernel::Nanos ms(std::int64_t v) { return kernel::Nanos(v * 1'000'000); }

bool in_cluster(const Scenario& s, const std::string& node, const std::string& cluster) {
  const ClusterSpec* c = s.cluster_of(node);
  return c != nullptr && c->name == cluster;
}

// Running nodes of a cluster that act as primaries and own slots (the ones that duplicate).
std::vector<int> source_primaries(World& world, const std::string& cluster) {
  std::vector<int> out;
  for (int i = 0; i < world.node_count(); ++i) {
    if (!in_cluster(world.scenario(), world.node_name(i), cluster)) continue;
    core::Store* store = world.store(i);
    if (store == nullptr || world.state(i) != kernel::NodeState::up) continue;
    if (store->role() == core::Role::master && (!store->cluster_enabled() || store->slots_owned() > 0))
      out.push_back(i);
  }
  return out;
}

DuplicationFinal final_of(const core::DupStatus& s) {
  DuplicationFinal d;
  d.id = s.entry.id;
  d.stream = s.entry.stream;
  d.state = std::string(core::dup_state_name(s.entry.state));
  d.orphaned = s.entry.orphaned;
  d.min_checkpoint_decree = s.min_checkpoint_decree;
  d.confirmed_decree = s.entry.confirmed_decree;
  d.shipped_decree = s.shipped_decree;
  d.last_error = s.last_error;
  return d;
}

}  // namespace

std::string duplication_id(std::size_t index) { return fmt::format("dup{}", index); }

std::vector<DuplicationLink> duplication_links(const Scenario& scenario) {
  std::vector<DuplicationLink> out;
  for (std::size_t k = 0; k < scenario.duplications.size(); ++k) {
    out.push_back({duplication_id(k), scenario.duplications[k].source, scenario.duplications[k].target});
  }
  return out;
}

std::map<std::string, std::uint64_t> duplicated_value_hashes(const core::Keyspace& keyspace) {
  std::map<std::string, std::uint64_t> out;
  for (const std::string& key : keyspace.keys()) {
    if (core::is_dup_progress_key(key)) continue;
    core::Keyspace one;
    one.put(key, *keyspace.find(key));
    out.emplace(key, one.digest());
  }
  return out;
}

void add_duplications(World& world, std::vector<Violation>& violations, std::int64_t deadline_ns) {
  auto& sched = world.sched();
  const Scenario& s = world.scenario();
  for (std::size_t k = 0; k < s.duplications.size(); ++k) {
    const DuplicationSpec& spec = s.duplications[k];
    std::string targets;
    for (const ClusterSpec& c : s.clusters) {
      if (c.name != spec.target) continue;
      for (const NodeSpec& n : c.nodes) {
        targets += fmt::format("{}{}:{}", targets.empty() ? "" : ",", n.name, n.config.port);
      }
    }
    std::vector<std::string> argv{"DUPLICATION", "ADD", duplication_id(k), targets};
    if (!spec.target_password.empty()) {
      argv.emplace_back("PASSWORD");
      argv.push_back(spec.target_password);
    }
    argv.emplace_back(spec.initial_checkpoint ? "CHECKPOINT" : "NOCHECKPOINT");
    std::vector<int> primaries = source_primaries(world, spec.source);
    while (primaries.empty() && sched.now_ns() < deadline_ns) {
      sched.sleep_for(ms(100));
      primaries = source_primaries(world, spec.source);
    }
    if (primaries.empty()) {
      violations.push_back(
          {"scenario-expect",
           sched.now_ns(),
           "",
           fmt::format("duplication {}: source cluster {} has no running primary with slots to add it to",
                       duplication_id(k), spec.source),
           {{"duplication", duplication_id(k)}}});
      continue;
    }
    for (const int i : primaries) {
      const std::string& node = world.node_name(i);
      for (;;) {
        ClientReply r = world.admin(node, argv, ms(2'000));
        if (r.answered && !r.is_error_reply() && r.text() == "OK") break;
        if (sched.now_ns() >= deadline_ns) {
          violations.push_back({"scenario-expect",
                                sched.now_ns(),
                                node,
                                fmt::format("duplication {}: DUPLICATION ADD on {} answered {}, expected OK",
                                            duplication_id(k), node, r.display()),
                                {{"argv", argv}, {"reply", r.display()}}});
          break;
        }
        sched.sleep_for(ms(100));
      }
    }
  }
}

bool duplications_settled(World& world) {
  const Scenario& s = world.scenario();
  for (std::size_t k = 0; k < s.duplications.size(); ++k) {
    const DuplicationSpec& spec = s.duplications[k];
    const std::string id = duplication_id(k);
    const std::vector<int> primaries = source_primaries(world, spec.source);
    if (primaries.empty()) return false;
    std::map<std::string, std::uint64_t> source;
    bool judged = true;
    for (const int i : primaries) {
      core::Store* store = world.store(i);
      const auto status = store->duplication().status(id);
      if (!status) return false;
      const core::DupEntry& e = status->entry;
      if (e.state == core::DupState::removed || (e.state == core::DupState::pause && !e.orphaned)) {
        judged = false;
        continue;
      }
      if (e.state != core::DupState::log || status->shipped_decree != store->last_decree() ||
          store->aof_synced_address() != store->aof_tail_address()) {
        return false;
      }
      for (const auto& [key, hash] : duplicated_value_hashes(store->keyspace())) source[key] = hash;
    }
    if (!judged) continue;
    std::map<std::string, std::uint64_t> target;
    for (int i = 0; i < world.node_count(); ++i) {
      if (!in_cluster(s, world.node_name(i), spec.target)) continue;
      core::Store* store = world.store(i);
      if (store == nullptr || store->role() != core::Role::master) continue;
      for (const auto& [key, hash] : duplicated_value_hashes(store->keyspace())) target[key] = hash;
    }
    if (source != target) return false;
  }
  return true;
}

void sample_duplications(World& world, DuplicationDecreeMonitor& monitor) {
  for (int i = 0; i < world.node_count(); ++i) {
    if (world.state(i) != kernel::NodeState::up || !world.started(i)) continue;
    core::Store* store = world.store(i);
    if (store == nullptr) continue;
    for (const core::DupStatus& s : store->duplication().statuses()) {
      monitor.sample(world.node_name(i), world.sched().now_ns(), final_of(s),
                     static_cast<std::int64_t>(store->last_decree()));
    }
  }
}

void fill_duplication_final(const Scenario& scenario, const core::Store& store, NodeFinal& f) {
  for (const core::DupStatus& s : store.duplication().statuses()) f.duplications.push_back(final_of(s));
  for (const DuplicationSpec& d : scenario.duplications) {
    if (f.cluster == d.source || f.cluster == d.target) {
      f.value_hashes = duplicated_value_hashes(store.keyspace());
      return;
    }
  }
}

}  // namespace replsim::sim
