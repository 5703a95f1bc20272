// core/duplication_format.cpp — duplication states, dup.state and the duplication records (see
// duplication_format.h).
#include "core/duplication_format.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <map>

#include "core/cluster_config.h"
#include "core/commands.h"
#include "core/resp.h"

namespace replsim::core {

namespace {

constexpr std::string_view kHeader = "replsim-duplication 1";

constexpr std::array<std::pair<DupState, std::string_view>, 6> kStateNames = {{
    {DupState::init, "INIT"},
    {DupState::prepare, "PREPARE"},
    {DupState::app, "APP"},
    {DupState::log, "LOG"},
    {DupState::pause, "PAUSE"},
    {DupState::removed, "REMOVED"},
}};

bool id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

std::vector<std::string_view> split_spaces(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < line.size()) {
    while (pos < line.size() && line[pos] == ' ') ++pos;
    std::size_t end = pos;
    while (end < line.size() && line[end] != ' ') ++end;
    if (end > pos) out.push_back(line.substr(pos, end - pos));
    pos = end;
  }
  return out;
}

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  std::uint64_t v = 0;
  if (text.empty() || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

std::string to_hex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) out += fmt::format("{:02x}", static_cast<unsigned char>(c));
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    unsigned value = 0;
    const auto [ptr, ec] = std::from_chars(hex.data() + i, hex.data() + i + 2, value, 16);
    if (ec != std::errc() || ptr != hex.data() + i + 2) return std::nullopt;
    out += static_cast<char>(value);
  }
  return out;
}

}  // namespace

std::string_view dup_state_name(DupState state) {
  for (const auto& [s, name] : kStateNames) {
    if (s == state) return name;
  }
  return "?";
}

std::optional<DupState> parse_dup_state(std::string_view name) {
  for (const auto& [s, n] : kStateNames) {
    if (n == name) return s;
  }
  return std::nullopt;
}

bool valid_dup_id(std::string_view id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), id_char);
}

bool valid_dup_stream(std::string_view stream) {
  return !stream.empty() && stream.size() <= 128 && std::all_of(stream.begin(), stream.end(), id_char);
}

// ---- dup.state ----------------------------------------------------------------------------------

std::string serialize_dup_entries(const std::vector<DupEntry>& entries) {
  std::vector<const DupEntry*> sorted;
  for (const DupEntry& e : entries) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](const DupEntry* a, const DupEntry* b) { return a->id < b->id; });
  std::string out(kHeader);
  out += '\n';
  for (const DupEntry* e : sorted) {
    std::string targets;
    for (const std::string& t : e->targets) targets += (targets.empty() ? "" : ",") + t;
    out += fmt::format(
        "dup id={} stream={} state={} checkpoint={} log_started={} orphaned={} confirmed_decree={} "
        "confirmed_address={} log_start_decree={} targets={} password={}\n",
        e->id, e->stream, dup_state_name(e->state), e->with_checkpoint ? 1 : 0, e->log_started ? 1 : 0,
        e->orphaned ? 1 : 0, e->confirmed_decree, e->confirmed_address, e->log_start_decree, targets,
        e->password.empty() ? std::string("-") : to_hex(e->password));
  }
  return out;
}

