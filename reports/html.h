// reports/html.h — report.html: one self-contained page that shows a run as a space-time diagram.
//
// The page carries its data (the report, the client history and the timeline as JSON, deflated and
// base64-encoded) in a script element, and its CSS and JavaScript inline (embedded into the binary at build time
// from reports/html/). It fetches nothing: a Content-Security-Policy forbids every network load, so
// the file opens the same from a CI artifact, an email or a laptop with no network.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "reports/timeline.h"
#include "sim/history.h"

namespace replsim::reports {

// The page for one run. report is build_report()'s JSON (its recent_events are left out: the
// timeline has every event).
std::string render_html(const nlohmann::json& report, const sim::History& history, const Timeline& timeline);

// The data element's JSON (what the page's script reads, once inflated), exposed for tests.
std::string timeline_data_json(const nlohmann::json& report, const sim::History& history, const Timeline& timeline);

// text deflated (zlib format) and base64-encoded in lines, as the data element carries it; "" if
// zlib fails.
std::string deflate_base64(std::string_view text);

// Text made safe for HTML element content and attribute values.
std::string html_escape(std::string_view text);

}  // namespace replsim::reports
