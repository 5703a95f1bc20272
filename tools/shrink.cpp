// tools/shrink.cpp — `replsim shrink`: a failing run's report in, a small scripted scenario out.
//
// The report gives the scenario, seed, bug switches, failed check and decision log. The swarm's faults
// are written out as scripted steps and the generators switched off; that scripted form must still
// fail the same check before anything is removed. Then, in order: delta debugging over the fault
// units, a shorter workload (duration, then clients), fewer replica nodes, earlier faults. Every
// candidate runs in a forked worker of the sweep engine, so a candidate that crashes the simulator
// costs one trial, not the shrink; a candidate the scenario loader rejects (say, a restart of a node
// that is no longer crashed) counts as "does not fail". The result is written in the loader's
// normalized form.
#include "tools/shrink.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "reports/report.h"
#include "sim/run.h"
#include "sim/workload.h"
#include "tools/commands.h"
#include "tools/sweep.h"

namespace replsim::tools {

namespace {

using nlohmann::json;
using sim::FaultStep;

// ---- decision log -> fault units ---------------------------------------------------------------

template <class Enum, std::size_t N>
std::optional<Enum> enum_by_name(std::string_view name, std::string_view (*name_of)(Enum)) {
  for (std::size_t i = 0; i < N; ++i) {
    if (name_of(static_cast<Enum>(i)) == name) return static_cast<Enum>(i);
  }
  return std::nullopt;
}

// Reads the fields of one decision's detail, keeping the first problem.
class DetailReader {
 public:
  DetailReader(const json& detail, std::string where) : detail_(detail), where_(std::move(where)) {}
  const std::string& error() const { return error_; }

  std::string str(const char* key, bool required = true) {
    const json* v = find(key, required);
    if (v == nullptr) return {};
    if (!v->is_string()) return bad(key, "a string", *v), std::string();
    return v->get<std::string>();
  }
  std::vector<std::string> strings(const char* key, bool required = true) {
    std::vector<std::string> out;
    const json* v = find(key, required);
    if (v == nullptr) return out;
    if (!v->is_array()) return bad(key, "a list of node names", *v), out;
    for (const json& e : *v) {
      if (!e.is_string()) return bad(key, "a list of node names", *v), out;
      out.push_back(e.get<std::string>());
    }
    return out;
  }
  std::int64_t i64(const char* key) {
    const json* v = find(key, true);
    if (v == nullptr) return 0;
    if (!v->is_number_integer()) return bad(key, "an integer", *v), 0;
    return v->get<std::int64_t>();
  }
  double number(const char* key) {
    const json* v = find(key, true);
    if (v == nullptr) return 0;
    if (!v->is_number()) return bad(key, "a number", *v), 0.0;
    return v->get<double>();
  }
  void fail(const std::string& what) {
    if (error_.empty()) error_ = fmt::format("{}: {}", where_, what);
  }

 private:
  const json* find(const char* key, bool required) {
    if (!error_.empty()) return nullptr;
    if (!detail_.is_object()) {
      if (required) fail(fmt::format("field `detail`: expected an object, found {}", json_type_name(detail_)));
      return nullptr;
    }
    auto it = detail_.find(key);
    if (it == detail_.end()) {
      if (required) fail(fmt::format("field `detail.{}`: missing", key));
      return nullptr;
    }
    return &*it;
  }
  void bad(const char* key, const char* expected, const json& found) {
    fail(fmt::format("field `detail.{}`: expected {}, found {}", key, expected, json_type_name(found)));
  }

  const json& detail_;
  std::string where_;
  std::string error_;
};

struct LoggedDecision {
  std::size_t index = 0;
  std::int64_t time_ns = 0;
  std::string source;
  std::string action;
  const json* detail = nullptr;
};

bool is_fault_source(const std::string& source) { return source == "script" || source.rfind("swarm:", 0) == 0; }

std::int64_t at_ms_of(std::int64_t time_ns, std::int64_t safety_start_ns) {
  return std::max<std::int64_t>(0, (time_ns - safety_start_ns) / 1'000'000);
}

// Builds the units. Undo decisions are looked up forward from their fault: the first matching one of
// the same source (a crash's restart names the same node; a partition's heal is the next heal).
class UnitBuilder {
 public:
  UnitBuilder(std::vector<LoggedDecision> log, const sim::Scenario& original, std::int64_t start_ns,
              std::int64_t end_ns)
      : log_(std::move(log)), start_ns_(start_ns), end_ns_(end_ns), used_(log_.size(), false) {
    for (const FaultStep& s : original.faults) {
      if (s.action() == FaultStep::Action::admin) admin_steps_.push_back(s);
    }
  }

