// core/aof_test.cpp — tests of the AOF on the fake env: record sizes against the page size, padding
// and segments, crash-point enumeration, bit flips at every byte, replica copies and moving the ends.
#include "core/aof.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/testing/fake_env.h"

using replsim::core::Aof;
using replsim::core::AofConfig;
using replsim::core::AofRecord;
using replsim::core::append_aof_record;
using replsim::core::decode_aof_payload;
using replsim::core::encode_aof_payload;
using replsim::core::encode_aof_record;
using replsim::core::Err;
using replsim::core::FsyncPolicy;
using replsim::core::Result;
using replsim::core::Status;
using replsim::core::testing::CrashNow;
using replsim::core::testing::CrashSpec;
using replsim::core::testing::FakeEnv;

namespace {

using Argv = std::vector<std::string>;

struct Entry {
  std::uint64_t address = 0;
  std::uint64_t decree = 0;
  Argv argv;
  bool operator==(const Entry&) const = default;
};

AofConfig config(std::uint64_t page_size_bytes, std::uint64_t segment_pages = 4) {
  AofConfig c;
  c.aof_page_size_bytes = page_size_bytes;
  c.aof_segment_pages = segment_pages;
  c.aof_fsync = FsyncPolicy::always;
  return c;
}

std::unique_ptr<Aof> open_ok(FakeEnv& env, const AofConfig& c) {
  auto aof = Aof::open(env, c);
  INFO(aof.status().to_string());
  REQUIRE(aof.is_ok());
  return std::move(*aof);
}

std::vector<Entry> read_all(Aof& aof) {
  std::vector<Entry> out;
  Status s = aof.scan(aof.begin_address(), [&](const AofRecord& r) {
    out.push_back(Entry{r.address, r.decree, Argv(r.argv.begin(), r.argv.end())});
    return true;
  });
  INFO(s.to_string());
  REQUIRE(s.is_ok());
  return out;
}

// An argv whose framed record is exactly framed_bytes (>= 37), distinct per tag.
Argv argv_framed(std::size_t framed_bytes, std::uint64_t tag) {
  Argv argv{"SET", fmt::format("k{}", tag % 10), ""};
  const std::size_t base = Aof::framed_size(argv);
  REQUIRE(framed_bytes >= base);
  argv[2] = std::string(framed_bytes - base, static_cast<char>('a' + tag % 26));
  REQUIRE(Aof::framed_size(argv) == framed_bytes);
  return argv;
}

class TestRng {
 public:
  explicit TestRng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545f4914f6cdd1dULL;
  }
  std::uint64_t below(std::uint64_t n) { return next() % n; }

 private:
  std::uint64_t state_;
};

// Appends count records with sizes drawn from [min, page], returning what was appended.
std::vector<Entry> append_random(Aof& aof, TestRng& rng, int count, std::size_t min_framed = 37) {
  std::vector<Entry> out;
  const std::size_t page = aof.config().aof_page_size_bytes;
  for (int i = 0; i < count; ++i) {
    const std::uint64_t decree = aof.last_decree() + 1;
    Argv argv = argv_framed(min_framed + rng.below(page - min_framed + 1), decree);
    auto address = aof.append(decree, argv);
    INFO(address.status().to_string());
    REQUIRE(address.is_ok());
    out.push_back(Entry{*address, decree, argv});
  }
  return out;
}

// Saves and restores a whole directory (durable), to rerun a scenario on identical files.
std::map<std::string, std::string> snapshot(const FakeEnv& env) {
  std::map<std::string, std::string> out;
  for (const std::string& name : env.names()) out[name] = env.bytes(name);
  return out;
}

void restore(FakeEnv& env, const std::map<std::string, std::string>& files) {
  for (const auto& [name, bytes] : files) env.put_file(name, bytes);
}

}  // namespace

// ==== encoding ====================================================================================

TEST_CASE("payload encoding round trip and rejection of malformed payloads") {
  const Argv argv{"SET", std::string("k\0y", 3), "", std::string(300, 'v')};
  const std::string payload = encode_aof_payload(argv);
  CHECK(payload.size() == Aof::payload_size(argv));
  auto decoded = decode_aof_payload(payload);
  REQUIRE(decoded.is_ok());
  CHECK(Argv(decoded->begin(), decoded->end()) == argv);

  CHECK(decode_aof_payload("").code() == Err::invalid);
  CHECK(decode_aof_payload(std::string(4, '\0')).code() == Err::invalid);  // argc 0
  CHECK(decode_aof_payload(payload.substr(0, payload.size() - 1)).code() == Err::invalid);
  CHECK(decode_aof_payload(payload + "x").code() == Err::invalid);
  std::string huge_argc = payload;
  huge_argc[3] = '\x7f';
  CHECK(decode_aof_payload(huge_argc).code() == Err::invalid);
}

TEST_CASE("append_aof_record writes what encode_aof_record writes, after what the buffer holds") {
  const Argv argv{"RPUSH", "list", std::string("a\0b", 3), std::string(200, 'z')};
  const std::string expected = encode_aof_record(4096 + 48, 77, encode_aof_payload(argv));
  std::string out = "prefix";
  append_aof_record(out, 4096 + 48, 77, argv);
  CHECK(out == "prefix" + expected);
  // The checksum covers the address: the same record elsewhere differs.
  std::string elsewhere;
  append_aof_record(elsewhere, 64, 77, argv);
  CHECK(elsewhere != expected);
  CHECK(elsewhere == encode_aof_record(64, 77, encode_aof_payload(argv)));
}

