// core/cluster_config_test.cpp — hash slot vectors, the config's changes and merge rules, its text form,
// and nodes.conf across crashes on the fake env.
#include "core/cluster_config.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/testing/fake_env.h"

using replsim::core::ClusterConfig;
using replsim::core::ClusterNode;
using replsim::core::crc16_xmodem;
using replsim::core::Err;
using replsim::core::is_node_id;
using replsim::core::key_hash_slot;
using replsim::core::kClusterSlots;
using replsim::core::load_nodes_conf;
using replsim::core::MergeOutcome;
using replsim::core::NodeRole;
using replsim::core::save_nodes_conf;
using replsim::core::slot_spans;
using replsim::core::SlotSpan;
using replsim::core::Status;
using replsim::core::testing::CrashNow;
using replsim::core::testing::CrashSpec;
using replsim::core::testing::FakeEnv;

namespace {

std::string id(char c) { return std::string(40, c); }

std::vector<int> range(int first, int last) {
  std::vector<int> out;
  for (int s = first; s <= last; ++s) out.push_back(s);
  return out;
}

// A config for node `me` that knows the others as fresh primaries (as after MEET).
ClusterConfig config_of(char me, const std::vector<char>& others) {
  ClusterConfig c = ClusterConfig::fresh(id(me), std::string("host-") + me, 6379);
  for (char o : others) {
    ClusterNode n;
    n.id = id(o);
    n.host = std::string("host-") + o;
    n.port = 6379;
    c.learn_node(n);
  }
  return c;
}

}  // namespace

// ---- hash slots ----------------------------------------------------------------------------------

TEST_CASE("CRC16 XMODEM and key slots match Redis's vectors") {
  CHECK(crc16_xmodem("123456789") == 0x31C3);
  CHECK(crc16_xmodem("") == 0);
  // CLUSTER KEYSLOT answers of a real Redis.
  CHECK(key_hash_slot("foo") == 12182);
  CHECK(key_hash_slot("bar") == 5061);
  CHECK(key_hash_slot("somekey") == 11058);
  CHECK(key_hash_slot("hello") == 866);
  CHECK(key_hash_slot("123456789") == (0x31C3 & (kClusterSlots - 1)));
}

TEST_CASE("hash tags: the first non-empty {...} decides the slot") {
  CHECK(key_hash_slot("{user1000}.following") == key_hash_slot("user1000"));
  CHECK(key_hash_slot("{user1000}.followers") == key_hash_slot("{user1000}.following"));
  CHECK(key_hash_slot("foo{bar}{zap}") == key_hash_slot("bar"));
  CHECK(key_hash_slot("foo{{bar}}zap") == key_hash_slot("{bar"));
  // An empty tag or an unclosed brace hashes the whole key.
  CHECK(key_hash_slot("foo{}{bar}") == crc16_xmodem("foo{}{bar}") % kClusterSlots);
  CHECK(key_hash_slot("foo{bar") == crc16_xmodem("foo{bar") % kClusterSlots);
  CHECK(key_hash_slot("{}") == crc16_xmodem("{}") % kClusterSlots);
}

TEST_CASE("slot spans and node ids") {
  CHECK(slot_spans({}).empty());
  CHECK(slot_spans({0, 1, 2, 5, 7, 8}) == std::vector<SlotSpan>{{0, 2}, {5, 5}, {7, 8}});
  CHECK(is_node_id(id('a')));
  CHECK_FALSE(is_node_id(std::string(39, 'a')));
  CHECK_FALSE(is_node_id(std::string(40, 'A')));
  CHECK_FALSE(is_node_id(std::string(39, 'a') + "g"));
}

// ---- changes -------------------------------------------------------------------------------------

TEST_CASE("owned_runs: maximal runs of one owner in slot order, the same as slot_owner slot by slot") {
  ClusterConfig a = config_of('a', {'b'});
  CHECK(a.owned_runs().empty());
  std::vector<int> mine = range(0, 9);
  mine.push_back(20);
  mine.push_back(kClusterSlots - 1);
  REQUIRE(a.add_slots(mine).is_ok());
  ClusterConfig b = config_of('b', {'a'});
  REQUIRE(b.add_slots(range(10, 19)).is_ok());
  a.merge(b);
  const auto runs = a.owned_runs();
  REQUIRE(runs.size() == 4);
  CHECK(runs[0].first == SlotSpan{0, 9});
  CHECK(runs[0].second->id == id('a'));
  CHECK(runs[1].first == SlotSpan{10, 19});
  CHECK(runs[1].second->id == id('b'));
  CHECK(runs[2].first == SlotSpan{20, 20});
  CHECK(runs[3].first == SlotSpan{kClusterSlots - 1, kClusterSlots - 1});
  CHECK(runs[3].second->id == id('a'));
  std::size_t covered = 0;
  for (const auto& [span, owner] : runs) {
    for (int slot = span.first; slot <= span.last; ++slot) CHECK(a.slot_owner(slot) == owner);
    covered += static_cast<std::size_t>(span.last - span.first + 1);
  }
  CHECK(covered == a.assigned_slots());
}

TEST_CASE("add and delete slots with Redis's errors; nothing changes on an error") {
  ClusterConfig c = config_of('a', {});
  REQUIRE(c.add_slots(range(0, 99)).is_ok());
  CHECK(c.slot_count(id('a')) == 100);
  const ClusterConfig before = c;
  Status st = c.add_slots({100, 50});
  CHECK(st.message() == "ERR Slot 50 is already busy");
  CHECK(c == before);
  CHECK(c.add_slots({200, 200}).message() == "ERR Slot 200 specified multiple times");
  CHECK(c.del_slots({300}).message() == "ERR Slot 300 is already unassigned");
  CHECK(c == before);
  REQUIRE(c.del_slots({0, 1}).is_ok());
  CHECK(c.slot_count(id('a')) == 98);
  CHECK(c.slot_owner(0) == nullptr);
  CHECK(c.slot_owner(2)->id == id('a'));
}

