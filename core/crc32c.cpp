// core/crc32c.cpp — CRC32C: the CPU's crc32 instruction where there is one, Boost.CRC otherwise.
//
// Every AOF record is checksummed when written and again each time it is read (recovery, replication
// streaming, the aof-readable check), so this function is hot. SSE4.2's crc32 instruction computes
// exactly CRC32C; both paths give the same value for the same bytes (crc32c_test checks them against
// each other), so the choice never reaches a trace. Boost keeps the running remainder of a reflected
// CRC in bit-reversed form, so extending a finished checksum there means undoing the final xor and
// reversing the bits before feeding more data.
#include "core/crc32c.h"

#include <cstring>

#include <boost/crc.hpp>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define REPLSIM_CRC32C_SSE42 1
#endif

namespace replsim::core {

namespace {

using Crc32cEngine = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;

std::uint32_t reverse_bits(std::uint32_t x) {
  std::uint32_t r = 0;
  for (int i = 0; i < 32; ++i) {
    r = (r << 1) | (x & 1u);
    x >>= 1;
  }
  return r;
}

#if defined(REPLSIM_CRC32C_SSE42)
// The instruction keeps the remainder in plain (not bit-reversed) form: start from ~crc, end with ~.
__attribute__((target("sse4.2"))) std::uint32_t extend_sse42(std::uint32_t crc, std::string_view data) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t n = data.size();
  std::uint64_t c = crc ^ 0xFFFFFFFFu;
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);
    c = _mm_crc32_u64(c, word);
  }
  auto c32 = static_cast<std::uint32_t>(c);
  for (; n > 0; --n, ++p) c32 = _mm_crc32_u8(c32, *p);
  return c32 ^ 0xFFFFFFFFu;
}

bool cpu_has_sse42() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2") != 0;
}
#endif

}  // namespace

std::uint32_t crc32c_portable_extend(std::uint32_t crc, std::string_view data) {
  if (data.empty()) return crc;
  Crc32cEngine engine(reverse_bits(crc ^ 0xFFFFFFFFu));
  engine.process_bytes(data.data(), data.size());
  return engine.checksum();
}

std::uint32_t crc32c(std::string_view data) { return crc32c_extend(0, data); }

std::uint32_t crc32c_extend(std::uint32_t crc, std::string_view data) {
  if (data.empty()) return crc;
#if defined(REPLSIM_CRC32C_SSE42)
  // A property of the CPU, read once; it never changes a result, only how fast it comes.
  static const bool hardware = cpu_has_sse42();
  if (hardware) return extend_sse42(crc, data);
#endif
  return crc32c_portable_extend(crc, data);
}

}  // namespace replsim::core