TEST_CASE("config out of range is refused") {
  FakeEnv env;
  CHECK(Aof::open(env, config(32)).code() == Err::invalid);
  CHECK(Aof::open(env, config(64, 0)).code() == Err::invalid);
  CHECK(Aof::open(env, config(64, 1)).is_ok());
}

// ==== record size against page size ===============================================================

TEST_CASE("records smaller than, equal to and larger than the page") {
  for (std::uint64_t page : {64u, 128u, 4096u}) {
    CAPTURE(page);
    FakeEnv env;
    auto aof = open_ok(env, config(page, 2));
    std::vector<Entry> appended;
    for (std::size_t framed : {page - 1, page, std::size_t{40}, page}) {
      const std::uint64_t decree = aof->last_decree() + 1;
      Argv argv = argv_framed(framed, decree);
      CHECK(aof->fits(Aof::payload_size(argv)));
      auto address = aof->append(decree, argv);
      REQUIRE(address.is_ok());
      CHECK(*address % page + framed <= page);  // never crosses a page boundary
      appended.push_back(Entry{*address, decree, argv});
    }
    // Larger than the page: refused with the remedy, and nothing reaches the disk.
    const Argv too_big = argv_framed(page + 1, 99);
    CHECK_FALSE(aof->fits(Aof::payload_size(too_big)));
    const auto names_before = snapshot(env);
    const std::uint64_t ops_before = env.disk_ops();
    const std::uint64_t tail_before = aof->tail_address();
    auto refused = aof->append(aof->last_decree() + 1, too_big);
    REQUIRE_FALSE(refused.is_ok());
    CHECK(refused.code() == Err::invalid);
    CHECK(refused.status().message() ==
          fmt::format("record of {} bytes does not fit aof_page_size_bytes={}; raise aof_page_size_bytes", page + 1,
                      page));
    CHECK(env.disk_ops() == ops_before);
    CHECK(snapshot(env) == names_before);
    CHECK(aof->tail_address() == tail_before);
    CHECK(aof->last_decree() == appended.size());
    REQUIRE(aof->sync().is_ok());

    // A reader reads back everything the writer accepted.
    CHECK(read_all(*aof) == appended);
    auto reopened = open_ok(env, config(page, 2));
    CHECK_FALSE(reopened->recovery().torn_tail);
    CHECK(read_all(*reopened) == appended);
    CHECK(reopened->tail_address() == tail_before);
  }
}

TEST_CASE("append checks its arguments") {
  FakeEnv env;
  auto aof = open_ok(env, config(128));
  CHECK(aof->append(2, {"SET", "a", "b"}).code() == Err::invalid);  // decree must be last + 1
  CHECK(aof->append(1, {}).code() == Err::invalid);
  CHECK(aof->append(1, {"SET", "a", "b"}).is_ok());
  CHECK(aof->append(1, {"SET", "a", "b"}).code() == Err::invalid);
  CHECK(aof->last_decree() == 1);
}

// ==== padding and segments ========================================================================

TEST_CASE("padding and recovery across many pages and segments") {
  for (std::uint64_t page : {64u, 128u, 4096u}) {
    for (std::uint64_t segment_pages : {1u, 3u}) {
      CAPTURE(page);
      CAPTURE(segment_pages);
      FakeEnv env;
      TestRng rng(page * 31 + segment_pages);
      auto aof = open_ok(env, config(page, segment_pages));
      const int count = page == 4096 ? 60 : 300;
      std::vector<Entry> appended = append_random(*aof, rng, count);
      for (const Entry& e : appended) {
        CHECK(e.address % page + Aof::framed_size(e.argv) <= page);
      }
      REQUIRE(aof->sync().is_ok());
      const std::uint64_t segment_bytes = page * segment_pages;
      const auto names = aof->segment_names();
      CHECK(names.size() == (aof->tail_address() + segment_bytes - 1) / segment_bytes);
      for (std::size_t i = 0; i < names.size(); ++i) {
        CHECK(names[i] == Aof::segment_file_name(i * segment_bytes));
        CHECK(env.exists(names[i]));
      }
      CHECK(read_all(*aof) == appended);

      auto reopened = open_ok(env, config(page, segment_pages));
      CHECK_FALSE(reopened->recovery().torn_tail);
      CHECK(reopened->recovery().records == appended.size());
      CHECK(reopened->tail_address() == aof->tail_address());
      CHECK(reopened->last_decree() == appended.size());
      CHECK(read_all(*reopened) == appended);
      // And it goes on writing where it stopped.
      std::vector<Entry> more = append_random(*reopened, rng, 10);
      appended.insert(appended.end(), more.begin(), more.end());
      CHECK(read_all(*reopened) == appended);
    }
  }
}

TEST_CASE("scan from the middle, early stop, decree_before") {
  FakeEnv env;
  TestRng rng(7);
  auto aof = open_ok(env, config(128, 2));
  const std::vector<Entry> appended = append_random(*aof, rng, 40);
  const Entry& mid = appended[17];
  std::vector<std::uint64_t> decrees;
  REQUIRE(aof->scan(mid.address, [&](const AofRecord& r) {
                decrees.push_back(r.decree);
                return decrees.size() < 5;
              }).is_ok());
  CHECK(decrees == std::vector<std::uint64_t>{18, 19, 20, 21, 22});
  CHECK(*aof->decree_before(mid.address) == 17);
  CHECK(*aof->decree_before(0) == 0);
  CHECK(*aof->decree_before(aof->tail_address()) == 40);
  CHECK(aof->scan(mid.address + 1, [](const AofRecord&) { return true; }).code() == Err::invalid);
  CHECK(aof->scan(aof->tail_address() + 1, [](const AofRecord&) { return true; }).code() == Err::invalid);
}

