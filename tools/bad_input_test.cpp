// tools/bad_input_test.cpp — the bad-input catalogue: one table of every kind of broken input replsim
// reads (scenario files, AOF and checkpoint files, RESP requests, report.json) and what each must get.
//
// Every entry is refused (or, for a torn AOF tail, recovered as documented) with one message that
// names the file, the place (JSON path, byte offset or AOF address), what was expected or found, and
// what to do about it; and a refusal leaves the files it read byte for byte as they were. The deeper
// tests of each reader stay beside it (sim/scenario_test.cpp, core/aof_test.cpp, ...); this table is
// the one place that shows the whole surface, so a new reader or a new way to break one lands here.
// The CLI side (exit code 2, nothing written) is tools/cli_test.py's bad-input-catalogue case.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/aof.h"
#include "core/checkpoint.h"
#include "core/crc32c.h"
#include "core/keyspace.h"
#include "core/resp.h"
#include "core/testing/fake_env.h"
#include "sim/scenario.h"
#include "sim/testing/store_fixture.h"
#include "tools/sweep.h"

namespace replsim::tools {
namespace {

using core::testing::FakeEnv;
using Files = std::map<std::string, std::string>;

// ---- inputs -------------------------------------------------------------------------------------

constexpr const char* kScenarioFile = "scenarios/broken.json";
constexpr const char* kReportFile = "out/seed-3/report.json";

std::string scenario_with(const std::string& extra) {
  return R"({"name": "t", "clusters": [{"name": "c0", "nodes": 2}])" + extra + "}";
}

core::AofConfig aof_config(std::uint64_t page_size_bytes = 128) {
  core::AofConfig c;
  c.aof_page_size_bytes = page_size_bytes;
  c.aof_segment_pages = 2;
  c.aof_fsync = core::FsyncPolicy::always;
  return c;
}

// A real AOF of 24 records over several segments, written by the store's own writer.
Files real_aof() {
  FakeEnv env;
  auto aof = core::Aof::open(env, aof_config());
  REQUIRE(aof.is_ok());
  for (std::uint64_t d = 1; d <= 24; ++d) {
    REQUIRE((*aof)->append(d, {"RPUSH", "list", fmt::format("value-{}", d)}).is_ok());
  }
  REQUIRE((*aof)->sync().is_ok());
  Files files;
  for (const std::string& n : env.names()) files[n] = env.bytes(n);
  REQUIRE(files.size() >= 3);
  return files;
}

Files real_checkpoints() {
  FakeEnv env;
  core::Keyspace ks;
  ks.put("k", core::Value{std::string("v"), std::nullopt});
  REQUIRE(core::write_checkpoint(env, {std::string(40, 'a'), 5, 640}, ks.serialize()).is_ok());
  REQUIRE(core::write_checkpoint(env, {std::string(40, 'a'), 9, 1280}, ks.serialize()).is_ok());
  Files files;
  for (const std::string& n : env.names()) files[n] = env.bytes(n);
  return files;
}

std::string flip(std::string bytes, std::size_t offset, int bit = 2) {
  bytes.at(offset) = static_cast<char>(bytes.at(offset) ^ (1 << bit));
  return bytes;
}

std::string nth_name(const Files& files, std::size_t i) {
  auto it = files.begin();
  std::advance(it, static_cast<std::ptrdiff_t>(i));
  return it->first;
}

// ---- readers ------------------------------------------------------------------------------------

// What one catalogue entry's reader saw: its message ("" when it accepted the input) and whether the
// files it was given came out unchanged.
struct Seen {
  std::string message;
  bool files_unchanged = true;
};

Files files_of(const FakeEnv& env) {
  Files out;
  for (const std::string& n : env.names()) out[n] = env.bytes(n);
  return out;
}

Seen open_aof(const Files& files, const core::AofConfig& config = aof_config()) {
  FakeEnv env;
  for (const auto& [n, b] : files) env.put_file(n, b);
  auto aof = core::Aof::open(env, config);
  Seen seen;
  if (!aof) seen.message = aof.status().message();
  seen.files_unchanged = files_of(env) == files;
  return seen;
}

Seen load_checkpoint(const Files& files) {
  FakeEnv env;
  for (const auto& [n, b] : files) env.put_file(n, b);
  Seen seen;
  auto loaded = core::load_newest_valid(env);
  if (!loaded) {
    seen.message = loaded.status().message();
  } else if (!loaded->skipped.empty()) {
    seen.message = "loaded " + loaded->info.file_name + ", skipped " + loaded->skipped.front();
  }
  seen.files_unchanged = files_of(env) == files;
  return seen;
}

Seen read_one_checkpoint(const Files& files, const std::string& name) {
  FakeEnv env;
  for (const auto& [n, b] : files) env.put_file(n, b);
  auto read = core::read_checkpoint(env, name);
  return Seen{read ? std::string() : read.status().message(), files_of(env) == files};
}

Seen load_scenario(const std::string& text) {
  auto loaded = sim::load_scenario_text(text, kScenarioFile);
  return Seen{loaded ? std::string() : loaded.status().message(), true};
}

Seen parse_request(const std::string& bytes) {
  core::RespRequestParser parser;
  parser.feed(bytes);
  while (parser.next()) {
  }
  return Seen{parser.error(), true};
}

Seen read_report(const std::string& text) {
  auto read = read_replay_report_text(text, kReportFile);
  return Seen{read ? std::string() : read.status().message(), true};
}

std::string good_report() {
  nlohmann::json r = {{"format_version", 1}, {"tool", "replsim"}, {"binary", "replsim 0.1.0"}, {"seed", 3},
                      {"bugs", nlohmann::json::array()}, {"trace_hash", "0123456789abcdef"}, {"verdict", "pass"},
                      {"failed_check", ""}, {"scenario_path", "s.json"}, {"replay", "replsim run s.json --seed 3"}};
  auto s = sim::load_scenario_text(scenario_with(""), "s.json");
  REQUIRE(s.is_ok());
  r["scenario"] = sim::scenario_to_json(s.value());
  return r.dump();
}

std::string report_with(const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json r = nlohmann::json::parse(good_report());
  edit(r);
  return r.dump();
}

// ---- the catalogue ------------------------------------------------------------------------------

struct Entry {
  std::string what;  // the kind of damage
  std::function<Seen()> read;
  // Fragments the message must contain: the file, the place, what was expected or found, the remedy.
  std::vector<std::string> fragments;
};

std::vector<Entry> catalogue() {
  const Files aof = real_aof();
  const std::string seg0 = nth_name(aof, 0);
  const std::string last = aof.rbegin()->first;
  const Files cps = real_checkpoints();
  const std::string cp5 = core::checkpoint_file_name(5);
  const std::string cp9 = core::checkpoint_file_name(9);
  const std::string restore_aof = "Restore the node from a replica (CLUSTER REPLICATE) or remove the AOF files";
  const std::string restore_cp = "remove the file, or restore the node from a replica (CLUSTER REPLICATE)";
  auto with = [](Files f, const std::string& name, std::string bytes) {
    f[name] = std::move(bytes);
    return f;
  };
  std::vector<Entry> t;

  // ---- scenario files: one entry per kind of problem the loader knows ----
  auto scenario = [&](std::string what, std::string text, std::vector<std::string> fragments) {
    fragments.insert(fragments.begin(), std::string(kScenarioFile) + ": ");
    t.push_back({"scenario: " + what, [text] { return load_scenario(text); }, fragments});
  };
  scenario("not JSON", "{\"name\": \"t\",\n \"clusters\": [}", {"invalid JSON", "line 2", "column"});
  scenario("empty file", "", {"invalid JSON"});
  // Found by tools/fuzz: a number too large for a double ended the CLI with an internal error.
  scenario("number too large", R"({"name": "t", "clusters": [{"name": "c0", "nodes": 1E999}]})",
           {"invalid JSON", "number overflow parsing '1E999'"});
  scenario("a key given twice", R"({"name": "t", "name": "u", "clusters": []})", {"$", "key \"name\" appears twice"});
  scenario("missing required key", R"({"clusters": [{"name": "c0", "nodes": 1}]})",
           {"$.name", "required key is missing", "expected a non-empty string"});
  scenario("wrong type", scenario_with(R"(, "workload": {"clients": "three"})"),
           {"$.workload.clients", "expected a positive integer", "found \"three\""});
  scenario("unknown key", scenario_with(R"(, "workloads": {})"), {"$", "unknown key \"workloads\"", "workload"});
  scenario("unknown enum value", scenario_with(R"(, "faults": [{"at_ms": 5, "action": "crsh", "node": "c0n0"}])"),
           {"$.faults[0].action", "crsh", "crash"});
  scenario("negative duration", scenario_with(R"(, "phases": {"safety_duration_ms": -5})"),
           {"$.phases.safety_duration_ms", "-5"});
  scenario("range with min above max", scenario_with(R"(, "workload": {"value_size_bytes": [9, 2]})"),
           {"$.workload.value_size_bytes", "range [9,2] has min above max", "write [min, max]"});
  scenario("store config out of range",
           R"({"name": "t", "clusters": [{"name": "c0", "nodes": 1, "config": {"aof_page_size_bytes": 3}}]})",
           {"$.clusters[0].config.aof_page_size_bytes", "3"});
  scenario("duplicate node names", R"({"name": "t", "clusters": [{"name": "c0", "nodes": ["a", "a"]}]})",
           {"$.clusters[0].nodes[1]", "\"a\""});
  scenario("unknown node", scenario_with(R"(, "faults": [{"at_ms": 5, "action": "crash", "node": "c0n9"}])"),
           {"$.faults[0].node", "unknown node \"c0n9\"", "nodes are c0n0, c0n1"});
  scenario("fault after the end of the run",
           scenario_with(R"(, "phases": {"safety_duration_ms": 1000}, "faults": [{"at_ms": 5000, "action": "crash", "node": "c0n0"}])"),
           {"$.faults[0].at_ms", "5000"});
  scenario("faults out of time order",
           scenario_with(R"(, "faults": [{"at_ms": 50, "action": "crash", "node": "c0n0"}, {"at_ms": 10, "action": "restart", "node": "c0n0"}])"),
           {"$.faults[1].at_ms", "10"});
  scenario("restart of a node never crashed", scenario_with(R"(, "faults": [{"at_ms": 5, "action": "restart", "node": "c0n1"}])"),
           {"$.faults[0]", "c0n1"});
  scenario("keys of another fault kind", scenario_with(R"(, "faults": [{"at_ms": 5, "action": "crash", "node": "c0n0", "duration_ms": 4}])"),
           {"$.faults[0]", "duration_ms"});
  scenario("another format version", R"({"format_version": 2, "name": "t", "clusters": [{"name": "c0", "nodes": 1}]})",
           {"$.format_version", "expected 1", "found 2"});

  // ---- AOF files ----
  {
    // The first record's payload, flipped: valid records follow, so it is corruption, not a tail.
    t.push_back({"aof: bit flipped in the middle",
                 [=] { return open_aof(with(aof, seg0, flip(aof.at(seg0), core::Aof::kSegmentHeaderBytes + 20))); },
                 {"AOF " + seg0, "corrupt at address 0", "checksum mismatch", "refusing to start", restore_aof}});
    t.push_back({"aof: segment truncated in the middle of the log",
                 [=] { return open_aof(with(aof, seg0, aof.at(seg0).substr(0, core::Aof::kSegmentHeaderBytes + 100))); },
                 {"AOF " + seg0, "corrupt at address 96", "the log ends inside", "refusing to start", restore_aof}});
    // A header from another format version, with its checksum right (as that version wrote it).
    std::string version = aof.at(seg0);
    version[8] = 7;
    const std::uint32_t crc = core::crc32c(std::string_view(version).substr(0, 60));
    for (int i = 0; i < 4; ++i) version[60 + static_cast<std::size_t>(i)] = static_cast<char>((crc >> (8 * i)) & 0xff);
    t.push_back({"aof: another format version", [=] { return open_aof(with(aof, seg0, version)); },
                 {seg0, "unsupported format version 7 at byte offset 8", "refusing to start", restore_aof}});
    t.push_back({"aof: written with another page size", [=] { return open_aof(aof, aof_config(256)); },
                 {"AOF " + seg0, "aof_page_size_bytes=128", "configured with aof_page_size_bytes=256",
                  "Configure the values the AOF was written with"}});
    t.push_back({"aof: damaged intent file", [=] { return open_aof(with(aof, "aof.intent", "RSAOFINTjunk")); },
                 {"AOF intent file aof.intent is damaged", "the file holds 12 bytes, expected 36", "refusing to start",
                  restore_aof}});
    // A torn tail is not an error: recovery cuts it and says so (core/aof_test.cpp checks the cut).
    t.push_back({"aof: truncated last record (torn tail, recovered)",
                 [=] {
                   Seen s = open_aof(with(aof, last, aof.at(last).substr(0, aof.at(last).size() - 3)));
                   CHECK(s.message.empty());
                   s.files_unchanged = true;  // the cut is the documented recovery
                   return s;
                 },
                 {}});
  }

  // ---- checkpoint files ----
  {
    const std::string good9 = cps.at(cp9);
    t.push_back({"checkpoint: truncated", [=] { return read_one_checkpoint(with(cps, cp9, good9.substr(0, good9.size() - 9)), cp9); },
                 {"checkpoint " + cp9 + " is damaged", "it holds", restore_cp}});
    t.push_back({"checkpoint: bit flipped in the payload",
                 [=] { return read_one_checkpoint(with(cps, cp9, flip(good9, good9.size() - 10)), cp9); },
                 {"checkpoint " + cp9 + " is damaged", "byte offset", restore_cp}});
    std::string version = good9;
    version[8] = 9;
    t.push_back({"checkpoint: another format version", [=] { return read_one_checkpoint(with(cps, cp9, version), cp9); },
                 {"checkpoint " + cp9 + " is damaged", "unsupported format version 9 at byte offset 8", restore_cp}});
    t.push_back({"checkpoint: newest damaged, older one used",
                 [=] { return load_checkpoint(with(cps, cp9, flip(good9, good9.size() - 10))); },
                 {"loaded " + cp5, "skipped " + cp9, "byte offset"}});
    t.push_back({"checkpoint: every one damaged",
                 [=] {
                   return load_checkpoint(with(with(cps, cp9, good9.substr(0, 30)), cp5, flip(cps.at(cp5), 50)));
                 },
                 {cp5, cp9, "damaged", restore_cp}});
  }

  // ---- RESP requests (the client gets "-ERR <message>" and a closed connection) ----
  auto resp = [&](std::string what, std::string bytes, std::string message) {
    t.push_back({"resp: " + what, [bytes] { return parse_request(bytes); }, {"Protocol error: " + message}});
  };
  resp("count not a number", "*x\r\n", "invalid multibulk length");
  resp("bulk length over the limit", "*1\r\n$99999999999999\r\n", "invalid bulk length");
  resp("no '$' before an argument", "*1\r\n:3\r\n", "expected '$', got ':'");
  resp("bulk not ended by CRLF", "*1\r\n$1\r\nab\r\n", "expected '\\r\\n' after bulk string data");
  resp("unbalanced quotes", "SET \"a b\r\n", "unbalanced quotes in request");
  resp("inline line too long", std::string(70 * 1024, 'a'), "too big inline request");

  // ---- report.json (replay) ----
  auto report = [&](std::string what, std::string text, std::vector<std::string> fragments) {
    fragments.insert(fragments.begin(), std::string(kReportFile));
    t.push_back({"report: " + what, [text] { return read_report(text); }, fragments});
  };
  report("from another format version", report_with([](nlohmann::json& r) { r["format_version"] = 2; }),
         {"field `format_version`", "reads report format 1, the file has 2", "replay it with the replsim that wrote it"});
  report("missing field", report_with([](nlohmann::json& r) { r.erase("seed"); }), {"field `seed`", "missing"});
  report("mistyped field", report_with([](nlohmann::json& r) { r["bugs"] = "x"; }),
         {"field `bugs`", "expected an array of strings"});
  report("unknown bug switch", report_with([](nlohmann::json& r) { r["bugs"] = {"no-such-bug"}; }),
         {"field `bugs`", "no-such-bug"});
  report("broken embedded scenario", report_with([](nlohmann::json& r) { r["scenario"]["surprise"] = 1; }),
         {"(embedded scenario)", "unknown key \"surprise\""});
  report("not JSON", good_report().substr(0, 100), {"not valid JSON", "a report.json written by `replsim run --out`"});
  report("not a report", "[1, 2]", {"expected a JSON object"});
  report("number too large", R"({"format_version": 1, "seed": 5E400})", {"not valid JSON", "number overflow"});
  return t;
}

TEST_CASE("the bad-input catalogue: every entry gets its clear error, and files are left as they were") {
  const std::vector<Entry> entries = catalogue();
  CHECK(entries.size() >= 40);
  for (const Entry& e : entries) {
    CAPTURE(e.what);
    const Seen seen = e.read();
    INFO("message: " << seen.message);
    CHECK(seen.files_unchanged);
    if (e.fragments.empty()) continue;  // an entry that recovers instead of refusing
    CHECK_FALSE(seen.message.empty());
    CHECK(seen.message.find('\n') == std::string::npos);
    for (const std::string& fragment : e.fragments) {
      INFO("missing: " << fragment);
      CHECK(seen.message.find(fragment) != std::string::npos);
    }
  }
}

// The store itself, not only its AOF reader: a node that refuses to start on a corrupt AOF leaves
// every file on its disk as it was, so the operator can still copy it away or repair it.
TEST_CASE("a store refusing to start on a corrupt AOF leaves its disk unchanged") {
  using namespace std::chrono_literals;
  sim::testing::StoreFixture fx;
  core::StoreConfig config;
  config.aof_page_size_bytes = 256;
  config.aof_segment_pages = 2;
  config.appendfsync = core::FsyncPolicy::always;
  const std::size_t n = fx.add_node(config);
  REQUIRE(fx.start(n).is_ok());
  sim::testing::FixtureClient c(fx, "writer");
  REQUIRE(fx.run_task([&] {
    for (int i = 0; i < 30; ++i) CHECK(c.call({"RPUSH", "l", fmt::format("v{}", i)}).is_ok());
  }));
  fx.crash(n);
  kernel::Disk& disk = fx.disk(n);
  std::string first;
  for (const std::string& name : disk.list_files()) {
    if (name.starts_with("aof.") && name != "aof.intent" && first.empty()) first = name;
  }
  REQUIRE_FALSE(first.empty());
  auto bytes = disk.true_contents(first);
  REQUIRE(bytes.is_ok());
  const std::string flipped = flip(*bytes, core::Aof::kSegmentHeaderBytes + core::Aof::kRecordHeaderBytes + 6, 0);
  REQUIRE(disk.write_at(first, 0, flipped).is_ok());
  REQUIRE(disk.sync(first).is_ok());
  std::map<std::string, std::string> before;
  for (const std::string& name : disk.list_files()) before[name] = *disk.true_contents(name);

  const core::Status st = fx.restart(n);
  REQUIRE_FALSE(st.is_ok());
  CHECK(st.message().find("refusing to start") != std::string::npos);
  std::map<std::string, std::string> after;
  for (const std::string& name : disk.list_files()) after[name] = *disk.true_contents(name);
  CHECK(after == before);
}

}  // namespace
}  // namespace replsim::tools
