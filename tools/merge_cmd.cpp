// tools/merge_cmd.cpp — `replsim merge DIR... --out DIR`: joins the outputs of sharded sweeps.
//
// Each input is a shard's --out folder (or its summary.json). The merge checks that the shards come
// from the same sweep, joins their runs into one summary.json and one junit.xml sorted exactly as an
// unsharded sweep would write them, and copies every failing run's folder. A merge that is missing a
// shard, or includes an interrupted one, says so and does not exit 0.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "reports/report.h"
#include "tools/commands.h"
#include "tools/sweep.h"

namespace replsim::tools {

namespace {

namespace fs = std::filesystem;

struct Part {
  std::string summary_path;
  fs::path dir;  // where its report folders are
  SweepSummary summary;
};

core::Result<Part> read_part(const std::string& input) {
  Part part;
  std::error_code ec;
  if (!fs::exists(input, ec)) {
    return {core::Err::not_found,
            fmt::format("{}: no such folder or file (give a sweep's --out folder or its summary.json)", input)};
  }
  if (fs::is_directory(input, ec)) {
    part.summary_path = (fs::path(input) / "summary.json").string();
    part.dir = input;
  } else {
    part.summary_path = input;
    part.dir = fs::path(input).parent_path();
  }
  std::ifstream in(part.summary_path, std::ios::binary);
  if (!in) {
    return {core::Err::not_found, fmt::format("{}: cannot read (give a sweep's --out folder or its summary.json)",
                                              part.summary_path)};
  }
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, false);
  if (j.is_discarded()) return {core::Err::invalid, fmt::format("{}: not valid JSON", part.summary_path)};
  auto summary = summary_from_json(j, part.summary_path);
  if (!summary) return summary.status();
  part.summary = std::move(summary.value());
  return part;
}

// A report folder named in a summary must stay inside the output folder.
bool safe_relative(const std::string& rel) {
  const fs::path p(rel);
  if (rel.empty() || p.is_absolute()) return false;
  return std::none_of(p.begin(), p.end(), [](const fs::path& piece) { return piece == ".."; });
}

// Copies each part's report folders into out_dir; returns how many were copied.
std::size_t copy_reports(const std::vector<Part>& parts, const fs::path& out_dir) {
  std::size_t copied = 0;
  for (const Part& part : parts) {
    for (const RunRecord& r : part.summary.runs) {
      if (r.report.empty()) continue;
      if (!safe_relative(r.report)) {
        std::fprintf(stderr, "replsim: warning: %s: skipping report folder %s (not a relative path inside the "
                             "sweep's folder)\n", part.summary_path.c_str(), r.report.c_str());
        continue;
      }
      const fs::path from = part.dir / r.report;
      const fs::path to = out_dir / r.report;
      std::error_code ec;
      if (fs::exists(to, ec) && fs::equivalent(from, to, ec)) {
        ++copied;
        continue;
      }
      fs::create_directories(to, ec);
      fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
      if (ec) {
        std::fprintf(stderr, "replsim: warning: cannot copy %s to %s: %s\n", from.string().c_str(),
                     to.string().c_str(), ec.message().c_str());
        continue;
      }
      ++copied;
    }
  }
  return copied;
}

}  // namespace

int merge_command(const MergeArgs& args) {
  std::vector<Part> parts;
  std::vector<std::string> sources;
  for (const std::string& input : args.inputs) {
    auto part = read_part(input);
    if (!part) return std::fprintf(stderr, "replsim: %s\n", part.status().message().c_str()), kExitUsage;
    sources.push_back(part.value().summary_path);
    parts.push_back(std::move(part.value()));
  }
  std::vector<SweepSummary> summaries;
  for (const Part& p : parts) summaries.push_back(p.summary);
  auto merged_or = merge_summaries(summaries, sources);
  if (!merged_or) return std::fprintf(stderr, "replsim: %s\n", merged_or.status().message().c_str()), kExitUsage;
  SweepSummary& merged = merged_or.value();
  for (std::size_t i = 1; i < parts.size(); ++i) {
    if (parts[i].summary.binary != parts[0].summary.binary) {
      std::fprintf(stderr, "replsim: warning: %s was written by `%s`, %s by `%s`; results may not be comparable\n",
                   sources[i].c_str(), parts[i].summary.binary.c_str(), sources[0].c_str(),
                   parts[0].summary.binary.c_str());
    }
  }

  std::error_code ec;
  fs::create_directories(args.out_dir, ec);
  if (ec) {
    return std::fprintf(stderr, "replsim: --out %s: cannot create the folder: %s\n", args.out_dir.c_str(),
                        ec.message().c_str()),
           kExitUsage;
  }
  const std::size_t copied = copy_reports(parts, args.out_dir);
  const std::string summary_path = args.out_dir + "/summary.json";
  const std::string junit_path = args.out_dir + "/junit.xml";
  std::string err = reports::write_file_atomic(summary_path, summary_to_json(merged).dump(2) + "\n");
  if (err.empty()) err = reports::write_file_atomic(junit_path, render_junit(merged));
  if (!err.empty()) return std::fprintf(stderr, "replsim: %s\n", err.c_str()), kExitInternal;

  std::string present;
  for (int k : merged.shards) present += (present.empty() ? "" : ",") + std::to_string(k);
  std::printf("merge: %zu summaries, shards %s of %d, seeds %s\n", parts.size(), present.c_str(), merged.shard_count,
              merged.seeds.to_string().c_str());
  std::string missing;
  for (int k = 1; k <= merged.shard_count; ++k) {
    if (!std::binary_search(merged.shards.begin(), merged.shards.end(), k)) {
      missing += (missing.empty() ? "" : ",") + std::to_string(k);
    }
  }
  for (const RunRecord& r : merged.runs) {
    if (r.outcome == Outcome::pass) continue;
    std::printf("%s scenario=%s seed=%llu %s%s replay: %s\n", r.outcome == Outcome::fail ? "FAIL" : "ERROR",
                r.scenario.c_str(), static_cast<unsigned long long>(r.seed),
                r.outcome == Outcome::fail ? "check=" : "kind=",
                (r.outcome == Outcome::fail ? r.check : r.error_kind).c_str(), r.replay.c_str());
  }
  for (const ScenarioInfo& info : merged.scenarios) {
    const Totals t = merged.totals_for(info.path);
    std::printf("scenario %s (%s): runs=%llu passed=%llu failed=%llu errors=%llu\n", info.name.c_str(),
                info.path.c_str(), static_cast<unsigned long long>(t.runs), static_cast<unsigned long long>(t.passed),
                static_cast<unsigned long long>(t.failed), static_cast<unsigned long long>(t.errors));
  }
  std::printf("outputs: %s %s (%zu report folders)\n", summary_path.c_str(), junit_path.c_str(), copied);
  if (!missing.empty()) std::printf("incomplete: shards %s of %d are missing\n", missing.c_str(), merged.shard_count);
  const bool parts_complete = std::all_of(parts.begin(), parts.end(), [](const Part& p) { return p.summary.complete; });
  if (!parts_complete) std::printf("incomplete: at least one shard was interrupted or stopped early\n");
  const Totals totals = merged.totals();
  std::printf("%s\n", sweep_line(totals, merged.wall_s).c_str());
  std::fflush(stdout);
  if (totals.failed > 0 || totals.errors > 0 || !merged.complete) return kExitFail;
  return kExitPass;
}

}  // namespace replsim::tools
