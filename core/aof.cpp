// core/aof.cpp — the AOF's writer, readers and recovery.
//
// Everything here reads and writes through core::Env; the layout it produces is specified in
// core/doc/aof-format.md and this file must stay in step with it. Recovery never guesses: a damaged
// spot with verified data after it refuses the start, and only a damaged end is cut off.
#include "core/aof.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "core/crc32c.h"

namespace replsim::core {

namespace {

Status split_aof_payload(std::string_view payload, std::vector<std::string_view>* argv);
bool payload_is_valid(std::string_view payload);

// ==== byte helpers ================================================================================

// Built on the stack and appended once: every record header and argument length goes through these.
void put_u32(std::string& out, std::uint32_t v) {
  char bytes[4];
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>((v >> (8 * i)) & 0xFFu);
  out.append(bytes, sizeof bytes);
}

void put_u64(std::string& out, std::uint64_t v) {
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((v >> (8 * i)) & 0xFFu);
  out.append(bytes, sizeof bytes);
}

std::uint32_t get_u32(std::string_view b, std::size_t offset) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[offset + i]);
  return v;
}

std::uint64_t get_u64(std::string_view b, std::size_t offset) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[offset + i]);
  return v;
}

// Bytes as a C-like literal for messages: printable ASCII as is, the rest as \xNN.
std::string printable(std::string_view bytes) {
  std::string out;
  for (char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F && c != '"' && c != '\\') {
      out.push_back(c);
    } else {
      out += fmt::format("\\x{:02x}", u);
    }
  }
  return out;
}

// ==== segment header ==============================================================================

constexpr std::string_view kSegmentMagic = "RSAOFSEG";
constexpr std::uint32_t kSegmentFormatVersion = 1;
constexpr std::string_view kSegmentPrefix = "aof.";
constexpr std::size_t kSegmentHeaderCrcOffset = 60;
constexpr std::string_view kRestoreAdvice =
    "Restore the node from a replica (CLUSTER REPLICATE) or remove the AOF files to start empty";

bool parse_segment_name(std::string_view name, std::uint64_t* first_address) {
  if (name.size() != kSegmentPrefix.size() + 16 || !name.starts_with(kSegmentPrefix)) return false;
  std::uint64_t v = 0;
  for (char c : name.substr(kSegmentPrefix.size())) {
    std::uint64_t digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<std::uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<std::uint64_t>(c - 'a' + 10);
    } else {
      return false;
    }
    v = (v << 4) | digit;
  }
  *first_address = v;
  return true;
}

// The decoded header of one segment file.
struct SegmentHeader {
  std::uint64_t page_size_bytes = 0;
  std::uint64_t segment_pages = 0;
  std::uint64_t first_address = 0;
  std::uint64_t base_decree = 0;
};

// Checks a header read from the file named for name_first; the problem names the byte offset, what
// was expected and what was found.
Result<SegmentHeader> decode_segment_header(std::string_view h, std::uint64_t name_first) {
  if (h.size() < Aof::kSegmentHeaderBytes) {
    return Status(Err::io_error, fmt::format("the file holds {} bytes, less than the {}-byte segment header",
                                             h.size(), Aof::kSegmentHeaderBytes));
  }
  if (h.substr(0, kSegmentMagic.size()) != kSegmentMagic) {
    return Status(Err::io_error, fmt::format("bad magic at byte offset 0: expected \"{}\", found \"{}\"",
                                             kSegmentMagic, printable(h.substr(0, kSegmentMagic.size()))));
  }
  const std::uint32_t stored = get_u32(h, kSegmentHeaderCrcOffset);
  const std::uint32_t computed = crc32c(h.substr(0, kSegmentHeaderCrcOffset));
  if (stored != computed) {
    return Status(Err::io_error,
                  fmt::format("header checksum mismatch at byte offset {} (stored 0x{:08x}, computed 0x{:08x})",
                              kSegmentHeaderCrcOffset, stored, computed));
  }
  if (get_u32(h, 8) != kSegmentFormatVersion) {
    return Status(Err::io_error, fmt::format("unsupported format version {} at byte offset 8 (expected {})",
                                             get_u32(h, 8), kSegmentFormatVersion));
  }
  if (get_u32(h, 12) != Aof::kSegmentHeaderBytes) {
    return Status(Err::io_error, fmt::format("header size {} at byte offset 12 (expected {})", get_u32(h, 12),
                                             Aof::kSegmentHeaderBytes));
  }
  SegmentHeader out;
  out.page_size_bytes = get_u64(h, 16);
  out.segment_pages = get_u64(h, 24);
  out.first_address = get_u64(h, 32);
  out.base_decree = get_u64(h, 40);
  if (out.first_address != name_first) {
    return Status(Err::io_error,
                  fmt::format("first address {} at byte offset 32 does not match the file name (address {})",
                              out.first_address, name_first));
  }
  return out;
}

std::string encode_header(const AofConfig& config, std::uint64_t first_address, std::uint64_t base_decree) {
  std::string h(kSegmentMagic);
  put_u32(h, kSegmentFormatVersion);
  put_u32(h, static_cast<std::uint32_t>(Aof::kSegmentHeaderBytes));
  put_u64(h, config.aof_page_size_bytes);
  put_u64(h, config.aof_segment_pages);
  put_u64(h, first_address);
  put_u64(h, base_decree);
  h.resize(kSegmentHeaderCrcOffset, '\0');
  put_u32(h, crc32c(h));
  return h;
}

// ==== intents =====================================================================================
//
// reset_to and truncate_after change several files. Before touching any, they make an intent file
// durable that says what the end state is; open() finishes an intent it finds. So a crash inside
// either leaves the old log or the new one, never a mix a store could replay as the wrong history.

constexpr std::string_view kIntentName = "aof.intent";
constexpr std::string_view kIntentTmpName = "aof.intent.tmp";
constexpr std::string_view kIntentMagic = "RSAOFINT";
constexpr std::size_t kIntentBytes = 36;

enum class IntentKind : std::uint32_t { reset = 1, truncate_after = 2 };

struct Intent {
  IntentKind kind = IntentKind::reset;
  std::uint64_t address = 0;
  std::uint64_t decree = 0;  // the last decree before address once the intent is done
};

std::string_view intent_kind_name(IntentKind kind) {
  return kind == IntentKind::reset ? "reset" : "truncate_after";
}

std::string encode_intent(const Intent& intent) {
  std::string out(kIntentMagic);
  put_u32(out, kSegmentFormatVersion);
  put_u32(out, static_cast<std::uint32_t>(intent.kind));
  put_u64(out, intent.address);
  put_u64(out, intent.decree);
  put_u32(out, crc32c(out));
  return out;
}

Result<Intent> decode_intent(std::string_view b) {
  if (b.size() != kIntentBytes) {
    return Status(Err::io_error, fmt::format("the file holds {} bytes, expected {}", b.size(), kIntentBytes));
  }
  if (b.substr(0, kIntentMagic.size()) != kIntentMagic) {
    return Status(Err::io_error, fmt::format("bad magic at byte offset 0: expected \"{}\", found \"{}\"",
                                             kIntentMagic, printable(b.substr(0, kIntentMagic.size()))));
  }
  const std::uint32_t stored = get_u32(b, kIntentBytes - 4);
  const std::uint32_t computed = crc32c(b.substr(0, kIntentBytes - 4));
  if (stored != computed) {
    return Status(Err::io_error, fmt::format("checksum mismatch at byte offset {} (stored 0x{:08x}, computed "
                                             "0x{:08x})", kIntentBytes - 4, stored, computed));
  }
  const std::uint32_t kind = get_u32(b, 12);
  if (get_u32(b, 8) != kSegmentFormatVersion || (kind != 1 && kind != 2)) {
    return Status(Err::io_error, fmt::format("unsupported version {} or kind {} at byte offset 8", get_u32(b, 8),
                                             kind));
  }
  return Intent{static_cast<IntentKind>(kind), get_u64(b, 16), get_u64(b, 24)};
}

