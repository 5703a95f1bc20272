// tools/sweep_test.cpp — the sweep's planning, records, summaries, merging, JUnit, replay-report
// validation, and the fork engine itself (crash, determinism) on a short scenario.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "reports/report.h"
#include "tools/commands.h"
#include "tools/sweep.h"

namespace replsim::tools {
namespace {

namespace fs = std::filesystem;

const std::string kTinyScenario = std::string(REPLSIM_SOURCE_ROOT) + "/tools/testdata/tiny.json";

// A fresh, empty folder under the system's temporary folder, removed when the test ends.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "replsim-sweep-test-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void write_text(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// Sets an environment variable for the scope of one test.
struct ScopedEnv {
  std::string name;
  ScopedEnv(std::string n, const std::string& value) : name(std::move(n)) { setenv(name.c_str(), value.c_str(), 1); }
  ~ScopedEnv() { unsetenv(name.c_str()); }
};

RunRecord record(const std::string& path, std::uint64_t seed, Outcome outcome) {
  RunRecord r;
  r.scenario = fs::path(path).stem().string();
  r.scenario_path = path;
  r.seed = seed;
  r.outcome = outcome;
  r.check = outcome == Outcome::fail ? "no-abort" : "";
  r.error_kind = outcome == Outcome::error ? "signal" : "";
  r.trace_hash = outcome == Outcome::error ? "" : fmt::format("{:016x}", seed * 7919 + path.size());
  r.events = seed * 10;
  r.sim_ms = 1000;
  r.wall_ms = static_cast<std::int64_t>(seed);
  r.message = outcome == Outcome::pass ? "" : "a <message> & \"quotes\"";
  r.replay = fmt::format("replsim run {} --seed {}", path, seed);
  return r;
}

// An unsharded summary over two scenarios and seeds 1..9, with one failure and one error.
SweepSummary sample_summary() {
  SweepSummary s;
  s.binary = "replsim test";
  s.seeds = SeedRange{1, 9};
  s.scenarios = {{"a", "sc/a.json", "a"}, {"b", "sc/b.json", "b"}};
  for (const auto& info : s.scenarios) {
    for (std::uint64_t seed = 1; seed <= 9; ++seed) {
      Outcome o = Outcome::pass;
      if (info.name == "a" && seed == 4) o = Outcome::fail;
      if (info.name == "b" && seed == 7) o = Outcome::error;
      s.runs.push_back(record(info.path, seed, o));
    }
  }
  s.planned_runs = s.runs.size();
  s.wall_s = 3.5;
  return s;
}

// The part of a summary that shard K/N would have written.
SweepSummary shard_of(const SweepSummary& all, const Shard& shard) {
  SweepSummary part = all;
  part.shard_count = shard.count;
  part.shards = {shard.index};
  part.runs.clear();
  const std::vector<RunKey> keys = plan_runs(all.scenarios.size(), all.seeds, shard);
  for (const RunKey& k : keys) {
    for (const RunRecord& r : all.runs) {
      if (r.scenario_path == all.scenarios[k.scenario].path && r.seed == k.seed) part.runs.push_back(r);
    }
  }
  part.planned_runs = keys.size();
  part.wall_s = 1.0;
  return part;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

// ---- planning ------------------------------------------------------------------------------------

TEST_CASE("seed ranges: a count means 1..N, A..B is inclusive, nonsense is refused") {
  CHECK(parse_seed_range("100").value() == SeedRange{1, 100});
  CHECK(parse_seed_range("5..9").value() == SeedRange{5, 9});
  CHECK(parse_seed_range("0..0").value().count() == 1);
  CHECK(parse_seed_range("18446744073709551615").value().last == UINT64_MAX);
  for (const char* bad : {"0", "", "-3", "9..5", "x", "1..", "..4", "1..2..3", "1.5", "99999999999999999999"}) {
    CAPTURE(bad);
    auto r = parse_seed_range(bad);
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().message().find("--seeds") == 0);
  }
}

TEST_CASE("shards: K/N with 1 <= K <= N") {
  CHECK(parse_shard("2/8").value() == Shard{2, 8});
  CHECK(parse_shard("1/1").value() == Shard{1, 1});
  for (const char* bad : {"0/3", "4/3", "3", "a/b", "1/0", "/2", "1/", "1/2/3"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_shard(bad).is_ok());
  }
}

TEST_CASE("shards are disjoint, cover every run in order, and are balanced") {
  const SeedRange seeds{3, 40};
  const std::vector<RunKey> all = plan_runs(3, seeds, Shard{1, 1});
  REQUIRE(all.size() == 3 * 38);
  CHECK(all.front() == RunKey{0, 3});
  CHECK(all.back() == RunKey{2, 40});
  for (int n : {1, 2, 5, 7, 200}) {
    std::vector<RunKey> joined;
    std::size_t smallest = SIZE_MAX;
    std::size_t largest = 0;
    for (int k = 1; k <= n; ++k) {
      const std::vector<RunKey> part = plan_runs(3, seeds, Shard{k, n});
      smallest = std::min(smallest, part.size());
      largest = std::max(largest, part.size());
      joined.insert(joined.end(), part.begin(), part.end());
    }
    CAPTURE(n);
    CHECK(largest - smallest <= 1);
    std::sort(joined.begin(), joined.end(), [](const RunKey& a, const RunKey& b) {
      return a.scenario != b.scenario ? a.scenario < b.scenario : a.seed < b.seed;
    });
    CHECK(joined == all);
  }
}

TEST_CASE("a seed range that ends at the largest seed terminates") {
  const std::vector<RunKey> keys = plan_runs(1, SeedRange{UINT64_MAX - 2, UINT64_MAX}, Shard{1, 1});
  REQUIRE(keys.size() == 3);
  CHECK(keys.back().seed == UINT64_MAX);
}

TEST_CASE("folders expand to their scenario files, sorted, without schema.json or duplicates") {
  TempDir tmp;
  write_text(tmp.path / "b.json", "{}");
  write_text(tmp.path / "sub/a.json", "{}");
  write_text(tmp.path / "schema.json", "{}");
  write_text(tmp.path / "notes.txt", "not a scenario");
  fs::create_directories(tmp.path / "empty");
  const std::string root = tmp.path.string();
  auto paths = expand_scenario_paths({root, root + "/b.json", root + "/./sub/a.json"});
  REQUIRE(paths.is_ok());
  CHECK(paths.value() == std::vector<std::string>{root + "/b.json", root + "/sub/a.json"});

  auto missing = expand_scenario_paths({root + "/nope.json"});
  REQUIRE_FALSE(missing.is_ok());
  CHECK(missing.status().message() == root + "/nope.json: no such file or folder");
  CHECK_FALSE(expand_scenario_paths({root + "/empty"}).is_ok());
}

TEST_CASE("output folders are scenario names, made unique by path when two files share a name") {
  CHECK(scenario_folders({"x/a.json", "x/b.json"}, {"alpha", "beta"}) == std::vector<std::string>{"alpha", "beta"});
  CHECK(scenario_folders({"x/a.json", "y/a.json", "z.json"}, {"same", "same", "odd name/.."}) ==
        std::vector<std::string>{"x_a", "y_a", "odd_name_.."});
}

TEST_CASE("a broken scenario file fails loading with the loader's message") {
  TempDir tmp;
  write_text(tmp.path / "bad.json", R"({"format_version": 1, "name": "x", "no_such_key": 1})");
  auto loaded = load_scenarios({kTinyScenario, (tmp.path / "bad.json").string()});
  REQUIRE_FALSE(loaded.is_ok());
  CHECK(loaded.status().message().find((tmp.path / "bad.json").string()) == 0);
}

// ---- records, summaries, merging -------------------------------------------------------------------

TEST_CASE("run records and summaries survive a JSON round trip") {
  const SweepSummary s = sample_summary();
  for (const RunRecord& r : s.runs) {
    auto back = run_record_from_json(r.to_json(), "test");
    REQUIRE(back.is_ok());
    CHECK(back.value() == r);
  }
  auto back = summary_from_json(summary_to_json(s), "summary.json");
  REQUIRE(back.is_ok());
  CHECK(back.value().runs == s.runs);
  CHECK(back.value().scenarios == s.scenarios);
  CHECK(back.value().seeds == s.seeds);
  CHECK(back.value().totals().failed == 1);
  CHECK(back.value().totals().errors == 1);
  CHECK(back.value().totals().passed == 16);
  const nlohmann::json j = summary_to_json(s);
  CHECK(j["totals"]["runs"] == 18);
  CHECK(j["scenarios"][1]["errors"] == 1);
}

TEST_CASE("a summary from another version or with a bad field is refused with the field named") {
  nlohmann::json j = summary_to_json(sample_summary());
  nlohmann::json old = j;
  old["format_version"] = 7;
  auto r = summary_from_json(old, "s.json");
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().message().find("s.json: field `format_version`: this replsim reads sweep summaries of version 1, "
                                  "the file has 7") == 0);
  nlohmann::json missing = j;
  missing.erase("runs");
  CHECK(summary_from_json(missing, "s.json").status().message() == "s.json: field `runs`: missing");
  nlohmann::json typed = j;
  typed["runs"][2]["seed"] = "three";
  CHECK(summary_from_json(typed, "s.json").status().message() ==
        "s.json: runs[2]: field `seed`: expected an unsigned integer, found a string");
  nlohmann::json verdict = j;
  verdict["runs"][0]["verdict"] = "maybe";
  CHECK(summary_from_json(verdict, "s.json").status().message().find("field `verdict`") != std::string::npos);
}

TEST_CASE("merged shards equal the unsharded summary") {
  const SweepSummary all = sample_summary();
  for (int n : {1, 2, 3, 5}) {
    std::vector<SweepSummary> parts;
    std::vector<std::string> sources;
    for (int k = n; k >= 1; --k) {  // the order of the inputs does not matter
      parts.push_back(shard_of(all, Shard{k, n}));
      sources.push_back(fmt::format("shard-{}", k));
    }
    auto merged = merge_summaries(parts, sources);
    REQUIRE(merged.is_ok());
    CAPTURE(n);
    CHECK(merged.value().runs == all.runs);
    CHECK(merged.value().scenarios == all.scenarios);
    CHECK(merged.value().complete);
    CHECK(merged.value().planned_runs == all.runs.size());
    CHECK(merged.value().wall_s == doctest::Approx(n * 1.0));
  }
}

TEST_CASE("merging refuses shards of different sweeps and notices missing ones") {
  const SweepSummary all = sample_summary();
  const SweepSummary one = shard_of(all, Shard{1, 3});
  const SweepSummary two = shard_of(all, Shard{2, 3});

  auto partial = merge_summaries({one, two}, {"s1", "s2"});
  REQUIRE(partial.is_ok());
  CHECK_FALSE(partial.value().complete);
  CHECK(partial.value().shards == std::vector<int>{1, 2});

  auto twice = merge_summaries({one, one}, {"s1", "again"});
  REQUIRE_FALSE(twice.is_ok());
  CHECK(twice.status().message() == "shard 1/3 appears twice: in s1 and in again");

  SweepSummary other_seeds = two;
  other_seeds.seeds = SeedRange{1, 10};
  CHECK(merge_summaries({one, other_seeds}, {"s1", "s2"}).status().message() ==
        "s1 and s2 come from different sweeps: seeds 1..9 vs 1..10");

  SweepSummary other_bugs = two;
  other_bugs.bugs = {"stuck-recovering"};
  CHECK_FALSE(merge_summaries({one, other_bugs}, {"s1", "s2"}).is_ok());

  SweepSummary conflicting = two;
  conflicting.shards = {3};
  conflicting.runs = one.runs;
  conflicting.runs[0].trace_hash = "0000000000000000";
  auto conflict = merge_summaries({one, conflicting}, {"s1", "s3"});
  REQUIRE_FALSE(conflict.is_ok());
  CHECK(conflict.status().message().find("has different results in s1 and s3") != std::string::npos);
}

// ---- JUnit and text ---------------------------------------------------------------------------------

TEST_CASE("JUnit: a suite per scenario with its totals, a test case per failed or errored run") {
  const std::string xml = render_junit(sample_summary());
  CHECK(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites ", 0) == 0);
  CHECK(xml.find("<testsuites name=\"replsim sweep\" tests=\"18\" failures=\"1\" errors=\"1\"") != std::string::npos);
  CHECK(count_of(xml, "<testsuite ") == 2);
  CHECK(count_of(xml, "</testsuite>") == 2);
  CHECK(xml.find("<testsuite name=\"a\" file=\"sc/a.json\" tests=\"9\" failures=\"1\" errors=\"0\"") != std::string::npos);
  CHECK(xml.find("<testsuite name=\"b\" file=\"sc/b.json\" tests=\"9\" failures=\"0\" errors=\"1\"") != std::string::npos);
  CHECK(count_of(xml, "<testcase ") == 2);
  CHECK(count_of(xml, "<failure type=\"no-abort\"") == 1);
  CHECK(count_of(xml, "<error type=\"signal\"") == 1);
  CHECK(xml.find("message=\"a &lt;message&gt; &amp; &quot;quotes&quot;\"") != std::string::npos);
  CHECK(xml.find("replay: replsim run sc/a.json --seed 4") != std::string::npos);
  CHECK(xml.find("<message>") == std::string::npos);
  CHECK(xml.find("8 of 9 seeds passed") != std::string::npos);
}

TEST_CASE("text from a crashing worker is made safe for JSON and XML") {
  CHECK(sanitize_text("plain\ttext\n") == "plain\ttext\n");
  CHECK(sanitize_text("caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x98\x80") == "caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x98\x80");
  CHECK(sanitize_text(std::string("a\x01" "b\x00" "c", 5)) == "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c");
  CHECK(sanitize_text("bad \xFF byte") == "bad \xEF\xBF\xBD byte");
  CHECK(sanitize_text("cut \xE2\x9C") == "cut \xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(sanitize_text("overlong \xC0\xAF") == "overlong \xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(sanitize_text("surrogate \xED\xA0\x80") == "surrogate \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(sanitize_text("nonchar \xEF\xBF\xBF") == "nonchar \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(xml_escape("<a href='x'>&</a>") == "&lt;a href=&apos;x&apos;&gt;&amp;&lt;/a&gt;");
  CHECK(shell_quoted("plain/path.json") == "plain/path.json");
  CHECK(shell_quoted("it's here") == "'it'\\''s here'");
}

TEST_CASE("the SWEEP line has the contract's exact shape") {
  Totals t;
  t.runs = 10;
  t.passed = 7;
  t.failed = 2;
  t.errors = 1;
  CHECK(sweep_line(t, 4.0) == "SWEEP runs=10 passed=7 failed=2 errors=1 wall_s=4.00 runs_per_s=2.50");
  CHECK(sweep_line(Totals{}, 0.0) == "SWEEP runs=0 passed=0 failed=0 errors=0 wall_s=0.00 runs_per_s=0.00");
}

TEST_CASE("first_divergence names the first differing event, or the shorter length") {
  CHECK_FALSE(first_divergence({1, 2, 3}, {1, 2, 3}).has_value());
  CHECK(first_divergence({1, 2, 3, 4}, {1, 2, 9, 4}) == 2u);
  CHECK(first_divergence({1, 2}, {1, 2, 3}) == 2u);
  CHECK(first_divergence({}, {5}) == 0u);
}

// ---- replay reports --------------------------------------------------------------------------------

TEST_CASE("read_replay_report accepts a real report and names the field of a broken one") {
  auto loaded = sim::load_scenario_file(kTinyScenario);
  REQUIRE(loaded.is_ok());
  sim::RunOptions options;
  options.seed = 5;
  const sim::RunResult result = sim::run_scenario(loaded.value(), options);
  reports::ReportInputs in;
  in.scenario = &loaded.value();
  in.scenario_path = kTinyScenario;
  in.seed = 5;
  in.result = &result;
  in.replay_command = replay_command(kTinyScenario, 5, {});
  in.binary_id = binary_id();
  const nlohmann::json report = reports::build_report(in);

  auto read = read_replay_report(report, "r.json");
  REQUIRE(read.is_ok());
  CHECK(read.value().seed == 5);
  CHECK(read.value().trace_hash == kernel::hex64(result.trace_hash));
  CHECK(read.value().scenario == loaded.value());

  auto broken = [&](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json j = report;
    edit(j);
    auto r = read_replay_report(j, "r.json");
    REQUIRE_FALSE(r.is_ok());
    return r.status().message();
  };
  CHECK(broken([](auto& j) { j["format_version"] = 2; })
            .find("r.json: field `format_version`: this replsim reads report format 1, the file has 2") == 0);
  CHECK(broken([](auto& j) { j.erase("format_version"); }).find("r.json: field `format_version`: missing") == 0);
  CHECK(broken([](auto& j) { j.erase("seed"); }) == "r.json: field `seed`: missing");
  CHECK(broken([](auto& j) { j["seed"] = -1; }) == "r.json: field `seed`: expected an unsigned integer, found an integer");
  CHECK(broken([](auto& j) { j["trace_hash"] = "xyz"; }).find("r.json: field `trace_hash`: expected 16") == 0);
  CHECK(broken([](auto& j) { j["bugs"] = {"no-such-bug"}; }).find("r.json: field `bugs`: --bug no-such-bug") == 0);
  CHECK(broken([](auto& j) { j["tool"] = "other"; }).find("r.json: field `tool`") == 0);
  CHECK(broken([](auto& j) { j["scenario"].erase("clusters"); }).find("r.json (embedded scenario)") == 0);
  CHECK(broken([](auto& j) { j = nlohmann::json::array(); }).find("r.json: expected a JSON object") == 0);
}

// ---- the engine ------------------------------------------------------------------------------------

TEST_CASE("the engine: results in plan order, equal to in-process runs, whatever --jobs is") {
  auto loaded = load_scenarios({kTinyScenario});
  REQUIRE(loaded.is_ok());
  const std::vector<RunKey> keys = plan_runs(1, SeedRange{1, 4}, Shard{1, 1});
  EngineOptions options;
  options.jobs = 3;
  std::uint64_t seen = 0;
  EngineObserver observer;
  observer.on_outcome = [&seen](const UnitOutcome&, const EngineProgress& p) {
    ++seen;
    CHECK(p.done == seen);
    CHECK(p.total == 4);
  };
  const EngineReport report = run_engine(loaded.value(), keys, options, observer);
  CHECK(seen == 4);
  CHECK_FALSE(report.interrupted);
  REQUIRE(report.outcomes.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    const RunRecord& r = report.outcomes[i].record;
    CHECK(r.seed == i + 1);
    sim::RunOptions ro;
    ro.seed = r.seed;
    const sim::RunResult direct = sim::run_scenario(loaded.value()[0].scenario, ro);
    CHECK(r.trace_hash == kernel::hex64(direct.trace_hash));
    CHECK(r.events == direct.stats.trace_events);
    CHECK(r.outcome == (direct.verdict == sim::Verdict::pass ? Outcome::pass : Outcome::fail));
    CHECK(r.replay == replay_command(kTinyScenario, r.seed, {}));
  }
}

TEST_CASE("the engine: a crashing worker is that seed's error and the others still run") {
  ScopedEnv crash("REPLSIM_TEST_CRASH_SEED", "2");
  auto loaded = load_scenarios({kTinyScenario});
  REQUIRE(loaded.is_ok());
  TempDir out;
  EngineOptions options;
  options.jobs = 2;
  options.out_dir = out.path.string();
  const EngineReport report = run_engine(loaded.value(), plan_runs(1, SeedRange{1, 3}, Shard{1, 1}), options, {});
  REQUIRE(report.outcomes.size() == 3);
  const RunRecord& crashed = report.outcomes[1].record;
  CHECK(crashed.outcome == Outcome::error);
  CHECK(crashed.message.find("SEGV") != std::string::npos);
  CHECK(crashed.trace_hash.empty());
  CHECK(crashed.report == "tiny-single-node/seed-2");
  CHECK(fs::exists(out.path / "tiny-single-node/seed-2/error.txt"));
  CHECK(report.outcomes[0].record.outcome != Outcome::error);
  CHECK(report.outcomes[2].record.outcome != Outcome::error);
}

TEST_CASE("the engine: determinism mode agrees with itself and names the first divergent event") {
  auto loaded = load_scenarios({kTinyScenario});
  REQUIRE(loaded.is_ok());
  EngineOptions options;
  options.jobs = 2;
  options.check_determinism = true;
  const std::vector<RunKey> keys = {RunKey{0, 3}};
  {
    const EngineReport same = run_engine(loaded.value(), keys, options, {});
    REQUIRE(same.outcomes.size() == 1);
    CHECK(same.outcomes[0].record.check != "determinism");
    REQUIRE(same.outcomes[0].determinism_lines.size() == 1);
    CHECK(same.outcomes[0].determinism_lines[0].find("agree on all") != std::string::npos);
  }
  ScopedEnv perturb("REPLSIM_TEST_NONDETERMINISM_EVENT", "40");
  const EngineReport differ = run_engine(loaded.value(), keys, options, {});
  REQUIRE(differ.outcomes.size() == 1);
  const UnitOutcome& o = differ.outcomes[0];
  CHECK(o.record.outcome == Outcome::fail);
  CHECK(o.record.check == "determinism");
  CHECK(o.record.replay.find("--check-determinism") != std::string::npos);
  REQUIRE(o.determinism_lines.size() >= 3);
  CHECK(o.determinism_lines[0].find("DIVERGED at event 40") != std::string::npos);
  std::string text;
  for (const std::string& line : o.determinism_lines) text += line + "\n";
  CHECK(count_of(text, "both runs:") == 3);
  auto line_with = [&o](const std::string& label) {
    for (const std::string& line : o.determinism_lines) {
      if (line.find(label) != std::string::npos) return line;
    }
    return std::string();
  };
  CHECK(line_with("first run:").find("      40 ") != std::string::npos);
  CHECK(line_with("second run:").find("      40 ") != std::string::npos);
  CHECK(line_with("second run:").find("test-perturbation=1") != std::string::npos);
  CHECK(count_of(text, "test-perturbation=1") == 1);
  CHECK(text.find("did not reproduce") == std::string::npos);
}

}  // namespace replsim::tools