// ==== crashes =====================================================================================

namespace {

struct CrashRun {
  std::vector<Entry> appended;  // every append that returned ok
  std::size_t synced = 0;       // records covered by the last sync that returned ok
  bool crashed = false;
};

// The workload: appends of varying size, a sync after every third, one truncate_before midway.
CrashRun run_workload(FakeEnv& env, const AofConfig& c, std::optional<std::uint64_t> crash_at) {
  CrashRun run;
  if (crash_at) env.crash_at_op(*crash_at);
  try {
    auto aof = open_ok(env, c);
    TestRng rng(99);
    for (int i = 0; i < 24; ++i) {
      const std::uint64_t decree = aof->last_decree() + 1;
      Argv argv = argv_framed(37 + rng.below(c.aof_page_size_bytes - 37 + 1), decree);
      auto address = aof->append(decree, argv);
      REQUIRE(address.is_ok());
      run.appended.push_back(Entry{*address, decree, argv});
      // Disk calls stay outside REQUIRE, which would swallow the CrashNow they may throw.
      if (i % 3 == 2) {
        const Status synced = aof->sync();
        REQUIRE(synced.is_ok());
        run.synced = run.appended.size();
      }
      if (i == 15) {
        const Status truncated = aof->truncate_before(run.appended[4].address);
        REQUIRE(truncated.is_ok());
      }
    }
  } catch (const CrashNow&) {
    run.crashed = true;
  }
  return run;
}

void check_recovered(FakeEnv& env, const AofConfig& c, const CrashRun& run) {
  auto aof = Aof::open(env, c);
  INFO(aof.status().to_string());
  REQUIRE(aof.is_ok());
  std::vector<Entry> got = read_all(**aof);
  // A prefix of what was appended (from the begin address on), with every synced record, none twice.
  std::size_t first = 0;
  while (first < run.appended.size() && run.appended[first].address < (*aof)->begin_address()) ++first;
  REQUIRE(got.size() <= run.appended.size() - first);
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == run.appended[first + i]);
  CHECK(first + got.size() >= run.synced);
  CHECK((*aof)->last_decree() == first + got.size());
  // The recovered log takes more writes and reads back after another reopen.
  const std::uint64_t decree = (*aof)->last_decree() + 1;
  REQUIRE((*aof)->append(decree, {"SET", "after", "crash"}).is_ok());
  REQUIRE((*aof)->sync().is_ok());
  auto again = open_ok(env, c);
  CHECK_FALSE(again->recovery().torn_tail);
  CHECK(again->last_decree() == decree);
}

}  // namespace

TEST_CASE("crash after every disk operation recovers a prefix with every synced record") {
  for (std::uint64_t page : {64u, 128u}) {
    const AofConfig c = config(page, 2);
    FakeEnv probe;
    const CrashRun full = run_workload(probe, c, std::nullopt);
    REQUIRE_FALSE(full.crashed);
    const std::uint64_t total_ops = probe.disk_ops();
    REQUIRE(total_ops > 50);
    std::vector<CrashSpec> specs(7);
    specs[1].default_kept_writes = std::numeric_limits<std::size_t>::max();
    specs[2].default_kept_writes = 1;
    specs[3].torn_bytes = 1;
    specs[4].default_kept_writes = 1;
    specs[4].torn_bytes = 21;
    specs[5].torn_bytes = 9;
    specs[5].keep_unsynced_directory = true;
    specs[6].default_kept_writes = std::numeric_limits<std::size_t>::max();
    specs[6].keep_unsynced_directory = true;
    int crashes = 0;
    for (std::uint64_t op = 0; op < total_ops; ++op) {
      for (std::size_t k = 0; k < specs.size(); ++k) {
        CAPTURE(page);
        CAPTURE(op);
        CAPTURE(k);
        FakeEnv env;
        const CrashRun run = run_workload(env, c, op);
        REQUIRE(run.crashed);
        env.crash(specs[k]);
        check_recovered(env, c, run);
        ++crashes;
      }
    }
    MESSAGE("page ", page, ": ", crashes, " crash points over ", total_ops, " disk operations");
  }
}

namespace {

// Three histories: appends; a cut back to record 12 and new appends; a reset to a far address and
// appends there. `phase` counts the ones whose closing sync returned.
struct MovingEndsRun {
  std::vector<Entry> h1, h2, h3;
  int phase = 0;
};

MovingEndsRun run_moving_ends(FakeEnv& env, const AofConfig& c, std::optional<std::uint64_t> crash_at) {
  MovingEndsRun run;
  if (crash_at) env.crash_at_op(*crash_at);
  try {
    auto aof = open_ok(env, c);
    TestRng rng(5);
    run.h1 = append_random(*aof, rng, 20);
    Status s = aof->sync();
    REQUIRE(s.is_ok());
    run.phase = 1;
    run.h2.assign(run.h1.begin(), run.h1.begin() + 12);
    s = aof->truncate_after(run.h1[12].address);
    REQUIRE(s.is_ok());
    for (const Entry& e : append_random(*aof, rng, 6)) run.h2.push_back(e);
    s = aof->sync();
    REQUIRE(s.is_ok());
    run.phase = 2;
    s = aof->reset_to(100000, 500);
    REQUIRE(s.is_ok());
    run.h3 = append_random(*aof, rng, 6);
    s = aof->sync();
    REQUIRE(s.is_ok());
    run.phase = 3;
  } catch (const CrashNow&) {
  }
  return run;
}

bool is_prefix(const std::vector<Entry>& got, const std::vector<Entry>& history) {
  return got.size() <= history.size() && std::equal(got.begin(), got.end(), history.begin());
}

}  // namespace