// Writes the intent durably: tmp, sync, rename, sync dir.
Status persist_intent(Env& env, const Intent& intent) {
  const std::string tmp(kIntentTmpName);
  Status s = env.remove(tmp);
  if (s.code() == Err::not_found) s = Status::ok();
  if (s) s = env.append(tmp, encode_intent(intent));
  if (s) s = env.sync(tmp);
  if (s) s = env.rename(tmp, std::string(kIntentName));
  if (s) s = env.sync_dir();
  if (!s) {
    return Status(s.code(), fmt::format("AOF could not record its intent to {} at address {}: {}",
                                        intent_kind_name(intent.kind), intent.address, s.to_string()));
  }
  return Status::ok();
}

Status clear_intent(Env& env) {
  Status s = env.remove(std::string(kIntentName));
  if (s) s = env.sync_dir();
  return s;
}

// Finishes an intent left by a crash. Works on file names and sizes only, and is idempotent, so a
// crash inside it is finished by the next open.
Status redo_intent(Env& env, const AofConfig& config) {
  auto names = env.list_files();
  if (!names) return names.status();
  bool has_intent = false;
  std::vector<std::pair<std::uint64_t, std::string>> segments;
  for (const std::string& name : *names) {
    std::uint64_t first = 0;
    if (name == kIntentName) has_intent = true;
    if (name == kIntentTmpName) {
      if (Status s = env.remove(name); !s) return s;
    }
    if (parse_segment_name(name, &first)) segments.emplace_back(first, name);
  }
  if (!has_intent) return Status::ok();
  Result<Intent> intent = Status(Err::io_error, "not read");
  for (int attempt = 0; attempt < 2 && !intent; ++attempt) {
    auto bytes = env.read_at(std::string(kIntentName), 0, kIntentBytes + 1);
    if (!bytes) return bytes.status();
    intent = decode_intent(*bytes);
  }
  if (!intent) {
    return Status(Err::io_error, fmt::format("AOF intent file {} is damaged: {}; refusing to start. {}", kIntentName,
                                             intent.status().message(), kRestoreAdvice));
  }
  std::sort(segments.begin(), segments.end());
  if (intent->kind == IntentKind::reset) {
    for (const auto& [first, name] : segments) {
      if (Status s = env.remove(name); !s) return s;
    }
    const std::string name = Aof::segment_file_name(intent->address);
    Status s = env.sync_dir();
    if (s) s = env.append(name, encode_header(config, intent->address, intent->decree));
    if (s) s = env.sync(name);
    if (s) s = env.sync_dir();
    if (!s) return s;
  } else {
    while (segments.size() > 1 && segments.back().first >= intent->address) {
      if (Status s = env.remove(segments.back().second); !s) return s;
      segments.pop_back();
    }
    if (Status s = env.sync_dir(); !s) return s;
    if (!segments.empty() && segments.back().first <= intent->address) {
      const std::string& name = segments.back().second;
      const std::uint64_t keep = Aof::kSegmentHeaderBytes + (intent->address - segments.back().first);
      auto size = env.file_size(name);
      if (!size) return size.status();
      if (*size > keep) {
        Status s = env.truncate(name, keep);
        if (s) s = env.sync(name);
        if (!s) return s;
      }
    }
  }
  if (Status s = clear_intent(env); !s) return s;
  env.log("aof.intent_redo", fmt::format("kind={} address={} decree={}", intent_kind_name(intent->kind),
                                         intent->address, intent->decree));
  return Status::ok();
}

// ==== record parsing ==============================================================================

std::uint32_t record_crc(std::uint64_t address, std::uint32_t length, std::uint64_t decree,
                         std::string_view payload) {
  // The covered header on the stack, little-endian as put_u64/put_u32 write it: this runs for every
  // record read or written, and a heap string here cost more than the checksum.
  char covered[20];
  for (int i = 0; i < 8; ++i) covered[i] = static_cast<char>((address >> (8 * i)) & 0xFFu);
  for (int i = 0; i < 4; ++i) covered[8 + i] = static_cast<char>((length >> (8 * i)) & 0xFFu);
  for (int i = 0; i < 8; ++i) covered[12 + i] = static_cast<char>((decree >> (8 * i)) & 0xFFu);
  Crc32c crc;
  crc.update(std::string_view(covered, sizeof covered));
  crc.update(payload);
  return crc.value();
}

enum class UnitProblem : std::uint8_t {
  none,
  incomplete,    // the available bytes end inside the unit
  bad_length,    // the length field is impossible at this position
  bad_checksum,  // the record's CRC32C does not match
  bad_padding,   // a padding holds a non-zero byte
  bad_payload,   // the checksum matches but the payload is not a valid argv (a writer bug)
  bad_decree,    // the record's decree does not continue the log (set by callers)
};

struct ParsedUnit {
  UnitProblem problem = UnitProblem::none;
  std::string detail;  // what was found, for messages
  AofUnit unit;
};

// Parses the unit at address. avail holds the log's bytes from address on, at most to the end of
// address's page (fewer when the log ends earlier). With verify false only the framing is checked
// (lengths, padding bytes), not the checksum or the payload: for bytes already verified or built by
// this process, held in its memory (Aof::recent_, a replica's chunk after append_raw).
ParsedUnit parse_unit(std::string_view avail, std::uint64_t address, std::uint64_t page_size, bool verify = true) {
  ParsedUnit out;
  out.unit.address = address;
  const std::uint64_t page_end = address - address % page_size + page_size;
  const std::uint64_t left = page_end - address;
  auto padding = [&](std::size_t check_from) {
    if (avail.size() < left) {
      out.problem = UnitProblem::incomplete;
      out.detail = fmt::format("the log ends inside the padding that starts at address {} ({} of its {} bytes "
                               "are present)", address, avail.size(), left);
      return;
    }
    for (std::size_t i = check_from; i < left; ++i) {
      if (avail[i] != '\0') {
        out.problem = UnitProblem::bad_padding;
        out.detail = fmt::format("the padding that starts at address {} holds the non-zero byte 0x{:02x} at "
                                 "address {}", address, static_cast<unsigned char>(avail[i]), address + i);
        return;
      }
    }
    out.unit.is_padding = true;
    out.unit.end = page_end;
    out.unit.bytes = avail.substr(0, left);
  };
  if (left < 4) {
    padding(0);
    return out;
  }
  if (avail.size() < 4) {
    out.problem = UnitProblem::incomplete;
    out.detail = fmt::format("the log ends inside the record header at address {} ({} of {} bytes are present)",
                             address, avail.size(), Aof::kRecordHeaderBytes);
    return out;
  }
  const std::uint32_t length = get_u32(avail, 0);
  if (length == Aof::kPaddingMarker) {
    padding(4);
    return out;
  }
  const std::uint64_t max_payload = left >= Aof::kRecordHeaderBytes ? left - Aof::kRecordHeaderBytes : 0;
  if (length < Aof::kMinPayloadBytes || length > max_payload) {
    out.problem = UnitProblem::bad_length;
    out.detail = fmt::format("Invalid length of record found: {} at address {} ({} bytes are left in the page "
                             "of {} bytes, so a payload there holds {} to {} bytes)",
                             length, address, left, page_size, Aof::kMinPayloadBytes, max_payload);
    return out;
  }
  const std::size_t framed = Aof::kRecordHeaderBytes + length;
  if (avail.size() < framed) {
    out.problem = UnitProblem::incomplete;
    out.detail = fmt::format("the log ends inside the record at address {} ({} of its {} bytes are present)",
                             address, avail.size(), framed);
    return out;
  }
  const std::uint32_t stored = get_u32(avail, 4);
  const std::uint64_t decree = get_u64(avail, 8);
  const std::string_view payload = avail.substr(Aof::kRecordHeaderBytes, length);
  const std::uint32_t computed = verify ? record_crc(address, length, decree, payload) : stored;
  if (stored != computed) {
    out.problem = UnitProblem::bad_checksum;
    out.detail = fmt::format("checksum mismatch in the record at address {} (stored 0x{:08x}, computed 0x{:08x})",
                             address, stored, computed);
    return out;
  }
  if (verify && !payload_is_valid(payload)) {
    const Status why = split_aof_payload(payload, nullptr);
    out.problem = UnitProblem::bad_payload;
    out.detail = fmt::format("the record at address {} has a valid checksum but a malformed payload ({})", address,
                             why.message());
    return out;
  }
  out.unit.end = address + framed;
  out.unit.decree = decree;
  out.unit.bytes = avail.substr(0, framed);
  out.unit.payload = payload;
  return out;
}