  core::Result<std::vector<FaultUnit>> build(const std::string& where) {
    std::vector<FaultUnit> units;
    for (std::size_t i = 0; i < log_.size(); ++i) {
      const LoggedDecision& d = log_[i];
      if (used_[i] || !is_fault_source(d.source) || d.time_ns > end_ns_) continue;
      used_[i] = true;
      DetailReader r(*d.detail, fmt::format("{}: decisions[{}]", where, d.index));
      std::optional<FaultUnit> unit = unit_for(i, r);
      if (!r.error().empty()) return {core::Err::invalid, r.error()};
      if (unit) units.push_back(std::move(*unit));
    }
    return units;
  }

 private:
  FaultStep step_at(const LoggedDecision& d, sim::FaultDetail detail) const {
    FaultStep s;
    s.at_ms = at_ms_of(d.time_ns, start_ns_);
    s.detail = std::move(detail);
    s.note = fmt::format("shrunk from the decision log: {} at {:.3f} ms of the safety phase", d.source,
                         static_cast<double>(d.time_ns - start_ns_) / 1e6);
    return s;
  }

  // The first unused decision after `from` with this source and action whose detail satisfies `same`.
  std::optional<std::size_t> undo_of(std::size_t from, const std::string& action,
                                     const std::function<bool(const json&)>& same) {
    for (std::size_t j = from + 1; j < log_.size(); ++j) {
      const LoggedDecision& u = log_[j];
      if (used_[j] || u.time_ns > end_ns_ || u.source != log_[from].source || u.action != action) continue;
      if (!same(*u.detail)) continue;
      used_[j] = true;
      return j;
    }
    return std::nullopt;
  }

  static std::function<bool(const json&)> same_node(const std::string& node) {
    return [node](const json& detail) {
      return detail.is_object() && detail.contains("node") && detail["node"].is_string() &&
             detail["node"].get<std::string>() == node;
    };
  }
  static bool any(const json&) { return true; }

  std::optional<std::int64_t> duration_until(std::size_t from, std::optional<std::size_t> undo) const {
    if (!undo) return std::nullopt;
    return std::max<std::int64_t>(1, (log_[*undo].time_ns - log_[from].time_ns) / 1'000'000);
  }