TEST_CASE("crashes inside truncate_after and reset_to leave one history's prefix") {
  const AofConfig c = config(64, 2);
  FakeEnv probe;
  const MovingEndsRun full = run_moving_ends(probe, c, std::nullopt);
  REQUIRE(full.phase == 3);
  std::vector<CrashSpec> specs(3);
  specs[1].default_kept_writes = std::numeric_limits<std::size_t>::max();
  specs[2].torn_bytes = 5;
  specs[2].keep_unsynced_directory = true;
  for (std::uint64_t op = 0; op < probe.disk_ops(); ++op) {
    for (std::size_t k = 0; k < specs.size(); ++k) {
      CAPTURE(op);
      CAPTURE(k);
      FakeEnv env;
      const MovingEndsRun run = run_moving_ends(env, c, op);
      env.crash(specs[k]);
      auto aof = Aof::open(env, c);
      INFO(aof.status().to_string());
      REQUIRE(aof.is_ok());
      const std::vector<Entry> got = read_all(**aof);
      if ((*aof)->begin_address() == 100000) {
        CHECK(is_prefix(got, full.h3));
        CHECK((*aof)->base_decree() == 500);
      } else {
        CHECK((*aof)->begin_address() == 0);
        CHECK((is_prefix(got, full.h1) || is_prefix(got, full.h2)));
      }
      // A crash inside truncate_after leaves the old log or the cut one, never a partly cut old log;
      // one inside reset_to leaves the old log whole or the new one.
      if (run.phase == 1) CHECK((got == full.h1 || (is_prefix(got, full.h2) && got.size() >= 12)));
      if (run.phase == 2 && (*aof)->begin_address() == 0) CHECK(got == full.h2);
      if (run.phase == 3) CHECK(got == full.h3);
    }
  }
}

TEST_CASE("a torn tail is truncated and reported") {
  FakeEnv env;
  auto aof = open_ok(env, config(128, 4));
  TestRng rng(3);
  std::vector<Entry> appended = append_random(*aof, rng, 6);
  REQUIRE(aof->sync().is_ok());
  const Entry last = append_random(*aof, rng, 1, 60).front();
  aof.reset();
  CrashSpec spec;
  spec.torn_bytes = 30;
  env.crash(spec);
  auto reopened = open_ok(env, config(128, 4));
  const auto& r = reopened->recovery();
  CHECK(r.torn_tail);
  // The torn record was written after padding or at the tail; either way the cut is at or before it.
  CHECK(r.torn_address <= last.address);
  CHECK(r.torn_address >= appended.back().address + Aof::framed_size(appended.back().argv));
  CHECK(r.bytes_dropped > 0);
  CHECK(r.bytes_dropped <= 30);
  CHECK(reopened->tail_address() == r.torn_address);
  CHECK(read_all(*reopened) == appended);
  bool logged = false;
  for (const std::string& line : env.log_lines()) logged |= line.starts_with("aof.truncate_tail");
  CHECK(logged);
  // The cut is durable: a crash now changes nothing.
  env.crash();
  auto after = open_ok(env, config(128, 4));
  CHECK_FALSE(after->recovery().torn_tail);
  CHECK(read_all(*after) == appended);
}

// ==== corruption ==================================================================================

namespace {

// The units of a log as the writer laid them out: each record, plus the segment headers.
struct Layout {
  std::map<std::string, std::string> files;
  std::vector<Entry> records;
  std::uint64_t tail = 0;
};

Layout build_small_log(std::uint64_t page, std::uint64_t segment_pages, int count, std::uint64_t seed) {
  FakeEnv env;
  auto aof = open_ok(env, config(page, segment_pages));
  TestRng rng(seed);
  Layout layout;
  layout.records = append_random(*aof, rng, count);
  REQUIRE(aof->sync().is_ok());
  layout.tail = aof->tail_address();
  layout.files = snapshot(env);
  return layout;
}

std::uint64_t first_address_of(const std::string& name) { return std::stoull(name.substr(4), nullptr, 16); }

}  // namespace

TEST_CASE("bit flips at every byte are detected") {
  for (std::uint64_t page : {64u, 128u}) {
    CAPTURE(page);
    const Layout layout = build_small_log(page, 2, 14, page);
    REQUIRE(layout.files.size() >= 2);
    const Entry& last = layout.records.back();
    int refused = 0;
    int torn = 0;
    for (const auto& file : layout.files) {
      // Named copies: clang 14 cannot capture structured bindings in the lambdas CAPTURE makes.
      const std::string& name = file.first;
      const std::string& bytes = file.second;
      for (std::uint64_t offset = 0; offset < bytes.size(); ++offset) {
        for (int bit : {0, 5}) {
          CAPTURE(name);
          CAPTURE(offset);
          CAPTURE(bit);
          FakeEnv env;
          restore(env, layout.files);
          env.flip_bit(name, offset, bit);
          const bool in_header = offset < Aof::kSegmentHeaderBytes;
          const std::uint64_t address = first_address_of(name) + offset - Aof::kSegmentHeaderBytes;
          auto aof = Aof::open(env, config(page, 2));
          if (in_header || address < last.address) {
            // Damage with valid records after it: refuse, and say where and what to do.
            REQUIRE_FALSE(aof.is_ok());
            CHECK(aof.code() == Err::io_error);
            const std::string& m = aof.status().message();
            CHECK(m.find("is corrupt at address") != std::string::npos);
            CHECK(m.find("refusing to start") != std::string::npos);
            CHECK(m.find("CLUSTER REPLICATE") != std::string::npos);
            ++refused;
          } else {
            // Damage in the last record: a torn tail, cut at the record, never returned.
            INFO(aof.status().to_string());
            REQUIRE(aof.is_ok());
            CHECK((*aof)->recovery().torn_tail);
            CHECK((*aof)->recovery().torn_address == last.address);
            const std::vector<Entry> got = read_all(**aof);
            CHECK(got == std::vector<Entry>(layout.records.begin(), layout.records.end() - 1));
            ++torn;
          }
        }
      }
    }
    CHECK(refused > 0);
    CHECK(torn > 0);
  }
}

