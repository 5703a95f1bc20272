// sim/checks/replicas_converge.cpp — the replicas-converge check (incidents 000 and 003).
//
// After the liveness phase every replica must hold exactly what its primary holds: the same keyspace
// (DEBUG DIGEST), the same AOF tail and last decree, and — where both AOFs still hold records — the
// same records at the same addresses (a replica's AOF is an address-for-address copy). It reads only
// the NodeFinal records; the run fills them after liveness.
#include <algorithm>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "sim/checks/check.h"

namespace replsim::sim {

namespace {

const NodeFinal* find_final(const RunFacts& facts, const std::string& node) {
  for (const NodeFinal& f : facts.finals) {
    if (f.node == node) return &f;
  }
  return nullptr;
}

// The first record in [from, to) where the two AOFs differ (a record one side lacks, another
// decree or payload), or nullopt when they agree there.
std::optional<nlohmann::json> first_aof_difference(const NodeFinal& replica, const NodeFinal& primary,
                                                   std::uint64_t from, std::uint64_t to) {
  std::map<std::uint64_t, const AofRecordPrint*> theirs;
  for (const AofRecordPrint& r : primary.aof_records) {
    if (r.address >= from && r.end_address <= to) theirs.emplace(r.address, &r);
  }
  for (const AofRecordPrint& r : replica.aof_records) {
    if (r.address < from || r.end_address > to) continue;
    auto it = theirs.find(r.address);
    if (it == theirs.end()) {
      return nlohmann::json{{"address", r.address}, {"replica_decree", r.decree}, {"primary_has", "no record here"}};
    }
    if (!(*it->second == r)) {
      return nlohmann::json{{"address", r.address},         {"replica_decree", r.decree},
                            {"primary_decree", it->second->decree}, {"replica_end", r.end_address},
                            {"primary_end", it->second->end_address}};
    }
    theirs.erase(it);
  }
  if (!theirs.empty()) {
    const AofRecordPrint& r = *theirs.begin()->second;
    return nlohmann::json{{"address", r.address}, {"primary_decree", r.decree}, {"replica_has", "no record here"}};
  }
  return std::nullopt;
}

}  // namespace

std::vector<Violation> check_replicas_converge(const RunFacts& facts, std::int64_t now_ns) {
  std::vector<Violation> out;
  for (const NodeFinal& r : facts.finals) {
    if (!r.up || r.role != "replica") continue;
    auto add = [&](std::string message, nlohmann::json evidence) {
      out.push_back({"replicas-converge", now_ns, r.node, std::move(message), std::move(evidence)});
    };
    const NodeFinal* p = r.primary.empty() ? nullptr : find_final(facts, r.primary);
    if (p == nullptr || !p->up) {
      add(fmt::format("replica {} has no running primary to converge to after the liveness phase (its primary: "
                      "\"{}\")",
                      r.node, r.primary),
          {{"primary", r.primary}, {"primary_up", p != nullptr && p->up}});
      continue;
    }
    nlohmann::json sides = {
        {"replica", {{"digest", fmt::format("{:016x}", r.digest)}, {"aof_begin", r.aof_begin},
                     {"aof_tail", r.aof_tail}, {"last_decree", r.last_decree}, {"link_up", r.link_up},
                     {"sync_state", r.sync_state}, {"last_sync_error", r.last_sync_error}}},
        {"primary", {{"node", p->node}, {"digest", fmt::format("{:016x}", p->digest)}, {"aof_begin", p->aof_begin},
                     {"aof_tail", p->aof_tail}, {"last_decree", p->last_decree}}}};
    if (r.aof_tail != p->aof_tail || r.last_decree != p->last_decree) {
      add(fmt::format("replica {} ends its AOF at address {} (decree {}) but its primary {} at {} (decree {})",
                      r.node, r.aof_tail, r.last_decree, p->node, p->aof_tail, p->last_decree),
          sides);
      continue;
    }
    if (r.digest != p->digest) {
      add(fmt::format("replica {} has digest {:016x} but its primary {} has {:016x}, with equal AOF tails ({})",
                      r.node, r.digest, p->node, p->digest, r.aof_tail),
          sides);
      continue;
    }
    if (!r.aof_read_error.empty() || !p->aof_read_error.empty()) continue;  // aof-readable reports it
    if (r.aof_records.empty() || p->aof_records.empty()) continue;
    // The files may begin above the store's begin address: a checkpoint can be removing segments
    // below it when the run ends. Compare what both sides' files hold.
    const std::uint64_t from = std::max({r.aof_begin, p->aof_begin, r.aof_records.front().address,
                                         p->aof_records.front().address});
    const std::uint64_t to = std::min(r.aof_tail, p->aof_tail);
    if (from >= to) continue;
    if (auto diff = first_aof_difference(r, *p, from, to)) {
      // The records of both sides around the difference, for the reader of the report.
      const std::uint64_t at = (*diff)["address"].get<std::uint64_t>();
      auto around = [at](const NodeFinal& f) {
        nlohmann::json list = nlohmann::json::array();
        for (const AofRecordPrint& rec : f.aof_records) {
          if (rec.end_address + 2048 < at || rec.address > at + 2048) continue;
          list.push_back({rec.address, rec.end_address, rec.decree});
        }
        return list;
      };
      (*diff)["replica_records_near"] = around(r);
      (*diff)["primary_records_near"] = around(*p);
      sides["first_difference"] = *diff;
      sides["replica"]["aof_records"] = r.aof_records.size();
      sides["primary"]["aof_records"] = p->aof_records.size();
      sides["compared_range"] = {from, to};
      add(fmt::format("replica {}'s AOF differs from its primary {}'s at address {} (compared [{}, {}))", r.node,
                      p->node, (*diff)["address"].get<std::uint64_t>(), from, to),
          sides);
    }
  }
  return out;
}

}  // namespace replsim::sim
