// core/keyspace.cpp — keyspace storage, its snapshot encoding and its digest. The digest hashes exactly
// the bytes an entry serializes to, so "same digest" and "same snapshot" mean the same thing.
#include "core/keyspace.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <limits>
#include <optional>
#include <utility>

namespace replsim::core {

namespace {

constexpr std::string_view kMagic = "RSKS";
constexpr std::uint8_t kVersion = 1;
constexpr std::uint8_t kFlagHasExpiry = 0x01;
// key length + type + flags: the least an entry can take, used to reject absurd entry counts.
constexpr std::size_t kEntryBytesMin = 8 + 1 + 1 + 8;

void put_u64(std::string& out, std::uint64_t v) {
  // Built on the stack and appended once: a snapshot writes two of these per list element.
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(bytes, sizeof bytes);
}

void put_bytes(std::string& out, std::string_view bytes) {
  put_u64(out, bytes.size());
  out.append(bytes);
}

void encode_entry(std::string& out, std::string_view key, const Value& value) {
  put_bytes(out, key);
  out.push_back(static_cast<char>(value.type()));
  out.push_back(static_cast<char>(value.expire_at_ms ? kFlagHasExpiry : 0));
  if (value.expire_at_ms) put_u64(out, static_cast<std::uint64_t>(*value.expire_at_ms));
  if (value.type() == ValueType::string) {
    put_bytes(out, value.str());
  } else {
    put_u64(out, value.list().size());
    for (const std::string& element : value.list()) put_bytes(out, element);
  }
}

// What encode_entry appends, to the byte: a checkpoint serializes every entry into one string, which
// without a reservation is copied again at each doubling.
std::size_t encoded_size(std::string_view key, const Value& value) {
  std::size_t n = 8 + key.size() + 2 + (value.expire_at_ms ? 8 : 0);
  if (value.type() == ValueType::string) return n + 8 + value.str().size();
  n += 8;
  for (const std::string& element : value.list()) n += 8 + element.size();
  return n;
}

// Reads the snapshot front to back, remembering the offset so every complaint can say where.
class Reader {
 public:
  explicit Reader(std::string_view blob) : blob_(blob) {}

  std::size_t offset() const { return offset_; }
  std::size_t remaining() const { return blob_.size() - offset_; }

  Status error(std::string_view expected, std::string_view found) const {
    return Status(Err::invalid, fmt::format("keyspace snapshot is corrupt at byte offset {}: expected "
                                            "{}, found {}",
                                            offset_, expected, found));
  }

  // what_index, when set, is appended to what in the message (" 3" for "list element 3"), so the
  // name of each of thousands of elements is only formatted when one is bad.
  Result<std::uint64_t> u64(std::string_view what, std::optional<std::uint64_t> what_index = std::nullopt) {
    if (remaining() < 8) {
      return error(fmt::format("{}{} (8 bytes)", what, index_suffix(what_index)),
                   fmt::format("only {} bytes before the end", remaining()));
    }
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) {
      v |= static_cast<std::uint64_t>(static_cast<unsigned char>(blob_[offset_ + i])) << (8 * i);
    }
    offset_ += 8;
    return v;
  }

  Result<std::uint8_t> u8(std::string_view what) {
    if (remaining() < 1) return error(what, "the end of the blob");
    return static_cast<std::uint8_t>(blob_[offset_++]);
  }

  // A length-prefixed byte string. The length is checked against what is left before any copy.
  Result<std::string> bytes(std::string_view what, std::optional<std::uint64_t> what_index = std::nullopt) {
    const std::size_t at = offset_;
    if (remaining() < 8) {
      return error(fmt::format("length of {}{} (8 bytes)", what, index_suffix(what_index)),
                   fmt::format("only {} bytes before the end", remaining()));
    }
    Result<std::uint64_t> length = u64(what);
    if (!length) return length.status();
    if (*length > remaining()) {
      offset_ = at;
      return error(fmt::format("length of {}{} at most {} (the bytes left after it)", what,
                               index_suffix(what_index), remaining() >= 8 ? remaining() - 8 : 0),
                   fmt::format("{}", *length));
    }
    std::string out(blob_.substr(offset_, static_cast<std::size_t>(*length)));
    offset_ += static_cast<std::size_t>(*length);
    return out;
  }

  static std::string index_suffix(std::optional<std::uint64_t> index) {
    return index ? fmt::format(" {}", *index) : std::string();
  }

  std::string_view take(std::size_t n) {
    std::string_view out = blob_.substr(offset_, n);
    offset_ += out.size();
    return out;
  }

