// core/commands_test.cpp — tests of the data commands against Redis 7's replies and errors, of lazy
// expiry on primary-like and replica-like contexts, of the effects each command emits, and of replaying
// those effects to the same digest.
#include "core/commands.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/resp.h"

using namespace replsim::core;

namespace {

using Argv = std::vector<std::string>;

// A keyspace with a clock and a role, and the effects it has emitted so far.
struct Node {
  Keyspace ks;
  ExecContext ctx;
  std::vector<Argv> effects;

  std::string run(Argv argv) {
    CommandResult r = execute_data_command(ks, argv, ctx);
    for (Argv& e : r.effects) effects.push_back(std::move(e));
    return r.reply;
  }
  // Runs and returns only the effects of this one command.
  std::vector<Argv> effects_of(Argv argv) {
    return execute_data_command(ks, argv, ctx).effects;
  }
};

std::string err(std::string_view message) { return encode_error(message); }
std::string bulk(std::string_view s) { return encode_bulk(s); }
std::string integer(std::int64_t i) { return encode_integer(i); }
const std::string kOk = "+OK\r\n";
const std::string kNil = "$-1\r\n";
const std::string kNilArray = "*-1\r\n";
const std::string kEmptyArray = "*0\r\n";

class TestRng {
 public:
  explicit TestRng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545f4914f6cdd1dULL;
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }

 private:
  std::uint64_t state_;
};

}  // namespace

// ---- table --------------------------------------------------------------------------------------

TEST_CASE("the command table is sorted, complete and Redis-shaped") {
  const auto table = builtin_commands();
  CHECK(std::is_sorted(table.begin(), table.end(),
                       [](const CommandSpec& a, const CommandSpec& b) { return a.name < b.name; }));
  for (const char* name : {"ping", "echo", "get", "set", "del", "exists", "incr", "incrby", "append",
                           "type", "lpush", "rpush", "lpop", "rpop", "lrange", "llen", "dbsize",
                           "flushall"}) {
    CAPTURE(name);
    const CommandSpec* spec = find_command(name);
    REQUIRE(spec != nullptr);
    CHECK(spec->owner == CommandOwner::data);
    // A command with keys either reads them or writes them.
    const bool reads_or_writes = spec->has(cmd_flag::write) != spec->has(cmd_flag::readonly);
    CHECK((reads_or_writes || spec->first_key == 0));
  }
  for (const char* name : {"auth", "info", "config", "save", "debug", "wait", "cluster"}) {
    CAPTURE(name);
    const CommandSpec* spec = find_command(name);
    REQUIRE(spec != nullptr);
    CHECK(spec->owner == CommandOwner::store);
  }
  CHECK(find_command("GET") == nullptr);  // lookups take lowercase names
  CHECK(find_command("nosuch") == nullptr);
  CHECK(find_command("set")->arity == -3);
  CHECK(find_command("set")->has(cmd_flag::write));
  CHECK(find_command("get")->has(cmd_flag::readonly));
  CHECK(find_command("auth")->has(cmd_flag::no_auth));
  CHECK(find_command("save")->has(cmd_flag::admin));
  CHECK(find_command("wait")->arity == 3);
}

TEST_CASE("arity and key positions") {
  CHECK(find_command("get")->arity_ok(2));
  CHECK_FALSE(find_command("get")->arity_ok(3));
  CHECK(find_command("del")->arity_ok(2));
  CHECK(find_command("del")->arity_ok(9));
  CHECK_FALSE(find_command("del")->arity_ok(1));
  CHECK(command_key_positions(*find_command("del"), {"DEL", "a", "b", "c"}) ==
        std::vector<std::size_t>{1, 2, 3});
  CHECK(command_key_positions(*find_command("set"), {"SET", "k", "v", "EX", "1"}) ==
        std::vector<std::size_t>{1});
  CHECK(command_key_positions(*find_command("lpop"), {"LPOP", "k", "2"}) ==
        std::vector<std::size_t>{1});
  CHECK(command_key_positions(*find_command("ping"), {"PING", "x"}).empty());
  CHECK(command_key_positions(*find_command("cluster"), {"CLUSTER", "NODES"}).empty());
}

