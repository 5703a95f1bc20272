// sim/run.cpp — the phases of a run and the final checks.
#include "sim/run.h"

#include <algorithm>

#include <fmt/format.h>

#include "sim/checks/aof_readable.h"
#include "sim/operator.h"
#include "sim/workload.h"

namespace replsim::sim {

namespace {

kernel::Nanos ms(std::int64_t v) { return kernel::Nanos(v * 1'000'000); }

bool check_enabled(const Scenario& s, std::string_view id) {
  return std::find(s.checks.begin(), s.checks.end(), id) != s.checks.end();
}

// Whether the scenario promises that acknowledged writes survive: every node syncs before it
// acknowledges, and generated faults stay within the budget.
bool durability_promised(const Scenario& s) {
  for (const ClusterSpec& c : s.clusters) {
    for (const NodeSpec& n : c.nodes) {
      if (n.config.appendfsync != StoreSpec::Fsync::always) return false;
    }
  }
  return s.swarm.budget.within_budget;
}

NodeFinal final_state(World& world, int i) {
  NodeFinal f;
  f.node = world.node_name(i);
  if (const ClusterSpec* c = world.scenario().cluster_of(f.node)) f.cluster = c->name;
  f.start_error = world.start_error(i);
  core::Store* store = world.store(i);
  if (store == nullptr || world.state(i) != kernel::NodeState::up) return f;
  f.up = true;
  f.role = store->role() == core::Role::master ? "primary" : "replica";
  f.recovering = store->recovering();
  f.primary = store->primary_node_name();
  f.last_sync_error = store->last_sync_error();
  f.digest = store->digest();
  f.aof_begin = store->aof_begin_address();
  f.aof_tail = store->aof_tail_address();
  f.last_decree = static_cast<std::int64_t>(store->last_decree());
  for (std::uint64_t d : store->checkpoint_decrees()) f.checkpoint_decrees.push_back(static_cast<std::int64_t>(d));
  const core::Keyspace& ks = store->keyspace();
  for (const std::string& key : ks.keys()) {
    const core::Value* v = ks.find(key);
    if (v != nullptr && v->type() == core::ValueType::list) {
      f.lists[key] = std::vector<std::string>(v->list().begin(), v->list().end());
    }
  }
  return f;
}

// Checks over node state that need no replication: nothing stays recovering, checkpoint decrees are
// valid. (The cluster checks join them with replication.)
void check_final_states(const Scenario& s, const std::vector<NodeFinal>& finals, std::int64_t now_ns,
                        std::vector<Violation>& out) {
  for (const NodeFinal& f : finals) {
    if (!f.up) continue;
    if (check_enabled(s, "no-stuck-recovering") && f.recovering) {
      out.push_back({"no-stuck-recovering", now_ns, f.node,
                     fmt::format("{} is still recovering after the liveness phase (role {}, last sync "
                                 "error: {})",
                                 f.node, f.role, f.last_sync_error.empty() ? "none" : f.last_sync_error),
                     {{"role", f.role}, {"last_sync_error", f.last_sync_error}}});
    }
    if (check_enabled(s, "valid-checkpoint-decrees")) {
      for (std::int64_t d : f.checkpoint_decrees) {
        if (d < 1 || d > f.last_decree) {
          out.push_back({"valid-checkpoint-decrees", now_ns, f.node,
                         fmt::format("{} keeps a checkpoint at decree {}, outside [1, {}] (the AOF's "
                                     "last decree)",
                                     f.node, d, f.last_decree),
                         {{"checkpoint_decree", d}, {"last_decree", f.last_decree}}});
        }
      }
    }
  }
}

// Builds the clusters whose topology is `shards`: learns every node id (CLUSTER MYID), introduces
// the nodes (CLUSTER MEET), gives each primary its slots, attaches the replicas and waits until they
// are in sync. A store without cluster support answers CLUSTER MYID with an error: then there is
// nothing to build (a single node serves every key). Problems become scenario-expect violations.
void build_topology(World& world, std::vector<Violation>& violations, std::int64_t deadline_ns) {
  auto& sched = world.sched();
  const kernel::Nanos timeout = ms(2'000);
  bool cluster_mode = true;
  for (int i = 0; i < world.node_count() && cluster_mode; ++i) {
    ClientReply r = world.admin(world.node_name(i), {"CLUSTER", "MYID"}, timeout);
    if (!r.answered || r.is_error_reply()) {
      cluster_mode = false;
      break;
    }
    world.set_cluster_node_id(i, r.value.text);
  }
  if (!cluster_mode) return;
  auto must = [&](const std::string& node, const std::vector<std::string>& argv, std::string_view expect) {
    for (;;) {
      ClientReply r = world.admin(node, argv, timeout);
      if (r.answered && reply_matches(expect, r.type_byte(), r.text())) return true;
      if (sched.now_ns() >= deadline_ns) {
        std::string shown;
        for (const auto& a : argv) shown += (shown.empty() ? "" : " ") + a;
        violations.push_back({"scenario-expect", sched.now_ns(), node,
                              fmt::format("topology setup: {} on {} answered {}, expected {}", shown, node,
                                          r.display(), expect),
                              {{"argv", argv}, {"reply", r.display()}}});
        return false;
      }
      sched.sleep_for(ms(100));
    }
  };
  for (const ClusterSpec& c : world.scenario().clusters) {
    if (c.topology != ClusterSpec::Topology::shards || c.nodes.empty()) continue;
    const std::string& first = c.nodes.front().name;
    for (std::size_t k = 1; k < c.nodes.size(); ++k) {
      if (!must(first, {"CLUSTER", "MEET", c.nodes[k].name, std::to_string(c.nodes[k].config.port)}, "OK")) return;
    }
    for (const ShardSpec& shard : c.shards) {
      for (const SlotRange& r : shard.slots) {
        if (!must(shard.primary, {"CLUSTER", "ADDSLOTSRANGE", std::to_string(r.first), std::to_string(r.last)}, "OK")) {
          return;
        }
      }
    }
    for (const ShardSpec& shard : c.shards) {
      const int p = world.node_index(shard.primary);
      for (const std::string& replica : shard.replicas) {
        if (!must(replica, {"CLUSTER", "REPLICATE", world.cluster_node_id(p)}, "OK")) return;
      }
    }
    for (const ShardSpec& shard : c.shards) {
      for (const std::string& replica : shard.replicas) {
        if (!must(replica, {"INFO", "replication"}, "*master_link_status:up*")) return;
      }
    }
  }
}

}  // namespace

std::string_view verdict_name(Verdict v) {
  switch (v) {
    case Verdict::pass: return "pass";
    case Verdict::fail: return "fail";
    case Verdict::error: return "error";
  }
  return "?";
}

nlohmann::json RunStats::to_json() const {
  return {{"trace_events", trace_events}, {"scheduler_events", scheduler_events}, {"sim_ns", sim_ns},
          {"fiber_switches", fiber_switches}, {"ops_invoked", ops_invoked}, {"ops_ok", ops_ok},
          {"ops_failed", ops_failed}, {"ops_unknown", ops_unknown}, {"faults", faults},
          {"messages", messages}, {"crashes", crashes}};
}

std::string RunResult::first_failed_check() const {
  return violations.empty() ? std::string() : violations.front().check;
}

std::string derived_parameters(const Scenario& scenario, std::uint64_t seed) {
  const SwarmPlan plan = plan_swarm(scenario.swarm, seed);
  return fmt::format("swarm={}", plan.summary());
}

RunResult run_scenario(const Scenario& scenario, const RunOptions& options) {
  RunResult result;
  result.swarm = plan_swarm(scenario.swarm, options.seed);
  std::vector<Violation> violations;

  WorldOptions wo;
  wo.seed = options.seed;
  wo.bugs = options.bugs;
  World world(scenario, wo);
  if (options.trace_sink) world.trace().set_sink(options.trace_sink);
  world.trace().keep_hash_sequence(options.keep_hash_sequence);
  auto& sched = world.sched();
  FaultInjector faults(world, result.swarm, &violations);

  const PhasesSpec& phases = scenario.phases;
  std::unique_ptr<Workload> workload;
  std::unique_ptr<Operator> op;
  bool director_done = false;
  std::string director_error;

  world.start_all();
  sched.spawn(kernel::kNoNode, "director", [&] {
    // ---- setup: every node up, then the scenario's own commands.
    const std::int64_t setup_deadline = sched.now_ns() + phases.setup_timeout_ms * 1'000'000;
    for (;;) {
      bool all = true;
      for (int i = 0; i < world.node_count(); ++i) {
        if (!world.started(i) && world.start_error(i).empty()) all = false;
      }
      if (all) break;
      if (sched.now_ns() >= setup_deadline) {
        director_error = "setup: nodes did not start within setup_timeout_ms";
        director_done = true;
        return;
      }
      sched.sleep_for(ms(10));
    }
    build_topology(world, violations, setup_deadline);
    for (const SetupStep& step : scenario.setup) {
      const AdminCommand& c = step.command;
      const std::int64_t deadline = sched.now_ns() + c.retry_for_ms * 1'000'000;
      for (;;) {
        ClientReply r = world.admin(c.node, c.argv, ms(c.timeout_ms));
        const bool ok = !c.expect || (r.answered && reply_matches(*c.expect, r.type_byte(), r.text()));
        if (ok) break;
        if (sched.now_ns() >= deadline) {
          violations.push_back({"scenario-expect", sched.now_ns(), c.node,
                                fmt::format("setup command on {} answered {}, expected {}", c.node,
                                            r.display(), c.expect.value_or("")),
                                {{"argv", c.argv}, {"reply", r.display()}, {"note", step.note}}});
          break;
        }
        sched.sleep_for(ms(c.retry_interval_ms));
      }
    }

    // ---- safety: workload and faults.
    const std::int64_t safety_start = sched.now_ns();
    const std::int64_t safety_end = safety_start + phases.safety_duration_ms * 1'000'000;
    faults.schedule_script(safety_start);
    if (scenario.operator_.enabled) {
      op = std::make_unique<Operator>(world, scenario.operator_);
      op->start();
    }
    faults.start_swarm(safety_end);
    if (scenario.workload.enabled) {
      WorkloadContext ctx;
      ctx.sched = &sched;
      ctx.net = &world.net();
      ctx.history = &result.history;
      ctx.book = world.address_book();
      ctx.seed = options.seed;
      const std::string& cluster_name =
          scenario.workload.cluster.empty() ? scenario.clusters.front().name : scenario.workload.cluster;
      for (const ClusterSpec& c : scenario.clusters) {
        if (c.name != cluster_name) continue;
        for (const NodeSpec& n : c.nodes) ctx.nodes.push_back(n.name);
        if (!c.nodes.empty()) {
          ctx.password = c.nodes.front().config.requirepass;
          ctx.aof_page_size_bytes = c.nodes.front().config.aof_page_size_bytes;
        }
      }
      const std::int64_t duration_ms =
          scenario.workload.duration_ms > 0 ? scenario.workload.duration_ms : phases.safety_duration_ms;
      workload = std::make_unique<Workload>(ctx, scenario.workload, safety_start,
                                            safety_start + std::min<std::int64_t>(duration_ms, phases.safety_duration_ms) * 1'000'000);
      workload->start();
    }
    sched.sleep_for(kernel::Nanos(safety_end - sched.now_ns()));

    // ---- liveness: heal everything, bring everything back, converge within the bound.
    if (phases.liveness.enabled) {
      faults.heal_all(phases.liveness.heal_all, phases.liveness.restart_all);
      const std::int64_t deadline = sched.now_ns() + phases.liveness.converge_within_ms * 1'000'000;
      std::vector<int> start_retries(static_cast<std::size_t>(world.node_count()), 0);
      for (;;) {
        bool converged = faults.admin_in_flight() == 0 && (!workload || workload->active_clients() == 0);
        for (int i = 0; i < world.node_count(); ++i) {
          if (world.state(i) != kernel::NodeState::up || !world.started(i)) converged = false;
          // A node that refused to start while faults were on gets a few more tries without them.
          if (!world.start_error(i).empty() && start_retries[static_cast<std::size_t>(i)] < 3 &&
              phases.liveness.restart_all) {
            ++start_retries[static_cast<std::size_t>(i)];
            world.crash(i, "liveness", "restart after failed start");
            world.restart(i, "liveness");
          }
        }
        if (converged || sched.now_ns() >= deadline) break;
        sched.sleep_for(ms(50));
      }
    }
    if (op) op->stop();
    director_done = true;
  });

  const std::int64_t limit_ms = scenario.limits.sim_time_ms > 0
                                    ? scenario.limits.sim_time_ms
                                    : phases.setup_timeout_ms + phases.safety_duration_ms +
                                          phases.liveness.converge_within_ms + 10'000;
  const auto stop = sched.run(kernel::SimTime(ms(limit_ms)), static_cast<std::uint64_t>(scenario.limits.events),
                              [&] { return director_done; });
  if (!director_done) {
    result.verdict = Verdict::error;
    result.error = stop == kernel::Scheduler::StopReason::event_limit
                       ? fmt::format("event limit reached: {} events at {} ms of simulated time",
                                     scenario.limits.events, sched.now_ns() / 1'000'000)
                       : fmt::format("simulated time limit reached at {} ms before the run finished",
                                     sched.now_ns() / 1'000'000);
  } else if (!director_error.empty()) {
    result.verdict = Verdict::error;
    result.error = director_error;
  }

  // ---- final checks.
  for (int i = 0; i < world.node_count(); ++i) result.finals.push_back(final_state(world, i));
  RunFacts facts;
  facts.history = &result.history;
  facts.finals = result.finals;
  facts.aborts = world.aborts();
  facts.durability_promised = durability_promised(scenario);
  if (check_enabled(scenario, "no-duplicate-list-entries")) {
    for (auto& v : check_no_duplicate_list_entries(facts)) violations.push_back(std::move(v));
  }
  if (check_enabled(scenario, "acknowledged-writes-durable")) {
    for (auto& v : check_acknowledged_writes_durable(facts)) violations.push_back(std::move(v));
  }
  if (check_enabled(scenario, "no-abort")) {
    for (auto& v : check_no_abort(facts)) violations.push_back(std::move(v));
  }
  check_final_states(scenario, result.finals, sched.now_ns(), violations);
  if (check_enabled(scenario, "aof-readable")) {
    for (int i = 0; i < world.node_count(); ++i) {
      core::Store* store = world.store(i);
      if (store == nullptr) continue;
      for (auto& v : check_aof_readable(world.node_name(i), world.disk(i), store->config(),
                                        store->aof_tail_address(), sched.now_ns())) {
        violations.push_back(std::move(v));
      }
    }
  }
  std::stable_sort(violations.begin(), violations.end(), [](const Violation& a, const Violation& b) {
    const auto ta = a.time_ns < 0 ? INT64_MAX : a.time_ns;
    const auto tb = b.time_ns < 0 ? INT64_MAX : b.time_ns;
    return ta < tb;
  });
  result.violations = std::move(violations);
  if (result.verdict == Verdict::pass && !result.violations.empty()) result.verdict = Verdict::fail;

  result.trace_hash = world.trace().hash();
  result.hash_sequence = world.trace().hash_sequence();
  result.recent_events.assign(world.trace().recent().begin(), world.trace().recent().end());
  result.decisions = world.decisions();
  RunStats& st = result.stats;
  st.trace_events = world.trace().count();
  st.scheduler_events = sched.events_run();
  st.sim_ns = sched.now_ns();
  st.fiber_switches = sched.fiber_switches();
  st.ops_invoked = result.history.size();
  st.ops_ok = result.history.count(Outcome::ok);
  st.ops_failed = result.history.count(Outcome::fail);
  st.ops_unknown = result.history.count(Outcome::unknown) + result.history.count(Outcome::pending);
  st.faults = result.decisions.size();
  st.messages = world.net().stats().sends;
  for (const Decision& d : result.decisions) st.crashes += d.action == "crash" ? 1 : 0;
  return result;
}

}  // namespace replsim::sim
