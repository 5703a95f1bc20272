// Tests of the simulated disk: the env-facing operations, the crash model (what unsynced writes and
// unsynced metadata can turn into), injected faults, and that one seed gives one outcome.
#include "sim/kernel/disk.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

using replsim::core::Err;
using replsim::kernel::CrashReport;
using replsim::kernel::Disk;
using replsim::kernel::DiskConfig;
using replsim::kernel::DiskFaults;
using replsim::kernel::DiskOp;
using replsim::kernel::InjectedFault;
using replsim::kernel::Nanos;
using replsim::kernel::Rng;
using replsim::kernel::TornSectorFill;

namespace {

Disk make_disk(std::uint64_t seed, DiskConfig config = {}) {
  return Disk("c0n1", config, Rng(seed, "disk/c0n1"));
}

std::string contents(const Disk& d, const std::string& name) {
  auto r = d.true_contents(name);
  REQUIRE(r.is_ok());
  return r.value();
}

// Bytes no test ever writes, so a crash that invents data is caught: writes use letters 'a'..'z'.
std::string pattern(char c, std::size_t n) { return std::string(n, c); }

// A reference model of one write, independent of the disk's own code.
struct RefWrite {
  bool truncate = false;
  std::uint64_t offset = 0;  // truncate: the new length
  std::string data;
};

void ref_apply(std::string& bytes, const RefWrite& w) {
  if (w.truncate) {
    bytes.resize(w.offset, '\0');
    return;
  }
  if (w.data.empty()) return;
  if (bytes.size() < w.offset + w.data.size()) bytes.resize(w.offset + w.data.size(), '\0');
  for (std::size_t i = 0; i < w.data.size(); ++i) bytes[w.offset + i] = w.data[i];
}

// One possible post-crash file: durable + a prefix of the writes, optionally with the next write
// landed only up to `torn_at` and the range [torn_at, torn_at + fill_bytes) left undetermined.
struct Candidate {
  std::string bytes;
  std::uint64_t torn_at = 0;
  std::uint64_t fill_bytes = 0;
  bool torn = false;
};

std::vector<Candidate> candidates(const std::string& durable, const std::vector<RefWrite>& writes,
                                  std::uint64_t sector, bool with_fill) {
  std::vector<Candidate> out;
  std::string bytes = durable;
  for (std::size_t k = 0; k <= writes.size(); ++k) {
    out.push_back({bytes, 0, 0, false});
    if (k == writes.size()) break;
    const RefWrite& w = writes[k];
    if (!w.truncate) {
      const std::uint64_t end = w.offset + w.data.size();
      for (std::uint64_t b = (w.offset / sector + 1) * sector; b < end; b += sector) {
        Candidate c{bytes, b, 0, true};
        ref_apply(c.bytes, {false, w.offset, w.data.substr(0, b - w.offset)});
        if (with_fill) {
          c.fill_bytes = std::min(sector, end - b);
          if (c.bytes.size() < b + c.fill_bytes) c.bytes.resize(b + c.fill_bytes, '\0');
        }
        out.push_back(c);
      }
    }
    ref_apply(bytes, w);
  }
  return out;
}

// Whether `got` is `c`, ignoring the undetermined fill range.
bool matches(const std::string& got, const Candidate& c) {
  if (got.size() != c.bytes.size()) return false;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const bool in_fill = c.torn && i >= c.torn_at && i < c.torn_at + c.fill_bytes;
    if (!in_fill && got[i] != c.bytes[i]) return false;
  }
  return true;
}

