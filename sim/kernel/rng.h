// sim/kernel/rng.h — seeded random streams.
//
// One seed makes the whole run. Each subsystem (network, disk, faults, workload, each node) draws from
// its own stream derived from (seed, name), so an extra draw in one never shifts another. Range
// reduction is our own: std distributions are implementation-defined and must not be used here.
#pragma once

#include <cstdint>
#include <string_view>

namespace replsim::kernel {

// SplitMix64 finaliser: a bijective 64-bit mixer.
constexpr std::uint64_t mix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// FNV-1a over a name, then mixed: a stable 64-bit id of a stream name.
constexpr std::uint64_t hash_name(std::string_view name) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return mix64(h);
}

// xoshiro256** generator seeded through SplitMix64.
class Rng {
 public:
  Rng() : Rng(0, "default") {}
  Rng(std::uint64_t seed, std::string_view stream_name) { reseed(seed ^ hash_name(stream_name)); }

  // A child stream: independent of how many draws this stream has made.
  static Rng derive(std::uint64_t seed, std::string_view stream_name) { return Rng(seed, stream_name); }

  std::uint64_t next_u64() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, n) without bias (Lemire's multiply-shift with rejection). n == 0 yields 0.
  std::uint64_t below(std::uint64_t n) {
    if (n == 0) return 0;
    std::uint64_t x = next_u64();
    __extension__ using u128 = unsigned __int128;
    u128 m = static_cast<u128>(x) * n;
    auto low = static_cast<std::uint64_t>(m);
    if (low < n) {
      const std::uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        x = next_u64();
        m = static_cast<u128>(x) * n;
        low = static_cast<std::uint64_t>(m);
      }
    }
    return static_cast<std::uint64_t>(m >> 64);
  }

  // Uniform in [lo, hi] (inclusive). REQUIRES: lo <= hi.
  std::int64_t range(std::int64_t lo, std::int64_t hi) {
    const auto span = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo);
    if (span == UINT64_MAX) return static_cast<std::int64_t>(next_u64());
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(lo) + below(span + 1));
  }

  // Uniform in [0, 1) with 53 bits of precision.
  double unit() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

  // True with probability p (p <= 0 never, p >= 1 always).
  bool chance(double p) {
    if (p <= 0.0) return false;
    if (p >= 1.0) return true;
    return unit() < p;
  }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  void reseed(std::uint64_t seed) {
    std::uint64_t z = seed;
    for (auto& s : s_) {
      z += 0x9e3779b97f4a7c15ULL;
      s = mix64(z);
    }
  }

  std::uint64_t s_[4] = {};
};

}  // namespace replsim::kernel
