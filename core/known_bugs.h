// core/known_bugs.h — switches that bring back the bugs of the incidents in ../shared/seeds/README.md,
// each at the place it lived, so the harness can prove it finds them (DESIGN.md section 7).
//
// Every switch is off by default and changes nothing when off. A use site reads its switch from the
// store's config and says which incident it restores ("KNOWN BUG <name> (incident N)"), so grepping for a
// switch name finds the whole mechanism. The catalogue below is what `replsim bugs` prints and what
// `--bug NAME` accepts.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/env.h"

namespace replsim::core {

struct KnownBugs {
  // Incident 000: a record as large as the AOF page is accepted and written across the page end, so
  // the AOF reader later fails on it ("invalid record length") — on restart and on every replica.
  bool aof_record_exceeds_page = false;
  // Incident 000 follow-up: the primary trusts a replica's log as part of the old history up to the
  // replica's tail, with no offset2 cap, so a former primary keeps and replays its diverged suffix.
  bool failover_replays_diverged_aof = false;
  // Incident 001: a failed attach resets the node's role to primary but leaves recovering set.
  bool stuck_recovering = false;
  // Incident 002: an attach wipes the replica's data before the new data is in hand, and a failed
  // attach turns the replica into a primary on disk.
  bool failed_attach_resets_role = false;
  // Incident 003: in cluster mode a restarting node appends a record of its own before it has loaded
  // its role (so a replica writes as if it were a primary), and a partial resync is continued by
  // decree alone (kvrocks's sequence-number psync), so the replica skips the primary's record that
  // carries the decree its local record took.
  bool replica_restart_writes_locally = false;
  // Incident 004: a duplication's min_checkpoint_decree is neither persisted nor rebuilt, so after a
  // restart it is -1 and a duplication still in PREPARE aborts the node on its assertion.
  bool duplication_decree_reset = false;

  bool any() const;
  bool operator==(const KnownBugs&) const = default;
};

struct KnownBugInfo {
  std::string_view name;       // what --bug takes
  bool KnownBugs::*flag;
  std::string_view incident;   // "000" … "004"
  std::string_view upstream;   // the upstream issue and fix
  std::string_view check;      // the check expected to catch it
  std::string_view mechanism;  // one line: what the switch brings back
};

// In catalogue order.
const std::vector<KnownBugInfo>& known_bug_catalogue();
std::vector<std::string> known_bug_names();
// Switches `name` on. Err::invalid naming the known switches when there is no such switch.
Status enable_known_bug(KnownBugs& bugs, std::string_view name);
// The names of the switches that are on, in catalogue order.
std::vector<std::string> enabled_known_bugs(const KnownBugs& bugs);

}  // namespace replsim::core