TEST_CASE("the store can extend a command table") {
  CommandTable table;
  CHECK(table.find("get") != nullptr);
  CHECK(table.find("replicaof") == nullptr);
  table.add(CommandSpec{"replicaof", 3, cmd_flag::admin, 0, 0, 0, CommandOwner::store});
  REQUIRE(table.find("replicaof") != nullptr);
  CHECK(table.find("replicaof")->arity == 3);
  table.add(CommandSpec{"info", -1, 0, 0, 0, 0, CommandOwner::store});
  CHECK(table.find("info")->flags == 0);
}

// ---- generic errors -----------------------------------------------------------------------------

TEST_CASE("unknown commands are reported as Redis 7 does") {
  Node n;
  CHECK(n.run({"foo", "a", "b"}) ==
        err("ERR unknown command 'foo', with args beginning with: 'a' 'b' "));
  CHECK(n.run({"FOO"}) == err("ERR unknown command 'FOO', with args beginning with: "));
  const std::string long_arg(200, 'x');
  CHECK(n.run({"foo", long_arg, "next"}) ==
        err("ERR unknown command 'foo', with args beginning with: '" + std::string(128, 'x') +
            "' "));
  CHECK(n.run({"foo", "ab", long_arg}) ==
        err("ERR unknown command 'foo', with args beginning with: 'ab' '" + std::string(123, 'x') +
            "' "));
  CHECK(n.run({"foo", "a\r\nb"}) == err("ERR unknown command 'foo', with args beginning with: 'a  b' "));
  CHECK(n.run({}) == err("ERR empty command"));
  CHECK(n.effects.empty());
}

TEST_CASE("wrong arity for every data command") {
  Node n;
  const std::vector<Argv> cases = {
      {"PING", "a", "b"}, {"ECHO"},          {"ECHO", "a", "b"},  {"GET"},
      {"GET", "a", "b"},  {"SET", "k"},      {"DEL"},             {"EXISTS"},
      {"INCR"},           {"INCR", "a", "b"}, {"INCRBY", "k"},    {"APPEND", "k"},
      {"TYPE"},           {"LPUSH", "k"},    {"RPUSH", "k"},      {"LPOP"},
      {"RPOP"},           {"LPOP", "k", "1", "2"}, {"RPOP", "k", "1", "2"}, {"LRANGE", "k", "0"},
      {"LLEN"},           {"DBSIZE", "x"},
  };
  for (const Argv& argv : cases) {
    CAPTURE(argv[0]);
    CAPTURE(argv.size());
    CHECK(n.run(argv) == err("ERR wrong number of arguments for '" + lowercase_ascii(argv[0]) +
                             "' command"));
  }
  CHECK(n.ks.empty());
}

TEST_CASE("store-level commands are not executed by the data layer") {
  Node n;
  CHECK(n.run({"AUTH", "pw"}) == err("ERR command 'auth' is executed by the store, not the data layer"));
  CHECK(n.run({"SAVE", "x"}) == err("ERR wrong number of arguments for 'save' command"));
}

// ---- strings ------------------------------------------------------------------------------------

TEST_CASE("PING and ECHO") {
  Node n;
  CHECK(n.run({"PING"}) == "+PONG\r\n");
  CHECK(n.run({"ping", "hi"}) == bulk("hi"));
  CHECK(n.run({"ECHO", std::string("a\0b", 3)}) == bulk(std::string("a\0b", 3)));
  CHECK(n.effects.empty());
}

TEST_CASE("GET and SET basics, case-insensitive names") {
  Node n;
  CHECK(n.run({"GET", "k"}) == kNil);
  CHECK(n.run({"set", "k", "v"}) == kOk);
  CHECK(n.run({"GeT", "k"}) == bulk("v"));
  CHECK(n.run({"SET", "k", ""}) == kOk);
  CHECK(n.run({"GET", "k"}) == bulk(""));
  n.run({"RPUSH", "l", "a"});
  CHECK(n.run({"GET", "l"}) == err(kErrWrongType));
  CHECK(n.run({"SET", "l", "now a string"}) == kOk);
  CHECK(n.run({"GET", "l"}) == bulk("now a string"));
}

