// sim/adversarial_test.cpp — the store under hostile clients, in simulation: while honest clients
// write, others send oversized requests, endless bulk strings and inline lines, a flood of arguments,
// and binary junk, all at the same time. Each hostile client gets a protocol error and a closed
// connection, after a bounded number of bytes; every write an honest client saw acknowledged is there,
// once, before and after a crash and restart (fsync always); the store never aborts.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/resp.h"
#include "core/store.h"
#include "sim/kernel/rng.h"
#include "sim/testing/store_fixture.h"

namespace replsim::sim::testing {
namespace {

using core::RespValue;

// Checks and returns from a void task body: an exception must not leave a fiber.
#define TASK_REQUIRE(cond)                                \
  do {                                                    \
    const bool task_require_ok = static_cast<bool>(cond); \
    CHECK_MESSAGE(task_require_ok, #cond);                \
    if (!task_require_ok) return;                         \
  } while (false)

constexpr std::size_t kMaxBulkBytes = 4096;
constexpr std::size_t kMaxQueryBufferBytes = 64 * 1024;

core::StoreConfig hostile_limits_config() {
  core::StoreConfig c;
  c.port = 6379;
  c.aof_page_size_bytes = 8192;
  c.aof_segment_pages = 16;
  c.appendfsync = core::FsyncPolicy::always;
  c.resp_limits.max_bulk_bytes = kMaxBulkBytes;
  c.resp_limits.max_args = 64;
  c.resp_limits.max_inline_bytes = 1024;
  c.resp_limits.max_query_buffer_bytes = kMaxQueryBufferBytes;
  return c;
}

// What happened to one hostile client.
struct HostileOutcome {
  std::string name;
  bool done = false;
  std::string error;        // the protocol error it received ("" if none)
  bool closed = false;      // the server closed the connection after the error
  std::size_t sent_bytes = 0;
};

// Sends `head` once, then `chunk` every millisecond until the server answers or closes (at most
// max_chunks times), then reads the error and waits for the close.
void hostile_stream(FixtureClient& c, std::size_t node, const std::string& head, const std::string& chunk,
                    int max_chunks, HostileOutcome& out) {
  using namespace std::chrono_literals;
  TASK_REQUIRE(c.connect(node).is_ok());
  TASK_REQUIRE(c.send_raw(head).is_ok());
  out.sent_bytes += head.size();
  // A one-shot sender waits for the answer; a streaming one looks for it between its chunks.
  core::Result<RespValue> reply = c.read_reply(max_chunks == 0 ? 5s : 1ms);
  for (int i = 0; i < max_chunks && !reply && reply.code() == core::Err::timeout; ++i) {
    if (!c.send_raw(chunk).is_ok()) break;  // the server reset the connection under our bytes
    out.sent_bytes += chunk.size();
    reply = c.read_reply(1ms);
  }
  if (reply && reply->is_error()) {
    out.error = reply->text;
    out.closed = c.expect_closed();
  } else if (!reply && (reply.code() == core::Err::closed || reply.code() == core::Err::reset)) {
    out.closed = true;  // closed before the error reply reached us (bytes still in flight got a reset)
  }
  c.close();
  out.done = true;
}

TEST_CASE("hostile clients are disconnected; every acknowledged write of the others is kept") {
  using namespace std::chrono_literals;
  StoreFixture fx(FixtureConfig{.seed = 11});
  const std::size_t n = fx.add_node(hostile_limits_config());
  REQUIRE(fx.start(n).is_ok());

  constexpr int kWriters = 3;
  constexpr int kWritesPerWriter = 60;
  // Per writer: the list values and the last value of its own key that were acknowledged.
  std::vector<std::vector<std::string>> acked_pushes(kWriters);
  std::vector<std::string> acked_last(kWriters);
  int writers_done = 0;

  kernel::Rng rng(11, "junk");
  std::string junk = "*";
  for (int i = 0; i < 200; ++i) junk.push_back(static_cast<char>(rng.below(256)));
  std::string flood = "*64\r\n";
  for (int i = 0; i < 20; ++i) flood += fmt::format("${}\r\n{}\r\n", kMaxBulkBytes, std::string(kMaxBulkBytes, 'f'));

  // name, first bytes, then bytes repeated every millisecond
  struct Hostile {
    std::string name;
    std::string head;
    std::string chunk;
    int max_chunks;
    std::string expected_error;
  };
  const std::vector<Hostile> hostile = {
      {"oversized-bulk", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n", "", 0, "ERR Protocol error: invalid bulk length"},
      {"oversized-count", "*100000\r\n", "", 0, "ERR Protocol error: invalid multibulk length"},
      {"argument-flood", flood, "", 0, "ERR Protocol error: request of more than"},
      {"endless-bulk", fmt::format("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n", kMaxBulkBytes), std::string(512, 'e'), 1000,
       "ERR Protocol error: expected '\\r\\n' after bulk string data"},
      {"endless-inline", "SET k ", std::string(256, 'i'), 1000, "ERR Protocol error: too big inline request"},
      {"endless-arguments", "*64\r\n", fmt::format("${}\r\n{}\r\n", kMaxBulkBytes, std::string(kMaxBulkBytes, 'a')),
       1000, "ERR Protocol error: request of more than"},
      {"binary-junk", junk, "", 0, "ERR Protocol error"},
  };
  std::vector<HostileOutcome> outcomes(hostile.size());
  std::vector<std::unique_ptr<FixtureClient>> clients;

  const bool finished = fx.run_task([&] {
    kernel::Scheduler& sched = fx.sched();
    for (int w = 0; w < kWriters; ++w) {
      clients.push_back(std::make_unique<FixtureClient>(fx, fmt::format("writer{}", w)));
      FixtureClient* c = clients.back().get();
      sched.spawn(kernel::kNoNode, fmt::format("writer{}", w), [&, w, c] {
        for (int i = 0; i < kWritesPerWriter; ++i) {
          const std::string value = fmt::format("w{}-{}", w, i);
          auto pushed = c->call({"RPUSH", "list", value});
          if (pushed && !pushed->is_error()) acked_pushes[static_cast<std::size_t>(w)].push_back(value);
          auto set = c->call({"SET", fmt::format("key{}", w), value});
          if (set && set->type == RespValue::Type::simple) acked_last[static_cast<std::size_t>(w)] = value;
          sched.sleep_for(2ms);
        }
        ++writers_done;
      });
    }
    for (std::size_t h = 0; h < hostile.size(); ++h) {
      clients.push_back(std::make_unique<FixtureClient>(fx, hostile[h].name));
      FixtureClient* c = clients.back().get();
      outcomes[h].name = hostile[h].name;
      sched.spawn(kernel::kNoNode, hostile[h].name, [&, h, c] {
        sched.sleep_for(std::chrono::milliseconds(5 * (h + 1)));  // in the middle of the writes
        hostile_stream(*c, n, hostile[h].head, hostile[h].chunk, hostile[h].max_chunks, outcomes[h]);
      });
    }
    while (writers_done < kWriters) sched.sleep_for(10ms);
    for (const HostileOutcome& o : outcomes) {
      while (!o.done) sched.sleep_for(10ms);
    }
  });
  REQUIRE(finished);

  for (std::size_t h = 0; h < hostile.size(); ++h) {
    const HostileOutcome& o = outcomes[h];
    CAPTURE(o.name);
    CHECK(o.done);
    CHECK(o.closed);
    // The reply, when it arrived before the close, is the protocol error that explains it.
    if (!o.error.empty()) CHECK(o.error.starts_with(hostile[h].expected_error));
    // An endless sender is cut off within the limits, not after everything it had to send.
    if (hostile[h].max_chunks > 0) CHECK(o.sent_bytes <= kMaxQueryBufferBytes + 2 * kMaxBulkBytes + 1024);
  }
  for (int w = 0; w < kWriters; ++w) CHECK(acked_pushes[static_cast<std::size_t>(w)].size() == kWritesPerWriter);

  auto check_writes = [&](const char* when) {
    CAPTURE(when);
    FixtureClient reader(fx, std::string("reader-") + when);
    const bool read = fx.run_task([&] {
      auto list = reader.call({"LRANGE", "list", "0", "-1"});
      TASK_REQUIRE(list.is_ok());
      std::multiset<std::string> values;
      for (const RespValue& e : list->elements) values.insert(e.text);
      for (int w = 0; w < kWriters; ++w) {
        for (const std::string& v : acked_pushes[static_cast<std::size_t>(w)]) {
          CAPTURE(v);
          CHECK(values.count(v) == 1);
        }
        auto value = reader.call({"GET", fmt::format("key{}", w)});
        TASK_REQUIRE(value.is_ok());
        CHECK(value->text == acked_last[static_cast<std::size_t>(w)]);
      }
      CHECK(values.size() == static_cast<std::size_t>(kWriters * kWritesPerWriter));
      // No hostile bytes became data: the key the hostile SETs named was never written.
      auto k = reader.call({"EXISTS", "k"});
      TASK_REQUIRE(k.is_ok());
      CHECK(k->integer == 0);
    });
    CHECK(read);
  };
  check_writes("live");
  fx.crash(n, "after the hostile clients");
  REQUIRE(fx.restart(n).is_ok());
  check_writes("after restart");
  CHECK(fx.aborts(n).empty());
  CHECK(fx.exits(n).empty());
}

}  // namespace
}  // namespace replsim::sim::testing
