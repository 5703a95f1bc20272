// core/env.cpp — the small non-virtual helpers of core/env.h.
#include "core/env.h"

#include <cstdlib>
#include <utility>

#include <fmt/format.h>

namespace replsim::core {

std::string_view err_name(Err e) {
  switch (e) {
    case Err::none: return "ok";
    case Err::timeout: return "timeout";
    case Err::reset: return "connection reset";
    case Err::refused: return "connection refused";
    case Err::closed: return "closed";
    case Err::io_error: return "I/O error";
    case Err::no_space: return "no space left on device";
    case Err::not_found: return "not found";
    case Err::invalid: return "invalid argument";
    case Err::shutdown: return "node shutting down";
  }
  return "unknown error";
}

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  if (message_.empty()) return std::string(err_name(code_));
  return fmt::format("{}: {}", err_name(code_), message_);
}

Status Env::read_at_into(const std::string& name, std::uint64_t offset, std::size_t length, std::string& out) {
  Result<std::string> bytes = read_at(name, offset, length);
  if (!bytes) return bytes.status();
  out = std::move(bytes.value());
  return Status::ok();
}

void Env::exit_on_error(std::string_view why) {
  abort(why);
  std::abort();  // unreachable: abort() never returns
}

std::uint64_t Env::random_below(std::uint64_t n) {
  // Lemire's multiply-shift with rejection: exact uniformity, no modulo bias.
  __extension__ using u128 = unsigned __int128;
  std::uint64_t x = random_u64();
  u128 m = static_cast<u128>(x) * n;
  auto low = static_cast<std::uint64_t>(m);
  if (low < n) {
    const std::uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      x = random_u64();
      m = static_cast<u128>(x) * n;
      low = static_cast<std::uint64_t>(m);
    }
  }
  return static_cast<std::uint64_t>(m >> 64);
}

}  // namespace replsim::core
