// core/cluster_config.cpp — hash slots, the cluster config value, its merge rules and nodes.conf.
#include "core/cluster_config.h"

#include <fmt/format.h>

#include <xxhash.h>

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cstring>
#include <iterator>
#include <limits>
#include <numeric>
#include <span>
#include <stdexcept>

#include "core/small_file.h"

namespace replsim::core {

// ==== hash slots ==================================================================================

namespace {

// CRC16-XMODEM (polynomial 0x1021) a byte at a time: every keyed command hashes its keys.
constexpr std::array<std::uint16_t, 256> make_crc16_table() {
  std::array<std::uint16_t, 256> table{};
  for (int byte = 0; byte < 256; ++byte) {
    auto crc = static_cast<std::uint16_t>(byte << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000u) != 0 ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021u) : static_cast<std::uint16_t>(crc << 1);
    }
    table[static_cast<std::size_t>(byte)] = crc;
  }
  return table;
}

constexpr std::array<std::uint16_t, 256> kCrc16Table = make_crc16_table();

}  // namespace

std::uint16_t crc16_xmodem(std::string_view data) {
  std::uint16_t crc = 0;
  for (const char ch : data) {
    const auto index = static_cast<std::size_t>((crc >> 8) ^ static_cast<unsigned char>(ch));
    crc = static_cast<std::uint16_t>((crc << 8) ^ kCrc16Table[index]);
  }
  return crc;
}