// A file with a synced, durably named prefix and then a few unsynced writes of every kind, drawn
// from `script` (a stream of the test's own). Returns the durable bytes and the unsynced writes.
std::pair<std::string, std::vector<RefWrite>> build_file(Disk& d, const std::string& name,
                                                         Rng& script) {
  const std::string base = pattern('a', static_cast<std::size_t>(script.range(0, 80)));
  REQUIRE(d.append(name, base).is_ok());
  REQUIRE(d.sync(name).is_ok());
  REQUIRE(d.sync_dir().is_ok());
  std::vector<RefWrite> writes;
  std::string current = base;
  std::uint64_t size = base.size();
  const auto count = script.range(1, 6);
  for (std::int64_t i = 0; i < count; ++i) {
    const char c = static_cast<char>('b' + i);
    const auto kind = script.below(4);
    if (kind == 0) {
      RefWrite w{false, size, pattern(c, static_cast<std::size_t>(script.range(1, 70)))};
      REQUIRE(d.append(name, w.data).is_ok());
      writes.push_back(w);
    } else if (kind == 1) {
      RefWrite w{false, script.below(size + 40), pattern(c, static_cast<std::size_t>(script.range(1, 50)))};
      REQUIRE(d.write_at(name, w.offset, w.data).is_ok());
      writes.push_back(w);
    } else if (kind == 2) {
      RefWrite w{true, script.below(size + 20), {}};
      REQUIRE(d.truncate(name, w.offset).is_ok());
      writes.push_back(w);
    } else {
      RefWrite w{false, size, pattern(c, 3)};  // a small append inside one sector: never torn
      REQUIRE(d.append(name, w.data).is_ok());
      writes.push_back(w);
    }
    ref_apply(current, writes.back());
    size = current.size();
  }
  // The live path and the reference model agree on what the writes did.
  REQUIRE(d.true_contents(name).value() == current);
  return {base, writes};
}

}  // namespace

// ---- the operations of core::Env -----------------------------------------------------------------

TEST_CASE("append, write_at with a gap, read_at at and past the end, file_size, truncate") {
  Disk d = make_disk(1);
  REQUIRE(d.append("f", "hello").is_ok());
  REQUIRE(d.append("f", " world").is_ok());
  CHECK(d.file_size("f").value() == 11);
  REQUIRE(d.write_at("f", 14, "xyz").is_ok());  // gap of 3 zeros
  CHECK(contents(d, "f") == std::string("hello world\0\0\0xyz", 17));
  CHECK(d.read_at("f", 6, 5).value() == "world");
  CHECK(d.read_at("f", 15, 100).value() == "yz");  // short read at the end
  CHECK(d.read_at("f", 17, 10).value().empty());   // at the end: nothing
  auto past = d.read_at("f", 18, 1);
  CHECK(past.code() == Err::invalid);
  CHECK(past.status().message() == "c0n1/f: read_at offset 18 length 1: offset past the end of the file (size 17)");
  // Into a caller's buffer: the same bytes, replacing what it held; empty after an error.
  std::string into = "left over";
  REQUIRE(d.read_at_into("f", 6, 5, into).is_ok());
  CHECK(into == "world");
  CHECK(d.read_at_into("f", 18, 1, into).code() == Err::invalid);
  CHECK(into.empty());
  REQUIRE(d.truncate("f", 5).is_ok());
  CHECK(contents(d, "f") == "hello");
  REQUIRE(d.truncate("f", 8).is_ok());  // extends with zeros, as ftruncate does
  CHECK(contents(d, "f") == std::string("hello\0\0\0", 8));
  REQUIRE(d.write_at("g", 2, "ab").is_ok());  // write_at creates a missing file
  CHECK(contents(d, "g") == std::string("\0\0ab", 4));
  CHECK(d.total_bytes() == 12);
}

TEST_CASE("missing files and bad names are errors that name the node, the file and the operation") {
  Disk d = make_disk(2);
  CHECK(d.read_at("nope", 0, 1).status().message() == "c0n1/nope: read_at: no such file");
  CHECK(d.file_size("nope").code() == Err::not_found);
  CHECK(d.truncate("nope", 0).code() == Err::not_found);
  CHECK(d.sync("nope").code() == Err::not_found);
  CHECK(d.remove("nope").code() == Err::not_found);
  auto r = d.rename("nope", "x");
  CHECK(r.code() == Err::not_found);
  CHECK(r.message() == "c0n1/nope: rename to 'x': no such file");
  for (const std::string bad : {"", ".", "..", "a/b"}) {
    CHECK(d.append(bad, "x").code() == Err::invalid);
  }
  CHECK(d.append(std::string("a\0b", 3), "x").code() == Err::invalid);
  CHECK(d.list_files().empty());
}

