// sim/run.cpp — the phases of a run and the final checks.
#include "sim/run.h"

#include <algorithm>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "core/commands.h"
#include "sim/checks/aof_readable.h"
#include "sim/checks/duplication.h"
#include "sim/checks/recovering.h"
#include "sim/checks/replicate_ok.h"
#include "sim/duplication_world.h"
#include "sim/operator.h"
#include "sim/workload.h"

namespace replsim::sim {

namespace {

kernel::Nanos ms(std::int64_t v) { return kernel::Nanos(v * 1'000'000); }

bool check_enabled(const Scenario& s, std::string_view id) {
  return std::find(s.checks.begin(), s.checks.end(), id) != s.checks.end();
}

// Whether the scenario promises that acknowledged writes survive: every node syncs before it
// acknowledges, generated faults stay within the budget, and no forced failover can hand the slots to
// a replica that lags (replication is asynchronous: a FAILOVER FORCE or TAKEOVER, from the operator or
// the script, may drop what the old primary acknowledged last).
bool durability_promised(const Scenario& s) {
  for (const ClusterSpec& c : s.clusters) {
    for (const NodeSpec& n : c.nodes) {
      if (n.config.appendfsync != StoreSpec::Fsync::always) return false;
    }
  }
  if (s.operator_.enabled) return false;
  for (const FaultStep& step : s.faults) {
    const auto* admin = std::get_if<AdminStep>(&step.detail);
    if (admin == nullptr || admin->command.argv.size() < 3) continue;
    std::string sub = admin->command.argv[1];
    std::string mode = admin->command.argv[2];
    for (char& ch : sub) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    for (char& ch : mode) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (sub == "FAILOVER" && (mode == "FORCE" || mode == "TAKEOVER")) return false;
  }
  return s.swarm.budget.within_budget;
}

std::string role_text(core::Role role) { return role == core::Role::master ? "primary" : "replica"; }

// The replication and cluster part of a node's state: its sync, its id and roles, and the config it
// acts on in a form that compares equal across nodes (entries by id, slot owners as runs).
void fill_cluster_state(const core::Store& store, NodeFinal& f) {
  f.link_up = store.master_link_up();
  f.sync_state = std::string(core::sync_state_name(store.replication().sync_state()));
  const core::ClusterConfig& c = store.cluster_config();
  if (!store.cluster_enabled() || c.empty()) return;
  f.node_id = c.my_id();
  f.persisted_role = role_text(store.persisted_role());
  for (const core::ClusterNode& n : c.nodes()) {
    f.config.push_back({n.id, n.host, n.config_epoch, n.role == core::NodeRole::primary ? "primary" : "replica",
                        n.primary_id});
  }
  std::sort(f.config.begin(), f.config.end(),
            [](const ConfigEntry& a, const ConfigEntry& b) { return a.id < b.id; });
  // Runs of one owner, found by the config's block scans: this runs for every node at every poll of
  // the liveness phase.
  for (const auto& [span, owner] : c.owned_runs()) f.slot_owners.push_back({span.first, span.last, owner->id});
}

NodeFinal final_state(World& world, int i) {
  NodeFinal f;
  f.node = world.node_name(i);
  if (const ClusterSpec* c = world.scenario().cluster_of(f.node)) f.cluster = c->name;
  f.start_error = world.start_error(i);
  core::Store* store = world.store(i);
  if (store == nullptr || world.state(i) != kernel::NodeState::up) return f;
  f.up = true;
  f.role = role_text(store->role());
  f.recovering = store->recovering();
  f.primary = store->primary_node_name();
  f.last_sync_error = store->last_sync_error();
  f.digest = store->digest();
  f.aof_begin = store->aof_begin_address();
  f.aof_tail = store->aof_tail_address();
  f.last_decree = static_cast<std::int64_t>(store->last_decree());
  for (std::uint64_t d : store->checkpoint_decrees()) f.checkpoint_decrees.push_back(static_cast<std::int64_t>(d));
  fill_cluster_state(*store, f);
  fill_duplication_final(world.scenario(), *store, f);
  // aof_records and aof_read_error: run_scenario reads the files back once for them and aof-readable.
  const core::Keyspace& ks = store->keyspace();
  for (const std::string& key : ks.keys()) {
    const core::Value* v = ks.find(key);
    if (v != nullptr && v->type() == core::ValueType::list) {
      f.lists[key] = std::vector<std::string>(v->list().begin(), v->list().end());
    }
  }
  return f;
}

// Checkpoint decrees are valid on every running node.
void check_final_states(const Scenario& s, const std::vector<NodeFinal>& finals, std::int64_t now_ns,
                        std::vector<Violation>& out) {
  for (const NodeFinal& f : finals) {
    if (!f.up) continue;
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

// Whether replication and the cluster configs have settled, as far as the scenario's checks judge
// them: every node up, nobody recovering, every replica streaming from its primary and level with
// it, and the nodes of each cluster holding one config. The liveness phase waits for this.
bool settled(World& world, const Scenario& s) {
  const bool catch_up = check_enabled(s, "replicas-converge") || check_enabled(s, "replicate-ok-means-sync");
  const bool agree = check_enabled(s, "single-primary-per-slot");
  const bool no_recovering = check_enabled(s, "no-stuck-recovering");
  std::map<std::string, NodeFinal> first_view;  // per cluster
  for (int i = 0; i < world.node_count(); ++i) {
    core::Store* store = world.store(i);
    if (store == nullptr || !world.started(i) || world.state(i) != kernel::NodeState::up) return false;
    if (no_recovering && store->recovering()) return false;
    if (catch_up && store->role() == core::Role::replica) {
      const int p = world.node_index(store->primary_node_name());
      core::Store* primary = p < 0 ? nullptr : world.store(p);
      if (primary == nullptr || !store->master_link_up() || store->aof_tail_address() != primary->aof_tail_address() ||
          store->digest() != primary->digest()) {
        return false;
      }
    }
    if (agree && store->cluster_enabled()) {
      NodeFinal view;
      fill_cluster_state(*store, view);
      const ClusterSpec* c = s.cluster_of(world.node_name(i));
      auto [it, fresh] = first_view.emplace(c == nullptr ? std::string() : c->name, view);
      if (!fresh && (it->second.config != view.config || it->second.slot_owners != view.slot_owners)) return false;
    }
  }
  // Every duplication has shipped everything and its target holds its source's data.
  return s.duplications.empty() || duplications_settled(world);
}

// The slot of the command's first key, when it has one.
std::optional<int> key_slot(const std::vector<std::string>& argv) {
  if (argv.empty()) return std::nullopt;
  const core::CommandSpec* spec = core::find_command(core::lowercase_ascii(argv[0]));
  if (spec == nullptr || !spec->arity_ok(argv.size())) return std::nullopt;
  const std::vector<std::size_t> keys = core::command_key_positions(*spec, argv);
  if (keys.empty()) return std::nullopt;
  return core::key_hash_slot(argv[keys.front()]);
}

// Builds the clusters whose topology is `shards`: learns every node id (CLUSTER MYID), gives each
// primary its slots (CLUSTER ADDSLOTSRANGE), gives each node its own config epoch (CLUSTER SET-CONFIG-EPOCH),
// introduces the nodes (CLUSTER MEET), attaches the replicas and waits until they
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
    // Distinct config epochs before the nodes meet, as `redis-cli --cluster create` assigns them:
    // nodes that all start at epoch 0 resolve their collisions one bump at a time, and every bump
    // is a config change that every other node gossips and merges (at 81 nodes, ~1,450 changes per
    // node instead of ~80).
    // Slots before the nodes meet, as `redis-cli --cluster create` assigns them: each primary's
    // claim then travels with the first exchange between it and every other node, instead of being
    // a change every node merges and persists on its own after the cluster has formed.
    for (const ShardSpec& shard : c.shards) {
      for (const SlotRange& r : shard.slots) {
        if (!must(shard.primary, {"CLUSTER", "ADDSLOTSRANGE", std::to_string(r.first), std::to_string(r.last)}, "OK")) {
          return;
        }
      }
    }
    for (std::size_t k = 0; k < c.nodes.size(); ++k) {
      if (!must(c.nodes[k].name, {"CLUSTER", "SET-CONFIG-EPOCH", std::to_string(k + 1)}, "OK")) return;
    }
    for (std::size_t k = 1; k < c.nodes.size(); ++k) {
      if (!must(first, {"CLUSTER", "MEET", c.nodes[k].name, std::to_string(c.nodes[k].config.port)}, "OK")) return;
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

// The limit the scheduler stopped at, when the director had not finished.
LimitHit simulator_limit(kernel::Scheduler::StopReason stop, const Scenario& s, std::int64_t limit_ms,
                         const kernel::Scheduler& sched) {
  using Stop = kernel::Scheduler::StopReason;
  switch (stop) {
    case Stop::event_limit:
      return {"events", fmt::format("limits.events={} scheduler events ran before the run finished; raise "
                                    "limits.events if the scenario needs more, or look for a busy loop",
                                    s.limits.events)};
    case Stop::stalled: {
      const auto& r = sched.stall_report();
      return {"livelock", fmt::format("{} events in a row advanced simulated time by only {} ns (from {} ns to {} "
                                      "ns): something spins without waiting; the last event resumed {}",
                                      r.events, r.to_ns - r.from_ns, r.from_ns, r.to_ns, r.last_task)};
    }
    case Stop::idle:
      return {"deadlock", "nothing was left to run before the run finished: every task waits for something that "
                          "can no longer happen (a wait with no timeout)"};
    case Stop::time_limit:
    case Stop::predicate:
      break;
  }
  return {"sim-time", fmt::format("limits.sim_time_ms={} of simulated time passed before the run finished: a "
                                  "phase did not end (something waits forever); raise limits.sim_time_ms only "
                                  "if the phases really need longer",
                                  limit_ms)};
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
  std::string variant;
  if (scenario.workload.enabled) (void)workload_for_seed(scenario.workload, seed, &variant);
  if (variant.empty()) return fmt::format("swarm={}", plan.summary());
  return fmt::format("workload={} swarm={}", variant, plan.summary());
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
  // Where the director is, for the message of a limit that stops the run.
  std::string_view phase = "setup";

  // Online checks: the recovering monitor samples every node and sees every reply; the replicate
  // tracker sees every admin command.
  RecoveringMonitor recovering_monitor(/*grace_ns=*/1'000'000'000, /*quiet_ns=*/3'000'000'000);
  ReplicateTracker replicate_tracker;
  DuplicationDecreeMonitor duplication_monitor;
  auto observe_reply = [&](const std::vector<std::string>& argv, const ClientReply& r) {
    if (!r.is_error_reply() || !r.value.text.starts_with("CLUSTERDOWN")) return;
    const int i = world.node_index(r.node);
    core::Store* store = i < 0 ? nullptr : world.store(i);
    if (store == nullptr || world.started_at_ns(i) < 0) return;
    bool owns = false;
    if (const auto slot = key_slot(argv); slot && store->role() == core::Role::master && !store->cluster_config().empty()) {
      const core::ClusterNode* owner = store->cluster_config().slot_owner(*slot);
      owns = owner != nullptr && owner->id == store->cluster_config().my_id();
    }
    std::string shown;
    for (const std::string& a : argv) shown += (shown.empty() ? "" : " ") + a.substr(0, 64);
    recovering_monitor.reply(r.node, sched.now_ns(), shown, r.value.text, owns, sched.now_ns() - world.started_at_ns(i));
  };
  world.set_admin_observer([&](const std::string& node, const std::vector<std::string>& argv, const ClientReply& r) {
    const AdminOutcome outcome = !r.answered                                       ? AdminOutcome::unknown
                                 : !r.is_error_reply() && r.value.text == "OK" ? AdminOutcome::ok
                                                                               : AdminOutcome::refused;
    replicate_tracker.command(node, sched.now_ns(), argv, outcome);
    observe_reply(argv, r);
  });

  world.start_all();
  sched.spawn(kernel::kNoNode, "recovering-monitor", [&] {
    while (!director_done) {
      for (int i = 0; i < world.node_count(); ++i) {
        if (world.state(i) == kernel::NodeState::paused) continue;
        core::Store* store = world.store(i);
        if (store == nullptr || !world.started(i)) {
          recovering_monitor.node_down(world.node_name(i));
          continue;
        }
        RecoveringSample sample;
        sample.primary = store->role() == core::Role::master;
        sample.recovering = store->recovering();
        sample.sync_state = std::string(core::sync_state_name(store->replication().sync_state()));
        recovering_monitor.sample(world.node_name(i), sched.now_ns(), sample);
      }
      sample_duplications(world, duplication_monitor);
      sched.sleep_for(ms(100));
    }
  });
  // Phase boundaries go into the trace, so a reader of trace.jsonl or the HTML timeline sees them;
  // `phase` (where a limit report says the run was) follows them, with finer steps inside setup.
  auto mark_phase = [&](std::string_view name) {
    phase = name;
    world.trace().record(sched.now_ns(), "", "run.phase", fmt::format("phase={}", name));
  };
  sched.spawn(kernel::kNoNode, "director", [&] {
    // ---- setup: every node up, then the scenario's own commands.
    mark_phase("setup");
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
    phase = "topology";
    build_topology(world, violations, setup_deadline);
    phase = "setup commands";
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
    // Duplications start once setup has built the clusters and written what it writes.
    add_duplications(world, violations, std::max(setup_deadline, sched.now_ns() + 10'000'000'000));

    // ---- safety: workload and faults.
    phase = "safety";
    if (options.on_safety_start) options.on_safety_start(world);
    const std::int64_t safety_start = sched.now_ns();
    mark_phase("safety");
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
      ctx.on_reply = observe_reply;
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
      workload = std::make_unique<Workload>(ctx, workload_for_seed(scenario.workload, options.seed), safety_start,
                                            safety_start + std::min<std::int64_t>(duration_ms, phases.safety_duration_ms) * 1'000'000);
      workload->start();
    }
    sched.sleep_for(kernel::Nanos(safety_end - sched.now_ns()));

    // ---- liveness: heal everything, bring everything back, converge within the bound.
    if (phases.liveness.enabled) {
      mark_phase("liveness");
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
        if (converged) converged = settled(world, scenario);
        if (converged || sched.now_ns() >= deadline) break;
        sched.sleep_for(ms(50));
      }
    }
    if (op) op->stop();
    mark_phase("end");
    director_done = true;
  });

  const std::int64_t limit_ms = scenario.limits.sim_time_ms > 0
                                    ? scenario.limits.sim_time_ms
                                    : phases.setup_timeout_ms + phases.safety_duration_ms +
                                          phases.liveness.converge_within_ms + 10'000;
  sched.set_stall_limit(kStallEvents, kernel::Nanos(kStallAdvanceMinNs));
  std::optional<LimitHit> watchdog_hit;
  std::uint64_t until_watchdog = kWatchdogEvents;
  const auto stop = sched.run(kernel::SimTime(ms(limit_ms)), static_cast<std::uint64_t>(scenario.limits.events), [&] {
    if (director_done) return true;
    if (!options.watchdog || --until_watchdog != 0) return false;
    until_watchdog = kWatchdogEvents;
    watchdog_hit = options.watchdog(RunProgress{sched.now_ns(), sched.events_run(), phase});
    return watchdog_hit.has_value();
  });
  if (!director_done) {
    const LimitHit hit = watchdog_hit ? *watchdog_hit : simulator_limit(stop, scenario, limit_ms, sched);
    result.verdict = Verdict::error;
    result.limit = RunResult::Limit{hit.kind, std::string(phase), sched.now_ns(), sched.events_run()};
    result.error = fmt::format("{} limit: {} (stopped at {:.3f} s of simulated time, after {} events, in the {} "
                               "phase)",
                               hit.kind, hit.detail, static_cast<double>(sched.now_ns()) / 1e9, sched.events_run(),
                               phase);
  } else if (!director_error.empty()) {
    result.verdict = Verdict::error;
    result.error = director_error;
  }

  // ---- final checks.
  // The finals are built in the facts (no copy of every list and AOF print) and move to the result.
  RunFacts facts;
  for (int i = 0; i < world.node_count(); ++i) facts.finals.push_back(final_state(world, i));
  // Each node's files are read back once: for the AOF prints of a running node, and for aof-readable.
  const bool check_files = check_enabled(scenario, "aof-readable");
  std::vector<std::vector<Violation>> files_violations(static_cast<std::size_t>(world.node_count()));
  for (int i = 0; i < world.node_count(); ++i) {
    core::Store* store = world.store(i);
    NodeFinal& f = facts.finals[static_cast<std::size_t>(i)];
    if (store == nullptr || (!f.up && !check_files)) continue;
    AofReadBack back = read_back_files(world.node_name(i), world.disk(i), store->config(), store->aof_tail_address(),
                                       sched.now_ns(), f.up, check_files);
    if (f.up) {
      f.aof_records = std::move(back.prints);
      f.aof_read_error = std::move(back.prints_error);
    }
    files_violations[static_cast<std::size_t>(i)] = std::move(back.violations);
  }
  facts.history = &result.history;
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
  check_final_states(scenario, facts.finals, sched.now_ns(), violations);
  if (check_enabled(scenario, "valid-checkpoint-decrees")) {
    for (const Violation& v : duplication_monitor.violations()) violations.push_back(v);
    for (auto& v : check_duplication_decrees_final(facts, sched.now_ns())) violations.push_back(std::move(v));
  }
  if (check_enabled(scenario, "no-stuck-recovering")) {
    for (const Violation& v : recovering_monitor.violations()) violations.push_back(v);
    for (auto& v : check_no_stuck_recovering_final(facts, sched.now_ns())) violations.push_back(std::move(v));
  }
  if (check_enabled(scenario, "replicate-ok-means-sync")) {
    for (auto& v : replicate_tracker.check(facts, sched.now_ns())) violations.push_back(std::move(v));
  }
  if (scenario.phases.liveness.enabled && check_enabled(scenario, "replicas-converge")) {
    for (auto& v : check_replicas_converge(facts, sched.now_ns())) violations.push_back(std::move(v));
    for (auto& v : check_duplications_converge(duplication_links(scenario), facts, sched.now_ns())) {
      violations.push_back(std::move(v));
    }
  }
  if (scenario.phases.liveness.enabled && check_enabled(scenario, "single-primary-per-slot")) {
    for (auto& v : check_single_primary_per_slot(facts, sched.now_ns())) violations.push_back(std::move(v));
  }
  for (std::vector<Violation>& node_violations : files_violations) {
    for (auto& v : node_violations) violations.push_back(std::move(v));
  }
  std::stable_sort(violations.begin(), violations.end(), [](const Violation& a, const Violation& b) {
    const auto ta = a.time_ns < 0 ? INT64_MAX : a.time_ns;
    const auto tb = b.time_ns < 0 ? INT64_MAX : b.time_ns;
    return ta < tb;
  });
  result.violations = std::move(violations);
  result.finals = std::move(facts.finals);
  if (result.verdict == Verdict::pass && !result.violations.empty()) result.verdict = Verdict::fail;

  result.trace_hash = world.trace().hash();
  result.hash_sequence = world.trace().hash_sequence();
  result.recent_events = world.trace().recent();
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