TEST_CASE("make_replica_of releases slots and bumps the epoch; take over claims the primary's slots") {
  ClusterConfig b = config_of('b', {'a'});
  ClusterConfig a = config_of('a', {'b'});
  REQUIRE(a.add_slots(range(0, kClusterSlots - 1)).is_ok());
  a.bump_my_epoch();
  CHECK(a.myself().config_epoch == 1);
  b.merge(a);
  CHECK(b.slot_owner(0)->id == id('a'));
  b.make_replica_of(id('a'));
  CHECK(b.myself().role == NodeRole::replica);
  CHECK(b.myself().primary_id == id('a'));
  CHECK(b.myself().config_epoch == 2);
  CHECK(b.my_primary()->id == id('a'));
  CHECK(b.take_over_from_primary() == kClusterSlots);
  CHECK(b.myself().role == NodeRole::primary);
  CHECK(b.myself().primary_id.empty());
  CHECK(b.myself().config_epoch == 3);
  CHECK(b.slot_count(id('b')) == kClusterSlots);
}

TEST_CASE("reset: soft keeps id and epoch, hard takes a new id and zero epochs") {
  ClusterConfig c = config_of('a', {'b', 'c'});
  REQUIRE(c.add_slots({1, 2, 3}).is_ok());
  c.bump_my_epoch();
  c.bump_my_epoch();
  ClusterConfig soft = c;
  soft.reset(false, "");
  CHECK(soft.nodes().size() == 1);
  CHECK(soft.my_id() == id('a'));
  CHECK(soft.myself().config_epoch == 2);
  CHECK(soft.assigned_slots() == 0);
  ClusterConfig hard = c;
  hard.reset(true, id('d'));
  CHECK(hard.my_id() == id('d'));
  CHECK(hard.myself().config_epoch == 0);
  CHECK(hard.current_epoch() == 0);
}

// ---- merge ---------------------------------------------------------------------------------------

TEST_CASE("merge: unknown nodes are added, known ones replaced only by a strictly greater epoch") {
  ClusterConfig a = config_of('a', {});
  ClusterConfig b = config_of('b', {'c'});
  MergeOutcome m = a.merge(b);
  CHECK(m.changed);
  CHECK(m.nodes_added == 2);
  REQUIRE(a.find(id('c')) != nullptr);

  // Same epoch, different content: ignored.
  ClusterConfig b2 = b;
  b2.make_replica_of(id('c'));  // epoch 1
  ClusterConfig stale = b;      // epoch 0, a primary
  a.merge(b2);
  CHECK(a.find(id('b'))->role == NodeRole::replica);
  m = a.merge(stale);
  CHECK_FALSE(m.changed);
  CHECK(a.find(id('b'))->role == NodeRole::replica);
  CHECK(a.find(id('b'))->config_epoch == 1);
}

TEST_CASE("merge never accepts gossip about the local node") {
  ClusterConfig a = config_of('a', {'b'});
  ClusterConfig b = config_of('b', {'a'});
  // b believes a is a replica of b with a huge epoch.
  ClusterConfig lie = ClusterConfig::fresh(id('a'), "elsewhere", 1);
  lie.make_replica_of(id('b'));
  lie.set_my_epoch(1000);
  ClusterConfig b_with_lie = b;
  b_with_lie.merge(lie);
  REQUIRE(b_with_lie.find(id('a'))->role == NodeRole::replica);
  const ClusterNode me_before = a.myself();
  a.merge(b_with_lie);
  CHECK(a.myself() == me_before);
  CHECK(a.myself().role == NodeRole::primary);
}

TEST_CASE("merge: slots move only to a claimant with a greater epoch, and only on its own claim") {
  ClusterConfig a = config_of('a', {'b', 'c'});
  ClusterConfig b = config_of('b', {'a', 'c'});
  ClusterConfig c = config_of('c', {'a', 'b'});
  REQUIRE(a.add_slots(range(0, 99)).is_ok());
  a.set_my_epoch(5);
  b.merge(a);
  c.merge(a);
  CHECK(c.slot_owner(10)->id == id('a'));

  // b claims the same slots with a smaller epoch: c keeps a as the owner.
  ClusterConfig b_claims = config_of('b', {});
  REQUIRE(b_claims.add_slots(range(0, 99)).is_ok());
  b_claims.set_my_epoch(3);
  MergeOutcome m = c.merge(b_claims);
  CHECK(m.slots_moved == 0);
  CHECK(c.slot_owner(10)->id == id('a'));

  // An equal epoch does not win either.
  b_claims.set_my_epoch(5);
  c.merge(b_claims);
  CHECK(c.slot_owner(10)->id == id('a'));

  // A greater epoch does.
  b_claims.set_my_epoch(6);
  m = c.merge(b_claims);
  CHECK(m.slots_moved == 100);
  CHECK(c.slot_owner(10)->id == id('b'));

  // Hearsay does not move slots: a config sent by c that says b owns them moves nothing at a node
  // that believes a owns them (only b's own claim could).
  ClusterConfig a2 = a;
  m = a2.merge(c);
  CHECK(a2.slot_owner(10)->id == id('a'));
  CHECK(m.slots_moved == 0);
}

TEST_CASE("merge: unassigned slots go to any claimant; DELSLOTS by the owner releases them") {
  ClusterConfig a = config_of('a', {});
  ClusterConfig b = config_of('b', {});
  REQUIRE(b.add_slots(range(10, 19)).is_ok());
  a.merge(b);
  CHECK(a.slot_count(id('b')) == 10);
  REQUIRE(b.del_slots({10, 11}).is_ok());
  MergeOutcome m = a.merge(b);
  CHECK(m.slots_released == 2);
  CHECK(a.slot_owner(10) == nullptr);
  CHECK(a.slot_owner(12)->id == id('b'));
}

TEST_CASE("merge: a stale primary that lost every slot is told to follow the new owner (incident 002)") {
  // a was the primary of every slot, b its replica; b took over while a was down.
  ClusterConfig a = config_of('a', {'b'});
  REQUIRE(a.add_slots(range(0, kClusterSlots - 1)).is_ok());
  a.bump_my_epoch();  // 1
  ClusterConfig b = config_of('b', {'a'});
  b.merge(a);
  b.make_replica_of(id('a'));  // 2
  a.merge(b);
  const ClusterConfig a_on_disk = a;  // what a restarts with
  b.take_over_from_primary();         // 3
  CHECK(b.myself().config_epoch == 3);

  ClusterConfig restarted = a_on_disk;
  MergeOutcome m = restarted.merge(b);
  CHECK(restarted.slot_count(id('a')) == 0);
  CHECK(restarted.slot_count(id('b')) == kClusterSlots);
  REQUIRE(m.follow.has_value());
  CHECK(*m.follow == id('b'));
  CHECK(m.follow_reason == "lost all 16384 slots to a node with a greater config epoch");
  // The merge left the local entry alone; following is the caller's move.
  CHECK(restarted.myself().role == NodeRole::primary);
  restarted.make_replica_of(*m.follow);
  CHECK(restarted.myself().config_epoch == 4);

  // b learns that a is its replica now.
  b.merge(restarted);
  CHECK(b.find(id('a'))->role == NodeRole::replica);
  CHECK(b.find(id('a'))->primary_id == id('b'));
  CHECK(b.slot_count(id('b')) == kClusterSlots);
  CHECK_FALSE(b.merge(a_on_disk).follow.has_value());  // the stale claim (epoch 1) changes nothing at b
  CHECK(b.slot_count(id('b')) == kClusterSlots);
}

