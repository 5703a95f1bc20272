// tools/fuzz/make_seeds.cpp — writes the seed corpora of the fuzz targets from the real writers.
//
//   build/tools/fuzz/fuzz_make_seeds SOURCE_ROOT     (rewrites SOURCE_ROOT/tools/fuzz/corpus/*/seed-*)
//
// Seeds are valid inputs made by the code that writes them in production (the AOF and checkpoint
// writers on the fake env, report.json from a real run, scenario files from scenarios/) plus edge
// cases each reader must refuse. Files named regression-* (inputs that once broke a contract) are
// never touched. Run it again after a format change and commit the result.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/aof.h"
#include "core/checkpoint.h"
#include "core/keyspace.h"
#include "core/resp.h"
#include "core/testing/fake_env.h"
#include "reports/report.h"
#include "sim/run.h"
#include "sim/scenario.h"
#include "tools/fuzz/fuzz_entries.h"

namespace fs = std::filesystem;
using replsim::core::testing::FakeEnv;
using namespace replsim;

namespace {

fs::path g_corpus;
int g_written = 0;

void write_seed(const std::string& target, const std::string& name, const std::string& bytes) {
  const fs::path dir = g_corpus / target;
  fs::create_directories(dir);
  std::ofstream out(dir / ("seed-" + name), std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", (dir / name).c_str());
    std::exit(1);
  }
  ++g_written;
  const std::string problem = [&] {
    for (const auto& t : fuzz::fuzz_targets()) {
      if (target == t.name) return t.entry(bytes);
    }
    return std::string("no such target");
  }();
  if (!problem.empty()) std::fprintf(stderr, "warning: seed %s/%s breaks a contract: %s\n", target.c_str(), name.c_str(), problem.c_str());
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

fuzz::FuzzDirectory directory_of(const FakeEnv& env, unsigned char selector) {
  fuzz::FuzzDirectory dir;
  dir.config_selector = selector;
  for (const std::string& name : env.names()) dir.files[name] = env.bytes(name);
  return dir;
}

void check(const core::Status& st, const char* what) {
  if (!st) {
    std::fprintf(stderr, "%s: %s\n", what, st.to_string().c_str());
    std::exit(1);
  }
}

// ---- RESP ---------------------------------------------------------------------------------------

void resp_seeds() {
  using core::encode_command;
  write_seed("resp", "set-get", encode_command({"SET", "k", "v"}) + encode_command({"GET", "k"}));
  write_seed("resp", "binary-bulk", encode_command({"SET", std::string("k\0\r\n", 4), std::string(70, '\xff')}));
  write_seed("resp", "pipeline", encode_command({"RPUSH", "l", "a", "b", "c"}) + encode_command({"LRANGE", "l", "0", "-1"}) +
                                     encode_command({"PING"}) + "*0\r\n*-1\r\n" + encode_command({"INCRBY", "n", "-9223372036854775808"}));
  write_seed("resp", "inline", "PING\r\nSET k \"a\\x00b\\n\" 'it\\'s'\r\n\r\nGET k\n");
  write_seed("resp", "empty-bulk", encode_command({"SET", "", ""}));
  write_seed("resp", "replies", "+OK\r\n-ERR wrong\r\n:42\r\n:-1\r\n$-1\r\n*-1\r\n$3\r\nabc\r\n*2\r\n*1\r\n:1\r\n$0\r\n\r\n");
  write_seed("resp", "nested-replies", "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:7\r\n");
  write_seed("resp", "bad-count", "*x\r\n");
  write_seed("resp", "bad-bulk-length", "*1\r\n$99999999999999\r\n");
  write_seed("resp", "no-dollar", "*1\r\n:3\r\n");
  write_seed("resp", "missing-crlf", "*1\r\n$1\r\nab\r\n");
  write_seed("resp", "unbalanced-quote", "SET \"a b\r\n");
  write_seed("resp", "long-inline", std::string(300, 'a'));
  write_seed("resp", "partial", "*2\r\n$3\r\nGET\r\n$1");
  write_seed("resp", "int-text", "-9223372036854775808");
}

// ---- scenarios ------------------------------------------------------------------------------------

void scenario_seeds(const fs::path& root) {
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(root / "scenarios")) {
    if (e.is_regular_file() && e.path().extension() == ".json" && e.path().filename() != "schema.json") {
      files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    const std::string rel = fs::relative(f, root / "scenarios").string();
    std::string name = rel;
    for (char& c : name) c = c == '/' ? '-' : c;
    write_seed("scenario", name, read_file(f));
  }
  // The normalized form of the reference example: every key the loader knows, written out.
  auto ref = sim::load_scenario_file((root / "scenarios" / "examples" / "reference.json").string());
  if (ref) write_seed("scenario", "normalized-reference.json", sim::scenario_to_json(ref.value()).dump(1));
  write_seed("scenario", "bad-duplicate-key.json", R"({"name": "t", "name": "u", "clusters": [{"name": "c0", "nodes": 1}]})");
  write_seed("scenario", "bad-unknown-node.json",
             R"({"name": "t", "clusters": [{"name": "c0", "nodes": 1}], "faults": [{"at_ms": 1, "action": "crash", "node": "c0n9"}]})");
  write_seed("scenario", "bad-syntax.json", "{\n  \"name\": \"t\",\n  \"clusters\": [}\n}");
  write_seed("scenario", "bad-version.json", R"({"format_version": 2, "name": "t", "clusters": [{"name": "c0", "nodes": 1}]})");
}

// ---- AOF ------------------------------------------------------------------------------------------

std::vector<std::string> argv_for(std::uint64_t decree, std::size_t value_bytes) {
  if (decree % 3 == 0) return {"RPUSH", "list", fmt::format("v{}", decree)};
  if (decree % 3 == 1) return {"SET", fmt::format("k{}", decree % 5), std::string(value_bytes, static_cast<char>('a' + decree % 26))};
  return {"INCR", "counter"};
}

// Appends count records, sizes cycling so that pages get padding.
void append_records(core::Aof& aof, int count) {
  const std::size_t page = aof.config().aof_page_size_bytes;
  for (int i = 0; i < count; ++i) {
    const std::uint64_t decree = aof.last_decree() + 1;
    std::vector<std::string> argv = argv_for(decree, decree * 7 % (page / 2));
    while (!aof.fits(core::Aof::payload_size(argv))) argv[argv.size() - 1].resize(argv.back().size() / 2);
    check(aof.append(decree, argv).status(), "append");
  }
  check(aof.sync(), "sync");
}

core::AofConfig layout(unsigned char selector) {
  const fuzz::FuzzAofLayout& l = fuzz::fuzz_aof_layouts()[selector];
  core::AofConfig c;
  c.aof_page_size_bytes = l.page_size_bytes;
  c.aof_segment_pages = l.segment_pages;
  c.aof_fsync = core::FsyncPolicy::always;
  return c;
}

void aof_seeds() {
  write_seed("aof", "empty", pack_directory(fuzz::FuzzDirectory{}));
  for (unsigned char sel = 0; sel < fuzz::fuzz_aof_layouts().size(); ++sel) {
    FakeEnv env;
    auto aof = core::Aof::open(env, layout(sel));
    check(aof.status(), "open");
    append_records(**aof, sel == 3 ? 12 : 6);
    write_seed("aof", fmt::format("layout{}-one-segment", sel), pack_directory(directory_of(env, sel)));
  }
  {
    // Several segments, then the oldest dropped (begin address above 0), as after a checkpoint.
    FakeEnv env;
    auto aof = core::Aof::open(env, layout(0));
    check(aof.status(), "open");
    append_records(**aof, 20);
    write_seed("aof", "layout0-segments", pack_directory(directory_of(env, 0)));
    check((*aof)->truncate_before((*aof)->tail_address() - 64), "truncate_before");
    write_seed("aof", "layout0-truncated-before", pack_directory(directory_of(env, 0)));
    // A torn tail: the last record cut short.
    fuzz::FuzzDirectory dir = directory_of(env, 0);
    auto& last = dir.files.rbegin()->second;
    last.resize(last.size() - 5);
    write_seed("aof", "layout0-torn-tail", pack_directory(dir));
    // A bit flipped in the middle of the first segment: corruption with valid records after it.
    dir = directory_of(env, 0);
    auto& first = dir.files.begin()->second;
    first[core::Aof::kSegmentHeaderBytes + 20] = static_cast<char>(first[core::Aof::kSegmentHeaderBytes + 20] ^ 0x10);
    write_seed("aof", "layout0-flipped-middle", pack_directory(dir));
    // Opened with another layout: refused (written with another page size).
    dir = directory_of(env, 0);
    dir.config_selector = 1;
    write_seed("aof", "wrong-layout", pack_directory(dir));
  }
  {
    // A crash in the middle of truncate_after leaves aof.intent for open() to finish.
    FakeEnv env;
    auto aof = core::Aof::open(env, layout(1));
    check(aof.status(), "open");
    append_records(**aof, 10);
    std::uint64_t middle = 0;
    (void)(*aof)->scan((*aof)->begin_address(), [&](const core::AofRecord& r) {
      if (r.decree == 5) middle = r.address;
      return true;
    });
    env.crash_at_op(env.disk_ops() + 3);
    try {
      (void)(*aof)->truncate_after(middle);
    } catch (const core::testing::CrashNow&) {
    }
    aof.value().reset();
    env.crash();
    write_seed("aof", "layout1-intent", pack_directory(directory_of(env, 1)));
  }
}

// ---- checkpoints ----------------------------------------------------------------------------------

std::string sample_keyspace(int n) {
  core::Keyspace ks;
  for (int i = 0; i < n; ++i) {
    ks.put(fmt::format("s{}", i), core::Value{std::string(static_cast<std::size_t>(i), 'x'), std::nullopt});
    ks.put(fmt::format("l{}", i), core::Value{core::List{"a", "", std::string("\0\r\n", 3)}, i % 2 ? std::optional<std::int64_t>(1000 + i) : std::nullopt});
  }
  return ks.serialize();
}

void checkpoint_seeds() {
  write_seed("checkpoint", "empty", pack_directory(fuzz::FuzzDirectory{}));
  FakeEnv env;
  check(core::write_checkpoint(env, {"", 1, 0}, sample_keyspace(0)).status(), "write");
  write_seed("checkpoint", "one-empty-keyspace", pack_directory(directory_of(env, 0)));
  check(core::write_checkpoint(env, {std::string(40, 'a'), 7, 4096}, sample_keyspace(3)).status(), "write");
  write_seed("checkpoint", "two", pack_directory(directory_of(env, 0)));
  check(core::write_checkpoint(env, {std::string(40, 'b'), 3, 512}, sample_keyspace(2)).status(), "write");
  write_seed("checkpoint", "newest-smaller-decree", pack_directory(directory_of(env, 0)));
  fuzz::FuzzDirectory dir = directory_of(env, 0);
  auto& newest = dir.files.at(core::checkpoint_file_name(3));
  newest[newest.size() / 2] = static_cast<char>(newest[newest.size() / 2] ^ 0x01);
  write_seed("checkpoint", "damaged-newest", pack_directory(dir));
  dir = directory_of(env, 0);
  dir.files[core::checkpoint_file_name(9) + ".tmp"] = "half a checkpoint";
  dir.files.at(core::checkpoint_file_name(7)).resize(30);
  write_seed("checkpoint", "stale-tmp-and-truncated", pack_directory(dir));
  dir = directory_of(env, 0);
  for (auto& [name, bytes] : dir.files) bytes[8] = static_cast<char>(bytes[8] + 1);  // the format version (u32 at byte 8)
  write_seed("checkpoint", "wrong-version", pack_directory(dir));
}

// ---- reports --------------------------------------------------------------------------------------

void report_seeds(const fs::path& root) {
  auto loaded = sim::load_scenario_file((root / "scenarios" / "examples" / "single-node.json").string());
  check(loaded.status(), "load single-node.json");
  sim::RunOptions options;
  options.seed = 3;
  const sim::RunResult result = sim::run_scenario(loaded.value(), options);
  reports::ReportInputs in;
  in.scenario = &loaded.value();
  in.scenario_path = "scenarios/examples/single-node.json";
  in.seed = 3;
  in.result = &result;
  in.replay_command = "replsim run scenarios/examples/single-node.json --seed 3";
  in.wall_ms = 12;
  in.binary_id = "replsim 0.1.0 exe-xxh64=0123456789abcdef";
  nlohmann::json report = reports::build_report(in);
  write_seed("report", "real-run.json", report.dump(2));
  // The parts replay reads, without the evidence it does not (a small seed mutates faster).
  nlohmann::json small = report;
  for (const char* key : {"recent_events", "decisions", "nodes", "violations", "stats", "swarm"}) small.erase(key);
  write_seed("report", "essentials.json", small.dump());
  nlohmann::json failing = small;
  failing["verdict"] = "fail";
  failing["failed_check"] = "acknowledged-writes-durable";
  failing["bugs"] = {"stuck-recovering"};
  write_seed("report", "failing.json", failing.dump());
  nlohmann::json other = small;
  other["format_version"] = 2;
  write_seed("report", "other-version.json", other.dump());
  nlohmann::json no_seed = small;
  no_seed.erase("seed");
  write_seed("report", "missing-seed.json", no_seed.dump());
  nlohmann::json bad_scenario = small;
  bad_scenario["scenario"]["clusters"] = "none";
  write_seed("report", "bad-embedded-scenario.json", bad_scenario.dump());
  write_seed("report", "truncated.json", small.dump().substr(0, 150));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s SOURCE_ROOT\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];
  g_corpus = root / "tools" / "fuzz" / "corpus";
  resp_seeds();
  scenario_seeds(root);
  aof_seeds();
  checkpoint_seeds();
  report_seeds(root);
  std::printf("wrote %d seed files under %s\n", g_written, g_corpus.c_str());
  return 0;
}
