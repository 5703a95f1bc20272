// report.html: self-contained (no external URL, no fetch of any kind, a policy that forbids them), the
// data element cannot be closed from inside, the header names the run, and the embedded data decodes
// to the timeline it came from.
#include "reports/html.h"

#include <doctest/doctest.h>

#include <cctype>
#include <set>
#include <string>

#include <zlib.h>

#include "reports/report.h"
#include "sim/scenario.h"

using namespace replsim;

namespace {

struct Page {
  sim::Scenario scenario;
  sim::RunResult result;
  reports::Timeline timeline;
  nlohmann::json report;
  std::string html;
};

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

Page make_page(const std::string& hostile_detail) {
  Page p;
  auto s = sim::load_scenario_text(R"({"name": "tiny", "clusters": [{"name": "c0", "nodes": 2}]})", "tiny.json");
  REQUIRE_MESSAGE(s.is_ok(), s.status().to_string());
  p.scenario = s.value();
  p.result.verdict = sim::Verdict::fail;
  p.result.trace_hash = 0xfeedbeef;
  p.result.violations.push_back({"no-abort", 30, "c0n1", "node c0n1 aborted: <boom> & \"quotes\"", {{"message", "</script>"}}});
  const std::uint64_t op = p.result.history.invoke(0, sim::OpKind::lpush, "k<1>", {"v1"}, 5);
  p.result.history.complete(op, sim::Outcome::ok, 9, "c0n0", "(integer) 1");
  reports::TimelineBuilder builder(reports::node_lanes(p.scenario));
  std::uint64_t i = 0;
  auto add = [&](std::int64_t t, const std::string& node, const std::string& kind, const std::string& detail) {
    builder.add(kernel::TraceEvent{i++, t, node, kind, detail, 0});
  };
  add(1, "", "run.phase", "phase=setup");
  add(2, "c0n0", "cluster.config.fresh", "id=0123");
  add(5, "client-0", "net.send", "conn=1 client-0:1->c0n0:7000 bytes=20 due_ns=7");
  add(7, "c0n0", "net.deliver", "conn=1 client-0:1->c0n0:7000 bytes=20");
  add(8, "c0n0", "store.note", hostile_detail);
  add(20, "c0n1", "node.crash", "reason=x");
  add(30, "c0n1", "node.abort", "message=boom");
  p.timeline = builder.finish();
  reports::ReportInputs in;
  in.scenario = &p.scenario;
  in.scenario_path = "scenarios/<tiny>.json";
  in.seed = 77;
  in.bugs = {"stuck-recovering"};
  in.result = &p.result;
  in.replay_command = "replsim run 'scenarios/<tiny>.json' --seed 77 --bug stuck-recovering";
  p.report = reports::build_report(in);
  p.html = reports::render_html(p.report, p.result.history, p.timeline);
  return p;
}

// The data element's text back to JSON: base64 (lines), then inflate.
nlohmann::json page_data(const std::string& html) {
  const std::size_t open = html.find("<script type=\"application/octet-stream\" id=\"replsim-data\"");
  REQUIRE(open != std::string::npos);
  const std::size_t begin = html.find('>', open) + 1;
  const std::size_t end = html.find("</script>", begin);
  std::string bytes;
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::size_t i = begin; i < end; ++i) {
    const char c = html[i];
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    if (c >= '0' && c <= '9') v = c - '0' + 52;
    if (c == '+') v = 62;
    if (c == '/') v = 63;
    if (v < 0) {
      REQUIRE_MESSAGE((c == '\n' || c == '='), "unexpected character in the data: " << int(c));
      continue;
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  std::string text(bytes.size() * 20 + 4096, '\0');
  uLongf size = text.size();
  REQUIRE(uncompress(reinterpret_cast<Bytef*>(text.data()), &size, reinterpret_cast<const Bytef*>(bytes.data()),
                     static_cast<uLong>(bytes.size())) == Z_OK);
  text.resize(size);
  return nlohmann::json::parse(text);
}

// The page without the data element's base64 text (whose alphabet could spell "//cdn" by chance).
std::string without_data(const std::string& html) {
  const std::size_t open = html.find("id=\"replsim-data\"");
  const std::size_t begin = html.find('>', open) + 1;
  const std::size_t end = html.find("</script>", begin);
  return html.substr(0, begin) + html.substr(end);
}

// The first element in html that could load something: a script, image, frame, link, embed or media
// tag with a src, href or data attribute. "" when there is none. (A scan rather than std::regex,
// which gcc 12 warns about under the sanitizers.)
std::string first_loading_element(const std::string& html) {
  const std::set<std::string> loaders = {"script", "img", "iframe", "frame", "link", "embed", "object",
                                         "video", "audio", "source", "track", "input", "base"};
  for (std::size_t at = html.find('<'); at != std::string::npos; at = html.find('<', at + 1)) {
    std::size_t end = at + 1;
    std::string name;
    while (end < html.size() && std::isalpha(static_cast<unsigned char>(html[end])) != 0) {
      name += static_cast<char>(std::tolower(static_cast<unsigned char>(html[end++])));
    }
    if (!loaders.contains(name)) continue;
    const std::size_t close = html.find('>', end);
    std::string tag = html.substr(at, close == std::string::npos ? std::string::npos : close - at);
    for (char& c : tag) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const char* attr : {"src", "href", "data"}) {
      for (std::size_t p = tag.find(attr); p != std::string::npos; p = tag.find(attr, p + 1)) {
        const bool word_start = std::isspace(static_cast<unsigned char>(tag[p - 1])) != 0;
        std::size_t q = p + std::string(attr).size();
        while (q < tag.size() && std::isspace(static_cast<unsigned char>(tag[q])) != 0) ++q;
        if (word_start && q < tag.size() && tag[q] == '=') return tag;
      }
    }
  }
  return {};
}

}  // namespace