TEST_CASE("SET NX, XX and GET") {
  Node n;
  CHECK(n.run({"SET", "k", "1", "XX"}) == kNil);
  CHECK(n.ks.find("k") == nullptr);
  CHECK(n.run({"SET", "k", "1", "NX"}) == kOk);
  CHECK(n.run({"SET", "k", "2", "NX"}) == kNil);
  CHECK(n.run({"GET", "k"}) == bulk("1"));
  CHECK(n.run({"SET", "k", "3", "xx"}) == kOk);
  CHECK(n.run({"SET", "k", "4", "GET"}) == bulk("3"));
  CHECK(n.run({"SET", "new", "x", "GET"}) == kNil);
  CHECK(n.run({"GET", "new"}) == bulk("x"));
  // NX with GET (allowed since Redis 7): the old value is returned whether or not the set happens.
  CHECK(n.run({"SET", "k", "5", "NX", "GET"}) == bulk("4"));
  CHECK(n.run({"GET", "k"}) == bulk("4"));
  CHECK(n.run({"SET", "absent", "5", "XX", "GET"}) == kNil);
  CHECK(n.ks.find("absent") == nullptr);
  n.run({"RPUSH", "l", "a"});
  CHECK(n.run({"SET", "l", "x", "GET"}) == err(kErrWrongType));
  CHECK(n.ks.find("l")->type() == ValueType::list);
  // Without GET a list is simply overwritten.
  CHECK(n.run({"SET", "l", "x", "NX"}) == kNil);
  CHECK(n.run({"SET", "l", "x"}) == kOk);
}

TEST_CASE("SET option grammar errors") {
  Node n;
  for (const Argv& argv : std::vector<Argv>{
           {"SET", "k", "v", "NX", "XX"},
           {"SET", "k", "v", "XX", "NX"},
           {"SET", "k", "v", "EX"},
           {"SET", "k", "v", "EX", "10", "PX", "100"},
           {"SET", "k", "v", "PXAT", "10", "EXAT", "100"},
           {"SET", "k", "v", "KEEPTTL", "EX", "10"},
           {"SET", "k", "v", "EX", "10", "KEEPTTL"},
           {"SET", "k", "v", "BOGUS"},
           {"SET", "k", "v", "NXX"},
       }) {
    CAPTURE(argv);
    CHECK(n.run(argv) == err(kErrSyntax));
  }
  // Repeating the same option is accepted; the last value wins.
  n.ctx.now_ms = 1000;
  CHECK(n.run({"SET", "k", "v", "EX", "10", "EX", "20", "NX", "NX"}) == kOk);
  CHECK(n.ks.find("k")->expire_at_ms == 21000);
  CHECK(n.run({"SET", "k", "v", "KEEPTTL", "KEEPTTL"}) == kOk);
  CHECK(n.ks.find("k")->expire_at_ms == 21000);
}

TEST_CASE("SET expiry values") {
  Node n;
  n.ctx.now_ms = 1'000'000;
  const std::string kInvalid = err("ERR invalid expire time in 'set' command");
  CHECK(n.run({"SET", "k", "v", "EX", "abc"}) == err(kErrNotInteger));
  CHECK(n.run({"SET", "k", "v", "PX", "1.5"}) == err(kErrNotInteger));
  CHECK(n.run({"SET", "k", "v", "EX", "0"}) == kInvalid);
  CHECK(n.run({"SET", "k", "v", "PX", "-5"}) == kInvalid);
  CHECK(n.run({"SET", "k", "v", "EXAT", "0"}) == kInvalid);
  CHECK(n.run({"SET", "k", "v", "EX", "9223372036854775807"}) == kInvalid);
  CHECK(n.run({"SET", "k", "v", "PX", "9223372036854775807"}) == kInvalid);  // overflows now + ms
  CHECK(n.ks.empty());
  CHECK(n.effects.empty());

  CHECK(n.run({"SET", "a", "v", "EX", "10"}) == kOk);
  CHECK(n.ks.find("a")->expire_at_ms == 1'010'000);
  CHECK(n.run({"SET", "b", "v", "px", "250"}) == kOk);
  CHECK(n.ks.find("b")->expire_at_ms == 1'000'250);
  CHECK(n.run({"SET", "c", "v", "EXAT", "5000"}) == kOk);
  CHECK(n.ks.find("c")->expire_at_ms == 5'000'000);
  CHECK(n.run({"SET", "d", "v", "PXAT", "1234567"}) == kOk);
  CHECK(n.ks.find("d")->expire_at_ms == 1'234'567);
  // A plain SET clears the TTL; KEEPTTL keeps it.
  CHECK(n.run({"SET", "a", "w"}) == kOk);
  CHECK_FALSE(n.ks.find("a")->expire_at_ms.has_value());
  CHECK(n.run({"SET", "b", "w", "KEEPTTL"}) == kOk);
  CHECK(n.ks.find("b")->expire_at_ms == 1'000'250);
  CHECK(n.effects == std::vector<Argv>{
                         {"SET", "a", "v", "PXAT", "1010000"},
                         {"SET", "b", "v", "PXAT", "1000250"},
                         {"SET", "c", "v", "PXAT", "5000000"},
                         {"SET", "d", "v", "PXAT", "1234567"},
                         {"SET", "a", "w"},
                         {"SET", "b", "w", "PXAT", "1000250"},
                     });
}

