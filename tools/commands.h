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
};

int run_command(const RunArgs& args);
int checks_command();

// The command that reruns one seed of one scenario with the given bug switches.
std::string replay_command(const std::string& scenario_path, std::uint64_t seed,
                           const std::vector<std::string>& bugs);

// Identifies this build of replsim (version and build id), recorded in reports.
std::string binary_id();

}  // namespace replsim::tools
