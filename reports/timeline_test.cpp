// The timeline's data extraction: lanes in a stable order, each net.send paired with the net.deliver
// that received it (FIFO per direction), FINs and resets, spans for downtime, pauses, partitions,
// clogs and disk faults, bands for roles and the recovering flag — on hand-made traces, and on a real
// run whose every delivery must find its send.
#include "reports/timeline.h"

#include <doctest/doctest.h>

#include <string>

#include "reports/report.h"
#include "sim/run.h"
#include "sim/scenario.h"

using namespace replsim;
using reports::TimelineBuilder;

namespace {

// Feeds events with consecutive indices, as the trace sink does.
struct Feed {
  TimelineBuilder builder;
  std::uint64_t index = 0;
  explicit Feed(std::vector<reports::NodeLaneSpec> nodes) : builder(std::move(nodes)) {}
  void operator()(std::int64_t t_ns, const std::string& node, const std::string& kind, const std::string& detail) {
    builder.add(kernel::TraceEvent{index++, t_ns, node, kind, detail, 0});
  }
};

std::vector<reports::NodeLaneSpec> two_nodes() { return {{"c0n0", "c0"}, {"c0n1", "c0"}}; }

std::string kind_of(const reports::Timeline& t, std::uint32_t event) { return t.kinds[t.events[event].kind]; }

}  // namespace

TEST_CASE("lanes: world first, then the scenario's nodes in order, then workload clients, then admin") {
  Feed f({{"c0n1", "c0"}, {"c0n0", "c0"}, {"c1n0", "c1"}});
  f(1, "admin", "net.connect", "from_port=1 to=c0n0:7000");
  f(2, "client-10", "net.connect", "from_port=1 to=c0n0:7000");
  f(3, "client-2", "net.connect", "from_port=1 to=c0n0:7000");
  f(4, "", "net.heal", "blocked_links=0");
  const reports::Timeline t = f.builder.finish();
  std::vector<std::string> names;
  for (const auto& l : t.lanes) names.push_back(l.name);
  CHECK(names == std::vector<std::string>{"world", "c0n1", "c0n0", "c1n0", "client-2", "client-10", "admin"});
  CHECK(t.lanes[3].cluster == "c1");
  CHECK(t.lanes[3].group == reports::LaneGroup::node);
  CHECK(t.lanes[4].group == reports::LaneGroup::client);
  // Events point at the reordered lanes.
  CHECK(t.lanes[t.events[0].lane].name == "admin");
  CHECK(t.lanes[t.events[3].lane].name == "world");
  CHECK(t.end_ns == 4);
}

TEST_CASE("arrows: sends pair with deliveries in order per direction; FIN and reset") {
  Feed f(two_nodes());
  const std::string ab = "c0n0:40001->c0n1:7000";
  const std::string ba = "c0n1:7000->c0n0:40001";
  f(10, "c0n0", "net.send", "conn=5 " + ab + " bytes=11 due_ns=20");    // 0
  f(11, "c0n0", "net.send", "conn=5 " + ab + " bytes=22 due_ns=21");    // 1
  f(12, "c0n1", "net.send", "conn=5 " + ba + " bytes=33 due_ns=30");    // 2
  f(20, "c0n1", "net.deliver", "conn=5 " + ab + " bytes=11");           // 3
  f(21, "c0n1", "net.deliver", "conn=5 " + ab + " bytes=22");           // 4
  f(30, "c0n0", "net.deliver", "conn=5 " + ba + " bytes=33");           // 5
  f(31, "c0n0", "net.close", "conn=5 " + ab + " unread_discarded=0");   // 6: sends a FIN
  f(35, "c0n1", "net.eof", "conn=5 " + ab);                             // 7
  f(40, "c0n1", "net.send", "conn=6 c0n1:40002->c0n0:7000 bytes=7 due_ns=50");  // 8
  f(41, "c0n1", "net.send", "conn=6 c0n1:40002->c0n0:7000 bytes=8 due_ns=51");  // 9
  f(45, "c0n0", "net.reset", "conn=6 c0n1:40002->c0n0:7000 reason=node_down");  // 10: both lost
  f(46, "c0n1", "net.close", "conn=6 c0n1:40002->c0n0:7000 unread_discarded=0"); // 11: reset, no FIN
  f(47, "c0n0", "net.deliver", "conn=9 c0n1:1->c0n0:7000 bytes=1");   // 12: no send seen
  const reports::Timeline t = f.builder.finish();
  REQUIRE(t.arrows.size() == 6);
  const int n0 = t.lane_index("c0n0");
  const int n1 = t.lane_index("c0n1");
  auto check_arrow = [&](const reports::TimelineArrow& a, std::uint32_t send, std::uint32_t end, int from, int to,
                         std::uint64_t bytes, bool fin, bool lost) {
    CHECK(a.send_event == send);
    CHECK(a.end_event == end);
    CHECK(a.from_lane == static_cast<std::uint32_t>(from));
    CHECK(a.to_lane == static_cast<std::uint32_t>(to));
    CHECK(a.bytes == bytes);
    CHECK(a.fin == fin);
    CHECK(a.lost == lost);
  };
  // Sorted by the sending event.
  check_arrow(t.arrows[0], 0, 3, n0, n1, 11, false, false);
  check_arrow(t.arrows[1], 1, 4, n0, n1, 22, false, false);
  check_arrow(t.arrows[2], 2, 5, n1, n0, 33, false, false);
  check_arrow(t.arrows[3], 6, 7, n0, n1, 0, true, false);
  check_arrow(t.arrows[4], 8, 10, n1, n0, 7, false, true);
  check_arrow(t.arrows[5], 9, 10, n1, n0, 8, false, true);
  CHECK(kind_of(t, t.arrows[3].end_event) == "net.eof");
  CHECK(t.unmatched_deliveries == 1);
}

