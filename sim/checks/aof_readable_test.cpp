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
