// tools/fuzz/fuzz_main.cpp — the libFuzzer entry point of one fuzz target; REPLSIM_FUZZ_TARGET names
// which entry of tools/fuzz/fuzz_entries.h it drives. Built only with -Dfuzz=true (clang).
//
// A broken contract is printed and aborts, so libFuzzer saves the input as a crash reproducer.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "tools/fuzz/fuzz_entries.h"

#ifndef REPLSIM_FUZZ_TARGET
#error "REPLSIM_FUZZ_TARGET must name a target (set by tools/fuzz/meson.build)"
#endif

namespace {

replsim::fuzz::FuzzEntry find_entry() {
  for (const replsim::fuzz::FuzzTarget& t : replsim::fuzz::fuzz_targets()) {
    if (std::strcmp(t.name, REPLSIM_FUZZ_TARGET) == 0) return t.entry;
  }
  std::fprintf(stderr, "fuzz target %s is not in fuzz_targets()\n", REPLSIM_FUZZ_TARGET);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const replsim::fuzz::FuzzEntry entry = find_entry();
  const std::string problem = entry(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!problem.empty()) {
    std::fprintf(stderr, "fuzz target %s: contract broken: %s\n", REPLSIM_FUZZ_TARGET, problem.c_str());
    std::abort();
  }
  return 0;
}