TEST_CASE("spans: downtime, pauses, partitions, clogs and disk faults") {
  Feed f({{"c0n0", "c0"}, {"c0n1", "c0"}, {"c0n2", "c0"}});
  f(100, "", "fault.crash", R"(source=swarm {"node":"c0n1","reason":"swarm"})");
  f(100, "c0n1", "node.crash", "reason=swarm");
  f(150, "c0n2", "node.pause", "");
  f(180, "c0n2", "node.resume", "held_wakeups=0");
  f(200, "c0n1", "node.restart", "incarnation=2");
  f(300, "", "net.partition", "mode=two_way a=c0n0 b=c0n1,c0n2");
  f(350, "", "net.heal_link", "link=c0n0<->c0n1");
  f(400, "", "net.heal", "blocked_links=2");
  f(500, "", "net.partition", "mode=isolate host=c0n2");
  f(600, "", "net.clog", "host=c0n0 extra_ns=5000000");
  f(650, "", "net.unclog", "host=c0n0");
  f(700, "", "fault.disk_fault", R"(source=script {"node":"c0n0","eio_probability":0.5})");
  f(800, "", "fault.disk_heal", R"(source=script {"node":"c0n0"})");
  f(900, "", "run.phase", "phase=liveness");
  const reports::Timeline t = f.builder.finish();
  const auto n0 = static_cast<std::uint32_t>(t.lane_index("c0n0"));
  const auto n1 = static_cast<std::uint32_t>(t.lane_index("c0n1"));
  const auto n2 = static_cast<std::uint32_t>(t.lane_index("c0n2"));
  auto find = [&](std::uint32_t lane, const std::string& kind, std::int64_t begin) -> const reports::TimelineSpan* {
    for (const auto& s : t.spans) {
      if (s.lane == lane && s.kind == kind && s.begin_ns == begin) return &s;
    }
    return nullptr;
  };
  const auto* down = find(n1, "down", 100);
  REQUIRE(down != nullptr);
  CHECK(down->end_ns == 200);
  CHECK(down->label == "down: swarm");
  CHECK(kind_of(t, static_cast<std::uint32_t>(down->end_event)) == "node.restart");
  const auto* pause = find(n2, "paused", 150);
  REQUIRE(pause != nullptr);
  CHECK(pause->end_ns == 180);
  // The two-way partition: c0n0 is cut off from both until the link heal leaves it c0n2 only.
  const auto* cut = find(n0, "partitioned", 300);
  REQUIRE(cut != nullptr);
  CHECK(cut->label == "cut off from c0n1, c0n2");
  CHECK(cut->end_ns == 350);
  const auto* narrower = find(n0, "partitioned", 350);
  REQUIRE(narrower != nullptr);
  CHECK(narrower->label == "cut off from c0n2");
  CHECK(narrower->end_ns == 400);
  const auto* n1_cut = find(n1, "partitioned", 300);
  REQUIRE(n1_cut != nullptr);
  CHECK(n1_cut->end_ns == 350);
  // Isolation is never healed here: the span runs to the end (end_ns -1).
  const auto* isolated = find(n2, "partitioned", 500);
  REQUIRE(isolated != nullptr);
  CHECK(isolated->end_ns == -1);
  const auto* clog = find(n0, "clogged", 600);
  REQUIRE(clog != nullptr);
  CHECK(clog->end_ns == 650);
  CHECK(clog->label == "clogged +5 ms");
  const auto* disk = find(n0, "disk-faults", 700);
  REQUIRE(disk != nullptr);
  CHECK(disk->end_ns == 800);
  CHECK(disk->label.find("eio_probability=0.5") != std::string::npos);
  // A fault decision is drawn on the node it names; one about no node stays on the world lane.
  CHECK(t.events[0].lane == n1);
  CHECK(t.events[0].node.empty());
  CHECK(t.lanes[t.events[5].lane].name == "world");
  REQUIRE(t.phases.size() == 1);
  CHECK(t.phases[0] == std::make_pair(std::string("liveness"), std::int64_t{900}));
}