// Walks the units of bytes this process already holds verified in memory (Aof::recent_, a replica's
// chunk after append_raw), which start at address and end on a unit boundary: only their framing is
// read again (parse_unit without verify). fn(unit) returns false to stop. A failure to frame is not
// reached for bytes this process verified, but a writer bug (a known-bug switch) can put a unit
// across a page end: the unit that does not frame is returned (problem none when all did).
template <typename Fn>
ParsedUnit walk_units_in_memory(std::string_view bytes, std::uint64_t address, std::uint64_t page_size, Fn&& fn) {
  std::uint64_t offset = 0;
  while (offset < bytes.size()) {
    const std::uint64_t a = address + offset;
    const std::uint64_t in_page = a - a % page_size + page_size - a;
    const ParsedUnit parsed =
        parse_unit(bytes.substr(offset, std::min<std::uint64_t>(in_page, bytes.size() - offset)), a, page_size,
                   /*verify=*/false);
    if (parsed.problem != UnitProblem::none || !fn(parsed.unit)) return parsed;
    offset = parsed.unit.end - address;
  }
  return ParsedUnit{};
}

// Whether a whole record that verifies starts at address: the cheap test used when searching for
// valid data after a damaged spot (no messages, no payload decoding unless the checksum matches).
bool valid_record_at(std::string_view avail, std::uint64_t address, std::uint64_t page_size,
                     std::uint64_t* decree) {
  const std::uint64_t left = page_size - address % page_size;
  if (left < Aof::kRecordHeaderBytes + Aof::kMinPayloadBytes || avail.size() < Aof::kRecordHeaderBytes) {
    return false;
  }
  const std::uint32_t length = get_u32(avail, 0);
  if (length < Aof::kMinPayloadBytes || length > left - Aof::kRecordHeaderBytes) return false;
  if (avail.size() < Aof::kRecordHeaderBytes + length) return false;
  const std::uint64_t d = get_u64(avail, 8);
  if (get_u32(avail, 4) != record_crc(address, length, d, avail.substr(Aof::kRecordHeaderBytes, length))) {
    return false;
  }
  if (!payload_is_valid(avail.substr(Aof::kRecordHeaderBytes, length))) return false;
  *decree = d;
  return true;
}

// ==== recovery ====================================================================================

// One file named like a segment, as open() found it.
struct FileInfo {
  std::string name;
  std::uint64_t first_address = 0;  // from the name
  std::uint64_t file_bytes = 0;
  std::uint64_t data_bytes = 0;     // bytes after the header (0 when the file is shorter)
  bool header_ok = false;
  std::string header_problem;
  SegmentHeader header;
};

// The result of one pass over the files.
struct Analysis {
  bool clean = true;
  std::uint64_t end_address = 0;  // the tail when clean, else the first damaged address
  std::string reason;             // what was found at end_address
  std::uint64_t last_decree = 0;  // of the last valid record before end_address
  std::uint64_t records = 0;
  std::uint64_t rereads = 0;
  // How many files, from the first, hold the valid prefix [begin, end_address). The files after them
  // are no part of the log, whatever their names say (a misnamed file may start inside the prefix).
  std::size_t prefix_files = 0;
};

// A valid record found after a damaged spot.
struct LaterRecord {
  std::uint64_t address = 0;
  std::uint64_t decree = 0;
  std::string file;
};

class Recoverer {
 public:
  Recoverer(Env& env, const AofConfig& config) : env_(env), config_(config) {}

  Status load_files();
  Status check_config() const;
  Result<Analysis> analyze() const;
  // The first record at or after address that verifies on its own (the unit at address counts too:
  // a damaged segment header or a decree out of sequence leaves it intact).
  Result<std::optional<LaterRecord>> find_valid_after(std::uint64_t address) const;
  // Damage with a valid record at or after it refuses the start; otherwise it is a torn tail and
  // everything from it on is cut (durably, from the end backwards) and reported in summary.
  Status settle_damage(const Analysis& analysis, AofRecovery* summary);
  std::vector<FileInfo>& files() { return files_; }
  // The file that holds address (the last one starting at or before it).
  const FileInfo& file_at(std::uint64_t address) const;

 private:
  std::uint64_t page_size() const { return config_.aof_page_size_bytes; }
  std::uint64_t segment_size() const { return config_.aof_page_size_bytes * config_.aof_segment_pages; }
  Result<std::string> read_data(const FileInfo& f, std::uint64_t address, std::uint64_t length) const {
    return env_.read_at(f.name, Aof::kSegmentHeaderBytes + (address - f.first_address), length);
  }
  // Parses one page chunk starting at a unit boundary; stops at the first problem.
  struct ChunkResult {
    UnitProblem problem = UnitProblem::none;
    std::uint64_t problem_address = 0;
    std::string detail;
    std::uint64_t last_decree = 0;
    std::uint64_t records = 0;
  };
  ChunkResult parse_chunk(std::string_view bytes, std::uint64_t start, std::uint64_t last_decree) const;

  Env& env_;
  AofConfig config_;
  std::vector<FileInfo> files_;
};

Status Recoverer::load_files() {
  auto names = env_.list_files();
  if (!names) return names.status();
  for (const std::string& name : *names) {
    FileInfo f;
    if (!parse_segment_name(name, &f.first_address)) continue;
    f.name = name;
    auto size = env_.file_size(name);
    if (!size) return size.status();
    f.file_bytes = *size;
    f.data_bytes = f.file_bytes > Aof::kSegmentHeaderBytes ? f.file_bytes - Aof::kSegmentHeaderBytes : 0;
    // A header that fails is read once more: a read-time fault must not look like damage at rest.
    for (int attempt = 0; attempt < 2 && !f.header_ok; ++attempt) {
      auto bytes = env_.read_at(name, 0, Aof::kSegmentHeaderBytes);
      if (!bytes) return bytes.status();
      auto header = decode_segment_header(*bytes, f.first_address);
      f.header_ok = header.is_ok();
      if (header) {
        f.header = *header;
      } else {
        f.header_problem = header.status().message();
      }
    }
    files_.push_back(std::move(f));
  }
  std::sort(files_.begin(), files_.end(),
            [](const FileInfo& a, const FileInfo& b) { return a.first_address < b.first_address; });
  return Status::ok();
}

Status Recoverer::check_config() const {
  for (const FileInfo& f : files_) {
    if (!f.header_ok) continue;
    if (f.header.page_size_bytes != config_.aof_page_size_bytes ||
        f.header.segment_pages != config_.aof_segment_pages) {
      return Status(Err::invalid,
                    fmt::format("AOF {} was written with aof_page_size_bytes={} and aof_segment_pages={}, but this "
                                "node is configured with aof_page_size_bytes={} and aof_segment_pages={}; "
                                "refusing to start. Configure the values the AOF was written with (every node "
                                "of a cluster must use the same aof_page_size_bytes) or remove the AOF files "
                                "to start empty",
                                f.name, f.header.page_size_bytes, f.header.segment_pages,
                                config_.aof_page_size_bytes, config_.aof_segment_pages));
    }
  }
  return Status::ok();
}