TEST_CASE("lazy expiry on a primary deletes and emits DEL") {
  Node n;
  n.ctx.now_ms = 1000;
  n.run({"SET", "k", "v", "PX", "100"});
  n.effects.clear();
  n.ctx.now_ms = 1100;  // alive at exactly the expiry instant
  CHECK(n.run({"GET", "k"}) == bulk("v"));
  CHECK(n.effects.empty());
  n.ctx.now_ms = 1101;
  CHECK(n.run({"DBSIZE"}) == integer(1));  // DBSIZE counts keys not yet reclaimed, like Redis
  CHECK(n.run({"GET", "k"}) == kNil);
  CHECK(n.effects == std::vector<Argv>{{"DEL", "k"}});
  CHECK(n.ks.empty());
  CHECK(n.run({"GET", "k"}) == kNil);
  CHECK(n.effects.size() == 1);

  // Every key-reading command expires the same way.
  for (const Argv& read : std::vector<Argv>{{"EXISTS", "x"}, {"TYPE", "x"}, {"LLEN", "x"},
                                            {"LRANGE", "x", "0", "-1"}, {"DEL", "x"}}) {
    CAPTURE(read[0]);
    n.ks.put("x", Value{List{"a"}, 5});
    CHECK(n.effects_of(read) == std::vector<Argv>{{"DEL", "x"}});
    CHECK(n.ks.find("x") == nullptr);
  }
  n.ks.put("x", Value{List{"a"}, 5});
  CHECK(n.run({"DEL", "x"}) == integer(0));
  n.ks.put("x", Value{std::string("a"), 5});
  CHECK(n.run({"TYPE", "x"}) == "+none\r\n");
}

TEST_CASE("a replica context hides expired keys but keeps them") {
  Node n;
  n.ctx.may_expire = false;
  n.ctx.now_ms = 2000;
  n.ks.put("s", Value{std::string("v"), 1000});
  n.ks.put("l", Value{List{"a", "b"}, 1000});
  CHECK(n.run({"GET", "s"}) == kNil);
  CHECK(n.run({"EXISTS", "s", "l"}) == integer(0));
  CHECK(n.run({"TYPE", "l"}) == "+none\r\n");
  CHECK(n.run({"LLEN", "l"}) == integer(0));
  CHECK(n.run({"LRANGE", "l", "0", "-1"}) == kEmptyArray);
  CHECK(n.run({"DEL", "s"}) == integer(0));
  CHECK(n.run({"LPOP", "l"}) == kNil);
  CHECK(n.run({"DBSIZE"}) == integer(2));
  CHECK(n.effects.empty());
  CHECK(n.ks.size() == 2);
  // The same keys are visible before their time.
  n.ctx.now_ms = 1000;
  CHECK(n.run({"GET", "s"}) == bulk("v"));
  CHECK(n.run({"LLEN", "l"}) == integer(2));
}

TEST_CASE("a write over a hidden expired key replaces it and says so") {
  Node n;
  n.ctx.may_expire = false;
  n.ctx.now_ms = 2000;
  n.ks.put("l", Value{List{"old"}, 1000});
  CHECK(n.run({"RPUSH", "l", "new"}) == integer(1));
  CHECK(n.ks.find("l")->list() == List{"new"});
  CHECK_FALSE(n.ks.find("l")->expire_at_ms.has_value());
  CHECK(n.effects == std::vector<Argv>{{"DEL", "l"}, {"RPUSH", "l", "new"}});
  n.ks.put("s", Value{std::string("5"), 1000});
  CHECK(n.run({"INCR", "s"}) == integer(1));
  n.ks.put("a", Value{std::string("xy"), 1000});
  CHECK(n.run({"APPEND", "a", "z"}) == integer(1));
  n.ks.put("k", Value{std::string("xy"), 1000});
  CHECK(n.run({"SET", "k", "v", "NX"}) == kOk);
}