  std::optional<FaultUnit> unit_for(std::size_t i, DetailReader& r) {
    const LoggedDecision& d = log_[i];
    FaultUnit unit;
    unit.decisions.push_back(d.index);
    auto add_undo = [&](std::optional<std::size_t> j, sim::FaultDetail detail) {
      if (!j) return;
      unit.steps.push_back(step_at(log_[*j], std::move(detail)));
      unit.decisions.push_back(log_[*j].index);
    };
    std::string node;
    if (d.action == "crash" || d.action == "pause") {
      node = r.str("node");
      if (d.action == "crash") {
        unit.steps.push_back(step_at(d, sim::CrashStep{node}));
        add_undo(undo_of(i, "restart", same_node(node)), sim::RestartStep{node});
      } else {
        unit.steps.push_back(step_at(d, sim::PauseStep{node}));
        add_undo(undo_of(i, "resume", same_node(node)), sim::ResumeStep{node});
      }
    } else if (d.action == "partition") {
      sim::PartitionStep p;
      const std::string kind = r.str("kind");
      const auto k = enum_by_name<sim::PartitionStep::Kind, 4>(kind, sim::partition_kind_name);
      if (!k) r.fail(fmt::format("field `detail.kind`: unknown partition kind \"{}\"", kind));
      p.kind = k.value_or(sim::PartitionStep::Kind::isolate);
      if (p.kind == sim::PartitionStep::Kind::two_way) {
        if (r.error().empty() && (!d.detail->contains("groups") || !(*d.detail)["groups"].is_array())) {
          r.fail("field `detail.groups`: expected a list of node lists");
        }
        if (r.error().empty()) {
          for (const json& g : (*d.detail)["groups"]) {
            const json holder = {{"g", g}};
            DetailReader gr(holder, "");
            p.groups.push_back(gr.strings("g"));
            if (!gr.error().empty()) r.fail("field `detail.groups`: expected a list of node lists");
          }
        }
      } else if (p.kind == sim::PartitionStep::Kind::one_way) {
        p.from = r.strings("from");
        p.to = r.strings("to");
      } else if (p.kind == sim::PartitionStep::Kind::isolate) {
        p.node = r.str("node");
      }
      const auto heal = undo_of(i, "heal", any);
      p.duration_ms = duration_until(i, heal);
      for (const auto& g : p.groups) unit.nodes.insert(g.begin(), g.end());
      unit.nodes.insert(p.from.begin(), p.from.end());
      unit.nodes.insert(p.to.begin(), p.to.end());
      if (!p.node.empty()) unit.nodes.insert(p.node);
      unit.steps.push_back(step_at(d, p));
      if (heal) unit.decisions.push_back(log_[*heal].index);
    } else if (d.action == "clog") {
      sim::ClogStep c;
      c.node = r.str("node", false);
      c.link = r.strings("link", false);
      c.extra_latency_ms = r.i64("extra_latency_ms");
      if (r.error().empty() && c.node.empty() == (c.link.size() != 2)) {
        r.fail("field `detail`: a clog names either a node or a link of two nodes");
      }
      const auto unclog = undo_of(i, "unclog", c.node.empty() ? any : same_node(c.node));
      c.duration_ms = duration_until(i, unclog);
      if (unclog) unit.decisions.push_back(log_[*unclog].index);
      node = c.node;
      unit.nodes.insert(c.link.begin(), c.link.end());
      unit.steps.push_back(step_at(d, c));
    } else if (d.action == "unclog") {
      sim::UnclogStep u;
      u.node = r.str("node", false);
      u.link = r.strings("link", false);
      node = u.node;
      unit.nodes.insert(u.link.begin(), u.link.end());
      unit.steps.push_back(step_at(d, u));
    } else if (d.action == "heal") {
      unit.steps.push_back(step_at(d, sim::HealStep{}));
    } else if (d.action == "reset_connections") {
      node = r.str("node", false);
      unit.steps.push_back(step_at(d, sim::ResetConnectionsStep{node}));
    } else if (d.action == "disk_fault") {
      sim::DiskFaultStep f;
      f.node = node = r.str("node");
      const std::string kind = r.str("kind");
      const auto k = enum_by_name<sim::DiskFaultStep::Kind, 5>(kind, sim::disk_fault_kind_name);
      if (r.error().empty() && !k) r.fail(fmt::format("field `detail.kind`: unknown disk fault kind \"{}\"", kind));
      f.kind = k.value_or(sim::DiskFaultStep::Kind::latency);
      f.probability = r.number("probability");
      f.latency_ms = r.i64("latency_ms");
      const auto healed = undo_of(i, "disk_heal", same_node(node));
      f.duration_ms = duration_until(i, healed);
      if (healed) unit.decisions.push_back(log_[*healed].index);
      unit.steps.push_back(step_at(d, f));
    } else if (d.action == "clock") {
      sim::ClockStep c;
      c.node = node = r.str("node");
      c.offset_ms = r.i64("offset_ms");
      c.drift_ppm = r.number("drift_ppm");
      unit.steps.push_back(step_at(d, c));
    } else if (d.action == "admin") {
      if (next_admin_ >= admin_steps_.size()) {
        r.fail("an admin decision the scenario's script does not have (was the report edited?)");
        return std::nullopt;
      }
      FaultStep s = admin_steps_[next_admin_++];
      s.at_ms = at_ms_of(d.time_ns, start_ns_);
      node = std::get<sim::AdminStep>(s.detail).command.node;
      unit.steps.push_back(std::move(s));
    } else {
      // restart, resume, disk_heal, ... without their fault: the fault came before the safety phase.
      return std::nullopt;
    }
    if (!node.empty()) unit.nodes.insert(node);
    if (!r.error().empty()) return std::nullopt;
    unit.summary = fmt::format("{} {}at {} ms ({})", d.action, node.empty() ? "" : node + " ",
                               unit.steps.front().at_ms, d.source);
    return unit;
  }