TEST_CASE("list_files is sorted; exists, rename replaces its target atomically, remove") {
  Disk d = make_disk(3);
  for (const char* n : {"zeta", "alpha", "mid"}) REQUIRE(d.append(n, n).is_ok());
  CHECK(d.list_files() == std::vector<std::string>{"alpha", "mid", "zeta"});
  REQUIRE(d.rename("alpha", "zeta").is_ok());
  CHECK(d.list_files() == std::vector<std::string>{"mid", "zeta"});
  CHECK(contents(d, "zeta") == "alpha");
  CHECK_FALSE(d.exists("alpha"));
  REQUIRE(d.rename("mid", "mid").is_ok());
  CHECK(contents(d, "mid") == "mid");
  REQUIRE(d.remove("mid").is_ok());
  CHECK_FALSE(d.exists("mid"));
  CHECK(d.total_bytes() == 5);
}

TEST_CASE("a write past the max file size is refused before anything is allocated") {
  DiskConfig config;
  config.max_file_size_bytes = 1024;
  Disk d = make_disk(4, config);
  CHECK(d.write_at("f", 1020, "12345").code() == Err::invalid);
  CHECK(d.write_at("f", UINT64_MAX - 1, "12345").code() == Err::invalid);
  CHECK_FALSE(d.exists("f"));
  REQUIRE(d.write_at("f", 1019, "12345").is_ok());
  CHECK(d.truncate("f", 1025).code() == Err::invalid);
}

// ---- durability bookkeeping ----------------------------------------------------------------------

TEST_CASE("sync moves bytes to durable; unsynced_bytes and durable_size follow") {
  Disk d = make_disk(5);
  REQUIRE(d.append("f", "abc").is_ok());
  REQUIRE(d.write_at("f", 1, "XY").is_ok());
  REQUIRE(d.truncate("f", 2).is_ok());
  CHECK(d.unsynced_bytes("f").value() == 5);
  CHECK(d.unsynced_writes("f").value() == 3);
  CHECK(d.durable_size("f").value() == 0);
  CHECK_FALSE(d.name_durable("f"));
  REQUIRE(d.sync("f").is_ok());
  CHECK(d.unsynced_bytes("f").value() == 0);
  CHECK(d.durable_contents("f").value() == "aX");
  REQUIRE(d.sync_dir().is_ok());
  CHECK(d.name_durable("f"));
}

// ---- crash: file contents ------------------------------------------------------------------------

TEST_CASE("synced and durably named data survives every crash exactly") {
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    Disk d = make_disk(seed);
    REQUIRE(d.append("aof", pattern('a', 1000)).is_ok());
    REQUIRE(d.write_at("aof", 100, pattern('b', 700)).is_ok());
    REQUIRE(d.sync("aof").is_ok());
    REQUIRE(d.sync_dir().is_ok());
    const std::string synced = contents(d, "aof");
    Rng crash_rng(seed, "crash");
    const CrashReport report = d.crash(crash_rng);
    REQUIRE(report.files.size() == 1);
    CHECK(report.files[0].writes_unsynced == 0);
    CHECK_FALSE(report.files[0].torn);
    CHECK(contents(d, "aof") == synced);
  }
}

TEST_CASE("unsynced writes are sometimes all kept, sometimes all lost, sometimes cut or torn") {
  int all_kept = 0, all_lost = 0, partial = 0, torn = 0;
  for (std::uint64_t seed = 0; seed < 400; ++seed) {
    Disk d = make_disk(seed);
    REQUIRE(d.append("aof", pattern('a', 512)).is_ok());
    REQUIRE(d.sync("aof").is_ok());
    REQUIRE(d.sync_dir().is_ok());
    for (char c : {'b', 'c', 'd'}) REQUIRE(d.append("aof", pattern(c, 2048)).is_ok());
    Rng crash_rng(seed, "crash");
    const auto f = d.crash(crash_rng).files.at(0);
    const std::string got = contents(d, "aof");
    CHECK(got.substr(0, 512) == pattern('a', 512));  // the synced part never moves
    CHECK(f.size_after_bytes == got.size());
    CHECK(f.bytes_unsynced == 3 * 2048);
    CHECK(f.bytes_kept + f.bytes_lost() == f.bytes_unsynced);
    all_kept += f.writes_kept == 3;
    all_lost += f.writes_kept == 0 && !f.torn;
    partial += f.writes_kept == 1 || f.writes_kept == 2;
    torn += f.torn;
    if (f.torn) {
      CHECK(f.torn_at_offset % 512 == 0);
      CHECK(got.size() == f.torn_at_offset);  // fill `none`: the append stops at the boundary
    }
  }
  CHECK(all_kept > 20);
  CHECK(all_lost > 20);
  CHECK(partial > 20);
  CHECK(torn > 20);
}

