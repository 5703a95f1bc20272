// tools/fuzz/corpus_test.cpp — replays every file of tools/fuzz/corpus/<target>/ through its fuzz
// entry in the ordinary build, so the seeds and every crash the fuzzers ever found (kept as
// regressions) protect every build, not only the clang fuzz build.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tools/fuzz/fuzz_entries.h"

#ifndef REPLSIM_SOURCE_ROOT
#error "REPLSIM_SOURCE_ROOT must name the source tree (set by tools/fuzz/meson.build)"
#endif

namespace replsim::fuzz {
namespace {

namespace fs = std::filesystem;

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<fs::path> corpus_files(const std::string& target) {
  std::vector<fs::path> files;
  const fs::path dir = fs::path(REPLSIM_SOURCE_ROOT) / "tools" / "fuzz" / "corpus" / target;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST_CASE("every corpus file keeps its target's contract") {
  for (const FuzzTarget& target : fuzz_targets()) {
    const std::vector<fs::path> files = corpus_files(target.name);
    INFO("target: " << target.name);
    CHECK(files.size() >= 5);  // each target has seeds from the real writers and edge cases
    for (const fs::path& file : files) {
      INFO("file: " << file.string());
      CHECK(target.entry(read_bytes(file)) == "");
    }
  }
}

TEST_CASE("the directory container round-trips and tolerates damage") {
  FuzzDirectory dir;
  dir.config_selector = 3;
  dir.files["aof.0000000000000000"] = std::string("\0\x01\xff bytes", 9);
  dir.files["checkpoint.0000000000000007"] = "x";
  const std::string packed = pack_directory(dir);
  const FuzzDirectory back = unpack_directory(packed);
  CHECK(back.config_selector == 3);
  CHECK(back.files == dir.files);
  // Cut anywhere, it still unpacks to a prefix of the files (the last one possibly shortened).
  for (std::size_t cut = 0; cut < packed.size(); ++cut) {
    const FuzzDirectory part = unpack_directory(std::string_view(packed).substr(0, cut));
    CHECK(part.files.size() <= dir.files.size());
  }
}

TEST_CASE("the entries refuse bad input without breaking their contracts") {
  // Short hand-made inputs that reach each entry's refusal path.
  CHECK(fuzz_resp("*1\r\n$-5\r\n") == "");
  CHECK(fuzz_scenario("{") == "");
  CHECK(fuzz_scenario("{\"name\": \"t\"}") == "");
  CHECK(fuzz_report("[]") == "");
  CHECK(fuzz_report("{\"format_version\": 999}") == "");
  FuzzDirectory junk;
  junk.files["aof.0000000000000000"] = std::string(100, '\x5a');
  CHECK(fuzz_aof(pack_directory(junk)) == "");
  junk.files = {{"checkpoint.0000000000000001", std::string(100, '\x5a')}};
  CHECK(fuzz_checkpoint(pack_directory(junk)) == "");
}

}  // namespace
}  // namespace replsim::fuzz
