// Each list check gets a violating and a clean example.
#include <doctest/doctest.h>

#include "sim/checks/check.h"
#include "sim/kernel/rng.h"

using namespace replsim::sim;

namespace {

std::uint64_t push(History& h, const std::string& key, const std::string& v, Outcome outcome) {
  const auto id = h.invoke(0, OpKind::rpush, key, {v}, 0);
  h.complete(id, outcome, 1, "n0", ":1");
  return id;
}

std::uint64_t pop(History& h, const std::string& key, std::vector<std::string> values, Outcome outcome) {
  const auto id = h.invoke(0, OpKind::lpop, key, {"1"}, 0);
  h.complete(id, outcome, 1, "n0", "x", std::move(values));
  return id;
}

NodeFinal primary_with(const std::string& key, std::vector<std::string> values) {
  NodeFinal n;
  n.node = "n0";
  n.up = true;
  n.role = "primary";
  n.lists[key] = std::move(values);
  return n;
}

}  // namespace

TEST_CASE("catalogue: every DESIGN.md check id is listed once, with a meaning and a source") {
  const char* ids[] = {"no-stuck-recovering", "no-duplicate-list-entries", "valid-checkpoint-decrees",
                       "replicas-converge", "single-primary-per-slot", "replicate-ok-means-sync",
                       "aof-readable", "acknowledged-writes-durable", "no-abort"};
  for (const char* id : ids) {
    const CheckInfo* c = find_check(id);
    REQUIRE(c != nullptr);
    CHECK(!c->meaning.empty());
    CHECK(!c->source.empty());
  }
  CHECK(check_catalogue().size() == 9);
  CHECK(find_check("no-such-check") == nullptr);
}

TEST_CASE("no-duplicate-list-entries: an LRANGE read with an element twice") {
  History h;
  push(h, "l:1", "a", Outcome::ok);
  const auto r = h.invoke(1, OpKind::lrange, "l:1", {"0", "-1"}, 2);
  h.complete(r, Outcome::ok, 3, "n1", "...", {"a", "b", "a"});
  RunFacts facts{&h, {}, {}, false};
  auto v = check_no_duplicate_list_entries(facts);
  REQUIRE(v.size() == 1);
  CHECK(v[0].check == "no-duplicate-list-entries");
  CHECK(v[0].node == "n1");
  CHECK(v[0].message.find("\"a\" twice") != std::string::npos);
  CHECK(v[0].evidence["op"] == r);
}

TEST_CASE("no-duplicate-list-entries: the same element popped twice, and a final state duplicate") {
  History h;
  push(h, "l:1", "a", Outcome::ok);
  pop(h, "l:1", {"a"}, Outcome::ok);
  pop(h, "l:1", {"a"}, Outcome::ok);
  RunFacts facts{&h, {primary_with("l:2", {"x", "y", "x"})}, {}, true};
  auto v = check_no_duplicate_list_entries(facts);
  REQUIRE(v.size() == 2);
  CHECK(v[0].message.find("popped twice") != std::string::npos);
  CHECK(v[1].message.find("final state of l:2") != std::string::npos);
  // Without the durability promise the first pop may have been lost (the element came back): only
  // the final-state duplicate is proof.
  RunFacts unpromised{&h, {primary_with("l:2", {"x", "y", "x"})}, {}, false};
  auto u = check_no_duplicate_list_entries(unpromised);
  REQUIRE(u.size() == 1);
  CHECK(u[0].message.find("final state of l:2") != std::string::npos);
}

TEST_CASE("no-duplicate-list-entries: clean runs pass, including failed and unknown reads") {
  History h;
  push(h, "l:1", "a", Outcome::ok);
  push(h, "l:1", "b", Outcome::ok);
  const auto r = h.invoke(1, OpKind::lrange, "l:1", {"0", "-1"}, 2);
  h.complete(r, Outcome::ok, 3, "n0", "...", {"a", "b"});
  const auto bad = h.invoke(1, OpKind::lrange, "l:1", {"0", "-1"}, 2);
  h.complete(bad, Outcome::unknown, 3, "n0", "timeout", {});
  pop(h, "l:1", {"a"}, Outcome::ok);
  RunFacts facts{&h, {primary_with("l:1", {"b"})}, {}, false};
  CHECK(check_no_duplicate_list_entries(facts).empty());
}

TEST_CASE("acknowledged-writes-durable: an acknowledged push missing from the final list") {
  History h;
  push(h, "l:1", "a", Outcome::ok);
  const auto lost = push(h, "l:1", "b", Outcome::ok);
  push(h, "l:1", "c", Outcome::unknown);  // unknown pushes may be lost
  RunFacts facts{&h, {primary_with("l:1", {"a"})}, {}, true};
  auto v = check_acknowledged_writes_durable(facts);
  REQUIRE(v.size() == 1);
  CHECK(v[0].check == "acknowledged-writes-durable");
  CHECK(v[0].evidence["lost"][0]["element"] == "b");
  CHECK(v[0].evidence["lost"][0]["push_op"] == lost);
}