TEST_CASE("a crash yields durable bytes plus a prefix of the writes, torn only at a sector boundary") {
  DiskConfig config;
  config.sector_size_bytes = 16;
  int torn_seen = 0;
  for (std::uint64_t seed = 0; seed < 300; ++seed) {
    Disk d = make_disk(seed, config);
    Rng script(seed, "script");
    const auto [durable, writes] = build_file(d, "f", script);
    Rng crash_rng(seed, "crash");
    const auto f = d.crash(crash_rng).files.at(0);
    const std::string got = contents(d, "f");
    const auto all = candidates(durable, writes, 16, false);
    const bool found = std::any_of(all.begin(), all.end(), [&](const auto& c) { return c.bytes == got; });
    CHECK_MESSAGE(found, "seed " << seed << ": crash produced bytes no prefix of the writes explains");
    // Truncates never tear; a reported tear is at a boundary inside the write that followed the kept prefix.
    if (f.torn) {
      ++torn_seen;
      REQUIRE(f.writes_kept < writes.size());
      const RefWrite& w = writes[f.writes_kept];
      CHECK_FALSE(w.truncate);
      CHECK(f.torn_at_offset % 16 == 0);
      CHECK(f.torn_at_offset > w.offset);
      CHECK(f.torn_at_offset < w.offset + w.data.size());
    }
  }
  CHECK(torn_seen > 10);
}

TEST_CASE("a torn sector holds zeros or garbage only inside the write's own range") {
  for (const auto fill : {TornSectorFill::zeros, TornSectorFill::garbage}) {
    DiskConfig config;
    config.sector_size_bytes = 16;
    config.faults.torn_write_probability = 1.0;
    config.faults.torn_sector_fill = fill;
    int torn_seen = 0, garbage_nonzero = 0;
    for (std::uint64_t seed = 0; seed < 300; ++seed) {
      Disk d = make_disk(seed, config);
      Rng script(seed, "script");
      const auto [durable, writes] = build_file(d, "f", script);
      Rng crash_rng(seed, "crash");
      const auto f = d.crash(crash_rng).files.at(0);
      const std::string got = contents(d, "f");
      const auto all = candidates(durable, writes, 16, true);
      const bool found = std::any_of(all.begin(), all.end(), [&](const auto& c) { return matches(got, c); });
      CHECK_MESSAGE(found, "seed " << seed << ": bytes outside the torn sector were never written");
      if (!f.torn) continue;
      ++torn_seen;
      CHECK(f.torn_fill == fill);
      const RefWrite& w = writes[f.writes_kept];
      CHECK(f.torn_fill_bytes == std::min<std::uint64_t>(16, w.offset + w.data.size() - f.torn_at_offset));
      const std::string sector = got.substr(f.torn_at_offset, f.torn_fill_bytes);
      if (fill == TornSectorFill::zeros) {
        CHECK(sector == std::string(f.torn_fill_bytes, '\0'));
      } else {
        garbage_nonzero += sector != std::string(f.torn_fill_bytes, '\0');
      }
    }
    CHECK(torn_seen > 20);
    if (fill == TornSectorFill::garbage) CHECK(garbage_nonzero > 10);
  }
}

TEST_CASE("after a crash the surviving bytes are durable: a second crash changes nothing") {
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    Disk d = make_disk(seed);
    REQUIRE(d.append("f", pattern('a', 3000)).is_ok());
    REQUIRE(d.sync_dir().is_ok());
    Rng crash_rng(seed, "crash");
    d.crash(crash_rng);
    const std::string after_first = contents(d, "f");
    CHECK(d.unsynced_bytes("f").value() == 0);
    CHECK(d.durable_contents("f").value() == after_first);
    const auto second = d.crash(crash_rng);
    CHECK(contents(d, "f") == after_first);
    CHECK(second.files.at(0).writes_unsynced == 0);
  }
}

