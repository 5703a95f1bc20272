// core/aof.h — the append-only file: every write the store accepts, as checksummed records at logical
// byte addresses that replicas copy address for address.
//
// An Aof owns the segment files named aof.<16 hex digits> (and aof.intent) in its node's directory
// and the in-memory view of them (begin, tail, last decree, what is synced). It reaches the disk only
// through core::Env and never decides durability policy itself: the store calls sync() as its fsync
// policy says. It must never accept a record that a reader could fail on later. The format is core/doc/aof-format.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/env.h"

namespace replsim::core {

// When the store calls Aof::sync(). The Aof only stores the choice; the store acts on it.
enum class FsyncPolicy : std::uint8_t {
  always,    // sync before acknowledging each write
  everysec,  // sync about once a second from a background task
  no,        // never sync explicitly; the OS decides (segment rollovers still sync)
};

std::string_view fsync_policy_name(FsyncPolicy policy);  // "always", "everysec", "no"

struct AofConfig {
  // Records never cross a page boundary; the largest record is one page. At least kMinPageSizeBytes.
  std::uint64_t aof_page_size_bytes = 4096;
  // Pages per segment file (segments are aligned to multiples of pages * page size). At least 1.
  std::uint64_t aof_segment_pages = 1024;
  FsyncPolicy aof_fsync = FsyncPolicy::everysec;
  // KNOWN BUG aof-record-exceeds-page (incident 000): accept records larger than a page. Off in a
  // correct store; see core/known_bugs.h.
  bool bug_accept_records_over_page = false;
};

// What open() found and did, for INFO and the trace.
struct AofRecovery {
  std::uint64_t begin_address = 0;
  std::uint64_t tail_address = 0;
  std::uint64_t base_decree = 0;  // decree of the record just before begin_address
  std::uint64_t last_decree = 0;
  std::uint64_t records = 0;      // valid records found
  std::size_t segments = 0;       // segment files kept
  // A bad record, a damaged segment header or missing bytes with nothing valid after it: everything
  // from torn_address on was dropped (truncated or removed).
  bool torn_tail = false;
  std::uint64_t torn_address = 0;
  std::uint64_t bytes_dropped = 0;
  std::string torn_reason;  // what was found at torn_address
  // How many times a page that failed its checks was read again and then verified (read-time faults).
  std::uint64_t reread_recovered = 0;

  std::string to_string() const;
};

// One record as a reader sees it. argv points into a buffer that lives only during the callback.
struct AofRecord {
  std::uint64_t address = 0;      // first byte of the record header
  std::uint64_t end_address = 0;  // first byte after the record
  std::uint64_t decree = 0;
  std::vector<std::string_view> argv;
};

// A record or a padding as a reader located it (internal to the Aof). For a record every check
// passed: length, checksum and payload. Views point into the buffer the unit was parsed from. The
// payload is only checked, not split: most readers (read_raw, boundaries, decrees) never look at
// the arguments, and scan() splits each record's payload into one reused vector.
struct AofUnit {
  std::uint64_t address = 0;
  std::uint64_t end = 0;
  bool is_padding = false;
  std::uint64_t decree = 0;  // 0 for a padding
  std::string_view bytes;    // the whole unit as stored
  std::string_view payload;  // a record's payload (empty for a padding)
};

// Return false to stop the scan early (scan then returns ok).
using AofScanFn = std::function<bool(const AofRecord& record)>;

class Aof {
 public:
  // Record header: u32 payload length, u32 CRC32C, u64 decree (little-endian).
  static constexpr std::size_t kRecordHeaderBytes = 16;
  // The payload of the smallest record: argc = 1 and one empty argument.
  static constexpr std::size_t kMinPayloadBytes = 8;
  static constexpr std::uint64_t kMinPageSizeBytes = 64;
  static constexpr std::uint64_t kMaxPageSizeBytes = std::uint64_t{1} << 30;
  // Segment file header, outside the logical address space.
  static constexpr std::size_t kSegmentHeaderBytes = 64;
  // The length field value that starts the padding to the end of a page.
  static constexpr std::uint32_t kPaddingMarker = 0xFFFFFFFFu;

  // Lists the segment files, checks them and scans every record from the begin address to the valid
  // end. A torn tail is truncated (see recovery()); corruption with valid records after it, a damaged
  // first segment, or files written with another page or segment size fail with a Status naming the
  // file, the address, what was found and what to do. An empty directory gives an empty log at 0.
  static Result<std::unique_ptr<Aof>> open(Env& env, AofConfig config);

  Aof(const Aof&) = delete;
  Aof& operator=(const Aof&) = delete;