Result<std::vector<DupEntry>> parse_dup_entries(std::string_view body) {
  std::vector<DupEntry> out;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  bool header_seen = false;
  while (pos < body.size()) {
    std::size_t end = body.find('\n', pos);
    if (end == std::string_view::npos) end = body.size();
    const std::string_view line = body.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    auto bad = [&](const std::string& what) {
      return Status(Err::invalid, fmt::format("{} line {}: {}; remove the file to forget every duplication of "
                                              "this node",
                                              kDupStateFile, line_no, what));
    };
    if (!header_seen) {
      if (line != kHeader) return bad(fmt::format("expected \"{}\", found \"{}\"", kHeader, line.substr(0, 64)));
      header_seen = true;
      continue;
    }
    if (line.empty()) continue;
    const std::vector<std::string_view> words = split_spaces(line);
    if (words.empty() || words[0] != "dup") return bad("expected a line starting with \"dup\"");
    std::map<std::string_view, std::string_view> fields;
    for (std::size_t i = 1; i < words.size(); ++i) {
      const std::size_t eq = words[i].find('=');
      if (eq == std::string_view::npos) return bad(fmt::format("expected key=value, found \"{}\"", words[i]));
      if (!fields.emplace(words[i].substr(0, eq), words[i].substr(eq + 1)).second) {
        return bad(fmt::format("field \"{}\" appears twice", words[i].substr(0, eq)));
      }
    }
    auto field = [&](std::string_view key) -> Result<std::string_view> {
      auto it = fields.find(key);
      if (it == fields.end()) return bad(fmt::format("missing field \"{}\"", key));
      return it->second;
    };
    DupEntry e;
    for (std::string_view key : {"id", "stream", "state", "checkpoint", "log_started", "orphaned", "confirmed_decree",
                                 "confirmed_address", "log_start_decree", "targets", "password"}) {
      auto v = field(key);
      if (!v) return v.status();
    }
    if (fields.size() != 11) return bad("unknown field (expected exactly the eleven fields of format 1)");
    e.id = std::string(fields["id"]);
    if (!valid_dup_id(e.id)) return bad(fmt::format("bad id \"{}\"", e.id));
    e.stream = std::string(fields["stream"]);
    if (!valid_dup_stream(e.stream)) return bad(fmt::format("bad stream \"{}\"", e.stream));
    const auto state = parse_dup_state(fields["state"]);
    if (!state) return bad(fmt::format("unknown state \"{}\"", fields["state"]));
    e.state = *state;
    for (auto [key, flag] : {std::pair<std::string_view, bool*>{"checkpoint", &e.with_checkpoint},
                             {"log_started", &e.log_started},
                             {"orphaned", &e.orphaned}}) {
      const std::string_view v = fields[key];
      if (v != "0" && v != "1") return bad(fmt::format("field \"{}\" must be 0 or 1, found \"{}\"", key, v));
      *flag = v == "1";
    }
    const auto decree = parse_u64(fields["confirmed_decree"]);
    const auto address = parse_u64(fields["confirmed_address"]);
    const auto start = parse_u64(fields["log_start_decree"]);
    if (!decree || !address || !start) {
      return bad("confirmed_decree, confirmed_address and log_start_decree must be decimal numbers");
    }
    e.confirmed_decree = *decree;
    e.confirmed_address = *address;
    e.log_start_decree = *start;
    std::string_view targets = fields["targets"];
    while (!targets.empty()) {
      const std::size_t comma = targets.find(',');
      e.targets.emplace_back(targets.substr(0, comma));
      targets = comma == std::string_view::npos ? std::string_view{} : targets.substr(comma + 1);
    }
    if (e.targets.empty()) return bad("no target address");
    if (fields["password"] != "-") {
      auto password = from_hex(fields["password"]);
      if (!password || password->empty()) return bad("the password must be hex digits or \"-\"");
      e.password = std::move(*password);
    }
    for (const DupEntry& other : out) {
      if (other.id == e.id) return bad(fmt::format("duplication \"{}\" appears twice", e.id));
    }
    out.push_back(std::move(e));
  }
  if (!header_seen) return Status(Err::invalid, fmt::format("{} is empty; remove it", kDupStateFile));
  if (out.size() > kMaxDuplications) {
    return Status(Err::invalid,
                  fmt::format("{} holds {} duplications, more than {}", kDupStateFile, out.size(), kMaxDuplications));
  }
  return out;
}

// ---- records ------------------------------------------------------------------------------------

namespace {

std::optional<std::int64_t> parse_slot(std::string_view text) {
  const auto slot = parse_int64_strict(text);
  if (!slot || *slot < kDupNoSlot || *slot >= kClusterSlots) return std::nullopt;
  return slot;
}

void raise_progress(Keyspace& keyspace, const std::string& key, std::uint64_t decree) {
  const Value* v = keyspace.find(key);
  const std::uint64_t now = v != nullptr && v->type() == ValueType::string ? parse_u64(v->str()).value_or(0) : 0;
  if (now < decree) keyspace.put(key, Value{std::to_string(decree), std::nullopt});
}

std::uint64_t progress_of(const Keyspace& keyspace, const std::string& key) {
  const Value* v = keyspace.find(key);
  if (v == nullptr || v->type() != ValueType::string) return 0;
  return parse_u64(v->str()).value_or(0);
}

}  // namespace

std::string dup_progress_key(std::string_view stream) {
  std::string key(kDupProgressKeyPrefix);
  key += stream;
  return key;
}

std::string dup_progress_key(std::string_view stream, int slot) {
  return fmt::format("{}{}:{}", kDupProgressKeyPrefix, stream, slot);
}

bool is_dup_progress_key(std::string_view key) { return key.starts_with(kDupProgressKeyPrefix); }

std::uint64_t dup_progress(const Keyspace& keyspace, std::string_view stream) {
  return progress_of(keyspace, dup_progress_key(stream));
}

std::uint64_t dup_progress(const Keyspace& keyspace, std::string_view stream, int slot) {
  return progress_of(keyspace, dup_progress_key(stream, slot));
}

int dup_record_slot(const std::vector<std::string>& argv) {
  if (argv.empty()) return kDupNoSlot;
  const CommandSpec* spec = find_command(lowercase_ascii(argv[0]));
  if (spec == nullptr || !spec->arity_ok(argv.size())) return kDupNoSlot;
  const std::vector<std::size_t> keys = command_key_positions(*spec, argv);
  return keys.empty() ? kDupNoSlot : key_hash_slot(argv[keys.front()]);
}

