// core/known_bugs.cpp — the known-bug catalogue (see known_bugs.h).
#include "core/known_bugs.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace replsim::core {

// Every incident of ../shared/seeds has its switch here; a switch joins the catalogue only once its
// mechanism is wired in.
const std::vector<KnownBugInfo>& known_bug_catalogue() {
  static const std::vector<KnownBugInfo> catalogue = {
      {"aof-record-exceeds-page", &KnownBugs::aof_record_exceeds_page, "000", "garnet #1116",
       "aof-readable",
       "a record larger than the AOF page is written across the page end; readers fail on it later"},
      // Garnet saw duplicated list values; here the kept suffix shows as a replica whose data differs
      // from its primary's (the workload never sends a push twice, so there is no second copy of an
      // element to duplicate), which replicas-converge catches.
      {"failover-replays-diverged-aof", &KnownBugs::failover_replays_diverged_aof, "000", "garnet #1153",
       "replicas-converge",
       "no offset2 cap: a former primary continues from its own tail and keeps its diverged suffix"},
      {"stuck-recovering", &KnownBugs::stuck_recovering, "001", "garnet #226 (fix #227)", "no-stuck-recovering",
       "a failed attach resets the role to primary but leaves the recovering flag set"},
      {"failed-attach-resets-role", &KnownBugs::failed_attach_resets_role, "002", "garnet #1044 (fix #1305)",
       "single-primary-per-slot",
       "an attach wipes the data first; a failed attach persists the node as a primary"},
      {"replica-restart-writes-locally", &KnownBugs::replica_restart_writes_locally, "003",
       "kvrocks #2214 (fix #2221)", "replicas-converge",
       "a restarting replica appends a record before it knows its role; its resync continues by decree and "
       "skips the primary's record"},
      {"duplication-decree-reset", &KnownBugs::duplication_decree_reset, "004", "pegasus #2098 (fix #2097)",
       "no-abort",
       "min_checkpoint_decree is not rebuilt on restart: -1; a duplication in PREPARE aborts the node at every "
       "start (later states carry -1, which valid-checkpoint-decrees sees)"},
  };
  return catalogue;
}

bool KnownBugs::any() const {
  for (const KnownBugInfo& b : known_bug_catalogue()) {
    if (this->*b.flag) return true;
  }
  return false;
}

std::vector<std::string> known_bug_names() {
  std::vector<std::string> out;
  for (const KnownBugInfo& b : known_bug_catalogue()) out.emplace_back(b.name);
  return out;
}

Status enable_known_bug(KnownBugs& bugs, std::string_view name) {
  for (const KnownBugInfo& b : known_bug_catalogue()) {
    if (b.name == name) {
      bugs.*b.flag = true;
      return Status::ok();
    }
  }
  return Status(Err::invalid, fmt::format("unknown known-bug switch \"{}\" (known: {}; see `replsim bugs`)", name,
                                          fmt::join(known_bug_names(), ", ")));
}

std::vector<std::string> enabled_known_bugs(const KnownBugs& bugs) {
  std::vector<std::string> out;
  for (const KnownBugInfo& b : known_bug_catalogue()) {
    if (bugs.*b.flag) out.emplace_back(b.name);
  }
  return out;
}

}  // namespace replsim::core
