// reports/html.cpp — assembling report.html: the static header, the embedded data, the inline assets.
//
// The data is written by hand rather than through nlohmann::json, because a long run has hundreds of
// thousands of events: events go out as parallel arrays (time deltas, lane, kind, detail), arrows as
// one flat integer array. The JSON is then deflated (zlib) and base64-encoded into the page, which
// inflates it with the browser's DecompressionStream: a 160k-event run's data shrinks from 16 MB to
// about 3.5 MB. Base64 cannot close the script element that carries it, whatever the trace holds.
#include "reports/html.h"

#include <array>
#include <charconv>
#include <string_view>

#include <fmt/format.h>
#include <zlib.h>

#include "reports/html_assets.h"  // generated from reports/html/ by embed_assets.py

namespace replsim::reports {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when the bytes there are not one.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  std::size_t len = 0;
  if (b >= 0xC2 && b <= 0xDF) {
    len = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    len = 3;
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  }
  return len;
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '<': out += "\\u003c"; break;
      default:
        if (u < 0x20) {
          out += fmt::format("\\u{:04x}", u);
        } else if (u < 0x80) {
          out += c;
        } else if (const std::size_t len = utf8_sequence(s, i); len > 0) {
          out.append(s.substr(i, len));
          i += len - 1;
        } else {
          out += "\\ufffd";  // not UTF-8: the page shows a replacement character
        }
    }
  }
  out += '"';
}

// nlohmann's dump, made safe to sit inside a script element.
template <std::size_t N>
std::string join_chunks(const std::string_view (&chunks)[N]) {
  std::string out;
  for (std::string_view c : chunks) out.append(c);
  return out;
}

const std::string& asset_template() {
  static const std::string text = join_chunks(html_assets::kTemplate);
  return text;
}
const std::string& asset_css() {
  static const std::string text = join_chunks(html_assets::kCss);
  return text;
}
const std::string& asset_js() {
  static const std::string text = join_chunks(html_assets::kJs);
  return text;
}

std::string safe_dump(const nlohmann::json& j) {
  const std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '<') {
      out += "\\u003c";  // only ever inside a string in JSON
    } else {
      out += c;
    }
  }
  return out;
}

std::string shorten(std::string_view s, std::size_t max_chars) {
  if (s.size() <= max_chars) return std::string(s);
  // Cut at a character boundary, never inside a UTF-8 sequence.
  std::size_t cut = max_chars;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return fmt::format("{}… ({} bytes)", s.substr(0, cut), s.size());
}

// Integers go out through to_chars: the event arrays hold hundreds of thousands of them.
template <typename T>
void append_int(std::string& out, T v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

template <typename Items, typename F>
void append_array(std::string& out, const Items& items, F&& each) {
  out += '[';
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += ',';
    first = false;
    each(item);
  }
  out += ']';
}

// What the page needs from report.json: everything but the last trace events (the timeline has all).
nlohmann::json page_meta(const nlohmann::json& report) {
  nlohmann::json meta = nlohmann::json::object();
  for (const auto& [key, value] : report.items()) {
    if (key != "recent_events") meta[key] = value;
  }
  return meta;
}

void append_ops(std::string& out, const sim::History& history) {
  // [id, client, kind, key, invoke_ns, complete_ns, outcome, node, args, reply, values, value_count, nil]
  // Read values are cut short (history.json has them all): an LRANGE can return hundreds.
  constexpr std::size_t kMaxValues = 24;
  constexpr std::size_t kMaxChars = 80;
  append_array(out, history.ops(), [&](const sim::Operation& op) {
    out += fmt::format("[{},{},", op.id, op.client);
    append_json_string(out, sim::op_kind_name(op.kind));
    out += ',';
    append_json_string(out, shorten(op.key, kMaxChars));
    out += fmt::format(",{},{},", op.invoke_ns, op.complete_ns);
    append_json_string(out, sim::outcome_name(op.outcome));
    out += ',';
    append_json_string(out, op.node);
    out += ',';
    std::string args;
    for (const std::string& a : op.args) args += (args.empty() ? "" : " ") + shorten(a, kMaxChars);
    append_json_string(out, shorten(args, 4 * kMaxChars));
    out += ',';
    append_json_string(out, shorten(op.reply, 2 * kMaxChars));
    out += ",[";
    for (std::size_t i = 0; i < op.values.size() && i < kMaxValues; ++i) {
      if (i > 0) out += ',';
      append_json_string(out, shorten(op.values[i], kMaxChars));
    }
    out += fmt::format("],{},{}]", op.values.size(), op.read_nil ? 1 : 0);
  });
}

