// sim/kernel/trace.cpp — folding events into the run hash, the ring buffer and the renderings.
#include "sim/kernel/trace.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <xxhash.h>

namespace replsim::kernel {

namespace {

// Appends one field with a length prefix, so ("ab","c") and ("a","bc") hash differently.
void put_field(std::string& out, std::string_view s) {
  const std::uint64_t len = s.size();
  out.append(reinterpret_cast<const char*>(&len), sizeof len);
  out.append(s);
}

}  // namespace

void Trace::record(std::int64_t time_ns, std::string_view node, std::string_view kind,
                   std::string_view detail) {
  // One hash over the whole record (time, then each field with its length), seeded with the hash so
  // far: a single call instead of one per field and per length.
  fold_buffer_.clear();
  fold_buffer_.append(reinterpret_cast<const char*>(&time_ns), sizeof time_ns);
  put_field(fold_buffer_, node);
  put_field(fold_buffer_, kind);
  put_field(fold_buffer_, detail);
  const std::uint64_t h = XXH3_64bits_withSeed(fold_buffer_.data(), fold_buffer_.size(), hash_);
  hash_ = h;
  const std::uint64_t index = count_++;
  if (keep_hashes_) hashes_.push_back(h);
  if (ring_capacity_ == 0 && !sink_) return;

  if (ring_capacity_ == 0) {
    TraceEvent ev{index, time_ns, std::string(node), std::string(kind), std::string(detail), h};
    sink_(ev);
    return;
  }
  if (ring_.size() < ring_capacity_) ring_.emplace_back();
  TraceEvent& ev = ring_[ring_next_];
  ring_next_ = (ring_next_ + 1) % ring_capacity_;
  ev.index = index;
  ev.time_ns = time_ns;
  ev.node.assign(node);
  ev.kind.assign(kind);
  ev.detail.assign(detail);
  ev.hash = h;
  if (sink_) sink_(ev);
}

std::vector<TraceEvent> Trace::recent() const {
  std::vector<TraceEvent> out;
  out.reserve(ring_.size());
  // Until the ring is full, ring_next_ == ring_.size() and the oldest event is slot 0.
  const std::size_t oldest = ring_.size() < ring_capacity_ ? 0 : ring_next_;
  for (std::size_t k = 0; k < ring_.size(); ++k) out.push_back(ring_[(oldest + k) % ring_.size()]);
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
