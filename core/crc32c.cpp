// core/crc32c.cpp — CRC32C on top of Boost.CRC's table-driven crc_optimal.
//
// Boost keeps the running remainder of a reflected CRC in bit-reversed form, so extending a finished
// checksum means undoing the final xor and reversing the bits before feeding more data.
#include "core/crc32c.h"

#include <boost/crc.hpp>

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

}  // namespace

std::uint32_t crc32c(std::string_view data) {
  Crc32cEngine engine;
  engine.process_bytes(data.data(), data.size());
  return engine.checksum();
}

std::uint32_t crc32c_extend(std::uint32_t crc, std::string_view data) {
  if (data.empty()) return crc;
  Crc32cEngine engine(reverse_bits(crc ^ 0xFFFFFFFFu));
  engine.process_bytes(data.data(), data.size());
  return engine.checksum();
}

}  // namespace replsim::core
