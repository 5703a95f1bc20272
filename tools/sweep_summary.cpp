// tools/sweep_summary.cpp — run records, the sweep summary (JSON), merging shard summaries, JUnit XML,
// and the text lines `run`, `sweep` and `replay` share.
//
// Readers validate what they read and name the source and the field of the first problem: a summary
// written by another version, or edited by hand, gets one clear message instead of a wrong merge.
#include <algorithm>
#include <cinttypes>
#include <map>
#include <set>

#include <fmt/format.h>

#include "sim/checks/check.h"
#include "tools/sweep.h"

namespace replsim::tools {

using nlohmann::json;

std::string json_type_name(const nlohmann::json& j) {
  if (j.is_null()) return "null";
  if (j.is_boolean()) return "a boolean";
  if (j.is_number_unsigned()) return "an unsigned integer";
  if (j.is_number_integer()) return "an integer";
  if (j.is_number()) return "a number";
  if (j.is_string()) return "a string";
  if (j.is_array()) return "an array";
  return "an object";
}

namespace {

// The fields of two records that a rerun must reproduce (wall time is not one of them).
bool same_result(RunRecord a, RunRecord b) {
  a.wall_ms = b.wall_ms = 0;
  return a == b;
}

std::string one_line(std::string_view text, std::size_t max_chars) {
  std::string out;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    out += c;
  }
  if (out.size() > max_chars) out = out.substr(0, max_chars) + "...";
  return out;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

// ---- JsonFields ----------------------------------------------------------------------------------

JsonFields::JsonFields(const nlohmann::json& object, std::string where) : object_(object), where_(std::move(where)) {
  if (!object_.is_object()) fail("", "expected an object, found " + json_type_name(object_));
}

const nlohmann::json* JsonFields::get(const char* key, bool required) {
  if (!ok()) return nullptr;
  auto it = object_.find(key);
  if (it == object_.end()) {
    if (required) fail(key, "missing");
    return nullptr;
  }
  return &*it;
}

std::string JsonFields::str(const char* key, bool required) {
  const json* v = get(key, required);
  if (v == nullptr) return {};
  if (!v->is_string()) return fail(key, "expected a string, found " + json_type_name(*v)), std::string();
  return v->get<std::string>();
}

std::uint64_t JsonFields::u64(const char* key, bool required) {
  const json* v = get(key, required);
  if (v == nullptr) return 0;
  if (!v->is_number_unsigned()) return fail(key, "expected an unsigned integer, found " + json_type_name(*v)), 0;
  return v->get<std::uint64_t>();
}

std::int64_t JsonFields::i64(const char* key, bool required) {
  const json* v = get(key, required);
  if (v == nullptr) return 0;
  if (!v->is_number_integer()) return fail(key, "expected an integer, found " + json_type_name(*v)), 0;
  return v->get<std::int64_t>();
}

double JsonFields::number(const char* key, bool required) {
  const json* v = get(key, required);
  if (v == nullptr) return 0;
  if (!v->is_number()) return fail(key, "expected a number, found " + json_type_name(*v)), 0.0;
  return v->get<double>();
}

bool JsonFields::boolean(const char* key, bool required) {
  const json* v = get(key, required);
  if (v == nullptr) return false;
  if (!v->is_boolean()) return fail(key, "expected true or false, found " + json_type_name(*v)), false;
  return v->get<bool>();
}

std::vector<std::string> JsonFields::strings(const char* key, bool required) {
  const json* v = get(key, required);
  std::vector<std::string> out;
  if (v == nullptr) return out;
  if (!v->is_array()) return fail(key, "expected an array of strings, found " + json_type_name(*v)), out;
  for (const json& e : *v) {
    if (!e.is_string()) return fail(key, "expected an array of strings, found " + json_type_name(e)), out;
    out.push_back(e.get<std::string>());
  }
  return out;
}

const nlohmann::json* JsonFields::array(const char* key, bool required) {
  const json* v = get(key, required);
  if (v != nullptr && !v->is_array()) {
    fail(key, "expected an array, found " + json_type_name(*v));
    return nullptr;
  }
  return v;
}

const nlohmann::json* JsonFields::object(const char* key, bool required) {
  const json* v = get(key, required);
  if (v != nullptr && !v->is_object()) {
    fail(key, "expected an object, found " + json_type_name(*v));
    return nullptr;
  }
  return v;
}

void JsonFields::fail(const std::string& key, const std::string& what) {
  if (!ok()) return;
  error_ = key.empty() ? fmt::format("{}: {}", where_, what) : fmt::format("{}: field `{}`: {}", where_, key, what);
}

// ---- outcomes and records ------------------------------------------------------------------------

std::string_view outcome_name(Outcome o) {
  switch (o) {
    case Outcome::pass: return "pass";
    case Outcome::fail: return "fail";
    case Outcome::error: return "error";
  }
  return "?";
}

std::optional<Outcome> outcome_from_name(std::string_view name) {
  if (name == "pass") return Outcome::pass;
  if (name == "fail") return Outcome::fail;
  if (name == "error") return Outcome::error;
  return std::nullopt;
}

nlohmann::json RunRecord::to_json() const {
  return json{{"scenario", scenario}, {"scenario_path", scenario_path}, {"seed", seed},
              {"verdict", outcome_name(outcome)}, {"check", check}, {"error_kind", error_kind},
              {"trace_hash", trace_hash}, {"events", events}, {"sim_ms", sim_ms}, {"wall_ms", wall_ms},
              {"message", message}, {"detail", detail}, {"replay", replay}, {"report", report}};
}

core::Result<RunRecord> run_record_from_json(const nlohmann::json& j, const std::string& where) {
  JsonFields f(j, where);
  RunRecord r;
  r.scenario = f.str("scenario");
  r.scenario_path = f.str("scenario_path");
  r.seed = f.u64("seed");
  const std::string verdict = f.str("verdict");
  r.check = f.str("check");
  r.error_kind = f.str("error_kind");
  r.trace_hash = f.str("trace_hash");
  r.events = f.u64("events");
  r.sim_ms = f.i64("sim_ms");
  r.wall_ms = f.i64("wall_ms");
  r.message = f.str("message");
  r.detail = f.str("detail", false);
  r.replay = f.str("replay");
  r.report = f.str("report");
  if (!f.ok()) return {core::Err::invalid, f.error()};
  const auto outcome = outcome_from_name(verdict);
  if (!outcome) {
    return {core::Err::invalid, fmt::format("{}: field `verdict`: expected pass, fail or error, found \"{}\"",
                                            where, verdict)};
  }
  r.outcome = *outcome;
  return r;
}

bool record_before(const RunRecord& a, const RunRecord& b) {
  if (a.scenario_path != b.scenario_path) return a.scenario_path < b.scenario_path;
  return a.seed < b.seed;
}

// ---- summaries -----------------------------------------------------------------------------------

Totals SweepSummary::totals() const {
  Totals t;
  for (const RunRecord& r : runs) {
    ++t.runs;
    if (r.outcome == Outcome::pass) ++t.passed;
    if (r.outcome == Outcome::fail) ++t.failed;
    if (r.outcome == Outcome::error) ++t.errors;
  }
  return t;
}

Totals SweepSummary::totals_for(const std::string& scenario_path) const {
  SweepSummary only;
  for (const RunRecord& r : runs) {
    if (r.scenario_path == scenario_path) only.runs.push_back(r);
  }
  return only.totals();
}

nlohmann::json summary_to_json(const SweepSummary& s) {
  const Totals t = s.totals();
  json scenarios = json::array();
  for (const ScenarioInfo& info : s.scenarios) {
    const Totals st = s.totals_for(info.path);
    scenarios.push_back({{"name", info.name}, {"path", info.path}, {"folder", info.folder}, {"runs", st.runs},
                         {"passed", st.passed}, {"failed", st.failed}, {"errors", st.errors}});
  }
  json runs = json::array();
  for (const RunRecord& r : s.runs) runs.push_back(r.to_json());
  return json{{"format", "replsim-sweep-summary"},
              {"format_version", kSweepSummaryFormatVersion},
              {"binary", s.binary},
              {"bugs", s.bugs},
              {"seeds", s.seeds.to_string()},
              {"shard_count", s.shard_count},
              {"shards", s.shards},
              {"check_determinism", s.check_determinism},
              {"planned_runs", s.planned_runs},
              {"complete", s.complete},
              {"wall_s", s.wall_s},
              {"totals",
               {{"runs", t.runs}, {"passed", t.passed}, {"failed", t.failed}, {"errors", t.errors},
                {"runs_per_s", s.wall_s > 0 ? static_cast<double>(t.runs) / s.wall_s : 0.0}}},
              {"scenarios", scenarios},
              {"runs", runs}};
}

core::Result<SweepSummary> summary_from_json(const nlohmann::json& j, const std::string& source) {
  JsonFields f(j, source);
  const std::string format = f.str("format");
  const std::int64_t version = f.i64("format_version");
  if (f.ok() && format != "replsim-sweep-summary") {
    return {core::Err::invalid,
            fmt::format("{}: field `format`: expected \"replsim-sweep-summary\", found \"{}\" (is this a sweep "
                        "summary?)", source, format)};
  }
  if (f.ok() && version != kSweepSummaryFormatVersion) {
    return {core::Err::invalid,
            fmt::format("{}: field `format_version`: this replsim reads sweep summaries of version {}, the "
                        "file has {}; merge it with the replsim that wrote it", source,
                        kSweepSummaryFormatVersion, version)};
  }
  SweepSummary s;
  s.binary = f.str("binary");
  s.bugs = f.strings("bugs");
  const std::string seeds = f.str("seeds");
  s.shard_count = static_cast<int>(f.i64("shard_count"));
  s.check_determinism = f.boolean("check_determinism");
  s.planned_runs = f.u64("planned_runs");
  s.complete = f.boolean("complete");
  s.wall_s = f.number("wall_s");
  const json* shards = f.array("shards");
  const json* scenarios = f.array("scenarios");
  const json* runs = f.array("runs");
  if (!f.ok()) return {core::Err::invalid, f.error()};

  auto range = parse_seed_range(seeds);
  if (!range) return {core::Err::invalid, fmt::format("{}: field `seeds`: {}", source, range.status().message())};
  s.seeds = range.value();
  if (s.shard_count < 1) {
    return {core::Err::invalid, fmt::format("{}: field `shard_count`: expected >= 1, found {}", source, s.shard_count)};
  }
  s.shards.clear();
  for (const json& k : *shards) {
    if (!k.is_number_integer() || k.get<std::int64_t>() < 1 || k.get<std::int64_t>() > s.shard_count) {
      return {core::Err::invalid,
              fmt::format("{}: field `shards`: expected shard numbers 1..{}, found {}", source, s.shard_count, k.dump())};
    }
    s.shards.push_back(k.get<int>());
  }
  for (std::size_t i = 0; i < scenarios->size(); ++i) {
    JsonFields sf((*scenarios)[i], fmt::format("{}: scenarios[{}]", source, i));
    ScenarioInfo info{sf.str("name"), sf.str("path"), sf.str("folder")};
    if (!sf.ok()) return {core::Err::invalid, sf.error()};
    s.scenarios.push_back(std::move(info));
  }
  for (std::size_t i = 0; i < runs->size(); ++i) {
    auto r = run_record_from_json((*runs)[i], fmt::format("{}: runs[{}]", source, i));
    if (!r) return r.status();
    s.runs.push_back(std::move(r.value()));
  }
  std::sort(s.runs.begin(), s.runs.end(), record_before);
  return s;
}

core::Result<SweepSummary> merge_summaries(const std::vector<SweepSummary>& parts,
                                           const std::vector<std::string>& sources) {
  if (parts.empty()) return {core::Err::invalid, "nothing to merge"};
  const SweepSummary& first = parts.front();
  SweepSummary merged;
  merged.binary = first.binary;
  merged.bugs = first.bugs;
  merged.seeds = first.seeds;
  merged.shard_count = first.shard_count;
  merged.check_determinism = first.check_determinism;
  merged.shards.clear();
  merged.complete = true;

  std::map<int, std::string> shard_source;
  std::map<std::string, ScenarioInfo> scenarios;  // by path
  std::map<std::pair<std::string, std::uint64_t>, std::pair<RunRecord, std::string>> runs;
  for (std::size_t p = 0; p < parts.size(); ++p) {
    const SweepSummary& s = parts[p];
    const std::string& src = sources[p];
    auto differs = [&](const char* what, const std::string& a, const std::string& b) {
      return core::Status(core::Err::invalid,
                          fmt::format("{} and {} come from different sweeps: {} {} vs {}", sources[0], src, what, a, b));
    };
    if (s.seeds != first.seeds) return differs("seeds", first.seeds.to_string(), s.seeds.to_string());
    if (s.bugs != first.bugs) return differs("bugs", json(first.bugs).dump(), json(s.bugs).dump());
    if (s.shard_count != first.shard_count) {
      return differs("shard counts", std::to_string(first.shard_count), std::to_string(s.shard_count));
    }
    if (s.check_determinism != first.check_determinism) {
      return differs("--check-determinism", first.check_determinism ? "on" : "off", s.check_determinism ? "on" : "off");
    }
    for (int k : s.shards) {
      auto [it, inserted] = shard_source.emplace(k, src);
      if (!inserted) {
        return {core::Err::invalid, fmt::format("shard {}/{} appears twice: in {} and in {}", k, s.shard_count,
                                                it->second, src)};
      }
      merged.shards.push_back(k);
    }
    for (const ScenarioInfo& info : s.scenarios) {
      auto [it, inserted] = scenarios.emplace(info.path, info);
      if (!inserted && !(it->second == info)) {
        return {core::Err::invalid, fmt::format("{}: scenario {} has name {} and folder {} here but {} and {} in {}",
                                                src, info.path, info.name, info.folder, it->second.name,
                                                it->second.folder, sources[0])};
      }
    }
    for (const RunRecord& r : s.runs) {
      auto [it, inserted] = runs.emplace(std::make_pair(r.scenario_path, r.seed), std::make_pair(r, src));
      if (!inserted && !same_result(it->second.first, r)) {
        return {core::Err::invalid, fmt::format("{} seed {} has different results in {} and {}", r.scenario_path,
                                                r.seed, it->second.second, src)};
      }
    }
    merged.planned_runs += s.planned_runs;
    merged.complete = merged.complete && s.complete;
    merged.wall_s += s.wall_s;
  }
  std::sort(merged.shards.begin(), merged.shards.end());
  if (static_cast<int>(merged.shards.size()) != merged.shard_count) merged.complete = false;
  for (auto& [path, info] : scenarios) merged.scenarios.push_back(info);
  for (auto& [key, entry] : runs) merged.runs.push_back(entry.first);
  std::sort(merged.runs.begin(), merged.runs.end(), record_before);
  return merged;
}

// ---- JUnit ---------------------------------------------------------------------------------------

std::string render_junit(const SweepSummary& s) {
  const Totals all = s.totals();
  double all_s = 0;
  for (const RunRecord& r : s.runs) all_s += static_cast<double>(r.wall_ms) / 1000.0;
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += fmt::format("<testsuites name=\"replsim sweep\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3f}\">\n",
                     all.runs, all.failed, all.errors, all_s);
  for (const ScenarioInfo& info : s.scenarios) {
    const Totals t = s.totals_for(info.path);
    double suite_s = 0;
    for (const RunRecord& r : s.runs) {
      if (r.scenario_path == info.path) suite_s += static_cast<double>(r.wall_ms) / 1000.0;
    }
    out += fmt::format(
        "  <testsuite name=\"{}\" file=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" "
        "time=\"{:.3f}\">\n",
        xml_escape(info.name), xml_escape(info.path), t.runs, t.failed, t.errors, suite_s);
    out += "    <properties>\n";
    out += fmt::format("      <property name=\"seeds\" value=\"{}\"/>\n", s.seeds.to_string());
    out += fmt::format("      <property name=\"passed\" value=\"{}\"/>\n", t.passed);
    std::string shards;
    for (int k : s.shards) shards += (shards.empty() ? "" : ",") + std::to_string(k);
    out += fmt::format("      <property name=\"shards\" value=\"{} of {}\"/>\n", shards, s.shard_count);
    std::string bugs;
    for (const std::string& b : s.bugs) bugs += (bugs.empty() ? "" : ",") + b;
    out += fmt::format("      <property name=\"bugs\" value=\"{}\"/>\n", xml_escape(bugs.empty() ? "none" : bugs));
    out += "    </properties>\n";
    for (const RunRecord& r : s.runs) {
      if (r.scenario_path != info.path || r.outcome == Outcome::pass) continue;
      const bool failed = r.outcome == Outcome::fail;
      std::string body = fmt::format("seed: {}\n", r.seed);
      if (failed) body += fmt::format("check: {}\n", r.check);
      if (!r.trace_hash.empty()) body += fmt::format("trace_hash: {}\n", r.trace_hash);
      body += fmt::format("replay: {}\n", r.replay);
      if (!r.report.empty()) body += fmt::format("report: {}\n", r.report);
      if (!r.detail.empty()) body += "\n" + r.detail + "\n";
      out += fmt::format("    <testcase classname=\"{}\" name=\"seed {}\" time=\"{:.3f}\">\n", xml_escape(info.name),
                         r.seed, static_cast<double>(r.wall_ms) / 1000.0);
      out += fmt::format("      <{} type=\"{}\" message=\"{}\">{}</{}>\n", failed ? "failure" : "error",
                         xml_escape(failed ? r.check : r.error_kind), xml_escape(one_line(r.message, 500)),
                         xml_escape(body), failed ? "failure" : "error");
      out += "    </testcase>\n";
    }
    out += fmt::format("    <system-out>{} of {} seeds passed</system-out>\n", t.passed, t.runs);
    out += "  </testsuite>\n";
  }
  out += "</testsuites>\n";
  return out;
}

std::string sweep_line(const Totals& t, double wall_s) {
  const double rate = wall_s > 0 ? static_cast<double>(t.runs) / wall_s : 0.0;
  return fmt::format("SWEEP runs={} passed={} failed={} errors={} wall_s={:.2f} runs_per_s={:.2f}", t.runs,
                     t.passed, t.failed, t.errors, wall_s, rate);
}

// ---- text helpers --------------------------------------------------------------------------------

std::string xml_escape(std::string_view text) {
  std::string out;
  for (char c : sanitize_text(text)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string sanitize_text(std::string_view text) {
  constexpr std::uint32_t kReplacement = 0xFFFD;
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto b0 = static_cast<unsigned char>(text[i]);
    if (b0 < 0x80) {
      const bool allowed = b0 >= 0x20 || b0 == '\t' || b0 == '\n' || b0 == '\r';
      if (allowed) {
        out += static_cast<char>(b0);
      } else {
        append_utf8(out, kReplacement);
      }
      ++i;
      continue;
    }
    // A multi-byte sequence: its length and the range its second byte must be in (RFC 3629).
    std::size_t len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) len = 2;
    else if (b0 == 0xE0) len = 3, lo = 0xA0;
    else if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) len = 3;
    else if (b0 == 0xED) len = 3, hi = 0x9F;
    else if (b0 == 0xF0) len = 4, lo = 0x90;
    else if (b0 >= 0xF1 && b0 <= 0xF3) len = 4;
    else if (b0 == 0xF4) len = 4, hi = 0x8F;
    bool valid = len != 0 && i + len <= text.size();
    for (std::size_t k = 1; valid && k < len; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      valid = k == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    }
    // U+FFFE and U+FFFF are not characters XML allows.
    if (valid && len == 3 && b0 == 0xEF && static_cast<unsigned char>(text[i + 1]) == 0xBF &&
        static_cast<unsigned char>(text[i + 2]) >= 0xBE) {
      valid = false;
    }
    if (valid) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      append_utf8(out, kReplacement);
      ++i;
    }
  }
  return out;
}