// ---- crash: the directory ------------------------------------------------------------------------

TEST_CASE("a created file is lost without sync_dir, even if synced; kept with it") {
  Disk d = make_disk(10);
  REQUIRE(d.append("kept", "k").is_ok());
  REQUIRE(d.sync("kept").is_ok());
  REQUIRE(d.sync_dir().is_ok());
  REQUIRE(d.append("new", "n").is_ok());
  REQUIRE(d.sync("new").is_ok());  // syncing the bytes does not make the name durable
  Rng crash_rng(10, "crash");
  const CrashReport report = d.crash(crash_rng);
  CHECK(d.list_files() == std::vector<std::string>{"kept"});
  CHECK(report.names_lost == std::vector<std::string>{"new"});
  CHECK(report.names_restored.empty());
  CHECK(d.total_bytes() == 1);
}

TEST_CASE("rename without sync_dir reverts; tmp -> sync -> rename -> sync_dir survives") {
  Disk d = make_disk(11);
  REQUIRE(d.append("conf", "old").is_ok());
  REQUIRE(d.sync("conf").is_ok());
  REQUIRE(d.sync_dir().is_ok());

  REQUIRE(d.append("conf.tmp", "new").is_ok());
  REQUIRE(d.sync("conf.tmp").is_ok());
  REQUIRE(d.rename("conf.tmp", "conf").is_ok());
  CHECK(contents(d, "conf") == "new");
  Rng crash_rng(11, "crash");
  CrashReport report = d.crash(crash_rng);
  CHECK(contents(d, "conf") == "old");  // the durable directory still names the old inode
  CHECK(d.list_files() == std::vector<std::string>{"conf"});
  CHECK(report.names_reverted == std::vector<std::string>{"conf"});

  REQUIRE(d.append("conf.tmp", "new").is_ok());
  REQUIRE(d.sync("conf.tmp").is_ok());
  REQUIRE(d.rename("conf.tmp", "conf").is_ok());
  REQUIRE(d.sync_dir().is_ok());
  report = d.crash(crash_rng);
  CHECK(contents(d, "conf") == "new");
  CHECK(d.list_files() == std::vector<std::string>{"conf"});
  CHECK(report.names_reverted.empty());
  CHECK(report.names_lost.empty());
}

TEST_CASE("a renamed-away name comes back without sync_dir, with its unsynced writes at risk") {
  int tail_kept = 0, tail_lost = 0;
  for (std::uint64_t seed = 0; seed < 100; ++seed) {
    Disk d = make_disk(seed);
    REQUIRE(d.append("a", "base").is_ok());
    REQUIRE(d.sync("a").is_ok());
    REQUIRE(d.sync_dir().is_ok());
    REQUIRE(d.append("a", "tail").is_ok());
    REQUIRE(d.rename("a", "b").is_ok());
    Rng crash_rng(seed, "crash");
    const CrashReport report = d.crash(crash_rng);
    REQUIRE(d.list_files() == std::vector<std::string>{"a"});
    CHECK(report.names_lost == std::vector<std::string>{"b"});
    CHECK(report.names_restored == std::vector<std::string>{"a"});
    const std::string got = contents(d, "a");
    CHECK((got == "base" || got == "basetail"));
    tail_kept += got == "basetail";
    tail_lost += got == "base";
  }
  CHECK(tail_kept > 10);
  CHECK(tail_lost > 10);
}

TEST_CASE("remove without sync_dir comes back after a crash; with sync_dir it stays gone") {
  Disk d = make_disk(12);
  REQUIRE(d.append("old", "data").is_ok());
  REQUIRE(d.sync("old").is_ok());
  REQUIRE(d.sync_dir().is_ok());
  REQUIRE(d.remove("old").is_ok());
  CHECK_FALSE(d.exists("old"));
  CHECK(d.total_bytes() == 0);
  Rng crash_rng(12, "crash");
  CrashReport report = d.crash(crash_rng);
  CHECK(d.exists("old"));
  CHECK(contents(d, "old") == "data");
  CHECK(report.names_restored == std::vector<std::string>{"old"});

  REQUIRE(d.remove("old").is_ok());
  REQUIRE(d.sync_dir().is_ok());
  report = d.crash(crash_rng);
  CHECK_FALSE(d.exists("old"));
  CHECK(report.files.empty());
}