TEST_CASE("acknowledged-writes-durable: pops explain missing elements; no promise, no check") {
  History h;
  push(h, "l:1", "a", Outcome::ok);
  push(h, "l:1", "b", Outcome::ok);
  push(h, "l:1", "c", Outcome::ok);
  pop(h, "l:1", {"a"}, Outcome::ok);       // returned: accounted for
  pop(h, "l:1", {}, Outcome::unknown);     // may have removed one more
  RunFacts facts{&h, {primary_with("l:1", {"c"})}, {}, true};
  CHECK(check_acknowledged_writes_durable(facts).empty());
  // Two missing elements but only one uncertain pop: a loss.
  RunFacts worse{&h, {primary_with("l:1", {})}, {}, true};
  CHECK(check_acknowledged_writes_durable(worse).size() == 1);
  // Without the durability promise (fsync everysec, faults beyond budget) nothing is claimed.
  RunFacts unpromised{&h, {primary_with("l:1", {})}, {}, false};
  CHECK(check_acknowledged_writes_durable(unpromised).empty());
}

TEST_CASE("no-abort: each abort is a violation with its message; none is clean") {
  RunFacts clean{nullptr, {}, {}, false};
  CHECK(check_no_abort(clean).empty());
  RunFacts facts{nullptr, {}, {{"n2", 5, "assertion failed: min_checkpoint_decree > 0"}}, false};
  auto v = check_no_abort(facts);
  REQUIRE(v.size() == 1);
  CHECK(v[0].node == "n2");
  CHECK(v[0].message.find("min_checkpoint_decree") != std::string::npos);
}

TEST_CASE("history: a reply kept for display renders as the whole reply would") {
  using replsim::core::RespValue;
  std::vector<RespValue> cases;
  // Empty simple strings are the cheapest elements to show: the most elements a rendering reaches.
  cases.push_back(RespValue::array(std::vector<RespValue>(200, RespValue::simple(""))));
  std::vector<RespValue> bulks;
  for (int i = 0; i < 100; ++i) bulks.push_back(RespValue::bulk("e" + std::to_string(i)));
  cases.push_back(RespValue::array(bulks));
  cases.push_back(RespValue::array(std::vector<RespValue>(60, RespValue::array(std::vector<RespValue>(60, RespValue::null())))));
  cases.push_back(RespValue::array({RespValue::from_integer(7), RespValue::array({})}));
  cases.push_back(RespValue::bulk(std::string(5000, '\x01') + "tail\"\n"));
  cases.push_back(RespValue::error("MOVED 1 n0:6379"));
  cases.push_back(RespValue::null());
  // The nested array begins exactly at the cut: it shows as "[" past the cut, not "(empty array)".
  cases.push_back(RespValue::array({RespValue::bulk(std::string(151, 'v')), RespValue::array({RespValue::null()})}));
  for (const RespValue& v : cases) {
    const std::string whole = v.to_display(kReplyDisplayChars);
    CHECK(ReplyText::of(v).str() == whole);
    CHECK(std::string_view(ReplyText::of(v)) == whole);
  }
  CHECK(ReplyText("(no reply: timeout)").str() == "(no reply: timeout)");
}

namespace {

replsim::core::RespValue random_reply(replsim::kernel::Rng& rng, int depth) {
  using replsim::core::RespValue;
  auto text = [&] {
    // Short texts of every kind of byte (printable, escaped, \xHH), sometimes long ones.
    std::string t(static_cast<std::size_t>(rng.chance(0.1) ? rng.range(0, 400) : rng.range(0, 12)), ' ');
    for (char& c : t) c = rng.chance(0.8) ? static_cast<char>(rng.range('a', 'z')) : static_cast<char>(rng.range(0, 255));
    return t;
  };
  switch (rng.below(depth < 3 ? 7 : 5)) {
    case 0: return RespValue::simple(text());
    case 1: return RespValue::error(text());
    case 2: return RespValue::from_integer(rng.range(-100000, 100000));
    case 3: return RespValue::null();
    case 4: return RespValue::bulk(text());
    default: {
      std::vector<RespValue> items(static_cast<std::size_t>(rng.chance(0.2) ? rng.range(0, 200) : rng.range(0, 6)));
      for (RespValue& e : items) e = random_reply(rng, depth + 1);
      return RespValue::array(std::move(items));
    }
  }
}

}  // namespace

