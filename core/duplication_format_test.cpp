// core/duplication_format_test.cpp — the pure parts of duplication: dup.state round trips and its
// errors (state and confirmed decree survive a restart exactly), and the DUPNOOP / DUPAPPLY / DUPMARK
// records with the at-most-once progress they carry.
#include "core/duplication_format.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/cluster_config.h"
#include "core/commands.h"

namespace replsim::core {
namespace {

DupEntry entry(std::string id, DupState state) {
  DupEntry e;
  e.id = std::move(id);
  e.stream = e.id + ".00000000deadbeef";
  e.targets = {"c1n0:6379", "c1n1:7000"};
  e.state = state;
  return e;
}

TEST_CASE("dup.state: every state, the confirmed decree and address, flags and the password round-trip") {
  std::vector<DupEntry> entries;
  for (DupState s :
       {DupState::init, DupState::prepare, DupState::app, DupState::log, DupState::pause, DupState::removed}) {
    DupEntry e = entry(std::string("d-") + std::string(dup_state_name(s)), s);
    e.confirmed_decree = 1000 + static_cast<std::uint64_t>(s);
    e.confirmed_address = 40960 + static_cast<std::uint64_t>(s);
    e.log_start_decree = 500 + static_cast<std::uint64_t>(s);
    e.log_started = s == DupState::log || s == DupState::pause;
    e.orphaned = s == DupState::pause;
    e.with_checkpoint = s != DupState::init;
    e.password = s == DupState::app ? std::string("p w\n\x01=,") : std::string();
    entries.push_back(e);
    CHECK(parse_dup_state(dup_state_name(s)) == s);
  }
  const std::string body = serialize_dup_entries(entries);
  auto parsed = parse_dup_entries(body);
  REQUIRE(parsed.is_ok());
  // Written in id order.
  std::vector<DupEntry> sorted = entries;
  std::sort(sorted.begin(), sorted.end(), [](const DupEntry& a, const DupEntry& b) { return a.id < b.id; });
  CHECK(parsed.value() == sorted);
  CHECK(serialize_dup_entries(parsed.value()) == body);
  CHECK(parse_dup_entries(serialize_dup_entries({})).value().empty());
}

TEST_CASE("dup.state: damaged bodies are refused with the line and the field named") {
  const std::string good = serialize_dup_entries({entry("dup0", DupState::log)});
  auto error_of = [](const std::string& body) {
    auto r = parse_dup_entries(body);
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.code() == Err::invalid);
    return r.status().message();
  };
  CHECK(error_of("").find("empty") != std::string::npos);
  CHECK(error_of("replsim-duplication 2\n").find("line 1") != std::string::npos);
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const auto at = s.find(from);
    REQUIRE(at != std::string::npos);
    s.replace(at, from.size(), to);
    return s;
  };
  CHECK(error_of(replace("state=LOG", "state=RUNNING")).find("unknown state \"RUNNING\"") != std::string::npos);
  CHECK(error_of(replace("confirmed_decree=0", "confirmed_decree=-1")).find("confirmed_decree") != std::string::npos);
  CHECK(error_of(replace("confirmed_decree=0 ", "")).find("missing field \"confirmed_decree\"") != std::string::npos);
  CHECK(error_of(replace("checkpoint=1", "checkpoint=2")).find("\"checkpoint\"") != std::string::npos);
  CHECK(error_of(replace("password=-", "password=zz")).find("password") != std::string::npos);
  CHECK(error_of(replace("id=dup0", "id=dup/0")).find("bad id") != std::string::npos);
  CHECK(error_of(good + good.substr(good.find("dup "))).find("appears twice") != std::string::npos);
  CHECK(error_of(replace("dup id", "dupe id")).find("line 2") != std::string::npos);
}