TEST_CASE("a removed file's bytes are gone once sync_dir forgets it, even if recreated") {
  Disk d = make_disk(13);
  REQUIRE(d.append("f", "first").is_ok());
  REQUIRE(d.sync("f").is_ok());
  REQUIRE(d.sync_dir().is_ok());
  REQUIRE(d.remove("f").is_ok());
  REQUIRE(d.append("f", "second").is_ok());  // a new inode under the same name
  REQUIRE(d.sync("f").is_ok());
  Rng crash_rng(13, "crash");
  const CrashReport report = d.crash(crash_rng);
  CHECK(contents(d, "f") == "first");
  CHECK(report.names_reverted == std::vector<std::string>{"f"});
}

// ---- injected faults -----------------------------------------------------------------------------

TEST_CASE("EIO on write changes nothing, not even file creation, and says where it happened") {
  Disk d = make_disk(20);
  REQUIRE(d.append("aof.0000000000000000", pattern('a', 4096)).is_ok());
  DiskFaults faults;
  faults.eio_write_probability = 1.0;
  d.set_faults(faults);
  auto s = d.write_at("aof.0000000000000000", 4096, "x");
  CHECK(s.code() == Err::io_error);
  CHECK(s.message() == "c0n1/aof.0000000000000000: write_at offset 4096: injected EIO");
  REQUIRE(d.last_injected_fault().has_value());
  CHECK(d.last_injected_fault()->kind == InjectedFault::Kind::eio);
  CHECK(d.last_injected_fault()->op == DiskOp::write_at);
  CHECK(d.append("aof.0000000000000000", "y").message() ==
        "c0n1/aof.0000000000000000: append 1 bytes at offset 4096: injected EIO");
  CHECK(d.truncate("aof.0000000000000000", 0).code() == Err::io_error);
  CHECK(d.append("new", "z").code() == Err::io_error);
  CHECK_FALSE(d.exists("new"));
  CHECK(contents(d, "aof.0000000000000000") == pattern('a', 4096));
  CHECK(d.unsynced_writes("aof.0000000000000000").value() == 1);
  CHECK(d.stats().eio_injected == 4);
  // A successful operation clears the record.
  d.set_faults({});
  REQUIRE(d.append("aof.0000000000000000", "ok").is_ok());
  CHECK_FALSE(d.last_injected_fault().has_value());
}

TEST_CASE("EIO on sync leaves the data unsynced; EIO on sync_dir leaves the directory undurable") {
  Disk d = make_disk(21);
  REQUIRE(d.append("f", "abc").is_ok());
  DiskFaults faults;
  faults.eio_sync_probability = 1.0;
  d.set_faults(faults);
  CHECK(d.sync("f").message() == "c0n1/f: sync: injected EIO");
  CHECK(d.unsynced_bytes("f").value() == 3);
  CHECK(d.durable_size("f").value() == 0);
  CHECK(d.sync_dir().message() == "c0n1: sync_dir: injected EIO");
  CHECK_FALSE(d.name_durable("f"));
  Rng crash_rng(21, "crash");
  d.crash(crash_rng);
  CHECK_FALSE(d.exists("f"));
}

TEST_CASE("with a partial EIO probability the file holds exactly the writes that succeeded") {
  Disk d = make_disk(22);
  DiskFaults faults;
  faults.eio_write_probability = 0.3;
  d.set_faults(faults);
  std::string expected;
  int failed = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string chunk = pattern(static_cast<char>('a' + i % 26), 10);
    const auto s = d.append("f", chunk);
    if (s.is_ok()) {
      expected += chunk;
    } else {
      CHECK(s.code() == Err::io_error);
      ++failed;
    }
  }
  CHECK(failed > 30);
  CHECK(failed < 100);
  CHECK(contents(d, "f") == expected);
}