TEST_CASE("INCR and INCRBY") {
  Node n;
  CHECK(n.run({"INCR", "c"}) == integer(1));
  CHECK(n.run({"INCRBY", "c", "41"}) == integer(42));
  CHECK(n.run({"INCRBY", "c", "-50"}) == integer(-8));
  CHECK(n.run({"GET", "c"}) == bulk("-8"));
  CHECK(n.run({"INCRBY", "c", "x"}) == err(kErrNotInteger));
  CHECK(n.run({"INCRBY", "c", "01"}) == err(kErrNotInteger));
  CHECK(n.run({"INCRBY", "c", "9223372036854775808"}) == err(kErrNotInteger));
  for (const char* bad : {"abc", "01", " 1", "1 ", "+1", "1.0", "", "99999999999999999999"}) {
    CAPTURE(bad);
    n.run({"SET", "s", bad});
    CHECK(n.run({"INCR", "s"}) == err(kErrNotInteger));
  }
  n.run({"SET", "m", "9223372036854775807"});
  CHECK(n.run({"INCR", "m"}) == err(kErrOverflow));
  n.run({"SET", "m", "-9223372036854775808"});
  CHECK(n.run({"INCRBY", "m", "-1"}) == err(kErrOverflow));
  CHECK(n.run({"INCRBY", "m", "9223372036854775807"}) == integer(-1));
  n.run({"RPUSH", "l", "a"});
  CHECK(n.run({"INCR", "l"}) == err(kErrWrongType));
  // The increment is checked before the key's type, as in Redis.
  CHECK(n.run({"INCRBY", "l", "x"}) == err(kErrNotInteger));
}

TEST_CASE("INCR keeps the TTL and emits the resulting SET") {
  Node n;
  n.ctx.now_ms = 100;
  n.run({"SET", "c", "10", "PX", "1000"});
  n.effects.clear();
  CHECK(n.run({"INCR", "c"}) == integer(11));
  CHECK(n.ks.find("c")->expire_at_ms == 1100);
  CHECK(n.run({"INCRBY", "d", "5"}) == integer(5));
  CHECK(n.effects == std::vector<Argv>{{"SET", "c", "11", "PXAT", "1100"}, {"SET", "d", "5"}});
}

TEST_CASE("APPEND") {
  Node n;
  CHECK(n.run({"APPEND", "k", "ab"}) == integer(2));
  CHECK(n.run({"APPEND", "k", "cde"}) == integer(5));
  CHECK(n.run({"GET", "k"}) == bulk("abcde"));
  CHECK(n.run({"APPEND", "k", ""}) == integer(5));
  CHECK(n.run({"APPEND", "e", ""}) == integer(0));
  CHECK(n.run({"GET", "e"}) == bulk(""));
  n.run({"LPUSH", "l", "a"});
  CHECK(n.run({"APPEND", "l", "x"}) == err(kErrWrongType));
  n.ctx.max_string_bytes = 6;
  CHECK(n.run({"APPEND", "k", "f"}) == integer(6));
  CHECK(n.run({"APPEND", "k", "g"}) == err(kErrStringTooLong));
  CHECK(n.run({"GET", "k"}) == bulk("abcdef"));
  // An empty append to an existing key changes nothing and is not logged; creating a key is.
  CHECK(n.effects == std::vector<Argv>{{"APPEND", "k", "ab"},
                                       {"APPEND", "k", "cde"},
                                       {"APPEND", "e", ""},
                                       {"LPUSH", "l", "a"},
                                       {"APPEND", "k", "f"}});
}

TEST_CASE("TYPE, EXISTS, DEL, DBSIZE, FLUSHALL") {
  Node n;
  CHECK(n.run({"TYPE", "k"}) == "+none\r\n");
  n.run({"SET", "s", "v"});
  n.run({"RPUSH", "l", "a"});
  CHECK(n.run({"TYPE", "s"}) == "+string\r\n");
  CHECK(n.run({"TYPE", "l"}) == "+list\r\n");
  CHECK(n.run({"EXISTS", "s", "l", "nope", "s"}) == integer(3));
  CHECK(n.run({"DBSIZE"}) == integer(2));
  n.effects.clear();
  CHECK(n.run({"DEL", "nope"}) == integer(0));
  CHECK(n.effects.empty());
  CHECK(n.run({"DEL", "s", "nope", "s", "l"}) == integer(2));
  CHECK(n.effects == std::vector<Argv>{{"DEL", "s", "l"}});
  CHECK(n.run({"DBSIZE"}) == integer(0));

  n.run({"SET", "a", "1"});
  n.effects.clear();
  CHECK(n.run({"FLUSHALL", "bogus"}) == err(kErrSyntax));
  CHECK(n.run({"FLUSHALL", "SYNC", "ASYNC"}) == err(kErrSyntax));
  CHECK(n.ks.size() == 1);
  CHECK(n.run({"FLUSHALL", "async"}) == kOk);
  CHECK(n.ks.empty());
  CHECK(n.run({"FLUSHALL"}) == kOk);
  CHECK(n.run({"FLUSHALL", "SYNC"}) == kOk);
  CHECK(n.effects == std::vector<Argv>{{"FLUSHALL"}});
}