void append_events(std::string& out, const Timeline& t) {
  const std::uint64_t first_index = t.events.empty() ? 0 : t.events.front().index;
  bool contiguous = true;
  for (std::size_t i = 0; i < t.events.size(); ++i) {
    if (t.events[i].index != first_index + i) contiguous = false;
  }
  out += fmt::format(",\"i0\":{},\"n\":{}", first_index, t.events.size());
  if (!contiguous) {
    out += ",\"i\":";
    append_array(out, t.events, [&](const TimelineEvent& e) { append_int(out, e.index); });
  }
  // Times as differences from the previous event: most are small numbers.
  out += ",\"t\":[";
  std::int64_t last = 0;
  for (std::size_t i = 0; i < t.events.size(); ++i) {
    if (i > 0) out += ',';
    append_int(out, t.events[i].time_ns - last);
    last = t.events[i].time_ns;
  }
  out += "],\"l\":";
  append_array(out, t.events, [&](const TimelineEvent& e) { append_int(out, e.lane); });
  out += ",\"k\":";
  append_array(out, t.events, [&](const TimelineEvent& e) { append_int(out, e.kind); });
  out += ",\"d\":";
  append_array(out, t.events, [&](const TimelineEvent& e) { append_json_string(out, e.detail); });
}

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Standard base64 in lines of 1024 characters (the page's atob ignores the line breaks; editors
// opening the page cope better with lines than with one of several megabytes).
std::string base64_lines(const unsigned char* data, std::size_t size) {
  std::string out;
  out.reserve(size / 3 * 4 + size / 768 + 8);
  std::size_t line = 0;
  for (std::size_t i = 0; i < size; i += 3) {
    const std::uint32_t a = data[i];
    const std::uint32_t b = i + 1 < size ? data[i + 1] : 0;
    const std::uint32_t c = i + 2 < size ? data[i + 2] : 0;
    const std::uint32_t v = (a << 16) | (b << 8) | c;
    out += kBase64[(v >> 18) & 63];
    out += kBase64[(v >> 12) & 63];
    out += i + 1 < size ? kBase64[(v >> 6) & 63] : '=';
    out += i + 2 < size ? kBase64[v & 63] : '=';
    line += 4;
    if (line >= 1024) {
      out += '\n';
      line = 0;
    }
  }
  return out;
}

}  // namespace