TEST_CASE("corruption in the middle names the file, the address, what was found and the remedy") {
  const Layout layout = build_small_log(128, 4, 12, 5);
  const Entry& victim = layout.records[3];
  const std::string name = Aof::segment_file_name(0);
  {
    FakeEnv env;
    restore(env, layout.files);
    env.flip_bit(name, Aof::kSegmentHeaderBytes + victim.address + 20, 3);  // inside the payload
    auto aof = Aof::open(env, config(128, 4));
    REQUIRE_FALSE(aof.is_ok());
    const std::string& m = aof.status().message();
    CHECK(m.starts_with(fmt::format("AOF {} is corrupt at address {}: checksum mismatch", name, victim.address)));
    CHECK(m.find("with valid records after it (decree 5 at address") != std::string::npos);
    CHECK(m.ends_with("refusing to start. Restore the node from a replica (CLUSTER REPLICATE) or remove the AOF "
                      "files to start empty"));
  }
  {
    FakeEnv env;
    restore(env, layout.files);
    env.flip_bit(name, Aof::kSegmentHeaderBytes + victim.address + 3, 6);  // the length's high byte
    auto aof = Aof::open(env, config(128, 4));
    REQUIRE_FALSE(aof.is_ok());
    CHECK(aof.status().message().find(fmt::format("Invalid length of record found: {} at address {}",
                                                  Aof::framed_size(victim.argv) - 16 + (1u << 30),
                                                  victim.address)) != std::string::npos);
  }
}

TEST_CASE("a read-time bit flip is caught and read again") {
  const Layout layout = build_small_log(128, 4, 12, 11);
  const std::string name = Aof::segment_file_name(0);
  const std::uint64_t offset = Aof::kSegmentHeaderBytes + layout.records[2].address + 18;
  FakeEnv env;
  restore(env, layout.files);
  env.flip_bit_on_next_read(name, offset);
  auto aof = open_ok(env, config(128, 4));
  CHECK(aof->recovery().reread_recovered == 1);
  CHECK_FALSE(aof->recovery().torn_tail);
  env.flip_bit_on_next_read(name, offset);
  CHECK(read_all(*aof) == layout.records);
  env.flip_bit_on_next_read(name, Aof::kSegmentHeaderBytes + 1);  // the segment header on open
  auto again = open_ok(env, config(128, 4));
  CHECK(read_all(*again) == layout.records);
}

TEST_CASE("files written with another page size are refused with the remedy") {
  const Layout layout = build_small_log(128, 4, 5, 1);
  FakeEnv env;
  restore(env, layout.files);
  auto aof = Aof::open(env, config(256, 4));
  REQUIRE_FALSE(aof.is_ok());
  CHECK(aof.code() == Err::invalid);
  CHECK(aof.status().message().find("aof_page_size_bytes=128") != std::string::npos);
  CHECK(aof.status().message().find("configured with aof_page_size_bytes=256") != std::string::npos);
}

TEST_CASE("a missing segment in the middle is corruption; after the end it is a torn tail") {
  const Layout layout = build_small_log(64, 1, 30, 2);
  REQUIRE(layout.files.size() >= 4);
  auto it = layout.files.begin();
  std::advance(it, 1);
  {
    FakeEnv env;
    restore(env, layout.files);
    REQUIRE(env.remove(it->first).is_ok());
    auto aof = Aof::open(env, config(64, 1));
    REQUIRE_FALSE(aof.is_ok());
    CHECK(aof.status().message().find("are missing") != std::string::npos);
  }
  {
    // The last segment's file cut short: the records cut are gone, everything before survives.
    FakeEnv env;
    restore(env, layout.files);
    const std::string last_name = layout.files.rbegin()->first;
    REQUIRE(env.truncate(last_name, Aof::kSegmentHeaderBytes + 3).is_ok());
    auto aof = open_ok(env, config(64, 1));
    CHECK(aof->recovery().torn_tail);
    CHECK(aof->tail_address() == first_address_of(last_name));
  }
}

TEST_CASE("a file named inside the log (not at a segment boundary) is cut away, not kept overlapping") {
  // Found by tools/fuzz (corpus/aof/regression-misnamed-segment-inside-prefix): a file named
  // aof.0000000000000040 beside a whole first segment [0, 128) was truncated and kept as a segment,
  // so the log overlapped itself and the recovered log failed to read back.
  const Layout layout = build_small_log(64, 2, 2, 3);
  REQUIRE(layout.files.size() == 1);
  REQUIRE(layout.tail > 64);
  const std::string misnamed = Aof::segment_file_name(64);
  {
    // With valid records in a later segment, the misnamed file is corruption: refused, nothing cut.
    const Layout longer = build_small_log(64, 2, 6, 3);
    FakeEnv env;
    restore(env, longer.files);
    env.put_file(misnamed, longer.files.begin()->second);
    const auto before = snapshot(env);
    auto refused = Aof::open(env, config(64, 2));
    REQUIRE_FALSE(refused.is_ok());
    CHECK(refused.status().message().find(misnamed + " starts at address 64, which is not a segment boundary") !=
          std::string::npos);
    CHECK(snapshot(env) == before);
  }
  FakeEnv env;
  restore(env, layout.files);
  env.put_file(misnamed, layout.files.begin()->second);  // a copy of the first segment under that name
  auto aof = open_ok(env, config(64, 2));
  CHECK(aof->recovery().torn_tail);
  CHECK_FALSE(env.exists(misnamed));
  const std::vector<Entry> kept = read_all(*aof);
  REQUIRE_FALSE(kept.empty());
  CHECK(kept.back().decree == aof->last_decree());
  for (const Entry& e : kept) CHECK(e.address < 128);  // the first segment's records, all of them
  REQUIRE(aof->append(aof->last_decree() + 1, {"SET", "k", "v"}).is_ok());
  REQUIRE(aof->sync().is_ok());
  auto again = open_ok(env, config(64, 2));
  CHECK(again->last_decree() == aof->last_decree());
}