int key_hash_slot(std::string_view key) {
  const std::size_t open = key.find('{');
  if (open != std::string_view::npos) {
    const std::size_t close = key.find('}', open + 1);
    // "{}" or a '{' without its '}' hashes the whole key, as in Redis.
    if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  return crc16_xmodem(key) & (kClusterSlots - 1);
}

std::vector<SlotSpan> slot_spans(const std::vector<int>& sorted_slots) {
  std::vector<SlotSpan> out;
  for (const int s : sorted_slots) {
    if (!out.empty() && out.back().last + 1 == s) {
      out.back().last = s;
    } else {
      out.push_back({s, s});
    }
  }
  return out;
}

std::string_view node_role_name(NodeRole role) {
  switch (role) {
    case NodeRole::primary:
      return "master";
    case NodeRole::replica:
      return "slave";
  }
  return "unknown";
}

namespace {

// 1 for the bytes of a node id (0-9, a-f): one table load per byte, summed without a branch, as
// gossip checks two ids on every node line of every config it parses.
constexpr std::array<std::uint8_t, 256> make_hex_table() {
  std::array<std::uint8_t, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[static_cast<std::size_t>(c)] = 1;
  for (int c = 'a'; c <= 'f'; ++c) table[static_cast<std::size_t>(c)] = 1;
  return table;
}

constexpr std::array<std::uint8_t, 256> kLowerHex = make_hex_table();

}  // namespace

bool is_node_id(std::string_view text) {
  if (text.size() != kNodeIdHexDigits) return false;
  unsigned good = 0;
  for (const char c : text) good += kLowerHex[static_cast<unsigned char>(c)];
  return good == kNodeIdHexDigits;
}

// ==== helpers =====================================================================================

namespace {

// The first 8 bytes of an id as one big-endian number (zero-padded when shorter): ids are random
// hex, so two ids nearly always differ there, and comparing these numbers orders ids as strings do
// wherever they differ.
std::uint64_t id_prefix(std::string_view id) {
  static_assert(std::endian::native == std::endian::little, "bytes are read as a little-endian word");
  std::uint64_t x = 0;
  std::memcpy(&x, id.data(), std::min<std::size_t>(id.size(), 8));
  return __builtin_bswap64(x);
}

// a < b as strings, deciding on the first 8 bytes read as one number when they differ: that is nearly
// always, and it spares a memcmp call per comparison.
bool id_less(std::string_view a, std::string_view b) {
  const std::uint64_t x = id_prefix(a);
  const std::uint64_t y = id_prefix(b);
  if (x != y) return x < y;
  return a < b;
}

// Appends a run that starts where the last one ends: merged into the last one when it has the same
// owner, so that runs built in slot order are canonical (no two adjacent runs with one owner).
template <class Run>
void append_run(std::vector<Run>& runs, int first, std::int16_t owner) {
  if (!runs.empty() && runs.back().owner == owner) return;
  runs.push_back(Run{static_cast<std::uint16_t>(first), owner});
}

}  // namespace

// ==== the config value ============================================================================

ClusterConfig::ClusterConfig() : runs_{OwnerRun{0, -1}} {}  // every slot unassigned

ClusterConfig ClusterConfig::fresh(std::string my_id, std::string host, std::uint16_t port) {
  ClusterConfig c;
  ClusterNode me;
  me.id = std::move(my_id);
  me.host = std::move(host);
  me.port = port;
  c.nodes_.push_back(std::move(me));
  c.reindex();
  return c;
}

ClusterConfig::IdKey ClusterConfig::id_key(std::string_view id, int index) {
  IdKey k;
  k.prefix = id_prefix(id);
  k.index = index;
  k.whole = id.size() == kNodeIdHexDigits;
  if (k.whole) std::memcpy(k.bytes.data(), id.data(), kNodeIdHexDigits);
  return k;
}

int ClusterConfig::index_of(std::string_view id) const {
  // Searched and matched on the index alone: no id string is read (gossip looks ids up at every
  // ping and at every node line of a config it merges, and each string lives in its own allocation,
  // a cache miss each once the node's fiber has been switched out).
  const IdKey wanted = id_key(id, -1);
  auto it = std::lower_bound(by_id_.begin(), by_id_.end(), wanted.prefix,
                             [](const IdKey& k, std::uint64_t prefix) { return k.prefix < prefix; });
  for (; it != by_id_.end() && it->prefix == wanted.prefix; ++it) {
    if (wanted.whole ? it->whole && it->bytes == wanted.bytes : nodes_[static_cast<std::size_t>(it->index)].id == id) {
      return it->index;
    }
  }
  return -1;
}

void ClusterConfig::reindex() {
  by_id_.resize(nodes_.size());
  for (std::size_t i = 0; i < nodes_.size(); ++i) by_id_[i] = id_key(nodes_[i].id, static_cast<int>(i));
  std::sort(by_id_.begin(), by_id_.end(), [&](const IdKey& a, const IdKey& b) {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    return nodes_[static_cast<std::size_t>(a.index)].id < nodes_[static_cast<std::size_t>(b.index)].id;
  });
}

const ClusterNode* ClusterConfig::find(std::string_view id) const {
  const int i = index_of(id);
  return i < 0 ? nullptr : &nodes_[static_cast<std::size_t>(i)];
}

const ClusterNode* ClusterConfig::my_primary() const {
  if (myself().role != NodeRole::replica) return nullptr;
  return find(myself().primary_id);
}

int ClusterConfig::run_end(std::size_t k) const {
  return k + 1 < runs_.size() ? runs_[k + 1].first : kClusterSlots;
}

std::int16_t ClusterConfig::owner_at(int slot) const {
  if (slot < 0 || slot >= kClusterSlots) {
    throw std::out_of_range(fmt::format("slot {} is outside [0, {})", slot, kClusterSlots));
  }
  // The last run that starts at or before the slot (runs_[0] starts at 0).
  const auto after = std::upper_bound(runs_.begin(), runs_.end(), slot,
                                      [](int s, const OwnerRun& r) { return s < static_cast<int>(r.first); });
  return std::prev(after)->owner;
}

void ClusterConfig::overlay(const std::vector<OwnedSpan>& spans) {
  // One walk over the runs and the spans together, in slot order, into a new canonical list.
  std::vector<OwnerRun> next;
  next.reserve(runs_.size() + 2 * spans.size());
  std::size_t k = 0;  // the run holding `at`
  std::size_t j = 0;  // the first span not wholly before `at`
  for (int at = 0; at < kClusterSlots;) {
    const int my_end = run_end(k);
    while (j < spans.size() && spans[j].last < at) ++j;
    int end = my_end;
    std::int16_t owner = runs_[k].owner;
    if (j < spans.size() && spans[j].first <= at) {
      end = std::min(end, spans[j].last + 1);
      owner = spans[j].owner;
    } else if (j < spans.size()) {
      end = std::min(end, spans[j].first);
    }
    append_run(next, at, owner);
    at = end;
    if (at == my_end) ++k;
  }
  runs_.swap(next);
}

std::size_t ClusterConfig::remap_owner(std::int16_t from, std::int16_t to) {
  std::size_t moved = 0;
  for (std::size_t k = 0; k < runs_.size(); ++k) {
    if (runs_[k].owner != from) continue;
    moved += static_cast<std::size_t>(run_end(k) - runs_[k].first);
  }
  if (moved == 0 || from == to) return moved;
  std::vector<OwnerRun> next;
  next.reserve(runs_.size());
  for (const OwnerRun& r : runs_) append_run(next, r.first, r.owner == from ? to : r.owner);
  runs_.swap(next);
  return moved;
}

const ClusterNode* ClusterConfig::slot_owner(int slot) const {
  const int i = owner_at(slot);
  return i < 0 ? nullptr : &nodes_[static_cast<std::size_t>(i)];
}

std::vector<int> ClusterConfig::slots_of(std::string_view id) const {
  std::vector<int> out;
  const int idx = index_of(id);
  if (idx < 0) return out;
  for (std::size_t k = 0; k < runs_.size(); ++k) {
    if (runs_[k].owner != idx) continue;
    for (int s = runs_[k].first; s < run_end(k); ++s) out.push_back(s);
  }
  return out;
}

std::size_t ClusterConfig::count_slots_of_index(int index) const {
  if (index < 0) return 0;
  std::size_t n = 0;
  for (std::size_t k = 0; k < runs_.size(); ++k) {
    if (runs_[k].owner == index) n += static_cast<std::size_t>(run_end(k) - runs_[k].first);
  }
  return n;
}

std::vector<std::pair<SlotSpan, const ClusterNode*>> ClusterConfig::owned_runs() const {
  std::vector<std::pair<SlotSpan, const ClusterNode*>> out;
  for (std::size_t k = 0; k < runs_.size(); ++k) {
    const OwnerRun& r = runs_[k];
    if (r.owner >= 0) out.push_back({{r.first, run_end(k) - 1}, &nodes_[static_cast<std::size_t>(r.owner)]});
  }
  return out;
}

std::size_t ClusterConfig::slot_count(std::string_view id) const { return count_slots_of_index(index_of(id)); }

std::size_t ClusterConfig::assigned_slots() const {
  std::size_t n = 0;
  for (std::size_t k = 0; k < runs_.size(); ++k) {
    if (runs_[k].owner >= 0) n += static_cast<std::size_t>(run_end(k) - runs_[k].first);
  }
  return n;
}

std::uint64_t ClusterConfig::current_epoch() const {
  std::uint64_t max = current_epoch_;
  for (const ClusterNode& n : nodes_) max = std::max(max, n.config_epoch);
  return max;
}

bool ClusterConfig::same_own_entry(const ClusterConfig& other) const {
  if (empty() || other.empty()) return empty() == other.empty();
  if (!(myself() == other.myself())) return false;
  if (runs_ == other.runs_) return true;  // the common case
  // nodes_[0] is this node in both. Runs are maximal, so both own the same slots exactly when their
  // runs of owner 0 are the same spans.
  std::size_t a = 0;
  std::size_t b = 0;
  while (true) {
    while (a < runs_.size() && runs_[a].owner != 0) ++a;
    while (b < other.runs_.size() && other.runs_[b].owner != 0) ++b;
    if (a == runs_.size() || b == other.runs_.size()) return a == runs_.size() && b == other.runs_.size();
    if (runs_[a].first != other.runs_[b].first || run_end(a) != other.run_end(b)) return false;
    ++a;
    ++b;
  }
}

bool ClusterConfig::same_ids(const ClusterConfig& other) const {
  // Equal id lists have equal sorted indexes, and equal indexes name the same id at every index.
  if (by_id_.size() != other.by_id_.size()) return false;
  for (std::size_t k = 0; k < by_id_.size(); ++k) {
    const IdKey& a = by_id_[k];
    const IdKey& b = other.by_id_[k];
    if (a.index != b.index || a.prefix != b.prefix || a.whole != b.whole) return false;
    if (a.whole ? a.bytes != b.bytes
                : nodes_[static_cast<std::size_t>(a.index)].id != other.nodes_[static_cast<std::size_t>(b.index)].id) {
      return false;
    }
  }
  return true;
}

std::vector<const ClusterNode*> ClusterConfig::replicas_of(std::string_view id) const {
  std::vector<const ClusterNode*> out;
  for (const ClusterNode& n : nodes_) {
    if (n.role == NodeRole::replica && n.primary_id == id) out.push_back(&n);
  }
  return out;
}

// ==== changes to this node ========================================================================

namespace {

Status check_no_duplicates(const std::vector<int>& slots) {
  // A bitmap, not a set: ADDSLOTSRANGE 0 16383 passes every slot through here.
  std::vector<bool> seen(kClusterSlots, false);
  for (const int s : slots) {
    if (s < 0 || s >= kClusterSlots) continue;  // out of range: the callers' .at() reports it
    if (seen[static_cast<std::size_t>(s)]) {
      return Status(Err::invalid, fmt::format("ERR Slot {} specified multiple times", s));
    }
    seen[static_cast<std::size_t>(s)] = true;
  }
  return Status::ok();
}

}  // namespace

// Distinct slots, in any order, as sorted spans given to one owner.
std::vector<ClusterConfig::OwnedSpan> ClusterConfig::spans_of(const std::vector<int>& slots, std::int16_t owner) {
  std::vector<int> sorted = slots;
  std::sort(sorted.begin(), sorted.end());
  std::vector<OwnedSpan> out;
  for (const SlotSpan& span : slot_spans(sorted)) out.push_back({span.first, span.last, owner});
  return out;
}

Status ClusterConfig::add_slots(const std::vector<int>& slots) {
  if (Status st = check_no_duplicates(slots); !st) return st;
  for (const int s : slots) {
    if (owner_at(s) >= 0) return Status(Err::invalid, fmt::format("ERR Slot {} is already busy", s));
  }
  overlay(spans_of(slots, 0));
  return Status::ok();
}

Status ClusterConfig::del_slots(const std::vector<int>& slots) {
  if (Status st = check_no_duplicates(slots); !st) return st;
  for (const int s : slots) {
    if (owner_at(s) < 0) return Status(Err::invalid, fmt::format("ERR Slot {} is already unassigned", s));
  }
  overlay(spans_of(slots, -1));
  return Status::ok();
}

void ClusterConfig::bump_my_epoch() {
  const std::uint64_t next = current_epoch() + 1;
  nodes_.front().config_epoch = next;
  current_epoch_ = next;
}

void ClusterConfig::set_my_epoch(std::uint64_t epoch) {
  nodes_.front().config_epoch = epoch;
  current_epoch_ = std::max(current_epoch_, epoch);
}

void ClusterConfig::make_replica_of(const std::string& primary_id) {
  remap_owner(0, -1);
  nodes_.front().role = NodeRole::replica;
  nodes_.front().primary_id = primary_id;
  bump_my_epoch();
}

void ClusterConfig::drop_to_primary_without_slots() {
  nodes_.front().role = NodeRole::primary;
  nodes_.front().primary_id.clear();
}

std::size_t ClusterConfig::take_over_from_primary() {
  const int primary = myself().role == NodeRole::replica ? index_of(myself().primary_id) : -1;
  std::size_t taken = 0;
  if (primary > 0) taken = remap_owner(static_cast<std::int16_t>(primary), 0);
  nodes_.front().role = NodeRole::primary;
  nodes_.front().primary_id.clear();
  bump_my_epoch();
  return taken;
}

void ClusterConfig::reset(bool hard, std::string new_id) {
  ClusterNode me = nodes_.front();
  me.role = NodeRole::primary;
  me.primary_id.clear();
  if (hard) {
    me.id = std::move(new_id);
    me.config_epoch = 0;
    current_epoch_ = 0;
  }
  nodes_.assign(1, me);
  reindex();
  runs_.assign(1, OwnerRun{0, -1});
}

void ClusterConfig::set_my_address(std::string host, std::uint16_t port) {
  nodes_.front().host = std::move(host);
  nodes_.front().port = port;
}

void ClusterConfig::learn_node(const ClusterNode& node) {
  const int i = index_of(node.id);
  if (i == 0) return;
  if (i > 0) {
    nodes_[static_cast<std::size_t>(i)].host = node.host;
    nodes_[static_cast<std::size_t>(i)].port = node.port;
    return;
  }
  nodes_.push_back(node);
  reindex();
}

// ==== merge =======================================================================================

MergeOutcome ClusterConfig::merge(const ClusterConfig& sender) {
  MergeOutcome out;
  if (sender.empty() || empty() || sender.my_id() == my_id()) return out;

  // Who owned what before, for the follow rules below, and the first node (in slot order) that took
  // a slot from this node or from its primary: the node to follow if they lost every slot.
  // The slot counts before are derived from the counts after and the moves counted here, so a merge
  // that moves none of this node's or its primary's slots counts nothing.
  const NodeRole my_role_before = myself().role;
  const int my_primary_index = my_role_before == NodeRole::replica ? index_of(myself().primary_id) : -1;
  std::size_t lost_by_me = 0;
  std::size_t lost_by_primary = 0;
  std::size_t gained_by_primary = 0;
  int first_taker_from_me = -1;
  int first_taker_from_primary = -1;
  // `slots` consecutive slots moved from former_owner to new_owner (-1: released).
  auto note_move = [&](int former_owner, int new_owner, std::size_t slots) {
    if (former_owner == 0) lost_by_me += slots;
    if (former_owner > 0 && former_owner == my_primary_index) lost_by_primary += slots;
    if (new_owner > 0 && new_owner == my_primary_index) gained_by_primary += slots;
    if (new_owner < 0) return;
    if (former_owner == 0 && first_taker_from_me < 0) first_taker_from_me = new_owner;
    if (former_owner > 0 && former_owner == my_primary_index && first_taker_from_primary < 0) {
      first_taker_from_primary = new_owner;
    }
  };

  // Every slot of node `from` goes to node `heir` (-1: released), counted as moves or releases: what
  // a node that became a replica held (a replica owns nothing).
  auto hand_slots_on = [&](int from, int heir) {
    const auto from_index = static_cast<std::int16_t>(from);
    for (std::size_t k = 0; k < runs_.size(); ++k) {
      if (runs_[k].owner != from_index) continue;
      const auto slots = static_cast<std::size_t>(run_end(k) - runs_[k].first);
      note_move(from, heir, slots);
      if (heir >= 0) {
        out.slots_moved += slots;
      } else {
        out.slots_released += slots;
      }
    }
    remap_owner(from_index, static_cast<std::int16_t>(heir));
  };

  // 1. Node entries: add unknown nodes, replace known ones only with a strictly greater epoch, and
  //    never take anything about this node from someone else. The sender's ids are distinct, so a
  //    node added here is never looked up again in this loop: the index is rebuilt once after it.
  // Known nodes this merge turned into replicas: a replica owns nothing (see after step 2).
  std::vector<int> turned_replica;
  for (const ClusterNode& theirs : sender.nodes_) {
    if (theirs.id == my_id()) continue;
    const int i = index_of(theirs.id);
    if (i < 0) {
      nodes_.push_back(theirs);
      ++out.nodes_added;
      continue;
    }
    ClusterNode& mine = nodes_[static_cast<std::size_t>(i)];
    if (theirs.config_epoch > mine.config_epoch) {
      if (mine.role == NodeRole::primary && theirs.role == NodeRole::replica) turned_replica.push_back(i);
      mine = theirs;
      ++out.nodes_updated;
    }
  }
  if (out.nodes_added > 0) reindex();
  current_epoch_ = std::max(current_epoch_, sender.current_epoch());

  // 2. Slots, from the sender's own claims only (what it says about third parties' slots is hearsay).
  const ClusterNode& s = sender.myself();
  const int si = index_of(s.id);  // known now: step 1 added it
  const ClusterNode& s_here = nodes_[static_cast<std::size_t>(si)];
  const bool sender_is_current = s.config_epoch >= s_here.config_epoch;
  const auto sender_index = static_cast<std::int16_t>(si);
  if (s.role == NodeRole::primary) {
    // One walk over this config's runs and the sender's together, in slot order: each piece where
    // neither changes owner is decided whole, into a new canonical list of runs.
    const std::vector<OwnerRun>& theirs = sender.runs_;
    std::vector<OwnerRun> next;
    next.reserve(runs_.size() + theirs.size());
    std::size_t k = 0;  // my run holding `at`
    std::size_t j = 0;  // the sender's run holding `at`
    for (int at = 0; at < kClusterSlots;) {
      const int my_end = run_end(k);
      const int their_end = sender.run_end(j);
      const int end = std::min(my_end, their_end);
      const auto slots = static_cast<std::size_t>(end - at);
      const bool claimed = theirs[j].owner == 0;  // the sender is index 0 of its own config
      const std::int16_t owner = runs_[k].owner;
      std::int16_t new_owner = owner;
      if (claimed) {
        // A slot moves only to a claimant whose epoch is greater than its current owner's.
        if (owner != sender_index &&
            (owner < 0 || nodes_[static_cast<std::size_t>(owner)].config_epoch < s.config_epoch)) {
          new_owner = sender_index;
          note_move(owner, si, slots);
          out.slots_moved += slots;
        }
      } else if (owner == sender_index && sender_is_current) {
        // The sender no longer claims slots we think are its own (DELSLOTS, or it lost an epoch
        // collision): release them so that their real owner can claim them.
        new_owner = -1;
        note_move(si, -1, slots);
        out.slots_released += slots;
      }
      append_run(next, at, new_owner);
      at = end;
      if (at == my_end) ++k;
      if (at == their_end) ++j;
    }
    if (out.slots_moved > 0 || out.slots_released > 0) runs_.swap(next);
  } else if (sender_is_current) {
    // A replica owns nothing: slots we still think are the sender's went to its primary (a primary
    // that stepped down in a planned failover), if we know that primary.
    hand_slots_on(si, index_of(s.primary_id));
  }

  // 2b. A third node learned (from the sender) to be a replica now still owns, here, the slots it
  //     had as a primary: they go to its primary, if known, else they are released, as when a node
  //     says so itself (above). Left in place, this config would name a replica owning slots, which
  //     parse() rejects: peers would refuse its gossip, and nodes.conf would not load at a restart.
  for (const int xi : turned_replica) {
    if (xi == si) continue;  // the sender's own entry: step 2 decided its slots
    const int pi = index_of(nodes_[static_cast<std::size_t>(xi)].primary_id);
    hand_slots_on(xi, pi == xi ? -1 : pi);
  }

  // 3. Epoch collision between two primaries (Redis's rule: the smaller id moves on).
  if (s.role == NodeRole::primary && my_role_before == NodeRole::primary &&
      s.config_epoch == myself().config_epoch && s.id > my_id()) {
    out.epoch_collision = true;
  }

  // 4. Should this node follow someone? Only the caller changes this node's own entry.
  auto id_of = [&](int index) -> std::optional<std::string> {
    if (index < 0) return std::nullopt;
    return nodes_[static_cast<std::size_t>(index)].id;
  };
  // Slots only leave this node in a merge: if it lost none, it did not lose them all.
  const std::size_t my_slots_after = lost_by_me > 0 ? count_slots_of_index(0) : 1;
  const std::size_t my_slots_before = my_slots_after + lost_by_me;
  if (my_role_before == NodeRole::primary && lost_by_me > 0 && my_slots_after == 0) {
    out.follow = id_of(first_taker_from_me);
    out.follow_reason = fmt::format("lost all {} slots to a node with a greater config epoch", my_slots_before);
  } else if (my_primary_index > 0) {
    // Likewise the primary: without a loss it cannot have lost every slot.
    const std::size_t primary_slots_after = lost_by_primary > 0 ? count_slots_of_index(my_primary_index) : 1;
    const std::size_t primary_slots_before = primary_slots_after + lost_by_primary - gained_by_primary;
    const ClusterNode& p = nodes_[static_cast<std::size_t>(my_primary_index)];
    if (p.role == NodeRole::replica && !p.primary_id.empty() && p.primary_id != my_id() &&
        index_of(p.primary_id) >= 0) {
      out.follow = p.primary_id;
      out.follow_reason = fmt::format("my primary {} became a replica", p.id);
    } else if (lost_by_primary > 0 && primary_slots_before > 0 && primary_slots_after == 0) {
      out.follow = id_of(first_taker_from_primary);
      out.follow_reason = fmt::format("my primary {} lost all {} slots", p.id, primary_slots_before);
    }
    if (out.follow && *out.follow == my_id()) out.follow.reset();
  }

  out.changed = out.nodes_added > 0 || out.nodes_updated > 0 || out.slots_moved > 0 ||
                out.slots_released > 0;
  return out;
}

// ==== text form ===================================================================================

namespace {

constexpr std::string_view kHeader = "replsim-cluster-config 1";

// The words of a line, into out (cleared first; its capacity is reused across the lines of a parse:
// configs are parsed at every gossip that differs, and a fresh vector per line cost four allocations).
void split_words(std::string_view line, std::vector<std::string_view>& out) {
  out.clear();
  std::size_t pos = 0;
  while (pos < line.size()) {
    while (pos < line.size() && line[pos] == ' ') ++pos;
    if (pos >= line.size()) break;
    std::size_t end = line.find(' ', pos);
    if (end == std::string_view::npos) end = line.size();
    out.push_back(line.substr(pos, end - pos));
    pos = end;
  }
}

// Whether text is the word: a compare of a size known at compile time, which the compiler inlines
// (the parse of a gossiped config compares a few words on each of its lines).
template <std::size_t N>
bool is_word(std::string_view text, const char (&word)[N]) {
  return text.size() == N - 1 && std::memcmp(text.data(), word, N - 1) == 0;
}

template <class T>
std::optional<T> parse_number(std::string_view text) {
  T value{};
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

bool is_token(std::string_view text) {
  return !text.empty() && std::none_of(text.begin(), text.end(), [](char c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
  });
}

}  // namespace

namespace {

// Appends the decimal digits of v, as fmt's "{}" writes them (the text is compared by digest).
void append_number(std::string& out, std::uint64_t v) {
  char digits[20];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
  out.append(digits, end);
}

}  // namespace

namespace {

void append_node_line(std::string& out, const ClusterNode& n) {
  out += "node ";
  out += n.id;
  out += ' ';
  out += n.host;
  out += ' ';
  append_number(out, n.port);
  out += ' ';
  append_number(out, n.config_epoch);
  out += ' ';
  out += node_role_name(n.role);
  out += ' ';
  out += n.primary_id.empty() ? std::string_view("-") : std::string_view(n.primary_id);
  out += '\n';
}

void append_slots_line(std::string& out, std::string_view id, std::span<const SlotSpan> spans) {
  if (spans.empty()) return;
  out += "slots ";
  out += id;
  for (const SlotSpan& span : spans) {
    out += ' ';
    append_number(out, static_cast<std::uint64_t>(span.first));
    if (span.first != span.last) {
      out += '-';
      append_number(out, static_cast<std::uint64_t>(span.last));
    }
  }
  out += '\n';
}

}  // namespace

void ClusterConfig::append_header(std::string& out) const {
  out += kHeader;
  out += "\nmyself ";
  out += my_id();
  out += "\ncurrent_epoch ";
  append_number(out, current_epoch());
  out += '\n';
}

std::string ClusterConfig::serialize() const {
  // Appended piece by piece, not formatted line by line: a config is serialized at every change.
  std::string out;
  out.reserve(64 + nodes_.size() * 140);
  append_header(out);
  for (const ClusterNode& n : nodes_) append_node_line(out, n);
  append_slots_lines(out);
  return out;
}

void ClusterConfig::append_slots_lines(std::string& out) const {
  // The owned runs grouped by owner (in nodes_ order), each owner's in slot order: one slots line per
  // owner, from the runs alone (no pass over the 16384 slots).
  struct Owned {
    std::int16_t owner = 0;
    SlotSpan span;
  };
  std::vector<Owned> owned;
  owned.reserve(runs_.size());
  for (std::size_t k = 0; k < runs_.size(); ++k) {
    if (runs_[k].owner >= 0) owned.push_back({runs_[k].owner, {runs_[k].first, run_end(k) - 1}});
  }
  std::sort(owned.begin(), owned.end(), [](const Owned& a, const Owned& b) {
    return a.owner != b.owner ? a.owner < b.owner : a.span.first < b.span.first;
  });
  std::vector<SlotSpan> spans(owned.size());
  for (std::size_t i = 0; i < owned.size(); ++i) spans[i] = owned[i].span;
  for (std::size_t g = 0; g < owned.size();) {
    std::size_t h = g;
    while (h < owned.size() && owned[h].owner == owned[g].owner) ++h;
    append_slots_line(out, nodes_[static_cast<std::size_t>(owned[g].owner)].id,
                      std::span<const SlotSpan>(spans.data() + g, h - g));
    g = h;
  }
}

namespace {

// The position after the line that starts at pos (npos when there is no whole line there).
std::size_t next_line(std::string_view text, std::size_t pos) {
  if (pos == std::string_view::npos) return pos;
  const std::size_t end = text.find('\n', pos);
  return end == std::string_view::npos ? end : end + 1;
}

// Whether the line at pos reads "<kind><id> ..." (kind and id compared as bytes: it is asked of every
// line a change writes).
bool line_names(std::string_view text, std::size_t pos, std::string_view kind, std::string_view id) {
  const std::size_t need = kind.size() + id.size() + 1;
  if (pos > text.size() || text.size() - pos < need) return false;
  const char* p = text.data() + pos;
  return std::memcmp(p, kind.data(), kind.size()) == 0 && std::memcmp(p + kind.size(), id.data(), id.size()) == 0 &&
         p[need - 1] == ' ';
}

}  // namespace

std::string ClusterConfig::serialize_reusing(const ClusterConfig& previous, std::string_view previous_text) const {
  // A node line is a function of its entry alone: where the entry at a position is the one previous
  // held there, its line is copied from previous_text (consecutive ones in one copy) instead of
  // written again. The header and the slots lines are written as serialize() writes them.
  std::string out;
  out.reserve(previous_text.size() + 256);
  append_header(out);
  // previous_text's node lines follow its header lines (header, myself, current_epoch).
  std::size_t pos = next_line(previous_text, next_line(previous_text, next_line(previous_text, 0)));
  std::size_t copy_from = 0;  // previous_text's lines [copy_from, copy_to) are still to be copied
  std::size_t copy_to = 0;
  auto flush = [&] {
    out.append(previous_text.substr(copy_from, copy_to - copy_from));
    copy_from = copy_to = 0;
  };
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const ClusterNode& n = nodes_[i];
    const std::size_t end = i < previous.nodes_.size() ? next_line(previous_text, pos) : std::string_view::npos;
    if (end != std::string_view::npos && n == previous.nodes_[i] && line_names(previous_text, pos, "node ", n.id)) {
      if (copy_to != pos) {
        flush();
        copy_from = pos;
      }
      copy_to = end;
    } else {
      flush();
      append_node_line(out, n);
    }
    pos = end;
  }
  flush();
  append_slots_lines(out);
  return out;
}

std::string ClusterConfig::serialize_section(std::size_t first, std::size_t count) const {
  std::string out;
  const std::size_t others = nodes_.size() - 1;
  count = std::min(count, others);
  out.reserve(96 + (count + 1) * 140);
  append_header(out);
  append_node_line(out, nodes_.front());
  for (std::size_t k = 0; k < count; ++k) append_node_line(out, nodes_[1 + (first + k) % others]);
  std::vector<SlotSpan> mine;
  for (std::size_t k = 0; k < runs_.size(); ++k) {
    if (runs_[k].owner == 0) mine.push_back({runs_[k].first, run_end(k) - 1});
  }
  append_slots_line(out, my_id(), mine);
  return out;
}

std::uint64_t ClusterConfig::digest() const { return digest_of_text(serialize()); }

std::uint64_t ClusterConfig::digest_of_text(std::string_view text) {
  // Every line but the "myself" line hashed on its own and the hashes summed: a sum does not depend
  // on the lines' order, so the text needs neither sorting nor a canonical copy (a digest is taken at
  // every config change, and a config of n nodes has O(n) lines). What is left names no local order
  // and no local node. Lines are distinct (one per node, one per owner's slots), so a sum of 64-bit
  // hashes tells configs apart as well as a hash of the sorted text, and the count is mixed in.
  std::uint64_t sum = 0;
  std::uint64_t lines = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const void* nl = std::memchr(text.data() + pos, '\n', text.size() - pos);
    const std::size_t end = nl == nullptr ? text.size() : static_cast<std::size_t>(static_cast<const char*>(nl) - text.data());
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line.starts_with("myself ")) continue;
    sum += XXH3_64bits(line.data(), line.size());
    ++lines;
  }
  return XXH3_64bits_withSeed(&sum, sizeof(sum), lines);
}