const FileInfo& Recoverer::file_at(std::uint64_t address) const {
  const FileInfo* found = &files_.front();
  for (const FileInfo& f : files_) {
    if (f.first_address <= address) found = &f;
  }
  return *found;
}

Recoverer::ChunkResult Recoverer::parse_chunk(std::string_view bytes, std::uint64_t start,
                                              std::uint64_t last_decree) const {
  ChunkResult r;
  r.last_decree = last_decree;
  std::uint64_t offset = 0;
  while (offset < bytes.size()) {
    const std::uint64_t address = start + offset;
    ParsedUnit parsed = parse_unit(bytes.substr(offset), address, page_size());
    if (parsed.problem == UnitProblem::none && !parsed.unit.is_padding &&
        parsed.unit.decree != r.last_decree + 1) {
      parsed.problem = UnitProblem::bad_decree;
      parsed.detail = fmt::format("the record at address {} has decree {} where {} was expected", address,
                                  parsed.unit.decree, r.last_decree + 1);
    }
    if (parsed.problem != UnitProblem::none) {
      r.problem = parsed.problem;
      r.problem_address = address;
      r.detail = std::move(parsed.detail);
      return r;
    }
    if (!parsed.unit.is_padding) {
      r.last_decree = parsed.unit.decree;
      ++r.records;
    }
    offset = parsed.unit.end - start;
  }
  return r;
}

Result<Analysis> Recoverer::analyze() const {
  Analysis a;
  auto damaged = [&](std::uint64_t address, std::string reason, std::size_t prefix_files) {
    a.clean = false;
    a.end_address = address;
    a.reason = std::move(reason);
    a.prefix_files = prefix_files;
    return a;
  };
  const FileInfo& front = files_.front();
  if (!front.header_ok) {
    return damaged(front.first_address,
                   fmt::format("the segment header of {} is damaged: {}", front.name, front.header_problem), 0);
  }
  std::uint64_t address = front.first_address;
  a.last_decree = front.header.base_decree;
  for (std::size_t i = 0; i < files_.size(); ++i) {
    const FileInfo& f = files_[i];
    if (i > 0) {
      const FileInfo& prev = files_[i - 1];
      if (f.first_address % segment_size() != 0) {
        return damaged(address, fmt::format("{} starts at address {}, which is not a segment boundary (a multiple "
                                            "of {} bytes)", f.name, f.first_address, segment_size()), i);
      }
      if (address != f.first_address) {
        return damaged(address, fmt::format("{} ends at address {} before its segment end {}, but {} follows: "
                                            "the bytes [{}, {}) are missing", prev.name, address,
                                            f.first_address, f.name, address, f.first_address), i);
      }
      if (!f.header_ok) {
        return damaged(address, fmt::format("the segment header of {} is damaged: {}", f.name, f.header_problem), i);
      }
      if (f.header.base_decree != a.last_decree) {
        return damaged(address, fmt::format("the segment header of {} says the record before it has decree {}, "
                                            "but the log's last record has decree {}",
                                            f.name, f.header.base_decree, a.last_decree), i);
      }
    }
    const std::uint64_t seg_end = f.first_address - f.first_address % segment_size() + segment_size();
    const std::uint64_t data_end = f.first_address + f.data_bytes;
    const std::uint64_t scan_end = std::min(data_end, seg_end);
    while (address < scan_end) {
      const std::uint64_t chunk_end = std::min(address - address % page_size() + page_size(), scan_end);
      ChunkResult chunk;
      for (int attempt = 0; attempt < 2; ++attempt) {
        auto bytes = read_data(f, address, chunk_end - address);
        if (!bytes) return bytes.status();
        chunk = parse_chunk(*bytes, address, a.last_decree);
        if (chunk.problem == UnitProblem::none) {
          if (attempt > 0) ++a.rereads;
          break;
        }
      }
      a.records += chunk.records;
      a.last_decree = chunk.last_decree;
      if (chunk.problem != UnitProblem::none) return damaged(chunk.problem_address, std::move(chunk.detail), i + 1);
      address = chunk_end;
    }
    if (data_end > seg_end) {
      return damaged(seg_end, fmt::format("{} holds {} bytes past its segment end {}", f.name, data_end - seg_end,
                                          seg_end), i + 1);
    }
  }
  a.end_address = address;
  a.prefix_files = files_.size();
  return a;
}

Result<std::optional<LaterRecord>> Recoverer::find_valid_after(std::uint64_t address) const {
  for (const FileInfo& f : files_) {
    const std::uint64_t data_end = f.first_address + f.data_bytes;
    std::uint64_t from = std::max(f.first_address, address);
    while (from < data_end) {
      const std::uint64_t page_begin = std::max(from - from % page_size(), f.first_address);
      const std::uint64_t page_end = std::min(from - from % page_size() + page_size(), data_end);
      auto bytes = read_data(f, page_begin, page_end - page_begin);
      if (!bytes) return bytes.status();
      for (std::uint64_t a = from; a < page_end; ++a) {
        std::uint64_t decree = 0;
        if (valid_record_at(std::string_view(*bytes).substr(a - page_begin), a, page_size(), &decree)) {
          return std::optional<LaterRecord>(LaterRecord{a, decree, f.name});
        }
      }
      from = page_end;
    }
  }
  return std::optional<LaterRecord>();
}

Status Recoverer::settle_damage(const Analysis& analysis, AofRecovery* summary) {
  const std::uint64_t x = analysis.end_address;
  // The search is done twice with fresh reads before anything is cut, so a read-time fault cannot
  // hide a valid record.
  std::optional<LaterRecord> later;
  for (int attempt = 0; attempt < 2 && !later; ++attempt) {
    auto found = find_valid_after(x);
    if (!found) return found.status();
    later = *found;
  }
  if (later) {
    return Status(Err::io_error,
                  fmt::format("AOF {} is corrupt at address {}: {}, with valid records after it (decree {} at "
                              "address {} in {}); refusing to start. {}",
                              file_at(x).name, x, analysis.reason, later->decree, later->address, later->file,
                              kRestoreAdvice));
  }
  summary->torn_tail = true;
  summary->torn_address = x;
  summary->torn_reason = analysis.reason;
  // Cut from the end backwards, making each removal durable, so a crash in here leaves a prefix. A
  // damaged first header (with nothing valid anywhere) leaves no begin address: the log starts anew.
  // Files after the valid prefix go even when their names put them inside it: kept, a misnamed file
  // would overlap the prefix and the log would not read back.
  const bool drop_all = !files_.front().header_ok;
  while (!files_.empty()) {
    FileInfo& f = files_.back();
    if (!(drop_all || files_.size() > analysis.prefix_files || f.first_address > x ||
          (f.first_address == x && files_.size() > 1))) {
      break;
    }
    summary->bytes_dropped += f.data_bytes;
    if (Status s = env_.remove(f.name); !s) return s;
    if (Status s = env_.sync_dir(); !s) return s;
    files_.pop_back();
  }
  if (!files_.empty()) {
    FileInfo& f = files_.back();
    const std::uint64_t keep = x - f.first_address;
    if (f.data_bytes > keep) {
      summary->bytes_dropped += f.data_bytes - keep;
      if (Status s = env_.truncate(f.name, Aof::kSegmentHeaderBytes + keep); !s) return s;
      f.data_bytes = keep;
    }
  }
  env_.log("aof.truncate_tail", fmt::format("address={} bytes_dropped={} reason=\"{}\"", x, summary->bytes_dropped,
                                            summary->torn_reason));
  return Status::ok();
}

}  // namespace

// ==== record encoding =============================================================================

std::string encode_aof_payload(const std::vector<std::string>& argv) {
  std::string out;
  out.reserve(Aof::payload_size(argv));
  put_u32(out, static_cast<std::uint32_t>(argv.size()));
  for (const std::string& arg : argv) {
    put_u32(out, static_cast<std::uint32_t>(arg.size()));
    out += arg;
  }
  return out;
}

