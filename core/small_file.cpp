// core/small_file.cpp — atomic, checksummed small state files.
#include "core/small_file.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <iterator>

#include "core/crc32c.h"

namespace replsim::core {

namespace {

constexpr std::string_view kCrcPrefix = "crc32c ";

}  // namespace

Status save_small_file(Env& env, const std::string& name, std::string_view body) {
  // Sized once: nodes.conf is rewritten at every cluster config change, O(nodes) bytes each time.
  std::string bytes;
  bytes.reserve(body.size() + 1 + kCrcPrefix.size() + 9);
  bytes.append(body);
  if (!bytes.empty() && bytes.back() != '\n') bytes += '\n';
  const std::uint32_t crc = crc32c(bytes);
  fmt::format_to(std::back_inserter(bytes), "{}{:08x}\n", kCrcPrefix, crc);
  const std::string tmp = name + ".tmp";
  // A leftover tmp from an interrupted save would be appended to: start it afresh.
  if (Status s = env.remove(tmp); !s && s.code() != Err::not_found) {
    return Status(s.code(), fmt::format("cannot persist {}: {}", name, s.message()));
  }
  Status s = env.append(tmp, bytes);
  if (s) s = env.sync(tmp);
  if (s) s = env.rename(tmp, name);
  if (s) s = env.sync_dir();
  if (!s) return Status(s.code(), fmt::format("cannot persist {}: {}", name, s.message()));
  return Status::ok();
}

Result<std::optional<std::string>> load_small_file(Env& env, const std::string& name) {
  auto size = env.file_size(name);
  if (!size) {
    if (size.code() == Err::not_found) return std::optional<std::string>();
    return size.status();
  }
  auto bytes = env.read_at(name, 0, static_cast<std::size_t>(size.value()));
  if (!bytes) return bytes.status();
  const std::string& text = bytes.value();
  const auto bad = [&](std::string_view what) {
    return Status(Err::invalid, fmt::format("{} ({} bytes) {}", name, text.size(), what));
  };
  const std::size_t crc_at = text.rfind(kCrcPrefix);
  if (crc_at == std::string::npos || (crc_at > 0 && text[crc_at - 1] != '\n')) return bad("has no checksum line");
  const std::string_view body(text.data(), crc_at);
  std::string_view crc_text(text.data() + crc_at + kCrcPrefix.size(), text.size() - crc_at - kCrcPrefix.size());
  if (!crc_text.empty() && crc_text.back() == '\n') crc_text.remove_suffix(1);
  std::uint32_t stored = 0;
  const auto [ptr, ec] = std::from_chars(crc_text.data(), crc_text.data() + crc_text.size(), stored, 16);
  if (ec != std::errc() || ptr != crc_text.data() + crc_text.size() || crc_text.size() != 8) {
    return bad("has a malformed checksum line");
  }
  if (stored != crc32c(body)) {
    return bad(fmt::format("fails its checksum (stored {:08x}, computed {:08x})", stored, crc32c(body)));
  }
  return std::optional<std::string>(std::string(body));
}

Status remove_small_file(Env& env, const std::string& name) {
  if (Status s = env.remove(name); !s && s.code() != Err::not_found) return s;
  return env.sync_dir();
}

}  // namespace replsim::core
