// core/crc32c_test.cpp — CRC32C against published vectors, and the incremental form against the
// one-shot form at every split point.
#include "core/crc32c.h"

#include <doctest/doctest.h>

#include <string>

using replsim::core::Crc32c;
using replsim::core::crc32c;
using replsim::core::crc32c_extend;

TEST_CASE("known CRC32C vectors") {
  CHECK(crc32c("") == 0x00000000u);
  CHECK(crc32c("123456789") == 0xE3069283u);
  CHECK(crc32c("a") == 0xC1D04330u);
  // RFC 3720 (iSCSI) appendix B.4: 32 bytes of zeros, of 0xFF, and an ascending sequence.
  CHECK(crc32c(std::string(32, '\0')) == 0x8A9136AAu);
  CHECK(crc32c(std::string(32, '\xff')) == 0x62A8AB43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  CHECK(crc32c(ascending) == 0x46DD794Eu);
}

TEST_CASE("incremental form equals one-shot at every split") {
  const std::string text = "The quick brown fox jumps over the lazy dog, twice: 0123456789";
  const std::uint32_t whole = crc32c(text);
  for (std::size_t split = 0; split <= text.size(); ++split) {
    CHECK(crc32c_extend(crc32c(text.substr(0, split)), text.substr(split)) == whole);
    Crc32c running;
    running.update(text.substr(0, split));
    running.update(text.substr(split));
    CHECK(running.value() == whole);
  }
  Crc32c empty;
  CHECK(empty.value() == 0u);
}

TEST_CASE("the fast path and the portable path agree on every length and alignment") {
  std::string bytes;
  std::uint32_t x = 12345;
  for (int i = 0; i < 300; ++i) {
    x = x * 1103515245u + 12345u;
    bytes.push_back(static_cast<char>(x >> 16));
  }
  for (std::size_t start = 0; start < 9; ++start) {
    for (std::size_t len = 0; start + len <= bytes.size(); len += 7) {
      const std::string_view piece = std::string_view(bytes).substr(start, len);
      CHECK(crc32c_extend(0x1234abcdu, piece) == replsim::core::crc32c_portable_extend(0x1234abcdu, piece));
      CHECK(crc32c(piece) == replsim::core::crc32c_portable_extend(0, piece));
    }
  }
}