// ---- lists --------------------------------------------------------------------------------------

TEST_CASE("LPUSH, RPUSH, LRANGE, LLEN") {
  Node n;
  CHECK(n.run({"LPUSH", "l", "a", "b", "c"}) == integer(3));
  CHECK(n.run({"RPUSH", "l", "d", "e"}) == integer(5));
  CHECK(n.run({"LRANGE", "l", "0", "-1"}) == encode_bulk_array({"c", "b", "a", "d", "e"}));
  CHECK(n.run({"LRANGE", "l", "1", "2"}) == encode_bulk_array({"b", "a"}));
  CHECK(n.run({"LRANGE", "l", "-2", "-1"}) == encode_bulk_array({"d", "e"}));
  CHECK(n.run({"LRANGE", "l", "-100", "100"}) == encode_bulk_array({"c", "b", "a", "d", "e"}));
  CHECK(n.run({"LRANGE", "l", "3", "1"}) == kEmptyArray);
  CHECK(n.run({"LRANGE", "l", "5", "10"}) == kEmptyArray);
  CHECK(n.run({"LRANGE", "l", "0", "-6"}) == kEmptyArray);
  CHECK(n.run({"LRANGE", "l", "-9223372036854775808", "9223372036854775807"}) ==
        encode_bulk_array({"c", "b", "a", "d", "e"}));
  CHECK(n.run({"LRANGE", "l", "a", "1"}) == err(kErrNotInteger));
  CHECK(n.run({"LRANGE", "l", "0", "1.0"}) == err(kErrNotInteger));
  CHECK(n.run({"LRANGE", "nope", "0", "-1"}) == kEmptyArray);
  // Empty and long elements, written into a reply sized up front.
  const std::string long_element(300, 'z');
  n.run({"RPUSH", "e", "", long_element, "", "q"});
  CHECK(n.run({"LRANGE", "e", "0", "-1"}) == encode_bulk_array({"", long_element, "", "q"}));
  CHECK(n.run({"LRANGE", "e", "1", "1"}) == encode_bulk_array({long_element}));
  CHECK(n.run({"LLEN", "l"}) == integer(5));
  CHECK(n.run({"LLEN", "nope"}) == integer(0));
  n.run({"SET", "s", "v"});
  CHECK(n.run({"LPUSH", "s", "x"}) == err(kErrWrongType));
  CHECK(n.run({"RPUSH", "s", "x"}) == err(kErrWrongType));
  CHECK(n.run({"LRANGE", "s", "0", "1"}) == err(kErrWrongType));
  CHECK(n.run({"LLEN", "s"}) == err(kErrWrongType));
  // A list read with a bad index is an integer error even when the key is a string.
  CHECK(n.run({"LRANGE", "s", "x", "1"}) == err(kErrNotInteger));
}

