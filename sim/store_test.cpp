// sim/store_test.cpp — the single-node store under the simulator: replies over real connections,
// malformed input, crash-point enumeration, bit flips, page-size limits, fsync policies and
// checkpoints. Every test runs on a seed; a failure message names the seed and the crash point.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/aof.h"
#include "core/commands.h"
#include "core/fiber_sync.h"
#include "core/keyspace.h"
#include "core/resp.h"
#include "core/store.h"
#include "sim/testing/cluster_harness.h"
#include "sim/testing/store_fixture.h"

namespace replsim::sim::testing {
namespace {

using core::RespValue;
using Argv = std::vector<std::string>;

// REQUIRE throws, and an exception must not leave a fiber: inside run_task bodies (void lambdas)
// this checks and returns instead.
#define TASK_REQUIRE(cond)                          \
  do {                                              \
    const bool task_require_ok = static_cast<bool>(cond); \
    CHECK_MESSAGE(task_require_ok, #cond);          \
    if (!task_require_ok) return;                   \
  } while (false)

// ---- helpers -------------------------------------------------------------------------------------

core::StoreConfig base_config() {
  core::StoreConfig c;
  c.port = 6379;
  c.aof_page_size_bytes = 4096;
  c.aof_segment_pages = 16;
  c.appendfsync = core::FsyncPolicy::always;
  return c;
}

// The reply to argv, or an error value describing why there was none (so a CHECK shows it).
RespValue call(FixtureClient& c, const Argv& argv) {
  auto r = c.call(argv);
  if (!r) return RespValue::error("<no reply: " + r.status().to_string() + ">");
  return r.value();
}

RespValue ok() { return RespValue::simple("OK"); }
RespValue err(std::string text) { return RespValue::error(std::move(text)); }
RespValue integer(std::int64_t v) { return RespValue::from_integer(v); }
RespValue bulk(std::string s) { return RespValue::bulk(std::move(s)); }
RespValue bulks(const std::vector<std::string>& items) {
  std::vector<RespValue> out;
  for (const std::string& s : items) out.push_back(RespValue::bulk(s));
  return RespValue::array(std::move(out));
}

std::map<std::string, std::string> info_over_wire(FixtureClient& c, const std::string& section) {
  RespValue r = call(c, {"INFO", section});
  CHECK(r.type == RespValue::Type::bulk);
  return parse_info_text(r.text);
}

// Flips one bit of a file's durable bytes while the node is down: damage at rest.
void flip_bit_at_rest(kernel::Disk& disk, const std::string& name, std::uint64_t offset, int bit) {
  auto bytes = disk.true_contents(name);
  REQUIRE(bytes.is_ok());
  REQUIRE(offset < bytes->size());
  const char flipped = static_cast<char>((*bytes)[offset] ^ (1 << bit));
  REQUIRE(disk.write_at(name, offset, std::string(1, flipped)).is_ok());
  REQUIRE(disk.sync(name).is_ok());
}

std::vector<std::string> files_with_prefix(kernel::Disk& disk, std::string_view prefix) {
  std::vector<std::string> out;
  for (const std::string& name : disk.list_files()) {
    if (name.rfind(prefix, 0) == 0 && name.find(".tmp") == std::string::npos) out.push_back(name);
  }
  return out;
}

bool has_duplicates(const std::vector<std::string>& values) {
  std::set<std::string> seen;
  for (const std::string& v : values) {
    if (!seen.insert(v).second) return true;
  }
  return false;
}

std::vector<std::string> list_values(const RespValue& r) {
  std::vector<std::string> out;
  for (const RespValue& e : r.elements) out.push_back(e.text);
  return out;
}

bool trace_has(StoreFixture& fx, std::string_view kind) {
  for (const kernel::TraceEvent& e : fx.trace().recent()) {
    if (e.kind == kind) return true;
  }
  return false;
}

// ---- a write workload and its model --------------------------------------------------------------

struct Op {
  Argv argv;
  bool data = true;  // false: SAVE (changes no data)
};

// List pushes carry unique values, so a record applied twice shows as a duplicate.
std::vector<Op> crash_workload(int rounds) {
  std::vector<Op> ops;
  for (int i = 0; i < rounds; ++i) {
    ops.push_back({{"RPUSH", "list", fmt::format("v{}", i)}});
    if (i % 3 == 0) ops.push_back({{"SET", fmt::format("k{}", i % 4), fmt::format("x{}", i)}});
    if (i % 4 == 1) ops.push_back({{"INCR", "counter"}});
    if (i % 5 == 2) ops.push_back({{"LPOP", "list"}});
    if (i % 7 == 6) ops.push_back({{"DEL", fmt::format("k{}", (i + 1) % 4)}});
    if (i == rounds / 3 || i == 2 * rounds / 3) ops.push_back({{"SAVE"}, false});
  }
  return ops;
}

// digests[j]: the keyspace digest after the first j ops.
std::vector<std::uint64_t> model_digests(const std::vector<Op>& ops) {
  core::Keyspace model;
  core::ExecContext ctx;
  std::vector<std::uint64_t> digests{model.digest()};
  for (const Op& op : ops) {
    if (op.data) (void)core::execute_data_command(model, op.argv, ctx);
    digests.push_back(model.digest());
  }
  return digests;
}

std::vector<std::string> model_list_after(const std::vector<Op>& ops, std::size_t j) {
  core::Keyspace model;
  core::ExecContext ctx;
  for (std::size_t i = 0; i < j; ++i) {
    if (ops[i].data) (void)core::execute_data_command(model, ops[i].argv, ctx);
  }
  const core::Value* v = model.find("list");
  if (v == nullptr) return {};
  return {v->list().begin(), v->list().end()};
}

// The prefix lengths j in [lo, hi] whose model digest equals `digest`.
std::vector<std::size_t> matching_prefixes(const std::vector<std::uint64_t>& digests, std::uint64_t digest,
                                           std::size_t lo, std::size_t hi) {
  std::vector<std::size_t> out;
  for (std::size_t j = lo; j <= hi && j < digests.size(); ++j) {
    if (digests[j] == digest) out.push_back(j);
  }
  return out;
}

// ==== reply formats ===============================================================================

TEST_CASE("reply formats of every command over a real connection") {
  StoreFixture fx;
  const std::size_t n = fx.add_node(base_config());
  REQUIRE(fx.start(n).is_ok());
  FixtureClient c(fx, "client");
  const bool finished = fx.run_task([&] {
    CHECK(call(c, {"PING"}) == RespValue::simple("PONG"));
    CHECK(call(c, {"ping", "hello"}) == bulk("hello"));
    CHECK(call(c, {"PING", "a", "b"}) == err("ERR wrong number of arguments for 'ping' command"));
    CHECK(call(c, {"ECHO", std::string("a\0b", 3)}) == bulk(std::string("a\0b", 3)));
    CHECK(call(c, {"ECHO"}) == err("ERR wrong number of arguments for 'echo' command"));

    // Strings.
    CHECK(call(c, {"GET", "s"}) == RespValue::null());
    CHECK(call(c, {"SET", "s", "1"}) == ok());
    CHECK(call(c, {"GET", "s"}) == bulk("1"));
    CHECK(call(c, {"SET", "s", "2", "NX"}) == RespValue::null());
    CHECK(call(c, {"SET", "s", "3", "XX", "GET"}) == bulk("1"));
    CHECK(call(c, {"SET", "s", "4", "EX", "0"}) == err("ERR invalid expire time in 'set' command"));
    CHECK(call(c, {"SET", "s", "4", "BOGUS"}) == err("ERR syntax error"));
    CHECK(call(c, {"SET", "t", "5", "PX", "100000"}) == ok());
    CHECK(call(c, {"INCR", "s"}) == integer(4));
    CHECK(call(c, {"INCRBY", "s", "-10"}) == integer(-6));
    CHECK(call(c, {"INCRBY", "s", "x"}) == err("ERR value is not an integer or out of range"));
    CHECK(call(c, {"APPEND", "s", "ab"}) == integer(4));
    CHECK(call(c, {"INCR", "s"}) == err("ERR value is not an integer or out of range"));
    CHECK(call(c, {"TYPE", "s"}) == RespValue::simple("string"));
    CHECK(call(c, {"TYPE", "nothing"}) == RespValue::simple("none"));
    CHECK(call(c, {"GET"}) == err("ERR wrong number of arguments for 'get' command"));
    CHECK(call(c, {"SET", "x"}) == err("ERR wrong number of arguments for 'set' command"));

    // Lists and wrong types.
    CHECK(call(c, {"RPUSH", "l", "a", "b"}) == integer(2));
    CHECK(call(c, {"LPUSH", "l", "z"}) == integer(3));
    CHECK(call(c, {"LRANGE", "l", "0", "-1"}) == bulks({"z", "a", "b"}));
    CHECK(call(c, {"LLEN", "l"}) == integer(3));
    CHECK(call(c, {"LPOP", "l"}) == bulk("z"));
    CHECK(call(c, {"RPOP", "l", "5"}) == bulks({"b", "a"}));
    CHECK(call(c, {"LLEN", "l"}) == integer(0));
    CHECK(call(c, {"LPOP", "l"}) == RespValue::null());
    CHECK(call(c, {"RPUSH", "l", "q"}) == integer(1));
    CHECK(call(c, {"GET", "l"}) ==
          err("WRONGTYPE Operation against a key holding the wrong kind of value"));
    CHECK(call(c, {"LPUSH", "s", "x"}) ==
          err("WRONGTYPE Operation against a key holding the wrong kind of value"));
    CHECK(call(c, {"LRANGE", "l", "0"}) == err("ERR wrong number of arguments for 'lrange' command"));
    CHECK(call(c, {"TYPE", "l"}) == RespValue::simple("list"));

    // Keyspace-wide.
    CHECK(call(c, {"EXISTS", "s", "l", "nothing", "s"}) == integer(3));
    CHECK(call(c, {"DBSIZE"}) == integer(3));
    CHECK(call(c, {"DEL", "s", "nothing"}) == integer(1));
    CHECK(call(c, {"NOSUCHCOMMAND", "a"}) ==
          err("ERR unknown command 'NOSUCHCOMMAND', with args beginning with: 'a' "));

    // Store-level commands.
    CHECK(call(c, {"WAIT", "0", "0"}) == integer(0));
    CHECK(call(c, {"WAIT", "x", "0"}) == err("ERR value is not an integer or out of range"));
    CHECK(call(c, {"WAIT", "1", "-1"}) == err("ERR timeout is negative"));
    CHECK(call(c, {"WAIT", "1"}) == err("ERR wrong number of arguments for 'wait' command"));
    CHECK(call(c, {"CLUSTER", "INFO"}) == err("ERR This instance has cluster support disabled"));
    CHECK(call(c, {"AUTH", "pw"}) ==
          err("ERR AUTH <password> called without any password configured for the default user. Are "
              "you sure your configuration is correct?"));
    CHECK(call(c, {"AUTH", "default", "anything"}) == ok());
    CHECK(call(c, {"AUTH", "a", "b", "c"}) == err("ERR syntax error"));

    const RespValue digest = call(c, {"DEBUG", "DIGEST"});
    CHECK(digest.type == RespValue::Type::simple);
    CHECK(digest.text.size() == 40);
    CHECK(digest.text == fx.store(n)->digest_hex());
    CHECK(digest.text == fmt::format("{:040x}", fx.store(n)->keyspace().digest()));
    CHECK(call(c, {"DEBUG", "NOPE"}) ==
          err("ERR unknown subcommand or wrong number of arguments for 'NOPE'. Try DEBUG HELP."));
    CHECK(call(c, {"DEBUG"}) == err("ERR wrong number of arguments for 'debug' command"));

    // CONFIG.
    CHECK(call(c, {"CONFIG", "GET", "appendfsync"}) == bulks({"appendfsync", "always"}));
    CHECK(call(c, {"CONFIG", "GET", "*pass*"}) == bulks({"requirepass", ""}));
    CHECK(call(c, {"CONFIG", "GET", "nothing*"}) == RespValue::array({}));
    CHECK(call(c, {"CONFIG", "GET", "port", "appendf*", "port"}) ==
          bulks({"appendfsync", "always", "port", "6379"}));
    CHECK(call(c, {"CONFIG", "SET", "appendfsync", "everysec"}) == ok());
    CHECK(call(c, {"CONFIG", "GET", "appendfsync"}) == bulks({"appendfsync", "everysec"}));
    CHECK(fx.store(n)->config().appendfsync == core::FsyncPolicy::everysec);
    CHECK(call(c, {"CONFIG", "SET", "appendfsync", "always", "checkpoint-interval-ms", "0"}) == ok());
    CHECK(call(c, {"CONFIG", "SET", "appendfsync", "sometimes"}) ==
          err("ERR CONFIG SET failed (possibly related to argument 'appendfsync') - argument(s) must "
              "be one of the following: always, everysec, no"));
    CHECK(call(c, {"CONFIG", "SET", "no-such", "1"}) ==
          err("ERR Unknown option or number of arguments for CONFIG SET - 'no-such'"));
    CHECK(call(c, {"CONFIG", "SET", "port", "7000"}) ==
          err("ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config"));
    CHECK(call(c, {"CONFIG", "SET", "appendfsync", "no", "appendfsync", "always"}) ==
          err("ERR CONFIG SET failed (possibly related to argument 'appendfsync') - duplicate parameter"));
    // A failing pair leaves the valid pairs before it unapplied too.
    CHECK(call(c, {"CONFIG", "SET", "appendfsync", "no", "port", "1"}) ==
          err("ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config"));
    CHECK(call(c, {"CONFIG", "GET", "appendfsync"}) == bulks({"appendfsync", "always"}));
    CHECK(call(c, {"CONFIG", "SET", "appendfsync"}) ==
          err("ERR wrong number of arguments for 'config|set' command"));
    CHECK(call(c, {"CONFIG", "GET"}) == err("ERR wrong number of arguments for 'config|get' command"));
    CHECK(call(c, {"CONFIG", "REWRITE"}) == err("ERR unknown subcommand 'REWRITE'. Try CONFIG HELP."));
    CHECK(call(c, {"CONFIG"}) == err("ERR wrong number of arguments for 'config' command"));

    // INFO.
    const RespValue all = call(c, {"INFO"});
    TASK_REQUIRE(all.type == RespValue::Type::bulk);
    for (const char* header : {"# Server\r\n", "# Clients\r\n", "# Persistence\r\n", "# Stats\r\n",
                               "# Replication\r\n", "# Keyspace\r\n"}) {
      CHECK(all.text.find(header) != std::string::npos);
    }
    CHECK(all.text.find("\r\n\r\n# Persistence\r\n") != std::string::npos);  // sections apart
    const RespValue persistence = call(c, {"INFO", "PERSISTENCE"});
    TASK_REQUIRE(persistence.type == RespValue::Type::bulk);
    CHECK(persistence.text.rfind("# Persistence\r\n", 0) == 0);
    CHECK(persistence.text.find("# Server") == std::string::npos);
    CHECK(persistence.text.substr(persistence.text.size() - 2) == "\r\n");
    auto p = parse_info_text(persistence.text);
    CHECK(p["aof_tail_address"] == std::to_string(fx.store(n)->aof_tail_address()));
    CHECK(p["aof_synced_address"] == p["aof_tail_address"]);  // fsync always
    CHECK(p["aof_last_decree"] == std::to_string(fx.store(n)->last_decree()));
    CHECK(p["aof_begin_address"] == "0");
    CHECK(p["appendfsync"] == "always");
    CHECK(p["checkpoints"] == "0");
    CHECK(p["aof_torn_tail"] == "0");
    CHECK(std::stoull(p["rdb_changes_since_last_save"]) == fx.store(n)->last_decree());
    auto r = info_over_wire(c, "replication");
    CHECK(r["role"] == "master");
    CHECK(r["recovering"] == "0");
    CHECK(r["master_replid"].size() == 40);
    CHECK(r["master_replid"] == fx.store(n)->replication_id());
    CHECK(info_over_wire(c, "keyspace")["db0"] == "keys=2,expires=1,avg_ttl=0");
    CHECK(call(c, {"INFO", "nosuchsection"}) == bulk(""));
    const RespValue two = call(c, {"INFO", "server", "keyspace"});
    CHECK(two.text.rfind("# Server\r\n", 0) == 0);
    CHECK(two.text.find("# Keyspace\r\n") != std::string::npos);
    CHECK(two.text.find("# Persistence") == std::string::npos);

    // SAVE makes a checkpoint at the last decree.
    const std::uint64_t decree = fx.store(n)->last_decree();
    CHECK(call(c, {"SAVE"}) == ok());
    p = info_over_wire(c, "persistence");
    CHECK(p["checkpoints"] == "1");
    CHECK(p["last_checkpoint_decree"] == std::to_string(decree));
    CHECK(p["rdb_changes_since_last_save"] == "0");
    CHECK(fx.store(n)->checkpoint_decrees() == std::vector<std::uint64_t>{decree});
    CHECK(call(c, {"SAVE", "x"}) == err("ERR wrong number of arguments for 'save' command"));

    CHECK(call(c, {"FLUSHALL"}) == ok());
    CHECK(call(c, {"DBSIZE"}) == integer(0));
    CHECK(call(c, {"DEBUG", "DIGEST"}) == RespValue::simple(std::string(40, '0')));
    CHECK(info_over_wire(c, "keyspace").empty());
  });
  CHECK(finished);
  CHECK(fx.aborts(n).empty());
}

TEST_CASE("AUTH with requirepass: NOAUTH before, WRONGPASS for a bad password, CONFIG SET changes it") {
  StoreFixture fx;
  core::StoreConfig config = base_config();
  config.requirepass = "secret";
  const std::size_t n = fx.add_node(config);
  REQUIRE(fx.start(n).is_ok());
  FixtureClient a(fx, "a");
  FixtureClient b(fx, "b");
  const bool finished = fx.run_task([&] {
    CHECK(call(a, {"GET", "k"}) == err("NOAUTH Authentication required."));
    CHECK(call(a, {"SET", "k", "v"}) == err("NOAUTH Authentication required."));
    CHECK(call(a, {"INFO"}) == err("NOAUTH Authentication required."));
    // Redis checks the command and its arity before authentication.
    CHECK(call(a, {"FOO"}) == err("ERR unknown command 'FOO', with args beginning with: "));
    CHECK(call(a, {"GET"}) == err("ERR wrong number of arguments for 'get' command"));
    CHECK(call(a, {"AUTH", "wrong"}) ==
          err("WRONGPASS invalid username-password pair or user is disabled."));
    CHECK(call(a, {"AUTH", "root", "secret"}) ==
          err("WRONGPASS invalid username-password pair or user is disabled."));
    CHECK(call(a, {"GET", "k"}) == err("NOAUTH Authentication required."));
    CHECK(call(a, {"AUTH", "secret"}) == ok());
    CHECK(call(a, {"GET", "k"}) == RespValue::null());
    CHECK(call(a, {"SET", "k", "v"}) == ok());
    // A later failed AUTH does not log the client out.
    CHECK(call(a, {"AUTH", "wrong"}) ==
          err("WRONGPASS invalid username-password pair or user is disabled."));
    CHECK(call(a, {"GET", "k"}) == bulk("v"));
    CHECK(call(b, {"AUTH", "default", "secret"}) == ok());
    CHECK(call(b, {"CONFIG", "SET", "requirepass", "other"}) == ok());
    CHECK(call(b, {"GET", "k"}) == bulk("v"));  // existing sessions stay authenticated

    FixtureClient fresh(fx, "fresh");
    CHECK(call(fresh, {"GET", "k"}) == err("NOAUTH Authentication required."));
    CHECK(call(fresh, {"AUTH", "secret"}) ==
          err("WRONGPASS invalid username-password pair or user is disabled."));
    CHECK(call(fresh, {"AUTH", "other"}) == ok());
    CHECK(call(fresh, {"GET", "k"}) == bulk("v"));
  });
  CHECK(finished);
}

TEST_CASE("max clients: one more connection gets the Redis error and is closed") {
  StoreFixture fx;
  core::StoreConfig config = base_config();
  config.max_clients = 2;
  const std::size_t n = fx.add_node(config);
  REQUIRE(fx.start(n).is_ok());
  FixtureClient a(fx, "a");
  FixtureClient b(fx, "b");
  FixtureClient extra(fx, "extra");
  const bool finished = fx.run_task([&] {
    CHECK(call(a, {"PING"}) == RespValue::simple("PONG"));
    CHECK(call(b, {"PING"}) == RespValue::simple("PONG"));
    CHECK(fx.store(n)->connected_clients() == 2);
    TASK_REQUIRE(extra.connect(n).is_ok());
    auto r = extra.read_reply();
    CHECK(display(r) == "(error) ERR max number of clients reached");
    CHECK(extra.expect_closed());
    CHECK(call(a, {"PING"}) == RespValue::simple("PONG"));
    a.close();
    fx.sched().sleep_for(50ms);  // the server notices the close
    CHECK(fx.store(n)->connected_clients() == 1);
    CHECK(call(extra, {"PING"}) == RespValue::simple("PONG"));
    CHECK(info_over_wire(extra, "stats")["rejected_connections"] == "1");
  });
  CHECK(finished);
}

// ==== malformed RESP ==============================================================================

core::StoreConfig tight_limits_config() {
  core::StoreConfig c = base_config();
  c.resp_limits.max_bulk_bytes = 1024;
  c.resp_limits.max_args = 16;
  c.resp_limits.max_inline_bytes = 256;
  c.resp_limits.max_query_buffer_bytes = 4096;
  return c;
}

TEST_CASE("malformed RESP gets a protocol error and a closed connection; others keep being served") {
  struct Case {
    std::string name;
    std::string bytes;
    std::string error_prefix;
    int replies_before = 0;  // valid requests in the same bytes, answered before the error
  };
  const std::vector<Case> cases = {
      {"non-numeric count", "*x\r\n", "ERR Protocol error: invalid multibulk length"},
      {"huge count", "*99999999999\r\n", "ERR Protocol error: invalid multibulk length"},
      {"count over max_args", "*17\r\n", "ERR Protocol error: invalid multibulk length"},
      {"negative bulk length", "*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length"},
      {"non-numeric bulk length", "*1\r\n$abc\r\n", "ERR Protocol error: invalid bulk length"},
      {"huge bulk length", "*1\r\n$99999999999999\r\n", "ERR Protocol error: invalid bulk length"},
      {"bulk over max_bulk", "*1\r\n$1025\r\n", "ERR Protocol error: invalid bulk length"},
      {"missing '$'", "*1\r\n:3\r\n", "ERR Protocol error: expected '$', got ':'"},
      {"wrong bulk length", "*2\r\n$3\r\nGET\r\n$1\r\nab\r\n", "ERR Protocol error"},
      {"unbalanced quotes", "SET \"a b\r\n", "ERR Protocol error: unbalanced quotes in request"},
      {"inline too long", std::string(300, 'a'), "ERR Protocol error: too big inline request"},
      {"binary junk after '*'", std::string("*\x01\xff\x00junk\r\n", 10), "ERR Protocol error"},
      {"valid request then junk", "PING\r\n*1\r\n$x\r\n", "ERR Protocol error: invalid bulk length", 1},
  };
  StoreFixture fx;
  const std::size_t n = fx.add_node(tight_limits_config());
  REQUIRE(fx.start(n).is_ok());
  FixtureClient other(fx, "other");
  const bool finished = fx.run_task([&] {
    CHECK(call(other, {"SET", "k", "v"}) == ok());
    int index = 0;
    for (const Case& tc : cases) {
      CAPTURE(tc.name);
      FixtureClient bad(fx, fmt::format("bad{}", index++));
      TASK_REQUIRE(bad.connect(n).is_ok());
      TASK_REQUIRE(bad.send_raw(tc.bytes).is_ok());
      for (int i = 0; i < tc.replies_before; ++i) CHECK(display(bad.read_reply()) == "PONG");
      auto r = bad.read_reply();
      TASK_REQUIRE(r.is_ok());
      CHECK(r->type == RespValue::Type::error);
      CHECK(r->text.rfind(tc.error_prefix, 0) == 0);
      CHECK(bad.expect_closed());
      // The node keeps serving a client that was connected all along, and new ones.
      CHECK(call(other, {"GET", "k"}) == bulk("v"));
      FixtureClient fresh(fx, fmt::format("fresh{}", index));
      CHECK(call(fresh, {"PING"}) == RespValue::simple("PONG"));
    }
    // A truncated request followed by a close gets no reply and harms nobody.
    FixtureClient truncated(fx, "truncated");
    TASK_REQUIRE(truncated.connect(n).is_ok());
    TASK_REQUIRE(truncated.send_raw("*2\r\n$3\r\nGET\r\n$1").is_ok());
    truncated.close();
    fx.sched().sleep_for(50ms);
    CHECK(call(other, {"GET", "k"}) == bulk("v"));
    // Over the query buffer limit without ever finishing a request: one send, so the error reply is
    // not lost to a reset caused by bytes still arriving after the server closed.
    FixtureClient flood(fx, "flood");
    TASK_REQUIRE(flood.connect(n).is_ok());
    std::string partial = "*10\r\n";
    for (int i = 0; i < 5; ++i) partial += "$1000\r\n" + std::string(1000, 'x') + "\r\n";
    TASK_REQUIRE(flood.send_raw(partial).is_ok());
    auto r = flood.read_reply();
    TASK_REQUIRE(r.is_ok());
    CHECK(r->text.rfind("ERR Protocol error", 0) == 0);
    CHECK(flood.expect_closed());
    CHECK(call(other, {"GET", "k"}) == bulk("v"));
    CHECK(info_over_wire(other, "stats")["total_protocol_errors"] == std::to_string(cases.size() + 1));
  });
  CHECK(finished);
  CHECK(fx.aborts(n).empty());
}

// Mutates a valid request stream into a possibly malformed one.
std::string mutate(kernel::Rng& rng, std::string bytes) {
  const int mutations = 1 + static_cast<int>(rng.below(3));
  for (int m = 0; m < mutations && !bytes.empty(); ++m) {
    const std::size_t at = rng.below(bytes.size());
    switch (rng.below(7)) {
      case 0:  // flip a bit
        bytes[at] = static_cast<char>(bytes[at] ^ (1 << rng.below(8)));
        break;
      case 1:  // insert junk
        bytes.insert(at, 1, static_cast<char>(rng.below(256)));
        break;
      case 2:  // drop a byte
        bytes.erase(at, 1);
        break;
      case 3:  // truncate
        bytes.resize(at);
        break;
      case 4: {  // replace a length or count with a huge or negative one
        const std::size_t digit = bytes.find_first_of("0123456789", at);
        if (digit != std::string::npos) {
          bytes.replace(digit, 1, rng.chance(0.5) ? "99999999999999999999" : "-7");
        }
        break;
      }
      case 5:  // random binary junk block
        for (int i = 0; i < 16; ++i) bytes.insert(at, 1, static_cast<char>(rng.below(256)));
        break;
      default:  // duplicate a slice
        bytes.insert(at, bytes.substr(at, rng.below(16)));
        break;
    }
  }
  return bytes;
}

TEST_CASE("randomized malformed input: never a crash, every reply parses, an error closes") {
  constexpr int kCases = 400;
  StoreFixture fx(FixtureConfig{.seed = 77});
  const std::size_t n = fx.add_node(tight_limits_config());
  REQUIRE(fx.start(n).is_ok());
  kernel::Rng rng(77, "malformed");
  int protocol_errors = 0;
  int closed_without_error = 0;
  int still_open = 0;
  FixtureClient probe(fx, "probe");
  const bool finished = fx.run_task([&] {
    for (int i = 0; i < kCases; ++i) {
      CAPTURE(i);
      std::string stream;
      const int requests = 1 + static_cast<int>(rng.below(3));
      for (int r = 0; r < requests; ++r) {
        stream += core::encode_command({"RPUSH", fmt::format("list{}", rng.below(3)), fmt::format("v{}-{}", i, r)});
      }
      const std::string bytes = mutate(rng, stream);
      FixtureClient c(fx, fmt::format("fuzz{}", i));
      TASK_REQUIRE(c.connect(n).is_ok());
      TASK_REQUIRE(c.send_raw(bytes).is_ok());
      // Read every reply until the server closes or goes quiet; a protocol error must be last.
      bool saw_protocol_error = false;
      for (;;) {
        auto reply = c.read_reply(200ms);
        if (!reply) {
          CHECK(reply.code() != core::Err::invalid);  // reply bytes always parse
          if (reply.code() == core::Err::timeout) {
            CHECK_FALSE(saw_protocol_error);  // an error is always followed by the close
            ++still_open;
          } else if (!saw_protocol_error) {
            ++closed_without_error;
          }
          break;
        }
        CHECK_FALSE(saw_protocol_error);  // nothing after the protocol error
        if (reply->is_error() && reply->text.rfind("ERR Protocol error", 0) == 0) {
          saw_protocol_error = true;
          ++protocol_errors;
        }
      }
      c.close();
      if (i % 20 == 0) CHECK(call(probe, {"PING"}) == RespValue::simple("PONG"));
    }
    // The store still works.
    CHECK(call(probe, {"PING"}) == RespValue::simple("PONG"));
  });
  CHECK(finished);
  CHECK(fx.is_up(n));
  CHECK(fx.aborts(n).empty());
  CHECK(protocol_errors > kCases / 4);  // the mutations do reach the error paths
  std::printf("malformed RESP fuzz: %d cases, %d protocol errors, %d left waiting for bytes, %d other\n",
              kCases, protocol_errors, still_open, closed_without_error);
}

// ==== crash-point enumeration =====================================================================

core::StoreConfig crash_config() {
  core::StoreConfig c = base_config();
  c.aof_page_size_bytes = 256;
  c.aof_segment_pages = 2;  // segments roll over and SAVE truncates whole ones
  c.checkpoints_retained = 2;
  return c;
}

struct CrashOutcome {
  bool crash_hit = false;
  std::size_t sent = 0;   // ops sent (the last one may or may not have run)
  std::size_t acked = 0;  // ops answered, in order
  std::uint64_t mutating_ops = 0;
  bool torn = false;
};

// Runs ops against a fresh node that crashes before its mutating disk op number crash_op (if set),
// restarts it and checks that the recovered state is a prefix of the ops that contains every
// acknowledged one, with no record applied twice.
CrashOutcome run_crash_case(std::uint64_t seed, std::optional<std::uint64_t> crash_op, bool torn,
                            const std::vector<Op>& ops, const std::vector<std::uint64_t>& digests,
                            const core::StoreConfig& config) {
  FixtureConfig fc;
  fc.seed = seed;
  fc.disk.sector_size_bytes = 32;  // small sectors: most unsynced writes can tear
  fc.disk.faults.torn_write_probability = torn ? 1.0 : 0.0;
  fc.disk.faults.torn_sector_fill = kernel::TornSectorFill::garbage;
  StoreFixture fx(fc);
  const std::size_t n = fx.add_node(config);
  if (crash_op) fx.crash_before_mutating_op(n, *crash_op);
  CrashOutcome out;
  const core::Status started = fx.start(n);
  if (started.is_ok()) {
    FixtureClient c(fx, "writer");
    const bool finished = fx.run_task([&] {
      for (std::size_t i = 0; i < ops.size(); ++i) {
        out.sent = i + 1;
        auto r = c.call(ops[i].argv);
        if (!r) break;
        CHECK_FALSE(r->is_error());
        out.acked = i + 1;
      }
    });
    CHECK(finished);
  } else {
    CHECK(started.code() == core::Err::shutdown);  // only the crash point may stop a start
  }
  out.crash_hit = fx.crash_point_hit(n);
  out.mutating_ops = fx.mutating_disk_ops(n);
  fx.crash(n, "end of workload");
  for (const kernel::CrashFileOutcome& f : fx.last_crash_report(n).files) out.torn = out.torn || f.torn;

  const core::Status restarted = fx.restart(n);
  INFO("seed=", seed, " crash_op=", crash_op ? static_cast<long long>(*crash_op) : -1LL, " torn=", torn,
       " sent=", out.sent, " acked=", out.acked);
  REQUIRE_MESSAGE(restarted.is_ok(), restarted.to_string());
  core::Store* store = fx.store(n);
  REQUIRE(store != nullptr);
  const std::uint64_t digest = store->digest();
  const auto matches = matching_prefixes(digests, digest, out.acked, out.sent);
  CHECK_MESSAGE(!matches.empty(), "recovered state is no prefix in [acked, sent]: ", store->recovery().to_string());
  FixtureClient reader(fx, "reader");
  const bool read = fx.run_task([&] {
    CHECK(call(reader, {"DEBUG", "DIGEST"}) == RespValue::simple(fmt::format("{:040x}", digest)));
    const std::vector<std::string> list = list_values(call(reader, {"LRANGE", "list", "0", "-1"}));
    CHECK_FALSE(has_duplicates(list));
    if (!matches.empty()) CHECK(list == model_list_after(ops, matches.front()));
  });
  CHECK(read);
  // Recovering again from what this recovery left gives the same state (nothing applied twice).
  fx.crash(n, "second crash");
  REQUIRE(fx.restart(n).is_ok());
  CHECK(fx.store(n)->digest() == digest);
  CHECK(fx.aborts(n).empty());
  CHECK(fx.exits(n).empty());
  return out;
}

TEST_CASE("crash-point enumeration under fsync always: every crash point, torn writes on and off") {
  const std::vector<Op> ops = crash_workload(24);
  const std::vector<std::uint64_t> digests = model_digests(ops);
  const core::StoreConfig config = crash_config();
  const CrashOutcome clean = run_crash_case(1, std::nullopt, false, ops, digests, config);
  REQUIRE(clean.acked == ops.size());
  const std::uint64_t total = clean.mutating_ops;
  REQUIRE(total > ops.size());
  int cases = 0;
  int hit = 0;
  int torn_cases = 0;
  int lost_unacked = 0;
  for (std::uint64_t k = 0; k < total; ++k) {
    for (const bool torn : {false, true}) {
      const CrashOutcome o = run_crash_case(1000 + k * 2 + (torn ? 1 : 0), k, torn, ops, digests, config);
      ++cases;
      if (o.crash_hit) ++hit;
      if (o.torn) ++torn_cases;
      if (o.sent > o.acked) ++lost_unacked;
    }
  }
  // Every crash point is reached: the same ops run in the same order whatever the seed.
  CHECK(hit == cases);
  CHECK(torn_cases > 0);
  std::printf("crash-point enumeration: %zu ops, %llu mutating disk ops, %d crash cases, %d hit, "
              "%d with a torn write, %d with an op in flight\n",
              ops.size(), static_cast<unsigned long long>(total), cases, hit, torn_cases, lost_unacked);
}

// ==== bit flips ===================================================================================

// Writes ops through a client; returns the digest after them.
std::uint64_t write_all(StoreFixture& fx, std::size_t n, const std::vector<Op>& ops) {
  FixtureClient c(fx, "loader");
  const bool finished = fx.run_task([&] {
    for (const Op& op : ops) CHECK_FALSE(call(c, op.argv).is_error());
  });
  CHECK(finished);
  return fx.store(n)->digest();
}

std::vector<Op> pushes(int from, int count) {
  std::vector<Op> ops;
  for (int i = from; i < from + count; ++i) ops.push_back({{"RPUSH", "list", fmt::format("value-{:04}", i)}});
  return ops;
}

TEST_CASE("a corrupt newest checkpoint is detected and recovery falls back to the older one") {
  StoreFixture fx;
  const std::size_t n = fx.add_node(crash_config());
  REQUIRE(fx.start(n).is_ok());
  write_all(fx, n, pushes(0, 10));
  write_all(fx, n, {{{"SAVE"}, false}});
  const std::uint64_t older = fx.store(n)->last_decree();
  write_all(fx, n, pushes(10, 10));
  write_all(fx, n, {{{"SAVE"}, false}});
  const std::uint64_t newer = fx.store(n)->last_decree();
  const std::uint64_t digest = write_all(fx, n, pushes(20, 5));
  CHECK(fx.store(n)->checkpoint_decrees() == std::vector<std::uint64_t>{older, newer});
  fx.crash(n);

  const std::string newest = core::checkpoint_file_name(newer);
  auto size = fx.disk(n).file_size(newest);
  REQUIRE(size.is_ok());
  flip_bit_at_rest(fx.disk(n), newest, *size - 10, 3);  // inside the keyspace payload
  REQUIRE(fx.restart(n).is_ok());
  const core::RecoverySummary& rec = fx.store(n)->recovery();
  CHECK(rec.checkpoint_loaded);
  CHECK(rec.checkpoint_decree == older);
  REQUIRE(rec.checkpoints_skipped.size() == 1);
  CHECK(rec.checkpoints_skipped[0].find(newest) != std::string::npos);
  CHECK(rec.records_replayed == fx.store(n)->last_decree() - older);
  CHECK(fx.store(n)->digest() == digest);  // the AOF still covers everything after the older one
  FixtureClient c(fx, "c");
  CHECK(fx.run_task([&] {
    CHECK(info_over_wire(c, "persistence")["recovery_checkpoints_skipped"] == "1");
  }));
}

TEST_CASE("corruption in the middle of the AOF refuses to start, naming the file and the address") {
  StoreFixture fx;
  const std::size_t n = fx.add_node(crash_config());
  REQUIRE(fx.start(n).is_ok());
  write_all(fx, n, pushes(0, 30));
  fx.crash(n);
  const std::vector<std::string> segments = files_with_prefix(fx.disk(n), "aof.");
  REQUIRE(segments.size() >= 2);
  const std::string first = segments.front();
  // Segment header (64 bytes), then the first record's header (16 bytes), then its payload.
  flip_bit_at_rest(fx.disk(n), first, core::Aof::kSegmentHeaderBytes + core::Aof::kRecordHeaderBytes + 6, 0);
  const core::Status st = fx.restart(n);
  REQUIRE_FALSE(st.is_ok());
  CHECK(st.message().find("refusing to start") != std::string::npos);
  CHECK(st.message().find(first) != std::string::npos);
  CHECK(st.message().find("address 0") != std::string::npos);
  CHECK_FALSE(fx.store(n)->started());
  CHECK(fx.store(n)->keyspace().empty());  // nothing applied from a log that failed its checks
  CHECK(fx.aborts(n).empty());
  CHECK(trace_has(fx, "store.recovery.refused"));
}

TEST_CASE("a damaged last record is a torn tail: truncated, reported, never applied") {
  StoreFixture fx;
  const std::size_t n = fx.add_node(crash_config());
  REQUIRE(fx.start(n).is_ok());
  const std::uint64_t digest_before_last = write_all(fx, n, pushes(0, 12));
  const std::uint64_t tail_before_last = fx.store(n)->aof_tail_address();
  write_all(fx, n, pushes(12, 1));
  const std::uint64_t tail = fx.store(n)->aof_tail_address();
  fx.crash(n);
  const std::vector<std::string> segments = files_with_prefix(fx.disk(n), "aof.");
  const std::string last = segments.back();
  const std::uint64_t last_first = std::stoull(last.substr(4), nullptr, 16);
  REQUIRE(tail_before_last >= last_first);
  const std::uint64_t offset = core::Aof::kSegmentHeaderBytes + (tail - 3 - last_first);
  flip_bit_at_rest(fx.disk(n), last, offset, 5);
  REQUIRE(fx.restart(n).is_ok());
  const core::RecoverySummary& rec = fx.store(n)->recovery();
  CHECK(rec.torn_tail);
  CHECK(rec.torn_address == tail_before_last);
  CHECK(rec.torn_bytes_truncated == tail - tail_before_last);
  CHECK(fx.store(n)->digest() == digest_before_last);
  CHECK(fx.store(n)->aof_tail_address() == tail_before_last);
  CHECK(trace_has(fx, "store.recovery.torn_tail"));
  FixtureClient c(fx, "c");
  CHECK(fx.run_task([&] {
    auto p = info_over_wire(c, "persistence");
    CHECK(p["aof_torn_tail"] == "1");
    CHECK(p["aof_torn_tail_address"] == std::to_string(tail_before_last));
    CHECK(p["aof_torn_tail_bytes_truncated"] == std::to_string(tail - tail_before_last));
    // The log continues at the cut: new writes get the decree after the last one kept.
    CHECK(call(c, {"RPUSH", "list", "after"}) == integer(13));
  }));
}

TEST_CASE("read-time bit flips during recovery are caught: the right state or a refusal, never wrong data") {
  int recovered = 0;
  int refused = 0;
  std::uint64_t flips = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    CAPTURE(seed);
    StoreFixture fx(FixtureConfig{.seed = seed});
    const std::size_t n = fx.add_node(crash_config());
    REQUIRE(fx.start(n).is_ok());
    write_all(fx, n, pushes(0, 15));
    write_all(fx, n, {{{"SAVE"}, false}});
    const std::uint64_t digest = write_all(fx, n, pushes(15, 15));
    fx.crash(n);
    kernel::DiskFaults faults = fx.disk(n).faults();
    faults.bit_flip_read_probability = 0.05;
    fx.disk(n).set_faults(faults);
    const core::Status st = fx.restart(n);
    flips += fx.disk(n).stats().bit_flips_injected;
    if (st.is_ok()) {
      ++recovered;
      CHECK(fx.store(n)->digest() == digest);
    } else {
      ++refused;
      CHECK(st.message().find("refusing to start") != std::string::npos);
    }
    CHECK(fx.aborts(n).empty());
  }
  CHECK(flips > 0);
  CHECK(recovered > 0);
  std::printf("read-time bit flips: %llu flips injected over 20 recoveries: %d recovered exactly, %d refused\n",
              static_cast<unsigned long long>(flips), recovered, refused);
}

TEST_CASE("an AOF truncated past every valid checkpoint refuses to start instead of losing data") {
  StoreFixture fx;
  core::StoreConfig config = crash_config();
  config.checkpoints_retained = 1;
  const std::size_t n = fx.add_node(config);
  REQUIRE(fx.start(n).is_ok());
  for (int round = 0; round < 3; ++round) {
    write_all(fx, n, pushes(round * 10, 10));
    write_all(fx, n, {{{"SAVE"}, false}});
  }
  const std::uint64_t begin = fx.store(n)->aof_begin_address();
  REQUIRE(begin > 0);
  fx.crash(n);
  for (const std::string& name : files_with_prefix(fx.disk(n), "checkpoint.")) {
    REQUIRE(fx.disk(n).remove(name).is_ok());
  }
  REQUIRE(fx.disk(n).sync_dir().is_ok());
  const core::Status st = fx.restart(n);
  REQUIRE_FALSE(st.is_ok());
  CHECK(st.message().find("no valid checkpoint") != std::string::npos);
  CHECK(st.message().find(fmt::format("address {}", begin)) != std::string::npos);
  CHECK(fx.aborts(n).empty());
}

TEST_CASE("a checkpoint whose AOF records are gone refuses to start, naming the checkpoint") {
  StoreFixture fx;
  const std::size_t n = fx.add_node(crash_config());
  REQUIRE(fx.start(n).is_ok());
  write_all(fx, n, pushes(0, 8));
  write_all(fx, n, {{{"SAVE"}, false}});
  const std::uint64_t address = fx.store(n)->last_checkpoint_address();
  REQUIRE(address > 0);
  fx.crash(n);
  for (const std::string& name : files_with_prefix(fx.disk(n), "aof.")) REQUIRE(fx.disk(n).remove(name).is_ok());
  REQUIRE(fx.disk(n).sync_dir().is_ok());
  const core::Status st = fx.restart(n);
  REQUIRE_FALSE(st.is_ok());
  CHECK(st.message().find("refusing to start") != std::string::npos);
  CHECK(st.message().find(core::checkpoint_file_name(8)) != std::string::npos);
  CHECK(st.message().find(fmt::format("AOF address {}", address)) != std::string::npos);
  CHECK(fx.aborts(n).empty());
}

TEST_CASE("an AOF record that does not apply is corruption: refuse, naming file, address and decree") {
  StoreFixture fx;
  const std::size_t n = fx.add_node(crash_config());
  REQUIRE(fx.start(n).is_ok());
  write_all(fx, n, {{{"SET", "k", "a string"}}, {{"RPUSH", "list", "x"}}});
  fx.crash(n);
  // Forge a well-formed, checksummed record that cannot apply: LPUSH onto a string.
  fx.sched().restart_node(fx.node_id(n));
  SimEnvParts parts;
  parts.sched = &fx.sched();
  parts.net = &fx.net();
  parts.disk = &fx.disk(n);
  SimEnv env(parts, fx.node_id(n), 3);
  std::uint64_t forged_address = 0;
  {
    auto aof = core::Aof::open(env, crash_config().aof_config());
    REQUIRE(aof.is_ok());
    REQUIRE((*aof)->last_decree() == 2);
    auto appended = (*aof)->append(3, {"LPUSH", "k", "y"});
    REQUIRE(appended.is_ok());
    forged_address = appended.value();
    REQUIRE((*aof)->append(4, {"RPUSH", "list", "after"}).is_ok());
    REQUIRE((*aof)->sync().is_ok());
  }
  const core::Status st = fx.start(n);
  REQUIRE_FALSE(st.is_ok());
  CHECK(st.message().find(fmt::format("AOF record at address {} (decree 3)", forged_address)) !=
        std::string::npos);
  CHECK(st.message().find("aof.0000000000000000") != std::string::npos);
  CHECK(st.message().find("WRONGTYPE") != std::string::npos);
  CHECK_FALSE(fx.store(n)->started());
  CHECK(fx.aborts(n).empty());
}

// ==== record sizes against the page size ==========================================================

TEST_CASE("records smaller than, at and above the page limit: accepted ones replay, larger ones refused") {
  int accepted_total = 0;
  int refused_total = 0;
  for (const std::uint64_t page : {64ULL, 128ULL, 192ULL, 256ULL, 512ULL, 4096ULL}) {
    CAPTURE(page);
    StoreFixture fx(FixtureConfig{.seed = page});
    core::StoreConfig config = base_config();
    config.aof_page_size_bytes = page;
    config.aof_segment_pages = 3;
    const std::size_t n = fx.add_node(config);
    REQUIRE(fx.start(n).is_ok());
    // The largest value SET k<i> accepts: its record plus the growth bound must fit a page.
    auto bound = [](const std::string& key, std::size_t value_bytes) {
      return core::Aof::framed_size(core::Aof::payload_size({"SET", key, std::string(value_bytes, 'v')})) +
             core::max_effect_growth_bytes();
    };
    std::map<std::string, std::string> expected;
    FixtureClient c(fx, "c");
    int accepted = 0;
    int refused = 0;
    const bool finished = fx.run_task([&] {
      std::size_t limit = 0;  // the largest accepted value size, 0 if even the empty value is refused
      const bool any = bound("k00", 0) <= page;
      while (any && bound("k00", limit + 1) <= page) ++limit;
      std::vector<std::size_t> sizes = {0, 1, page / 2, page, 2 * page, 3 * page + 7};
      if (any) {
        for (std::size_t s : {limit - std::min<std::size_t>(limit, 1), limit, limit + 1}) sizes.push_back(s);
      }
      int i = 0;
      for (std::size_t size : sizes) {
        const std::string key = fmt::format("k{:02}", i++);
        const std::string value(size, static_cast<char>('a' + i % 26));
        const std::uint64_t decree_before = fx.store(n)->last_decree();
        const std::size_t b = bound(key, size);
        const RespValue r = call(c, {"SET", key, value});
        if (b <= page) {
          CHECK(r == ok());
          expected[key] = value;
          ++accepted;
        } else {
          CHECK(r == err(fmt::format("ERR value too large: record of {} bytes does not fit "
                                     "aof_page_size_bytes={}; raise aof_page_size_bytes",
                                     b, page)));
          CHECK(fx.store(n)->last_decree() == decree_before);  // nothing logged
          CHECK(call(c, {"EXISTS", key}) == integer(0));       // nothing applied
          ++refused;
        }
      }
      // A list push over the limit is refused as well, and leaves the list alone.
      const RespValue r = call(c, {"RPUSH", "biglist", std::string(page, 'x')});
      CHECK(r.is_error());
      CHECK(call(c, {"EXISTS", "biglist"}) == integer(0));
    });
    CHECK(finished);
    if (bound("k00", 0) > page) CHECK(accepted == 0);  // the growth bound leaves no room at all
    if (page >= 256) CHECK(accepted >= 3);
    const std::uint64_t digest = fx.store(n)->digest();
    fx.crash(n);
    REQUIRE(fx.restart(n).is_ok());
    CHECK(fx.store(n)->digest() == digest);
    for (const auto& [key, value] : expected) {
      const core::Value* v = fx.store(n)->keyspace().find(key);
      REQUIRE(v != nullptr);
      CHECK(v->str() == value);
    }
    CHECK(fx.store(n)->keyspace().size() == expected.size());
    CHECK(fx.aborts(n).empty());
    accepted_total += accepted;
    refused_total += refused;
  }
  std::printf("page-size limits: %d SETs accepted and replayed, %d refused up front\n", accepted_total,
              refused_total);
}

// ==== fsync everysec / no =========================================================================

void fsync_policy_crashes(core::FsyncPolicy policy, int seeds) {
  const std::vector<Op> ops = crash_workload(150);
  const std::vector<std::uint64_t> digests = model_digests(ops);
  int lost_acked_total = 0;
  for (int s = 1; s <= seeds; ++s) {
    const std::uint64_t seed = static_cast<std::uint64_t>(s) * 31 + static_cast<std::uint64_t>(policy);
    CAPTURE(seed);
    FixtureConfig fc;
    fc.seed = seed;
    fc.disk.sector_size_bytes = 64;
    StoreFixture fx(fc);
    core::StoreConfig config = crash_config();
    config.appendfsync = policy;
    const std::size_t n = fx.add_node(config);
    REQUIRE(fx.start(n).is_ok());
    kernel::Rng rng(seed, "crash-time");
    const kernel::Nanos crash_after = std::chrono::milliseconds(200 + rng.below(3000));
    std::vector<std::int64_t> ack_times_ns;
    std::size_t sent = 0;
    FixtureClient c(fx, "writer");
    fx.sched().after(crash_after, [&] { fx.crash(n, "timed crash"); });
    const std::int64_t crash_time_ns = fx.sched().now_ns() + crash_after.count();
    const bool finished = fx.run_task([&] {
      for (std::size_t i = 0; i < ops.size(); ++i) {
        sent = i + 1;
        auto r = c.call(ops[i].argv, 1s);
        if (!r) break;
        ack_times_ns.push_back(fx.sched().now_ns());
        fx.sched().sleep_for(std::chrono::milliseconds(5 + rng.below(20)));
      }
    });
    CHECK(finished);
    if (fx.is_up(n)) fx.crash(n, "workload ended first");
    REQUIRE(fx.restart(n).is_ok());
    const std::uint64_t digest = fx.store(n)->digest();
    // everysec: what was acknowledged at least 1.5 s before the crash was synced by the syncer.
    std::size_t must_survive = 0;
    if (policy == core::FsyncPolicy::everysec) {
      while (must_survive < ack_times_ns.size() &&
             ack_times_ns[must_survive] + 1'500'000'000 < crash_time_ns) {
        ++must_survive;
      }
    }
    const auto matches = matching_prefixes(digests, digest, must_survive, sent);
    CHECK_MESSAGE(!matches.empty(), fx.store(n)->recovery().to_string());
    if (!matches.empty()) lost_acked_total += static_cast<int>(ack_times_ns.size()) - static_cast<int>(matches.back());
    const core::Value* list = fx.store(n)->keyspace().find("list");
    if (list != nullptr) {
      CHECK_FALSE(has_duplicates({list->list().begin(), list->list().end()}));
    }
    CHECK(fx.aborts(n).empty());
  }
  std::printf("fsync %s: %d timed crashes, %d acknowledged writes lost in total (allowed)\n",
              std::string(core::fsync_policy_name(policy)).c_str(), seeds, std::max(0, lost_acked_total));
}

TEST_CASE("fsync everysec: a crash loses at most the last second, and the state is a prefix") {
  fsync_policy_crashes(core::FsyncPolicy::everysec, 15);
}

TEST_CASE("fsync no: a crash may lose any unsynced suffix, but the state is a prefix") {
  fsync_policy_crashes(core::FsyncPolicy::no, 15);
}

// ==== checkpoints and AOF truncation ==============================================================

TEST_CASE("periodic checkpoints move the AOF begin address; restart after truncation recovers all") {
  StoreFixture fx;
  core::StoreConfig config = crash_config();
  config.checkpoint_interval_ms = 300;
  const std::size_t n = fx.add_node(config);
  REQUIRE(fx.start(n).is_ok());
  FixtureClient c(fx, "c");
  std::vector<std::uint64_t> begins;
  const bool finished = fx.run_task([&] {
    for (int i = 0; i < 200; ++i) {
      CHECK(call(c, {"RPUSH", "list", fmt::format("value-{:04}", i)}) == integer(i + 1));
      if (i % 3 == 0) CHECK(call(c, {"SET", fmt::format("k{}", i % 5), fmt::format("{}", i)}) == ok());
      fx.sched().sleep_for(20ms);
      if (i % 20 == 19) begins.push_back(fx.store(n)->aof_begin_address());
    }
    auto p = info_over_wire(c, "persistence");
    CHECK(p["aof_begin_address"] == std::to_string(fx.store(n)->aof_begin_address()));
    CHECK(std::stoull(p["checkpoints_written"]) >= 8);
    CHECK(std::stoull(p["checkpoints"]) == 2);
  });
  REQUIRE(finished);
  core::Store& s = *fx.store(n);
  CHECK(begins.back() > 0);
  CHECK(std::is_sorted(begins.begin(), begins.end()));
  CHECK(begins.front() < begins.back());
  const std::vector<std::uint64_t> decrees = s.checkpoint_decrees();
  REQUIRE(decrees.size() == 2);
  CHECK(decrees[0] >= 1);
  CHECK(decrees[0] < decrees[1]);
  CHECK(decrees[1] <= s.last_decree());
  const std::uint64_t digest = s.digest();
  const std::uint64_t last_decree = s.last_decree();
  fx.crash(n);
  REQUIRE(fx.restart(n).is_ok());
  core::Store& r = *fx.store(n);
  CHECK(r.digest() == digest);
  CHECK(r.last_decree() == last_decree);
  CHECK(r.recovery().checkpoint_loaded);
  CHECK(r.recovery().records_replayed < last_decree);
  CHECK(r.recovery().records_replayed == last_decree - r.recovery().checkpoint_decree);
  CHECK(r.aof_begin_address() <= r.recovery().checkpoint_address);
  CHECK(r.aof_begin_address() > 0);
}

TEST_CASE("checkpoints every N writes") {
  StoreFixture fx;
  core::StoreConfig config = crash_config();
  config.checkpoint_interval_writes = 10;
  const std::size_t n = fx.add_node(config);
  REQUIRE(fx.start(n).is_ok());
  write_all(fx, n, pushes(0, 55));
  fx.run_for(1s);
  FixtureClient c(fx, "c");
  CHECK(fx.run_task([&] {
    auto p = info_over_wire(c, "persistence");
    CHECK(std::stoull(p["checkpoints_written"]) >= 5);
    CHECK(std::stoull(p["rdb_changes_since_last_save"]) < 10);
    // Turning the trigger off stops further checkpoints.
    CHECK(call(c, {"CONFIG", "SET", "checkpoint-interval-writes", "0"}) == ok());
  }));
  const std::uint64_t written = fx.store(n)->checkpoint_decrees().back();
  write_all(fx, n, pushes(55, 30));
  fx.run_for(1s);
  CHECK(fx.store(n)->checkpoint_decrees().back() == written);
}

// ==== failures of the write path ==================================================================

TEST_CASE("an AOF write error stops the node; restart recovers what is on disk") {
  StoreFixture fx;
  const std::size_t n = fx.add_node(crash_config());
  REQUIRE(fx.start(n).is_ok());
  const std::uint64_t digest = write_all(fx, n, pushes(0, 5));
  kernel::DiskFaults faults = fx.disk(n).faults();
  faults.eio_write_probability = 1.0;
  fx.disk(n).set_faults(faults);
  FixtureClient c(fx, "c");
  CHECK(fx.run_task([&] {
    auto r = c.call({"RPUSH", "list", "doomed"});
    CHECK_FALSE(r.is_ok());  // the node went down instead of acknowledging
  }));
  CHECK_FALSE(fx.is_up(n));
  REQUIRE(fx.exits(n).size() == 1);
  CHECK(fx.exits(n)[0].find("AOF write failed") != std::string::npos);
  CHECK(fx.aborts(n).empty());  // a deliberate stop, not an assertion
  faults.eio_write_probability = 0.0;
  fx.disk(n).set_faults(faults);
  REQUIRE(fx.restart(n).is_ok());
  CHECK(fx.store(n)->digest() == digest);
}

TEST_CASE("an fsync error under fsync always stops the node before acknowledging") {
  StoreFixture fx;
  const std::size_t n = fx.add_node(crash_config());
  REQUIRE(fx.start(n).is_ok());
  const std::uint64_t before = write_all(fx, n, pushes(0, 5));
  kernel::DiskFaults faults = fx.disk(n).faults();
  faults.eio_sync_probability = 1.0;
  fx.disk(n).set_faults(faults);
  FixtureClient c(fx, "c");
  CHECK(fx.run_task([&] { CHECK_FALSE(c.call({"RPUSH", "list", "unsynced"}).is_ok()); }));
  CHECK_FALSE(fx.is_up(n));
  REQUIRE(fx.exits(n).size() == 1);
  faults.eio_sync_probability = 0.0;
  fx.disk(n).set_faults(faults);
  REQUIRE(fx.restart(n).is_ok());
  // Never acknowledged: it may or may not have survived the crash, but nothing else changed.
  core::Keyspace after;
  for (const Op& op : pushes(0, 5)) (void)core::execute_data_command(after, op.argv, {});
  (void)core::execute_data_command(after, {"RPUSH", "list", "unsynced"}, {});
  const std::uint64_t d = fx.store(n)->digest();
  CHECK((d == before || d == after.digest()));
}

// ==== tasks, stop and determinism =================================================================

TEST_CASE("FiberMutex: first come first served, and a crash unwinds holders and waiters cleanly") {
  StoreFixture fx;
  const std::size_t n = fx.add_node(base_config());
  SimEnvParts parts;
  parts.sched = &fx.sched();
  parts.net = &fx.net();
  parts.disk = &fx.disk(n);
  SimEnv env(parts, fx.node_id(n), 5);
  core::FiberMutex mutex(env);
  std::vector<std::string> order;
  for (const char* name : {"a", "b", "c"}) {
    env.spawn(name, [&, name = std::string(name)] {
      core::FiberLock lock(mutex);
      CHECK(lock.owns());
      order.push_back(name + "+");
      env.sleep_for(10ms);
      order.push_back(name + "-");
    });
  }
  // d arrives while a holds the mutex and b, c wait: it must not overtake them.
  fx.sched().after(5ms, [&] {
    env.spawn("d", [&] {
      core::FiberLock lock(mutex);
      order.push_back("d+");
      order.push_back("d-");
    });
  }, fx.node_id(n));
  fx.run_for(1s);
  CHECK(order == std::vector<std::string>{"a+", "a-", "b+", "b-", "c+", "c-", "d+", "d-"});
  CHECK_FALSE(mutex.is_locked());

  // A holder and two waiters are unwound by a crash: the mutex ends free with nobody queued.
  for (const char* name : {"x", "y", "z"}) {
    env.spawn(name, [&] {
      core::FiberLock lock(mutex);
      env.sleep_for(10s);
    });
  }
  fx.run_for(1ms);
  CHECK(mutex.is_locked());
  CHECK(mutex.waiting() == 2);
  fx.crash(n, "unwind the mutex users");
  CHECK_FALSE(mutex.is_locked());
  CHECK(mutex.waiting() == 0);
}

TEST_CASE("stop() closes client connections and ends the store's loops") {
  StoreFixture fx;
  const std::size_t n = fx.add_node(base_config());
  REQUIRE(fx.start(n).is_ok());
  FixtureClient c(fx, "c");
  CHECK(fx.run_task([&] {
    CHECK(call(c, {"SET", "k", "v"}) == ok());
    fx.store(n)->stop();
    CHECK(c.expect_closed());
  }));
  fx.run_for(3s);
  CHECK(fx.store(n)->connected_clients() == 0);
  CHECK(fx.sched().task_count() == 0);  // accept loop, syncer and checkpointer are gone
  CHECK(fx.store(n)->stopping());
}

TEST_CASE("one seed, one run: the same crash case twice gives the same trace hash") {
  auto run_once = [](std::uint64_t seed) {
    FixtureConfig fc;
    fc.seed = seed;
    StoreFixture fx(fc);
    const std::size_t n = fx.add_node(crash_config());
    fx.crash_before_mutating_op(n, 40);
    REQUIRE(fx.start(n).is_ok());
    FixtureClient c(fx, "c");
    fx.run_task([&] {
      for (const Op& op : crash_workload(20)) {
        if (!c.call(op.argv)) break;
      }
    });
    if (fx.is_up(n)) fx.crash(n);
    REQUIRE(fx.restart(n).is_ok());
    return std::make_pair(fx.trace().hash(), fx.store(n)->digest());
  };
  const auto first = run_once(99);
  CHECK(run_once(99) == first);
  CHECK(run_once(100).first != first.first);
}

}  // namespace
}  // namespace replsim::sim::testing
