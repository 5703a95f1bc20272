// aof-readable: a clean directory passes; damaged files and a tail the reader cannot reach fail.
#include "sim/checks/aof_readable.h"

#include <doctest/doctest.h>

using namespace replsim;

TEST_CASE("aof-readable: an empty directory with tail 0 is clean") {
  kernel::Disk disk("n0", kernel::DiskConfig{}, kernel::Rng(1, "disk"));
  core::StoreConfig config;
  CHECK(sim::check_aof_readable("n0", disk, config, 0, 0).empty());
}

TEST_CASE("aof-readable: a tail the reader cannot reach is a violation") {
  kernel::Disk disk("n0", kernel::DiskConfig{}, kernel::Rng(1, "disk"));
  core::StoreConfig config;
  auto v = sim::check_aof_readable("n0", disk, config, 4096, 7);
  REQUIRE(v.size() == 1);
  CHECK(v[0].check == "aof-readable");
  CHECK(v[0].node == "n0");
  CHECK(v[0].message.find("4096") != std::string::npos);
}

TEST_CASE("aof-readable: garbage in a segment file and in a checkpoint are violations") {
  kernel::Disk disk("n0", kernel::DiskConfig{}, kernel::Rng(1, "disk"));
  REQUIRE(disk.append("aof.0000000000000000", std::string(300, '\x5a')).is_ok());
  REQUIRE(disk.append("checkpoint.0000000000000003", "RSCKPT-not-really").is_ok());
  core::StoreConfig config;
  auto v = sim::check_aof_readable("n0", disk, config, 300, 7);
  REQUIRE_FALSE(v.empty());
  CHECK(v[0].check == "aof-readable");
  // The check reads a private copy: the node's disk is untouched.
  CHECK(disk.true_contents("aof.0000000000000000").value() == std::string(300, '\x5a'));
}

TEST_CASE("aof-readable: one read-back gives the prints and the violations, each as when read alone") {
  kernel::Disk disk("n0", kernel::DiskConfig{}, kernel::Rng(1, "disk"));
  REQUIRE(disk.append("aof.0000000000000000", std::string(300, '\x5a')).is_ok());
  REQUIRE(disk.append("checkpoint.0000000000000003", "RSCKPT-not-really").is_ok());
  core::StoreConfig config;
  const sim::AofReadBack both = sim::read_back_files("n0", disk, config, 300, 7, true, true);
  std::vector<sim::AofRecordPrint> prints;
  const std::string error = sim::read_aof_prints(disk, config, prints);
  const std::vector<sim::Violation> alone = sim::check_aof_readable("n0", disk, config, 300, 7);
  CHECK(both.prints == prints);
  CHECK(both.prints_error == error);
  CHECK_FALSE(both.violations.empty());
  REQUIRE(both.violations.size() == alone.size());
  for (std::size_t k = 0; k < alone.size(); ++k) CHECK(both.violations[k].message == alone[k].message);
  // Asking for neither part reads nothing back.
  const sim::AofReadBack none = sim::read_back_files("n0", disk, config, 300, 7, false, false);
  CHECK(none.prints.empty());
  CHECK(none.prints_error.empty());
  CHECK(none.violations.empty());
}
