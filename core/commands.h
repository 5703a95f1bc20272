// core/commands.h — the command table and the data commands (strings, lists, keyspace-wide) with Redis 7
// semantics, reply formats and error strings. It owns no state: it reads and changes a Keyspace passed
// in, with the time passed in, and describes every change as canonical write records ("effects") for
// the AOF and replication. It never reads a clock, never does I/O, and never decides on its own that a
// replica may delete an expired key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/env.h"
#include "core/keyspace.h"

namespace replsim::core {

// ---- the command table --------------------------------------------------------------------------

// Flag bits of a command, with Redis's meanings.
namespace cmd_flag {
inline constexpr std::uint32_t write = 1u << 0;     // may change the keyspace
inline constexpr std::uint32_t readonly = 1u << 1;  // reads keys, never changes them
inline constexpr std::uint32_t admin = 1u << 2;     // administrative (SAVE, DEBUG, CONFIG)
inline constexpr std::uint32_t fast = 1u << 3;      // O(1) or O(log n)
inline constexpr std::uint32_t no_auth = 1u << 4;   // allowed before AUTH
inline constexpr std::uint32_t loading = 1u << 5;   // allowed while the store is loading data
inline constexpr std::uint32_t stale = 1u << 6;     // allowed on a replica with a broken link
}  // namespace cmd_flag

// Who executes a command: execute_data_command, or the store itself (AUTH, INFO, CLUSTER, ...).
enum class CommandOwner : std::uint8_t { data, store };

struct CommandSpec {
  // Lowercase, as Redis spells it in error messages. Must outlive every table it is in (a literal).
  std::string_view name;
  // Redis convention, counting the command name: N means exactly N arguments, -N means at least N.
  int arity = 0;
  std::uint32_t flags = 0;
  // Key positions in argv: first, last (negative counts from the end: -1 is the last argument) and
  // step. first_key == 0 means the command takes no keys.
  int first_key = 0;
  int last_key = 0;
  int key_step = 0;
  CommandOwner owner = CommandOwner::data;

  bool has(std::uint32_t flag) const { return (flags & flag) != 0; }
  bool arity_ok(std::size_t argc) const;
};

// Every command the store knows: the data commands and the store-level ones (auth, info, config, save,
// debug, wait, cluster) with their Redis 7 arity, flags and key positions. Sorted by name.
std::span<const CommandSpec> builtin_commands();
// Looks a name up in builtin_commands(). REQUIRES: name is lowercase. Returns nullptr if unknown.
const CommandSpec* find_command(std::string_view lowercase_name);

// A table the store can extend with commands of its own; it starts as builtin_commands().
class CommandTable {
 public:
  CommandTable();
  // Adds a command, or replaces the one with the same name.
  void add(const CommandSpec& spec);
  const CommandSpec* find(std::string_view lowercase_name) const;

 private:
  std::map<std::string_view, CommandSpec, std::less<>> specs_;
};

// Indices into argv of the keys a command touches (for hash slots, MOVED and CROSSSLOT), in order.
// REQUIRES: spec.arity_ok(argv.size()).
std::vector<std::size_t> command_key_positions(const CommandSpec& spec,
                                               const std::vector<std::string>& argv);

std::string lowercase_ascii(std::string_view text);

// ---- error messages (as they follow the '-' on the wire) ----------------------------------------

inline constexpr std::string_view kErrWrongType =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
inline constexpr std::string_view kErrNotInteger = "ERR value is not an integer or out of range";
inline constexpr std::string_view kErrSyntax = "ERR syntax error";
inline constexpr std::string_view kErrOverflow = "ERR increment or decrement would overflow";
inline constexpr std::string_view kErrMustBePositive = "ERR value is out of range, must be positive";
inline constexpr std::string_view kErrStringTooLong =
    "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

// "ERR wrong number of arguments for 'get' command".
std::string wrong_arity_error(std::string_view lowercase_name);
// "ERR unknown command 'foo', with args beginning with: 'a' 'b' " — argv[0] as the client sent it,
// both parts cut to about 128 bytes as Redis does.
std::string unknown_command_error(const std::vector<std::string>& argv);

// ---- execution ----------------------------------------------------------------------------------

struct ExecContext {
  // The executing node's local clock in ms. Relative expiries (EX, PX) are resolved against it.
  std::int64_t now_ms = 0;
  // Primary: a logically expired key that a command touches is deleted and a DEL effect is emitted.
  // Replica: expired keys are hidden from reads but kept until the primary's DEL arrives.
  bool may_expire = true;
  // Redis's proto-max-bulk-len: the largest string APPEND may build.
  std::size_t max_string_bytes = std::size_t{512} * 1024 * 1024;
};

struct CommandResult {
  // The complete RESP reply, ready to send.
  std::string reply;
  // Write records to append to the AOF and ship to replicas, in order. Each is canonical: relative
  // expiries become SET k v PXAT <abs ms>, INCR/INCRBY become SET of the new value (keeping the TTL),
  // conditions (NX, XX, GET) are already decided, and DEL/LPOP/RPOP name only what really changed.
  // A command that changed nothing has none. A read can have one: the DEL of a key it found expired.
  std::vector<std::vector<std::string>> effects;

  bool is_error() const { return !reply.empty() && reply.front() == '-'; }
};

// Runs one data command. argv[0] is matched case-insensitively; unknown commands, wrong arity and
// store-level commands get error replies (never a crash, never an exception for bad input).
CommandResult execute_data_command(Keyspace& keyspace, const std::vector<std::string>& argv,
                                   const ExecContext& ctx);
// The same, for a caller that already looked argv[0] up: spec is its entry (from find_command or a
// CommandTable), so the name is not lowercased and looked up again.
CommandResult execute_data_command(Keyspace& keyspace, const CommandSpec& spec, const std::vector<std::string>& argv,
                                   const ExecContext& ctx);

// Applies one logged record (AOF replay, replication, duplication): the same code as execution, with no
// expiry decisions (every present key counts as live) and nothing propagated. A record that is not a
// data write, has the wrong arity, carries a relative expiry, or fails against the current keyspace
// (e.g. WRONGTYPE) is an Err::invalid naming the record. A duplication record (DUPNOOP, DUPAPPLY; see
// core/duplication_format.h) is applied by apply_duplication_record.
Status apply_effect(Keyspace& keyspace, const std::vector<std::string>& argv);

// How many bytes the RESP encoding of one effect can exceed the encoding of the argv that produced it
// (the PXAT and INCR→SET rewrites). The store refuses a request whose encoding plus this bound does
// not fit in a record, before executing it.
std::size_t max_effect_growth_bytes();

}  // namespace replsim::core