  std::vector<LoggedDecision> log_;
  std::int64_t start_ns_;
  std::int64_t end_ns_;
  std::vector<bool> used_;
  std::vector<FaultStep> admin_steps_;
  std::size_t next_admin_ = 0;
};

}  // namespace

core::Result<std::vector<FaultUnit>> fault_units_from_decisions(const json& decisions, const sim::Scenario& original,
                                                                std::int64_t safety_start_ns,
                                                                std::int64_t safety_end_ns, const std::string& where) {
  if (!decisions.is_array()) {
    return {core::Err::invalid,
            fmt::format("{}: field `decisions`: expected an array, found {}", where, json_type_name(decisions))};
  }
  std::vector<LoggedDecision> log;
  for (std::size_t i = 0; i < decisions.size(); ++i) {
    JsonFields f(decisions[i], fmt::format("{}: decisions[{}]", where, i));
    LoggedDecision d;
    d.index = i;
    d.time_ns = f.i64("time_ns");
    d.source = f.str("source");
    d.action = f.str("action");
    d.detail = f.get("detail", true);
    if (!f.ok()) return {core::Err::invalid, f.error()};
    if (i > 0 && d.time_ns < log.back().time_ns) {
      return {core::Err::invalid, fmt::format("{}: decisions[{}]: field `time_ns`: {} is earlier than the decision "
                                              "before it; the log must be in time order",
                                              where, i, d.time_ns)};
    }
    log.push_back(d);
  }
  return UnitBuilder(std::move(log), original, safety_start_ns, safety_end_ns).build(where);
}

std::vector<FaultStep> steps_of(const std::vector<FaultUnit>& units, const std::vector<std::size_t>& chosen) {
  struct Keyed {
    std::int64_t at_ms;
    std::size_t decision;
    const FaultStep* step;
  };
  std::vector<Keyed> all;
  for (std::size_t u : chosen) {
    for (std::size_t k = 0; k < units[u].steps.size(); ++k) {
      all.push_back({units[u].steps[k].at_ms, units[u].decisions[std::min(k, units[u].decisions.size() - 1)],
                     &units[u].steps[k]});
    }
  }
  std::stable_sort(all.begin(), all.end(), [](const Keyed& a, const Keyed& b) {
    return a.at_ms != b.at_ms ? a.at_ms < b.at_ms : a.decision < b.decision;
  });
  std::vector<FaultStep> out;
  for (const Keyed& k : all) out.push_back(*k.step);
  return out;
}

std::vector<std::size_t> delta_debug(
    std::size_t count, const std::function<std::vector<bool>(const std::vector<std::vector<std::size_t>>&)>& still_fails,
    std::size_t max_trials, std::size_t* trials_used) {
  std::vector<std::size_t> current(count);
  for (std::size_t i = 0; i < count; ++i) current[i] = i;
  std::size_t trials = 0;
  auto spend = [&](const std::vector<std::vector<std::size_t>>& batch) {
    trials += batch.size();
    return still_fails(batch);
  };
  // The cheapest answer first: perhaps no element is needed at all.
  if (count > 0 && trials < max_trials && spend({{}}).front()) current.clear();
  std::size_t n = 2;
  while (current.size() >= 2 && trials < max_trials) {
    n = std::min(n, current.size());
    std::vector<std::vector<std::size_t>> chunks(n);
    for (std::size_t i = 0; i < current.size(); ++i) chunks[i * n / current.size()].push_back(current[i]);
    std::vector<std::vector<std::size_t>> batch = chunks;
    if (n > 2) {
      for (std::size_t c = 0; c < n; ++c) {
        std::vector<std::size_t> complement;
        for (std::size_t o = 0; o < n; ++o) {
          if (o != c) complement.insert(complement.end(), chunks[o].begin(), chunks[o].end());
        }
        std::sort(complement.begin(), complement.end());
        batch.push_back(std::move(complement));
      }
    }
    if (batch.size() > max_trials - trials) batch.resize(max_trials - trials);
    const std::vector<bool> fails = spend(batch);
    std::size_t hit = batch.size();
    for (std::size_t b = 0; b < batch.size(); ++b) {
      if (fails[b]) {
        hit = b;
        break;
      }
    }
    if (hit < n) {  // a chunk alone fails: continue inside it
      current = batch[hit];
      n = 2;
    } else if (hit < batch.size()) {  // a complement fails: drop that chunk
      current = batch[hit];
      n = std::max<std::size_t>(n - 1, 2);
    } else if (n >= current.size()) {
      break;  // 1-minimal: removing any single element makes the failure go away
    } else {
      n = std::min(n * 2, current.size());
    }
  }
  if (trials_used != nullptr) *trials_used = trials;
  return current;
}

// ---- the command ---------------------------------------------------------------------------------

namespace {

constexpr std::uint64_t kDefaultSeed = 1;  // what `replsim run MIN.json` uses without --seed

// Runs candidate scenarios in forked workers and says which fail the target check.
class Trials {
 public:
  Trials(std::string check, std::vector<std::string> bugs, unsigned jobs)
      : check_(std::move(check)), bugs_(std::move(bugs)), jobs_(jobs) {}

