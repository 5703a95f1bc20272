// tools/fuzz/fuzz_entries.cpp — the entry functions of the fuzz targets and their contract checks.
//
// Every check here states a promise of the reader under test (see each function's comment); a broken
// promise is returned as text, never thrown, so the same code serves libFuzzer and doctest. The AOF
// and checkpoint readers run on core's in-memory FakeEnv, so no input ever touches the real disk.
#include "tools/fuzz/fuzz_entries.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/aof.h"
#include "core/checkpoint.h"
#include "core/keyspace.h"
#include "core/resp.h"
#include "core/testing/fake_env.h"
#include "sim/run.h"
#include "sim/scenario.h"
#include "tools/sweep.h"

namespace replsim::fuzz {

namespace {

using core::testing::FakeEnv;

constexpr std::string_view kDirectoryMagic = "RSDIR1\n";
constexpr const char* kScenarioSource = "fuzz/scenario.json";
constexpr const char* kReportSource = "fuzz/report.json";

bool one_line(const std::string& text) { return text.find('\n') == std::string::npos; }

std::string shown(std::string_view text) {
  std::string out;
  for (const char c : text.substr(0, 120)) {
    const auto u = static_cast<unsigned char>(c);
    out += u >= 0x20 && u < 0x7f ? std::string(1, c) : fmt::format("\\x{:02x}", u);
  }
  return out;
}

// ---- RESP ---------------------------------------------------------------------------------------

// Limits small enough that short inputs reach every bound (as the store tests configure them).
core::RespLimits tight_limits() {
  core::RespLimits l;
  l.max_bulk_bytes = 64;
  l.max_args = 8;
  l.max_inline_bytes = 48;
  l.max_query_buffer_bytes = 256;
  l.max_nesting_depth = 4;
  return l;
}

// Chunk sizes drawn from a tiny generator seeded by the input's first byte: deterministic per input.
std::vector<std::string_view> chunks_of(std::string_view data, unsigned seed) {
  std::vector<std::string_view> out;
  std::uint32_t state = seed * 2654435761u + 1;
  std::size_t at = 0;
  while (at < data.size()) {
    state = state * 1103515245u + 12345u;
    const std::size_t n = 1 + (state >> 16) % 7;
    out.push_back(data.substr(at, n));
    at += n;
  }
  return out;
}

struct RequestParse {
  std::vector<std::vector<std::string>> requests;
  std::string error;
  std::size_t max_pending = 0;
};

RequestParse parse_requests(const std::vector<std::string_view>& chunks, const core::RespLimits& limits) {
  core::RespRequestParser parser(limits);
  RequestParse out;
  for (std::string_view chunk : chunks) {
    parser.feed(chunk);
    out.max_pending = std::max(out.max_pending, parser.pending_bytes());
    while (auto argv = parser.next()) out.requests.push_back(std::move(*argv));
  }
  out.error = parser.error();
  return out;
}

std::string check_requests(std::string_view data, const core::RespLimits& limits, const char* which) {
  const RequestParse whole = parse_requests({data}, limits);
  const RequestParse split = parse_requests(chunks_of(data, data.empty() ? 0 : static_cast<unsigned char>(data[0])),
                                            limits);
  for (const RequestParse* p : {&whole, &split}) {
    for (const auto& argv : p->requests) {
      if (argv.empty()) return fmt::format("{} limits: the request parser delivered an empty argv", which);
      if (argv.size() > limits.max_args) {
        return fmt::format("{} limits: a request with {} arguments passed max_args={}", which, argv.size(),
                           limits.max_args);
      }
      for (const std::string& a : argv) {
        if (a.size() > limits.max_bulk_bytes && a.size() > limits.max_inline_bytes) {
          return fmt::format("{} limits: an argument of {} bytes passed the bulk and inline limits", which, a.size());
        }
      }
      // What the parser delivers, encoded as a client would send it, parses back to the same argv.
      core::RespRequestParser again(limits);
      again.feed(core::encode_command(argv));
      auto back = again.next();
      if (!again.failed() && (!back || *back != argv)) {
        return fmt::format("{} limits: a parsed request does not survive encode_command and parsing again", which);
      }
    }
    if (!p->error.empty() && (!p->error.starts_with("Protocol error: ") || !one_line(p->error))) {
      return fmt::format("{} limits: protocol error text is not one \"Protocol error: ...\" line: {}", which,
                         shown(p->error));
    }
  }
  // Chunking never changes the outcome, except that the query-buffer limit is checked per feed()
  // (documented in core/resp.h): one big feed may complete a request that many small ones refuse.
  const bool query_limit = whole.error.find("query buffer") != std::string::npos ||
                           split.error.find("query buffer") != std::string::npos;
  if (!query_limit && (whole.requests != split.requests || whole.error != split.error)) {
    return fmt::format("{} limits: feeding the bytes in chunks gave {} requests and error \"{}\", feeding them "
                       "at once gave {} requests and error \"{}\"",
                       which, split.requests.size(), shown(split.error), whole.requests.size(), shown(whole.error));
  }
  // Memory: what is held for the request being assembled stays within the limit plus one feed.
  if (split.max_pending > limits.max_query_buffer_bytes + 7) {
    return fmt::format("{} limits: {} bytes pending with max_query_buffer_bytes={}", which, split.max_pending,
                       limits.max_query_buffer_bytes);
  }
  return {};
}

std::string check_replies(std::string_view data, const core::RespLimits& limits, const char* which) {
  core::RespReplyParser parser(limits);
  for (std::string_view chunk : chunks_of(data, data.empty() ? 0 : static_cast<unsigned char>(data[0]))) {
    parser.feed(chunk);
    while (auto value = parser.next()) {
      if (value->to_display(64).size() > 64 + 32) {
        return fmt::format("{} limits: to_display(64) gave {} chars", which, value->to_display(64).size());
      }
      // A decoded reply re-encodes to bytes that decode to a value with the same encoding.
      const std::string wire = core::encode_value(*value);
      core::RespReplyParser again;  // default limits: the re-encoding may exceed the tight ones
      again.feed(wire);
      auto back = again.next();
      if (!back || core::encode_value(*back) != wire) {
        return fmt::format("{} limits: reply {} does not survive encode_value and parsing again", which,
                           shown(wire));
      }
    }
  }
  if (parser.failed() && (!parser.error().starts_with("Protocol error: ") || !one_line(parser.error()))) {
    return fmt::format("{} limits: reply error text is not one \"Protocol error: ...\" line: {}", which,
                       shown(parser.error()));
  }
  return {};
}

// ---- AOF and checkpoints -------------------------------------------------------------------------

std::map<std::string, std::string> files_of(const FakeEnv& env) {
  std::map<std::string, std::string> out;
  for (const std::string& name : env.names()) out[name] = env.bytes(name);
  return out;
}

void load_directory(FakeEnv& env, const FuzzDirectory& dir) {
  for (const auto& [name, bytes] : dir.files) env.put_file(name, bytes);
}

std::string describe_change(const std::map<std::string, std::string>& before,
                            const std::map<std::string, std::string>& after) {
  for (const auto& [name, bytes] : before) {
    auto it = after.find(name);
    // A stale temporary file is the leftover of a write that never completed, not data: readers
    // may clean it up (core/doc says so for aof.intent.tmp and checkpoint .tmp files).
    if (it == after.end() && name.ends_with(".tmp")) continue;
    if (it == after.end()) return fmt::format("{} was removed", name);
    if (it->second != bytes) return fmt::format("{} changed ({} bytes before, {} after)", name, bytes.size(), it->second.size());
  }
  for (const auto& [name, bytes] : after) {
    if (before.count(name) == 0) return fmt::format("{} was created", name);
  }
  return {};
}

core::AofConfig aof_config_for(unsigned char selector) {
  const FuzzAofLayout& layout = fuzz_aof_layouts()[selector % fuzz_aof_layouts().size()];
  core::AofConfig c;
  c.aof_page_size_bytes = layout.page_size_bytes;
  c.aof_segment_pages = layout.segment_pages;
  c.aof_fsync = core::FsyncPolicy::always;
  return c;
}

// Scans the whole log; "" when every record came back in decree order ending at last_decree.
std::string check_readable(core::Aof& aof, const char* when) {
  std::uint64_t expected = aof.base_decree() + 1;
  std::uint64_t count = 0;
  std::string problem;
  const core::Status st = aof.scan(aof.begin_address(), [&](const core::AofRecord& r) {
    if (r.decree != expected) {
      problem = fmt::format("{}: record at {} has decree {}, expected {}", when, r.address, r.decree, expected);
      return false;
    }
    if (r.argv.empty()) {
      problem = fmt::format("{}: record at {} has no arguments", when, r.address);
      return false;
    }
    ++expected;
    ++count;
    return true;
  });
  if (!problem.empty()) return problem;
  if (!st) return fmt::format("{}: the recovered log does not scan: {}", when, st.to_string());
  if (count > 0 && expected - 1 != aof.last_decree()) {
    return fmt::format("{}: the scan ended at decree {}, last_decree() is {}", when, expected - 1, aof.last_decree());
  }
  // read_raw walks the same bytes the way a primary streams them to a replica.
  for (std::uint64_t at = aof.begin_address(); at < aof.tail_address();) {
    auto raw = aof.read_raw(at, 512);
    if (!raw) return fmt::format("{}: read_raw({}) failed on a recovered log: {}", when, at, raw.status().to_string());
    if (raw->empty()) return fmt::format("{}: read_raw({}) returned nothing before the tail", when, at);
    at += raw->size();
  }
  return {};
}

}  // namespace

// ==== the directory container =====================================================================

const std::vector<FuzzAofLayout>& fuzz_aof_layouts() {
  static const std::vector<FuzzAofLayout> layouts = {{64, 2}, {128, 4}, {256, 2}, {4096, 16}};
  return layouts;
}

std::string pack_directory(const FuzzDirectory& dir) {
  std::string out(kDirectoryMagic);
  out.push_back(static_cast<char>(dir.config_selector));
  for (const auto& [name, bytes] : dir.files) {
    out.push_back(static_cast<char>(std::min<std::size_t>(name.size(), 255)));
    out += name.substr(0, 255);
    const auto n = static_cast<std::uint32_t>(bytes.size());
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    out += bytes;
  }
  return out;
}

FuzzDirectory unpack_directory(std::string_view data) {
  FuzzDirectory dir;
  if (data.starts_with(kDirectoryMagic)) data.remove_prefix(kDirectoryMagic.size());
  if (data.empty()) return dir;
  dir.config_selector = static_cast<unsigned char>(data[0]);
  data.remove_prefix(1);
  // At most 16 files: a directory of thousands of tiny files only slows the fuzzer down.
  while (!data.empty() && dir.files.size() < 16) {
    const std::size_t name_len = std::min<std::size_t>(static_cast<unsigned char>(data[0]), data.size() - 1);
    std::string name(data.substr(1, name_len));
    data.remove_prefix(1 + name_len);
    std::uint32_t len = 0;
    for (int i = 0; i < 4 && !data.empty(); ++i) {
      len |= static_cast<std::uint32_t>(static_cast<unsigned char>(data[0])) << (8 * i);
      data.remove_prefix(1);
    }
    const std::size_t take = std::min<std::size_t>(len, data.size());
    if (!name.empty()) dir.files[name] = std::string(data.substr(0, take));
    data.remove_prefix(take);
  }
  return dir;
}

// ==== entries =====================================================================================

// RESP: requests under default and tight limits (every input gets both), and the same bytes as a
// reply stream. Promises: no empty or over-limit request is delivered; delivered requests round-trip;
// chunking does not change the outcome; pending memory stays bounded; errors are one line.
std::string fuzz_resp(std::string_view data) {
  if (std::string p = check_requests(data, core::RespLimits{}, "default"); !p.empty()) return p;
  if (std::string p = check_requests(data, tight_limits(), "tight"); !p.empty()) return p;
  if (std::string p = check_replies(data, core::RespLimits{}, "default"); !p.empty()) return p;
  if (std::string p = check_replies(data, tight_limits(), "tight"); !p.empty()) return p;
  // parse_int64_strict on the raw bytes: its result prints back to the same text.
  if (auto v = core::parse_int64_strict(data); v && std::to_string(*v) != data) {
    return fmt::format("parse_int64_strict accepted {} as {}", shown(data), *v);
  }
  return {};
}

// Scenario files. Promises: a refusal is one line starting with the file name; an accepted scenario's
// normalized form loads back equal and normalizes to the same JSON; the seed-derived parameters of
// an accepted scenario can be computed.
std::string fuzz_scenario(std::string_view data) {
  auto loaded = sim::load_scenario_text(data, kScenarioSource);
  if (!loaded) {
    const std::string& m = loaded.status().message();
    if (!m.starts_with(std::string(kScenarioSource) + ": ") || !one_line(m)) {
      return fmt::format("scenario refusal is not one line naming the file: {}", shown(m));
    }
    return {};
  }
  const sim::Scenario& s = loaded.value();
  const nlohmann::json normalized = sim::scenario_to_json(s);
  auto again = sim::load_scenario_json(normalized, "normalized");
  if (!again) return "the normalized form of an accepted scenario is refused: " + again.status().message();
  if (!(again.value() == s)) return "the normalized form of an accepted scenario loads back different";
  if (sim::scenario_to_json(again.value()) != normalized) return "normalizing twice gives different JSON";
  (void)sim::derived_parameters(s, 1);
  (void)sim::derived_parameters(s, 0xffffffffffffffffULL);
  return {};
}

// AOF directories. Promises: open() either refuses with a message (and then, unless it was finishing
// an interrupted truncate through aof.intent, leaves every file as it was) or recovers a log that
// scans in decree order, streams with read_raw, accepts the next record and reopens with it.
std::string fuzz_aof(std::string_view data) {
  const FuzzDirectory dir = unpack_directory(data);
  const core::AofConfig config = aof_config_for(dir.config_selector);
  FakeEnv env;
  load_directory(env, dir);
  const auto before = files_of(env);
  auto opened = core::Aof::open(env, config);
  if (!opened) {
    if (opened.status().message().empty()) return "Aof::open refused without a message";
    if (dir.files.count("aof.intent") == 0) {
      if (std::string change = describe_change(before, files_of(env)); !change.empty()) {
        return fmt::format("Aof::open refused ({}) but changed the directory: {}", opened.status().message(), change);
      }
    }
    return {};
  }
  core::Aof& aof = *opened.value();
  if (std::string p = check_readable(aof, "after open"); !p.empty()) return p;
  const std::uint64_t decree = aof.last_decree() + 1;
  if (decree == 0) return {};  // a log at the last decree there is cannot grow; not this target's concern
  const std::vector<std::string> argv = {"SET", "fuzz", "value"};
  auto address = aof.append(decree, argv);
  if (!address) return "a recovered log refuses the next record: " + address.status().to_string();
  if (core::Status st = aof.sync(); !st) return "sync after append failed: " + st.to_string();
  const std::uint64_t tail = aof.tail_address();
  opened.value().reset();
  auto reopened = core::Aof::open(env, config);
  if (!reopened) return "the log does not reopen after one append: " + reopened.status().to_string();
  if (reopened.value()->last_decree() != decree || reopened.value()->tail_address() != tail) {
    return fmt::format("reopened at decree {} tail {}, expected decree {} tail {}", reopened.value()->last_decree(),
                       reopened.value()->tail_address(), decree, tail);
  }
  return check_readable(*reopened.value(), "after reopen");
}

// Checkpoint directories. Promises: reading never changes a file; the newest valid checkpoint's payload
// either is refused by the keyspace reader or round-trips through it; a new checkpoint written into
// the directory is then the newest valid one, with its meta and payload intact.
std::string fuzz_checkpoint(std::string_view data) {
  const FuzzDirectory dir = unpack_directory(data);
  FakeEnv env;
  load_directory(env, dir);
  const auto before = files_of(env);
  std::uint64_t max_decree = 0;
  auto newest = core::load_newest_valid(env);
  if (newest) {
    max_decree = newest->info.meta.decree;
    auto ks = core::Keyspace::deserialize(newest->payload);
    if (ks) {
      auto back = core::Keyspace::deserialize(ks->serialize());
      if (!back || !(*back == *ks)) return "a keyspace payload does not survive serialize and deserialize";
    }
  } else if (newest.status().message().empty()) {
    return "load_newest_valid failed without a message";
  }
  if (auto listed = core::list_checkpoints(env)) {
    for (const core::CheckpointInfo& info : *listed) max_decree = std::max(max_decree, info.meta.decree);
  }
  (void)core::oldest_retained_address(env);
  for (const auto& [name, bytes] : dir.files) {
    if (!name.starts_with("checkpoint.")) continue;
    auto read = core::read_checkpoint(env, name);
    if (!read && read.status().message().find(name) == std::string::npos) {
      return fmt::format("read_checkpoint({}) refused without naming the file: {}", name, read.status().message());
    }
  }
  if (std::string change = describe_change(before, files_of(env)); !change.empty()) {
    return "reading checkpoints changed the directory: " + change;
  }
  if (max_decree == UINT64_MAX) return {};
  const core::CheckpointMeta meta{"fuzz", max_decree + 1, 4096};
  const std::string payload = core::Keyspace().serialize();
  auto written = core::write_checkpoint(env, meta, payload);
  if (!written) return "write_checkpoint failed next to existing files: " + written.status().to_string();
  auto loaded = core::load_newest_valid(env);
  if (!loaded) return "the checkpoint just written does not load: " + loaded.status().to_string();
  if (!(loaded->info.meta == meta) || loaded->payload != payload) {
    return fmt::format("the newest valid checkpoint after a write is {} (decree {}), not the one just written",
                       loaded->info.file_name, loaded->info.meta.decree);
  }
  return {};
}

// report.json as replay reads it. Promise: a refusal is one line naming the file.
std::string fuzz_report(std::string_view data) {
  auto read = tools::read_replay_report_text(data, kReportSource);
  if (!read) {
    const std::string& m = read.status().message();
    // "<file>: ..." or, for the embedded scenario, "<file> (embedded scenario): $.path: ...".
    if (!m.starts_with(kReportSource) || !one_line(m)) {
      return fmt::format("report refusal is not one line naming the file: {}", shown(m));
    }
  }
  return {};
}

const std::vector<FuzzTarget>& fuzz_targets() {
  static const std::vector<FuzzTarget> targets = {
      {"resp", &fuzz_resp},
      {"scenario", &fuzz_scenario},
      {"aof", &fuzz_aof},
      {"checkpoint", &fuzz_checkpoint},
      {"report", &fuzz_report},
  };
  return targets;
}

}  // namespace replsim::fuzz
