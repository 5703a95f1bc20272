// sim/faults.cpp — scripted steps, swarm generators and the fault budget.
#include "sim/faults.h"

#include <algorithm>

#include <fmt/format.h>

namespace replsim::sim {

namespace {

using Family = SwarmSpec::Family;
using std::chrono::milliseconds;

kernel::Nanos ms(std::int64_t v) { return kernel::Nanos(v * 1'000'000); }

std::int64_t draw(kernel::Rng& rng, const Range<std::int64_t>& r) { return rng.range(r.min, r.max); }
double draw(kernel::Rng& rng, const Range<double>& r) { return r.min + rng.unit() * (r.max - r.min); }

// One fault's gap: uniform in [0.5, 1.5] × the family's mean interval.
kernel::Nanos gap(kernel::Rng& rng, std::int64_t mean_ms) {
  const double f = 0.5 + rng.unit();
  return kernel::Nanos(static_cast<std::int64_t>(static_cast<double>(mean_ms) * f * 1e6));
}

}  // namespace

// ---- the plan ----------------------------------------------------------------------------------

SwarmPlan plan_swarm(const SwarmSpec& spec, std::uint64_t seed) {
  SwarmPlan plan;
  kernel::Rng rng(seed, "swarm/plan");
  for (std::size_t f = 0; f < SwarmSpec::kFamilyCount; ++f) {
    const SwarmFamilySpec& fam = spec.families[f];
    SwarmChoice& c = plan.families[f];
    // Always draw the same number of values per family so one family's settings never shift another's.
    const bool on = rng.chance(fam.enable_probability);
    c.mean_interval_ms = draw(rng, fam.interval_ms);
    c.probability = draw(rng, fam.probability);
    c.extra_latency_ms = draw(rng, fam.extra_latency_ms);
    c.activation_probability = draw(rng, fam.activation_probability);
    c.fire_probability = draw(rng, fam.fire_probability);
    c.enabled = fam.may_enable && on;
  }
  // A stream of its own, so a scenario that leaves primary_bias at [0, 0] draws exactly what it drew
  // before the key existed (its seeds keep their runs).
  kernel::Rng bias_rng(seed, "swarm/plan/primary_bias");
  for (std::size_t f = 0; f < SwarmSpec::kFamilyCount; ++f) {
    plan.families[f].primary_bias = draw(bias_rng, spec.families[f].primary_bias);
  }
  return plan;
}

std::string SwarmPlan::summary() const {
  std::string out;
  for (std::size_t f = 0; f < SwarmSpec::kFamilyCount; ++f) {
    const SwarmChoice& c = families[f];
    if (!out.empty()) out += ",";
    out += std::string(swarm_family_name(static_cast<Family>(f)));
    if (!c.enabled) {
      out += ":off";
      continue;
    }
    out += fmt::format(":on(interval={}ms", c.mean_interval_ms);
    switch (static_cast<Family>(f)) {
      case Family::disk_eio:
      case Family::bitflip: out += fmt::format(",p={:.3f}", c.probability); break;
      case Family::clog: out += fmt::format(",extra={}ms", c.extra_latency_ms); break;
      case Family::buggify:
        out += fmt::format(",activate={:.2f},fire={:.2f}", c.activation_probability, c.fire_probability);
        break;
      case Family::crash_restart:
      case Family::pause:
        if (c.primary_bias > 0) out += fmt::format(",primary={:.2f}", c.primary_bias);
        break;
      default: break;
    }
    out += ")";
  }
  return out;
}

nlohmann::json SwarmPlan::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (std::size_t f = 0; f < SwarmSpec::kFamilyCount; ++f) {
    const SwarmChoice& c = families[f];
    j[std::string(swarm_family_name(static_cast<Family>(f)))] = {
        {"enabled", c.enabled}, {"mean_interval_ms", c.mean_interval_ms}, {"probability", c.probability},
        {"extra_latency_ms", c.extra_latency_ms}, {"activation_probability", c.activation_probability},
        {"fire_probability", c.fire_probability}, {"primary_bias", c.primary_bias}};
  }
  return j;
}

// ---- the injector ------------------------------------------------------------------------------