  // One verdict per candidate: true when it fails the target check. A candidate that does not load
  // is reported as passing (the loader's message is kept for --verbose diagnostics).
  std::vector<bool> fails(const std::vector<sim::Scenario>& candidates, std::uint64_t seed) {
    std::vector<bool> out(candidates.size(), false);
    std::vector<ScenarioEntry> entries;
    std::vector<std::size_t> owner;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      auto normalized = sim::load_scenario_json(sim::scenario_to_json(candidates[i]), "shrink candidate");
      if (!normalized) {
        last_rejection_ = normalized.status().message();
        continue;
      }
      entries.push_back(ScenarioEntry{fmt::format("candidate-{}", i), fmt::format("candidate-{}", i),
                                      std::move(normalized.value())});
      owner.push_back(i);
    }
    if (entries.empty() || interrupted_) return out;
    std::vector<RunKey> keys;
    for (std::size_t e = 0; e < entries.size(); ++e) keys.push_back(RunKey{e, seed});
    EngineOptions options;
    options.jobs = jobs_;
    options.bugs = bugs_;
    const EngineReport report = run_engine(entries, keys, options, EngineObserver{});
    if (report.interrupted) interrupted_ = true;
    for (const UnitOutcome& o : report.outcomes) {
      out[owner[o.key.scenario]] = o.record.outcome == Outcome::fail && o.record.check == check_;
    }
    runs_ += entries.size();
    return out;
  }
  bool fails(const sim::Scenario& s, std::uint64_t seed) { return fails(std::vector<sim::Scenario>{s}, seed)[0]; }

  bool interrupted() const { return interrupted_; }
  std::size_t runs() const { return runs_; }
  const std::string& last_rejection() const { return last_rejection_; }

 private:
  std::string check_;
  std::vector<std::string> bugs_;
  unsigned jobs_;
  bool interrupted_ = false;
  std::size_t runs_ = 0;
  std::string last_rejection_;
};

// The scripted form: the swarm generators off, the faults from the chosen units.
sim::Scenario with_units(const sim::Scenario& base, const std::vector<FaultUnit>& units,
                         const std::vector<std::size_t>& chosen) {
  sim::Scenario s = base;
  s.faults = steps_of(units, chosen);
  return s;
}

std::int64_t workload_ms(const sim::Scenario& s) {
  return s.workload.duration_ms > 0 ? std::min(s.workload.duration_ms, s.phases.safety_duration_ms)
                                    : s.phases.safety_duration_ms;
}

// Cuts the workload (and the safety phase, down to the last scripted step) to `ms`.
sim::Scenario with_workload_ms(const sim::Scenario& s, std::int64_t ms) {
  sim::Scenario out = s;
  out.workload.duration_ms = ms;
  std::int64_t last_step_ms = 0;
  for (const FaultStep& f : s.faults) last_step_ms = std::max(last_step_ms, f.at_ms);
  out.phases.safety_duration_ms = std::max(ms, last_step_ms);
  return out;
}

// Removes one node (a replica of a shard) and every fault unit that names it.
std::optional<sim::Scenario> without_node(const sim::Scenario& s, const std::string& node,
                                          const std::vector<FaultUnit>& units, std::vector<std::size_t>& chosen) {
  sim::Scenario out = s;
  bool removed = false;
  for (sim::ClusterSpec& c : out.clusters) {
    if (c.topology != sim::ClusterSpec::Topology::shards || c.nodes.size() < 2) continue;
    for (sim::ShardSpec& shard : c.shards) {
      auto it = std::find(shard.replicas.begin(), shard.replicas.end(), node);
      if (it == shard.replicas.end()) continue;
      shard.replicas.erase(it);
      std::erase_if(c.nodes, [&](const sim::NodeSpec& n) { return n.name == node; });
      removed = true;
    }
  }
  if (!removed) return std::nullopt;
  std::erase_if(chosen, [&](std::size_t u) { return units[u].nodes.count(node) != 0; });
  out.faults = steps_of(units, chosen);
  return out;
}

core::Result<json> read_json_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return {core::Err::not_found, fmt::format("{}: cannot read the report", path)};
  std::stringstream text;
  text << file.rdbuf();
  try {
    return json::parse(text.str());
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1E999
    return {core::Err::invalid, fmt::format("{}: not valid JSON: {}", path, e.what())};
  }
}

