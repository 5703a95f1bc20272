// sim/kernel/trace.h — the run's structured event record and its identity hash.
//
// Every event that can change a run's outcome (message sent/delivered, disk op, fault, command, reply,
// state change) is recorded here and folded into a running 64-bit hash: the final hash is the run's
// identity. The trace keeps a ring buffer of recent events for failure reports, can stream every event
// to a sink (trace.jsonl), and can keep the per-event hash sequence for determinism checks. It never
// reads the wall clock and never orders anything by address.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace replsim::kernel {

struct TraceEvent {
  std::uint64_t index = 0;  // 0-based position in the run
  std::int64_t time_ns = 0;  // global virtual time
  std::string node;         // node name, or "" for the simulator itself
  std::string kind;         // short dotted id: "net.send", "disk.crash", "store.role"
  std::string detail;       // "key=value" pairs separated by spaces
  std::uint64_t hash = 0;   // running hash after folding this event

  // One JSON object on one line (for trace.jsonl).
  std::string to_json() const;
  // "   12.345678s c0n1 net.send bytes=12 ..." for terminals.
  std::string to_text() const;
};

class Trace {
 public:
  explicit Trace(std::size_t ring_capacity = 256) : ring_capacity_(ring_capacity) {}

  void record(std::int64_t time_ns, std::string_view node, std::string_view kind,
              std::string_view detail);

  std::uint64_t hash() const { return hash_; }
  std::uint64_t count() const { return count_; }
  // The last ring_capacity events, oldest first.
  std::vector<TraceEvent> recent() const;

  // Receives every event as it is recorded (e.g. a JSONL writer or the --trace printer).
  void set_sink(std::function<void(const TraceEvent&)> sink) { sink_ = std::move(sink); }
  // Keep the hash after each event, so two runs can be compared event by event.
  void keep_hash_sequence(bool keep) { keep_hashes_ = keep; }
  const std::vector<std::uint64_t>& hash_sequence() const { return hashes_; }

 private:
  std::size_t ring_capacity_;
  std::uint64_t hash_ = 0x7265706c73696dULL;  // "replsim"
  std::uint64_t count_ = 0;
  // A circular buffer whose slots are reused, so recording allocates nothing once it is full (the
  // strings keep their capacity): ring_next_ is the slot the next event goes to.
  // A reusable byte buffer that grows without zero-filling (std::string::resize would write every
  // byte twice at every record).
  struct RecordBytes {
    std::unique_ptr<char[]> data;
    std::size_t size = 0;
    std::size_t capacity = 0;
    char* reset(std::size_t n);  // size becomes n; the contents are to be written
    std::string_view view() const { return {data.get(), size}; }
  };
  struct RingSlot {
    std::uint64_t index = 0;
    std::uint64_t hash = 0;
    RecordBytes bytes;  // the record as hashed: time, then node, kind and detail with length prefixes
  };
  std::vector<RingSlot> ring_;
  std::size_t ring_next_ = 0;
  std::function<void(const TraceEvent&)> sink_;
  bool keep_hashes_ = false;
  std::vector<std::uint64_t> hashes_;
  RecordBytes fold_buffer_;  // the record's bytes as hashed when there is no ring, reused
};

// "%016x" of a hash, as printed on PASS/FAIL lines.
std::string hex64(std::uint64_t v);

}  // namespace replsim::kernel