FaultInjector::FaultInjector(World& world, SwarmPlan plan, std::vector<Violation>* violations)
    : world_(world), plan_(plan), violations_(violations), rng_(world.seed(), "faults") {
  const SwarmChoice& b = plan_.families[static_cast<std::size_t>(Family::buggify)];
  if (b.enabled) {
    world_.buggify() = Buggify(world.seed(), {true, b.activation_probability, b.fire_probability});
  }
}

std::vector<kernel::Host> FaultInjector::hosts_of(const std::vector<std::string>& names) const {
  std::vector<kernel::Host> hosts;
  for (const std::string& n : names) {
    const int i = world_.node_index(n);
    if (i >= 0) hosts.push_back(world_.kernel_id(i));
  }
  return hosts;
}

void FaultInjector::schedule_script(std::int64_t safety_start_ns) {
  for (const FaultStep& step : world_.scenario().faults) {
    const kernel::SimTime when{kernel::Nanos(safety_start_ns + step.at_ms * 1'000'000)};
    if (step.action() == FaultStep::Action::admin) {
      // Admin commands wait for their reply, so they run in a harness task.
      ++admin_in_flight_;
      world_.sched().at(when, [this, &step] {
        world_.sched().spawn(kernel::kNoNode, "script-admin", [this, &step] {
          run_step(step);
          --admin_in_flight_;
        });
      });
    } else {
      world_.sched().at(when, [this, &step] { run_step(step); });
    }
  }
}

void FaultInjector::apply_disk_fault(int node, const DiskFaultStep& step, const std::string& source) {
  kernel::DiskFaults f = world_.disk(node).faults();
  switch (step.kind) {
    case DiskFaultStep::Kind::eio_write: f.eio_write_probability = step.probability; break;
    case DiskFaultStep::Kind::eio_sync: f.eio_sync_probability = step.probability; break;
    case DiskFaultStep::Kind::enospc: f.no_space_forced = true; break;
    case DiskFaultStep::Kind::bitflip_read: f.bit_flip_read_probability = step.probability; break;
    case DiskFaultStep::Kind::latency: {
      const kernel::Nanos extra = ms(step.latency_ms);
      for (kernel::LatencyRange* r : {&f.latency.read, &f.latency.write, &f.latency.sync, &f.latency.metadata}) {
        r->min += extra;
        r->max += extra;
      }
      break;
    }
  }
  world_.disk(node).set_faults(f);
  world_.decide(source, "disk_fault",
                {{"node", world_.node_name(node)}, {"kind", disk_fault_kind_name(step.kind)},
                 {"probability", step.probability}, {"latency_ms", step.latency_ms}});
  if (step.duration_ms) {
    world_.sched().after(ms(*step.duration_ms), [this, node, source] {
      world_.disk(node).set_faults(kernel::DiskFaults{});
      world_.decide(source, "disk_heal", {{"node", world_.node_name(node)}});
    });
  }
}

