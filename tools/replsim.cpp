// tools/replsim.cpp — the replsim command line (DESIGN.md section 6).
//
// Parses arguments with CLI11 and hands each subcommand to its module. Exit codes are the contract:
// 0 pass, 1 a check failed, 2 bad usage or bad scenario file, 3 internal error.
#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "tools/bench.h"

namespace {

constexpr int kExitUsage = 2;
constexpr int kExitInternal = 3;

constexpr const char* kDescription =
    "replsim — deterministic simulation testing for replicated key-value stores.\n"
    "Same seed, same binary => the same run, event for event.\n";

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{kDescription, "replsim"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "replsim 0.1.0");

  replsim::tools::BenchOptions bench_options;
  std::string bench_target;
  CLI::App* bench = app.add_subcommand("bench", "Run a benchmark and print one name=value figure a line.");
  bench->add_option("target", bench_target, "What to measure: kernel")
      ->required()
      ->check(CLI::IsMember({"kernel"}));
  bench->add_option("--scale", bench_options.scale,
                    "Multiply the amount of work (e.g. 0.1 for a quick smoke run)")
      ->check(CLI::PositiveNumber);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }

  try {
    if (bench->parsed()) {
      if (bench_target == "kernel") return replsim::tools::bench_kernel(bench_options);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "replsim: internal error: %s\n", e.what());
    return kExitInternal;
  }
  return kExitUsage;
}