 private:
  std::string_view blob_;
  std::size_t offset_ = 0;
};

Result<Value> read_value(Reader& reader) {
  const std::size_t type_at = reader.offset();
  Result<std::uint8_t> type = reader.u8("value type (1 byte)");
  if (!type) return type.status();
  if (*type > static_cast<std::uint8_t>(ValueType::list)) {
    return Status(Err::invalid,
                  fmt::format("keyspace snapshot is corrupt at byte offset {}: expected value type 0 "
                              "(string) or 1 (list), found {}",
                              type_at, *type));
  }
  const std::size_t flags_at = reader.offset();
  Result<std::uint8_t> flags = reader.u8("flags (1 byte)");
  if (!flags) return flags.status();
  if ((*flags & ~kFlagHasExpiry) != 0) {
    return Status(Err::invalid,
                  fmt::format("keyspace snapshot is corrupt at byte offset {}: expected flags 0 or 1, "
                              "found {}",
                              flags_at, *flags));
  }
  Value value;
  if (*flags & kFlagHasExpiry) {
    Result<std::uint64_t> expire = reader.u64("expire_at_ms");
    if (!expire) return expire.status();
    value.expire_at_ms = static_cast<std::int64_t>(*expire);
  }
  if (*type == static_cast<std::uint8_t>(ValueType::string)) {
    Result<std::string> s = reader.bytes("string value");
    if (!s) return s.status();
    value.data = std::move(*s);
    return value;
  }
  const std::size_t count_at = reader.offset();
  Result<std::uint64_t> count = reader.u64("list element count");
  if (!count) return count.status();
  // Every element carries an 8-byte length, so a count the remaining bytes cannot hold is a lie.
  if (*count == 0 || *count > reader.remaining() / 8) {
    return Status(Err::invalid,
                  fmt::format("keyspace snapshot is corrupt at byte offset {}: expected a list element "
                              "count from 1 to {}, found {}",
                              count_at, reader.remaining() / 8, *count));
  }
  List list;
  for (std::uint64_t i = 0; i < *count; ++i) {
    Result<std::string> element = reader.bytes("list element", i);
    if (!element) return element.status();
    list.push_back(std::move(*element));
  }
  value.data = std::move(list);
  return value;
}

}  // namespace

std::string_view value_type_name(ValueType type) {
  switch (type) {
    case ValueType::string: return "string";
    case ValueType::list: return "list";
  }
  return "unknown";
}

Value* Keyspace::find(std::string_view key) {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

const Value* Keyspace::find(std::string_view key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

Value& Keyspace::put(std::string_view key, Value value) {
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    it->second = std::move(value);
    return it->second;
  }
  return entries_.emplace(std::string(key), std::move(value)).first->second;
}

bool Keyspace::erase(std::string_view key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return false;
  entries_.erase(it);
  return true;
}

std::vector<std::string> Keyspace::keys() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [key, value] : entries_) out.push_back(key);
  return out;
}

std::uint64_t Keyspace::digest() const {
  // A sum commutes, so the result cannot depend on the order entries are visited in; keys are unique,
  // so no two equal terms can cancel as they could with XOR.
  std::uint64_t sum = 0;
  std::string scratch;
  for (const auto& [key, value] : entries_) {
    scratch.clear();
    encode_entry(scratch, key, value);
    sum += XXH3_64bits(scratch.data(), scratch.size());
  }
  return sum;
}

std::string Keyspace::serialize() const {
  std::size_t size = kMagic.size() + 1 + 8;
  for (const auto& [key, value] : entries_) size += encoded_size(key, value);
  std::string out;
  out.reserve(size);
  out.append(kMagic);
  out.push_back(static_cast<char>(kVersion));
  put_u64(out, entries_.size());
  for (const auto& [key, value] : entries_) encode_entry(out, key, value);
  return out;
}

Result<Keyspace> Keyspace::deserialize(std::string_view blob) {
  Reader reader(blob);
  const std::string_view magic = reader.take(kMagic.size());
  if (magic.size() < kMagic.size()) {
    return Status(Err::invalid, fmt::format("keyspace snapshot is corrupt at byte offset 0: expected "
                                            "magic \"RSKS\", found only {} bytes",
                                            magic.size()));
  }
  if (magic != kMagic) {
    return Status(Err::invalid, "keyspace snapshot is corrupt at byte offset 0: expected magic "
                                "\"RSKS\", found other bytes (not a keyspace snapshot)");
  }
  const std::size_t version_at = reader.offset();
  Result<std::uint8_t> version = reader.u8("format version (1 byte)");
  if (!version) return version.status();
  if (*version != kVersion) {
    return Status(Err::invalid, fmt::format("keyspace snapshot is corrupt at byte offset {}: expected "
                                            "format version {}, found {}",
                                            version_at, kVersion, *version));
  }
  const std::size_t count_at = reader.offset();
  Result<std::uint64_t> count = reader.u64("entry count");
  if (!count) return count.status();
  if (*count > reader.remaining() / kEntryBytesMin) {
    return Status(Err::invalid, fmt::format("keyspace snapshot is corrupt at byte offset {}: expected "
                                            "an entry count of at most {} for the {} bytes left, "
                                            "found {}",
                                            count_at, reader.remaining() / kEntryBytesMin,
                                            reader.remaining(), *count));
  }
  Keyspace keyspace;
  for (std::uint64_t i = 0; i < *count; ++i) {
    const std::size_t key_at = reader.offset();
    Result<std::string> key = reader.bytes("key of entry", i);
    if (!key) return key.status();
    if (!keyspace.entries_.empty() && keyspace.entries_.rbegin()->first >= *key) {
      return Status(Err::invalid, fmt::format("keyspace snapshot is corrupt at byte offset {}: "
                                              "expected keys in strictly increasing order, entry {} "
                                              "is not after the one before it",
                                              key_at, i));
    }
    Result<Value> value = read_value(reader);
    if (!value) return value.status();
    keyspace.entries_.emplace_hint(keyspace.entries_.end(), std::move(*key), std::move(*value));
  }
  if (reader.remaining() != 0) {
    return Status(Err::invalid, fmt::format("keyspace snapshot is corrupt at byte offset {}: expected "
                                            "the end after {} entries, found {} more bytes",
                                            reader.offset(), *count, reader.remaining()));
  }
  return keyspace;
}

}  // namespace replsim::core