TEST_CASE("LPOP and RPOP with and without count") {
  Node n;
  n.run({"RPUSH", "l", "a", "b", "c", "d", "e"});
  n.effects.clear();
  CHECK(n.run({"LPOP", "l"}) == bulk("a"));
  CHECK(n.run({"RPOP", "l"}) == bulk("e"));
  CHECK(n.run({"LPOP", "l", "2"}) == encode_bulk_array({"b", "c"}));
  CHECK(n.run({"LPOP", "l", "0"}) == kEmptyArray);
  CHECK(n.run({"RPOP", "l", "10"}) == encode_bulk_array({"d"}));
  CHECK(n.ks.find("l") == nullptr);  // the emptied list is gone
  CHECK(n.run({"LPOP", "l"}) == kNil);
  CHECK(n.run({"LPOP", "l", "3"}) == kNilArray);
  CHECK(n.run({"RPOP", "l", "0"}) == kNilArray);
  CHECK(n.effects == std::vector<Argv>{{"LPOP", "l"}, {"RPOP", "l"}, {"LPOP", "l", "2"},
                                       {"RPOP", "l", "1"}});

  CHECK(n.run({"LPOP", "l", "-1"}) == err(kErrMustBePositive));
  CHECK(n.run({"LPOP", "l", "x"}) == err(kErrNotInteger));
  CHECK(n.run({"RPOP", "l", "1.5"}) == err(kErrNotInteger));
  n.run({"SET", "s", "v"});
  CHECK(n.run({"LPOP", "s"}) == err(kErrWrongType));
  CHECK(n.run({"RPOP", "s", "0"}) == err(kErrWrongType));
  CHECK(n.run({"LPOP", "s", "-1"}) == err(kErrMustBePositive));
  n.run({"RPUSH", "m", "x", "y"});
  CHECK(n.run({"RPOP", "m", "9223372036854775807"}) == encode_bulk_array({"y", "x"}));
}

// ---- effects and replay -------------------------------------------------------------------------

TEST_CASE("writes that change nothing emit no effect") {
  Node n;
  n.run({"SET", "k", "v"});
  n.run({"RPUSH", "l", "a"});
  for (const Argv& argv : std::vector<Argv>{
           {"SET", "k", "w", "NX"}, {"SET", "x", "w", "XX"}, {"LPOP", "missing"},
           {"RPOP", "missing", "2"}, {"LPOP", "l", "0"}, {"DEL", "missing"},
           {"APPEND", "k", ""}, {"FLUSHALL", "bogus"}, {"INCR", "k"},
           {"LPUSH", "k", "x"}, {"SET", "k", "v", "EX", "0"}, {"GET", "k"},
           {"LRANGE", "l", "0", "-1"}}) {
    CAPTURE(argv);
    CHECK(n.effects_of(argv).empty());
  }
}

TEST_CASE("apply_effect replays a workload to the same digest") {
  TestRng rng(2024);
  Node primary;
  const std::vector<std::string> keys = {"a", "b", "c", "d", "l1", "l2"};
  for (int step = 0; step < 5000; ++step) {
    primary.ctx.now_ms += static_cast<std::int64_t>(rng.below(40));
    const std::string& key = keys[rng.below(keys.size())];
    const std::string value = "v" + std::to_string(rng.below(1000));
    Argv argv;
    switch (rng.below(16)) {
      case 0: argv = {"SET", key, value}; break;
      case 1: argv = {"SET", key, value, "PX", std::to_string(1 + rng.below(300))}; break;
      case 2: argv = {"SET", key, value, "EX", "1", "NX"}; break;
      case 3: argv = {"SET", key, value, "XX", "KEEPTTL", "GET"}; break;
      case 4: argv = {"INCRBY", key, std::to_string(static_cast<int>(rng.below(20)) - 10)}; break;
      case 5: argv = {"APPEND", key, value}; break;
      case 6: argv = {"LPUSH", key, value, value + "x"}; break;
      case 7: argv = {"RPUSH", key, value}; break;
      case 8: argv = {"LPOP", key}; break;
      case 9: argv = {"RPOP", key, std::to_string(rng.below(4))}; break;
      case 10: argv = {"DEL", key, keys[rng.below(keys.size())]}; break;
      case 11: argv = {"GET", key}; break;
      case 12: argv = {"EXISTS", key}; break;
      case 13: argv = {"LRANGE", key, "0", "-1"}; break;
      case 14: argv = {"SET", key, value, "PXAT", std::to_string(primary.ctx.now_ms + 50)}; break;
      default: argv = rng.below(50) == 0 ? Argv{"FLUSHALL"} : Argv{"INCR", key}; break;
    }
    const std::string request = encode_command(argv);
    const CommandResult r = execute_data_command(primary.ks, argv, primary.ctx);
    for (const Argv& e : r.effects) {
      CAPTURE(argv);
      CHECK(encode_command(e).size() <= request.size() + max_effect_growth_bytes());
      primary.effects.push_back(e);
    }
  }
  REQUIRE(primary.effects.size() > 2000);

  Keyspace replica;
  for (const Argv& e : primary.effects) {
    const Status s = apply_effect(replica, e);
    CAPTURE(e);
    REQUIRE(s.is_ok());
  }
  CHECK(replica.digest() == primary.ks.digest());
  CHECK(replica.serialize() == primary.ks.serialize());

  // Replaying from a snapshot taken halfway gives the same result as replaying from the start.
  Keyspace half;
  const std::size_t mid = primary.effects.size() / 2;
  for (std::size_t i = 0; i < mid; ++i) REQUIRE(apply_effect(half, primary.effects[i]).is_ok());
  auto restored = Keyspace::deserialize(half.serialize());
  REQUIRE(restored.is_ok());
  for (std::size_t i = mid; i < primary.effects.size(); ++i) {
    REQUIRE(apply_effect(*restored, primary.effects[i]).is_ok());
  }
  CHECK(restored->digest() == primary.ks.digest());
}

