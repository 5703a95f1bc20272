// core/checkpoint_test.cpp — tests of checkpoint files on the fake env: round trips, retention,
// fallback past damaged files with the reasons, error messages, and crashes at every disk operation.
#include "core/checkpoint.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <limits>
#include <string>
#include <vector>

#include "core/testing/fake_env.h"

using replsim::core::checkpoint_file_name;
using replsim::core::CheckpointConfig;
using replsim::core::CheckpointMeta;
using replsim::core::Err;
using replsim::core::list_checkpoints;
using replsim::core::load_newest_valid;
using replsim::core::oldest_retained_address;
using replsim::core::read_checkpoint;
using replsim::core::write_checkpoint;
using replsim::core::testing::CrashNow;
using replsim::core::testing::CrashSpec;
using replsim::core::testing::FakeEnv;

namespace {

CheckpointMeta meta(std::uint64_t decree, std::uint64_t aof_address, std::string id = "8f3a0c") {
  return CheckpointMeta{std::move(id), decree, aof_address};
}

std::string payload_for(std::uint64_t decree) {
  return fmt::format("keyspace at {}", decree) + std::string(decree % 50, static_cast<char>(decree));
}

void write_ok(FakeEnv& env, const CheckpointMeta& m, const CheckpointConfig& config = {}) {
  auto name = write_checkpoint(env, m, payload_for(m.decree), config);
  INFO(name.status().to_string());
  REQUIRE(name.is_ok());
  CHECK(*name == checkpoint_file_name(m.decree));
}

std::vector<std::string> checkpoint_names(const FakeEnv& env) {
  std::vector<std::string> out;
  for (const std::string& n : env.names()) {
    if (n.starts_with("checkpoint.")) out.push_back(n);
  }
  return out;
}

}  // namespace

TEST_CASE("round trip") {
  FakeEnv env;
  CHECK(load_newest_valid(env).code() == Err::not_found);
  CHECK_FALSE(oldest_retained_address(env)->has_value());
  const CheckpointMeta m = meta(42, 18968, std::string(40, 'a'));
  const std::string payload = std::string("\0binary\r\n", 9) + std::string(5000, 'x');
  auto name = write_checkpoint(env, m, payload);
  REQUIRE(name.is_ok());
  CHECK(*name == "checkpoint.000000000000002a");
  CHECK_FALSE(env.exists(*name + ".tmp"));
  CHECK(env.unsynced_writes(*name) == 0);
  auto loaded = load_newest_valid(env);
  REQUIRE(loaded.is_ok());
  CHECK(loaded->info.meta == m);
  CHECK(loaded->info.generation == 1);
  CHECK(loaded->info.file_name == *name);
  CHECK(loaded->info.payload_bytes == payload.size());
  CHECK(loaded->payload == payload);
  CHECK(loaded->skipped.empty());
  CHECK(read_checkpoint(env, *name)->payload == payload);
  CHECK(**oldest_retained_address(env) == 18968);
  // Durable when it returned.
  env.crash();
  CHECK(load_newest_valid(env)->payload == payload);
  // An empty payload and an empty replication id are fine too.
  REQUIRE(write_checkpoint(env, meta(43, 19000, ""), "").is_ok());
  auto empty = load_newest_valid(env);
  REQUIRE(empty.is_ok());
  CHECK(empty->payload.empty());
  CHECK(empty->info.meta.replication_id.empty());
  CHECK(empty->info.generation == 2);
}

TEST_CASE("retention keeps the newest K and reports the oldest retained AOF address") {
  FakeEnv env;
  const CheckpointConfig keep3{3};
  for (std::uint64_t d = 1; d <= 6; ++d) write_ok(env, meta(d * 10, d * 1000), keep3);
  CHECK(checkpoint_names(env) == std::vector<std::string>{checkpoint_file_name(40), checkpoint_file_name(50),
                                                          checkpoint_file_name(60)});
  CHECK(**oldest_retained_address(env) == 4000);
  auto list = list_checkpoints(env);
  REQUIRE(list.is_ok());
  REQUIRE(list->size() == 3);
  CHECK((*list)[0].meta.decree == 60);
  CHECK((*list)[2].meta.decree == 40);
  write_ok(env, meta(70, 7000), CheckpointConfig{1});
  CHECK(checkpoint_names(env) == std::vector<std::string>{checkpoint_file_name(70)});
  CHECK(write_checkpoint(env, meta(80, 8000), "x", CheckpointConfig{0}).code() == Err::invalid);
  CHECK(write_checkpoint(env, meta(80, 8000, std::string(2000, 'r')), "x").code() == Err::invalid);
}