TEST_CASE("report.html fetches nothing: no external URL, no src/href, a policy forbidding loads") {
  const Page p = make_page("plain");
  const std::string h = without_data(p.html);
  CHECK(h.size() + 100 < p.html.size());
  CHECK(h.find("http://") == std::string::npos);
  CHECK(h.find("https://") == std::string::npos);
  CHECK(h.find("//cdn") == std::string::npos);
  // No element that loads anything: scripts and styles are inline, there are no links or images.
  CHECK(first_loading_element(h).empty());
  // The scan does find such elements.
  CHECK_FALSE(first_loading_element("<p><IMG alt=x SRC = 'a.png'></p>").empty());
  CHECK_FALSE(first_loading_element("<script src=\"x.js\"></script>").empty());
  CHECK(first_loading_element("<script data-x=1 id=\"replsim-data\"></script><span src=1>").empty());
  CHECK(h.find("@import") == std::string::npos);
  CHECK(h.find("url(") == std::string::npos);
  CHECK(h.find("fetch(") == std::string::npos);
  CHECK(h.find("XMLHttpRequest") == std::string::npos);
  CHECK(h.find("Content-Security-Policy") != std::string::npos);
  CHECK(h.find("default-src 'none'") != std::string::npos);
  // Every template marker was filled.
  CHECK(h.find("{{") == std::string::npos);
  // The page's code never builds a request either: no fetch, XHR, import or worker.
  for (const char* api : {"import(", "new Worker", "WebSocket", "EventSource", "sendBeacon", "navigator.serviceWorker"}) {
    CHECK_MESSAGE(h.find(api) == std::string::npos, api);
  }
}

TEST_CASE("report.html: the header names the run, escaped") {
  const Page p = make_page("plain");
  const std::string& h = p.html;
  CHECK(h.find("<title>FAIL tiny seed 77 (no-abort) — replsim</title>") != std::string::npos);
  CHECK(h.find("verdict v-fail") != std::string::npos);
  CHECK(h.find("<dd>77</dd>") != std::string::npos);
  CHECK(h.find("stuck-recovering") != std::string::npos);
  CHECK(h.find("00000000feedbeef") != std::string::npos);
  CHECK(h.find("replsim run &#39;scenarios/&lt;tiny&gt;.json&#39; --seed 77 --bug stuck-recovering") != std::string::npos);
}

TEST_CASE("report.html: trace text cannot close the data element or break its JSON") {
  const std::string hostile = "x=\"</script><script>alert(1)</script>\" bad=\xff\xfe end=1";
  const Page p = make_page(hostile);
  // Exactly two script elements: the data and the page's code.
  CHECK(count(p.html, "</script>") == 2);
  CHECK(count(p.html, "<script") == 2);
  CHECK(p.html.find("alert(1)") == std::string::npos);
  const nlohmann::json data = page_data(p.html);
  // The JSON itself never holds a '<' either (it is \u003c), should it ever be embedded as text.
  CHECK(reports::timeline_data_json(p.report, p.result.history, p.timeline).find('<') == std::string::npos);
  const std::size_t n = data["n"].get<std::size_t>();
  CHECK(n == p.timeline.events.size());
  CHECK(data["t"].size() == n);
  CHECK(data["l"].size() == n);
  CHECK(data["k"].size() == n);
  CHECK(data["d"].size() == n);
  // The hostile detail decodes back with the invalid bytes replaced.
  CHECK(data["d"][4] == "x=\"</script><script>alert(1)</script>\" bad=\xef\xbf\xbd\xef\xbf\xbd end=1");
  // Times are deltas: their running sum gives the event times back.
  std::int64_t t = 0;
  for (std::size_t i = 0; i < n; ++i) {
    t += data["t"][i].get<std::int64_t>();
    CHECK(t == p.timeline.events[i].time_ns);
  }
  CHECK(data["arrows"].size() == 6 * p.timeline.arrows.size());
  CHECK(data["arrows"].size() == 6);
  CHECK(data["lanes"][0][0] == "world");
  CHECK(data["meta"]["violations"][0]["evidence"]["message"] == "</script>");
  CHECK_FALSE(data["meta"].contains("recent_events"));
  REQUIRE(data["ops"].size() == 1);
  CHECK(data["ops"][0][2] == "lpush");
  CHECK(data["ops"][0][3] == "k<1>");
  CHECK(data["ops"][0][6] == "ok");
}

TEST_CASE("html_escape covers the five characters") {
  CHECK(reports::html_escape(R"(<a href="x">'&'</a>)") == "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
}