TEST_CASE("DUPAPPLY applies the record and its slot's progress together; DUPMARK; DUPNOOP changes nothing") {
  Keyspace ks;
  CHECK(is_duplication_record(std::vector<std::string>{"DUPNOOP"}));
  CHECK(is_duplication_record(std::vector<std::string>{"DUPMARK", "s.1", "3"}));
  CHECK_FALSE(is_duplication_record(std::vector<std::string>{"SET", "k", "v"}));
  REQUIRE(apply_effect(ks, {"DUPNOOP"}).is_ok());
  CHECK(ks.empty());
  const int l = dup_record_slot({"RPUSH", "l", "a"});
  const int str = dup_record_slot({"SET", "str", "x"});
  CHECK(l == key_hash_slot("l"));
  CHECK(dup_record_slot({"FLUSHALL"}) == kDupNoSlot);
  CHECK(dup_record_slot({"NOSUCH", "k"}) == kDupNoSlot);
  CHECK(dup_progress(ks, "s.1", l) == 0);
  REQUIRE(apply_effect(ks, make_dup_apply_record("s.1", l, 7, {"RPUSH", "l", "a"})).is_ok());
  CHECK(dup_progress(ks, "s.1", l) == 7);
  CHECK(dup_progress(ks, "s.1", str) == 0);  // per slot
  CHECK(dup_progress(ks, "s.1") == 0);       // the mark
  CHECK(ks.find("l")->list().size() == 1);
  CHECK(is_dup_progress_key(dup_progress_key("s.1")));
  CHECK(is_dup_progress_key(dup_progress_key("s.1", l)));
  CHECK_FALSE(is_dup_progress_key("l"));
  // A record that does not apply changes nothing, not even the progress.
  REQUIRE(apply_effect(ks, {"SET", "str", "x"}).is_ok());
  const Keyspace before = ks;
  CHECK_FALSE(apply_effect(ks, make_dup_apply_record("s.1", str, 8, {"RPUSH", "str", "b"})).is_ok());
  CHECK(ks == before);
  // Progress only (a record the target skipped), and progress never goes back on replay.
  REQUIRE(apply_effect(ks, make_dup_apply_record("s.1", str, 8, {})).is_ok());
  CHECK(dup_progress(ks, "s.1", str) == 8);
  REQUIRE(apply_effect(ks, make_dup_apply_record("s.1", str, 3, {})).is_ok());
  CHECK(dup_progress(ks, "s.1", str) == 8);
  CHECK(dup_progress(ks, "other.2", str) == 0);
  // The mark is the stream's own, apart from the slots' progress.
  REQUIRE(apply_effect(ks, make_dup_mark_record("s.1", 10)).is_ok());
  CHECK(dup_progress(ks, "s.1") == 10);
  CHECK(dup_progress(ks, "s.1", l) == 7);
  CHECK(dup_progress(ks, "s.1", 5) == 0);
  REQUIRE(apply_effect(ks, make_dup_mark_record("s.1", 4)).is_ok());
  CHECK(dup_progress(ks, "s.1") == 10);
  // Malformed records are refused.
  CHECK_FALSE(apply_effect(ks, {"DUPNOOP", "x"}).is_ok());
  CHECK_FALSE(apply_effect(ks, {"DUPMARK", "s.1"}).is_ok());
  CHECK_FALSE(apply_effect(ks, {"DUPMARK", "s.1", "0"}).is_ok());
  CHECK_FALSE(apply_effect(ks, {"DUPAPPLY", "s.1", "3"}).is_ok());
  CHECK_FALSE(apply_effect(ks, {"DUPAPPLY", "s/1", "3", "4"}).is_ok());
  CHECK_FALSE(apply_effect(ks, {"DUPAPPLY", "s.1", "16384", "4"}).is_ok());
  CHECK_FALSE(apply_effect(ks, {"DUPAPPLY", "s.1", "3", "0"}).is_ok());
  CHECK_FALSE(apply_effect(ks, make_dup_apply_record("s.1", l, 9, {"DUPNOOP"})).is_ok());
  CHECK(dup_progress(ks, "s.1", l) == 7);
}

TEST_CASE("DUPDEFS: a shard's duplication definitions travel as a record into a progress-prefixed key") {
  Keyspace ks;
  CHECK(dup_definitions(ks).empty());
  DupEntry running;
  running.id = "dup0";
  running.stream = "dup0.00000000000000aa";
  running.targets = {"t1:7000", "t2:7000"};
  running.password = "pw";
  running.state = DupState::log;
  running.log_started = true;
  running.confirmed_decree = 44;
  running.confirmed_address = 900;
  DupEntry paused = running;
  paused.id = "dup1";
  paused.stream = "dup1.00000000000000bb";
  paused.with_checkpoint = false;
  paused.state = DupState::pause;
  // Only what the commands decided: no progress, and every running state reads as INIT.
  const DupEntry def = dup_definition_of(running);
  CHECK(def.state == DupState::init);
  CHECK(def.confirmed_decree == 0);
  CHECK_FALSE(def.log_started);
  CHECK(def.targets == running.targets);
  CHECK(def.password == "pw");
  CHECK(dup_definition_of(paused).state == DupState::pause);
  const auto record = make_dup_defs_record({def, dup_definition_of(paused)});
  CHECK(is_duplication_record(record));
  REQUIRE(apply_effect(ks, record).is_ok());
  const std::vector<DupEntry> defs = dup_definitions(ks);
  REQUIRE(defs.size() == 2);
  CHECK(defs[0] == def);
  CHECK_FALSE(defs[1].with_checkpoint);
  CHECK(is_dup_progress_key(kDupDefsKey));
  // A malformed record changes nothing; an empty list replaces the definitions.
  const Keyspace before = ks;
  CHECK_FALSE(apply_effect(ks, {"DUPDEFS", "not a dup.state body"}).is_ok());
  CHECK_FALSE(apply_effect(ks, {"DUPDEFS"}).is_ok());
  CHECK(ks == before);
  REQUIRE(apply_effect(ks, make_dup_defs_record({})).is_ok());
  CHECK(dup_definitions(ks).empty());
}

TEST_CASE("ids and stream names") {
  CHECK(valid_dup_id("dup0"));
  CHECK(valid_dup_id("a-b_c.d"));
  CHECK_FALSE(valid_dup_id(""));
  CHECK_FALSE(valid_dup_id("a b"));
  CHECK_FALSE(valid_dup_id(std::string(65, 'a')));
  CHECK(valid_dup_stream("dup0.0123456789abcdef"));
  CHECK_FALSE(valid_dup_stream("dup0:x"));
}

}  // namespace
}  // namespace replsim::core