TEST_CASE("merge: a replica follows when its primary loses its slots or becomes a replica") {
  ClusterConfig p = config_of('p', {'r', 's'});
  REQUIRE(p.add_slots(range(0, 999)).is_ok());
  p.set_my_epoch(1);
  ClusterConfig r = config_of('r', {'p', 's'});
  ClusterConfig s = config_of('s', {'p', 'r'});
  r.merge(p);
  s.merge(p);
  r.make_replica_of(id('p'));
  s.make_replica_of(id('p'));
  r.merge(s);
  s.merge(r);
  // r takes over (FORCE); s hears it: its primary lost every slot to r.
  r.take_over_from_primary();
  MergeOutcome m = s.merge(r);
  REQUIRE(m.follow.has_value());
  CHECK(*m.follow == id('r'));
  CHECK(m.follow_reason == fmt::format("my primary {} lost all 1000 slots", id('p')));
  CHECK_FALSE(s.merge(r).follow.has_value());  // nothing moved the second time

  // A planned failover: p becomes r's replica and says so first.
  ClusterConfig s2 = config_of('s', {'p', 'r'});
  s2.merge(p);
  s2.make_replica_of(id('p'));
  ClusterConfig p2 = p;
  p2.merge(r);  // p learns r's entry
  ClusterConfig p_stepped_down = p;
  p_stepped_down.make_replica_of(id('r'));
  m = s2.merge(p_stepped_down);
  REQUIRE(m.follow.has_value());
  CHECK(*m.follow == id('r'));
  CHECK(m.follow_reason == fmt::format("my primary {} became a replica", id('p')));
  // p's slots, which s2 still attributed to p, went to p's new primary r.
  CHECK(s2.slot_owner(0)->id == id('r'));
}

TEST_CASE("merge: a primary that keeps some of its slots is not told to follow; its replica neither") {
  // p owns 0..99 (epoch 1), r is its replica; q (epoch 5) claims 0..49 only.
  ClusterConfig p = config_of('p', {'q', 'r'});
  REQUIRE(p.add_slots(range(0, 99)).is_ok());
  p.set_my_epoch(1);
  ClusterConfig r = config_of('r', {'p', 'q'});
  r.merge(p);
  r.make_replica_of(id('p'));
  ClusterConfig q = config_of('q', {'p', 'r'});
  REQUIRE(q.add_slots(range(0, 49)).is_ok());
  q.set_my_epoch(5);
  const MergeOutcome at_p = p.merge(q);
  CHECK(at_p.slots_moved == 50);
  CHECK_FALSE(at_p.follow.has_value());
  CHECK(p.slot_count(id('p')) == 50);
  const MergeOutcome at_r = r.merge(q);
  CHECK(at_r.slots_moved == 50);
  CHECK_FALSE(at_r.follow.has_value());
  // Then q claims the other 50 as well: now both follow q, and name what p had before this merge.
  REQUIRE(q.add_slots(range(50, 99)).is_ok());
  const MergeOutcome again_p = p.merge(q);
  REQUIRE(again_p.follow.has_value());
  CHECK(*again_p.follow == id('q'));
  CHECK(again_p.follow_reason == "lost all 50 slots to a node with a greater config epoch");
  const MergeOutcome again_r = r.merge(q);
  REQUIRE(again_r.follow.has_value());
  CHECK(again_r.follow_reason == fmt::format("my primary {} lost all 50 slots", id('p')));
}

TEST_CASE("a config of hundreds of nodes finds each by id, after merges, parses and a reset") {
  auto hex_id = [](int k) { return fmt::format("{:040x}", 0x9e3779b97f4a7c15ULL * static_cast<unsigned long long>(k + 1)); };
  ClusterConfig big = ClusterConfig::fresh(hex_id(0), "h0", 7000);
  for (int k = 1; k < 300; ++k) big.learn_node({hex_id(k), fmt::format("h{}", k), 7000, 0, NodeRole::primary, ""});
  ClusterConfig other = ClusterConfig::fresh(hex_id(1000), "h1000", 7000);
  const MergeOutcome m = other.merge(big);
  CHECK(m.nodes_added == 300);
  auto parsed = ClusterConfig::parse(other.serialize());
  REQUIRE(parsed.is_ok());
  for (const ClusterConfig* c : {&big, &other, &parsed.value()}) {
    for (int k = 0; k < 300; ++k) {
      const ClusterNode* n = c->find(hex_id(k));
      REQUIRE(n != nullptr);
      CHECK(n->host == fmt::format("h{}", k));
    }
    CHECK(c->find(hex_id(5000)) == nullptr);
  }
  CHECK(parsed->my_id() == hex_id(1000));
  CHECK(parsed.value() == other);
  other.reset(true, hex_id(2000));
  CHECK(other.find(hex_id(1000)) == nullptr);
  CHECK(other.find(hex_id(2000)) == &other.myself());
  CHECK(other.find(hex_id(3)) == nullptr);
}

