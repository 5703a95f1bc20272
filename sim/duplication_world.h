// sim/duplication_world.h — the harness's side of cross-cluster duplication: after setup it adds the
// scenario's duplications to the primaries of each source cluster, it tells the liveness phase when
// every duplication has caught up, it feeds the online valid-checkpoint-decrees monitor, and it records
// each node's duplications and key hashes in its final state.
//
// It talks to nodes with admin commands (DUPLICATION ADD) and reads running stores directly; it never
// changes a store any other way. The k-th duplication of a scenario is named dup<k> on its source
// primaries (scenarios/README.md), so scripted admin steps can PAUSE, START or SET it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/keyspace.h"
#include "core/store.h"
#include "sim/checks/duplication.h"
#include "sim/world.h"

namespace replsim::sim {

// "dup0", "dup1", ...
std::string duplication_id(std::size_t index);
std::vector<DuplicationLink> duplication_links(const Scenario& scenario);

// Sends DUPLICATION ADD dup<k> <every target node's host:port> [PASSWORD p] CHECKPOINT|NOCHECKPOINT to
// every primary (that owns slots) of each duplication's source cluster, retrying until it answers OK or
// deadline_ns passes (then a scenario-expect violation). REQUIRES: called from a harness task.
void add_duplications(World& world, std::vector<Violation>& violations, std::int64_t deadline_ns);

// Whether every duplication has caught up: each running source primary ships it in LOG with every
// record of its AOF durable and shipped, and the target's primaries hold the source's keys exactly.
// A duplication that a script paused or removed counts as settled (nothing is promised).
bool duplications_settled(World& world);

// Samples every running node's duplications into the monitor.
void sample_duplications(World& world, DuplicationDecreeMonitor& monitor);

// Fills f.duplications, and f.value_hashes for nodes of clusters that take part in a duplication.
void fill_duplication_final(const Scenario& scenario, const core::Store& store, NodeFinal& f);

// The hash of each key's value (core::Keyspace's per-entry digest), progress keys left out.
std::map<std::string, std::uint64_t> duplicated_value_hashes(const core::Keyspace& keyspace);

}  // namespace replsim::sim