  // ---- sizes ----------------------------------------------------------------------------------
  // Bytes of argv's payload encoding: u32 argc, then u32 length + bytes per argument.
  static std::size_t payload_size(const std::vector<std::string>& argv);
  static std::size_t framed_size(std::size_t payload_bytes) { return kRecordHeaderBytes + payload_bytes; }
  static std::size_t framed_size(const std::vector<std::string>& argv) {
    return framed_size(payload_size(argv));
  }
  // Whether a record with this payload can be written at all (it fits in one page).
  bool fits(std::size_t payload_bytes) const { return check_record_fits(framed_size(payload_bytes)).is_ok(); }
  // The one place that decides whether a record is too large for the page (incident 000 lived here).
  // Err::invalid "record of N bytes does not fit aof_page_size_bytes=M; raise aof_page_size_bytes".
  Status check_record_fits(std::size_t framed_bytes) const;

  // ---- writer (primary) -----------------------------------------------------------------------
  // Appends one record and returns its address. REQUIRES of the caller, checked: decree ==
  // last_decree() + 1 and argv not empty. A record that does not fit a page is refused before
  // anything is written. If the record does not fit in the rest of the current page, the rest is
  // padded first. Not durable until sync().
  Result<std::uint64_t> append(std::uint64_t decree, const std::vector<std::string>& argv);
  // Makes everything up to tail_address() durable (file contents and new file names).
  Status sync();

  // ---- replica --------------------------------------------------------------------------------
  // Writes bytes the primary read with read_raw() at exactly address, which must equal
  // tail_address(). The bytes must be whole records and paddings that verify (checksums, decrees
  // continuing last_decree(), page rule); otherwise Err::invalid and nothing is written.
  Status append_raw(std::uint64_t address, std::string_view bytes);
  // Calls fn for every record of bytes that append_raw(address, bytes) put into the log: the part
  // below tail_address() (all of it, or a prefix of whole units when the append failed part way).
  // The records come from the caller's copy, which append_raw verified unit by unit before writing,
  // not from the files: a replica applies what it has just logged without reading it back, as a
  // store applies its own writes from memory. Err::invalid when the range is not what append_raw
  // took (an address that is not the start of the last append).
  Status scan_taken(std::uint64_t address, std::string_view bytes, const AofScanFn& fn) const;
  // Up to max_bytes of the log starting at from (a record boundary in [begin, tail]), ending on a
  // record boundary; at least one whole record or padding when from < tail, even if larger than
  // max_bytes. Every record is verified before it is returned.
  Result<std::string> read_raw(std::uint64_t from, std::size_t max_bytes);
  // The same into `out` (cleared first), so a caller streaming chunk after chunk keeps one buffer.
  Status read_raw(std::uint64_t from, std::size_t max_bytes, std::string& out);
  // Empties the log and makes it begin at address, with decree the last decree before it (after a
  // full checkpoint sync). Durable when it returns, and atomic across crashes: an intent file
  // (aof.intent) makes open() finish it, so a crash never leaves a shortened old log.
  Status reset_to(std::uint64_t address, std::uint64_t decree);
  // Removes whole segment files that lie entirely below address, except the last one; the begin
  // address moves to the first kept segment's start, never past address. Durable when it returns.
  Status truncate_before(std::uint64_t address);
  // Drops every record at or after address (a record boundary in [begin, tail]); the tail becomes
  // address and last_decree() the decree of the record before it. Durable when it returns, and
  // atomic across crashes through aof.intent like reset_to.
  Status truncate_after(std::uint64_t address);

  // ---- reader ---------------------------------------------------------------------------------
  // Calls fn for every record from from_address (a record boundary in [begin, tail]) to the tail, in
  // order. Records are verified as they are read; a page that fails is read once more before the
  // scan fails with Err::io_error naming the address.
  Status scan(std::uint64_t from_address, const AofScanFn& fn);
  // The decree of the last record that ends at or before address (a record boundary in
  // [begin, tail]); the base decree when there is none.
  Result<std::uint64_t> decree_before(std::uint64_t address);

  // ---- state ----------------------------------------------------------------------------------
  std::uint64_t begin_address() const { return begin_address_; }
  std::uint64_t tail_address() const { return tail_address_; }
  std::uint64_t synced_tail() const { return synced_tail_; }
  std::uint64_t last_decree() const { return last_decree_; }
  // The decree of the record just before begin_address().
  std::uint64_t base_decree() const;
  FsyncPolicy fsync_policy() const { return config_.aof_fsync; }
  void set_fsync_policy(FsyncPolicy policy) { config_.aof_fsync = policy; }
  const AofConfig& config() const { return config_; }
  const AofRecovery& recovery() const { return recovery_; }
  // Set after a write or sync failed in a way that leaves the files' state unknown; every later
  // write fails with it until the node restarts.
  const Status& write_error() const { return write_error_; }
  // Segment file names, oldest first.
  std::vector<std::string> segment_names() const;

  // "aof.<16 lowercase hex digits of first_address>".
  static std::string segment_file_name(std::uint64_t first_address);

 private:
  // One segment file: the addresses [first_address, min(segment end, first_address + data_bytes)).
  struct Segment {
    std::uint64_t first_address = 0;
    std::uint64_t base_decree = 0;   // decree of the record just before first_address
    std::uint64_t data_bytes = 0;    // bytes after the segment header
    std::uint64_t synced_bytes = 0;  // data_bytes known durable
    std::string name;
  };

