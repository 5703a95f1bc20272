// sim/duplication_test.cpp — cross-cluster duplication under the simulator: a one-node source cluster
// (n0, no password) duplicates to a target cluster with a password (n1 and n2 primaries of half the
// slots each, n3 a replica of n1). Scripted after incident 004 (../shared/seeds/README.md): blocked in
// PREPARE without credentials (and with a wrong password, retrying with backoff), the source restarted at
// random points of the PREPARE work, then fixed; plus crashes of source and target nodes in every state
// and at each disk operation of ADD, the commands and their errors, a paused duplication and one whose
// target is unreachable keeping their AOF, a forced failover on the target, a failover of the source
// (the new primary takes the duplication over), and the known-bug switch.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/duplication_format.h"
#include "core/known_bugs.h"
#include "core/resp.h"
#include "core/store.h"
#include "sim/duplication_world.h"
#include "sim/kernel/rng.h"
#include "sim/testing/cluster_harness.h"

namespace replsim::sim::testing {
namespace {

using core::RespValue;
using namespace std::chrono_literals;

constexpr const char* kPassword = "s3cret";
constexpr const char* kTargets = "n1:6379,n2:6379,n3:6379";

RespValue ok() { return RespValue::simple("OK"); }

class DupWorld {
 public:
  explicit DupWorld(std::uint64_t seed = 1, core::StoreConfig source = cluster_store_config()) : h(4, source, seed) {
    for (std::size_t i = 1; i < 4; ++i) {
      h.fx.store_config(i) = cluster_store_config();
      h.fx.store_config(i).requirepass = kPassword;
      h.fx.store_config(i).aof_page_size_bytes = 8192;  // duplicated records carry a little more
    }
  }

  ClusterHarness h;
  std::uint64_t pushes = 0;

