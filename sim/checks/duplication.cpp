// sim/checks/duplication.cpp — valid-checkpoint-decrees and replicas-converge for duplications
// (incident 004; see duplication.h).
#include "sim/checks/duplication.h"

#include <fmt/format.h>

namespace replsim::sim {

namespace {

bool past_init(const DuplicationFinal& d) {
  return d.state == "PREPARE" || d.state == "APP" || d.state == "LOG" || d.state == "PAUSE";
}

nlohmann::json dup_json(const DuplicationFinal& d) {
  return {{"id", d.id},
          {"stream", d.stream},
          {"state", d.state},
          {"orphaned", d.orphaned},
          {"min_checkpoint_decree", d.min_checkpoint_decree},
          {"confirmed_decree", d.confirmed_decree},
          {"shipped_decree", d.shipped_decree},
          {"last_error", d.last_error}};
}

const DuplicationFinal* find_dup(const NodeFinal& f, const std::string& id) {
  for (const DuplicationFinal& d : f.duplications) {
    if (d.id == id) return &d;
  }
  return nullptr;
}

}  // namespace

std::optional<Violation> check_duplication_decrees(const std::string& node, std::int64_t now_ns,
                                                   const DuplicationFinal& d, std::int64_t last_decree) {
  if (!past_init(d)) return std::nullopt;
  const bool too_high = !d.orphaned && d.min_checkpoint_decree > last_decree;
  if (d.min_checkpoint_decree >= 1 && !too_high) return std::nullopt;
  nlohmann::json evidence = dup_json(d);
  evidence["last_decree"] = last_decree;
  return Violation{"valid-checkpoint-decrees", now_ns, node,
                   fmt::format("duplication {} on {} is in {} with min_checkpoint_decree {}, outside [1, {}] (the "
                               "node's last decree){}",
                               d.id, node, d.state, d.min_checkpoint_decree, last_decree,
                               d.min_checkpoint_decree < 1 ? ": it was not persisted or rebuilt after a restart" : ""),
                   evidence};
}

void DuplicationDecreeMonitor::report(Violation v, const std::string& key) {
  if (!reported_.insert(key).second) return;
  violations_.push_back(std::move(v));
}

void DuplicationDecreeMonitor::sample(const std::string& node, std::int64_t now_ns, const DuplicationFinal& d,
                                      std::int64_t last_decree) {
  if (auto v = check_duplication_decrees(node, now_ns, d, last_decree)) {
    report(std::move(*v), node + "/" + d.id + "/range");
  }
  const std::string key = node + "/" + d.stream;
  auto [it, fresh] = confirmed_.emplace(key, d.confirmed_decree);
  if (fresh) return;
  if (d.confirmed_decree < it->second) {
    nlohmann::json evidence = dup_json(d);
    evidence["earlier_confirmed_decree"] = it->second;
    report({"valid-checkpoint-decrees", now_ns, node,
            fmt::format("duplication {} on {}: the confirmed decree went back from {} to {}", d.id, node, it->second,
                        d.confirmed_decree),
            evidence},
           key + "/back");
    return;
  }
  it->second = d.confirmed_decree;
}

std::vector<Violation> check_duplication_decrees_final(const RunFacts& facts, std::int64_t now_ns) {
  std::vector<Violation> out;
  for (const NodeFinal& f : facts.finals) {
    if (!f.up) continue;
    for (const DuplicationFinal& d : f.duplications) {
      if (auto v = check_duplication_decrees(f.node, now_ns, d, f.last_decree)) out.push_back(std::move(*v));
    }
  }
  return out;
}

std::vector<Violation> check_duplications_converge(const std::vector<DuplicationLink>& links, const RunFacts& facts,
                                                   std::int64_t now_ns) {
  std::vector<Violation> out;
  for (const DuplicationLink& link : links) {
    auto add = [&](const std::string& node, std::string message, nlohmann::json evidence) {
      out.push_back({"replicas-converge", now_ns, node, std::move(message), std::move(evidence)});
    };
    // The source's side: every running primary ships this duplication and has shipped everything.
    std::map<std::string, std::uint64_t> source;
    std::map<std::string, std::string> source_node;
    bool judged = true;
    bool any_primary = false;
    for (const NodeFinal& f : facts.finals) {
      if (f.cluster != link.source || !f.up || f.role != "primary") continue;
      any_primary = true;
      const DuplicationFinal* d = find_dup(f, link.id);
      if (d == nullptr) {
        add(f.node,
            fmt::format("primary {} of source cluster {} does not hold duplication {}", f.node, link.source, link.id),
            {{"duplication", link.id}});
        judged = false;
        continue;
      }
      if ((d->state == "PAUSE" && !d->orphaned) || d->state == "REMOVED") {
        judged = false;  // stopped on purpose: nothing is promised about the target
        continue;
      }
      if (d->state != "LOG" || d->shipped_decree != static_cast<std::uint64_t>(f.last_decree)) {
        nlohmann::json evidence = dup_json(*d);
        evidence["last_decree"] = f.last_decree;
        add(f.node,
            fmt::format(
                "duplication {} on {} did not catch up after the liveness phase: state {}{}, shipped decree {} of "
                "{}; last error: {}",
                link.id, f.node, d->state, d->orphaned ? " (orphaned by a failover)" : "", d->shipped_decree,
                f.last_decree, d->last_error.empty() ? "none" : d->last_error),
            evidence);
        judged = false;
        continue;
      }
      for (const auto& [key, hash] : f.value_hashes) {
        source[key] = hash;
        source_node[key] = f.node;
      }
    }
    if (!any_primary) {
      add("",
          fmt::format("source cluster {} of duplication {} has no running primary after the liveness phase",
                      link.source, link.id),
          {{"duplication", link.id}});
      continue;
    }
    if (!judged) continue;
    std::map<std::string, std::uint64_t> target;
    std::map<std::string, std::string> target_node;
    for (const NodeFinal& f : facts.finals) {
      if (f.cluster != link.target || !f.up || f.role != "primary") continue;
      for (const auto& [key, hash] : f.value_hashes) {
        target[key] = hash;
        target_node[key] = f.node;
      }
    }
    if (source == target) continue;
    // The first key (in byte order) where they differ.
    auto s = source.begin();
    auto t = target.begin();
    while (s != source.end() && t != target.end() && *s == *t) {
      ++s;
      ++t;
    }
    std::string key;
    if (s == source.end()) {
      key = t->first;
    } else if (t == target.end()) {
      key = s->first;
    } else {
      key = std::min(s->first, t->first);
    }
    const auto in_source = source.find(key);
    const auto in_target = target.find(key);
    const std::string seen_source = in_source == source.end()
                                        ? std::string("absent")
                                        : fmt::format("{:016x} on {}", in_source->second, source_node[key]);
    const std::string seen_target = in_target == target.end()
                                        ? std::string("absent")
                                        : fmt::format("{:016x} on {}", in_target->second, target_node[key]);
    add(in_target == target.end() ? std::string() : target_node[key],
        fmt::format(
            "target cluster {} of duplication {} does not hold its source's data: key \"{}\" is {} in the source "
            "and {} in the target ({} keys in the source, {} in the target)",
            link.target, link.id, key.substr(0, 64), seen_source, seen_target, source.size(), target.size()),
        {{"duplication", link.id},
         {"key", key},
         {"source", seen_source},
         {"target", seen_target},
         {"source_keys", source.size()},
         {"target_keys", target.size()}});
  }
  return out;
}

}  // namespace replsim::sim