TEST_CASE("same_ids: the same ids in the same order, whatever else differs") {
  const ClusterConfig a = config_of('a', {'b', 'c'});
  ClusterConfig epochs = a;
  epochs.bump_my_epoch();
  CHECK(epochs.same_ids(a));
  CHECK(a.same_ids(a));
  CHECK_FALSE(config_of('a', {'c', 'b'}).same_ids(a));  // same set, another order
  CHECK_FALSE(config_of('a', {'b'}).same_ids(a));
  CHECK_FALSE(config_of('a', {'b', 'd'}).same_ids(a));
  // Ids that share their first 8 bytes, and ids that are not 40 bytes long, compare whole.
  ClusterConfig x = ClusterConfig::fresh(std::string(39, '0') + "1", "h", 1);
  ClusterConfig y = ClusterConfig::fresh(std::string(39, '0') + "2", "h", 1);
  CHECK_FALSE(x.same_ids(y));
  CHECK(ClusterConfig::fresh("short", "h", 1).same_ids(ClusterConfig::fresh("short", "h", 2)));
  CHECK_FALSE(ClusterConfig::fresh("short", "h", 1).same_ids(ClusterConfig::fresh("shorter", "h", 1)));
  CHECK(ClusterConfig::fresh("short", "h", 1).find("short") != nullptr);
  CHECK(ClusterConfig::fresh("short", "h", 1).find("shor") == nullptr);
}

TEST_CASE("same_own_entry: this node's entry and slots, not what it knows of others") {
  ClusterConfig a = config_of('a', {'b'});
  ClusterConfig copy = a;
  CHECK(copy.same_own_entry(a));
  ClusterNode c;
  c.id = id('c');
  c.host = "host-c";
  c.port = 6379;
  copy.learn_node(c);  // a node learned: not an own change
  CHECK(copy.same_own_entry(a));
  ClusterConfig b = config_of('b', {'a'});
  REQUIRE(b.add_slots(range(10, 20)).is_ok());
  b.bump_my_epoch();
  copy.merge(b);  // another node's slots and epoch: not an own change
  CHECK(copy.same_own_entry(a));
  ClusterConfig slots = a;
  REQUIRE(slots.add_slots({16383}).is_ok());
  CHECK_FALSE(slots.same_own_entry(a));
  ClusterConfig epoch = a;
  epoch.bump_my_epoch();
  CHECK_FALSE(epoch.same_own_entry(a));
}

TEST_CASE("merge: equal epochs of two primaries make the smaller id bump") {
  ClusterConfig a = config_of('a', {});
  ClusterConfig b = config_of('b', {});
  CHECK(a.merge(b).epoch_collision);   // a < b: a moves on
  CHECK_FALSE(b.merge(a).epoch_collision);
  a.bump_my_epoch();
  CHECK_FALSE(b.merge(a).epoch_collision);
}

TEST_CASE("merge: slot runs that start and end inside 8-slot blocks move, release and follow exactly") {
  // Odd boundaries exercise the per-slot path next to blocks the merge skips whole.
  ClusterConfig a = config_of('a', {'b'});
  REQUIRE(a.add_slots(range(3, 12)).is_ok());
  REQUIRE(a.add_slots(range(100, 100)).is_ok());
  REQUIRE(a.add_slots(range(16380, 16383)).is_ok());
  a.set_my_epoch(1);
  ClusterConfig b = config_of('b', {'a'});
  MergeOutcome m = b.merge(a);
  CHECK(m.slots_moved == 15);
  CHECK(b.slot_count(id('a')) == 15);
  CHECK(b.slot_owner(2) == nullptr);
  CHECK(b.slot_owner(3)->id == id('a'));
  CHECK(b.slot_owner(12)->id == id('a'));
  CHECK(b.slot_owner(13) == nullptr);
  CHECK(b.slot_owner(16383)->id == id('a'));
  REQUIRE(a.del_slots({5, 100, 16381}).is_ok());
  m = b.merge(a);
  CHECK(m.slots_released == 3);
  CHECK(b.slot_owner(5) == nullptr);
  CHECK(b.slot_owner(6)->id == id('a'));
  CHECK(b.slot_count(id('a')) == 12);

  // c takes a's slots 9..12 with a greater epoch; a keeps the rest and follows nobody. Then c
  // takes the rest too: a follows c, the first node that took a slot from it.
  ClusterConfig c = config_of('c', {'a', 'b'});
  REQUIRE(c.add_slots({9, 10, 11, 12}).is_ok());
  c.set_my_epoch(2);
  m = a.merge(c);
  CHECK(m.slots_moved == 4);
  CHECK_FALSE(m.follow.has_value());
  REQUIRE(c.add_slots({3, 4, 6, 7, 8, 16380, 16382, 16383}).is_ok());
  m = a.merge(c);
  CHECK(a.slot_count(id('a')) == 0);
  REQUIRE(m.follow.has_value());
  CHECK(*m.follow == id('c'));
}

TEST_CASE("digest: equal for every node's copy of one config, different for any difference") {
  ClusterConfig a = config_of('a', {'b', 'c'});
  ClusterConfig b = config_of('b', {'c', 'a'});  // another order of the same nodes
  ClusterConfig c = config_of('c', {'a', 'b'});
  REQUIRE(a.add_slots(range(0, 8191)).is_ok());
  REQUIRE(b.add_slots(range(8192, 16383)).is_ok());
  a.set_my_epoch(1);
  b.set_my_epoch(2);
  for (int round = 0; round < 2; ++round) {
    a.merge(b);
    a.merge(c);
    b.merge(a);
    b.merge(c);
    c.merge(a);
    c.merge(b);
  }
  CHECK(a.serialize() != b.serialize());  // the "myself" line and the order differ
  CHECK(a.digest() == b.digest());
  CHECK(a.digest() == c.digest());
  CHECK(a.digest() == ClusterConfig::digest_of_text(a.serialize()));
  // Anything a merge could change changes the digest: an epoch, a role, a slot, a new node.
  ClusterConfig changed = c;
  changed.bump_my_epoch();
  CHECK(changed.digest() != a.digest());
  changed = a;
  REQUIRE(changed.del_slots({7}).is_ok());
  CHECK(changed.digest() != a.digest());
  changed = c;
  changed.make_replica_of(id('a'));
  CHECK(changed.digest() != a.digest());
  changed = c;
  ClusterNode d;
  d.id = id('d');
  d.host = "host-d";
  d.port = 6379;
  changed.learn_node(d);
  CHECK(changed.digest() != a.digest());
}

// ---- text form and nodes.conf ----------------------------------------------------------------------