namespace {

// Whether the lengths in a payload add up exactly. The quick form of split_aof_payload's checks:
// it runs for every record any reader verifies, and builds no Status.
bool payload_is_valid(std::string_view payload) {
  if (payload.size() < 4) return false;
  const std::uint32_t argc = get_u32(payload, 0);
  if (argc == 0 || argc > (payload.size() - 4) / 4) return false;
  std::size_t offset = 4;
  for (std::uint32_t i = 0; i < argc; ++i) {
    if (payload.size() - offset < 4) return false;
    const std::uint32_t length = get_u32(payload, offset);
    offset += 4;
    if (payload.size() - offset < length) return false;
    offset += length;
  }
  return offset == payload.size();
}

// Checks a payload and, when argv is not null, appends its arguments (views into payload) to argv.
// Without argv nothing is allocated.
Status split_aof_payload(std::string_view payload, std::vector<std::string_view>* argv) {
  if (payload.size() < 4) {
    return Status(Err::invalid, fmt::format("payload of {} bytes is shorter than its 4-byte argument count",
                                            payload.size()));
  }
  const std::uint32_t argc = get_u32(payload, 0);
  if (argc == 0) return Status(Err::invalid, "argument count 0 at payload offset 0");
  // Every argument needs at least its 4-byte length, which bounds argc before anything is allocated.
  if (argc > (payload.size() - 4) / 4) {
    return Status(Err::invalid, fmt::format("argument count {} at payload offset 0 does not fit in {} bytes", argc,
                                            payload.size()));
  }
  if (argv != nullptr) argv->reserve(argv->size() + argc);
  std::size_t offset = 4;
  for (std::uint32_t i = 0; i < argc; ++i) {
    if (payload.size() - offset < 4) {
      return Status(Err::invalid, fmt::format("payload ends at offset {} before the length of argument {}",
                                              offset, i));
    }
    const std::uint32_t length = get_u32(payload, offset);
    offset += 4;
    if (payload.size() - offset < length) {
      return Status(Err::invalid, fmt::format("argument {} of {} bytes at payload offset {} runs past the end "
                                              "({} bytes)", i, length, offset - 4, payload.size()));
    }
    if (argv != nullptr) argv->push_back(payload.substr(offset, length));
    offset += length;
  }
  if (offset != payload.size()) {
    return Status(Err::invalid, fmt::format("{} bytes follow the last argument at payload offset {}",
                                            payload.size() - offset, offset));
  }
  return Status::ok();
}

}  // namespace

Result<std::vector<std::string_view>> decode_aof_payload(std::string_view payload) {
  std::vector<std::string_view> argv;
  if (Status s = split_aof_payload(payload, &argv); !s) return s;
  return argv;
}

void append_aof_record(std::string& out, std::uint64_t address, std::uint64_t decree,
                       const std::vector<std::string>& argv) {
  const std::size_t header_at = out.size();
  const auto length = static_cast<std::uint32_t>(Aof::payload_size(argv));
  put_u32(out, length);
  put_u32(out, 0);  // the checksum, filled in once the payload is in place
  put_u64(out, decree);
  put_u32(out, static_cast<std::uint32_t>(argv.size()));
  for (const std::string& arg : argv) {
    put_u32(out, static_cast<std::uint32_t>(arg.size()));
    out += arg;
  }
  const std::string_view payload = std::string_view(out).substr(header_at + Aof::kRecordHeaderBytes);
  const std::uint32_t crc = record_crc(address, length, decree, payload);
  for (int i = 0; i < 4; ++i) out[header_at + 4 + i] = static_cast<char>((crc >> (8 * i)) & 0xFFu);
}

std::string encode_aof_record(std::uint64_t address, std::uint64_t decree, std::string_view payload) {
  std::string out;
  out.reserve(Aof::kRecordHeaderBytes + payload.size());
  const auto length = static_cast<std::uint32_t>(payload.size());
  put_u32(out, length);
  put_u32(out, record_crc(address, length, decree, payload));
  put_u64(out, decree);
  out += payload;
  return out;
}

// ==== small public helpers ========================================================================

std::string_view fsync_policy_name(FsyncPolicy policy) {
  switch (policy) {
    case FsyncPolicy::always: return "always";
    case FsyncPolicy::everysec: return "everysec";
    case FsyncPolicy::no: return "no";
  }
  return "unknown";
}

std::string AofRecovery::to_string() const {
  std::string out = fmt::format("begin={} tail={} base_decree={} last_decree={} records={} segments={}",
                                begin_address, tail_address, base_decree, last_decree, records, segments);
  if (torn_tail) {
    out += fmt::format(" torn_tail_at={} bytes_dropped={} reason=\"{}\"", torn_address, bytes_dropped, torn_reason);
  }
  if (reread_recovered > 0) out += fmt::format(" rereads={}", reread_recovered);
  return out;
}

std::string Aof::segment_file_name(std::uint64_t first_address) {
  return fmt::format("{}{:016x}", kSegmentPrefix, first_address);
}

std::size_t Aof::payload_size(const std::vector<std::string>& argv) {
  std::size_t n = 4;
  for (const std::string& arg : argv) n += 4 + arg.size();
  return n;
}

Status Aof::check_record_fits(std::size_t framed_bytes) const {
  // KNOWN BUG aof-record-exceeds-page (incident 000): Garnet took a record as large as its page and
  // wrote it; the record then runs past the page end, where every reader rejects it.
  if (config_.bug_accept_records_over_page) return Status::ok();
  if (framed_bytes > page_size()) {
    return Status(Err::invalid, fmt::format("record of {} bytes does not fit aof_page_size_bytes={}; raise "
                                            "aof_page_size_bytes", framed_bytes, page_size()));
  }
  return Status::ok();
}

std::uint64_t Aof::base_decree() const { return segments_.empty() ? 0 : segments_.front().base_decree; }

std::vector<std::string> Aof::segment_names() const {
  std::vector<std::string> out;
  for (const Segment& s : segments_) out.push_back(s.name);
  return out;
}

Aof::Aof(Env& env, AofConfig config) : env_(env), config_(config) {}

std::uint64_t Aof::segment_end(std::uint64_t first_address) const {
  return first_address - first_address % segment_size_bytes() + segment_size_bytes();
}

std::string Aof::encode_segment_header(std::uint64_t first_address, std::uint64_t base_decree) const {
  return encode_header(config_, first_address, base_decree);
}

// ==== open and recovery ===========================================================================

