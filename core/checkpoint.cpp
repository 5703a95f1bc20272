// core/checkpoint.cpp — writing, verifying, choosing and retiring checkpoint files.
//
// Every byte goes through core::Env. The layout here must stay in step with
// core/doc/checkpoint-format.md. A file is trusted only after its header checksum and its whole-file
// checksum verify; a failed verification is read once more so that a read-time fault does not throw
// a good checkpoint away.
#include "core/checkpoint.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "core/crc32c.h"

namespace replsim::core {

namespace {

// ==== layout ======================================================================================

constexpr std::string_view kMagic = "RSCHKPNT";
constexpr std::uint32_t kFormatVersion = 1;
constexpr std::string_view kPrefix = "checkpoint.";
constexpr std::string_view kTmpSuffix = ".tmp";
// Fixed part: magic, version, replication id length, generation, decree, AOF address, payload length.
constexpr std::size_t kFixedHeaderBytes = 48;
constexpr std::size_t kCrcBytes = 4;
constexpr std::string_view kRemedy =
    "remove the file, or restore the node from a replica (CLUSTER REPLICATE)";

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
}

void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
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

bool parse_hex16(std::string_view digits, std::uint64_t* value) {
  if (digits.size() != 16) return false;
  std::uint64_t v = 0;
  for (char c : digits) {
    std::uint64_t d = 0;
    if (c >= '0' && c <= '9') {
      d = static_cast<std::uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<std::uint64_t>(c - 'a' + 10);
    } else {
      return false;
    }
    v = (v << 4) | d;
  }
  *value = v;
  return true;
}

// "checkpoint.<hex>" gives its decree; "checkpoint.<hex>.tmp" is a leftover of an interrupted write.
bool is_checkpoint_name(std::string_view name, std::uint64_t* decree) {
  return name.starts_with(kPrefix) && parse_hex16(name.substr(kPrefix.size()), decree);
}

bool is_tmp_name(std::string_view name) {
  std::uint64_t decree = 0;
  return name.ends_with(kTmpSuffix) &&
         is_checkpoint_name(name.substr(0, name.size() - kTmpSuffix.size()), &decree);
}

std::string encode(const CheckpointMeta& meta, std::uint64_t generation, std::string_view payload) {
  std::string out(kMagic);
  put_u32(out, kFormatVersion);
  put_u32(out, static_cast<std::uint32_t>(meta.replication_id.size()));
  put_u64(out, generation);
  put_u64(out, meta.decree);
  put_u64(out, meta.aof_address);
  put_u64(out, payload.size());
  out += meta.replication_id;
  put_u32(out, crc32c(out));
  out += payload;
  put_u32(out, crc32c(out));
  return out;
}

Status damaged(const std::string& name, const std::string& detail) {
  return Status(Err::io_error, fmt::format("checkpoint {} is damaged: {}; {}", name, detail, kRemedy));
}

// Parses a checkpoint file's bytes: the header alone (bytes may then be just a prefix of the file) or
// the whole file with its checksum. file_bytes is the file's real size.
Result<LoadedCheckpoint> parse(const std::string& name, std::string_view bytes, std::uint64_t file_bytes,
                               bool whole_file) {
  if (bytes.size() < kFixedHeaderBytes) {
    return damaged(name, fmt::format("the file holds {} bytes, fewer than the {}-byte fixed header (it was cut "
                                     "short)", file_bytes, kFixedHeaderBytes));
  }
  if (bytes.substr(0, kMagic.size()) != kMagic) {
    return damaged(name, fmt::format("bad magic at byte offset 0: expected \"{}\", found \"{}\" (not a replsim "
                                     "checkpoint)", kMagic, printable(bytes.substr(0, kMagic.size()))));
  }
  const std::uint32_t version = get_u32(bytes, 8);
  if (version != kFormatVersion) {
    return damaged(name, fmt::format("unsupported format version {} at byte offset 8 (this build reads version {})",
                                     version, kFormatVersion));
  }
  const std::uint32_t id_bytes = get_u32(bytes, 12);
  if (id_bytes > kMaxReplicationIdBytes) {
    return damaged(name, fmt::format("replication id length {} at byte offset 12 exceeds the limit of {}", id_bytes,
                                     kMaxReplicationIdBytes));
  }
  const std::size_t header_bytes = kFixedHeaderBytes + id_bytes + kCrcBytes;
  if (bytes.size() < header_bytes) {
    return damaged(name, fmt::format("the file holds {} bytes, fewer than its {}-byte header (it was cut short)",
                                     file_bytes, header_bytes));
  }
  const std::uint32_t stored_header_crc = get_u32(bytes, header_bytes - kCrcBytes);
  const std::uint32_t header_crc = crc32c(bytes.substr(0, header_bytes - kCrcBytes));
  if (stored_header_crc != header_crc) {
    return damaged(name, fmt::format("header checksum mismatch at byte offset {} (stored 0x{:08x}, computed "
                                     "0x{:08x})", header_bytes - kCrcBytes, stored_header_crc, header_crc));
  }
  LoadedCheckpoint out;
  CheckpointInfo& info = out.info;
  info.file_name = name;
  info.generation = get_u64(bytes, 16);
  info.meta.decree = get_u64(bytes, 24);
  info.meta.aof_address = get_u64(bytes, 32);
  info.payload_bytes = get_u64(bytes, 40);
  info.meta.replication_id = std::string(bytes.substr(kFixedHeaderBytes, id_bytes));
  std::uint64_t name_decree = 0;
  if (!is_checkpoint_name(name, &name_decree) || name_decree != info.meta.decree) {
    return damaged(name, fmt::format("decree {} at byte offset 24 does not match the file name", info.meta.decree));
  }
  if (info.payload_bytes > file_bytes || file_bytes != header_bytes + info.payload_bytes + kCrcBytes) {
    return damaged(name, fmt::format("the payload length at byte offset 40 is {} bytes, so the file should hold {} "
                                     "bytes, but it holds {} (it was cut short or extended)", info.payload_bytes,
                                     header_bytes + info.payload_bytes + kCrcBytes, file_bytes));
  }
  if (!whole_file) return out;
  if (bytes.size() != file_bytes) {
    return damaged(name, fmt::format("read {} bytes of a {}-byte file", bytes.size(), file_bytes));
  }
  const std::size_t crc_offset = header_bytes + info.payload_bytes;
  const std::uint32_t stored = get_u32(bytes, crc_offset);
  const std::uint32_t computed = crc32c(bytes.substr(0, crc_offset));
  if (stored != computed) {
    return damaged(name, fmt::format("checksum mismatch at byte offset {} over the {} bytes before it (stored "
                                     "0x{:08x}, computed 0x{:08x})", crc_offset, crc_offset, stored, computed));
  }
  out.payload = std::string(bytes.substr(header_bytes, info.payload_bytes));
  return out;
}

// Reads and parses one file, once more if it does not verify (a read-time fault is not damage).
// *damage tells a file that does not verify from a disk that failed to read it.
Result<LoadedCheckpoint> read_and_parse(Env& env, const std::string& name, bool whole_file, bool* damage) {
  Result<LoadedCheckpoint> result = Status(Err::io_error, "not read");
  for (int attempt = 0; attempt < 2; ++attempt) {
    *damage = false;
    auto size = env.file_size(name);
    if (!size) return size.status();
    const std::uint64_t length =
        whole_file ? *size : std::min<std::uint64_t>(*size, kFixedHeaderBytes + kMaxReplicationIdBytes + kCrcBytes);
    auto bytes = env.read_at(name, 0, length);
    if (!bytes) return bytes.status();
    result = parse(name, *bytes, *size, whole_file);
    if (result) return result;
    *damage = true;
  }
  return result;
}

// The checkpoint files in a directory listing: verified headers, newest first, and the rest.
struct Directory {
  std::vector<CheckpointInfo> valid;                          // newest first
  std::vector<std::pair<std::string, std::string>> damaged;   // name, why
  std::vector<std::string> tmp_names;
  bool any_checkpoint = false;
};

Result<Directory> scan_directory(Env& env) {
  auto names = env.list_files();
  if (!names) return names.status();
  Directory dir;
  for (const std::string& name : *names) {
    std::uint64_t decree = 0;
    if (is_tmp_name(name)) {
      dir.tmp_names.push_back(name);
      continue;
    }
    if (!is_checkpoint_name(name, &decree)) continue;
    dir.any_checkpoint = true;
    bool damage = false;
    auto header = read_and_parse(env, name, false, &damage);
    if (header) {
      dir.valid.push_back(header->info);
    } else if (damage) {
      dir.damaged.emplace_back(name, header.status().message());
    } else {
      return header.status();  // the disk failed, not the file
    }
  }
  std::sort(dir.valid.begin(), dir.valid.end(), [](const CheckpointInfo& a, const CheckpointInfo& b) {
    if (a.generation != b.generation) return a.generation > b.generation;
    return a.file_name > b.file_name;
  });
  return dir;
}

}  // namespace

