// reports/timeline.cpp — deriving lanes, arrows, spans and bands from the trace, one event at a time.
//
// The rules follow what the kernel and the store log: the network's per-connection byte streams are
// FIFO, so the n-th segment sent in one direction is the n-th delivered; node.crash ... node.restart is
// downtime; net.partition/net.heal cut and restore directed links; cluster.config.* carry the node's
// role; repl.sync.start and repl.attempt.begin set the recovering flag, repl.sync.end and
// repl.sync.stop say when it was cleared.
#include "reports/timeline.h"

#include <algorithm>
#include <charconv>
#include <numeric>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace replsim::reports {

namespace {

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    const std::size_t at = text.find(sep);
    const std::string_view piece = text.substr(0, at);
    if (!piece.empty()) out.push_back(piece);
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  return out;
}

std::uint64_t to_u64(std::string_view s) {
  std::uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// "c0n1:7000" -> "c0n1".
std::string_view host_of(std::string_view address) { return address.substr(0, address.rfind(':')); }

// The second word of a net.* detail: "c0n0:40001->c0n1:7000".
std::string_view direction_of(std::string_view detail) {
  const std::size_t space = detail.find(' ');
  if (space == std::string_view::npos) return {};
  std::string_view rest = detail.substr(space + 1);
  return rest.substr(0, rest.find(' '));
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

}  // namespace

std::string_view lane_group_name(LaneGroup group) {
  switch (group) {
    case LaneGroup::world: return "world";
    case LaneGroup::node: return "node";
    case LaneGroup::client: return "client";
  }
  return "world";
}

std::string detail_field(std::string_view detail, std::string_view key) {
  std::size_t pos = 0;
  while (pos < detail.size()) {
    while (pos < detail.size() && detail[pos] == ' ') ++pos;
    std::size_t name_end = pos;
    while (name_end < detail.size() && detail[name_end] != '=' && detail[name_end] != ' ') ++name_end;
    if (name_end >= detail.size() || detail[name_end] == ' ') {
      pos = name_end;  // a word without '=' (such as a connection's direction): skip it
      continue;
    }
    const std::string_view name = detail.substr(pos, name_end - pos);
    std::size_t end = name_end + 1;
    std::string value;
    if (end < detail.size() && detail[end] == '"') {
      ++end;
      while (end < detail.size() && detail[end] != '"') {
        if (detail[end] == '\\' && end + 1 < detail.size()) ++end;
        value += detail[end++];
      }
      ++end;
    } else {
      const std::size_t stop = detail.find(' ', end);
      const std::size_t last = stop == std::string_view::npos ? detail.size() : stop;
      value = std::string(detail.substr(end, last - end));
      end = last;
    }
    if (name == key) return value;
    pos = end;
  }
  return {};
}

int Timeline::lane_index(std::string_view name) const {
  for (std::size_t i = 0; i < lanes.size(); ++i) {
    if (lanes[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

TimelineBuilder::TimelineBuilder(std::vector<NodeLaneSpec> nodes, std::size_t max_events) : max_events_(max_events) {
  lane_for("world");
  for (NodeLaneSpec& n : nodes) {
    const std::uint32_t lane = lane_for(n.name);
    lanes_[lane].group = LaneGroup::node;
    lanes_[lane].cluster = std::move(n.cluster);
  }
}

std::uint32_t TimelineBuilder::lane_for(std::string_view name) {
  if (name.empty()) name = "world";
  if (auto it = lane_by_name_.find(name); it != lane_by_name_.end()) return it->second;
  const auto lane = static_cast<std::uint32_t>(lanes_.size());
  TimelineLane l;
  l.name = std::string(name);
  // Names the scenario did not declare are the network's clients (workload, admin, operator).
  l.group = name == "world" ? LaneGroup::world : LaneGroup::client;
  lanes_.push_back(std::move(l));
  lane_state_.emplace_back();
  lane_by_name_.emplace(std::string(name), lane);
  return lane;
}

void TimelineBuilder::add(const kernel::TraceEvent& trace_event) {
  // Past the cap an event is not kept (pos -1), but it still opens and closes spans and bands.
  const bool keep = events_.size() < max_events_;
  const std::int64_t pos = keep ? static_cast<std::int64_t>(events_.size()) : -1;
  last_time_ns_ = trace_event.time_ns;
  TimelineEvent ev;
  ev.index = trace_event.index;
  ev.time_ns = trace_event.time_ns;
  ev.lane = lane_for(trace_event.node);
  ev.node = trace_event.node;
  ev.detail = trace_event.detail;
  auto kit = kind_by_name_.find(trace_event.kind);
  if (kit == kind_by_name_.end()) {
    kit = kind_by_name_.emplace(trace_event.kind, static_cast<std::uint32_t>(kinds_.size())).first;
    kinds_.push_back(trace_event.kind);
  }
  ev.kind = kit->second;
  const std::string_view kind = trace_event.kind;
  if (starts_with(kind, "net.")) {
    on_net(ev, pos, kind);
  } else if (starts_with(kind, "node.")) {
    on_node_state(ev, pos, kind);
  } else if (starts_with(kind, "fault.")) {
    on_fault(ev, pos, kind);
  } else if (kind == "run.phase") {
    phases_.emplace_back(detail_field(ev.detail, "phase"), ev.time_ns);
  } else {
    on_store(ev, kind);
  }
  if (keep) {
    events_.push_back(std::move(ev));
  } else {
    ++dropped_events_;
  }
}

// ---- network: arrows, partitions, clogs ------------------------------------------------------------

void TimelineBuilder::on_net(const TimelineEvent& ev, std::int64_t pos, std::string_view kind) {
  if (kind == "net.partition" || kind == "net.heal" || kind == "net.heal_link") {
    update_partitions(ev, pos);
    return;
  }
  if (kind == "net.clog" || kind == "net.unclog") {
    std::vector<std::string> hosts;
    std::string label;
    if (std::string host = detail_field(ev.detail, "host"); !host.empty()) {
      hosts.push_back(host);
      label = "clogged";
    } else if (std::string link = detail_field(ev.detail, "link"); !link.empty()) {
      const std::size_t arrow = link.find("<->");
      if (arrow != std::string::npos) {
        hosts.push_back(link.substr(0, arrow));
        hosts.push_back(link.substr(arrow + 3));
        label = "clogged link " + link;
      }
    } else if (ev.detail == "all") {
      for (std::size_t i = 0; i < lanes_.size(); ++i) close_span(lane_state_[i].open_clog, ev, pos);
      return;
    }
    const std::string extra = detail_field(ev.detail, "extra_ns");
    if (!extra.empty()) label += fmt::format(" +{} ms", to_u64(extra) / 1'000'000);
    for (const std::string& h : hosts) {
      const std::uint32_t lane = lane_for(h);
      close_span(lane_state_[lane].open_clog, ev, pos);
      if (kind == "net.clog") open_span(lane_state_[lane].open_clog, lane, "clogged", label, ev, pos);
    }
    return;
  }
  const bool send = kind == "net.send";
  const bool close = kind == "net.close";
  const bool deliver = kind == "net.deliver";
  const bool eof = kind == "net.eof";
  const bool reset = kind == "net.reset";
  if (!send && !close && !deliver && !eof && !reset) return;
  const std::uint64_t conn = to_u64(detail_field(ev.detail, "conn"));
  auto& dirs = conns_[conn];
  if (reset) {
    // Every byte still in flight either way is dropped: those segments end here, lost.
    for (auto& [label, dir] : dirs) {
      const std::uint32_t to = lane_for(dir.to);
      for (const Pending& p : dir.queue) {
        if (p.event >= 0 && pos >= 0) {
          arrows_.push_back({static_cast<std::uint32_t>(p.event), static_cast<std::uint32_t>(pos), p.from_lane, to,
                             p.bytes, p.fin, true});
        }
      }
    }
    conns_.erase(conn);
    reset_conns_.insert(conn);  // a later close on it sends no FIN
    return;
  }
  const std::string_view label = direction_of(ev.detail);
  const std::size_t arrow = label.find("->");
  if (arrow == std::string_view::npos) return;
  if (send || close) {
    if (close && reset_conns_.contains(conn)) return;
    Direction& dir = dirs[std::string(label)];
    dir.to = std::string(host_of(label.substr(arrow + 2)));
    // A send that is not kept still takes its place in the queue, so later deliveries pair right.
    dir.queue.push_back({pos, ev.lane, send ? to_u64(detail_field(ev.detail, "bytes")) : 0, close});
    return;
  }
  auto it = dirs.find(label);
  if (it == dirs.end() || it->second.queue.empty()) {
    ++unmatched_deliveries_;
    return;
  }
  const Pending p = it->second.queue.front();
  it->second.queue.pop_front();
  if (p.event < 0 || pos < 0) return;  // one end was not kept: no arrow
  arrows_.push_back({static_cast<std::uint32_t>(p.event), static_cast<std::uint32_t>(pos), p.from_lane, ev.lane, p.bytes,
                     p.fin, false});
}

void TimelineBuilder::update_partitions(const TimelineEvent& ev, std::int64_t pos) {
  const std::string_view kind = kinds_[ev.kind];
  if (kind == "net.heal") {
    blocked_.clear();
  } else if (kind == "net.heal_link") {
    const std::string link = detail_field(ev.detail, "link");
    const std::size_t arrow = link.find("<->");
    if (arrow == std::string::npos) return;
    const std::string a = link.substr(0, arrow);
    const std::string b = link.substr(arrow + 3);
    blocked_.erase({a, b});
    blocked_.erase({b, a});
  } else {
    const std::string mode = detail_field(ev.detail, "mode");
    auto block = [this](const std::string& x, const std::string& y) {
      if (x != y) blocked_.insert({x, y});
    };
    if (mode == "two_way" || mode == "one_way") {
      const bool two = mode == "two_way";
      const std::string side_a = detail_field(ev.detail, two ? "a" : "from");
      const std::string side_b = detail_field(ev.detail, two ? "b" : "to");
      for (std::string_view x : split(side_a, ',')) {
        for (std::string_view y : split(side_b, ',')) {
          block(std::string(x), std::string(y));
          if (two) block(std::string(y), std::string(x));
        }
      }
    } else if (mode == "isolate") {
      const std::string host = detail_field(ev.detail, "host");
      for (const TimelineLane& l : lanes_) {
        if (l.group == LaneGroup::world) continue;
        block(host, l.name);
        block(l.name, host);
      }
    }
  }
  // Each lane's span follows the set of peers it cannot reach (either way); it is reopened with a
  // new label when that set changes.
  for (std::uint32_t lane = 0; lane < lanes_.size(); ++lane) {
    if (lanes_[lane].group == LaneGroup::world) continue;
    std::set<std::string> peers;
    for (const auto& [from, to] : blocked_) {
      if (from == lanes_[lane].name) peers.insert(to);
      if (to == lanes_[lane].name) peers.insert(from);
    }
    std::string label;
    for (const std::string& p : peers) label += (label.empty() ? "cut off from " : ", ") + p;
    int& slot = lane_state_[lane].open_partition;
    if (slot >= 0 && spans_[static_cast<std::size_t>(slot)].label == label) continue;
    close_span(slot, ev, pos);
    if (!label.empty()) open_span(slot, lane, "partitioned", label, ev, pos);
  }
}

// ---- nodes: downtime and pauses --------------------------------------------------------------------

void TimelineBuilder::on_node_state(const TimelineEvent& ev, std::int64_t pos, std::string_view kind) {
  LaneState& st = lane_state_[ev.lane];
  if (kind == "node.crash") {
    close_span(st.open_pause, ev, pos);
    close_span(st.open_down, ev, pos);
    // The reason is the rest of the detail, spaces and all ("reason=exit: AOF write failed ...").
    const std::string reason = starts_with(ev.detail, "reason=") ? ev.detail.substr(7) : ev.detail;
    open_span(st.open_down, ev.lane, "down", "down: " + reason, ev, pos);
    end_band(st.open_role, ev.time_ns);
    end_band(st.open_recovering, ev.time_ns);
  } else if (kind == "node.restart") {
    close_span(st.open_down, ev, pos);
  } else if (kind == "node.pause") {
    open_span(st.open_pause, ev.lane, "paused", "paused", ev, pos);
  } else if (kind == "node.resume") {
    close_span(st.open_pause, ev, pos);
  }
}

// ---- fault decisions: drawn on the node they name; disk faults as spans ----------------------------

void TimelineBuilder::on_fault(TimelineEvent& ev, std::int64_t pos, std::string_view kind) {
  // "source=swarm {"node":"c0n1",...}": the JSON after the source word.
  const std::size_t brace = ev.detail.find('{');
  if (brace == std::string::npos) return;
  const nlohmann::json detail = nlohmann::json::parse(ev.detail.substr(brace), nullptr, false);
  if (!detail.is_object()) return;
  const auto node = detail.find("node");
  if (node == detail.end() || !node->is_string() || node->get<std::string>().empty()) return;
  ev.lane = lane_for(node->get<std::string>());
  LaneState& st = lane_state_[ev.lane];
  if (kind == "fault.disk_fault") {
    std::string label = "disk faults";
    for (const auto& [key, value] : detail.items()) {
      if (key != "node") label += fmt::format(" {}={}", key, value.is_string() ? value.get<std::string>() : value.dump());
    }
    close_span(st.open_disk, ev, pos);
    open_span(st.open_disk, ev.lane, "disk-faults", label, ev, pos);
  } else if (kind == "fault.disk_heal") {
    close_span(st.open_disk, ev, pos);
  }
}

// ---- the store: role and recovering bands, node ids --------------------------------------------

std::string TimelineBuilder::role_value(std::string_view detail) const {
  const std::string role = detail_field(detail, "role");
  if (role == "master" || role == "primary") return "primary";
  if (role.empty()) return {};
  const std::string primary = detail_field(detail, "primary");
  if (primary.empty() || primary == "-") return "replica";
  auto it = node_by_cluster_id_.find(primary);
  return "replica of " + (it == node_by_cluster_id_.end() ? primary.substr(0, 8) : it->second);
}

void TimelineBuilder::on_store(const TimelineEvent& ev, std::string_view kind) {
  LaneState& st = lane_state_[ev.lane];
  if (kind == "cluster.config.fresh" || kind == "cluster.config.loaded") {
    const std::string id = detail_field(ev.detail, "id");
    if (!id.empty()) node_by_cluster_id_[id] = lanes_[ev.lane].name;
    // A fresh config makes the node a primary of no slots until it is told otherwise.
    const std::string role = kind == "cluster.config.fresh" ? std::string("primary") : role_value(ev.detail);
    if (!role.empty()) set_band(st.open_role, ev.lane, "role", role, ev.time_ns);
  } else if (kind == "cluster.config.change") {
    const std::string role = role_value(ev.detail);
    if (!role.empty()) set_band(st.open_role, ev.lane, "role", role, ev.time_ns);
  } else if (kind == "repl.sync.start" || kind == "repl.attempt.begin" || kind == "repl.bug.stuck_recovering") {
    set_band(st.open_recovering, ev.lane, "recovering", "recovering", ev.time_ns);
  } else if (kind == "repl.sync.end" || kind == "repl.sync.stop") {
    if (detail_field(ev.detail, "recovering_cleared") == "1") end_band(st.open_recovering, ev.time_ns);
  }
}

// ---- spans and bands --------------------------------------------------------------------------------

void TimelineBuilder::open_span(int& slot, std::uint32_t lane, std::string kind, std::string label,
                                const TimelineEvent& ev, std::int64_t pos) {
  if (slot >= 0) return;  // already open: the first cause keeps it
  TimelineSpan s;
  s.lane = lane;
  s.kind = std::move(kind);
  s.label = std::move(label);
  s.begin_ns = ev.time_ns;
  s.begin_event = pos;
  slot = static_cast<int>(spans_.size());
  spans_.push_back(std::move(s));
}

void TimelineBuilder::close_span(int& slot, const TimelineEvent& ev, std::int64_t pos) {
  if (slot < 0) return;
  TimelineSpan& s = spans_[static_cast<std::size_t>(slot)];
  s.end_ns = ev.time_ns;
  s.end_event = pos;
  slot = -1;
}

void TimelineBuilder::set_band(int& slot, std::uint32_t lane, std::string track, std::string value,
                               std::int64_t time_ns) {
  if (slot >= 0 && bands_[static_cast<std::size_t>(slot)].value == value) return;
  end_band(slot, time_ns);
  slot = static_cast<int>(bands_.size());
  bands_.push_back({lane, std::move(track), std::move(value), time_ns, -1});
}

void TimelineBuilder::end_band(int& slot, std::int64_t time_ns) {
  if (slot < 0) return;
  bands_[static_cast<std::size_t>(slot)].end_ns = time_ns;
  slot = -1;
}

// ---- finishing: order lanes (world, nodes in scenario order, then clients by name) ----------------

namespace {

// "client-10" after "client-9": compare the digit runs as numbers.
bool natural_less(const std::string& a, const std::string& b) {
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = a[i] >= '0' && a[i] <= '9';
    const bool db = b[j] >= '0' && b[j] <= '9';
    if (da && db) {
      std::size_t ie = i;
      std::size_t je = j;
      while (ie < a.size() && a[ie] >= '0' && a[ie] <= '9') ++ie;
      while (je < b.size() && b[je] >= '0' && b[je] <= '9') ++je;
      const std::uint64_t na = to_u64(std::string_view(a).substr(i, ie - i));
      const std::uint64_t nb = to_u64(std::string_view(b).substr(j, je - j));
      if (na != nb) return na < nb;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

}  // namespace

Timeline TimelineBuilder::finish() {
  Timeline t;
  t.end_ns = last_time_ns_;
  t.dropped_events = dropped_events_;
  // Lanes: the constructor put world and the scenario's nodes first; clients follow, workload
  // clients ("client-N") before the admin connections, each in natural order.
  std::vector<std::uint32_t> order(lanes_.size());
  std::iota(order.begin(), order.end(), 0U);
  std::stable_sort(order.begin(), order.end(), [this](std::uint32_t x, std::uint32_t y) {
    const TimelineLane& a = lanes_[x];
    const TimelineLane& b = lanes_[y];
    if (a.group != b.group) return a.group < b.group;
    if (a.group != LaneGroup::client) return x < y;
    const bool wa = starts_with(a.name, "client-");
    const bool wb = starts_with(b.name, "client-");
    if (wa != wb) return wa;
    return natural_less(a.name, b.name);
  });
  std::vector<std::uint32_t> lane_map(lanes_.size());
  for (std::uint32_t i = 0; i < order.size(); ++i) {
    lane_map[order[i]] = i;
    t.lanes.push_back(lanes_[order[i]]);
  }
  // Kinds sorted by name, so the page lists them in a stable order.
  std::vector<std::uint32_t> kind_order(kinds_.size());
  std::iota(kind_order.begin(), kind_order.end(), 0U);
  std::sort(kind_order.begin(), kind_order.end(), [this](std::uint32_t x, std::uint32_t y) { return kinds_[x] < kinds_[y]; });
  std::vector<std::uint32_t> kind_map(kinds_.size());
  for (std::uint32_t i = 0; i < kind_order.size(); ++i) {
    kind_map[kind_order[i]] = i;
    t.kinds.push_back(kinds_[kind_order[i]]);
  }
  for (TimelineEvent& ev : events_) {
    ev.lane = lane_map[ev.lane];
    ev.kind = kind_map[ev.kind];
  }
  // Still-open spans and bands run to the end of the trace (end_ns stays -1 to say so).
  for (TimelineSpan& s : spans_) s.lane = lane_map[s.lane];
  for (TimelineBand& b : bands_) b.lane = lane_map[b.lane];
  // Segments still in flight at the end are neither delivered nor lost: no arrow.
  for (TimelineArrow& a : arrows_) {
    a.from_lane = lane_map[a.from_lane];
    a.to_lane = lane_map[a.to_lane];
  }
  std::sort(arrows_.begin(), arrows_.end(),
            [](const TimelineArrow& a, const TimelineArrow& b) { return a.send_event < b.send_event; });
  t.events = std::move(events_);
  t.arrows = std::move(arrows_);
  t.spans = std::move(spans_);
  t.bands = std::move(bands_);
  t.phases = std::move(phases_);
  t.unmatched_deliveries = unmatched_deliveries_;
  return t;
}

}  // namespace replsim::reports