std::string deflate_base64(std::string_view text) {
  uLongf size = compressBound(static_cast<uLong>(text.size()));
  std::vector<unsigned char> packed(size);
  // Level 1: most of the gain for a quarter of the time of the default level.
  const int rc = compress2(packed.data(), &size, reinterpret_cast<const Bytef*>(text.data()),
                           static_cast<uLong>(text.size()), 1);
  if (rc != Z_OK) return {};
  return base64_lines(packed.data(), size);
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string timeline_data_json(const nlohmann::json& report, const sim::History& history, const Timeline& t) {
  std::string out;
  out.reserve(t.events.size() * 90 + 65536);
  out += "{\"format\":1,\"meta\":";
  out += safe_dump(page_meta(report));
  out += ",\"lanes\":";
  append_array(out, t.lanes, [&](const TimelineLane& l) {
    out += '[';
    append_json_string(out, l.name);
    out += ',';
    append_json_string(out, lane_group_name(l.group));
    out += ',';
    append_json_string(out, l.cluster);
    out += ']';
  });
  out += ",\"kinds\":";
  append_array(out, t.kinds, [&](const std::string& k) { append_json_string(out, k); });
  out += fmt::format(",\"end_ns\":{}", t.end_ns);
  append_events(out, t);
  // Arrows: flat [send_event, end_event, from_lane, to_lane, bytes, flags] with flags 1 = FIN, 2 = lost.
  out += ",\"arrows\":[";
  for (std::size_t i = 0; i < t.arrows.size(); ++i) {
    const TimelineArrow& a = t.arrows[i];
    if (i > 0) out += ',';
    for (const std::uint64_t v : {std::uint64_t{a.send_event}, std::uint64_t{a.end_event}, std::uint64_t{a.from_lane},
                                  std::uint64_t{a.to_lane}, a.bytes}) {
      append_int(out, v);
      out += ',';
    }
    append_int(out, (a.fin ? 1 : 0) | (a.lost ? 2 : 0));
  }
  out += "],\"spans\":";
  append_array(out, t.spans, [&](const TimelineSpan& s) {
    out += fmt::format("[{},", s.lane);
    append_json_string(out, s.kind);
    out += ',';
    append_json_string(out, s.label);
    out += fmt::format(",{},{},{},{}]", s.begin_ns, s.end_ns, s.begin_event, s.end_event);
  });
  out += ",\"bands\":";
  append_array(out, t.bands, [&](const TimelineBand& b) {
    out += fmt::format("[{},", b.lane);
    append_json_string(out, b.track);
    out += ',';
    append_json_string(out, b.value);
    out += fmt::format(",{},{}]", b.begin_ns, b.end_ns);
  });
  out += ",\"phases\":";
  append_array(out, t.phases, [&](const std::pair<std::string, std::int64_t>& p) {
    out += '[';
    append_json_string(out, p.first);
    out += fmt::format(",{}]", p.second);
  });
  out += fmt::format(",\"unmatched_deliveries\":{},\"dropped_events\":{}", t.unmatched_deliveries, t.dropped_events);
  out += ",\"ops\":";
  append_ops(out, history);
  out += "}";
  return out;
}

std::string render_html(const nlohmann::json& report, const sim::History& history, const Timeline& timeline) {
  auto text = [&](const char* key) {
    const auto it = report.find(key);
    if (it == report.end() || it->is_null()) return std::string();
    return it->is_string() ? it->get<std::string>() : it->dump();
  };
  std::string scenario_name;
  if (const auto s = report.find("scenario"); s != report.end() && s->is_object() && s->contains("name")) {
    scenario_name = (*s)["name"].is_string() ? (*s)["name"].get<std::string>() : std::string();
  }
  std::string bugs;
  if (const auto b = report.find("bugs"); b != report.end() && b->is_array()) {
    for (const auto& x : *b) bugs += (bugs.empty() ? "" : ", ") + (x.is_string() ? x.get<std::string>() : x.dump());
  }
  const std::string verdict = text("verdict");
  const std::string check = text("failed_check");
  const std::string title = fmt::format("{} {} seed {}{} — replsim", verdict == "pass" ? "PASS" : verdict == "fail" ? "FAIL" : "ERROR",
                                        scenario_name, text("seed"), check.empty() ? "" : " (" + check + ")");
  // The header is plain HTML, so the facts that identify the run read even where scripts do not run.
  const std::string header = fmt::format(
      "<div class=\"hd-main\"><span class=\"verdict v-{0}\">{1}</span><h1>{2}</h1>{3}</div>"
      "<dl class=\"hd-facts\"><div><dt>seed</dt><dd>{4}</dd></div><div><dt>bugs</dt><dd>{5}</dd></div>"
      "<div><dt>trace hash</dt><dd><code>{6}</code></dd></div><div><dt>file</dt><dd><code>{7}</code></dd></div>"
      "<div class=\"hd-replay\"><dt>replay</dt><dd><code id=\"replay-cmd\">{8}</code>"
      "<button type=\"button\" id=\"copy-replay\" title=\"copy the replay command\">copy</button></dd></div></dl>",
      html_escape(verdict), html_escape(verdict == "pass" ? "PASS" : verdict == "fail" ? "FAIL" : "ERROR"),
      html_escape(scenario_name),
      check.empty() ? std::string() : fmt::format("<span class=\"hd-check\">{}</span>", html_escape(check)),
      html_escape(text("seed")), html_escape(bugs.empty() ? "none" : bugs), html_escape(text("trace_hash")),
      html_escape(text("scenario_path")), html_escape(text("replay")));

  const std::string data = deflate_base64(timeline_data_json(report, history, timeline));
  std::string page;
  page.reserve(data.size() + asset_css().size() + asset_js().size() + asset_template().size() + 4096);
  // The template's {{NAME}} markers are replaced in one pass, in order.
  const std::array<std::pair<std::string_view, std::string_view>, 5> parts = {{
      {"{{TITLE}}", title},
      {"{{CSS}}", asset_css()},
      {"{{HEADER}}", header},
      {"{{DATA}}", data},
      {"{{JS}}", asset_js()},
  }};
  std::string_view rest = asset_template();
  for (const auto& [marker, value] : parts) {
    const std::size_t at = rest.find(marker);
    if (at == std::string_view::npos) continue;  // a template without the marker: tested in html_test
    page.append(rest.substr(0, at));
    page.append(marker == "{{TITLE}}" ? html_escape(value) : std::string(value));
    rest.remove_prefix(at + marker.size());
  }
  page.append(rest);
  return page;
}

}  // namespace replsim::reports