TEST_CASE("bands: the role from cluster configs (primary ids named), the recovering flag") {
  Feed f(two_nodes());
  const std::string id0(40, 'a');
  const std::string id1(40, 'b');
  f(1, "c0n0", "cluster.config.fresh", "id=" + id0);
  f(1, "c0n1", "cluster.config.fresh", "id=" + id1);
  f(5, "c0n1", "cluster.config.change",
    "why=\"CLUSTER REPLICATE\" role=slave primary=" + id0 + " epoch=1 current_epoch=1 slots=0 nodes=2");
  f(6, "c0n1", "repl.sync.start", "primary=" + id0 + " address=c0n0:7000 reason=\"attach\" generation=1");
  f(7, "c0n1", "repl.attempt.begin", "attempt=1 recovering=1");
  f(9, "c0n1", "repl.sync.end", "attempt=1 ok=0 recovering_cleared=1 error=\"refused\"");
  f(10, "c0n1", "repl.attempt.begin", "attempt=2 recovering=1");
  f(12, "c0n1", "repl.sync.end", "attempt=2 ok=1 recovering_cleared=1 error=\"\"");
  f(20, "c0n1", "repl.attempt.begin", "attempt=3 recovering=1");
  f(21, "c0n1", "repl.sync.end", "attempt=3 ok=0 recovering_cleared=0 error=\"aborted\"");
  f(30, "c0n1", "node.crash", "reason=x");
  f(40, "c0n1", "cluster.config.loaded", "id=" + id1 + " role=slave epoch=1 slots=0 nodes=2 primary=" + id0);
  f(50, "c0n0", "cluster.config.change", "why=\"failover\" role=master primary=- epoch=2 current_epoch=2 slots=16384 nodes=2");
  const reports::Timeline t = f.builder.finish();
  const auto n0 = static_cast<std::uint32_t>(t.lane_index("c0n0"));
  const auto n1 = static_cast<std::uint32_t>(t.lane_index("c0n1"));
  std::vector<std::tuple<std::uint32_t, std::string, std::string, std::int64_t, std::int64_t>> got;
  for (const auto& b : t.bands) got.emplace_back(b.lane, b.track, b.value, b.begin_ns, b.end_ns);
  using Row = std::tuple<std::uint32_t, std::string, std::string, std::int64_t, std::int64_t>;
  const std::vector<Row> want = {
      Row{n0, "role", "primary", 1, -1},  // the change at 50 keeps it primary: one band
      Row{n1, "role", "primary", 1, 5},
      Row{n1, "role", "replica of c0n0", 5, 30},  // ends with the crash
      Row{n1, "recovering", "recovering", 6, 9},  // the attempt at 7 continues the sync's flag
      Row{n1, "recovering", "recovering", 10, 12},
      Row{n1, "recovering", "recovering", 20, 30},  // not cleared by attempt 3: until the crash
      Row{n1, "role", "replica of c0n0", 40, -1},
  };
  CHECK(got == want);
}

