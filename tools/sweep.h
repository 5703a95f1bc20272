// tools/sweep.h — the pieces behind `replsim sweep`, `merge`, `replay` and `run --check-determinism`.
//
// A sweep is a list of (scenario, seed) runs, sorted by scenario path then seed, optionally cut into
// shards. The engine runs each one in a forked worker process and turns whatever happens to the
// worker — a verdict, a crash, a hang, an exhausted memory limit — into one RunRecord. Everything a
// sweep writes (summary JSON, JUnit XML, report folders) is built from the sorted records, so no
// output depends on --jobs. Nothing here feeds a simulation: wall clocks and processes are allowed.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/env.h"
#include "sim/kernel/trace.h"
#include "sim/run.h"
#include "sim/scenario.h"

namespace replsim::tools {

// ---- what to run -------------------------------------------------------------------------------

// An inclusive range of seeds. Written "N" (seeds 1..N) or "A..B" on the command line.
struct SeedRange {
  std::uint64_t first = 1;
  std::uint64_t last = 100;
  std::uint64_t count() const { return last - first + 1; }
  std::string to_string() const;
  bool operator==(const SeedRange&) const = default;
};
core::Result<SeedRange> parse_seed_range(std::string_view text);

// Shard K of N (1 <= K <= N), written "K/N". Run i of the sorted run list belongs to shard
// (i % N) + 1, so the shards are disjoint, cover every run, and are balanced across scenarios.
struct Shard {
  int index = 1;
  int count = 1;
  std::string to_string() const;
  bool operator==(const Shard&) const = default;
};
core::Result<Shard> parse_shard(std::string_view text);

// Expands files and folders into scenario file paths: folders are walked recursively for *.json
// (schema.json excepted); the result is sorted and has no duplicates. Fails on a path that does not
// exist or a folder with no scenario in it.
core::Result<std::vector<std::string>> expand_scenario_paths(const std::vector<std::string>& args);

struct ScenarioEntry {
  std::string path;    // as given or found, e.g. scenarios/fuzz/single-node.json
  std::string folder;  // its folder under --out: the scenario's name, made unique within the sweep
  sim::Scenario scenario;
};

// Loads every file; the first broken one fails the whole list with the loader's message.
core::Result<std::vector<ScenarioEntry>> load_scenarios(const std::vector<std::string>& paths);

// Output folder names: the scenario name when it is unique in the sweep, otherwise the file path
// with separators replaced, so two files that share a name never share a folder.
std::vector<std::string> scenario_folders(const std::vector<std::string>& paths,
                                          const std::vector<std::string>& names);

struct RunKey {
  std::size_t scenario = 0;  // index into the sweep's scenario list
  std::uint64_t seed = 0;
  bool operator==(const RunKey&) const = default;
};

// Every (scenario, seed) pair in order, keeping those of the given shard.
std::vector<RunKey> plan_runs(std::size_t scenario_count, const SeedRange& seeds, const Shard& shard);

// ---- what a run gave ---------------------------------------------------------------------------

enum class Outcome : std::uint8_t {
  pass,   // every check held
  fail,   // a check failed (including `determinism` and the simulator's run limits)
  error,  // the worker crashed, aborted, hung past its budget or ran out of memory
};
std::string_view outcome_name(Outcome o);
std::optional<Outcome> outcome_from_name(std::string_view name);

struct RunRecord {
  std::string scenario;       // the scenario's name
  std::string scenario_path;  // the file it came from
  std::uint64_t seed = 0;
  Outcome outcome = Outcome::pass;
  std::string check;       // the failed check's id; "" when the run passed or errored
  std::string error_kind;  // for errors: signal, wall-budget, memory, exit, internal
  std::string trace_hash;  // 16 hex digits; "" when the worker died before finishing
  std::uint64_t events = 0;
  std::int64_t sim_ms = 0;
  std::int64_t wall_ms = 0;
  std::string message;  // the first violation, or what happened to the worker
  std::string detail;   // longer evidence: the worker's stderr, the divergent events
  std::string replay;   // the command that reruns this seed
  std::string report;   // its folder relative to --out ("" when none was written)

