// core/check.h — assertions for the store's "cannot happen" invariants.
//
// REPLSIM_CHECK stops the node through Env::abort with the condition, the file and the line, so the
// simulator records it (the no-abort check) and a real server exits with a message. It is only for
// programmer errors: bad input, I/O errors and corrupt files are Status values, never checks.
#pragma once

#include <string>
#include <string_view>

#include "core/env.h"

namespace replsim::core {

// Builds the message and aborts the node. Out of line so a check costs one branch where it is used.
[[noreturn]] void check_failed(Env& env, std::string_view condition, std::string_view message,
                               std::string_view file, int line);

}  // namespace replsim::core

// REQUIRES: env is a core::Env&; msg converts to std::string_view. Evaluates msg only on failure.
#define REPLSIM_CHECK(env, cond, msg)                                                    \
  do {                                                                                   \
    if (!(cond)) ::replsim::core::check_failed((env), #cond, (msg), __FILE__, __LINE__); \
  } while (false)