Result<std::unique_ptr<Aof>> Aof::open(Env& env, AofConfig config) {
  if (config.aof_page_size_bytes < kMinPageSizeBytes || config.aof_page_size_bytes > kMaxPageSizeBytes) {
    return Status(Err::invalid, fmt::format("aof_page_size_bytes={} is out of range [{}, {}]",
                                            config.aof_page_size_bytes, kMinPageSizeBytes, kMaxPageSizeBytes));
  }
  if (config.aof_segment_pages < 1 || config.aof_segment_pages > (std::uint64_t{1} << 40) / config.aof_page_size_bytes) {
    return Status(Err::invalid, fmt::format("aof_segment_pages={} is out of range (at least 1, and a segment of at "
                                            "most 2^40 bytes)", config.aof_segment_pages));
  }
  std::unique_ptr<Aof> aof(new Aof(env, config));
  if (Status s = redo_intent(env, config); !s) return s;
  Recoverer rec(env, config);
  if (Status s = rec.load_files(); !s) return s;
  if (Status s = rec.check_config(); !s) return s;
  AofRecovery& summary = aof->recovery_;
  if (rec.files().empty()) {
    env.log("aof.open", "begin=0 tail=0 records=0 segments=0 empty=true");
    return aof;
  }
  auto analysis = rec.analyze();
  if (!analysis) return analysis.status();
  summary.records = analysis->records;
  summary.reread_recovered = analysis->rereads;
  std::vector<FileInfo>& files = rec.files();
  const std::uint64_t x = analysis->end_address;
  if (!analysis->clean) {
    if (Status s = rec.settle_damage(*analysis, &summary); !s) return s;
  }
  for (const FileInfo& f : files) {
    aof->segments_.push_back(Segment{f.first_address, f.header.base_decree, f.data_bytes, f.data_bytes, f.name});
  }
  if (aof->segments_.empty()) {
    // The only segment's header was damaged and nothing in it verified: a brand-new empty log.
    aof->last_decree_ = 0;
  } else {
    aof->begin_address_ = aof->segments_.front().first_address;
    aof->tail_address_ = x;
    aof->last_decree_ = analysis->last_decree;
    // What survived a crash of the process (not of the machine) may still sit in the page cache.
    if (Status s = env.sync(aof->segments_.back().name); !s) return s;
  }
  if (Status s = env.sync_dir(); !s) return s;
  aof->synced_tail_ = aof->tail_address_;
  summary.begin_address = aof->begin_address_;
  summary.tail_address = aof->tail_address_;
  summary.base_decree = aof->base_decree();
  summary.last_decree = aof->last_decree_;
  summary.segments = aof->segments_.size();
  env.log("aof.open", summary.to_string());
  return aof;
}

// ==== reading =====================================================================================

Status Aof::check_in_log(std::uint64_t address, std::string_view what) const {
  if (address < begin_address_ || address > tail_address_) {
    return Status(Err::invalid, fmt::format("{}: address {} is outside the AOF [{}, {}]", what, address,
                                            begin_address_, tail_address_));
  }
  return Status::ok();
}

Status Aof::read_log(std::uint64_t address, std::uint64_t length, std::string& out) {
  out.clear();
  const std::uint64_t end = address + length;
  std::string more;  // a second segment's bytes (a range crossing a segment end)
  for (const Segment& s : segments_) {
    const std::uint64_t s_end = s.first_address + s.data_bytes;
    if (s_end <= address || s.first_address >= end) continue;
    const std::uint64_t from = std::max(address, s.first_address);
    const std::uint64_t to = std::min(end, s_end);
    // The range mostly lies in one segment: its bytes are read straight into out.
    std::string& into = out.empty() ? out : more;
    if (Status st = env_.read_at_into(s.name, kSegmentHeaderBytes + (from - s.first_address), to - from, into); !st) {
      return st;
    }
    if (into.size() != to - from) {
      return Status(Err::io_error, fmt::format("AOF {} is shorter than expected: read {} bytes at address {}, "
                                               "wanted {}", s.name, into.size(), from, to - from));
    }
    if (&into != &out) out += into;
  }
  if (out.size() != length) {
    return Status(Err::invalid, fmt::format("AOF range [{}, {}) is not all present", address, end));
  }
  return Status::ok();
}

Status Aof::walk(std::uint64_t from, std::uint64_t to, std::uint64_t expected_decree,
                 const std::function<bool(const AofUnit&)>& fn) {
  std::uint64_t address = from;
  std::uint64_t expected = expected_decree;
  // The unit list of a page is borrowed from the Aof, so a walk allocates none; a walk started from
  // inside fn (none does so today) would find it empty and use its own.
  // The page buffer is borrowed the same way: a walk reads page after page into it.
  struct Borrowed {
    std::vector<AofUnit>& home;
    std::vector<AofUnit> units;
    std::string& bytes_home;
    std::string bytes;
    Borrowed(std::vector<AofUnit>& h, std::string& b)
        : home(h), units(std::move(h)), bytes_home(b), bytes(std::move(b)) {}
    ~Borrowed() {
      units.clear();
      home = std::move(units);
      bytes_home = std::move(bytes);
    }
    Borrowed(const Borrowed&) = delete;
    Borrowed& operator=(const Borrowed&) = delete;
  } borrowed(walk_units_, walk_bytes_);
  std::vector<AofUnit>& units = borrowed.units;
  std::string& bytes = borrowed.bytes;
  while (address < to) {
    const std::uint64_t chunk_end = std::min(page_start(address) + page_size(), tail_address_);
    units.clear();
    ParsedUnit failed;
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (Status read = read_log(address, chunk_end - address, bytes); !read) return read;
      units.clear();
      failed = ParsedUnit{};
      std::uint64_t want = expected;
      for (std::uint64_t a = address; a < chunk_end && a < to;) {
        ParsedUnit parsed = parse_unit(std::string_view(bytes).substr(a - address), a, page_size());
        if (parsed.problem == UnitProblem::none && !parsed.unit.is_padding && want != 0 &&
            parsed.unit.decree != want) {
          parsed.problem = UnitProblem::bad_decree;
          parsed.detail = fmt::format("the record at address {} has decree {} where {} was expected", a,
                                      parsed.unit.decree, want);
        }
        if (parsed.problem != UnitProblem::none) {
          failed = std::move(parsed);
          break;
        }
        if (!parsed.unit.is_padding) want = parsed.unit.decree + 1;
        a = parsed.unit.end;
        units.push_back(parsed.unit);
      }
      if (failed.problem == UnitProblem::none) break;
    }
    if (failed.problem != UnitProblem::none) {
      const Segment* seg = &segments_.front();
      for (const Segment& s : segments_) {
        if (s.first_address <= failed.unit.address) seg = &s;
      }
      return Status(Err::io_error, fmt::format("AOF {} is corrupt at address {}: {} (read twice)", seg->name,
                                               failed.unit.address, failed.detail));
    }
    for (const AofUnit& unit : units) {
      if (!unit.is_padding) expected = unit.decree + 1;
      if (!fn(unit)) return Status::ok();
    }
    address = units.empty() ? chunk_end : units.back().end;
  }
  return Status::ok();
}

void Aof::remember_boundary(std::uint64_t address, std::uint64_t decree_before) {
  if (address == 0) return;
  for (auto& known : known_boundaries_) {
    if (known.first != address) continue;
    if (decree_before != kUnknownDecree) known.second = decree_before;
    return;
  }
  known_boundaries_[next_known_boundary_] = {address, decree_before};
  next_known_boundary_ = (next_known_boundary_ + 1) % known_boundaries_.size();
}

const std::pair<std::uint64_t, std::uint64_t>* Aof::known_boundary(std::uint64_t address) const {
  for (const auto& known : known_boundaries_) {
    if (known.first == address && address != 0) return &known;
  }
  return nullptr;
}

Status Aof::check_boundary(std::uint64_t address) {
  if (Status s = check_in_log(address, "AOF read"); !s) return s;
  if (address == begin_address_ || address == tail_address_ || address % page_size() == 0) return Status::ok();
  if (known_boundary(address) != nullptr) return Status::ok();
  std::uint64_t end = std::max(begin_address_, page_start(address));
  Status s = walk(end, address, 0, [&](const AofUnit& unit) {
    end = unit.end;
    return true;
  });
  if (!s) return s;
  if (end != address) {
    return Status(Err::invalid, fmt::format("address {} is not a record boundary of the AOF (a unit ends at {})",
                                            address, end));
  }
  remember_boundary(address);
  return Status::ok();
}

Result<std::uint64_t> Aof::decree_before(std::uint64_t address) {
  if (Status s = check_boundary(address); !s) return s;
  if (const auto* known = known_boundary(address); known != nullptr && known->second != kUnknownDecree) {
    return known->second;
  }
  std::uint64_t end = address;
  while (end > begin_address_) {
    const std::uint64_t start = std::max(begin_address_, page_start(end - 1));
    std::optional<std::uint64_t> last;
    Status s = walk(start, end, 0, [&](const AofUnit& unit) {
      if (!unit.is_padding) last = unit.decree;
      return true;
    });
    if (!s) return s;
    if (last) return *last;
    end = start;
  }
  return base_decree();
}