TEST_CASE("serialize and parse round trip; the local node comes first") {
  ClusterConfig a = config_of('a', {'b', 'c'});
  REQUIRE(a.add_slots(range(0, 5460)).is_ok());
  REQUIRE(a.add_slots({7000, 7002}).is_ok());
  ClusterConfig c = config_of('c', {'a'});
  c.make_replica_of(id('a'));
  a.merge(c);
  a.bump_my_epoch();
  const std::string text = a.serialize();
  auto parsed = ClusterConfig::parse(text);
  REQUIRE(parsed.is_ok());
  CHECK(parsed.value() == a);
  CHECK(parsed.value().serialize() == text);
  CHECK(text.find("slots " + id('a') + " 0-5460 7000 7002\n") != std::string::npos);
  // The same config as another node sees it: parse puts "myself" first.
  auto rotated = ClusterConfig::parse(replsim::core::ClusterConfig(a).serialize());
  REQUIRE(rotated.is_ok());
  CHECK(rotated->my_id() == id('a'));
}

TEST_CASE("parse rejects malformed text with the line and the reason") {
  CHECK(ClusterConfig::parse("").code() == Err::invalid);
  CHECK(ClusterConfig::parse("hello\n").status().message().find("line 1") != std::string::npos);
  const std::string good = config_of('a', {}).serialize();
  CHECK_FALSE(ClusterConfig::parse(good + "node " + id('a') + " h 1 0 master -\n").is_ok());  // twice
  CHECK_FALSE(ClusterConfig::parse(good + "slots " + id('a') + " 5-3\n").is_ok());
  CHECK_FALSE(ClusterConfig::parse(good + "slots " + id('a') + " 16384\n").is_ok());
  CHECK_FALSE(ClusterConfig::parse(good + "slots " + id('b') + " 1\n").is_ok());
  // A slot assigned twice is named, wherever it falls in the range.
  const auto twice = ClusterConfig::parse(good + "slots " + id('a') + " 3-9 11 9-20\n");
  REQUIRE_FALSE(twice.is_ok());
  CHECK(twice.status().message().find("slot 9 assigned twice") != std::string::npos);
  const auto twice_later = ClusterConfig::parse(good + "slots " + id('a') + " 30 0-40\n");
  REQUIRE_FALSE(twice_later.is_ok());
  CHECK(twice_later.status().message().find("slot 30 assigned twice") != std::string::npos);
  CHECK_FALSE(ClusterConfig::parse(good + "bogus 1\n").is_ok());
  // The first error in line order wins: an overlap on line 5 before a bad range or an unknown owner
  // on line 6.
  const std::string three = good + "slots " + id('a') + " 0-10\n" + "slots " + id('a') + " 10-12\n";
  for (const std::string& tail : {std::string("slots ") + id('a') + " 99-1\n", std::string("slots ") + id('b') + " 50\n"}) {
    const auto overlap_first = ClusterConfig::parse(three + tail);
    REQUIRE_FALSE(overlap_first.is_ok());
    CHECK(overlap_first.status().message() == "cluster config line 6: slot 10 assigned twice");
  }
  // A node listed twice is named on the line that repeats it, before an error on a later line, and
  // after one on an earlier line.
  const std::string node_b = "node " + id('b') + " h 2 0 master -\n";
  const std::string again_a = "node " + id('a') + " h 1 0 master -\n";
  const std::string bad_port = "node " + id('c') + " h x 0 master -\n";
  const auto repeat_first = ClusterConfig::parse(good + node_b + again_a + bad_port + "slots " + id('b') + " 5\n");
  REQUIRE_FALSE(repeat_first.is_ok());
  CHECK(repeat_first.status().message() == "cluster config line 6: node " + id('a') + " listed twice");
  const auto repeat_last = ClusterConfig::parse(good + node_b + again_a + node_b);
  REQUIRE_FALSE(repeat_last.is_ok());
  CHECK(repeat_last.status().message() == "cluster config line 6: node " + id('a') + " listed twice");
  const auto port_first = ClusterConfig::parse(good + bad_port + again_a);
  REQUIRE_FALSE(port_first.is_ok());
  CHECK(port_first.status().message() == "cluster config line 5: bad node id, host, port or epoch");
  const auto bad_first = ClusterConfig::parse(good + "slots " + id('a') + " 0-10 x\n" + "slots " + id('a') + " 5\n");
  REQUIRE_FALSE(bad_first.is_ok());
  CHECK(bad_first.status().message() == "cluster config line 5: bad slot range");
  // parse_for_merge reads the same text and refuses it with the same error.
  for (const std::string& text : {three, good + "bogus 1\n", good + "slots " + id('b') + " 1\n", good + node_b + again_a + bad_port}) {
    const ClusterConfig receiver = config_of('z', {'a'});
    const auto full = ClusterConfig::parse(text);
    const auto for_merge = ClusterConfig::parse_for_merge(text, receiver);
    REQUIRE_FALSE(full.is_ok());
    REQUIRE_FALSE(for_merge.is_ok());
    CHECK(full.status().message() == for_merge.status().message());
  }
}