bool is_duplication_record(const std::vector<std::string>& argv) {
  return !argv.empty() && (argv[0] == kDupNoopRecord || argv[0] == kDupApplyRecord || argv[0] == kDupMarkRecord ||
                           argv[0] == kDupDefsRecord);
}

bool is_duplication_record(const std::vector<std::string_view>& argv) {
  return !argv.empty() && (argv[0] == kDupNoopRecord || argv[0] == kDupApplyRecord || argv[0] == kDupMarkRecord ||
                           argv[0] == kDupDefsRecord);
}

std::vector<std::string> make_dup_apply_record(std::string_view stream, int slot, std::uint64_t decree,
                                               const std::vector<std::string>& inner) {
  std::vector<std::string> out{std::string(kDupApplyRecord), std::string(stream), std::to_string(slot),
                               std::to_string(decree)};
  out.insert(out.end(), inner.begin(), inner.end());
  return out;
}

std::vector<DupEntry> dup_definitions(const Keyspace& keyspace) {
  const Value* v = keyspace.find(kDupDefsKey);
  if (v == nullptr || v->type() != ValueType::string) return {};
  auto entries = parse_dup_entries(v->str());
  return entries ? std::move(entries.value()) : std::vector<DupEntry>{};
}

DupEntry dup_definition_of(const DupEntry& e) {
  DupEntry d;
  d.id = e.id;
  d.stream = e.stream;
  d.targets = e.targets;
  d.password = e.password;
  d.with_checkpoint = e.with_checkpoint;
  d.state = e.state == DupState::pause ? DupState::pause : DupState::init;
  return d;
}

std::vector<std::string> make_dup_defs_record(const std::vector<DupEntry>& definitions) {
  return {std::string(kDupDefsRecord), serialize_dup_entries(definitions)};
}

std::vector<std::string> make_dup_mark_record(std::string_view stream, std::uint64_t decree) {
  return {std::string(kDupMarkRecord), std::string(stream), std::to_string(decree)};
}

Status apply_duplication_record(Keyspace& keyspace, const std::vector<std::string>& argv) {
  if (argv.empty()) return Status(Err::invalid, "cannot apply an empty record");
  if (argv[0] == kDupNoopRecord) {
    if (argv.size() != 1) return Status(Err::invalid, "cannot apply record DUPNOOP: it takes no arguments");
    return Status::ok();
  }
  if (argv[0] == kDupDefsRecord) {
    if (argv.size() != 2 || !parse_dup_entries(argv[1])) {
      return Status(Err::invalid, "cannot apply record DUPDEFS: expected DUPDEFS <dup.state body>");
    }
    keyspace.put(std::string(kDupDefsKey), Value{argv[1], std::nullopt});
    return Status::ok();
  }
  if (argv[0] == kDupMarkRecord) {
    std::uint64_t decree = 0;
    if (argv.size() == 3 && valid_dup_stream(argv[1])) decree = parse_u64(argv[2]).value_or(0);
    if (decree == 0) return Status(Err::invalid, "cannot apply record DUPMARK: expected DUPMARK <stream> <decree>");
    raise_progress(keyspace, dup_progress_key(argv[1]), decree);
    return Status::ok();
  }
  if (argv[0] != kDupApplyRecord) {
    return Status(Err::invalid, fmt::format("cannot apply record {}: not a duplication record", argv[0].substr(0, 32)));
  }
  if (argv.size() < 4 || !valid_dup_stream(argv[1])) {
    return Status(Err::invalid, "cannot apply record DUPAPPLY: expected DUPAPPLY <stream> <slot> <decree> [record...]");
  }
  const auto slot = parse_slot(argv[2]);
  const auto decree = parse_u64(argv[3]);
  if (!slot || !decree || *decree == 0) {
    return Status(Err::invalid, fmt::format("cannot apply record DUPAPPLY {}: bad slot \"{}\" or decree \"{}\"",
                                            argv[1], argv[2].substr(0, 32), argv[3].substr(0, 32)));
  }
  if (argv.size() > 4) {
    const std::vector<std::string> inner(argv.begin() + 4, argv.end());
    if (is_duplication_record(inner)) {
      return Status(Err::invalid,
                    fmt::format("cannot apply record DUPAPPLY {} {}: nested duplication record", argv[1], argv[3]));
    }
    if (Status st = apply_effect(keyspace, inner); !st) {
      return Status(Err::invalid, fmt::format("DUPAPPLY {} {}: {}", argv[1], argv[3], st.message()));
    }
  }
  raise_progress(keyspace, dup_progress_key(argv[1], static_cast<int>(*slot)), *decree);
  return Status::ok();
}

}  // namespace replsim::core
