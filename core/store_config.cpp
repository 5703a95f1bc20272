// core/store_config.cpp — validation of StoreConfig, glob matching and the CONFIG parameter table.
#include "core/store_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <functional>
#include <limits>

#include "core/commands.h"

namespace replsim::core {

namespace {

constexpr std::uint64_t kMaxCheckpointsRetained = 1000;
constexpr std::uint64_t kMaxClientsLimit = 1'000'000;

char fold(char c, bool nocase) {
  if (nocase && c >= 'A' && c <= 'Z') return static_cast<char>(c - 'A' + 'a');
  return c;
}

// Matches a bracket class starting just after '['. Advances p past the closing ']' (or to the end
// of the pattern when it is unterminated, which then treats the rest as the class, as Redis does).
bool match_class(std::string_view pattern, std::size_t& p, char c, bool nocase) {
  bool negate = false;
  if (p < pattern.size() && pattern[p] == '^') {
    negate = true;
    ++p;
  }
  bool matched = false;
  while (p < pattern.size() && pattern[p] != ']') {
    if (pattern[p] == '\\' && p + 1 < pattern.size()) {
      ++p;
      if (fold(pattern[p], nocase) == fold(c, nocase)) matched = true;
      ++p;
    } else if (p + 2 < pattern.size() && pattern[p + 1] == '-') {
      char lo = fold(pattern[p], nocase);
      char hi = fold(pattern[p + 2], nocase);
      if (lo > hi) std::swap(lo, hi);
      const char x = fold(c, nocase);
      if (x >= lo && x <= hi) matched = true;
      p += 3;
    } else {
      if (fold(pattern[p], nocase) == fold(c, nocase)) matched = true;
      ++p;
    }
  }
  if (p < pattern.size()) ++p;  // the ']'
  return negate ? !matched : matched;
}

// ---- the parameter table -------------------------------------------------------------------------

// One CONFIG parameter: how to read it and, unless immutable, how to set it. set returns an empty
// string on success, otherwise the reason (what follows "- " in Redis's error).
struct Parameter {
  std::string_view name;
  std::function<std::string(const StoreConfig&)> get;
  std::function<std::string(StoreConfig&, std::string_view)> set;  // empty: immutable
};

std::string range_reason(std::uint64_t lo, std::uint64_t hi) {
  return fmt::format("argument must be between {} and {} inclusive", lo, hi);
}

// Parses an unsigned integer argument in [lo, hi]; the reason on failure, empty on success.
std::string parse_in_range(std::string_view text, std::uint64_t lo, std::uint64_t hi,
                           std::uint64_t& out) {
  const std::optional<std::int64_t> v = parse_int64_strict(text);
  if (!v) return "argument couldn't be parsed into an integer";
  if (*v < 0 || static_cast<std::uint64_t>(*v) < lo || static_cast<std::uint64_t>(*v) > hi) {
    return range_reason(lo, hi);
  }
  out = static_cast<std::uint64_t>(*v);
  return {};
}

template <class Field>
Parameter unsigned_parameter(std::string_view name, Field StoreConfig::*field, std::uint64_t lo,
                             std::uint64_t hi) {
  return Parameter{
      name, [field](const StoreConfig& c) { return std::to_string(c.*field); },
      [field, lo, hi](StoreConfig& c, std::string_view v) {
        std::uint64_t n = 0;
        std::string reason = parse_in_range(v, lo, hi, n);
        if (reason.empty()) c.*field = static_cast<Field>(n);
        return reason;
      }};
}

template <class Field>
Parameter limit_parameter(std::string_view name, Field RespLimits::*field, std::uint64_t lo,
                          std::uint64_t hi) {
  return Parameter{
      name, [field](const StoreConfig& c) { return std::to_string(c.resp_limits.*field); },
      [field, lo, hi](StoreConfig& c, std::string_view v) {
        std::uint64_t n = 0;
        std::string reason = parse_in_range(v, lo, hi, n);
        if (reason.empty()) c.resp_limits.*field = static_cast<Field>(n);
        return reason;
      }};
}

const std::vector<Parameter>& parameters() {
  constexpr std::uint64_t kMaxInt64 = std::numeric_limits<std::int64_t>::max();
  static const std::vector<Parameter> table = [] {
    std::vector<Parameter> t;
    t.push_back(Parameter{"aof-page-size-bytes",
                          [](const StoreConfig& c) { return std::to_string(c.aof_page_size_bytes); },
                          nullptr});
    t.push_back(Parameter{"aof-segment-pages",
                          [](const StoreConfig& c) { return std::to_string(c.aof_segment_pages); },
                          nullptr});
    t.push_back(Parameter{
        "appendfsync", [](const StoreConfig& c) { return std::string(fsync_policy_name(c.appendfsync)); },
        [](StoreConfig& c, std::string_view v) -> std::string {
          auto policy = parse_fsync_policy(v);
          if (!policy) return "argument(s) must be one of the following: always, everysec, no";
          c.appendfsync = *policy;
          return {};
        }});
    t.push_back(Parameter{
        "checkpoint-interval-ms",
        [](const StoreConfig& c) { return std::to_string(c.checkpoint_interval_ms); },
        [](StoreConfig& c, std::string_view v) {
          std::uint64_t n = 0;
          std::string reason = parse_in_range(v, 0, kMaxInt64, n);
          if (reason.empty()) c.checkpoint_interval_ms = static_cast<std::int64_t>(n);
          return reason;
        }});
    t.push_back(unsigned_parameter("checkpoint-interval-writes", &StoreConfig::checkpoint_interval_writes,
                                   0, kMaxInt64));
    t.push_back(unsigned_parameter("checkpoints-retained", &StoreConfig::checkpoints_retained, 1,
                                   kMaxCheckpointsRetained));
    t.push_back(limit_parameter("client-query-buffer-limit", &RespLimits::max_query_buffer_bytes, 1,
                                kMaxInt64));
    t.push_back(Parameter{"cluster-enabled",
                          [](const StoreConfig& c) { return std::string(c.cluster_enabled ? "yes" : "no"); },
                          nullptr});
    t.push_back(unsigned_parameter("maxclients", &StoreConfig::max_clients, 1, kMaxClientsLimit));
    t.push_back(Parameter{"port", [](const StoreConfig& c) { return std::to_string(c.port); }, nullptr});
    t.push_back(limit_parameter("proto-max-args", &RespLimits::max_args, 1, kMaxInt64));
    t.push_back(limit_parameter("proto-max-bulk-len", &RespLimits::max_bulk_bytes, 1, kMaxInt64));
    t.push_back(limit_parameter("proto-max-inline-bytes", &RespLimits::max_inline_bytes, 1, kMaxInt64));
    t.push_back(Parameter{"requirepass", [](const StoreConfig& c) { return c.requirepass; },
                          [](StoreConfig& c, std::string_view v) {
                            c.requirepass = std::string(v);
                            return std::string();
                          }});
    return t;
  }();
  return table;
}

}  // namespace

// ---- StoreConfig -----------------------------------------------------------------------------------

Status StoreConfig::validate() const {
  auto bad = [](std::string_view field, auto value, std::string_view expected) {
    return Status(Err::invalid, fmt::format("store config: {}={} is invalid: expected {}", field, value,
                                            expected));
  };
  if (port == 0) return bad("port", port, "a port in [1, 65535]");
  if (aof_page_size_bytes < Aof::kMinPageSizeBytes || aof_page_size_bytes > Aof::kMaxPageSizeBytes) {
    return bad("aof_page_size_bytes", aof_page_size_bytes,
               fmt::format("[{}, {}]", Aof::kMinPageSizeBytes, Aof::kMaxPageSizeBytes));
  }
  if (aof_segment_pages < 1) return bad("aof_segment_pages", aof_segment_pages, "at least 1");
  if (checkpoint_interval_ms < 0) {
    return bad("checkpoint_interval_ms", checkpoint_interval_ms, "0 (off) or a positive interval");
  }
  if (checkpoints_retained < 1 || checkpoints_retained > kMaxCheckpointsRetained) {
    return bad("checkpoints_retained", checkpoints_retained,
               fmt::format("[1, {}]", kMaxCheckpointsRetained));
  }
  if (max_clients < 1 || max_clients > kMaxClientsLimit) {
    return bad("max_clients", max_clients, fmt::format("[1, {}]", kMaxClientsLimit));
  }
  if (cluster_gossip_interval_ms < 1) {
    return bad("cluster_gossip_interval_ms", cluster_gossip_interval_ms, "a positive interval");
  }
  if (cluster_node_timeout_ms < 1) return bad("cluster_node_timeout_ms", cluster_node_timeout_ms, "a positive timeout");
  if (resp_limits.max_bulk_bytes < 1) return bad("resp_limits.max_bulk_bytes", 0, "at least 1");
  if (resp_limits.max_args < 1) return bad("resp_limits.max_args", 0, "at least 1");
  if (resp_limits.max_inline_bytes < 1) return bad("resp_limits.max_inline_bytes", 0, "at least 1");
  if (resp_limits.max_query_buffer_bytes < 1) {
    return bad("resp_limits.max_query_buffer_bytes", 0, "at least 1");
  }
  return Status::ok();
}

AofConfig StoreConfig::aof_config() const {
  AofConfig c;
  c.aof_page_size_bytes = aof_page_size_bytes;
  c.aof_segment_pages = aof_segment_pages;
  c.aof_fsync = appendfsync;
  c.bug_accept_records_over_page = known_bugs.aof_record_exceeds_page;
  return c;
}

Result<FsyncPolicy> parse_fsync_policy(std::string_view text) {
  const std::string lower = lowercase_ascii(text);
  if (lower == "always") return FsyncPolicy::always;
  if (lower == "everysec") return FsyncPolicy::everysec;
  if (lower == "no") return FsyncPolicy::no;
  return Status(Err::invalid,
                fmt::format("appendfsync '{}' is not one of always, everysec, no", text));
}

// ---- glob ------------------------------------------------------------------------------------------

bool glob_match(std::string_view pattern, std::string_view text, bool nocase) {
  // Iterative matching with one backtrack point for the last '*': linear in practice and never
  // recursive, so a hostile pattern cannot exhaust the stack.
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star_p = std::string_view::npos;
  std::size_t star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      while (p < pattern.size() && pattern[p] == '*') ++p;
      star_p = p;
      star_t = t;
      continue;
    }
    bool ok = false;
    std::size_t next_p = p;
    if (p < pattern.size()) {
      const char pc = pattern[p];
      if (pc == '?') {
        ok = true;
        next_p = p + 1;
      } else if (pc == '[') {
        next_p = p + 1;
        ok = match_class(pattern, next_p, text[t], nocase);
      } else if (pc == '\\' && p + 1 < pattern.size()) {
        ok = fold(pattern[p + 1], nocase) == fold(text[t], nocase);
        next_p = p + 2;
      } else {
        ok = fold(pc, nocase) == fold(text[t], nocase);
        next_p = p + 1;
      }
    }
    if (ok) {
      p = next_p;
      ++t;
    } else if (star_p != std::string_view::npos) {
      p = star_p;
      t = ++star_t;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// ---- CONFIG ----------------------------------------------------------------------------------------

std::vector<std::pair<std::string, std::string>> config_parameters(const StoreConfig& config) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Parameter& p : parameters()) out.emplace_back(std::string(p.name), p.get(config));
  return out;
}

std::vector<std::pair<std::string, std::string>> config_get(const StoreConfig& config,
                                                            std::string_view pattern) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Parameter& p : parameters()) {
    if (glob_match(pattern, p.name, true)) out.emplace_back(std::string(p.name), p.get(config));
  }
  return out;
}

Status config_set(StoreConfig& config, std::string_view name, std::string_view value) {
  const std::string lower = lowercase_ascii(name);
  const auto& table = parameters();
  auto it = std::find_if(table.begin(), table.end(), [&](const Parameter& p) { return p.name == lower; });
  if (it == table.end()) {
    return Status(Err::invalid,
                  fmt::format("ERR Unknown option or number of arguments for CONFIG SET - '{}'", name));
  }
  auto failed = [&](std::string_view reason) {
    return Status(Err::invalid, fmt::format("ERR CONFIG SET failed (possibly related to argument '{}') - {}",
                                            name, reason));
  };
  if (!it->set) return failed("can't set immutable config");
  StoreConfig changed = config;
  if (std::string reason = it->set(changed, value); !reason.empty()) return failed(reason);
  if (Status st = changed.validate(); !st) return failed(st.message());
  config = std::move(changed);
  return Status::ok();
}

}  // namespace replsim::core