void FaultInjector::run_step(const FaultStep& step, const std::string& source) {
  std::visit(
      [&](const auto& d) {
        using T = std::decay_t<decltype(d)>;
        if constexpr (std::is_same_v<T, CrashStep>) {
          world_.crash(world_.node_index(d.node), source, step.note.empty() ? "scripted" : step.note);
        } else if constexpr (std::is_same_v<T, RestartStep>) {
          world_.restart(world_.node_index(d.node), source);
        } else if constexpr (std::is_same_v<T, PauseStep>) {
          world_.pause(world_.node_index(d.node), source);
        } else if constexpr (std::is_same_v<T, ResumeStep>) {
          world_.resume(world_.node_index(d.node), source);
        } else if constexpr (std::is_same_v<T, PartitionStep>) {
          nlohmann::json detail = {{"kind", partition_kind_name(d.kind)}};
          switch (d.kind) {
            case PartitionStep::Kind::two_way:
              for (std::size_t a = 0; a < d.groups.size(); ++a) {
                for (std::size_t b = a + 1; b < d.groups.size(); ++b) {
                  world_.net().partition(hosts_of(d.groups[a]), hosts_of(d.groups[b]));
                }
              }
              detail["groups"] = d.groups;
              break;
            case PartitionStep::Kind::one_way:
              world_.net().partition_one_way(hosts_of(d.from), hosts_of(d.to));
              detail["from"] = d.from;
              detail["to"] = d.to;
              break;
            case PartitionStep::Kind::isolate:
              world_.net().isolate(world_.kernel_id(world_.node_index(d.node)));
              detail["node"] = d.node;
              break;
            case PartitionStep::Kind::random_split: {
              auto groups = world_.net().partition_random(rng_);
              detail["groups"] = {groups.first.size(), groups.second.size()};
              break;
            }
          }
          world_.decide(source, "partition", detail);
          if (d.duration_ms) {
            world_.sched().after(ms(*d.duration_ms), [this, source] {
              world_.net().heal();
              world_.decide(source, "heal", {});
            });
          }
        } else if constexpr (std::is_same_v<T, HealStep>) {
          world_.net().heal();
          world_.decide(source, "heal", {});
        } else if constexpr (std::is_same_v<T, ClogStep>) {
          if (!d.node.empty()) {
            world_.net().clog_host(world_.kernel_id(world_.node_index(d.node)), ms(d.extra_latency_ms));
          } else if (d.link.size() == 2) {
            world_.net().clog_link(world_.kernel_id(world_.node_index(d.link[0])),
                                   world_.kernel_id(world_.node_index(d.link[1])), ms(d.extra_latency_ms));
          }
          world_.decide(source, "clog", {{"node", d.node}, {"link", d.link}, {"extra_latency_ms", d.extra_latency_ms}});
          if (d.duration_ms) {
            world_.sched().after(ms(*d.duration_ms), [this, source] {
              world_.net().unclog_all();
              world_.decide(source, "unclog", {});
            });
          }
        } else if constexpr (std::is_same_v<T, UnclogStep>) {
          if (!d.node.empty()) {
            world_.net().unclog_host(world_.kernel_id(world_.node_index(d.node)));
          } else if (d.link.size() == 2) {
            world_.net().unclog_link(world_.kernel_id(world_.node_index(d.link[0])),
                                     world_.kernel_id(world_.node_index(d.link[1])));
          } else {
            world_.net().unclog_all();
          }
          world_.decide(source, "unclog", {{"node", d.node}, {"link", d.link}});
        } else if constexpr (std::is_same_v<T, ResetConnectionsStep>) {
          std::size_t n = 0;
          if (d.node.empty()) {
            for (kernel::ConnId id : world_.net().connection_ids()) n += world_.net().reset_connection(id) ? 1 : 0;
          } else {
            n = world_.net().reset_host_connections(world_.kernel_id(world_.node_index(d.node)));
          }
          world_.decide(source, "reset_connections", {{"node", d.node}, {"connections", n}});
        } else if constexpr (std::is_same_v<T, DiskFaultStep>) {
          apply_disk_fault(world_.node_index(d.node), d, source);
        } else if constexpr (std::is_same_v<T, ClockStep>) {
          const int i = world_.node_index(d.node);
          kernel::NodeClockSpec clock;
          const ClockSpec& base = world_.node_spec(i).clock;
          clock.offset = ms(d.offset_ms.value_or(base.offset_ms));
          clock.drift_ppm = static_cast<std::int64_t>(d.drift_ppm.value_or(base.drift_ppm));
          world_.sched().set_node_clock(world_.kernel_id(i), clock);
          world_.decide(source, "clock", {{"node", d.node}, {"offset_ms", clock.offset.count() / 1'000'000},
                                          {"drift_ppm", clock.drift_ppm}});
        } else if constexpr (std::is_same_v<T, AdminStep>) {
          const AdminCommand& c = d.command;
          const std::int64_t deadline = world_.sched().now_ns() + c.retry_for_ms * 1'000'000;
          ClientReply r;
          bool matched = false;
          for (;;) {
            r = world_.admin(c.node, c.argv, ms(c.timeout_ms));
            matched = !c.expect || (r.answered && reply_matches(*c.expect, r.type_byte(), r.text()));
            if (matched || world_.sched().now_ns() >= deadline) break;
            world_.sched().sleep_for(ms(c.retry_interval_ms));
          }
          world_.decide(source, "admin", {{"node", c.node}, {"argv", c.argv}, {"reply", r.display()},
                                          {"matched", matched}});
          if (!matched && violations_ != nullptr) {
            std::string shown;
            for (const auto& a : c.argv) shown += (shown.empty() ? "" : " ") + a;
            violations_->push_back({d.check.empty() ? "scenario-expect" : d.check, world_.sched().now_ns(), c.node,
                                    fmt::format("{} on {} answered {}, expected {}", shown, c.node,
                                                r.display(), *c.expect),
                                    {{"argv", c.argv}, {"reply", r.display()}, {"expect", *c.expect},
                                     {"note", step.note}}});
          }
        }
      },
      step.detail);
}

