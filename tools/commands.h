// tools/commands.h — the subcommands of the replsim CLI and the exit-code contract.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace replsim::tools {

// DESIGN.md section 6: 0 pass; 1 a check failed; 2 bad usage or bad scenario file; 3 internal error.
inline constexpr int kExitPass = 0;
inline constexpr int kExitFail = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInternal = 3;

struct RunArgs {
  std::string scenario_path;
  std::uint64_t seed = 1;
  std::vector<std::string> bugs;
  std::string out_dir;
  bool print_trace = false;
  bool check_determinism = false;  // handled by run_determinism_command
};

int run_command(const RunArgs& args);

// `replsim run --check-determinism`: the seed runs twice in separate processes; their per-event hash
// sequences must agree (tools/sweep_cmd.cpp).
int run_determinism_command(const RunArgs& args);

struct SweepArgs {
  std::vector<std::string> inputs;  // scenario files and folders
  std::string seeds = "100";        // "N" (1..N) or "A..B"
  unsigned jobs = 0;                // 0: one per available CPU
  std::string shard;                // "K/N"; "" runs everything
  std::vector<std::string> bugs;
  std::string out_dir;
  std::string junit_path;
  std::string json_path;
  bool stop_on_first_fail = false;
  bool check_determinism = false;
  std::int64_t wall_budget_ms = 300'000;
  std::int64_t memory_limit_mb = 2048;
};

// `replsim sweep` (tools/sweep_cmd.cpp). Exit 0 all passed, 1 a run failed or errored, 2 bad usage
// or a bad scenario file, 3 internal error, 130 interrupted before every run finished.
int sweep_command(const SweepArgs& args);

struct MergeArgs {
  std::vector<std::string> inputs;  // shard --out folders, or their summary.json files
  std::string out_dir;
};

// `replsim merge` (tools/merge_cmd.cpp): joins shard outputs into one summary.json and junit.xml.
int merge_command(const MergeArgs& args);

struct ReplayArgs {
  std::string report_path;
  bool print_trace = false;
  std::string out_dir;
};

// `replsim replay` (tools/replay_cmd.cpp): reruns the run a report.json describes and compares the
// trace hash. Exit 0 reproduced a pass, 1 reproduced a failure or did not reproduce, 2 bad report.
int replay_report_command(const ReplayArgs& args);
int checks_command();
// `replsim bugs`: the known-bug switches, their incidents and the checks expected to catch them.
int bugs_command();

// The command that reruns one seed of one scenario with the given bug switches.
std::string replay_command(const std::string& scenario_path, std::uint64_t seed,
                           const std::vector<std::string>& bugs);

// Identifies this build of replsim (version and build id), recorded in reports.
std::string binary_id();

}  // namespace replsim::tools
