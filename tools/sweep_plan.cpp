// tools/sweep_plan.cpp — what a sweep runs: seed ranges, shards, scenario discovery and loading.
//
// Everything here is a pure function of the command line and the files it names, so two machines
// that are given the same arguments plan the same runs in the same order (what --shard relies on).
#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>

#include "tools/sweep.h"

namespace replsim::tools {

namespace {

namespace fs = std::filesystem;

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

std::string folder_safe(std::string_view text) {
  std::string out;
  for (char c : text) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.';
    out += keep ? c : '_';
  }
  if (out.empty() || out == "." || out == "..") out = "scenario";
  return out;
}

}  // namespace

std::string SeedRange::to_string() const { return fmt::format("{}..{}", first, last); }

core::Result<SeedRange> parse_seed_range(std::string_view text) {
  const std::size_t dots = text.find("..");
  if (dots == std::string_view::npos) {
    const auto n = parse_u64(text);
    if (!n || *n == 0) {
      return {core::Err::invalid,
              fmt::format("--seeds {}: expected a seed count N >= 1 (seeds 1..N) or a range A..B", text)};
    }
    return SeedRange{1, *n};
  }
  const auto first = parse_u64(text.substr(0, dots));
  const auto last = parse_u64(text.substr(dots + 2));
  if (!first || !last) {
    return {core::Err::invalid, fmt::format("--seeds {}: expected a range A..B of unsigned integers", text)};
  }
  if (*first > *last) {
    return {core::Err::invalid, fmt::format("--seeds {}: the range is empty ({} > {})", text, *first, *last)};
  }
  if (*first == 0 && *last == UINT64_MAX) {
    return {core::Err::invalid, fmt::format("--seeds {}: the range is too large", text)};
  }
  return SeedRange{*first, *last};
}

std::string Shard::to_string() const { return fmt::format("{}/{}", index, count); }

core::Result<Shard> parse_shard(std::string_view text) {
  const std::size_t slash = text.find('/');
  const auto k = slash == std::string_view::npos ? std::nullopt : parse_u64(text.substr(0, slash));
  const auto n = slash == std::string_view::npos ? std::nullopt : parse_u64(text.substr(slash + 1));
  if (!k || !n) return {core::Err::invalid, fmt::format("--shard {}: expected K/N, e.g. 2/8", text)};
  if (*n < 1 || *n > 100'000) {
    return {core::Err::invalid, fmt::format("--shard {}: the shard count must be between 1 and 100000", text)};
  }
  if (*k < 1 || *k > *n) {
    return {core::Err::invalid,
            fmt::format("--shard {}: K must be between 1 and {} (shards are numbered from 1)", text, *n)};
  }
  return Shard{static_cast<int>(*k), static_cast<int>(*n)};
}

core::Result<std::vector<std::string>> expand_scenario_paths(const std::vector<std::string>& args) {
  std::set<std::string> found;
  for (const std::string& arg : args) {
    std::error_code ec;
    const fs::file_status st = fs::status(arg, ec);
    if (ec || !fs::exists(st)) {
      return {core::Err::not_found, fmt::format("{}: no such file or folder", arg)};
    }
    if (!fs::is_directory(st)) {
      found.insert(fs::path(arg).lexically_normal().string());
      continue;
    }
    std::size_t in_folder = 0;
    for (auto it = fs::recursive_directory_iterator(arg, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      const fs::path& p = it->path();
      if (!it->is_regular_file(ec) || p.extension() != ".json" || p.filename() == "schema.json") continue;
      found.insert(p.lexically_normal().string());
      ++in_folder;
    }
    if (ec) return {core::Err::io_error, fmt::format("{}: cannot list the folder: {}", arg, ec.message())};
    if (in_folder == 0) {
      std::fprintf(stderr, "replsim: note: %s: no scenario files (*.json) in this folder\n", arg.c_str());
    }
  }
  if (found.empty()) {
    return {core::Err::invalid, "no scenario files to run (give *.json files or folders that hold them)"};
  }
  return std::vector<std::string>(found.begin(), found.end());
}

std::vector<std::string> scenario_folders(const std::vector<std::string>& paths,
                                          const std::vector<std::string>& names) {
  std::map<std::string, int> uses;
  for (const std::string& n : names) ++uses[folder_safe(n)];
  std::vector<std::string> folders;
  std::set<std::string> taken;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    std::string folder = folder_safe(names[i]);
    if (uses[folder] > 1) {
      folder = folder_safe(fs::path(paths[i]).replace_extension().lexically_normal().string());
    }
    const std::string base = folder;
    for (int n = 2; taken.count(folder) != 0; ++n) folder = fmt::format("{}-{}", base, n);
    taken.insert(folder);
    folders.push_back(folder);
  }
  return folders;
}

core::Result<std::vector<ScenarioEntry>> load_scenarios(const std::vector<std::string>& paths) {
  std::vector<ScenarioEntry> entries;
  std::vector<std::string> names;
  for (const std::string& path : paths) {
    auto loaded = sim::load_scenario_file(path);
    if (!loaded) return loaded.status();
    names.push_back(loaded.value().name);
    entries.push_back(ScenarioEntry{path, "", std::move(loaded.value())});
  }
  const std::vector<std::string> folders = scenario_folders(paths, names);
  for (std::size_t i = 0; i < entries.size(); ++i) entries[i].folder = folders[i];
  return entries;
}

std::vector<RunKey> plan_runs(std::size_t scenario_count, const SeedRange& seeds, const Shard& shard) {
  std::vector<RunKey> keys;
  std::uint64_t index = 0;
  for (std::size_t s = 0; s < scenario_count; ++s) {
    for (std::uint64_t seed = seeds.first;; ++seed) {
      if (index % static_cast<std::uint64_t>(shard.count) == static_cast<std::uint64_t>(shard.index - 1)) {
        keys.push_back(RunKey{s, seed});
      }
      ++index;
      if (seed == seeds.last) break;  // written this way so that last == UINT64_MAX ends too
    }
  }
  return keys;
}

}  // namespace replsim::tools