// ==== public functions ============================================================================

std::string checkpoint_file_name(std::uint64_t decree) { return fmt::format("{}{:016x}", kPrefix, decree); }

Result<LoadedCheckpoint> read_checkpoint(Env& env, const std::string& file_name) {
  bool damage = false;
  return read_and_parse(env, file_name, true, &damage);
}

Result<std::vector<CheckpointInfo>> list_checkpoints(Env& env) {
  auto dir = scan_directory(env);
  if (!dir) return dir.status();
  return std::move(dir->valid);
}

Result<std::optional<std::uint64_t>> oldest_retained_address(Env& env) {
  auto dir = scan_directory(env);
  if (!dir) return dir.status();
  std::optional<std::uint64_t> oldest;
  for (const CheckpointInfo& info : dir->valid) {
    if (!oldest || info.meta.aof_address < *oldest) oldest = info.meta.aof_address;
  }
  return oldest;
}

Result<std::string> write_checkpoint(Env& env, const CheckpointMeta& meta, std::string_view payload,
                                     const CheckpointConfig& config) {
  if (meta.replication_id.size() > kMaxReplicationIdBytes) {
    return Status(Err::invalid, fmt::format("checkpoint replication id of {} bytes exceeds the limit of {}",
                                            meta.replication_id.size(), kMaxReplicationIdBytes));
  }
  if (config.checkpoints_retained < 1) {
    return Status(Err::invalid, "checkpoints_retained must be at least 1");
  }
  auto dir = scan_directory(env);
  if (!dir) return dir.status();
  const std::uint64_t generation = dir->valid.empty() ? 1 : dir->valid.front().generation + 1;
  const std::string name = checkpoint_file_name(meta.decree);
  const std::string tmp = name + std::string(kTmpSuffix);
  if (std::find(dir->tmp_names.begin(), dir->tmp_names.end(), tmp) != dir->tmp_names.end()) {
    if (Status s = env.remove(tmp); !s && s.code() != Err::not_found) return s;
  }
  // tmp -> sync -> rename -> sync dir: a crash leaves either the old set of files or the new one
  // complete, plus at most a .tmp that nothing reads.
  const std::string bytes = encode(meta, generation, payload);
  Status s = env.append(tmp, bytes);
  if (s) s = env.sync(tmp);
  if (s) s = env.rename(tmp, name);
  if (s) s = env.sync_dir();
  if (!s) {
    (void)env.remove(tmp);  // best effort: a leftover .tmp is ignored and removed by the next write
    return Status(s.code(), fmt::format("writing checkpoint {} failed: {}", name, s.to_string()));
  }

  // Retention: the new one plus the newest others that verify, up to the limit; everything else
  // goes. The kept ones are read whole, so a damaged file never takes the place of a good older one.
  std::vector<std::string> doomed;
  std::size_t kept = 1;
  for (const CheckpointInfo& info : dir->valid) {
    if (info.file_name == name) continue;  // replaced by the rename
    bool damage = false;
    if (kept < config.checkpoints_retained && (read_and_parse(env, info.file_name, true, &damage) || !damage)) {
      ++kept;  // verified, or unreadable just now: kept either way
    } else {
      doomed.push_back(info.file_name);
    }
  }
  for (const auto& [damaged_name, why] : dir->damaged) {
    if (damaged_name != name) doomed.push_back(damaged_name);
  }
  for (const std::string& t : dir->tmp_names) {
    if (t != tmp) doomed.push_back(t);
  }
  std::string removal_errors;
  for (const std::string& d : doomed) {
    if (Status r = env.remove(d); !r && r.code() != Err::not_found) removal_errors += " " + d + ": " + r.to_string();
  }
  if (!doomed.empty()) {
    if (Status r = env.sync_dir(); !r) removal_errors += " sync_dir: " + r.to_string();
  }
  // Old files that stay are harmless (the next write retries), so the new checkpoint still counts.
  if (!removal_errors.empty()) env.log("checkpoint.retention_failed", "errors=\"" + removal_errors + "\"");
  env.log("checkpoint.write", fmt::format("file={} generation={} decree={} aof_address={} bytes={} removed={}",
                                          name, generation, meta.decree, meta.aof_address, bytes.size(),
                                          doomed.size()));
  return name;
}