  Aof(Env& env, AofConfig config);

  std::uint64_t page_size() const { return config_.aof_page_size_bytes; }
  std::uint64_t segment_size_bytes() const { return config_.aof_page_size_bytes * config_.aof_segment_pages; }
  std::uint64_t page_start(std::uint64_t address) const { return address - address % page_size(); }
  std::uint64_t segment_end(std::uint64_t first_address) const;
  std::string encode_segment_header(std::uint64_t first_address, std::uint64_t base_decree) const;

  Status check_writable() const;
  Status check_in_log(std::uint64_t address, std::string_view what) const;
  // Reads [address, address + length) of the log into `out` (replaced; its buffer is reused); the
  // range must lie in [begin, tail).
  Status read_log(std::uint64_t address, std::uint64_t length, std::string& out);
  // Walks the units of [from, to) (from a record boundary, to <= tail), reading a page at a time and
  // re-reading a page once when it fails verification. expected_decree, when not 0, is the decree the
  // first record must carry.
  Status walk(std::uint64_t from, std::uint64_t to, std::uint64_t expected_decree,
              const std::function<bool(const AofUnit&)>& fn);
  Status check_boundary(std::uint64_t address);
  // Remembers an address known to be a record boundary (a unit end this Aof wrote or verified), so
  // check_boundary need not re-read and re-verify the page up to it: a replication stream resumes at
  // the end of what it read last, on every record appended.
  // decree_before is the decree of the last record before the address, when the caller knows it
  // (kUnknownDecree otherwise); decree_before() then needs no walk either (a replica scans what it
  // just appended).
  static constexpr std::uint64_t kUnknownDecree = UINT64_MAX;
  void remember_boundary(std::uint64_t address, std::uint64_t decree_before = kUnknownDecree);
  const std::pair<std::uint64_t, std::uint64_t>* known_boundary(std::uint64_t address) const;
  // Appends bytes that start at tail_address() and end on a unit boundary; unit_ends and decrees
  // give each unit's end and its decree (0 for a padding) so a partial failure keeps the state right.
  Status write_units(std::string_view bytes, std::span<const std::uint64_t> unit_ends,
                     std::span<const std::uint64_t> decrees);
  Status roll_over(std::uint64_t first_address);
  Status remove_segment_file(const std::string& name);

  Env& env_;
  AofConfig config_;
  std::vector<Segment> segments_;  // by first address; the last one holds the tail
  std::uint64_t begin_address_ = 0;
  std::uint64_t tail_address_ = 0;
  std::uint64_t synced_tail_ = 0;
  std::uint64_t last_decree_ = 0;
  Status write_error_;
  AofRecovery recovery_;
  // Recently written or verified unit ends with the decree before each (or kUnknownDecree), a small
  // ring; address 0 marks an empty slot (it is a page start, which check_boundary accepts anyway).
  // Cleared when the tail moves back.
  std::array<std::pair<std::uint64_t, std::uint64_t>, 16> known_boundaries_{};
  std::size_t next_known_boundary_ = 0;
  // walk()'s list of the units of one page, kept between walks so that they allocate nothing.
  std::vector<AofUnit> walk_units_;
  std::string walk_bytes_;  // walk()'s page buffer, kept between walks likewise
  // The last bytes this process wrote, [recent_begin_, recent_begin_ + recent_.size()), at most
  // kRecentBytes. While it ends at the tail, read_raw serves a stream that keeps up from here, as a
  // Redis primary streams from its in-memory backlog, instead of reading back from the files what it
  // has just written; a replica further behind is still served from the files. Empty after a
  // restart, and forgotten when the tail moves back.
  static constexpr std::size_t kRecentBytes = 128 * 1024;
  std::uint64_t recent_begin_ = 0;
  std::string recent_;
  void forget_recent() {
    recent_.clear();
    recent_begin_ = tail_address_;
  }
  Status read_recent(std::uint64_t from, std::size_t max_bytes, std::string& out);
};

// ---- record encoding, shared by the writer, the readers and the tests ---------------------------

// The payload of argv: u32 argc, then per argument u32 length and its bytes (little-endian).
std::string encode_aof_payload(const std::vector<std::string>& argv);
// Splits a payload back into arguments (views into payload). Err::invalid with the byte offset when
// the lengths do not add up exactly or argc is 0.
Result<std::vector<std::string_view>> decode_aof_payload(std::string_view payload);
// A framed record: header (length, CRC32C, decree) + payload. The CRC covers the address, the length,
// the decree and the payload, so a record copied to another address does not verify.
std::string encode_aof_record(std::uint64_t address, std::uint64_t decree, std::string_view payload);
// Appends the framed record of argv to out: the same bytes as
// encode_aof_record(address, decree, encode_aof_payload(argv)), without the two temporaries.
void append_aof_record(std::string& out, std::uint64_t address, std::uint64_t decree,
                       const std::vector<std::string>& argv);

}  // namespace replsim::core