// ---- swarm -------------------------------------------------------------------------------------

bool FaultInjector::may_take_down(int node) const {
  const Scenario& s = world_.scenario();
  if (!s.swarm.budget.within_budget) return true;
  const std::string& name = world_.node_name(node);
  const ClusterSpec* cluster = s.cluster_of(name);
  if (cluster == nullptr) return true;
  int down = 0;
  for (const NodeSpec& n : cluster->nodes) {
    const int i = world_.node_index(n.name);
    if (world_.state(i) != kernel::NodeState::up) ++down;
  }
  if (down + 1 > s.swarm.budget.max_nodes_down) return false;
  if (s.swarm.budget.never_whole_shard_down) {
    for (const ShardSpec& shard : cluster->shards) {
      std::vector<std::string> members = shard.replicas;
      members.push_back(shard.primary);
      if (std::find(members.begin(), members.end(), name) == members.end()) continue;
      int up_others = 0;
      for (const std::string& m : members) {
        if (m != name && world_.state(world_.node_index(m)) == kernel::NodeState::up) ++up_others;
      }
      if (up_others == 0) return false;
    }
  }
  return true;
}

int FaultInjector::random_node(kernel::Rng& rng) const {
  return static_cast<int>(rng.below(static_cast<std::uint64_t>(world_.node_count())));
}

int FaultInjector::random_primary(kernel::Rng& rng) const {
  std::vector<int> primaries;
  for (int i = 0; i < world_.node_count(); ++i) {
    const core::Store* store = world_.state(i) == kernel::NodeState::up ? world_.store(i) : nullptr;
    if (store == nullptr || !store->started()) continue;
    if (!store->cluster_enabled() || (store->role() == core::Role::master && store->slots_owned() > 0)) {
      primaries.push_back(i);
    }
  }
  if (primaries.empty()) return random_node(rng);
  return primaries[rng.below(primaries.size())];
}

void FaultInjector::start_swarm(std::int64_t end_ns) {
  for (std::size_t f = 0; f < SwarmSpec::kFamilyCount; ++f) {
    if (!plan_.families[f].enabled) continue;
    const auto family = static_cast<Family>(f);
    if (family == Family::buggify) continue;  // buggify acts inside the store, not on a timer
    world_.sched().spawn(kernel::kNoNode, fmt::format("swarm-{}", swarm_family_name(family)),
                         [this, family, end_ns] { swarm_loop(family, end_ns); });
  }
}

