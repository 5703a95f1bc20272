// sim/checks/aof_readable.h — the aof-readable check: every AOF and checkpoint a node wrote reads back.
//
// It copies the node's files (their true current bytes) into a private in-memory directory and opens
// them with the store's own readers, so the check never changes the node's disk. A running node has
// recovered and written since: its AOF must read back to exactly the tail the store reports, with no
// torn tail, and every retained checkpoint must verify.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/store_config.h"
#include "sim/checks/check.h"
#include "sim/kernel/disk.h"

namespace replsim::sim {

// What read_back_files found: the AOF's record prints for replicas-converge (with prints_error, ""
// or why the AOF did not read back; prints then holds what did) and the aof-readable violations.
struct AofReadBack {
  std::vector<AofRecordPrint> prints;
  std::string prints_error;
  std::vector<Violation> violations;
};

// Reads a node's files back once for both uses: the prints when `prints`, the aof-readable check
// when `readable` (each part as read_aof_prints and check_aof_readable give it).
AofReadBack read_back_files(const std::string& node, const kernel::Disk& disk, const core::StoreConfig& config,
                            std::uint64_t store_tail_address, std::int64_t now_ns, bool prints, bool readable);

std::vector<Violation> check_aof_readable(const std::string& node, const kernel::Disk& disk,
                                          const core::StoreConfig& config, std::uint64_t store_tail_address,
                                          std::int64_t now_ns);

// Reads the node's AOF back the same way (a private copy, the store's reader) and lists its records
// for replicas-converge. Returns "" or why the AOF did not read back (records then holds what did).
std::string read_aof_prints(const kernel::Disk& disk, const core::StoreConfig& config,
                            std::vector<AofRecordPrint>& records);

}  // namespace replsim::sim
