// reports/timeline.h — the run as a picture: lanes, events, message arrows, spans and bands.
//
// A TimelineBuilder is fed every trace event of a run (it is a trace sink) and derives what the HTML
// report draws: one lane per node and per client, arrows from each net.send to the net.deliver that
// received its bytes, spans for node downtime, pauses, partitions, clogs and disk faults, and bands for
// each node's role and recovering flag. It reads only the trace, so trace.jsonl alone rebuilds the
// same timeline; it never touches the simulation.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "sim/kernel/trace.h"

namespace replsim::reports {

enum class LaneGroup : std::uint8_t { world, node, client };
std::string_view lane_group_name(LaneGroup group);

struct TimelineLane {
  std::string name;     // node or client name; "world" for events of the simulator itself
  LaneGroup group = LaneGroup::world;
  std::string cluster;  // the node's cluster, "" for clients and the world lane
};

// One segment of a connection: from the net.send (or the net.close that sent a FIN) to the net.deliver
// (or net.eof) that handed it to the peer. A segment dropped by a reset ends at the reset, lost.
struct TimelineArrow {
  std::uint32_t send_event = 0;     // position in Timeline::events
  std::uint32_t end_event = 0;      // the delivering event, or the reset that dropped it
  std::uint32_t from_lane = 0;
  std::uint32_t to_lane = 0;
  std::uint64_t bytes = 0;          // 0 for a FIN
  bool fin = false;
  bool lost = false;
};

// A stretch of time on one lane during which a fault held: "down", "paused", "partitioned",
// "clogged", "disk-faults". end_ns < 0: still on when the trace ended.
struct TimelineSpan {
  std::uint32_t lane = 0;
  std::string kind;
  std::string label;
  std::int64_t begin_ns = 0;
  std::int64_t end_ns = -1;
  std::int64_t begin_event = -1;  // positions in Timeline::events; -1 when not kept (or still open)
  std::int64_t end_event = -1;
};

// A node's state over time on one track: "role" ("primary", "replica of c0n1") or "recovering" ("1").
struct TimelineBand {
  std::uint32_t lane = 0;
  std::string track;
  std::string value;
  std::int64_t begin_ns = 0;
  std::int64_t end_ns = -1;
};

struct TimelineEvent {
  std::uint64_t index = 0;  // the trace's event index
  std::int64_t time_ns = 0;
  std::uint32_t lane = 0;   // where it is drawn (a fault decision is drawn on the node it names)
  std::uint32_t kind = 0;   // into Timeline::kinds
  std::string detail;
  std::string node;         // the trace's node field ("" = the simulator)
};

struct Timeline {
  std::vector<TimelineLane> lanes;  // world first, then nodes in scenario order, then clients
  std::vector<std::string> kinds;   // kind names, sorted
  std::vector<TimelineEvent> events;
  std::vector<TimelineArrow> arrows;
  std::vector<TimelineSpan> spans;
  std::vector<TimelineBand> bands;
  std::vector<std::pair<std::string, std::int64_t>> phases;  // run.phase markers in order
  std::int64_t end_ns = 0;          // the last event's time
  std::uint64_t dropped_events = 0; // events past the builder's cap: counted, not kept
  std::uint64_t unmatched_deliveries = 0;  // deliveries with no send seen (the trace began mid-run)

  int lane_index(std::string_view name) const;  // -1 when absent
};

struct NodeLaneSpec {
  std::string name;
  std::string cluster;
};

class TimelineBuilder {
 public:
  // Past this many events the builder keeps no more (they still shape spans and bands): a page of
  // 500k events is ~11 MB and ready in ~2 s, and every kept event costs ~150 bytes here.
  static constexpr std::size_t kDefaultMaxEvents = 750'000;

  // nodes: the scenario's nodes in order, so their lanes come first and in that order even when a
  // node logs nothing.
  explicit TimelineBuilder(std::vector<NodeLaneSpec> nodes = {}, std::size_t max_events = kDefaultMaxEvents);

  void add(const kernel::TraceEvent& ev);
  std::uint64_t event_count() const { return events_.size(); }

  // Closes what is still open at the last event and orders lanes and kinds.
  Timeline finish();

 private:
  struct Pending {
    std::int64_t event = 0;  // -1: the send was past the cap
    std::uint32_t from_lane = 0;
    std::uint64_t bytes = 0;
    bool fin = false;
  };
  struct Direction {
    std::string to;  // receiving host
    std::deque<Pending> queue;
  };
  struct LaneState {
    int open_down = -1;  // index into spans_
    int open_pause = -1;
    int open_partition = -1;
    int open_clog = -1;
    int open_disk = -1;
    int open_role = -1;  // index into bands_
    int open_recovering = -1;
  };

  std::uint32_t lane_for(std::string_view name);
  // pos: the event's position in events_, or -1 when it is past the cap and not kept.
  void on_net(const TimelineEvent& ev, std::int64_t pos, std::string_view kind);
  void on_node_state(const TimelineEvent& ev, std::int64_t pos, std::string_view kind);
  void on_fault(TimelineEvent& ev, std::int64_t pos, std::string_view kind);
  void on_store(const TimelineEvent& ev, std::string_view kind);
  void open_span(int& slot, std::uint32_t lane, std::string kind, std::string label, const TimelineEvent& ev,
                 std::int64_t pos);
  void close_span(int& slot, const TimelineEvent& ev, std::int64_t pos);
  void set_band(int& slot, std::uint32_t lane, std::string track, std::string value, std::int64_t time_ns);
  void end_band(int& slot, std::int64_t time_ns);
  void update_partitions(const TimelineEvent& ev, std::int64_t pos);
  std::string role_value(std::string_view detail) const;

  std::vector<TimelineLane> lanes_;
  std::map<std::string, std::uint32_t, std::less<>> lane_by_name_;
  std::vector<LaneState> lane_state_;
  std::vector<std::string> kinds_;
  std::map<std::string, std::uint32_t, std::less<>> kind_by_name_;
  std::vector<TimelineEvent> events_;
  std::vector<TimelineArrow> arrows_;
  std::vector<TimelineSpan> spans_;
  std::vector<TimelineBand> bands_;
  std::vector<std::pair<std::string, std::int64_t>> phases_;
  // conn id -> its two directions, keyed by the sending host.
  std::map<std::uint64_t, std::map<std::string, Direction, std::less<>>> conns_;
  std::set<std::uint64_t> reset_conns_;
  std::set<std::pair<std::string, std::string>> blocked_;  // directed links cut by partitions
  std::map<std::string, std::string, std::less<>> node_by_cluster_id_;  // 40-hex id -> node name
  std::uint64_t unmatched_deliveries_ = 0;
  std::size_t max_events_;
  std::uint64_t dropped_events_ = 0;
  std::int64_t last_time_ns_ = 0;
};

// "key=value key2="quoted value"" -> value of key, or "" when absent.
std::string detail_field(std::string_view detail, std::string_view key);

}  // namespace replsim::reports