// ==== write faults ================================================================================

TEST_CASE("a failed write changes nothing; a failed fsync stops writes") {
  FakeEnv env;
  auto aof = open_ok(env, config(128, 2));
  REQUIRE(aof->append(1, {"SET", "a", "1"}).is_ok());
  const std::uint64_t tail = aof->tail_address();
  env.fail_next_write(Err::no_space);
  auto failed = aof->append(2, {"SET", "b", "2"});
  CHECK(failed.code() == Err::no_space);
  CHECK(aof->tail_address() == tail);
  CHECK(aof->last_decree() == 1);
  auto retried = aof->append(2, {"SET", "b", "2"});
  REQUIRE(retried.is_ok());
  CHECK(*retried == tail);

  env.fail_next_sync(Err::io_error);
  CHECK(aof->sync().code() == Err::io_error);
  CHECK(aof->append(3, {"SET", "c", "3"}).code() == Err::io_error);
  CHECK(aof->write_error().message().find("refused until the node restarts") != std::string::npos);
  aof.reset();
  auto reopened = open_ok(env, config(128, 2));
  CHECK(reopened->last_decree() == 2);
}

// ==== replica operations ==========================================================================

TEST_CASE("append_raw makes an address-for-address copy of the primary") {
  for (std::uint64_t page : {64u, 128u, 4096u}) {
    CAPTURE(page);
    FakeEnv primary_env;
    auto primary = open_ok(primary_env, config(page, 2));
    TestRng rng(page);
    const std::vector<Entry> appended = append_random(*primary, rng, page == 4096 ? 40 : 120);
    for (std::uint64_t replica_segment_pages : {2u, 5u}) {
      FakeEnv replica_env;
      auto replica = open_ok(replica_env, config(page, replica_segment_pages));
      int rounds = 0;
      while (replica->tail_address() < primary->tail_address()) {
        auto chunk = primary->read_raw(replica->tail_address(), 3 * page / 2);
        REQUIRE(chunk.is_ok());
        REQUIRE_FALSE(chunk->empty());
        REQUIRE(replica->append_raw(replica->tail_address(), *chunk).is_ok());
        ++rounds;
      }
      CHECK(rounds > 1);
      CHECK(replica->last_decree() == primary->last_decree());
      CHECK(*replica->read_raw(0, 1u << 30) == *primary->read_raw(0, 1u << 30));
      CHECK(read_all(*replica) == appended);
      if (replica_segment_pages == 2) {
        REQUIRE(primary->sync().is_ok());
        CHECK(snapshot(replica_env) == snapshot(primary_env));  // same config: identical files
      }
      auto reopened = open_ok(replica_env, config(page, replica_segment_pages));
      CHECK(read_all(*reopened) == appended);
    }
  }
}

TEST_CASE("append_raw refuses what does not verify, and writes nothing") {
  FakeEnv primary_env;
  auto primary = open_ok(primary_env, config(128, 2));
  TestRng rng(4);
  append_random(*primary, rng, 10);
  const std::string all = *primary->read_raw(0, 1u << 20);
  FakeEnv replica_env;
  auto replica = open_ok(replica_env, config(128, 2));
  CHECK(replica->append_raw(5, all).code() == Err::invalid);  // not at the tail
  std::string flipped = all;
  flipped[all.size() - 3] ^= 1;
  CHECK(replica->append_raw(0, flipped).code() == Err::invalid);
  CHECK(replica->append_raw(0, all.substr(0, all.size() - 1)).code() == Err::invalid);
  CHECK(replica_env.names().empty());
  CHECK(replica->tail_address() == 0);
  // A replica with another page size sees records crossing its pages.
  FakeEnv other_env;
  auto other = open_ok(other_env, config(64, 2));
  auto refused = other->append_raw(0, all);
  CHECK(refused.code() == Err::invalid);
  CHECK(refused.message().find("aof_page_size_bytes=64") != std::string::npos);
  CHECK(replica->append_raw(0, all).is_ok());
  CHECK(replica->last_decree() == 10);
  CHECK(replica->append_raw(replica->tail_address(), "").is_ok());
}

TEST_CASE("read_raw returns whole records from a record boundary") {
  FakeEnv env;
  auto aof = open_ok(env, config(128, 2));
  TestRng rng(8);
  const std::vector<Entry> appended = append_random(*aof, rng, 20, 40);
  auto one = aof->read_raw(appended[3].address, 1);  // smaller than a record: still one record
  REQUIRE(one.is_ok());
  CHECK(one->size() == Aof::framed_size(appended[3].argv));
  CHECK(aof->read_raw(appended[3].address + 1, 100).code() == Err::invalid);
  CHECK(aof->read_raw(aof->tail_address(), 100)->empty());
  CHECK(aof->read_raw(aof->tail_address() + 1, 100).code() == Err::invalid);
  // Into a caller's buffer: the same bytes, whatever the buffer held before.
  std::string buffer = "left over";
  REQUIRE(aof->read_raw(appended[3].address, 300, buffer).is_ok());
  CHECK(buffer == *aof->read_raw(appended[3].address, 300));
  REQUIRE(aof->read_raw(aof->tail_address(), 100, buffer).is_ok());
  CHECK(buffer.empty());
}