TEST_CASE("ENOSPC above capacity: growth fails, overwrite and shrink work, remove frees space") {
  DiskConfig config;
  config.faults.capacity_bytes = 100;
  Disk d = make_disk(23, config);
  REQUIRE(d.append("a", pattern('a', 60)).is_ok());
  REQUIRE(d.append("b", pattern('b', 40)).is_ok());
  auto s = d.append("b", "x");
  CHECK(s.code() == Err::no_space);
  CHECK(s.message() ==
        "c0n1/b: append 1 bytes at offset 40: no space left on device (100 bytes in use, 1 more "
        "needed, capacity 100)");
  CHECK(d.last_injected_fault()->kind == InjectedFault::Kind::no_space);
  CHECK(d.write_at("a", 61, "x").code() == Err::no_space);
  CHECK(d.truncate("a", 61).code() == Err::no_space);
  CHECK(d.append("c", "x").code() == Err::no_space);
  CHECK_FALSE(d.exists("c"));
  CHECK(d.write_at("a", 0, pattern('z', 60)).is_ok());  // in place: no growth
  CHECK(d.truncate("a", 50).is_ok());
  CHECK(d.append("c", pattern('c', 10)).is_ok());
  REQUIRE(d.remove("b").is_ok());
  CHECK(d.append("c", pattern('c', 40)).is_ok());
  CHECK(d.total_bytes() == 100);
  CHECK(d.stats().no_space_injected == 4);
}

TEST_CASE("forced ENOSPC fails every growing write until the injector lifts it") {
  Disk d = make_disk(24);
  REQUIRE(d.append("f", "abc").is_ok());
  DiskFaults faults;
  faults.no_space_forced = true;
  d.set_faults(faults);
  CHECK(d.append("f", "d").code() == Err::no_space);
  CHECK(d.write_at("g", 0, "d").code() == Err::no_space);
  CHECK(d.write_at("f", 0, "X").is_ok());
  faults.no_space_forced = false;
  d.set_faults(faults);
  CHECK(d.append("f", "d").is_ok());
  CHECK(contents(d, "f") == "Xbcd");
}

TEST_CASE("bit flips change one bit of the returned copy only, and are recorded") {
  Disk d = make_disk(25);
  const std::string truth = pattern('q', 300);
  REQUIRE(d.append("f", truth).is_ok());
  DiskFaults faults;
  faults.bit_flip_read_probability = 1.0;
  d.set_faults(faults);
  std::set<std::uint64_t> offsets;
  for (int i = 0; i < 100; ++i) {
    auto r = d.read_at("f", 100, 100);
    REQUIRE(r.is_ok());
    const std::string& got = r.value();
    REQUIRE(got.size() == 100);
    REQUIRE(d.last_injected_fault().has_value());
    const InjectedFault& fault = *d.last_injected_fault();
    CHECK(fault.kind == InjectedFault::Kind::bit_flip);
    int differing_bits = 0;
    for (std::size_t j = 0; j < got.size(); ++j) {
      const auto x = static_cast<unsigned char>(got[j] ^ truth[100 + j]);
      differing_bits += __builtin_popcount(x);
      if (x != 0) {
        CHECK(fault.offset == 100 + j);
        CHECK(x == (1U << fault.bit_index));
      }
    }
    CHECK(differing_bits == 1);
    offsets.insert(fault.offset);
  }
  CHECK(offsets.size() > 30);
  CHECK(contents(d, "f") == truth);  // the stored bytes never change
  CHECK(d.stats().bit_flips_injected == 100);
  d.set_faults({});
  CHECK(d.read_at("f", 0, 300).value() == truth);
  CHECK_FALSE(d.last_injected_fault().has_value());
}

TEST_CASE("EIO on read returns an error and no bytes") {
  Disk d = make_disk(26);
  REQUIRE(d.append("f", "abc").is_ok());
  DiskFaults faults;
  faults.eio_read_probability = 1.0;
  d.set_faults(faults);
  auto r = d.read_at("f", 0, 3);
  CHECK(r.code() == Err::io_error);
  CHECK(r.status().message() == "c0n1/f: read_at offset 0 length 3: injected EIO");
}

