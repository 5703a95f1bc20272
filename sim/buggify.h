// sim/buggify.h — FoundationDB-style code-level fault injection for the store.
//
// A site (a string the store passes to Env::buggify) is activated or not the first time it is reached
// in a run, with activation_probability; an active site then fires with fire_probability each time it
// is reached. Decisions come from the run's own "buggify" stream, so they are part of the seed. The
// state is shared by every node of a world and survives node restarts (a site's activation is a
// property of the run, not of a process). Disabled, it never fires and never draws.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "sim/kernel/rng.h"

namespace replsim::sim {

struct BuggifyConfig {
  bool enabled = false;
  double activation_probability = 0.25;
  double fire_probability = 0.25;
};

class Buggify {
 public:
  Buggify(std::uint64_t seed, BuggifyConfig config) : config_(config), rng_(seed, "buggify") {}

  bool fire(std::string_view site) {
    if (!config_.enabled) return false;
    auto it = active_.find(site);
    if (it == active_.end()) {
      it = active_.emplace(std::string(site), rng_.chance(config_.activation_probability)).first;
    }
    if (!it->second) return false;
    ++reached_active_;
    return rng_.chance(config_.fire_probability);
  }

  // Sites seen so far and whether each is active (for the report).
  const std::map<std::string, bool, std::less<>>& sites() const { return active_; }
  std::uint64_t reached_active() const { return reached_active_; }

 private:
  BuggifyConfig config_;
  kernel::Rng rng_;
  std::map<std::string, bool, std::less<>> active_;
  std::uint64_t reached_active_ = 0;
};

}  // namespace replsim::sim