TEST_CASE("read_raw serves a stream that keeps up from memory, with the bytes the files hold") {
  FakeEnv env;
  auto aof = open_ok(env, config(128, 2));
  TestRng rng(21);
  std::vector<Entry> appended = append_random(*aof, rng, 30, 40);
  // Just written: no disk operation, and the same bytes a reader of the files gets.
  const std::uint64_t ops_before = env.disk_ops();
  auto recent = aof->read_raw(appended[25].address, 1u << 20);
  REQUIRE(recent.is_ok());
  CHECK(env.disk_ops() == ops_before);
  auto reopened = open_ok(env, config(128, 2));  // a fresh process: nothing in memory
  const std::uint64_t ops_reopened = env.disk_ops();
  auto from_files = reopened->read_raw(appended[25].address, 1u << 20);
  REQUIRE(from_files.is_ok());
  CHECK(env.disk_ops() > ops_reopened);
  CHECK(*recent == *from_files);
  // The same chunking rule as the files' reader: whole records, at least one, at most max_bytes.
  for (std::size_t max_bytes : {std::size_t{1}, std::size_t{100}, std::size_t{300}}) {
    CAPTURE(max_bytes);
    CHECK(*aof->read_raw(appended[20].address, max_bytes) == *reopened->read_raw(appended[20].address, max_bytes));
  }
  // After the tail moves back, memory holds nothing of the old suffix: reads see the new history.
  reopened.reset();
  REQUIRE(aof->truncate_after(appended[27].address).is_ok());
  auto address = aof->append(appended[27].decree, {"SET", "other", "history"});
  REQUIRE(address.is_ok());
  auto after = aof->read_raw(appended[26].address, 1u << 20);
  REQUIRE(after.is_ok());
  auto again = open_ok(env, config(128, 2));
  CHECK(*after == *again->read_raw(appended[26].address, 1u << 20));
  CHECK(after->find("history") != std::string::npos);
}

TEST_CASE("scan_taken yields the records append_raw took, from the caller's bytes") {
  FakeEnv primary_env;
  auto primary = open_ok(primary_env, config(128, 2));
  TestRng rng(22);
  const std::vector<Entry> appended = append_random(*primary, rng, 25);
  const std::string all = *primary->read_raw(0, 1u << 20);
  FakeEnv replica_env;
  auto replica = open_ok(replica_env, config(128, 2));
  REQUIRE(replica->append_raw(0, all).is_ok());
  const std::uint64_t ops_before = replica_env.disk_ops();
  std::vector<Entry> taken;
  REQUIRE(replica->scan_taken(0, all, [&](const AofRecord& r) {
    taken.push_back(Entry{r.address, r.decree, Argv(r.argv.begin(), r.argv.end())});
    return true;
  }).is_ok());
  CHECK(replica_env.disk_ops() == ops_before);  // nothing read back
  CHECK(taken == appended);
  CHECK(read_all(*replica) == appended);
  // Early stop, and a range that is not the last append is refused.
  int calls = 0;
  REQUIRE(replica->scan_taken(0, all, [&](const AofRecord&) { return ++calls < 3; }).is_ok());
  CHECK(calls == 3);
  CHECK(replica->scan_taken(0, all.substr(0, all.size() - 1), [](const AofRecord&) { return true; }).code() ==
        Err::invalid);
  CHECK(replica->scan_taken(replica->tail_address() + 1, "", [](const AofRecord&) { return true; }).code() ==
        Err::invalid);
  // A failed append takes nothing, so nothing is applied (the case of a chunk cut part way at a
  // segment end is pinned end to end in sim/run_test.cpp).
  FakeEnv cut_env;
  auto cut = open_ok(cut_env, config(128, 2));
  cut_env.fail_next_write(Err::io_error);
  CHECK_FALSE(cut->append_raw(0, all).is_ok());
  CHECK(cut->tail_address() == 0);
  int applied = 0;
  REQUIRE(cut->scan_taken(0, all, [&](const AofRecord&) { return ++applied > 0; }).is_ok());
  CHECK(applied == 0);
}