std::string shell_quoted(const std::string& s) {
  if (!s.empty() &&
      s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:") == std::string::npos) {
    return s;
  }
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::vector<std::string> run_body_lines(const sim::RunResult& r) {
  std::vector<std::string> lines;
  const sim::RunStats& st = r.stats;
  lines.push_back(fmt::format("stats ops={} ok={} failed={} unknown={} faults={} crashes={} messages={}",
                              st.ops_invoked, st.ops_ok, st.ops_failed, st.ops_unknown, st.faults, st.crashes,
                              st.messages));
  if (!r.error.empty()) lines.push_back("run error: " + r.error);
  for (const sim::Violation& v : r.violations) {
    lines.push_back(fmt::format("violation {} at {:.3f}s on {}: {}", v.check,
                                v.time_ns < 0 ? -1.0 : static_cast<double>(v.time_ns) / 1e9,
                                v.node.empty() ? "-" : v.node, v.message));
  }
  return lines;
}

std::string verdict_line(std::uint64_t seed, const sim::RunResult& r, std::int64_t wall_ms,
                         const std::string& replay) {
  const std::int64_t sim_ms = r.stats.sim_ns / 1'000'000;
  if (r.verdict == sim::Verdict::pass) {
    return fmt::format("PASS seed={} trace_hash={} events={} sim_ms={} wall_ms={}", seed, kernel::hex64(r.trace_hash),
                       r.stats.trace_events, sim_ms, wall_ms);
  }
  const std::string check = r.verdict == sim::Verdict::error ? "run-limit" : r.first_failed_check();
  return fmt::format("FAIL seed={} check={} trace_hash={} events={} sim_ms={} wall_ms={} replay: {}", seed, check,
                     kernel::hex64(r.trace_hash), r.stats.trace_events, sim_ms, wall_ms, replay);
}

std::string seed_line(std::uint64_t seed, const sim::Scenario& scenario, const std::string& file,
                      const std::vector<std::string>& bugs) {
  std::string bugs_text;
  for (const std::string& b : bugs) bugs_text += (bugs_text.empty() ? "" : ",") + b;
  return fmt::format("SEED={} scenario={} file={} bugs={} {}", seed, scenario.name, file,
                     bugs_text.empty() ? "none" : bugs_text, sim::derived_parameters(scenario, seed));
}

std::string check_bug_names(const std::vector<std::string>& bugs) {
  const auto& known = sim::scenario_bug_names();
  for (const std::string& bug : bugs) {
    if (std::find(known.begin(), known.end(), bug) != known.end()) continue;
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    return fmt::format("--bug {}: unknown bug switch (known: {}; see `replsim bugs`)", bug, list);
  }
  return {};
}

std::optional<std::uint64_t> first_divergence(const std::vector<std::uint64_t>& a,
                                              const std::vector<std::uint64_t>& b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return i;
  }
  if (a.size() != b.size()) return n;
  return std::nullopt;
}

}  // namespace replsim::tools