TEST_CASE("newest means last written, not greatest decree") {
  FakeEnv env;
  write_ok(env, meta(100, 9000, "old-history"));
  write_ok(env, meta(50, 4000, "new-history"));  // a full sync from a new primary with fewer writes
  auto loaded = load_newest_valid(env);
  REQUIRE(loaded.is_ok());
  CHECK(loaded->info.meta.replication_id == "new-history");
  CHECK(loaded->info.generation == 2);
  write_ok(env, meta(51, 4100, "new-history"), CheckpointConfig{2});
  CHECK(checkpoint_names(env) == std::vector<std::string>{checkpoint_file_name(50), checkpoint_file_name(51)});
  // Rewriting the same decree replaces the file.
  write_ok(env, meta(51, 4100, "new-history"));
  CHECK(load_newest_valid(env)->info.generation == 4);
  CHECK(checkpoint_names(env).size() == 2);
}

TEST_CASE("a damaged newest checkpoint falls back to an older one and says why") {
  FakeEnv base;
  write_ok(base, meta(10, 100));
  write_ok(base, meta(20, 200));
  const std::string newest = checkpoint_file_name(20);
  const std::string older = checkpoint_file_name(10);
  const std::string newest_bytes = base.bytes(newest);
  const std::string older_bytes = base.bytes(older);
  // A flip at every byte of the newest file: never loaded, always reported, the older one loads.
  for (std::size_t offset = 0; offset < newest_bytes.size(); ++offset) {
    CAPTURE(offset);
    FakeEnv env;
    env.put_file(older, older_bytes);
    env.put_file(newest, newest_bytes);
    env.flip_bit(newest, offset, static_cast<int>(offset % 8));
    auto loaded = load_newest_valid(env);
    REQUIRE(loaded.is_ok());
    CHECK(loaded->info.meta.decree == 10);
    CHECK(loaded->payload == payload_for(10));
    REQUIRE(loaded->skipped.size() == 1);
    CHECK(loaded->skipped[0].starts_with(newest + ": checkpoint " + newest + " is damaged: "));
  }
  // The payload's checksum names its offset.
  FakeEnv env;
  env.put_file(older, older_bytes);
  env.put_file(newest, newest_bytes);
  env.flip_bit(newest, newest_bytes.size() - 10);
  auto loaded = load_newest_valid(env);
  REQUIRE(loaded.is_ok());
  CHECK(loaded->skipped[0].find(fmt::format("checksum mismatch at byte offset {}", newest_bytes.size() - 4)) !=
        std::string::npos);
  // Both damaged: a refusal listing both, with the remedy.
  env.flip_bit(older, 30);
  auto none = load_newest_valid(env);
  REQUIRE_FALSE(none.is_ok());
  CHECK(none.code() == Err::io_error);
  CHECK(none.status().message().find(newest) != std::string::npos);
  CHECK(none.status().message().find(older) != std::string::npos);
  CHECK(none.status().message().find("CLUSTER REPLICATE") != std::string::npos);
  // The next write removes the damaged files.
  write_ok(env, meta(30, 300));
  CHECK(checkpoint_names(env) == std::vector<std::string>{checkpoint_file_name(30)});
}

TEST_CASE("a read-time bit flip is read again, not skipped") {
  FakeEnv env;
  write_ok(env, meta(10, 100));
  write_ok(env, meta(20, 200));
  env.flip_bit_on_next_read(checkpoint_file_name(20), 60);
  auto loaded = load_newest_valid(env);
  REQUIRE(loaded.is_ok());
  CHECK(loaded->info.meta.decree == 20);
  CHECK(loaded->skipped.empty());
}