  nlohmann::json to_json() const;
  bool operator==(const RunRecord&) const = default;
};
core::Result<RunRecord> run_record_from_json(const nlohmann::json& j, const std::string& where);

// Orders records by scenario path, then seed: the order of every output.
bool record_before(const RunRecord& a, const RunRecord& b);

// ---- the summary of a sweep (--json, DIR/summary.json) -------------------------------------------

inline constexpr int kSweepSummaryFormatVersion = 1;

struct ScenarioInfo {
  std::string name;
  std::string path;
  std::string folder;
  bool operator==(const ScenarioInfo&) const = default;
};

struct Totals {
  std::uint64_t runs = 0;
  std::uint64_t passed = 0;
  std::uint64_t failed = 0;
  std::uint64_t errors = 0;
};

struct SweepSummary {
  std::string binary;
  std::vector<std::string> bugs;
  SeedRange seeds;
  int shard_count = 1;
  std::vector<int> shards = {1};  // which shards these runs cover (several after a merge)
  bool check_determinism = false;
  std::uint64_t planned_runs = 0;  // runs the covered shards were meant to do
  bool complete = true;            // false when interrupted or stopped at the first failure
  double wall_s = 0;               // elapsed time; after a merge, the sum over the shards
  std::vector<ScenarioInfo> scenarios;
  std::vector<RunRecord> runs;  // sorted by record_before

  Totals totals() const;
  Totals totals_for(const std::string& scenario_path) const;
};

nlohmann::json summary_to_json(const SweepSummary& s);
// Validates what it reads; errors name the source and the field.
core::Result<SweepSummary> summary_from_json(const nlohmann::json& j, const std::string& source);

// Joins shard summaries: they must come from the same sweep (seeds, bugs, shard count, determinism
// mode); a run found twice must agree. The result is sorted and complete only when every shard
// is present and complete.
core::Result<SweepSummary> merge_summaries(const std::vector<SweepSummary>& parts,
                                           const std::vector<std::string>& sources);

// JUnit XML: one testsuite per scenario with its totals, one testcase per failed or errored run.
std::string render_junit(const SweepSummary& s);

// The SWEEP line of DESIGN.md section 6.
std::string sweep_line(const Totals& t, double wall_s);

// ---- reading JSON written by replsim ---------------------------------------------------------------

// "a string", "an unsigned integer", ... for messages about a JSON value of the wrong type.
std::string json_type_name(const nlohmann::json& j);

// Reads typed fields of one JSON object and keeps the first problem as one line naming the source
// and the field: "<where>: field `seed`: expected an unsigned integer, found a string". Every read
// after the first problem returns a default value. `object` must outlive the reader.
class JsonFields {
 public:
  JsonFields(const nlohmann::json& object, std::string where);

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  // nullptr when absent (an error when required).
  const nlohmann::json* get(const char* key, bool required);
  std::string str(const char* key, bool required = true);
  std::uint64_t u64(const char* key, bool required = true);
  std::int64_t i64(const char* key, bool required = true);
  double number(const char* key, bool required = true);
  bool boolean(const char* key, bool required = true);
  std::vector<std::string> strings(const char* key, bool required = true);
  const nlohmann::json* array(const char* key, bool required = true);
  const nlohmann::json* object(const char* key, bool required = true);
  // Records a problem with a field ("" for the object itself), unless one is already recorded.
  void fail(const std::string& key, const std::string& what);

