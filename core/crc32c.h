// core/crc32c.h — CRC32C (Castagnoli), the checksum of every durable record replsim writes.
//
// CRC32C in a one-shot and an incremental form (the CPU's crc32 instruction, or Boost.CRC). It owns no state beyond one
// running checksum and never touches the disk; the formats that store its values are described in
// core/doc/aof-format.md and core/doc/checkpoint-format.md.
#pragma once

#include <cstdint>
#include <string_view>

namespace replsim::core {

// CRC32C of data: polynomial 0x1EDC6F41, reflected, initial value and final xor 0xFFFFFFFF.
// crc32c("123456789") == 0xE3069283.
std::uint32_t crc32c(std::string_view data);

// Extends a finished checksum: crc32c_extend(crc32c(a), b) == crc32c(a + b).
std::uint32_t crc32c_extend(std::uint32_t crc, std::string_view data);

// The same as crc32c_extend, always computed with Boost.CRC's tables (crc32c_extend uses the CPU's
// crc32 instruction when it has one); for tests that compare the two.
std::uint32_t crc32c_portable_extend(std::uint32_t crc, std::string_view data);

// Running checksum over data fed in pieces; value() may be read at any point and feeding may go on.
class Crc32c {
 public:
  void update(std::string_view data) { crc_ = crc32c_extend(crc_, data); }
  std::uint32_t value() const { return crc_; }

 private:
  std::uint32_t crc_ = 0;  // crc32c of the empty string
};

}  // namespace replsim::core