Result<ClusterConfig> ClusterConfig::parse(std::string_view text) { return parse_impl(text, nullptr); }

Result<ClusterConfig> ClusterConfig::parse_for_merge(std::string_view text, const ClusterConfig& receiver) {
  return parse_impl(text, &receiver);
}

namespace {

// Whether rest, a node line after "node <id> ", reads exactly as serialize() writes known's entry:
// "<host> <port> <epoch> master -" or "... slave <primary id>", single spaces, nothing after.
bool line_matches_entry(std::string_view rest, const ClusterNode& known) {
  auto take = [&](std::string_view piece) {
    if (rest.size() < piece.size() || std::memcmp(rest.data(), piece.data(), piece.size()) != 0) return false;
    rest.remove_prefix(piece.size());
    return true;
  };
  auto take_number = [&](std::uint64_t v) {
    char digits[20];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
    return take(std::string_view(digits, static_cast<std::size_t>(end - digits)));
  };
  const bool replica = known.role == NodeRole::replica;
  return take(known.host) && take(" ") && take_number(known.port) && take(" ") && take_number(known.config_epoch) &&
         take(" ") && take(node_role_name(known.role)) && take(" ") &&
         take(replica ? std::string_view(known.primary_id) : std::string_view("-")) && rest.empty();
}

}  // namespace