Result<LoadedCheckpoint> load_newest_valid(Env& env) {
  auto dir = scan_directory(env);
  if (!dir) return dir.status();
  if (!dir->any_checkpoint) return Status(Err::not_found, "no checkpoint files");
  std::vector<std::string> skipped;
  // A damaged header hides the file's age, so it is reported whatever its place.
  for (const auto& [name, why] : dir->damaged) skipped.push_back(name + ": " + why);
  for (const CheckpointInfo& info : dir->valid) {
    bool damage = false;
    auto loaded = read_and_parse(env, info.file_name, true, &damage);
    if (loaded) {
      loaded->skipped = std::move(skipped);
      std::string detail = fmt::format("file={} generation={} decree={} aof_address={} skipped={}", info.file_name,
                                       info.generation, info.meta.decree, info.meta.aof_address,
                                       loaded->skipped.size());
      env.log("checkpoint.load", detail);
      for (const std::string& line : loaded->skipped) env.log("checkpoint.skipped", "reason=\"" + line + "\"");
      return loaded;
    }
    if (!damage) return loaded.status();  // the disk failed, not the file
    skipped.push_back(info.file_name + ": " + loaded.status().message());
  }
  std::string all;
  for (const std::string& line : skipped) all += (all.empty() ? "" : " | ") + line;
  return Status(Err::io_error, fmt::format("no checkpoint verifies ({}); restore the node from a replica (CLUSTER "
                                           "REPLICATE) or remove the checkpoint files to start from the AOF alone",
                                           all));
}

}  // namespace replsim::core