std::int64_t node_count(const sim::Scenario& s) {
  std::int64_t n = 0;
  for (const sim::ClusterSpec& c : s.clusters) n += static_cast<std::int64_t>(c.nodes.size());
  return n;
}

// The simulated time the safety phase started and ended. The decision log has no phase marks, so the
// start is found from the liveness phase's heal_all (which happens when safety ends) or, failing that,
// from the first workload operation in the history.
core::Result<std::pair<std::int64_t, std::int64_t>> safety_window(const json& report, const sim::Scenario& s,
                                                                  const std::string& where) {
  const std::int64_t safety_ns = s.phases.safety_duration_ms * 1'000'000;
  for (const json& d : report["decisions"]) {
    if (d.is_object() && d.value("source", "") == "liveness" && d.value("action", "") == "heal_all" &&
        d.contains("time_ns") && d["time_ns"].is_number_integer()) {
      const std::int64_t end = d["time_ns"].get<std::int64_t>();
      return std::pair{end - safety_ns, end};
    }
  }
  if (const auto it = report.find("safety_start_ns"); it != report.end() && it->is_number_integer()) {
    return std::pair{it->get<std::int64_t>(), it->get<std::int64_t>() + safety_ns};
  }
  return {core::Err::invalid,
          fmt::format("{}: cannot tell when the safety phase started (the decision log has no liveness heal_all; "
                      "shrink needs a scenario whose liveness phase heals everything)",
                      where)};
}

}  // namespace