Result<ClusterConfig> ClusterConfig::parse_impl(std::string_view text, const ClusterConfig* receiver) {
  ClusterConfig c;
  std::string my_id;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  bool header_seen = false;
  auto fail = [&](std::string_view what) {
    return Status(Err::invalid, fmt::format("cluster config line {}: {}", line_no, what));
  };
  // (line number, text) of the slots lines, read after the nodes; views into text.
  std::vector<std::pair<std::size_t, std::string_view>> slot_lines;
  // Every node line's id (a view into text), whether it is a replica and its line: a config lists
  // each node once, and a slots line must name a listed primary. Appended as read and sorted by id
  // after the node lines (a sorted insert per line moved O(nodes²) bytes per parse).
  struct Seen {
    std::uint64_t prefix = 0;  // id_prefix(id)
    std::string_view id;
    bool replica = false;
    std::size_t line_no = 0;
    bool operator<(std::string_view other) const { return id_less(id, other); }
  };
  auto seen_less = [](const Seen& a, const Seen& b) {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    if (a.id != b.id) return a.id < b.id;
    return a.line_no < b.line_no;
  };
  std::vector<Seen> seen;
  // Sorts `nodes` and returns the error of a node listed twice, at the line it is first repeated on:
  // the error the node lines read so far make, before any error of a later line.
  auto first_repeat = [&](std::vector<Seen>& nodes) -> std::optional<Status> {
    std::sort(nodes.begin(), nodes.end(), seen_less);
    const Seen* repeat = nullptr;
    for (std::size_t k = 1; k < nodes.size(); ++k) {
      if (nodes[k].prefix != nodes[k - 1].prefix || nodes[k].id != nodes[k - 1].id) continue;
      if (repeat == nullptr || nodes[k].line_no < repeat->line_no) repeat = &nodes[k];
    }
    if (repeat == nullptr) return std::nullopt;
    line_no = repeat->line_no;
    return fail(fmt::format("node {} listed twice", repeat->id));
  };
  // An error of the line being read, unless an earlier line repeated a node.
  auto line_fail = [&](std::string_view what) {
    std::vector<Seen> sorted = seen;
    const std::size_t here = line_no;
    if (auto repeat = first_repeat(sorted)) return *repeat;
    line_no = here;
    return fail(what);
  };
  std::vector<std::string_view> w;
  std::uint64_t greatest_epoch = 0;
  c.nodes_.reserve(receiver ? 8 : static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')));
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.empty()) continue;
    if (!header_seen) {
      if (line != kHeader) return fail(fmt::format("expected \"{}\"", kHeader));
      header_seen = true;
      continue;
    }
    // For a merge, a line that reads exactly as the receiver's own entry of another node serializes
    // is valid and changes nothing there (its epoch is the receiver's): it is only counted, not split
    // and checked word by word. In a forming cluster most lines of every config gossiped are such
    // lines. Any other line takes the general path below, which gives the same result for this one.
    if (receiver != nullptr && !my_id.empty() && line.size() > 6 + kNodeIdHexDigits && line.starts_with("node ") &&
        line[5 + kNodeIdHexDigits] == ' ') {
      const std::string_view id = line.substr(5, kNodeIdHexDigits);
      const ClusterNode* known = id == my_id ? nullptr : receiver->find(id);
      if (known != nullptr && known != &receiver->myself() && is_token(known->host) &&
          line_matches_entry(line.substr(6 + kNodeIdHexDigits), *known)) {
        seen.push_back(Seen{id_prefix(id), id, known->role == NodeRole::replica, line_no});
        greatest_epoch = std::max(greatest_epoch, known->config_epoch);
        continue;
      }
    }
    split_words(line, w);
    if (w.empty()) return line_fail("unknown line kind \"\"");  // a line of spaces
    const auto kind_is = [&](const auto& kind) { return is_word(w[0], kind); };
    if (kind_is("myself")) {
      if (w.size() != 2 || !is_node_id(w[1])) return line_fail("expected \"myself <40 hex digit id>\"");
      my_id = std::string(w[1]);
    } else if (kind_is("current_epoch")) {
      const auto e = w.size() == 2 ? parse_number<std::uint64_t>(w[1]) : std::nullopt;
      if (!e) return line_fail("expected \"current_epoch <n>\"");
      c.current_epoch_ = *e;
    } else if (kind_is("node")) {
      if (w.size() != 7) return line_fail("expected \"node <id> <host> <port> <epoch> master|slave <primary id>|-\"");
      const auto port = parse_number<std::uint16_t>(w[3]);
      const auto epoch = parse_number<std::uint64_t>(w[4]);
      if (!is_node_id(w[1]) || !is_token(w[2]) || !port || !epoch) return line_fail("bad node id, host, port or epoch");
      NodeRole role = NodeRole::primary;
      if (is_word(w[5], "master") && is_word(w[6], "-")) {
        role = NodeRole::primary;
      } else if (is_word(w[5], "slave") && is_node_id(w[6])) {
        role = NodeRole::replica;
      } else {
        return line_fail("expected \"master -\" or \"slave <primary id>\"");
      }
      seen.push_back(Seen{id_prefix(w[1]), w[1], role == NodeRole::replica, line_no});
      greatest_epoch = std::max(greatest_epoch, *epoch);
      if (receiver != nullptr && !my_id.empty() && w[1] != my_id) {
        // For a merge into receiver, an entry it holds at an equal or greater epoch (or its own)
        // changes nothing there: only its epoch counts (current_epoch below).
        const ClusterNode* known = receiver->find(w[1]);
        if (known == &receiver->myself() || (known != nullptr && known->config_epoch >= *epoch)) continue;
      }
      ClusterNode n;
      n.id = std::string(w[1]);
      n.host = std::string(w[2]);
      n.port = *port;
      n.config_epoch = *epoch;
      n.role = role;
      if (role == NodeRole::replica) n.primary_id = std::string(w[6]);
      c.nodes_.push_back(std::move(n));
    } else if (kind_is("slots")) {
      slot_lines.emplace_back(line_no, line);
    } else {
      return line_fail(fmt::format("unknown line kind \"{}\"", w[0]));
    }
  }
  if (auto repeat = first_repeat(seen)) return *repeat;
  if (!header_seen) return Status(Err::invalid, "cluster config: empty text");
  if (my_id.empty()) return Status(Err::invalid, "cluster config: no \"myself\" line");
  const auto me_it = std::find_if(c.nodes_.begin(), c.nodes_.end(), [&](const ClusterNode& n) { return n.id == my_id; });
  const int me = me_it == c.nodes_.end() ? -1 : static_cast<int>(me_it - c.nodes_.begin());
  if (me < 0) return Status(Err::invalid, fmt::format("cluster config: myself {} has no node line", my_id));
  // The local node is always nodes_[0].
  std::rotate(c.nodes_.begin(), c.nodes_.begin() + me, c.nodes_.begin() + me + 1);
  c.reindex();
  // For a merge, the greatest epoch of the entries left out still raises the receiver's current epoch.
  if (receiver != nullptr) c.current_epoch_ = std::max(c.current_epoch_, greatest_epoch);
  // Every range is read and checked; ranges that overlap are found by sorting them (a config holds
  // a range or a few per shard), and only then is the table filled. For a merge, only the sender's
  // own claims are filled in: what it says of others' slots is hearsay that merge() never reads.
  struct Range {
    int first = 0;
    int last = 0;
    std::int16_t owner = -1;  // index into c.nodes_, or -1 when not filled in
    std::size_t line_no = 0;
  };
  std::vector<Range> ranges;
  // The error the ranges read so far make, in the order they were read: the first range that shares
  // a slot with an earlier one, and its first such slot.
  auto first_overlap = [&](const std::vector<Range>& rs) -> std::optional<Status> {
    std::vector<std::pair<int, int>> sorted;
    sorted.reserve(rs.size());
    for (const Range& r : rs) sorted.emplace_back(r.first, r.last);
    std::sort(sorted.begin(), sorted.end());
    bool any = false;
    for (std::size_t k = 1; k < sorted.size() && !any; ++k) any = sorted[k].first <= sorted[k - 1].second;
    if (!any) return std::nullopt;  // the common case, in O(ranges log ranges)
    for (std::size_t i = 1; i < rs.size(); ++i) {
      int slot = kClusterSlots;
      for (std::size_t j = 0; j < i; ++j) {
        if (rs[j].first <= rs[i].last && rs[i].first <= rs[j].last) slot = std::min(slot, std::max(rs[i].first, rs[j].first));
      }
      if (slot < kClusterSlots) {
        line_no = rs[i].line_no;
        return fail(fmt::format("slot {} assigned twice", slot));
      }
    }
    return std::nullopt;
  };
  std::string_view replica_with_slots;  // the first slots line's owner that is a replica
  for (const auto& [no, slot_line] : slot_lines) {
    line_no = no;
    split_words(slot_line, w);
    const auto at = w.size() >= 2 ? std::lower_bound(seen.begin(), seen.end(), w[1]) : seen.end();
    if (at == seen.end() || at->id != w[1]) {
      if (auto overlap = first_overlap(ranges)) return *overlap;
      line_no = no;
      return fail("slots line for an unknown node");
    }
    if (w.size() > 2 && replica_with_slots.empty() && at->replica) replica_with_slots = at->id;
    const bool hearsay = receiver != nullptr && w[1] != my_id;
    const auto owner = hearsay ? std::int16_t{-1} : static_cast<std::int16_t>(c.index_of(w[1]));
    for (std::size_t k = 2; k < w.size(); ++k) {
      const std::size_t dash = w[k].find('-');
      const auto first = parse_number<int>(w[k].substr(0, dash));
      const auto last = dash == std::string_view::npos ? first : parse_number<int>(w[k].substr(dash + 1));
      if (!first || !last || *first < 0 || *last >= kClusterSlots || *first > *last) {
        // A bad range after an overlap in an earlier line: the overlap is the first error.
        if (auto overlap = first_overlap(ranges)) return *overlap;
        line_no = no;
        return fail("bad slot range");
      }
      ranges.push_back({*first, *last, owner, no});
    }
  }
  if (auto overlap = first_overlap(ranges)) return *overlap;
  // Checked per slots line, not per slot: configs are parsed at every gossip that changes them.
  if (!replica_with_slots.empty()) {
    return Status(Err::invalid, fmt::format("cluster config: replica {} owns slots", replica_with_slots));
  }
  // Disjoint now: sorted by their first slot, they lay the runs down in one walk.
  std::vector<OwnedSpan> spans;
  spans.reserve(ranges.size());
  for (const Range& r : ranges) {
    if (r.owner >= 0) spans.push_back({r.first, r.last, r.owner});
  }
  std::sort(spans.begin(), spans.end(), [](const OwnedSpan& a, const OwnedSpan& b) { return a.first < b.first; });
  c.overlay(spans);
  return c;
}

// ==== nodes.conf ==================================================================================

Status save_nodes_conf(Env& env, const ClusterConfig& config) { return save_nodes_conf_text(env, config.serialize()); }

Status save_nodes_conf_text(Env& env, std::string_view serialized) {
  return save_small_file(env, std::string(kNodesConfFile), serialized);
}

Result<std::optional<ClusterConfig>> load_nodes_conf(Env& env) {
  const std::string name(kNodesConfFile);
  constexpr std::string_view kRemedy =
      "; remove it to rejoin the cluster as a fresh node (then CLUSTER MEET and REPLICATE it again)";
  auto body = load_small_file(env, name);
  if (!body) return Status(body.code(), fmt::format("{}{}", body.status().message(), kRemedy));
  if (!body->has_value()) return std::optional<ClusterConfig>();
  auto parsed = ClusterConfig::parse(**body);
  if (!parsed) {
    return Status(Err::invalid, fmt::format("{} does not parse: {}{}", name, parsed.status().message(), kRemedy));
  }
  return std::optional<ClusterConfig>(std::move(parsed.value()));
}

}  // namespace replsim::core