TEST_CASE("reset_to an arbitrary address, then a full sync's stream") {
  FakeEnv primary_env;
  auto primary = open_ok(primary_env, config(64, 3));
  TestRng rng(12);
  const std::vector<Entry> appended = append_random(*primary, rng, 80);
  const Entry& checkpoint = appended[33];  // the replica loads a checkpoint taken just before it
  for (std::uint64_t segment_pages : {1u, 3u}) {
    FakeEnv replica_env;
    auto replica = open_ok(replica_env, config(64, segment_pages));
    REQUIRE(replica->append(1, {"SET", "stale", "x"}).is_ok());
    REQUIRE(replica->reset_to(checkpoint.address, checkpoint.decree - 1).is_ok());
    CHECK(replica->begin_address() == checkpoint.address);
    CHECK(replica->tail_address() == checkpoint.address);
    CHECK(replica->last_decree() == checkpoint.decree - 1);
    CHECK(replica->segment_names() == std::vector<std::string>{Aof::segment_file_name(checkpoint.address)});
    // Durable at once, even with no record yet.
    replica_env.crash();
    replica = open_ok(replica_env, config(64, segment_pages));
    CHECK(replica->begin_address() == checkpoint.address);
    CHECK(replica->last_decree() == checkpoint.decree - 1);
    while (replica->tail_address() < primary->tail_address()) {
      auto chunk = primary->read_raw(replica->tail_address(), 200);
      REQUIRE(chunk.is_ok());
      REQUIRE(replica->append_raw(replica->tail_address(), *chunk).is_ok());
    }
    CHECK(*replica->read_raw(checkpoint.address, 1u << 20) == *primary->read_raw(checkpoint.address, 1u << 20));
    REQUIRE(replica->sync().is_ok());
    auto reopened = open_ok(replica_env, config(64, segment_pages));
    CHECK(read_all(*reopened) == std::vector<Entry>(appended.begin() + 33, appended.end()));
  }
  // Any address, even one where a record does not fit in the rest of the page.
  for (std::uint64_t address : {std::uint64_t{0}, std::uint64_t{61}, std::uint64_t{1} << 40, std::uint64_t{12345}}) {
    CAPTURE(address);
    FakeEnv env;
    auto aof = open_ok(env, config(64, 2));
    REQUIRE(aof->reset_to(address, 1000).is_ok());
    const std::vector<Entry> more = append_random(*aof, rng, 12);
    CHECK(more.front().decree == 1001);
    REQUIRE(aof->sync().is_ok());
    auto reopened = open_ok(env, config(64, 2));
    CHECK(reopened->begin_address() == address);
    CHECK(reopened->base_decree() == 1000);
    CHECK(read_all(*reopened) == more);
  }
}

TEST_CASE("truncate_before removes whole segments and moves the begin address") {
  FakeEnv env;
  auto aof = open_ok(env, config(64, 2));  // segments of 128 bytes
  TestRng rng(21);
  const std::vector<Entry> appended = append_random(*aof, rng, 40);
  REQUIRE(aof->segment_names().size() > 5);
  const Entry& target = appended[20];
  REQUIRE(aof->truncate_before(target.address).is_ok());
  CHECK(aof->begin_address() <= target.address);
  CHECK(aof->begin_address() == target.address - target.address % 128);
  CHECK(aof->segment_names().front() == Aof::segment_file_name(aof->begin_address()));
  CHECK_FALSE(env.exists(Aof::segment_file_name(0)));
  std::vector<Entry> kept;
  for (const Entry& e : appended) {
    if (e.address >= aof->begin_address()) kept.push_back(e);
  }
  CHECK(read_all(*aof) == kept);
  CHECK(*aof->decree_before(aof->begin_address()) == kept.front().decree - 1);
  CHECK(aof->base_decree() == kept.front().decree - 1);
  CHECK(aof->scan(0, [](const AofRecord&) { return true; }).code() == Err::invalid);
  const std::uint64_t begin = aof->begin_address();
  REQUIRE(aof->truncate_before(begin - 1).is_ok());  // nothing below: no change
  CHECK(aof->begin_address() == begin);
  auto reopened = open_ok(env, config(64, 2));
  CHECK(reopened->begin_address() == begin);
  CHECK(read_all(*reopened) == kept);
  // Up to the tail: the last segment always stays.
  REQUIRE(reopened->truncate_before(reopened->tail_address() + 1000).is_ok());
  CHECK(reopened->segment_names().size() == 1);
  CHECK(reopened->begin_address() <= reopened->tail_address());
  auto last = open_ok(env, config(64, 2));
  CHECK(last->last_decree() == 40);
}

TEST_CASE("truncate_after drops a suffix and the log goes on from there") {
  FakeEnv env;
  auto aof = open_ok(env, config(64, 2));
  TestRng rng(17);
  const std::vector<Entry> appended = append_random(*aof, rng, 40);
  const Entry& cut = appended[25];
  CHECK(aof->truncate_after(cut.address + 1).code() == Err::invalid);
  REQUIRE(aof->truncate_after(cut.address).is_ok());
  CHECK(aof->tail_address() == cut.address);
  CHECK(aof->last_decree() == cut.decree - 1);
  CHECK(read_all(*aof) == std::vector<Entry>(appended.begin(), appended.begin() + 25));
  env.crash();  // durable when it returned
  auto reopened = open_ok(env, config(64, 2));
  CHECK(reopened->tail_address() == cut.address);
  CHECK(reopened->last_decree() == cut.decree - 1);
  auto address = reopened->append(cut.decree, {"SET", "new", "history"});
  REQUIRE(address.is_ok());
  CHECK(*address >= cut.address);
  // Down to the begin address: an empty log that keeps its begin and base decree.
  REQUIRE(reopened->truncate_after(0).is_ok());
  CHECK(reopened->tail_address() == 0);
  CHECK(reopened->last_decree() == 0);
  auto empty = open_ok(env, config(64, 2));
  CHECK(empty->tail_address() == 0);
  CHECK(read_all(*empty).empty());
}

TEST_CASE("a damaged intent file refuses the start; a stale intent tmp is ignored") {
  const Layout layout = build_small_log(128, 4, 5, 9);
  {
    FakeEnv env;
    restore(env, layout.files);
    env.put_file("aof.intent.tmp", "half written");
    auto aof = open_ok(env, config(128, 4));
    CHECK(read_all(*aof) == layout.records);
    CHECK_FALSE(env.exists("aof.intent.tmp"));
  }
  {
    FakeEnv env;
    restore(env, layout.files);
    env.put_file("aof.intent", std::string(36, 'x'));
    auto aof = Aof::open(env, config(128, 4));
    REQUIRE_FALSE(aof.is_ok());
    CHECK(aof.status().message().starts_with("AOF intent file aof.intent is damaged: bad magic at byte offset 0"));
  }
}