Status Aof::scan(std::uint64_t from_address, const AofScanFn& fn) {
  auto before = decree_before(from_address);
  if (!before) return before.status();
  AofRecord record;
  return walk(from_address, tail_address_, *before + 1, [&](const AofUnit& unit) {
    if (unit.is_padding) return true;
    record.address = unit.address;
    record.end_address = unit.end;
    record.decree = unit.decree;
    record.argv.clear();
    // Cannot fail: parse_unit verified the payload.
    (void)split_aof_payload(unit.payload, &record.argv);
    return fn(record);
  });
}

Result<std::string> Aof::read_raw(std::uint64_t from, std::size_t max_bytes) {
  std::string out;
  if (Status s = read_raw(from, max_bytes, out); !s) return s;
  return out;
}

Status Aof::read_raw(std::uint64_t from, std::size_t max_bytes, std::string& out) {
  out.clear();
  if (Status s = check_boundary(from); !s) return s;
  if (from >= recent_begin_ && recent_begin_ + recent_.size() == tail_address_) {
    return read_recent(from, max_bytes, out);
  }
  out.reserve(std::min<std::uint64_t>(max_bytes, tail_address_ - from));
  std::uint64_t last_decree = kUnknownDecree;
  Status s = walk(from, tail_address_, 0, [&](const AofUnit& unit) {
    if (!out.empty() && out.size() + unit.bytes.size() > max_bytes) return false;
    out += unit.bytes;
    if (!unit.is_padding) last_decree = unit.decree;
    return true;
  });
  if (!s) return s;
  remember_boundary(from + out.size(), last_decree);
  return Status::ok();
}

Status Aof::read_recent(std::uint64_t from, std::size_t max_bytes, std::string& out) {
  // Bytes write_units wrote, each unit built by append() or verified by append_raw().
  std::uint64_t last_decree = kUnknownDecree;
  const ParsedUnit failed = walk_units_in_memory(
      std::string_view(recent_).substr(from - recent_begin_), from, page_size(), [&](const AofUnit& unit) {
        if (!out.empty() && out.size() + unit.bytes.size() > max_bytes) return false;
        out += unit.bytes;
        if (!unit.is_padding) last_decree = unit.decree;
        return true;
      });
  if (failed.problem != UnitProblem::none) {
    out.clear();
    return Status(Err::io_error, fmt::format("AOF's in-memory copy of its last writes does not verify at "
                                             "address {}: {}", failed.unit.address, failed.detail));
  }
  remember_boundary(from + out.size(), last_decree);
  return Status::ok();
}

// ==== writing =====================================================================================

Status Aof::check_writable() const {
  if (!write_error_.is_ok()) return write_error_;
  return Status::ok();
}

Status Aof::roll_over(std::uint64_t first_address) {
  // Everything before the new segment is made durable first, so after any crash a segment that
  // exists with data is preceded by complete segments: the files never show a gap.
  if (!segments_.empty()) {
    Segment& last = segments_.back();
    if (last.synced_bytes < last.data_bytes) {
      if (Status s = env_.sync(last.name); !s) {
        write_error_ = Status(s.code(), fmt::format("AOF fsync of {} failed ({}); the AOF's durable state is "
                                                    "unknown, writes are refused until the node restarts",
                                                    last.name, s.to_string()));
        return write_error_;
      }
      last.synced_bytes = last.data_bytes;
    }
  }
  const std::string name = segment_file_name(first_address);
  // The header is durable before the name is, so a segment that survives a crash has its header.
  if (Status s = env_.append(name, encode_segment_header(first_address, last_decree_)); !s) {
    Status removed = env_.remove(name);
    if (!removed && removed.code() != Err::not_found) {
      write_error_ = Status(s.code(), fmt::format("AOF could not create {} ({}) nor remove it ({}); writes are "
                                                  "refused until the node restarts", name, s.to_string(),
                                                  removed.to_string()));
      return write_error_;
    }
    return Status(s.code(), fmt::format("AOF could not create {}: {}", name, s.to_string()));
  }
  Status synced = env_.sync(name);
  if (synced) synced = env_.sync_dir();
  if (!synced) {
    write_error_ = Status(synced.code(), fmt::format("AOF fsync of the new segment {} failed ({}); writes are "
                                                     "refused until the node restarts", name, synced.to_string()));
    return write_error_;
  }
  segments_.push_back(Segment{first_address, last_decree_, 0, 0, name});
  synced_tail_ = first_address;
  return Status::ok();
}

Status Aof::write_units(std::string_view bytes, std::span<const std::uint64_t> unit_ends,
                        std::span<const std::uint64_t> decrees) {
  std::size_t next_unit = 0;
  std::size_t offset = 0;
  while (offset < bytes.size()) {
    if (segments_.empty() || tail_address_ == segment_end(segments_.back().first_address)) {
      if (Status s = roll_over(tail_address_); !s) return s;
    }
    Segment& seg = segments_.back();
    const std::uint64_t chunk_end =
        std::min<std::uint64_t>(segment_end(seg.first_address), tail_address_ + (bytes.size() - offset));
    const std::string_view chunk = bytes.substr(offset, chunk_end - tail_address_);
    if (Status s = env_.append(seg.name, chunk); !s) {
      // Put the file back to its known length so the next write lands at the tail; if even that
      // fails, the file's content is unknown and the AOF stops taking writes.
      const std::uint64_t expected = kSegmentHeaderBytes + seg.data_bytes;
      auto size = env_.file_size(seg.name);
      Status restored = size && *size == expected ? Status::ok() : env_.truncate(seg.name, expected);
      if (!restored) {
        write_error_ = Status(s.code(), fmt::format("AOF write to {} at address {} failed ({}) and the file could "
                                                    "not be cut back ({}); writes are refused until the node "
                                                    "restarts", seg.name, tail_address_, s.to_string(),
                                                    restored.to_string()));
        return write_error_;
      }
      return Status(s.code(), fmt::format("AOF write to {} at address {} failed: {}", seg.name, tail_address_,
                                          s.to_string()));
    }
    if (recent_begin_ + recent_.size() != tail_address_ || recent_.size() + chunk.size() > kRecentBytes) {
      forget_recent();  // starts over at this chunk: it begins at a unit boundary (a page end or a unit end)
    }
    recent_.append(chunk);
    seg.data_bytes += chunk.size();
    offset += chunk.size();
    tail_address_ = chunk_end;
    for (; next_unit < unit_ends.size() && unit_ends[next_unit] <= chunk_end; ++next_unit) {
      if (decrees[next_unit] != 0) last_decree_ = decrees[next_unit];
      remember_boundary(unit_ends[next_unit], last_decree_);
    }
  }
  return Status::ok();
}

Result<std::uint64_t> Aof::append(std::uint64_t decree, const std::vector<std::string>& argv) {
  if (Status s = check_writable(); !s) return s;
  if (argv.empty()) return Status(Err::invalid, "AOF append: a record needs at least one argument");
  if (decree != last_decree_ + 1) {
    return Status(Err::invalid, fmt::format("AOF append: decree {} does not follow the last decree {}", decree,
                                            last_decree_));
  }
  const std::size_t framed = framed_size(argv);
  if (Status s = check_record_fits(framed); !s) return s;
  // At most a padding and the record, built in one buffer: this runs for every write.
  std::array<std::uint64_t, 2> unit_ends{};
  std::array<std::uint64_t, 2> decrees{};
  std::size_t units = 0;
  std::string bytes;
  std::uint64_t address = tail_address_;
  const std::uint64_t page_end = page_start(address) + page_size();
  const bool pad = framed > page_end - address;
  bytes.reserve(framed + (pad ? page_end - address : 0));
  if (pad) {
    // Pad the rest of the page: a marker when there is room for one, then zeros.
    const std::size_t left = page_end - address;
    if (left >= 4) {
      put_u32(bytes, kPaddingMarker);
      bytes.append(left - 4, '\0');
    } else {
      bytes.append(left, '\0');
    }
    unit_ends[units] = page_end;
    decrees[units] = 0;
    ++units;
    address = page_end;
  }
  append_aof_record(bytes, address, decree, argv);
  unit_ends[units] = address + framed;
  decrees[units] = decree;
  ++units;
  if (Status s = write_units(bytes, std::span(unit_ends).first(units), std::span(decrees).first(units)); !s) {
    return s;
  }
  return address;
}

