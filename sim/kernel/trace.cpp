// sim/kernel/trace.cpp — folding events into the run hash, the ring buffer and the renderings.
#include "sim/kernel/trace.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <xxhash.h>

namespace replsim::kernel {

namespace {

// A record's bytes, as hashed and as kept in the ring: the time, then each field with a length
// prefix, so ("ab","c") and ("a","bc") hash differently.
char* put_bytes(char* p, const void* src, std::size_t n) {
  if (n != 0) std::memcpy(p, src, n);
  return p + n;
}

char* put_field(char* p, std::string_view s) {
  const std::uint64_t len = s.size();
  p = put_bytes(p, &len, sizeof len);
  return put_bytes(p, s.data(), s.size());
}

void encode_record(char* out, std::int64_t time_ns, std::string_view node, std::string_view kind,
                   std::string_view detail) {
  char* p = put_bytes(out, &time_ns, sizeof time_ns);
  p = put_field(p, node);
  p = put_field(p, kind);
  put_field(p, detail);
}

// Reads back one field written by put_field; `pos` moves past it.
std::string read_field(std::string_view bytes, std::size_t& pos) {
  std::uint64_t len = 0;
  std::memcpy(&len, bytes.data() + pos, sizeof len);
  pos += sizeof len;
  std::string out(bytes.substr(pos, len));
  pos += len;
  return out;
}

}  // namespace

char* Trace::RecordBytes::reset(std::size_t n) {
  if (n > capacity) {
    capacity = std::max<std::size_t>({n, 2 * capacity, 128});
    data = std::make_unique_for_overwrite<char[]>(capacity);
  }
  size = n;
  return data.get();
}

void Trace::record(std::int64_t time_ns, std::string_view node, std::string_view kind,
                   std::string_view detail) {
  // The record is encoded once, straight into its ring slot (or a scratch buffer without a ring),
  // and hashed there with one call seeded with the hash so far.
  const std::uint64_t index = count_++;
  RecordBytes* bytes = &fold_buffer_;
  RingSlot* slot = nullptr;
  if (ring_capacity_ > 0) {
    if (ring_.size() < ring_capacity_) ring_.emplace_back();
    slot = &ring_[ring_next_];
    ring_next_ = ring_next_ + 1 == ring_capacity_ ? 0 : ring_next_ + 1;
    bytes = &slot->bytes;
  }
  const std::size_t size =
      sizeof time_ns + 3 * sizeof(std::uint64_t) + node.size() + kind.size() + detail.size();
  encode_record(bytes->reset(size), time_ns, node, kind, detail);
  const std::uint64_t h = XXH3_64bits_withSeed(bytes->data.get(), size, hash_);
  hash_ = h;
  if (keep_hashes_) hashes_.push_back(h);
  if (slot != nullptr) {
    slot->index = index;
    slot->hash = h;
  }
  if (sink_) sink_(TraceEvent{index, time_ns, std::string(node), std::string(kind), std::string(detail), h});
}

std::vector<TraceEvent> Trace::recent() const {
  std::vector<TraceEvent> out;
  out.reserve(ring_.size());
  // Until the ring is full, ring_next_ == ring_.size() and the oldest event is slot 0.
  const std::size_t oldest = ring_.size() < ring_capacity_ ? 0 : ring_next_;
  for (std::size_t k = 0; k < ring_.size(); ++k) {
    const RingSlot& slot = ring_[(oldest + k) % ring_.size()];
    TraceEvent ev;
    ev.index = slot.index;
    ev.hash = slot.hash;
    const std::string_view bytes = slot.bytes.view();
    std::memcpy(&ev.time_ns, bytes.data(), sizeof ev.time_ns);
    std::size_t pos = sizeof ev.time_ns;
    ev.node = read_field(bytes, pos);
    ev.kind = read_field(bytes, pos);
    ev.detail = read_field(bytes, pos);
    out.push_back(std::move(ev));
  }
  return out;
}

std::string TraceEvent::to_json() const {
  nlohmann::json j;
  j["i"] = index;
  j["t_ns"] = time_ns;
  j["node"] = node;
  j["kind"] = kind;
  j["detail"] = detail;
  j["hash"] = hex64(hash);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string TraceEvent::to_text() const {
  return fmt::format("{:>8} {:>14.9f}s {:<6} {:<22} {}", index, static_cast<double>(time_ns) / 1e9,
                     node.empty() ? "-" : node, kind, detail);
}

std::string hex64(std::uint64_t v) { return fmt::format("{:016x}", v); }

}  // namespace replsim::kernel