TEST_CASE("history: a reply kept for display renders as the whole reply would, for random replies") {
  replsim::kernel::Rng rng(7, "lists_test/replies");
  for (int n = 0; n < 3000; ++n) {
    const replsim::core::RespValue v = random_reply(rng, 0);
    CAPTURE(n);
    REQUIRE(ReplyText::of(v).str() == v.to_display(kReplyDisplayChars));
    // The reusing form renders the same and leaves the elements it did not take where they were.
    replsim::core::RespValue left = v;
    REQUIRE(ReplyText::of_reached(left).str() == v.to_display(kReplyDisplayChars));
    if (v.type == replsim::core::RespValue::Type::array) REQUIRE(left.elements.size() == v.elements.size());
  }
}

TEST_CASE("history: completing from a reply it may keep leaves an LRANGE's unrendered elements") {
  using replsim::core::RespValue;
  History h;
  std::vector<RespValue> distinct;
  for (int i = 0; i < 40; ++i) distinct.push_back(RespValue::bulk("a value long enough to need the heap " + std::to_string(i)));
  const RespValue whole = RespValue::array(distinct);
  RespValue reply = whole;
  const auto a = h.invoke(0, OpKind::lrange, "l:1", {}, 1);
  h.complete_keeping(a, Outcome::ok, 2, "n0", reply, true);
  CHECK(h.ops()[a].values.size() == kLrangeValuesKept);
  CHECK(h.ops()[a].values_total == 40);
  CHECK(h.ops()[a].values.front() == whole.elements.front().text);
  CHECK(h.ops()[a].reply.str() == whole.to_display(kReplyDisplayChars));
  // The elements past the rendering's cut are still in the reply, for reuse.
  REQUIRE(reply.elements.size() == 40);
  CHECK(reply.elements.back() == whole.elements.back());

  RespValue get = RespValue::bulk("v");
  const auto b = h.invoke(0, OpKind::get, "s:1", {}, 3);
  h.complete_keeping(b, Outcome::ok, 4, "n0", get, true);
  CHECK(h.ops()[b].values == std::vector<std::string>{"v"});
  CHECK(h.ops()[b].reply.str() == "\"v\"");
}

TEST_CASE("history: completing from a reply takes the values read out of it") {
  using replsim::core::RespValue;
  History h;
  std::vector<RespValue> distinct;
  for (int i = 0; i < 20; ++i) distinct.push_back(RespValue::bulk("c0." + std::to_string(i)));
  const auto a = h.invoke(0, OpKind::lrange, "l:1", {}, 1);
  h.complete(a, Outcome::ok, 2, "n0", RespValue::array(distinct), true);
  // All distinct: only the first kLrangeValuesKept are kept, the count is the reply's.
  CHECK(h.ops()[a].values.size() == kLrangeValuesKept);
  CHECK(h.ops()[a].values_total == 20);
  CHECK(h.ops()[a].values.front() == "c0.0");
  CHECK(h.ops()[a].node == "n0");
  CHECK(h.ops()[a].reply.str() == RespValue::array(distinct).to_display(kReplyDisplayChars));

  std::vector<RespValue> twice = distinct;
  twice[15] = twice[3];
  const auto b = h.invoke(0, OpKind::lrange, "l:1", {}, 3);
  h.complete(b, Outcome::ok, 4, "n1", RespValue::array(twice), true);
  CHECK(h.ops()[b].values.size() == 20);  // a duplicate keeps the whole reply as evidence

  const auto c = h.invoke(0, OpKind::get, "s:1", {}, 5);
  h.complete(c, Outcome::ok, 6, "n0", RespValue::null(), true);
  CHECK(h.ops()[c].read_nil);
  CHECK(h.ops()[c].reply.str() == "(nil)");
  const auto d = h.invoke(0, OpKind::lpush, "l:1", {"v"}, 7);
  h.complete(d, Outcome::ok, 8, "n0", RespValue::from_integer(3), false);
  CHECK(h.ops()[d].values.empty());
  CHECK(h.ops()[d].values_total == 0);
  CHECK(h.ops()[d].reply.str() == "(integer) 3");

  RunFacts facts{&h, {}, {}, false};
  auto v = check_no_duplicate_list_entries(facts);
  REQUIRE(v.size() == 1);
  CHECK(v[0].evidence["op"] == b);
  CHECK(v[0].evidence["positions"] == nlohmann::json{3, 15});
}

TEST_CASE("no-duplicate-list-entries: the first repeated element of a long final list") {
  std::vector<std::string> values;
  for (int i = 0; i < 300; ++i) values.push_back("c1." + std::to_string(i) + std::string(20, 'x'));
  values.push_back(values[250]);
  values.push_back(values[7]);
  RunFacts facts{nullptr, {primary_with("l:3", values)}, {}, false};
  auto v = check_no_duplicate_list_entries(facts);
  REQUIRE(v.size() == 1);
  CHECK(v[0].evidence["positions"] == nlohmann::json{250, 300});
  CHECK(all_distinct({"a", "b", "c"}));
  CHECK(!all_distinct({"a", "b", "a"}));
}