int shrink_command(const ShrinkArgs& args) {
  const std::string& file = args.report_path;
  auto doc = read_json_file(file);
  if (!doc) return std::fprintf(stderr, "replsim: %s\n", doc.status().message().c_str()), kExitUsage;
  const json& report = doc.value();
  auto read = read_replay_report(report, file);
  if (!read) return std::fprintf(stderr, "replsim: %s\n", read.status().message().c_str()), kExitUsage;
  const ReplayInputs& in = read.value();
  if (in.verdict != "fail" || in.failed_check.empty()) {
    return std::fprintf(stderr, "replsim: %s: the run %s (verdict %s); shrink needs the report of a run that failed "
                                "a check\n",
                        file.c_str(), in.verdict == "pass" ? "passed" : "did not fail a check", in.verdict.c_str()),
           kExitUsage;
  }
  if (!report.contains("decisions")) {
    return std::fprintf(stderr, "replsim: %s: field `decisions`: missing (the fault decision log)\n", file.c_str()),
           kExitUsage;
  }
  if (!report["decisions"].is_array()) {
    return std::fprintf(stderr, "replsim: %s: field `decisions`: expected an array, found %s\n", file.c_str(),
                        json_type_name(report["decisions"]).c_str()),
           kExitUsage;
  }
  auto window = safety_window(report, in.scenario, file);
  if (!window) return std::fprintf(stderr, "replsim: %s\n", window.status().message().c_str()), kExitUsage;
  auto built = fault_units_from_decisions(report["decisions"], in.scenario, window.value().first,
                                          window.value().second, file);
  if (!built) return std::fprintf(stderr, "replsim: %s\n", built.status().message().c_str()), kExitUsage;
  const std::vector<FaultUnit>& units = built.value();
  std::int64_t ops_before = 0;
  if (report.contains("stats") && report["stats"].is_object()) {
    ops_before = report["stats"].value("ops_invoked", std::int64_t{0});
  }

  const std::string check = in.failed_check;
  std::printf("shrink: %s: scenario %s, seed %llu, failed check %s; %zu faults in the decision log\n", file.c_str(),
              in.scenario.name.c_str(), static_cast<unsigned long long>(in.seed), check.c_str(), units.size());
  std::fflush(stdout);

  // The scripted form with every unit must fail before anything is removed.
  sim::Scenario base = in.scenario;
  base.swarm = sim::SwarmSpec{};  // every generator off; what they did is in the units
  base.swarm.budget = in.scenario.swarm.budget;
  // The workload the failing seed ran, variant resolved: another seed must not pick another one.
  base.workload = sim::workload_for_seed(in.scenario.workload, in.seed);
  std::vector<std::size_t> chosen(units.size());
  for (std::size_t i = 0; i < units.size(); ++i) chosen[i] = i;
  sim::Scenario current = with_units(base, units, chosen);
  Trials trials(check, in.bugs, args.jobs == 0 ? available_cpus() : args.jobs);
  // Prefer the default seed, so that `replsim run MIN.json` alone reproduces the failure.
  std::uint64_t seed = in.seed;
  const bool default_fails = trials.fails(current, kDefaultSeed);
  const bool own_fails = in.seed == kDefaultSeed ? default_fails : trials.fails(current, in.seed);
  if (default_fails) {
    seed = kDefaultSeed;
  } else if (!own_fails) {
    std::printf("shrink: the scripted form of the run (the swarm's faults replayed as a script, generators off) "
                "does not fail %s with seed %llu%s; nothing written.\n%s",
                check.c_str(), static_cast<unsigned long long>(in.seed),
                in.seed == kDefaultSeed ? "" : " or 1",
                trials.last_rejection().empty() ? ""
                                                : fmt::format("  (a candidate was rejected: {})\n",
                                                              trials.last_rejection()).c_str());
    return kExitFail;
  }
  std::printf("shrink: the scripted form fails %s with seed %llu; reducing (each candidate runs in a worker "
              "process)\n",
              check.c_str(), static_cast<unsigned long long>(seed));
  std::fflush(stdout);

  // 1. Faults: delta debugging over the units.
  std::size_t fault_trials = 0;
  const std::vector<std::size_t> kept = delta_debug(
      units.size(),
      [&](const std::vector<std::vector<std::size_t>>& batch) {
        std::vector<sim::Scenario> candidates;
        for (const auto& subset : batch) candidates.push_back(with_units(base, units, subset));
        return trials.fails(candidates, seed);
      },
      args.max_trials, &fault_trials);
  chosen = kept;
  current = with_units(base, units, chosen);
  std::printf("shrink: faults %zu -> %zu (%zu candidates)\n", units.size(), chosen.size(), fault_trials);
  for (std::size_t u : chosen) std::printf("  kept: %s\n", units[u].summary.c_str());
  std::fflush(stdout);

  // 2. Workload: a shorter run, then fewer clients.
  const std::int64_t workload_before_ms = workload_ms(current);
  if (current.workload.enabled && !trials.interrupted()) {
    std::int64_t pass_ms = 0;  // assumed: no workload, no failure
    std::int64_t fail_ms = workload_before_ms;
    const std::int64_t resolution_ms = std::max<std::int64_t>(50, workload_before_ms / 64);
    while (fail_ms - pass_ms > resolution_ms && !trials.interrupted()) {
      const std::int64_t mid = pass_ms + (fail_ms - pass_ms) / 2;
      if (trials.fails(with_workload_ms(current, mid), seed)) {
        fail_ms = mid;
      } else {
        pass_ms = mid;
      }
    }
    if (fail_ms < workload_before_ms) current = with_workload_ms(current, fail_ms);
    while (current.workload.clients > 1 && !trials.interrupted()) {
      sim::Scenario fewer = current;
      fewer.workload.clients = current.workload.clients / 2;
      if (!trials.fails(fewer, seed)) break;
      current = fewer;
    }
    std::printf("shrink: workload %lld ms -> %lld ms, clients %d -> %d\n", static_cast<long long>(workload_before_ms),
                static_cast<long long>(workload_ms(current)), in.scenario.workload.clients, current.workload.clients);
  }

  // 3. Nodes: drop replicas, last first, with the faults that name them.
  const std::int64_t nodes_before = node_count(in.scenario);
  for (bool progress = true; progress && !trials.interrupted();) {
    progress = false;
    std::vector<std::string> names;
    for (const sim::ClusterSpec& c : current.clusters) {
      for (const sim::NodeSpec& n : c.nodes) names.push_back(n.name);
    }
    for (auto it = names.rbegin(); it != names.rend() && !progress; ++it) {
      std::vector<std::size_t> fewer_units = chosen;
      auto candidate = without_node(current, *it, units, fewer_units);
      if (!candidate) continue;
      // Keep the shrunk workload length: without_node rebuilt the faults only.
      if (trials.fails(*candidate, seed)) {
        current = std::move(*candidate);
        chosen = std::move(fewer_units);
        progress = true;
      }
    }
  }
  std::printf("shrink: nodes %lld -> %lld\n", static_cast<long long>(nodes_before),
              static_cast<long long>(node_count(current)));

  // 4. Time: the kept faults earlier (halving every step's time, order kept), the safety phase with
  // them, so the failure comes sooner and the trace is shorter.
  const std::int64_t safety_before_ms = current.phases.safety_duration_ms;
  for (int round = 0; round < 8 && !current.faults.empty() && !trials.interrupted(); ++round) {
    sim::Scenario earlier = current;
    std::int64_t last_ms = 0;
    for (FaultStep& f : earlier.faults) {
      f.at_ms /= 2;
      last_ms = std::max(last_ms, f.at_ms);
    }
    const std::int64_t workload_end_ms = current.workload.duration_ms > 0 ? current.workload.duration_ms : 0;
    earlier.phases.safety_duration_ms = std::max<std::int64_t>({1, last_ms, workload_end_ms});
    if (earlier == current || !trials.fails(earlier, seed)) break;
    current = std::move(earlier);
  }
  std::printf("shrink: safety phase %lld ms -> %lld ms\n", static_cast<long long>(safety_before_ms),
              static_cast<long long>(current.phases.safety_duration_ms));

  // A smaller scenario may fail with the default seed where the full one did not; then the plain
  // `replsim run MIN.json` reproduces it.
  if (seed != kDefaultSeed && !trials.interrupted() && trials.fails(current, kDefaultSeed)) {
    seed = kDefaultSeed;
    std::printf("shrink: the shrunk scenario fails with seed %llu too; using it\n",
                static_cast<unsigned long long>(kDefaultSeed));
  }

  // The result, normalized, checked once more in this process for the numbers it prints.
  current.name = in.scenario.name + "-min";
  current.description = fmt::format(
      "Shrunk by `replsim shrink` from {} (scenario {}, seed {}, check {}): the swarm's faults as a script, "
      "reduced while the same check still failed. Run it with: replsim run <this file>{}.",
      file, in.scenario.name, in.seed, check, seed == kDefaultSeed ? "" : fmt::format(" --seed {}", seed));
  const json out_doc = sim::scenario_to_json(current);
  auto reloaded = sim::load_scenario_json(out_doc, args.out_path);
  if (!reloaded) {
    std::fprintf(stderr, "replsim: internal error: the shrunk scenario does not load: %s\n",
                 reloaded.status().message().c_str());
    return kExitInternal;
  }
  sim::RunOptions ro;
  ro.seed = seed;
  ro.bugs = in.bugs;
  const sim::RunResult final_run = sim::run_scenario(reloaded.value(), ro);
  const bool still = final_run.verdict == sim::Verdict::fail && final_run.first_failed_check() == check;
  if (!still) {
    std::printf("shrink: the final scenario did not fail %s when rerun; nothing written (please report this)\n",
                check.c_str());
    return kExitInternal;
  }
  if (std::string err = reports::write_file_atomic(args.out_path, out_doc.dump(2) + "\n"); !err.empty()) {
    return std::fprintf(stderr, "replsim: %s\n", err.c_str()), kExitUsage;
  }
  std::string bug_flags;
  for (const std::string& b : in.bugs) bug_flags += " --bug " + shell_quoted(b);
  const std::string run_cmd = fmt::format("replsim run {}{}{}", shell_quoted(args.out_path),
                                          seed == kDefaultSeed ? "" : fmt::format(" --seed {}", seed), bug_flags);
  std::printf("faults %zu -> %zu, ops %lld -> %llu, nodes %lld -> %lld (%zu runs%s)\n", units.size(), chosen.size(),
              static_cast<long long>(ops_before), static_cast<unsigned long long>(final_run.stats.ops_invoked),
              static_cast<long long>(nodes_before), static_cast<long long>(node_count(current)), trials.runs(),
              trials.interrupted() ? ", interrupted: the result is what was reached" : "");
  std::printf("wrote %s; `%s` fails check %s (trace_hash=%s)\n", args.out_path.c_str(), run_cmd.c_str(),
              check.c_str(), kernel::hex64(final_run.trace_hash).c_str());
  return kExitPass;
}

}  // namespace replsim::tools