TEST_CASE("parse_for_merge: merging what it keeps changes a config exactly as merging the whole text") {
  // Random clusters of 2..12 nodes: slots spread over the primaries, replicas, epochs bumped, nodes
  // met in random order; every node's text merged into every other node's config both ways.
  std::uint64_t state = 0x243f6a8885a308d3ULL;
  auto next = [&](std::uint64_t bound) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (state >> 33) % bound;
  };
  int merges_that_changed = 0;
  for (int round = 0; round < 60; ++round) {
    const int n = 2 + static_cast<int>(next(11));
    std::vector<ClusterConfig> nodes;
    for (int k = 0; k < n; ++k) nodes.push_back(config_of("0123456789abcdef"[k], {}));  // ids must be hex
    for (int k = 0; k < n; ++k) {  // each node has met a random subset of the others
      for (int j = 0; j < n; ++j) {
        if (j != k && next(3) != 0) nodes[static_cast<std::size_t>(k)].merge(nodes[static_cast<std::size_t>(j)]);
      }
    }
    for (int slot = 0; slot < kClusterSlots; slot += 1 + static_cast<int>(next(4000))) {
      ClusterConfig& owner = nodes[next(static_cast<std::uint64_t>(n))];
      (void)owner.add_slots(range(slot, std::min(kClusterSlots - 1, slot + static_cast<int>(next(3000)))));
    }
    for (ClusterConfig& c : nodes) {
      for (std::uint64_t b = next(4); b > 0; --b) c.bump_my_epoch();
    }
    for (int k = 0; k < n; ++k) {  // a few more exchanges, then some replicas
      for (int j = 0; j < n; ++j) {
        if (j != k && next(2) == 0) nodes[static_cast<std::size_t>(k)].merge(nodes[static_cast<std::size_t>(j)]);
      }
    }
    for (ClusterConfig& c : nodes) {
      if (next(3) == 0 && c.nodes().size() > 1) c.make_replica_of(c.nodes()[1 + next(c.nodes().size() - 1)].id);
    }
    for (int k = 0; k < n; ++k) {
      for (int j = 0; j < n; ++j) {
        if (j == k) continue;
        const std::string text = nodes[static_cast<std::size_t>(j)].serialize();
        const ClusterConfig& receiver = nodes[static_cast<std::size_t>(k)];
        auto full = ClusterConfig::parse(text);
        auto reduced = ClusterConfig::parse_for_merge(text, receiver);
        INFO(text);
        INFO((full.is_ok() ? std::string() : full.status().message()));
        REQUIRE(full.is_ok());
        REQUIRE(reduced.is_ok());
        CHECK(reduced->nodes().size() <= full->nodes().size());
        ClusterConfig a = receiver;
        ClusterConfig b = receiver;
        const MergeOutcome ma = a.merge(full.value());
        const MergeOutcome mb = b.merge(reduced.value());
        CHECK(a == b);
        CHECK(ma.changed == mb.changed);
        CHECK(ma.nodes_added == mb.nodes_added);
        CHECK(ma.nodes_updated == mb.nodes_updated);
        CHECK(ma.slots_moved == mb.slots_moved);
        CHECK(ma.slots_released == mb.slots_released);
        CHECK(ma.follow == mb.follow);
        CHECK(ma.follow_reason == mb.follow_reason);
        CHECK(ma.epoch_collision == mb.epoch_collision);
        if (ma.changed) ++merges_that_changed;
        // Gossip sections: each parses, holds the sender's own entry first, `count` others from
        // `first` on and the sender's own slots only; merged one after another from the first
        // entry on, they change the receiver exactly as the whole text does.
        const ClusterConfig& sender = nodes[static_cast<std::size_t>(j)];
        const std::size_t others = sender.nodes().size() - 1;
        const std::size_t count = 1 + next(3);
        ClusterConfig c = receiver;
        for (std::size_t first = 0; first < std::max<std::size_t>(others, 1); first += count) {
          const std::string section = sender.serialize_section(first, count);
          auto parsed = ClusterConfig::parse(section);
          INFO(section);
          REQUIRE(parsed.is_ok());
          REQUIRE(parsed->nodes().size() == 1 + std::min(count, others));
          CHECK(parsed->myself() == sender.myself());
          CHECK(parsed->current_epoch() == sender.current_epoch());
          for (std::size_t k2 = 1; k2 < parsed->nodes().size(); ++k2) {
            CHECK(parsed->nodes()[k2] == sender.nodes()[1 + (first + k2 - 1) % others]);
          }
          CHECK(parsed->slots_of(sender.my_id()) == sender.slots_of(sender.my_id()));
          CHECK(parsed->assigned_slots() == sender.slot_count(sender.my_id()));
          auto reduced_section = ClusterConfig::parse_for_merge(section, c);
          REQUIRE(reduced_section.is_ok());
          c.merge(reduced_section.value());
        }
        CHECK(c == a);
      }
    }
  }
  CHECK(merges_that_changed > 100);  // the comparison covered merges that did something

  // A text whose current_epoch line is below an entry's epoch (not what serialize writes, but a valid
  // text): the entry left out still raises the receiver's current epoch, as the whole text does.
  ClusterConfig receiver = config_of('a', {});
  receiver.learn_node({id('c'), "host-c", 6379, 7, NodeRole::primary, ""});
  const std::string text = "replsim-cluster-config 1\nmyself " + id('b') + "\ncurrent_epoch 0\nnode " + id('b') +
                           " host-b 6379 0 master -\nnode " + id('c') + " host-c 6379 7 master -\n";
  ClusterConfig a = receiver;
  ClusterConfig b = receiver;
  a.merge(ClusterConfig::parse(text).value());
  b.merge(ClusterConfig::parse_for_merge(text, receiver).value());
  CHECK(ClusterConfig::parse_for_merge(text, receiver)->nodes().size() == 1);
  CHECK(a == b);
}

TEST_CASE("nodes.conf: absent, round trip, damage detected with a remedy") {
  FakeEnv env;
  auto none = load_nodes_conf(env);
  REQUIRE(none.is_ok());
  CHECK_FALSE(none->has_value());
  ClusterConfig a = config_of('a', {'b'});
  REQUIRE(a.add_slots(range(0, 10)).is_ok());
  REQUIRE(save_nodes_conf(env, a).is_ok());
  auto loaded = load_nodes_conf(env);
  REQUIRE(loaded.is_ok());
  REQUIRE(loaded->has_value());
  CHECK(**loaded == a);
  CHECK_FALSE(env.exists("nodes.conf.tmp"));

  env.flip_bit("nodes.conf", 30);
  auto damaged = load_nodes_conf(env);
  REQUIRE_FALSE(damaged.is_ok());
  CHECK(damaged.status().message().find("checksum") != std::string::npos);
  CHECK(damaged.status().message().find("remove it") != std::string::npos);
}

TEST_CASE("nodes.conf: a crash at any disk operation of a save leaves the old or the new config") {
  ClusterConfig old_config = config_of('a', {'b'});
  ClusterConfig new_config = old_config;
  REQUIRE(new_config.add_slots(range(100, 200)).is_ok());
  new_config.bump_my_epoch();
  for (std::uint64_t op = 0;; ++op) {
    bool crashed = false;
    for (std::size_t kept : {std::size_t{0}, SIZE_MAX}) {
      FakeEnv env;
      REQUIRE(save_nodes_conf(env, old_config).is_ok());
      // A leftover tmp from an earlier interrupted save must not be appended to.
      env.put_file("nodes.conf.tmp", "garbage");
      env.crash_at_op(env.disk_ops() + op);
      crashed = false;
      bool saved = false;
      try {
        saved = save_nodes_conf(env, new_config).is_ok();
      } catch (const CrashNow&) {
        crashed = true;
      }
      REQUIRE((crashed || saved));
      CrashSpec spec;
      spec.default_kept_writes = kept;
      env.crash(spec);
      auto loaded = load_nodes_conf(env);
      INFO("crash at op " << op << " kept " << kept);
      REQUIRE(loaded.is_ok());
      REQUIRE(loaded->has_value());
      if (!crashed) {
        CHECK(**loaded == new_config);
      } else {
        CHECK((**loaded == old_config || **loaded == new_config));
      }
    }
    if (!crashed) break;
  }
}