TEST_CASE("op_latency stays in its class's range, and a fixed latency draws nothing") {
  DiskConfig config;
  config.faults.latency.sync = {Nanos{1000}, Nanos{2000}};
  config.faults.latency.read = {Nanos{7}, Nanos{7}};
  Disk a = make_disk(27, config);
  Disk b = make_disk(27, config);
  std::set<std::int64_t> seen;
  for (int i = 0; i < 200; ++i) {
    const Nanos l = a.op_latency(DiskOp::sync_dir);
    CHECK(l >= Nanos{1000});
    CHECK(l <= Nanos{2000});
    seen.insert(l.count());
    CHECK(a.op_latency(DiskOp::read_at) == Nanos{7});
    CHECK(b.op_latency(DiskOp::sync) == l);  // same seed, same draws: the fixed read drew nothing
  }
  CHECK(seen.size() > 100);
}

// ---- determinism ---------------------------------------------------------------------------------

namespace {

// A disk after a fixed workload and a crash with the given crash seed: its files and report detail.
std::string crash_fingerprint(std::uint64_t crash_seed) {
  DiskConfig config;
  config.sector_size_bytes = 64;
  config.faults.torn_sector_fill = TornSectorFill::garbage;
  Disk d = make_disk(99, config);
  for (int f = 0; f < 4; ++f) {
    const std::string name = "file" + std::to_string(f);
    REQUIRE(d.append(name, pattern('a', 100)).is_ok());
    REQUIRE(d.sync(name).is_ok());
  }
  REQUIRE(d.sync_dir().is_ok());
  for (int i = 0; i < 20; ++i) {
    REQUIRE(d.append("file" + std::to_string(i % 4), pattern(static_cast<char>('b' + i), 150)).is_ok());
  }
  REQUIRE(d.rename("file3", "renamed").is_ok());
  Rng crash_rng(crash_seed, "disk/c0n1/crash");
  const CrashReport report = d.crash(crash_rng);
  std::string out = report.detail();
  for (const auto& f : report.files) out += "\n" + f.detail() + "\n" + contents(d, f.name);
  return out;
}

}  // namespace

TEST_CASE("same seed gives the same crash outcome; different seeds give different ones") {
  std::set<std::string> distinct;
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    const std::string a = crash_fingerprint(seed);
    CHECK(a == crash_fingerprint(seed));
    distinct.insert(a);
  }
  CHECK(distinct.size() == 20);
}

TEST_CASE("the crash report describes what happened in trace form") {
  DiskConfig config;
  config.faults.torn_write_probability = 1.0;
  config.faults.torn_sector_fill = TornSectorFill::zeros;
  // Find a seed whose crash keeps nothing and tears the only write, so the detail is known.
  for (std::uint64_t seed = 0; seed < 100; ++seed) {
    Disk d = make_disk(seed, config);
    REQUIRE(d.append("aof", pattern('a', 1024)).is_ok());
    REQUIRE(d.sync_dir().is_ok());
    REQUIRE(d.append("tmp", "x").is_ok());
    Rng crash_rng(seed, "crash");
    const CrashReport report = d.crash(crash_rng);
    REQUIRE(report.files.size() == 1);
    if (report.files[0].writes_kept != 0) continue;
    CHECK(report.files[0].detail() ==
          "file=aof inode=1 writes_kept=0/1 bytes_kept=512 bytes_lost=512 size=1024->1024 torn=1 "
          "torn_at=512 torn_fill=zeros torn_fill_bytes=512");
    CHECK(report.detail() ==
          "files=1 bytes_lost=512 torn_files=1 names_lost=tmp names_restored= names_reverted=");
    CHECK(contents(d, "aof") == pattern('a', 512) + std::string(512, '\0'));
    return;
  }
  FAIL("no seed in 0..99 kept nothing");
}

TEST_CASE("wipe leaves an empty disk with no durable state, keeping faults and stats") {
  Disk d = make_disk(30);
  REQUIRE(d.append("f", "abc").is_ok());
  REQUIRE(d.sync("f").is_ok());
  REQUIRE(d.sync_dir().is_ok());
  DiskFaults faults;
  faults.capacity_bytes = 10;
  d.set_faults(faults);
  d.wipe();
  CHECK(d.list_files().empty());
  CHECK(d.total_bytes() == 0);
  Rng crash_rng(30, "crash");
  CHECK(d.crash(crash_rng).files.empty());
  CHECK(d.faults().capacity_bytes == 10);
  CHECK(d.stats().writes == 1);
}