Status Aof::sync() {
  if (Status s = check_writable(); !s) return s;
  if (synced_tail_ == tail_address_) return Status::ok();
  for (Segment& seg : segments_) {
    if (seg.synced_bytes == seg.data_bytes) continue;
    if (Status s = env_.sync(seg.name); !s) {
      write_error_ = Status(s.code(), fmt::format("AOF fsync of {} failed ({}); the AOF's durable state is "
                                                  "unknown, writes are refused until the node restarts",
                                                  seg.name, s.to_string()));
      return write_error_;
    }
    seg.synced_bytes = seg.data_bytes;
  }
  synced_tail_ = tail_address_;
  return Status::ok();
}

Status Aof::append_raw(std::uint64_t address, std::string_view bytes) {
  if (Status s = check_writable(); !s) return s;
  if (address != tail_address_) {
    return Status(Err::invalid, fmt::format("AOF append_raw at address {}, but the tail is at {}", address,
                                            tail_address_));
  }
  std::vector<std::uint64_t> unit_ends;
  std::vector<std::uint64_t> decrees;
  std::uint64_t expected = last_decree_ + 1;
  std::uint64_t offset = 0;
  while (offset < bytes.size()) {
    const std::uint64_t a = address + offset;
    const std::uint64_t in_page = page_start(a) + page_size() - a;
    ParsedUnit parsed = parse_unit(bytes.substr(offset, in_page), a, page_size());
    if (parsed.problem == UnitProblem::none && !parsed.unit.is_padding && parsed.unit.decree != expected) {
      parsed.problem = UnitProblem::bad_decree;
      parsed.detail = fmt::format("the record at address {} has decree {} where {} was expected", a,
                                  parsed.unit.decree, expected);
    }
    if (parsed.problem != UnitProblem::none) {
      return Status(Err::invalid, fmt::format("AOF append_raw: the bytes from the primary do not verify: {}; "
                                              "nothing was written (do primary and replica use the same "
                                              "aof_page_size_bytes={}?)", parsed.detail, page_size()));
    }
    if (!parsed.unit.is_padding) expected = parsed.unit.decree + 1;
    unit_ends.push_back(parsed.unit.end);
    decrees.push_back(parsed.unit.decree);
    offset = parsed.unit.end - address;
  }
  return write_units(bytes, unit_ends, decrees);
}

Status Aof::scan_taken(std::uint64_t address, std::string_view bytes, const AofScanFn& fn) const {
  if (address > tail_address_ || tail_address_ - address > bytes.size()) {
    return Status(Err::invalid, fmt::format("AOF scan_taken at address {} with {} bytes, but the tail is at {}",
                                            address, bytes.size(), tail_address_));
  }
  // append_raw verified these very bytes a moment ago.
  AofRecord record;
  const ParsedUnit failed =
      walk_units_in_memory(bytes.substr(0, tail_address_ - address), address, page_size(), [&](const AofUnit& unit) {
        if (unit.is_padding) return true;
        record.address = unit.address;
        record.end_address = unit.end;
        record.decree = unit.decree;
        record.argv.clear();
        (void)split_aof_payload(unit.payload, &record.argv);  // verified by append_raw
        return fn(record);
      });
  if (failed.problem != UnitProblem::none) {
    return Status(Err::invalid, fmt::format("AOF scan_taken: the bytes at address {} are not what append_raw "
                                            "took: {}", failed.unit.address, failed.detail));
  }
  return Status::ok();
}

// ==== moving the ends =============================================================================

Status Aof::remove_segment_file(const std::string& name) {
  Status s = env_.remove(name);
  if (s) s = env_.sync_dir();
  if (!s) {
    write_error_ = Status(s.code(), fmt::format("AOF could not remove {} ({}); the set of segment files is "
                                                "unknown, writes are refused until the node restarts", name,
                                                s.to_string()));
    return write_error_;
  }
  return Status::ok();
}

Status Aof::truncate_before(std::uint64_t address) {
  if (Status s = check_writable(); !s) return s;
  // Oldest first, each removal durable before the next, so a crash leaves a contiguous suffix.
  while (segments_.size() > 1 && segment_end(segments_.front().first_address) <= address) {
    if (Status s = remove_segment_file(segments_.front().name); !s) return s;
    segments_.erase(segments_.begin());
  }
  if (!segments_.empty() && begin_address_ != segments_.front().first_address) {
    begin_address_ = segments_.front().first_address;
    env_.log("aof.truncate_before", fmt::format("address={} begin={}", address, begin_address_));
  }
  return Status::ok();
}

Status Aof::truncate_after(std::uint64_t address) {
  if (Status s = check_writable(); !s) return s;
  auto decree = decree_before(address);
  if (!decree) return decree.status();
  if (address == tail_address_) return Status::ok();
  if (Status s = persist_intent(env_, Intent{IntentKind::truncate_after, address, *decree}); !s) return s;
  while (segments_.size() > 1 && segments_.back().first_address >= address) {
    if (Status s = remove_segment_file(segments_.back().name); !s) return s;
    segments_.pop_back();
  }
  Segment& last = segments_.back();
  const std::uint64_t keep = address - last.first_address;
  if (last.data_bytes > keep) {
    Status s = env_.truncate(last.name, kSegmentHeaderBytes + keep);
    if (s) s = env_.sync(last.name);
    if (!s) {
      write_error_ = Status(s.code(), fmt::format("AOF could not truncate {} at address {} ({}); writes are refused "
                                                  "until the node restarts", last.name, address, s.to_string()));
      return write_error_;
    }
    last.data_bytes = keep;
    last.synced_bytes = keep;
  }
  if (Status s = clear_intent(env_); !s) {
    write_error_ = Status(s.code(), fmt::format("AOF could not remove {} ({}); writes are refused until the node "
                                                "restarts", kIntentName, s.to_string()));
    return write_error_;
  }
  env_.log("aof.truncate_after", fmt::format("address={} old_tail={} last_decree={}", address, tail_address_,
                                             *decree));
  tail_address_ = address;
  known_boundaries_.fill({0, 0});  // units after the new tail are gone; new ones may end elsewhere
  forget_recent();
  synced_tail_ = std::min(synced_tail_, address);
  if (last.synced_bytes == last.data_bytes) synced_tail_ = address;
  last_decree_ = *decree;
  return Status::ok();
}

Status Aof::reset_to(std::uint64_t address, std::uint64_t decree) {
  if (Status s = check_writable(); !s) return s;
  if (Status s = persist_intent(env_, Intent{IntentKind::reset, address, decree}); !s) return s;
  while (!segments_.empty()) {
    if (Status s = remove_segment_file(segments_.back().name); !s) return s;
    segments_.pop_back();
  }
  begin_address_ = address;
  tail_address_ = address;
  known_boundaries_.fill({0, 0});
  forget_recent();
  synced_tail_ = address;
  last_decree_ = decree;
  Status s = roll_over(address);
  if (s) s = clear_intent(env_);
  if (!s) {
    write_error_ = Status(s.code(), fmt::format("AOF reset to address {} failed: {}; writes are refused until "
                                                "the node restarts", address, s.message()));
    return write_error_;
  }
  env_.log("aof.reset", fmt::format("address={} decree={}", address, decree));
  return Status::ok();
}

}  // namespace replsim::core