TEST_CASE("apply_effect makes no expiry decisions") {
  Keyspace ks;
  REQUIRE(apply_effect(ks, {"SET", "k", "v", "PXAT", "1"}).is_ok());
  REQUIRE(apply_effect(ks, {"RPUSH", "l", "a"}).is_ok());
  REQUIRE(apply_effect(ks, {"SET", "l", "x", "KEEPTTL"}).is_ok());
  // The key's time has long passed on any real clock, yet the record appends to it.
  REQUIRE(apply_effect(ks, {"APPEND", "k", "w"}).is_ok());
  CHECK(ks.find("k")->str() == "vw");
  CHECK(ks.find("k")->expire_at_ms == 1);
  REQUIRE(apply_effect(ks, {"SET", "e", "v", "EXAT", "3"}).is_ok());
  CHECK(ks.find("e")->expire_at_ms == 3000);
}

TEST_CASE("apply_effect rejects records it cannot apply, naming them") {
  Keyspace ks;
  ks.put("s", Value{std::string("v"), std::nullopt});
  auto message = [&](Argv argv) {
    const Status s = apply_effect(ks, argv);
    CHECK(s.code() == Err::invalid);
    return s.message();
  };
  CHECK(message({}) == "cannot apply an empty record");
  CHECK(message({"FOO", "a"}) == "cannot apply record \"FOO\" \"a\": not a data write command");
  CHECK(message({"GET", "s"}) == "cannot apply record \"GET\" \"s\": not a data write command");
  CHECK(message({"AUTH", "pw"}) == "cannot apply record \"AUTH\" \"pw\": not a data write command");
  CHECK(message({"SET", "k"}) ==
        "cannot apply record \"SET\" \"k\": ERR wrong number of arguments for 'set' command");
  CHECK(message({"SET", "k", "v", "EX", "10"}) ==
        "cannot apply record \"SET\" \"k\" \"v\" \"EX\" ...(+1 args): relative expiry 'EX' (records "
        "carry PXAT)");
  CHECK(message({"LPUSH", "s", "x"}) ==
        "cannot apply record \"LPUSH\" \"s\" \"x\": WRONGTYPE Operation against a key holding the wrong "
        "kind of value");
  CHECK(message({"INCR", "s"}) ==
        "cannot apply record \"INCR\" \"s\": ERR value is not an integer or out of range");
  CHECK(ks.size() == 1);
}

TEST_CASE("max_effect_growth_bytes covers the worst rewrites") {
  Node n;
  n.ctx.now_ms = std::numeric_limits<std::int64_t>::max() - 10;
  const auto growth = [&](Argv argv) {
    const CommandResult r = execute_data_command(n.ks, argv, n.ctx);
    std::size_t worst = 0;
    for (const Argv& e : r.effects) {
      const std::size_t in = encode_command(argv).size();
      const std::size_t out = encode_command(e).size();
      if (out > in) worst = std::max(worst, out - in);
    }
    return worst;
  };
  n.ks.put("c", Value{std::string("-9223372036854775807"), std::numeric_limits<std::int64_t>::max()});
  const std::size_t incr = growth({"INCR", "c"});
  CHECK(incr == 62);
  n.ks.put("k", Value{std::string("v"), std::numeric_limits<std::int64_t>::max()});
  const std::size_t keepttl = growth({"SET", "k", "v", "KEEPTTL"});
  CHECK(keepttl == 23);
  const std::size_t ex = growth({"SET", "x", "v", "PX", "1"});
  CHECK(ex == 21);
  CHECK(std::max({incr, keepttl, ex}) <= max_effect_growth_bytes());
}