TEST_CASE("messages for wrong magic, version, length and name") {
  FakeEnv base;
  write_ok(base, meta(7, 70));
  const std::string name = checkpoint_file_name(7);
  const std::string good = base.bytes(name);
  auto message_for = [&](std::string bytes, const std::string& as = checkpoint_file_name(7)) {
    FakeEnv env;
    env.put_file(as, std::move(bytes));
    auto r = read_checkpoint(env, as);
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.code() == Err::io_error);
    CHECK(r.status().message().starts_with("checkpoint " + as + " is damaged: "));
    CHECK(r.status().message().ends_with("remove the file, or restore the node from a replica (CLUSTER REPLICATE)"));
    return r.status().message();
  };
  std::string bad_magic = good;
  bad_magic.replace(0, 8, "REDIS001");
  CHECK(message_for(bad_magic).find("bad magic at byte offset 0: expected \"RSCHKPNT\", found \"REDIS001\"") !=
        std::string::npos);
  std::string bad_version = good;
  bad_version[8] = 9;
  CHECK(message_for(bad_version).find("unsupported format version 9 at byte offset 8 (this build reads version 1)") !=
        std::string::npos);
  CHECK(message_for(good.substr(0, good.size() - 1))
            .find(fmt::format("so the file should hold {} bytes, but it holds {}", good.size(), good.size() - 1)) !=
        std::string::npos);
  CHECK(message_for(good + "extra").find("it was cut short or extended") != std::string::npos);
  CHECK(message_for(good.substr(0, 20)).find("fewer than the 48-byte fixed header") != std::string::npos);
  CHECK(message_for(good, checkpoint_file_name(8)).find("decree 7 at byte offset 24 does not match the file name") !=
        std::string::npos);
}

TEST_CASE("stale .tmp files are ignored and then removed") {
  FakeEnv env;
  env.put_file(checkpoint_file_name(5) + ".tmp", "half a checkpoint");
  env.put_file(checkpoint_file_name(9) + ".tmp", std::string(100, 'z'));
  CHECK(load_newest_valid(env).code() == Err::not_found);
  write_ok(env, meta(9, 90));
  auto loaded = load_newest_valid(env);
  REQUIRE(loaded.is_ok());
  CHECK(loaded->info.meta.decree == 9);
  CHECK(checkpoint_names(env) == std::vector<std::string>{checkpoint_file_name(9)});
  env.put_file(checkpoint_file_name(11) + ".tmp", "junk");
  CHECK(load_newest_valid(env)->info.meta.decree == 9);
  CHECK(list_checkpoints(env)->size() == 1);
}

TEST_CASE("a crash at every disk operation of a write leaves the old or the new checkpoint") {
  auto run = [](FakeEnv& env, std::optional<std::uint64_t> crash_at) {
    write_ok(env, meta(10, 100));
    write_ok(env, meta(20, 200));
    if (crash_at) env.crash_at_op(env.disk_ops() + *crash_at);
    try {
      auto name = write_checkpoint(env, meta(30, 300), payload_for(30), CheckpointConfig{2});
      REQUIRE(name.is_ok());
      return true;
    } catch (const CrashNow&) {
      return false;
    }
  };
  FakeEnv probe;
  REQUIRE(run(probe, std::nullopt));
  const std::uint64_t ops = probe.disk_ops();
  std::vector<CrashSpec> specs(4);
  specs[1].default_kept_writes = std::numeric_limits<std::size_t>::max();
  specs[2].torn_bytes = 17;
  specs[3].keep_unsynced_directory = true;
  specs[3].torn_bytes = 40;
  for (std::uint64_t op = 0; op < ops; ++op) {
    for (std::size_t k = 0; k < specs.size(); ++k) {
      CAPTURE(op);
      CAPTURE(k);
      FakeEnv env;
      const bool completed = run(env, op);
      env.crash(specs[k]);
      auto loaded = load_newest_valid(env);
      INFO(loaded.status().to_string());
      REQUIRE(loaded.is_ok());
      CHECK((loaded->info.meta.decree == 20 || loaded->info.meta.decree == 30));
      CHECK(loaded->payload == payload_for(loaded->info.meta.decree));
      if (completed) CHECK(loaded->info.meta.decree == 30);
      // The next write works and cleans up whatever the crash left.
      write_ok(env, meta(40, 400), CheckpointConfig{2});
      CHECK(checkpoint_names(env).size() == 2);
      CHECK(load_newest_valid(env)->info.meta.decree == 40);
    }
  }
}

TEST_CASE("write errors leave the existing checkpoints") {
  FakeEnv env;
  write_ok(env, meta(10, 100));
  env.fail_next_write(Err::no_space);
  auto failed = write_checkpoint(env, meta(20, 200), "payload");
  REQUIRE_FALSE(failed.is_ok());
  CHECK(failed.code() == Err::no_space);
  CHECK(failed.status().message().find(checkpoint_file_name(20)) != std::string::npos);
  env.fail_next_sync(Err::io_error);
  CHECK(write_checkpoint(env, meta(20, 200), "payload").code() == Err::io_error);
  CHECK(checkpoint_names(env) == std::vector<std::string>{checkpoint_file_name(10)});
  CHECK(load_newest_valid(env)->info.meta.decree == 10);
}