void FaultInjector::swarm_loop(Family family, std::int64_t end_ns) {
  const SwarmChoice& c = plan_.families[static_cast<std::size_t>(family)];
  const SwarmFamilySpec& spec = world_.scenario().swarm.family(family);
  kernel::Rng rng(world_.seed(), fmt::format("swarm/{}", swarm_family_name(family)));
  const std::string source = fmt::format("swarm:{}", swarm_family_name(family));
  auto& sched = world_.sched();
  for (;;) {
    sched.sleep_for(gap(rng, c.mean_interval_ms));
    if (sched.now_ns() >= end_ns) return;
    const kernel::Nanos duration = ms(draw(rng, spec.duration_ms));
    const bool at_primary = (family == Family::crash_restart || family == Family::pause) &&
                            c.primary_bias > 0 && rng.chance(c.primary_bias);
    const int node = at_primary ? random_primary(rng) : random_node(rng);
    switch (family) {
      case Family::crash_restart:
        if (world_.state(node) != kernel::NodeState::up || !may_take_down(node)) break;
        world_.crash(node, source, "swarm");
        sched.after(duration, [this, node, source] { world_.restart(node, source); });
        break;
      case Family::pause:
        if (world_.state(node) != kernel::NodeState::up || !may_take_down(node)) break;
        world_.pause(node, source);
        sched.after(duration, [this, node, source] { world_.resume(node, source); });
        break;
      case Family::partition: {
        if (world_.net().blocked_link_count() > 0) break;  // one partition at a time
        const auto& kinds = spec.partition_kinds;
        if (kinds.empty()) break;
        FaultStep step;
        PartitionStep p;
        p.kind = kinds[rng.below(kinds.size())];
        p.duration_ms = duration.count() / 1'000'000;
        if (p.kind == PartitionStep::Kind::isolate) {
          p.node = world_.node_name(node);
        } else if (p.kind == PartitionStep::Kind::one_way || p.kind == PartitionStep::Kind::two_way) {
          std::vector<std::string> a, b;
          for (int i = 0; i < world_.node_count(); ++i) (rng.chance(0.5) ? a : b).push_back(world_.node_name(i));
          if (a.empty() || b.empty()) {
            p.kind = PartitionStep::Kind::isolate;
            p.node = world_.node_name(node);
          } else if (p.kind == PartitionStep::Kind::one_way) {
            p.from = a;
            p.to = b;
          } else {
            p.groups = {a, b};
          }
        }
        step.detail = p;
        run_step(step, source);
        break;
      }
      case Family::clog:
        world_.net().clog_host(world_.kernel_id(node), ms(c.extra_latency_ms));
        world_.decide(source, "clog", {{"node", world_.node_name(node)}, {"extra_latency_ms", c.extra_latency_ms}});
        sched.after(duration, [this, node, source] {
          world_.net().unclog_host(world_.kernel_id(node));
          world_.decide(source, "unclog", {{"node", world_.node_name(node)}});
        });
        break;
      case Family::disk_eio:
      case Family::disk_enospc:
      case Family::bitflip: {
        DiskFaultStep d;
        d.node = world_.node_name(node);
        d.kind = family == Family::disk_eio ? (rng.chance(0.5) ? DiskFaultStep::Kind::eio_write
                                                                : DiskFaultStep::Kind::eio_sync)
                 : family == Family::disk_enospc ? DiskFaultStep::Kind::enospc
                                                 : DiskFaultStep::Kind::bitflip_read;
        d.probability = c.probability;
        d.duration_ms = duration.count() / 1'000'000;
        apply_disk_fault(node, d, source);
        break;
      }
      case Family::clock_skew: {
        kernel::NodeClockSpec clock;
        clock.offset = ms(draw(rng, spec.offset_ms));
        clock.drift_ppm = static_cast<std::int64_t>(draw(rng, spec.drift_ppm));
        sched.set_node_clock(world_.kernel_id(node), clock);
        world_.decide(source, "clock", {{"node", world_.node_name(node)},
                                        {"offset_ms", clock.offset.count() / 1'000'000},
                                        {"drift_ppm", clock.drift_ppm}});
        break;
      }
      case Family::connection_reset: {
        const std::size_t n = world_.net().reset_host_connections(world_.kernel_id(node));
        world_.decide(source, "reset_connections", {{"node", world_.node_name(node)}, {"connections", n}});
        break;
      }
      case Family::buggify: return;
    }
  }
}

void FaultInjector::heal_all(bool heal, bool restart) {
  if (heal) {
    world_.net().heal();
    world_.net().unclog_all();
    for (int i = 0; i < world_.node_count(); ++i) {
      world_.disk(i).set_faults(kernel::DiskFaults{});
      kernel::NodeClockSpec clock;
      clock.offset = ms(world_.node_spec(i).clock.offset_ms);
      clock.drift_ppm = static_cast<std::int64_t>(world_.node_spec(i).clock.drift_ppm);
      world_.sched().set_node_clock(world_.kernel_id(i), clock);
    }
    world_.buggify() = Buggify(world_.seed(), BuggifyConfig{});
    world_.decide("liveness", "heal_all", {});
  }
  if (restart) {
    for (int i = 0; i < world_.node_count(); ++i) {
      if (world_.state(i) == kernel::NodeState::paused) world_.resume(i, "liveness");
      if (world_.state(i) == kernel::NodeState::down) world_.restart(i, "liveness");
    }
  }
}

}  // namespace replsim::sim