TEST_CASE("past the cap events are counted, not kept, and still close spans; their arrows are left out") {
  reports::TimelineBuilder builder(two_nodes(), 3);
  std::uint64_t i = 0;
  auto add = [&](std::int64_t t, const std::string& node, const std::string& kind, const std::string& detail) {
    builder.add(kernel::TraceEvent{i++, t, node, kind, detail, 0});
  };
  add(1, "c0n0", "net.send", "conn=1 c0n0:1->c0n1:7000 bytes=5 due_ns=2");  // kept
  add(2, "c0n1", "node.crash", "reason=x");                                // kept
  add(3, "c0n0", "net.send", "conn=1 c0n0:1->c0n1:7000 bytes=6 due_ns=4");  // kept
  add(4, "c0n1", "net.deliver", "conn=1 c0n0:1->c0n1:7000 bytes=5");        // past the cap
  add(5, "c0n1", "node.restart", "incarnation=2");                         // past the cap
  const reports::Timeline t = builder.finish();
  CHECK(t.events.size() == 3);
  CHECK(t.dropped_events == 2);
  CHECK(t.end_ns == 5);
  CHECK(t.arrows.empty());
  REQUIRE(t.spans.size() == 1);
  CHECK(t.spans[0].end_ns == 5);
  CHECK(t.spans[0].end_event == -1);
  CHECK(t.spans[0].begin_event == 1);
}

TEST_CASE("detail_field reads plain and quoted values") {
  const std::string d = R"(why="a b \"c\"" role=slave empty= n=3)";
  CHECK(reports::detail_field(d, "why") == R"(a b "c")");
  CHECK(reports::detail_field(d, "role") == "slave");
  CHECK(reports::detail_field(d, "empty").empty());
  CHECK(reports::detail_field(d, "n") == "3");
  CHECK(reports::detail_field(d, "missing").empty());
}

TEST_CASE("a real run: every delivery finds its send, crashes become spans, phases are marked") {
  auto loaded = sim::load_scenario_file(std::string(REPLSIM_SOURCE_ROOT) + "/scenarios/examples/primary-replica-crash.json");
  REQUIRE_MESSAGE(loaded.is_ok(), loaded.status().to_string());
  TimelineBuilder builder(reports::node_lanes(loaded.value()));
  std::uint64_t deliveries = 0;
  std::uint64_t eofs = 0;
  std::uint64_t crashes = 0;
  sim::RunOptions options;
  options.seed = 1;
  options.trace_sink = [&](const kernel::TraceEvent& ev) {
    builder.add(ev);
    deliveries += ev.kind == "net.deliver" ? 1 : 0;
    eofs += ev.kind == "net.eof" ? 1 : 0;
    crashes += ev.kind == "node.crash" ? 1 : 0;
  };
  const sim::RunResult result = sim::run_scenario(loaded.value(), options);
  const reports::Timeline t = builder.finish();
  CHECK(t.unmatched_deliveries == 0);
  std::uint64_t delivered = 0;
  for (const auto& a : t.arrows) {
    CHECK(t.events[a.send_event].time_ns <= t.events[a.end_event].time_ns);
    CHECK(a.send_event < a.end_event);
    if (!a.lost) ++delivered;
  }
  CHECK(delivered == deliveries + eofs);
  std::uint64_t down = 0;
  for (const auto& s : t.spans) down += s.kind == "down" ? 1 : 0;
  CHECK(crashes >= 1);
  CHECK(down == crashes);
  std::vector<std::string> phases;
  for (const auto& p : t.phases) phases.push_back(p.first);
  CHECK(phases == std::vector<std::string>{"setup", "safety", "liveness", "end"});
  // The scripted failover made c0n1 a primary at some point, and c0n0 a replica of it after.
  bool c0n1_primary = false;
  bool c0n0_replica = false;
  for (const auto& b : t.bands) {
    if (b.track != "role") continue;
    if (t.lanes[b.lane].name == "c0n1" && b.value == "primary" && b.begin_ns > 0) c0n1_primary = true;
    if (t.lanes[b.lane].name == "c0n0" && b.value == "replica of c0n1") c0n0_replica = true;
  }
  CHECK(c0n1_primary);
  CHECK(c0n0_replica);
  CHECK(result.verdict == sim::Verdict::pass);
}