// ---- the slot table as runs ------------------------------------------------------------------------

namespace {

// A fixed-seed generator for the randomized tests below (splitmix64): the same cases every run.
class TestRandom {
 public:
  explicit TestRandom(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  int below(int n) { return static_cast<int>(next() % static_cast<std::uint64_t>(n)); }

 private:
  std::uint64_t state_;
};

// The owner id of every slot ("" for unassigned), from owned_runs(), checked against slot_owner() at
// each run's ends and at some random slots, and against slot_count() and assigned_slots().
std::vector<std::string> flat_table(const ClusterConfig& c, TestRandom& random) {
  std::vector<std::string> table(kClusterSlots);
  int last_end = -1;
  std::size_t assigned = 0;
  for (const auto& [span, owner] : c.owned_runs()) {
    CHECK(span.first > last_end);  // sorted, disjoint
    last_end = span.last;
    for (int s = span.first; s <= span.last; ++s) table[static_cast<std::size_t>(s)] = owner->id;
    assigned += static_cast<std::size_t>(span.last - span.first + 1);
    CHECK(c.slot_owner(span.first) == owner);
    CHECK(c.slot_owner(span.last) == owner);
  }
  CHECK(assigned == c.assigned_slots());
  for (int k = 0; k < 64; ++k) {
    const int s = random.below(kClusterSlots);
    const ClusterNode* owner = c.slot_owner(s);
    CHECK((owner == nullptr ? std::string() : owner->id) == table[static_cast<std::size_t>(s)]);
  }
  for (const ClusterNode& n : c.nodes()) {
    const auto count = static_cast<std::size_t>(std::count(table.begin(), table.end(), n.id));
    CHECK(c.slot_count(n.id) == count);
    CHECK(c.slots_of(n.id).size() == count);
  }
  return table;
}

// A random span of slots, short or long, sometimes at either end of the table.
std::pair<int, int> random_span(TestRandom& random) {
  const int len = random.below(4) == 0 ? 1 + random.below(2000) : 1 + random.below(40);
  int first = random.below(kClusterSlots);
  if (random.below(8) == 0) first = 0;
  if (random.below(8) == 0) first = kClusterSlots - len;
  first = std::max(0, std::min(first, kClusterSlots - len));
  return {first, first + len - 1};
}

// The slots of [first, last] whose ownership by `me` is `owned` (every other one when sparse), shuffled.
std::vector<int> pick_slots(const std::vector<std::string>& table, const std::string& me, bool owned,
                            std::pair<int, int> span, bool sparse, TestRandom& random) {
  std::vector<int> out;
  for (int s = span.first; s <= span.second; s += sparse ? 2 : 1) {
    const std::string& owner = table[static_cast<std::size_t>(s)];
    if (owned ? owner == me : owner.empty()) out.push_back(s);
  }
  for (std::size_t i = out.size(); i > 1; --i) std::swap(out[i - 1], out[static_cast<std::size_t>(random.below(static_cast<int>(i)))]);
  return out;
}

}  // namespace

TEST_CASE("slot runs: random claims and releases match a flat table; equal tables compare equal") {
  TestRandom random(7);
  ClusterConfig c = config_of('a', {'b'});
  std::vector<std::string> ref(kClusterSlots);
  for (int step = 0; step < 300; ++step) {
    const auto span = random_span(random);
    const bool sparse = random.below(3) == 0;
    if (random.below(2) == 0) {
      const std::vector<int> slots = pick_slots(ref, "", false, span, sparse, random);
      REQUIRE(c.add_slots(slots).is_ok());
      for (const int s : slots) ref[static_cast<std::size_t>(s)] = id('a');
    } else {
      const std::vector<int> slots = pick_slots(ref, id('a'), true, span, sparse, random);
      REQUIRE(c.del_slots(slots).is_ok());
      for (const int s : slots) ref[static_cast<std::size_t>(s)].clear();
    }
    // A failing change leaves the config as it was, runs and all.
    const ClusterConfig before = c;
    std::vector<int> mine;
    for (int s = 0; s < kClusterSlots; ++s) {
      if (!ref[static_cast<std::size_t>(s)].empty()) mine.push_back(s);
    }
    if (!mine.empty()) {
      const int busy = mine[static_cast<std::size_t>(random.below(static_cast<int>(mine.size())))];
      CHECK(c.add_slots({busy}).message() == fmt::format("ERR Slot {} is already busy", busy));
      CHECK(c == before);
    }
    REQUIRE(flat_table(c, random) == ref);
    // The same slots claimed in one go, by another history, give an equal config and equal text.
    ClusterConfig rebuilt = config_of('a', {'b'});
    REQUIRE(rebuilt.add_slots(mine).is_ok());
    CHECK(rebuilt == c);
    CHECK(rebuilt.serialize() == c.serialize());
    auto parsed = ClusterConfig::parse(c.serialize());
    REQUIRE(parsed.is_ok());
    CHECK(*parsed == c);
    CHECK(rebuilt.same_own_entry(c));
  }
  // One slot more or less is a different config.
  ClusterConfig other = c;
  if (other.slot_owner(0) == nullptr) {
    REQUIRE(other.add_slots({0}).is_ok());
  } else {
    REQUIRE(other.del_slots({0}).is_ok());
  }
  CHECK_FALSE(other == c);
  CHECK_FALSE(other.same_own_entry(c));
}

TEST_CASE("slot runs: random merges, failovers and resets match merge's rules applied slot by slot") {
  TestRandom random(11);
  const std::vector<char> names = {'a', 'b', 'c', 'd'};
  std::vector<ClusterConfig> configs;
  for (const char me : names) {
    std::vector<char> others;
    for (const char o : names) {
      if (o != me) others.push_back(o);
    }
    configs.push_back(config_of(me, others));
  }
  std::size_t moved_total = 0;
  std::size_t released_total = 0;
  for (int step = 0; step < 400; ++step) {
    const auto who = static_cast<std::size_t>(random.below(static_cast<int>(names.size())));
    ClusterConfig& c = configs[who];
    const int action = random.below(10);
    if (action < 2 && c.is_primary()) {
      // Claims or releases slots in its own view, with a new epoch so that the claims can win.
      const std::vector<std::string> view = flat_table(c, random);
      // One draw per statement: the order of a call's arguments is the compiler's (gcc and clang differ).
      const bool add = random.below(3) != 0;
      const auto span = random_span(random);
      const bool sparse = random.below(3) == 0;
      const std::vector<int> slots = pick_slots(view, c.my_id(), !add, span, sparse, random);
      REQUIRE((add ? c.add_slots(slots) : c.del_slots(slots)).is_ok());
      c.bump_my_epoch();
    } else if (action == 2 && c.is_primary()) {
      const char target = names[static_cast<std::size_t>(random.below(static_cast<int>(names.size())))];
      const ClusterNode* t = c.find(id(target));
      if (t != nullptr && t->id != c.my_id() && t->role == NodeRole::primary) c.make_replica_of(t->id);
    } else if (action == 3 && !c.is_primary()) {
      const std::size_t primary_slots = c.slot_count(c.myself().primary_id);
      const std::size_t mine = c.slot_count(c.my_id());  // a replica's own may come back by gossip
      CHECK(c.take_over_from_primary() == primary_slots);
      CHECK(c.slot_count(c.my_id()) == mine + primary_slots);
    } else {
      // c merges another node's config, sometimes through its text: checked against the rules.
      const auto from = static_cast<std::size_t>(random.below(static_cast<int>(names.size())));
      if (from == who) continue;
      const ClusterConfig& sender = configs[from];
      const std::vector<std::string> before = flat_table(c, random);
      const std::vector<std::string> claims = flat_table(sender, random);
      const ClusterNode& s = sender.myself();
      const ClusterNode* s_before = c.find(s.id);
      const bool current = s_before == nullptr || s.config_epoch >= s_before->config_epoch;
      ClusterConfig merged = c;
      MergeOutcome m;
      auto parsed = ClusterConfig::parse_for_merge(sender.serialize(), c);
      REQUIRE(parsed.is_ok());
      if (random.below(2) == 0) {
        // Merged as a value or through its text (which always parses: no replica owns slots).
        m = merged.merge(sender);
      } else {
        m = merged.merge(*parsed);
      }
      std::vector<std::string> want = before;
      std::size_t moved = 0;
      std::size_t released = 0;
      for (std::size_t slot = 0; slot < want.size(); ++slot) {
        std::string& owner = want[slot];
        if (s.role == NodeRole::primary) {
          if (claims[slot] == s.id) {
            if (owner != s.id && (owner.empty() || merged.find(owner)->config_epoch < s.config_epoch)) {
              owner = s.id;
              ++moved;
            }
          } else if (owner == s.id && current) {
            owner.clear();
            ++released;
          }
        } else if (owner == s.id && current) {
          owner = merged.find(s.primary_id) != nullptr ? s.primary_id : std::string();
          ++(owner.empty() ? released : moved);
        }
      }
      // Third nodes the sender taught c to be replicas now hand their slots to their primary (or
      // release them): a replica owns nothing.
      for (const ClusterNode& x : merged.nodes()) {
        const ClusterNode* x_before = c.find(x.id);
        if (x.id == s.id || x_before == nullptr || x_before->role != NodeRole::primary ||
            x.role != NodeRole::replica) {
          continue;
        }
        const std::string heir = merged.find(x.primary_id) != nullptr && x.primary_id != x.id ? x.primary_id : std::string();
        for (std::string& owner : want) {
          if (owner != x.id) continue;
          owner = heir;
          ++(heir.empty() ? released : moved);
        }
      }
      CHECK(m.slots_moved == moved);
      CHECK(m.slots_released == released);
      REQUIRE(flat_table(merged, random) == want);
      moved_total += moved;
      released_total += released;
      // The text of the merged config is the same written anew or from c's text.
      CHECK(merged.serialize_reusing(c, c.serialize()) == merged.serialize());
      c = merged;
    }
    // No replica owns slots, whoever c heard it from, so a config always equals its own text parsed
    // (a replica owning slots would make parse, and so a restart from nodes.conf, refuse the text).
    const auto runs = c.owned_runs();
    CHECK(std::none_of(runs.begin(), runs.end(), [](const auto& r) { return r.second->role == NodeRole::replica; }));
    auto parsed = ClusterConfig::parse(c.serialize());
    REQUIRE(parsed.is_ok());
    CHECK(*parsed == c);
  }
  // The walk above took every path: slots moved and released by merges.
  CHECK(moved_total > 0);
  CHECK(released_total > 0);
}

TEST_CASE("slot runs: copies are independent, and a reset leaves one unassigned run") {
  ClusterConfig a = config_of('a', {'b'});
  REQUIRE(a.add_slots(range(100, 199)).is_ok());
  ClusterConfig copy = a;
  REQUIRE(copy.del_slots({150}).is_ok());
  CHECK(a.slot_count(id('a')) == 100);
  CHECK(copy.slot_count(id('a')) == 99);
  CHECK_FALSE(copy == a);
  REQUIRE(copy.add_slots({150}).is_ok());
  CHECK(copy == a);  // the split run joined again
  copy.reset(false, "");
  CHECK(copy.assigned_slots() == 0);
  CHECK(copy.owned_runs().empty());
  CHECK(copy == config_of('a', {}));
  CHECK(a.slot_owner(150)->id == id('a'));
}

TEST_CASE("serialize_reusing: the text serialize writes, whatever changed since the previous config") {
  ClusterConfig a = config_of('a', {'b', 'c'});
  REQUIRE(a.add_slots(range(0, 99)).is_ok());
  ClusterConfig b = config_of('b', {'a', 'c', 'd'});
  REQUIRE(b.add_slots(range(200, 299)).is_ok());
  b.set_my_epoch(3);
  std::vector<ClusterConfig> history = {a};
  ClusterConfig next = a;
  next.merge(b);  // a node added, an entry replaced, slots moved
  history.push_back(next);
  next.bump_my_epoch();  // only the header and this node's line change
  history.push_back(next);
  next.make_replica_of(id('b'));
  history.push_back(next);
  next.reset(false, "");  // fewer nodes than before
  history.push_back(next);
  next.reset(true, id('e'));  // another id at the same position
  history.push_back(next);
  for (const ClusterConfig& now : history) {
    for (const ClusterConfig& before : history) {
      CHECK(now.serialize_reusing(before, before.serialize()) == now.serialize());
    }
  }
}
