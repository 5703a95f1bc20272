// core/small_file.h — small state files (nodes.conf, repl.state, fullsync.intent) written atomically
// and read back verified.
//
// A small file is a text body followed by a "crc32c <8 hex digits>" line over the body. Writing goes
// through <name>.tmp: write, sync, rename over <name>, sync the directory, so a crash leaves either the
// old file or the new one, whole. These functions own nothing and reach the disk only through Env.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/env.h"

namespace replsim::core {

// Replaces name with body (plus its checksum line), durably. Errors name the file.
Status save_small_file(Env& env, const std::string& name, std::string_view body);

// The body of name, verified against its checksum line; nullopt when the file does not exist.
// Err::invalid when it does not verify, naming the file and what is wrong.
Result<std::optional<std::string>> load_small_file(Env& env, const std::string& name);

// Removes name (a missing file is fine) and syncs the directory.
Status remove_small_file(Env& env, const std::string& name);

}  // namespace replsim::core
