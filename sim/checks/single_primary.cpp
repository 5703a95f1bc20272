// sim/checks/single_primary.cpp — the single-primary-per-slot check (incident 002).
//
// After the liveness phase, per cluster: every running node holds the same config (the newest one —
// gossip must have spread every change), every slot has at most one primary that claims it and an
// assigned slot is claimed by a node that is a primary, and every node's running role and the role
// its nodes.conf holds agree with its own entry in that config. It reads only NodeFinal records.
#include <algorithm>
#include <cstdint>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sim/checks/check.h"

namespace replsim::sim {

namespace {

nlohmann::json entry_json(const ConfigEntry& e) {
  return {{"id", e.id}, {"host", e.host}, {"epoch", e.epoch}, {"role", e.role}, {"primary_id", e.primary_id}};
}

// How b's config differs from a's, for the evidence: the first entry or slot run that differs.
nlohmann::json config_difference(const NodeFinal& a, const NodeFinal& b) {
  std::map<std::string, const ConfigEntry*> theirs;
  for (const ConfigEntry& e : b.config) theirs.emplace(e.id, &e);
  for (const ConfigEntry& e : a.config) {
    auto it = theirs.find(e.id);
    if (it == theirs.end()) return {{"entry", entry_json(e)}, {b.node, "does not know this node"}};
    if (!(*it->second == e)) return {{a.node, entry_json(e)}, {b.node, entry_json(*it->second)}};
    theirs.erase(it);
  }
  if (!theirs.empty()) return {{"entry", entry_json(*theirs.begin()->second)}, {a.node, "does not know this node"}};
  const std::size_t n = std::min(a.slot_owners.size(), b.slot_owners.size());
  for (std::size_t i = 0; i <= n; ++i) {
    const SlotOwner* x = i < a.slot_owners.size() ? &a.slot_owners[i] : nullptr;
    const SlotOwner* y = i < b.slot_owners.size() ? &b.slot_owners[i] : nullptr;
    if (x != nullptr && y != nullptr && *x == *y) continue;
    auto run = [](const SlotOwner* s) -> nlohmann::json {
      if (s == nullptr) return "none";
      return {{"slots", fmt::format("{}-{}", s->first, s->last)}, {"owner", s->owner_id}};
    };
    return {{"slot_run", i}, {a.node, run(x)}, {b.node, run(y)}};
  }
  return nlohmann::json::object();
}

const ConfigEntry* entry_of(const NodeFinal& f, const std::string& id) {
  for (const ConfigEntry& e : f.config) {
    if (e.id == id) return &e;
  }
  return nullptr;
}

}  // namespace

std::vector<Violation> check_single_primary_per_slot(const RunFacts& facts, std::int64_t now_ns) {
  std::vector<Violation> out;
  auto add = [&](const std::string& node, std::string message, nlohmann::json evidence) {
    out.push_back({"single-primary-per-slot", now_ns, node, std::move(message), std::move(evidence)});
  };
  std::map<std::string, std::vector<const NodeFinal*>> clusters;
  for (const NodeFinal& f : facts.finals) {
    if (f.up && !f.config.empty()) clusters[f.cluster].push_back(&f);
  }
  for (const auto& [cluster, nodes] : clusters) {
    // Roles: the running role and the persisted role agree with the node's own entry.
    for (const NodeFinal* f : nodes) {
      const ConfigEntry* self = entry_of(*f, f->node_id);
      const std::string config_role = self == nullptr ? "?" : self->role;
      if (f->role != config_role || f->persisted_role != config_role) {
        add(f->node,
            fmt::format("{} runs as {} with nodes.conf saying {}, but its own config entry says {}", f->node,
                        f->role, f->persisted_role, config_role),
            {{"role", f->role}, {"persisted_role", f->persisted_role}, {"config_role", config_role}});
      }
    }
    // Agreement: everyone holds the first node's config.
    const NodeFinal& ref = *nodes.front();
    for (std::size_t k = 1; k < nodes.size(); ++k) {
      const NodeFinal& f = *nodes[k];
      if (f.config == ref.config && f.slot_owners == ref.slot_owners) continue;
      add(f.node,
          fmt::format("{} and {} hold different cluster configs after the liveness phase", ref.node, f.node),
          {{"difference", config_difference(ref, f)}});
    }
    // One primary per slot: the nodes that run as primaries and claim a slot in their own config.
    // Claims are runs; a slot's claimants are listed only where two runs overlap.
    struct Claim {
      int first;
      int last;
      const std::string* node;
    };
    std::vector<Claim> claims;
    std::vector<std::uint8_t> claim_count(16384, 0);
    for (const NodeFinal* f : nodes) {
      if (f->role != "primary") continue;
      for (const SlotOwner& s : f->slot_owners) {
        if (s.owner_id != f->node_id) continue;
        claims.push_back({s.first, s.last, &f->node});
        for (int slot = std::max(s.first, 0); slot <= s.last && slot < 16384; ++slot) {
          std::uint8_t& n = claim_count[static_cast<std::size_t>(slot)];
          if (n < 255) ++n;
        }
      }
    }
    auto claimants_of = [&](int slot) {
      std::vector<std::string> c;
      if (claim_count[static_cast<std::size_t>(slot)] <= 1) return c;
      for (const Claim& claim : claims) {
        if (claim.first <= slot && slot <= claim.last) c.push_back(*claim.node);
      }
      return c;
    };
    int reported = 0;
    for (int slot = 0; slot < 16384 && reported < 3; ++slot) {
      if (claim_count[static_cast<std::size_t>(slot)] <= 1) continue;
      const std::vector<std::string> c = claimants_of(slot);
      int last = slot;
      while (last + 1 < 16384 && claimants_of(last + 1) == c) ++last;
      add("", fmt::format("slots {}-{} of cluster {} have {} primaries: {}", slot, last, cluster, c.size(),
                          fmt::join(c, ", ")),
          {{"slots", {slot, last}}, {"primaries", c}});
      ++reported;
      slot = last;
    }
    // Every assigned slot of the reference config is owned by a node the config calls a primary.
    for (const SlotOwner& s : ref.slot_owners) {
      const ConfigEntry* owner = entry_of(ref, s.owner_id);
      if (owner == nullptr || owner->role != "primary") {
        add(ref.node,
            fmt::format("in {}'s config slots {}-{} belong to {}, which is {}", ref.node, s.first, s.last,
                        s.owner_id, owner == nullptr ? "an unknown node" : "a replica"),
            {{"slots", {s.first, s.last}}, {"owner", s.owner_id}});
      }
    }
  }
  return out;
}

}  // namespace replsim::sim