  // ---- inside a task ----
  RespValue call(std::size_t i, const Argv& argv) {
    if (i > 0) (void)h.call(i, {"AUTH", kPassword});
    return h.call(i, argv);
  }
  // Source n0 owns every slot; target: n1 [0, 8191], n2 [8192, 16383], n3 replicates n1.
  void build() {
    CHECK(h.call(0, {"CLUSTER", "ADDSLOTSRANGE", "0", "16383"}) == ok());
    CHECK(call(1, {"CLUSTER", "MEET", "n2", "6379"}) == ok());
    CHECK(call(1, {"CLUSTER", "MEET", "n3", "6379"}) == ok());
    CHECK(h.eventually([&] {
      for (std::size_t i = 1; i < 4; ++i) {
        if (h.store(i).cluster_config().nodes().size() != 3) return false;
      }
      return true;
    }));
    CHECK(call(1, {"CLUSTER", "ADDSLOTSRANGE", "0", "8191"}) == ok());
    CHECK(call(2, {"CLUSTER", "ADDSLOTSRANGE", "8192", "16383"}) == ok());
    CHECK(h.eventually([&] { return call(3, {"CLUSTER", "REPLICATE", h.id(1)}) == ok(); }));
    CHECK(h.eventually([&] { return h.store(3).master_link_up(); }));
  }
  // Writes to the source: strings, counters and list pushes with unique values (so a record applied
  // twice on the target shows as a duplicated element), some deletes.
  void write(std::size_t ops, std::uint64_t salt = 0) {
    for (std::size_t k = 0; k < ops; ++k) {
      const std::size_t key = (k * 7 + salt) % 23;
      switch ((k + salt) % 5) {
        case 0:
          (void)h.call(0, {"SET", fmt::format("s{}", key), fmt::format("v{}-{}", k, salt)});
          break;
        case 1:
          (void)h.call(0, {"INCR", fmt::format("n{}", key % 5)});
          break;
        case 4:
          if (key % 6 == 0) {
            (void)h.call(0, {"DEL", fmt::format("s{}", key)});
            break;
          }
          [[fallthrough]];
        default:
          (void)h.call(0, {"RPUSH", fmt::format("l{}", key % 7), fmt::format("p{}", pushes++)});
          break;
      }
    }
  }
  std::optional<core::DupStatus> status(const std::string& id = "dup0") {
    if (h.fx.store(0) == nullptr) return std::nullopt;
    return h.store(0).duplication().status(id);
  }
  bool in_state(core::DupState s) {
    auto st = status();
    return st && st->entry.state == s;
  }
  // The target's primaries together hold exactly the source's keys, and everything was shipped.
  bool converged() {
    core::Store* source = h.fx.store(0);
    auto st = status();
    if (source == nullptr || !st || st->entry.state != core::DupState::log) return false;
    if (st->shipped_decree != source->last_decree()) return false;
    std::map<std::string, std::uint64_t> target;
    for (std::size_t i = 1; i < 4; ++i) {
      core::Store* s = h.fx.store(i);
      if (s == nullptr || s->role() != core::Role::master) continue;
      for (const auto& [k, v] : duplicated_value_hashes(s->keyspace())) target[k] = v;
    }
    return target == duplicated_value_hashes(source->keyspace());
  }
  // The first keys where the target's primaries and the source differ, for failure messages.
  std::string difference() {
    core::Store* source = h.fx.store(0);
    if (source == nullptr) return "source down";
    std::map<std::string, std::uint64_t> target;
    std::map<std::string, std::size_t> where;
    for (std::size_t i = 1; i < 4; ++i) {
      core::Store* s = h.fx.store(i);
      if (s == nullptr || s->role() != core::Role::master) continue;
      for (const auto& [k, v] : duplicated_value_hashes(s->keyspace())) {
        target[k] = v;
        where[k] = i;
      }
    }
    std::string out;
    for (const auto& [k, v] : duplicated_value_hashes(source->keyspace())) {
      auto it = target.find(k);
      if (it == target.end()) {
        out += fmt::format(" {}:missing", k);
      } else if (it->second != v) {
        out += fmt::format(" {}:differs-on-n{}", k, where[k]);
      }
      if (out.size() > 300) break;
    }
    return out;
  }
  // No list element twice on any target node (every push is unique).
  void check_no_duplicated_elements() {
    for (std::size_t i = 1; i < 4; ++i) {
      core::Store* s = h.fx.store(i);
      if (s == nullptr) continue;
      for (const std::string& key : s->keyspace().keys()) {
        const core::Value* v = s->keyspace().find(key);
        if (v->type() != core::ValueType::list) continue;
        std::set<std::string> seen;
        for (const std::string& e : v->list()) {
          INFO("node n" << i << " list " << key << " element " << e);
          CHECK(seen.insert(e).second);
        }
      }
    }
  }
  void check_no_aborts() {
    for (std::size_t i = 0; i < 4; ++i) {
      INFO("node n" << i);
      CHECK(h.fx.aborts(i).empty());
    }
  }
};

// ---- the happy path and the commands ---------------------------------------------------------------

TEST_CASE("duplication with a checkpoint: INIT -> PREPARE -> APP -> LOG, the target follows, MOVED across shards") {
  DupWorld w;
  w.h.start_all();
  w.h.run([&] {
    w.build();
    w.write(120);
    CHECK(w.h.call(0, {"DUPLICATION", "ADD", "dup0", kTargets, "PASSWORD", kPassword}) == ok());
    auto st = w.status();
    REQUIRE(st);
    // The last decree before ADD's own record, DUPDEFS (the shard's definitions, for its replicas).
    CHECK(st->min_checkpoint_decree == static_cast<std::int64_t>(w.h.store(0).last_decree()) - 1);
    std::set<core::DupState> seen;
    CHECK(w.h.eventually(
        [&] {
          seen.insert(w.status()->entry.state);
          return w.in_state(core::DupState::log);
        },
        20s));
    CHECK(seen.count(core::DupState::prepare) == 1);
    CHECK(w.status()->keys_restored > 20);
    CHECK(w.h.eventually([&] { return w.converged(); }, 20s));
    // Writes after LOG began follow, to both target shards (the source ships each to its owner).
    w.write(200, 3);
    CHECK(w.h.eventually([&] { return w.converged(); }, 20s));
    st = w.status();
    CHECK(st->records_applied > 150);
    CHECK(st->records_already == 0);
    CHECK(st->entry.confirmed_decree <= st->shipped_decree);
    CHECK(w.h.store(1).keyspace().size() > 3);
    CHECK(w.h.store(2).keyspace().size() > 3);
    // The target's replica follows its primary, progress key included.
    CHECK(w.h.converged(1, 3));
    // LIST shows the state and the decrees.
    const RespValue list = w.h.call(0, {"DUPLICATION", "LIST"});
    REQUIRE(list.type == RespValue::Type::bulk);
    CHECK(list.text.starts_with("id=dup0 state=LOG confirmed_decree="));
    CHECK(list.text.find("min_checkpoint_decree=") != std::string::npos);
    CHECK(list.text.find("last_error=\"\"") != std::string::npos);
    w.check_no_duplicated_elements();
  });
  w.check_no_aborts();
}

TEST_CASE("duplication commands: errors, PAUSE keeps the AOF it needs, START resumes, REMOVE, NOCHECKPOINT") {
  DupWorld w;
  w.h.start_all();
  w.h.run([&] {
    w.build();
    auto err = [&](const Argv& argv, std::string_view prefix) {
      const RespValue r = w.h.call(0, argv);
      INFO(r.to_display());
      CHECK(r.is_error());
      CHECK(r.text.starts_with(prefix));
    };
    err({"DUPLICATION"}, "ERR wrong number of arguments for 'duplication' command");
    err({"DUPLICATION", "FROB"}, "ERR unknown subcommand or wrong number of arguments for 'FROB'");
    err({"DUPLICATION", "ADD", "dup 0", kTargets}, "ERR invalid duplication id");
    err({"DUPLICATION", "ADD", "dup0", "n1"}, "ERR invalid target address 'n1'");
    err({"DUPLICATION", "ADD", "dup0", kTargets, "SOMETIMES"}, "ERR syntax error");
    err({"DUPLICATION", "PAUSE", "nope"}, "ERR no such duplication 'nope'");
    err({"DUPLICATION", "START", "nope"}, "ERR no such duplication");
    err({"DUPLICATION", "SET", "nope", "PASSWORD", "x"}, "ERR no such duplication");
    CHECK(w.call(3, {"DUPLICATION", "ADD", "dup0", "n0:6379"}).text.starts_with("ERR DUPLICATION ADD needs a primary"));
    CHECK(w.h.call(0, {"DUPLICATION", "HELP"}).type == RespValue::Type::array);
    // A target without the password refuses the target-side commands.
    FixtureClient stranger(w.h.fx, "stranger");
    stranger.set_default_node(1);
    auto refused = stranger.call({"DUPLICATION", "PROGRESS", "x.1"});
    REQUIRE(refused.is_ok());
    CHECK(refused->text.starts_with("NOAUTH"));

    w.write(40);
    CHECK(w.h.call(0, {"DUPLICATION", "ADD", "dup0", kTargets, "PASSWORD", kPassword, "NOCHECKPOINT"}) == ok());
    err({"DUPLICATION", "ADD", "dup0", kTargets}, "ERR duplication 'dup0' already exists (state");
    const std::uint64_t added_at = w.h.store(0).last_decree() - 1;  // ADD's DUPDEFS record follows
    CHECK(w.status()->entry.confirmed_decree == added_at);
    CHECK(w.h.eventually([&] { return w.in_state(core::DupState::log); }));
    // Only writes after ADD go: the 40 before stay on the source alone.
    w.h.call(0, {"SET", "after-add", "1"});
    CHECK(w.h.eventually([&] { return w.status()->shipped_decree == w.h.store(0).last_decree(); }));
    CHECK(w.call(1, {"GET", "s0"}).type != RespValue::Type::bulk);
    CHECK(w.status()->entry.confirmed_decree > added_at);

    // PAUSE: nothing ships, and checkpoints do not truncate the AOF it still needs.
    CHECK(w.h.call(0, {"DUPLICATION", "PAUSE", "dup0"}) == ok());
    err({"DUPLICATION", "PAUSE", "dup0"}, "ERR duplication 'dup0' is already paused");
    const std::uint64_t paused_at = w.status()->shipped_decree;
    w.write(300, 1);
    for (int i = 0; i < 3; ++i) {
      w.write(20, static_cast<std::uint64_t>(i));
      CHECK(w.h.call(0, {"SAVE"}) == ok());
    }
    w.h.sleep(500ms);
    CHECK(w.status()->shipped_decree == paused_at);
    CHECK(w.status()->entry.state == core::DupState::pause);
    CHECK(w.h.store(0).aof_begin_address() <= w.status()->entry.confirmed_address);
    CHECK(w.h.call(0, {"DUPLICATION", "START", "dup0"}) == ok());
    err({"DUPLICATION", "START", "dup0"}, "ERR duplication 'dup0' is not paused (state LOG)");
    CHECK(w.h.eventually([&] { return w.status()->shipped_decree == w.h.store(0).last_decree(); }, 20s));
    CHECK(w.call(1, {"GET", "after-add"}) == RespValue::bulk("1"));

    // REMOVE: it stays listed, its AOF is released, and ADD with the same id starts a new stream.
    const std::string old_stream = w.status()->entry.stream;
    CHECK(w.h.call(0, {"DUPLICATION", "REMOVE", "dup0"}) == ok());
    CHECK(w.status()->entry.state == core::DupState::removed);
    CHECK(w.h.store(0).duplication().aof_needed_from() == UINT64_MAX);
    CHECK(w.h.call(0, {"DUPLICATION", "LIST"}).text.find("state=REMOVED") != std::string::npos);
    err({"DUPLICATION", "REMOVE", "dup0"}, "ERR no such duplication");
    CHECK(w.h.call(0, {"DUPLICATION", "ADD", "dup0", kTargets, "PASSWORD", kPassword}) == ok());
    CHECK(w.status()->entry.stream != old_stream);
    // With a checkpoint the target now gets everything, the 40 early writes too.
    CHECK(w.h.eventually([&] { return w.converged(); }, 30s));
    w.check_no_duplicated_elements();
  });
  w.check_no_aborts();
}

TEST_CASE("PAUSE in PREPARE or APP holds the duplication there; START goes back to PREPARE, then on to LOG") {
  for (const core::DupState at : {core::DupState::prepare, core::DupState::app}) {
    INFO("paused in " << core::dup_state_name(at));
    DupWorld w;
    w.h.start_all();
    w.h.run([&] {
      w.build();
      w.write(120);
      CHECK(w.h.call(0, {"DUPLICATION", "ADD", "dup0", kTargets, "PASSWORD", kPassword}) == ok());
      REQUIRE(w.h.eventually([&] { return w.in_state(at); }, 20s, std::chrono::microseconds(100)));
      CHECK(w.h.call(0, {"DUPLICATION", "PAUSE", "dup0"}) == ok());
      CHECK(w.in_state(core::DupState::pause));
      // Paused, it stays paused: no step of PREPARE or APP goes on behind it, writes or not.
      w.write(40, 1);
      w.h.sleep(5s);
      CHECK(w.in_state(core::DupState::pause));
      CHECK_FALSE(w.status()->entry.log_started);
      const RespValue list = w.h.call(0, {"DUPLICATION", "LIST"});
      REQUIRE(list.type == RespValue::Type::bulk);
      CHECK(list.text.starts_with("id=dup0 state=PAUSE "));
      // Nothing was shipped yet, so START prepares again (a new checkpoint), then applies it and logs.
      CHECK(w.h.call(0, {"DUPLICATION", "START", "dup0"}) == ok());
      CHECK(w.in_state(core::DupState::prepare));
      w.write(40, 2);
      CHECK(w.h.eventually([&] { return w.converged(); }, 30s));
      INFO(w.difference());
      CHECK(w.status()->min_checkpoint_decree >= 1);
      w.check_no_duplicated_elements();
    });
    w.check_no_aborts();
  }
}

TEST_CASE("state, confirmed decree and password survive restarts; min_checkpoint_decree is rebuilt") {
  DupWorld w(3);
  w.h.start_all();
  core::DupEntry before;
  w.h.run([&] {
    w.build();
    w.write(40);
    CHECK(w.h.call(0, {"DUPLICATION", "ADD", "dup0", kTargets, "PASSWORD", kPassword}) == ok());
    CHECK(w.h.call(0, {"DUPLICATION", "ADD", "gone", kTargets, "NOCHECKPOINT"}) == ok());
    CHECK(w.h.call(0, {"DUPLICATION", "REMOVE", "gone"}) == ok());
    CHECK(w.h.eventually([&] { return w.converged(); }, 20s));
    CHECK(w.h.call(0, {"DUPLICATION", "PAUSE", "dup0"}) == ok());
    w.write(30, 1);  // not shipped while paused
    before = w.status()->entry;
  });
  for (int round = 0; round < 2; ++round) {
    w.h.crash(0);
    w.h.restart(0);
    w.h.run([&] {
      auto st = w.status();
      REQUIRE(st);
      CHECK(st->entry == before);  // state PAUSE, confirmed decree and address, stream, password, targets
      CHECK(st->min_checkpoint_decree == static_cast<std::int64_t>(w.h.store(0).last_decree()));
      auto gone = w.status("gone");
      REQUIRE(gone);
      CHECK(gone->entry.state == core::DupState::removed);
    });
  }
  w.h.run([&] {
    CHECK(w.h.call(0, {"DUPLICATION", "START", "dup0"}) == ok());
    CHECK(w.h.eventually([&] { return w.converged(); }, 20s));
    CHECK(w.h.eventually([&] { return w.status()->entry.confirmed_decree == w.h.store(0).last_decree(); }));
    CHECK(w.status()->entry.confirmed_decree > before.confirmed_decree);
    w.check_no_duplicated_elements();
  });
  w.check_no_aborts();
}

// ---- incident 004 ----------------------------------------------------------------------------------

// Source without credentials, target with auth: blocked in PREPARE. The source is restarted several
// times, each time at a random point of the PREPARE work (a crash before one of its next disk
// operations: the empty write, the checkpoint's files, dup.state, or while it retries the target).
void incident_004(std::uint64_t seed, bool with_bug) {
  INFO("seed " << seed << (with_bug ? " with duplication-decree-reset" : ""));
  core::StoreConfig source = cluster_store_config();
  if (with_bug) REQUIRE(core::enable_known_bug(source.known_bugs, "duplication-decree-reset").is_ok());
  DupWorld w(seed, source);
  kernel::Rng rng(seed, "incident-004");
  w.h.start_all();
  w.h.run([&] {
    w.build();
    w.write(60);
    // No PASSWORD: cluster B requires one.
    CHECK(w.h.call(0, {"DUPLICATION", "ADD", "dup0", kTargets}) == ok());
    CHECK(w.h.eventually([&] { return w.status()->last_error.find("NOAUTH") != std::string::npos; }, 10s));
    CHECK(w.in_state(core::DupState::prepare));
    CHECK(w.status()->last_error.find("DUPLICATION SET dup0 PASSWORD") != std::string::npos);
  });
  for (int round = 0; round < 4; ++round) {
    INFO("restart " << round);
    // New writes make the next PREPARE take a new checkpoint, so the crash can land inside it.
    w.h.run([&] { w.write(10 + round * 5, static_cast<std::uint64_t>(round)); });
    w.h.fx.crash_before_mutating_op(0, w.h.fx.mutating_disk_ops(0) + rng.below(12));
    w.h.fx.run_for(std::chrono::milliseconds(200 + rng.below(2500)));
    w.h.crash(0);  // if the crash point was not reached, the node goes down now
    const core::Status restarted = w.h.fx.restart(0);
    if (with_bug) {
      // The restored duplication is still in PREPARE, its min_checkpoint_decree is -1 and the node
      // aborts on the assertion, at every start: a crash loop.
      CHECK_FALSE(restarted.is_ok());
      REQUIRE_FALSE(w.h.fx.aborts(0).empty());
      CHECK(w.h.fx.aborts(0).back().find("min_checkpoint_decree -1 must be greater than 0") != std::string::npos);
      w.h.fx.crash(0);
      CHECK_FALSE(w.h.fx.restart(0).is_ok());
      CHECK(w.h.fx.aborts(0).size() == 2);
      return;
    }
    REQUIRE(restarted.is_ok());
    w.h.run([&] {
      auto st = w.status();
      REQUIRE(st);
      CHECK(st->entry.state == core::DupState::prepare);
      CHECK(st->min_checkpoint_decree >= 1);
      CHECK(st->min_checkpoint_decree <= static_cast<std::int64_t>(w.h.store(0).last_decree()));
      CHECK(w.h.eventually([&] { return w.status()->last_error.find("NOAUTH") != std::string::npos; }, 10s));
      CHECK(w.in_state(core::DupState::prepare));
    });
  }
  w.h.run([&] {
    // Fix the credentials: it reaches LOG and the target converges.
    CHECK(w.h.call(0, {"DUPLICATION", "SET", "dup0", "PASSWORD", kPassword}) == ok());
    CHECK(w.h.eventually([&] { return w.in_state(core::DupState::log); }, 20s));
    w.write(50, 9);
    CHECK(w.h.eventually([&] { return w.converged(); }, 30s));
    w.check_no_duplicated_elements();
  });
  w.check_no_aborts();
}

TEST_CASE("incident 004: blocked in PREPARE by AUTH, the source restarted at random points of PREPARE, then fixed") {
  for (std::uint64_t seed = 1; seed <= 4; ++seed) incident_004(seed, false);
}

TEST_CASE("KNOWN BUG duplication-decree-reset: a restart in PREPARE aborts the node on min_checkpoint_decree") {
  incident_004(1, true);
}

TEST_CASE("KNOWN BUG duplication-decree-reset: off by default; after a restart in LOG the decree is -1") {
  CHECK_FALSE(core::StoreConfig{}.known_bugs.duplication_decree_reset);
  core::StoreConfig source = cluster_store_config();
  REQUIRE(core::enable_known_bug(source.known_bugs, "duplication-decree-reset").is_ok());
  DupWorld w(1, source);
  w.h.start_all();
  w.h.run([&] {
    w.build();
    w.write(30);
    CHECK(w.h.call(0, {"DUPLICATION", "ADD", "dup0", kTargets, "PASSWORD", kPassword}) == ok());
    CHECK(w.status()->min_checkpoint_decree >= 1);  // set by ADD
    CHECK(w.h.eventually([&] { return w.converged(); }, 20s));
  });
  w.h.crash(0);
  w.h.restart(0);
  w.h.run([&] {
    CHECK(w.status()->min_checkpoint_decree == -1);  // not rebuilt; LOG does not assert on it
    w.write(20, 1);
    CHECK(w.h.eventually([&] { return w.converged(); }, 20s));
  });
}

// A wrong password (WRONGPASS, where incident 004 had none: NOAUTH): PREPARE shows the error and retries
// with a backoff that doubles from 200 ms to 2 s (read from the source's trace: each failure and the
// delay it chose, and the simulated time until the next attempt); restarts keep it blocked and valid.
TEST_CASE("a wrong password: blocked in PREPARE with WRONGPASS shown, retries with backoff, restarts, then fixed") {
  DupWorld w(21);
  kernel::Rng rng(21, "wrong-password");
  struct Failure {
    std::int64_t time_ns;
    std::int64_t retry_ms;
  };
  std::vector<Failure> failures;
  w.h.fx.trace().set_sink([&](const kernel::TraceEvent& e) {
    if (e.node != "n0" || e.kind != "dup.step.failed") return;
    const std::size_t at = e.detail.find("retry_in_ms=");
    CHECK(at != std::string::npos);  // (not REQUIRE: the sink runs inside a fiber)
    if (at == std::string::npos) return;
    failures.push_back({e.time_ns, std::stoll(e.detail.substr(at + 12))});
  });
  w.h.start_all();
  w.h.run([&] {
    w.build();
    w.write(40);
    CHECK(w.h.call(0, {"DUPLICATION", "ADD", "dup0", kTargets, "PASSWORD", "wrong"}) == ok());
    w.h.sleep(12s);
    auto st = w.status();
    REQUIRE(st);
    CHECK(st->entry.state == core::DupState::prepare);
    CHECK(st->last_error.find("refused AUTH: WRONGPASS") != std::string::npos);
    CHECK(st->last_error.find("DUPLICATION SET dup0 PASSWORD") != std::string::npos);
    const RespValue list = w.h.call(0, {"DUPLICATION", "LIST"});
    CHECK(list.text.find("state=PREPARE") != std::string::npos);
    CHECK(list.text.find("WRONGPASS") != std::string::npos);
  });
  // 200, 400, 800, 1600, then 2000 ms for ever; each retry waits at least the delay it announced.
  REQUIRE(failures.size() >= 6);
  CHECK(failures.size() <= 10);  // ~11 s of retrying: no busy loop
  const std::vector<std::int64_t> first{200, 400, 800, 1600, 2000, 2000};
  for (std::size_t i = 0; i < failures.size(); ++i) {
    INFO("failure " << i);
    if (i < first.size()) CHECK(failures[i].retry_ms == first[i]);
    CHECK(failures[i].retry_ms <= 2000);
    if (i > 0) CHECK(failures[i].time_ns - failures[i - 1].time_ns >= failures[i - 1].retry_ms * 1'000'000);
  }
  w.h.fx.trace().set_sink(nullptr);
  for (int round = 0; round < 3; ++round) {
    INFO("restart " << round);
    w.h.run([&] { w.write(10, static_cast<std::uint64_t>(round)); });
    w.h.fx.crash_before_mutating_op(0, w.h.fx.mutating_disk_ops(0) + rng.below(8));
    w.h.fx.run_for(std::chrono::milliseconds(100 + rng.below(2000)));
    w.h.crash(0);
    w.h.restart(0);
    w.h.run([&] {
      CHECK(w.in_state(core::DupState::prepare));
      CHECK(w.status()->min_checkpoint_decree >= 1);
      CHECK(w.h.eventually([&] { return w.status()->last_error.find("WRONGPASS") != std::string::npos; }, 10s));
    });
  }
  w.h.run([&] {
    CHECK(w.h.call(0, {"DUPLICATION", "SET", "dup0", "PASSWORD", kPassword}) == ok());
    CHECK(w.h.eventually([&] { return w.converged(); }, 30s));
    CHECK(w.status()->last_error.empty());
    w.check_no_duplicated_elements();
  });
  w.check_no_aborts();
}

// A crash before each disk operation of ADD and of the first state change: after the restart the
// duplication either does not exist (ADD never answered OK) or resumes; either way it ends in LOG with
// the target equal to the source.
TEST_CASE("a crash at each disk operation of ADD and INIT: no abort, ADD is durable once answered") {
  std::size_t hits = 0;
  std::size_t kept = 0;  // the duplication existed after the restart
  for (std::uint64_t k = 0; k < 10; ++k) {
    INFO("crash before the source's mutating disk operation +" << k << " from ADD on");
    DupWorld w(30 + k);
    w.h.start_all();
    bool answered = false;
    w.h.run([&] {
      w.build();
      w.write(30);
    });
    w.h.fx.crash_before_mutating_op(0, w.h.fx.mutating_disk_ops(0) + k);
    w.h.run([&] {
      answered = w.h.call(0, {"DUPLICATION", "ADD", "dup0", kTargets, "PASSWORD", kPassword}) == ok();
      w.h.sleep(50ms);
    });
    if (w.h.fx.crash_point_hit(0)) ++hits;
    if (w.h.fx.is_up(0)) w.h.crash(0);
    w.h.restart(0);
    w.h.run([&] {
      if (answered) CHECK(w.status().has_value());
      if (w.status()) ++kept;
      if (!w.status()) CHECK(w.h.call(0, {"DUPLICATION", "ADD", "dup0", kTargets, "PASSWORD", kPassword}) == ok());
      CHECK(w.status()->min_checkpoint_decree >= 1);
      CHECK(w.h.eventually([&] { return w.converged(); }, 30s));
      w.check_no_duplicated_elements();
    });
    w.check_no_aborts();
  }
  CHECK(hits == 10);  // every crash point lies within ADD and the first state change
  CHECK(kept > 0);    // some crashes came after ADD was durable,
  CHECK(kept < 10);   // some before
}

// LOG with every target node unreachable: checkpoints (SAVE, and a restart of the source) never
// truncate the AOF after the confirmed decree, so once the network heals the records ship from the AOF
// without a new checkpoint (no resync), and the confirmed decree never went back on the way.
TEST_CASE("the target unreachable in LOG: the AOF the duplication needs is kept through checkpoints and restarts") {
  core::StoreConfig source = cluster_store_config();
  source.aof_segment_pages = 2;  // 8 KiB segments: what is written while cut off spans several
  DupWorld w(23, source);
  w.h.start_all();
  std::uint64_t confirmed_max = 0;
  bool back = false;
  auto sample = [&] {
    auto st = w.status();
    if (!st) return;
    back = back || st->entry.confirmed_decree < confirmed_max;
    confirmed_max = std::max(confirmed_max, st->entry.confirmed_decree);
  };
  bool resync = false;
  w.h.fx.trace().set_sink([&](const kernel::TraceEvent& e) {
    if (e.node == "n0" && (e.kind == "dup.resync" || e.kind == "dup.repair.lost")) resync = true;
  });
  w.h.run([&] {
    w.build();
    w.write(50);
    CHECK(w.h.call(0, {"DUPLICATION", "ADD", "dup0", kTargets, "PASSWORD", kPassword}) == ok());
    CHECK(w.h.eventually([&] { return w.converged(); }, 20s));
    w.h.fx.net().partition({w.h.fx.node_id(0)}, {w.h.fx.node_id(1), w.h.fx.node_id(2), w.h.fx.node_id(3)});
  });
  const std::uint64_t confirmed_at_cut = w.status()->entry.confirmed_address;
  for (int round = 0; round < 3; ++round) {
    w.h.run([&] {
      for (int i = 0; i < 3; ++i) {
        w.write(150, static_cast<std::uint64_t>(round * 3 + i));
        CHECK(w.h.call(0, {"SAVE"}) == ok());
        sample();
        INFO("round " << round << " save " << i);
        CHECK(w.h.store(0).aof_begin_address() <= w.status()->entry.confirmed_address);
        CHECK(w.in_state(core::DupState::log));
      }
    });
    w.h.crash(0);
    w.h.restart(0);
    w.h.run([&] {
      sample();
      CHECK(w.h.store(0).aof_begin_address() <= w.status()->entry.confirmed_address);
    });
  }
  CHECK(w.status()->entry.confirmed_address == confirmed_at_cut);  // nothing shipped while cut off
  // Several segments were written behind the cursor, so the checkpoints would have truncated it.
  CHECK(w.h.store(0).aof_tail_address() > confirmed_at_cut + 4 * 8192);
  w.h.run([&] {
    w.h.fx.net().heal();
    CHECK(w.h.eventually(
        [&] {
          sample();
          return w.converged();
        },
        30s));
    w.check_no_duplicated_elements();
    // Removing the duplication releases the AOF: the next checkpoint truncates past the old cursor.
    CHECK(w.h.call(0, {"DUPLICATION", "REMOVE", "dup0"}) == ok());
    w.write(20, 99);
    CHECK(w.h.call(0, {"SAVE"}) == ok());
    CHECK(w.h.call(0, {"SAVE"}) == ok());
    CHECK(w.h.store(0).aof_begin_address() > confirmed_at_cut);
  });
  w.h.fx.trace().set_sink(nullptr);
  CHECK_FALSE(back);
  CHECK_FALSE(resync);
  w.check_no_aborts();
}

// APP on a slow link (every RESTORE waits): the source writes and checkpoints meanwhile, and those
// checkpoints keep the AOF after APP's checkpoint, where LOG begins (fails when aof_needed_from()
// forgets APP). No resync, no "REMOVE and ADD" error, and the target ends equal.
TEST_CASE("APP keeps the AOF after its checkpoint while checkpoints are taken; LOG starts there") {
  core::StoreConfig source = cluster_store_config();
  source.aof_segment_pages = 2;  // 8 KiB segments
  DupWorld w(25, source);
  w.h.start_all();
  int saves_in_app = 0;
  bool resync = false;
  w.h.fx.trace().set_sink([&](const kernel::TraceEvent& e) {
    if (e.node == "n0" && (e.kind == "dup.resync" || e.kind == "dup.repair.lost")) resync = true;
  });
  w.h.run([&] {
    w.build();
    for (int k = 0; k < 300; ++k) (void)w.h.call(0, {"SET", fmt::format("key{}", k), fmt::format("v{}", k)});
    for (std::size_t i = 1; i < 4; ++i) w.h.fx.net().clog_link(w.h.fx.node_id(0), w.h.fx.node_id(i), 10ms);
    CHECK(w.h.call(0, {"DUPLICATION", "ADD", "dup0", kTargets, "PASSWORD", kPassword}) == ok());
    // The state turns APP a round (1 s) before APP's work starts with picking its checkpoint.
    CHECK(w.h.eventually([&] { return w.in_state(core::DupState::app); }, 20s));
    w.h.sleep(1100ms);
    for (int i = 0; i < 4 && w.in_state(core::DupState::app); ++i) {
      INFO("save " << i);
      w.write(200, static_cast<std::uint64_t>(i));
      CHECK(w.h.call(0, {"SAVE"}) == ok());
      const std::uint64_t needed = w.h.store(0).duplication().aof_needed_from();
      if (!w.in_state(core::DupState::app)) break;  // LOG began while SAVE ran
      CHECK(needed != UINT64_MAX);
      CHECK(w.h.store(0).aof_begin_address() <= needed);
      CHECK(w.h.store(0).aof_begin_address() > 0);  // the checkpoints did truncate, up to what APP needs
      ++saves_in_app;
    }
    CHECK(saves_in_app >= 2);
    w.h.fx.net().unclog_all();
    CHECK(w.h.eventually([&] { return w.converged(); }, 30s));
    CHECK(w.status()->last_error.empty());
    w.check_no_duplicated_elements();
  });
  w.h.fx.trace().set_sink(nullptr);
  CHECK_FALSE(resync);
  w.check_no_aborts();
}

// ---- crashes in every state ------------------------------------------------------------------------

// Crashes `victim` (0: the source; 1: a target primary; 3: the target replica) as soon as the
// duplication is in `state`, writes while it is down (if the source is up), restarts it and requires
// that the target ends with exactly the source's data and no list element twice.
void crash_in_state(core::DupState state, std::size_t victim, std::uint64_t seed) {
  INFO("crash n" << victim << " in " << core::dup_state_name(state) << ", seed " << seed);
  DupWorld w(seed);
  kernel::Rng rng(seed, "crash-in-state");
  w.h.start_all();
  bool reached = false;
  w.h.run([&] {
    w.build();
    w.write(400);  // enough keys that APP takes a while
    CHECK(w.h.call(0, {"DUPLICATION", "ADD", "dup0", kTargets, "PASSWORD", kPassword}) == ok());
    // PAUSE is reached by pausing a duplication that ships, with records written since.
    const core::DupState wait_for = state == core::DupState::pause ? core::DupState::log : state;
    const std::int64_t deadline = w.h.fx.sched().now_ns() + 20'000'000'000;
    while (w.h.fx.sched().now_ns() < deadline) {
      if (w.in_state(wait_for)) {
        reached = true;
        break;
      }
      w.h.sleep(1ms);
    }
    if (state == core::DupState::pause) {
      w.write(30, 4);
      w.h.sleep(std::chrono::milliseconds(rng.below(40)));
      CHECK(w.h.call(0, {"DUPLICATION", "PAUSE", "dup0"}) == ok());
      reached = reached && w.in_state(core::DupState::pause);
    }
    if (state == core::DupState::log) {
      w.write(30, 1);  // records in flight when the crash comes
      w.h.sleep(std::chrono::milliseconds(rng.below(40)));
    } else {
      w.h.sleep(std::chrono::milliseconds(rng.below(5)));
    }
    w.h.crash(victim);
    if (victim != 0) w.write(60, 2);
    w.h.sleep(std::chrono::milliseconds(300 + rng.below(1500)));
  });
  CHECK(reached);
  w.h.restart(victim);
  w.h.run([&] {
    if (victim == 3) CHECK(w.h.eventually([&] { return w.h.store(3).master_link_up(); }, 20s));
    if (state == core::DupState::pause) {
      CHECK(w.in_state(core::DupState::pause));  // a restart keeps it paused
      CHECK(w.h.call(0, {"DUPLICATION", "START", "dup0"}) == ok());
    }
    w.write(60, 3);
    INFO("source and target differ at:" << w.difference());
    CHECK(w.h.eventually([&] { return w.converged(); }, 40s));
    if (victim == 3 || victim == 1) CHECK(w.h.converged(1, 3));
    w.check_no_duplicated_elements();
  });
  w.check_no_aborts();
}

TEST_CASE("crashes of source and target nodes in PREPARE, APP, LOG and PAUSE: the target ends equal, nothing twice") {
  std::uint64_t seed = 10;
  for (core::DupState state :
       {core::DupState::prepare, core::DupState::app, core::DupState::log, core::DupState::pause}) {
    for (std::size_t victim : {std::size_t{0}, std::size_t{1}, std::size_t{3}}) crash_in_state(state, victim, ++seed);
  }
}

TEST_CASE("the source restarts in LOG many times: re-shipped records are applied at most once") {
  DupWorld w(5);
  w.h.start_all();
  w.h.run([&] {
    w.build();
    CHECK(w.h.call(0, {"DUPLICATION", "ADD", "dup0", kTargets, "PASSWORD", kPassword}) == ok());
    CHECK(w.h.eventually([&] { return w.in_state(core::DupState::log); }, 20s));
  });
  std::uint64_t already = 0;
  for (int round = 0; round < 5; ++round) {
    // Crash right after a burst: the confirmed decree on disk lags what the target applied.
    w.h.run([&] {
      w.write(80, static_cast<std::uint64_t>(round));
      w.h.sleep(std::chrono::milliseconds(20 + 30 * round));
    });
    const std::uint64_t confirmed_before = w.status()->entry.confirmed_decree;
    w.h.crash(0);
    w.h.restart(0);
    w.h.run([&] {
      CHECK(w.status()->entry.confirmed_decree >= confirmed_before);  // never backwards
      CHECK(w.h.eventually([&] { return w.converged(); }, 20s));
      already += w.status()->records_already;
    });
  }
  CHECK(already > 0);  // re-ships happened, and the target skipped them
  w.h.run([&] { w.check_no_duplicated_elements(); });
  w.check_no_aborts();
}

TEST_CASE("a forced failover on the target that loses applied records: the source ships them again") {
  DupWorld w(7);
  w.h.start_all();
  w.h.run([&] {
    w.build();
    CHECK(w.h.call(0, {"DUPLICATION", "ADD", "dup0", kTargets, "PASSWORD", kPassword}) == ok());
    CHECK(w.h.eventually([&] { return w.converged(); }, 20s));
    // Cut the replica off its primary, so what n1 applies next never reaches n3.
    w.h.fx.net().partition({w.h.fx.node_id(1)}, {w.h.fx.node_id(3)});
    w.write(120, 4);
    CHECK(w.h.eventually([&] { return w.status()->shipped_decree == w.h.store(0).last_decree(); }, 20s));
    w.h.crash(1);
    w.h.fx.net().heal();
    CHECK(w.call(3, {"CLUSTER", "FAILOVER", "FORCE"}) == ok());
    // n3 lacks records n1 had applied; the source learns it from n3's progress and ships them again.
    w.write(20, 5);
    CHECK(w.h.eventually([&] { return w.converged(); }, 30s));
    w.check_no_duplicated_elements();
  });
  w.h.restart(1);
  w.h.run([&] {
    CHECK(w.h.eventually([&] { return w.call(1, {"CLUSTER", "REPLICATE", w.h.id(3)}) == ok(); }));
    CHECK(w.h.converged(3, 1, 30s));
    w.write(20, 6);
    CHECK(w.h.eventually([&] { return w.converged(); }, 30s));
    w.check_no_duplicated_elements();
  });
  w.check_no_aborts();
}

TEST_CASE("a source failover: the demoted primary orphans its duplication at once, the new primary takes it over") {
  // Source: n0 primary, n3 its replica (here n3 belongs to the source cluster); target: n1 and n2.
  // n0 crashes with records n3 may lack, n3 is forced over, and n0 restarts as a stale primary in LOG
  // that gossip demotes and a full sync replaces: from the moment it is a replica its duplication is
  // orphaned (no decree of the old history left valid on the new one). n3 runs dup0 from the
  // definitions it replicated, with a new stream and checkpoint, and the target ends equal to it.
  // Then a failover back: n0 takes it over again.
  DupWorld w(9);
  w.h.fx.store_config(3) = cluster_store_config();
  w.h.start_all();
  auto target_equals = [&](std::size_t source) {
    std::map<std::string, std::uint64_t> target;
    for (std::size_t i : {std::size_t{1}, std::size_t{2}}) {
      for (const auto& [k, v] : duplicated_value_hashes(w.h.store(i).keyspace())) target[k] = v;
    }
    return target == duplicated_value_hashes(w.h.store(source).keyspace());
  };
  auto runs = [&](std::size_t i) {
    auto st = w.h.store(i).duplication().status("dup0");
    return st && !st->entry.orphaned && st->entry.state == core::DupState::log &&
           st->shipped_decree == w.h.store(i).last_decree() && target_equals(i);
  };
  w.h.run([&] {
    CHECK(w.h.call(0, {"CLUSTER", "MEET", "n3", "6379"}) == ok());
    CHECK(w.h.call(0, {"CLUSTER", "ADDSLOTSRANGE", "0", "16383"}) == ok());
    CHECK(w.h.eventually([&] { return w.h.call(3, {"CLUSTER", "REPLICATE", w.h.id(0)}) == ok(); }));
    CHECK(w.call(1, {"CLUSTER", "MEET", "n2", "6379"}) == ok());
    CHECK(w.call(1, {"CLUSTER", "ADDSLOTSRANGE", "0", "8191"}) == ok());
    CHECK(w.call(2, {"CLUSTER", "ADDSLOTSRANGE", "8192", "16383"}) == ok());
    CHECK(w.h.eventually([&] { return w.h.store(1).cluster_config().nodes().size() == 2; }));
    w.write(50);
    CHECK(w.h.call(0, {"DUPLICATION", "ADD", "dup0", "n1:6379,n2:6379", "PASSWORD", kPassword}) == ok());
    CHECK(w.h.eventually([&] { return w.converged(); }, 20s));
    CHECK(w.h.converged(0, 3));
    const std::string first_stream = w.status()->entry.stream;
    // The replica holds the definition, not a running duplication.
    CHECK(core::dup_definitions(w.h.store(3).keyspace()).size() == 1);
    CHECK_FALSE(w.h.store(3).duplication().status("dup0"));
    w.write(40, 1);
    w.h.crash(0);
    CHECK(w.h.is_ok(w.h.call(3, {"CLUSTER", "FAILOVER", "FORCE"})));
    CHECK(w.h.call(3, {"SET", "after-failover", "x"}) == ok());
    w.h.restart(0);
    // Every millisecond until n0 is n3's synced replica: once n0 is a replica its duplication is
    // orphaned, and while it is not, its min_checkpoint_decree is within its own log.
    bool demoted = false;
    for (int ms = 0; ms < 20'000 && !(demoted && w.h.store(0).master_link_up()); ++ms) {
      core::Store& n0 = w.h.store(0);
      auto st = n0.duplication().status("dup0");
      REQUIRE(st);
      if (n0.role() == core::Role::replica) {
        demoted = true;
        INFO("ms " << ms << " state " << core::dup_state_name(st->entry.state));
        CHECK(st->entry.orphaned);
        if (!st->entry.orphaned) break;
      } else {
        CHECK(st->min_checkpoint_decree <= static_cast<std::int64_t>(n0.last_decree()));
      }
      w.h.sleep(1ms);
    }
    CHECK(demoted);
    REQUIRE(w.h.eventually([&] { return runs(3); }, 30s));
    const std::string second_stream = w.h.store(3).duplication().status("dup0")->entry.stream;
    CHECK(second_stream != first_stream);
    CHECK(w.h.converged(3, 0));
    CHECK(core::dup_definitions(w.h.store(0).keyspace()).at(0).stream == second_stream);
    CHECK(w.h.call(0, {"DUPLICATION", "START", "dup0"}).text.find("current primary runs it") != std::string::npos);
    CHECK(w.h.call(3, {"DUPLICATION", "ADD", "dup0", "n1:6379"}).text.find("already exists") != std::string::npos);
    // Back to n0: its orphaned entry is replaced by a new one, and n3's is orphaned.
    CHECK(w.h.is_ok(w.h.call(0, {"CLUSTER", "FAILOVER"})));
    w.write(20, 2);
    REQUIRE(w.h.eventually([&] { return runs(0); }, 30s));
    CHECK(w.h.store(0).duplication().status("dup0")->entry.stream != second_stream);
    CHECK(w.h.store(3).duplication().status("dup0")->entry.orphaned);
    // REMOVE on the primary reaches the replica's definitions.
    CHECK(w.h.call(0, {"DUPLICATION", "REMOVE", "dup0"}) == ok());
    CHECK(w.h.eventually([&] { return core::dup_definitions(w.h.store(3).keyspace()).empty(); }, 10s));
  });
  w.check_no_duplicated_elements();
  w.check_no_aborts();
}

}  // namespace
}  // namespace replsim::sim::testing
