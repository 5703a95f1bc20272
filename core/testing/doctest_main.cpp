// doctest's main, compiled once and linked into every test executable (through doctest_main_dep):
// the implementation is the slowest file to compile, and sanitizer builds made that cost per test.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