 private:
  const nlohmann::json& object_;
  std::string where_;
  std::string error_;
};

// What `replsim replay` needs from a report.json, validated.
struct ReplayInputs {
  std::string binary;
  std::string scenario_path;
  sim::Scenario scenario;
  std::uint64_t seed = 0;
  std::vector<std::string> bugs;
  std::string trace_hash;  // 16 hex digits
  std::string verdict;     // pass, fail or error
  std::string failed_check;
  std::string replay;  // the report's replay command
};
core::Result<ReplayInputs> read_replay_report(const nlohmann::json& report, const std::string& file);
// The same from the file's text: a file that is not JSON is refused with the parser's line and column.
core::Result<ReplayInputs> read_replay_report_text(std::string_view text, const std::string& file);

// ---- text helpers --------------------------------------------------------------------------------

std::string xml_escape(std::string_view text);
// Replaces invalid UTF-8 and control characters other than tab and newline with U+FFFD, so text
// from a crashing worker can go into JSON and XML as it is.
std::string sanitize_text(std::string_view text);
std::string shell_quoted(const std::string& s);

// The lines `replsim run` prints between SEED= and PASS/FAIL: stats, run error, violations.
std::vector<std::string> run_body_lines(const sim::RunResult& r);
// The PASS/FAIL line of `replsim run`.
std::string verdict_line(std::uint64_t seed, const sim::RunResult& r, std::int64_t wall_ms,
                         const std::string& replay);
// The SEED= line of `replsim run`.
std::string seed_line(std::uint64_t seed, const sim::Scenario& scenario, const std::string& file,
                      const std::vector<std::string>& bugs);
// Empty when every name is a known bug switch, otherwise the message for the first unknown one.
std::string check_bug_names(const std::vector<std::string>& bugs);

// ---- determinism ---------------------------------------------------------------------------------

// The index of the first event at which two hash sequences differ (the shorter length when one is
// a prefix of the other), or nullopt when they are equal.
std::optional<std::uint64_t> first_divergence(const std::vector<std::uint64_t>& a,
                                              const std::vector<std::uint64_t>& b);

// ---- the engine ---------------------------------------------------------------------------------

struct EngineOptions {
  unsigned jobs = 1;
  std::int64_t wall_budget_ms = 300'000;  // per worker process; SIGKILL after it
  std::int64_t memory_limit_mb = 2048;    // RLIMIT_AS per worker; 0 = none
  bool check_determinism = false;
  bool stop_on_first_fail = false;
  std::vector<std::string> bugs;
  // Failing runs write report.html, report.json, history.json and trace.jsonl into
  // out_dir/<folder>/seed-<n>/; "" = none.
  std::string out_dir;
  bool reports_for_every_run = false;  // `run --out` writes a report even for a pass
  bool single_run_layout = false;      // reports go straight into out_dir (`run --out`)
};

// One finished (scenario, seed): the record, plus what `run --check-determinism` prints.
struct UnitOutcome {
  RunKey key;
  RunRecord record;
  std::string seed_line;               // the first run's SEED= line
  std::vector<std::string> body_lines;  // the first run's stats and violation lines
  std::vector<std::string> determinism_lines;  // how the two runs compared (determinism mode)
};

struct EngineProgress {
  std::uint64_t done = 0;
  std::uint64_t total = 0;
  Totals totals;
  double elapsed_s = 0;
};

struct EngineObserver {
  std::function<void(const UnitOutcome&, const EngineProgress&)> on_outcome;
  std::function<void(const EngineProgress&)> on_tick;  // called every ~200 ms while runs go on
};

struct EngineReport {
  std::vector<UnitOutcome> outcomes;  // finished runs only, in plan order
  bool interrupted = false;            // SIGINT or SIGTERM
  bool stopped_early = false;          // --stop-on-first-fail
  double wall_s = 0;
};

// The memory limit actually applied to workers: 0 in sanitizer builds, whose shadow memory needs
// far more address space than any useful limit allows.
std::int64_t effective_memory_limit_mb(std::int64_t requested_mb);

// Runs every key in forked workers, at most options.jobs at a time. SIGINT and SIGTERM stop it:
// running workers are killed and not recorded. REQUIRES: no other child processes of this process
// are being waited for, and stdout is flushed by the caller as it wishes (workers never write to it).
EngineReport run_engine(const std::vector<ScenarioEntry>& scenarios, const std::vector<RunKey>& keys,
                        const EngineOptions& options, const EngineObserver& observer);

// The CPUs this process may run on.
unsigned available_cpus();

}  // namespace replsim::tools
