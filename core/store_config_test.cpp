// core/store_config_test.cpp — StoreConfig validation, glob matching and CONFIG GET/SET semantics.
#include "core/store_config.h"

#include <doctest/doctest.h>

namespace replsim::core {
namespace {

TEST_CASE("default StoreConfig is valid and maps onto the AOF config") {
  StoreConfig c;
  CHECK(c.validate().is_ok());
  c.aof_page_size_bytes = 256;
  c.aof_segment_pages = 3;
  c.appendfsync = FsyncPolicy::always;
  const AofConfig a = c.aof_config();
  CHECK(a.aof_page_size_bytes == 256);
  CHECK(a.aof_segment_pages == 3);
  CHECK(a.aof_fsync == FsyncPolicy::always);
}

TEST_CASE("validate names the bad field, its value and the allowed range") {
  StoreConfig c;
  c.aof_page_size_bytes = 63;
  Status st = c.validate();
  REQUIRE_FALSE(st.is_ok());
  CHECK(st.code() == Err::invalid);
  CHECK(st.message().find("aof_page_size_bytes=63") != std::string::npos);
  CHECK(st.message().find("[64,") != std::string::npos);

  c = StoreConfig{};
  c.port = 0;
  CHECK(c.validate().message().find("port=0") != std::string::npos);
  c = StoreConfig{};
  c.checkpoints_retained = 0;
  CHECK(c.validate().message().find("checkpoints_retained=0") != std::string::npos);
  c = StoreConfig{};
  c.checkpoint_interval_ms = -1;
  CHECK(c.validate().message().find("checkpoint_interval_ms=-1") != std::string::npos);
  c = StoreConfig{};
  c.max_clients = 0;
  CHECK_FALSE(c.validate().is_ok());
  c = StoreConfig{};
  c.aof_segment_pages = 0;
  CHECK_FALSE(c.validate().is_ok());
}

TEST_CASE("parse_fsync_policy") {
  CHECK(*parse_fsync_policy("always") == FsyncPolicy::always);
  CHECK(*parse_fsync_policy("EverySec") == FsyncPolicy::everysec);
  CHECK(*parse_fsync_policy("no") == FsyncPolicy::no);
  CHECK_FALSE(parse_fsync_policy("sometimes").is_ok());
  CHECK_FALSE(parse_fsync_policy("").is_ok());
}

TEST_CASE("glob_match follows Redis's stringmatch rules") {
  CHECK(glob_match("*", "", false));
  CHECK(glob_match("*", "anything", false));
  CHECK(glob_match("a*", "appendfsync", false));
  CHECK_FALSE(glob_match("b*", "appendfsync", false));
  CHECK(glob_match("*fsync", "appendfsync", false));
  CHECK(glob_match("a?pend*", "appendfsync", false));
  CHECK_FALSE(glob_match("a?pend", "appendfsync", false));
  CHECK(glob_match("*pass*", "requirepass", false));
  CHECK(glob_match("h[ae]llo", "hello", false));
  CHECK(glob_match("h[ae]llo", "hallo", false));
  CHECK_FALSE(glob_match("h[ae]llo", "hillo", false));
  CHECK(glob_match("h[^e]llo", "hallo", false));
  CHECK_FALSE(glob_match("h[^e]llo", "hello", false));
  CHECK(glob_match("h[a-c]llo", "hbllo", false));
  CHECK(glob_match("h[c-a]llo", "hbllo", false));  // reversed range, as Redis accepts
  CHECK_FALSE(glob_match("h[a-c]llo", "hdllo", false));
  CHECK(glob_match("h\\*llo", "h*llo", false));
  CHECK_FALSE(glob_match("h\\*llo", "hello", false));
  CHECK(glob_match("APPEND*", "appendfsync", true));
  CHECK_FALSE(glob_match("APPEND*", "appendfsync", false));
  CHECK(glob_match("**a**b**", "xxaxxbxx", false));
  CHECK_FALSE(glob_match("*a*b", "xxaxxbxc", false));
  // A pathological pattern stays fast (no exponential backtracking).
  CHECK_FALSE(glob_match("*a*a*a*a*a*a*a*a*a*a*a*b", std::string(5000, 'a'), false));
}

TEST_CASE("config_get returns name/value pairs sorted by name") {
  StoreConfig c;
  c.requirepass = "pw";
  auto all = config_get(c, "*");
  REQUIRE(all.size() == config_parameters(c).size());
  for (std::size_t i = 1; i < all.size(); ++i) CHECK(all[i - 1].first < all[i].first);
  auto fsync = config_get(c, "appendfsync");
  REQUIRE(fsync.size() == 1);
  CHECK(fsync[0].second == "everysec");
  auto pass = config_get(c, "*PASS*");
  REQUIRE(pass.size() == 1);
  CHECK(pass[0] == std::pair<std::string, std::string>{"requirepass", "pw"});
  CHECK(config_get(c, "nothing-matches-this").empty());
}

TEST_CASE("config_set changes mutable parameters and refuses the rest with Redis's errors") {
  StoreConfig c;
  REQUIRE(config_set(c, "APPENDFSYNC", "always").is_ok());
  CHECK(c.appendfsync == FsyncPolicy::always);
  REQUIRE(config_set(c, "checkpoint-interval-ms", "2500").is_ok());
  CHECK(c.checkpoint_interval_ms == 2500);
  REQUIRE(config_set(c, "checkpoint-interval-writes", "100").is_ok());
  CHECK(c.checkpoint_interval_writes == 100);
  REQUIRE(config_set(c, "checkpoints-retained", "3").is_ok());
  CHECK(c.checkpoints_retained == 3);
  REQUIRE(config_set(c, "requirepass", "s3cret").is_ok());
  CHECK(c.requirepass == "s3cret");
  REQUIRE(config_set(c, "proto-max-bulk-len", "1024").is_ok());
  CHECK(c.resp_limits.max_bulk_bytes == 1024);
  REQUIRE(config_set(c, "maxclients", "7").is_ok());
  CHECK(c.max_clients == 7);

  const auto before = config_parameters(c);
  Status st = config_set(c, "no-such-option", "1");
  CHECK(st.message() == "ERR Unknown option or number of arguments for CONFIG SET - 'no-such-option'");
  st = config_set(c, "appendfsync", "sometimes");
  CHECK(st.message() ==
        "ERR CONFIG SET failed (possibly related to argument 'appendfsync') - argument(s) must be one "
        "of the following: always, everysec, no");
  st = config_set(c, "port", "7000");
  CHECK(st.message() ==
        "ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config");
  st = config_set(c, "aof-page-size-bytes", "8192");
  CHECK(st.message().find("can't set immutable config") != std::string::npos);
  st = config_set(c, "checkpoints-retained", "0");
  CHECK(st.message() ==
        "ERR CONFIG SET failed (possibly related to argument 'checkpoints-retained') - argument must "
        "be between 1 and 1000 inclusive");
  st = config_set(c, "checkpoint-interval-ms", "soon");
  CHECK(st.message() ==
        "ERR CONFIG SET failed (possibly related to argument 'checkpoint-interval-ms') - argument "
        "couldn't be parsed into an integer");
  st = config_set(c, "checkpoint-interval-ms", "-5");
  CHECK(st.message().find("argument must be between 0 and") != std::string::npos);
  CHECK(config_parameters(c) == before);  // nothing changed by the failures
}

}  // namespace
}  // namespace replsim::core
