// tools/fuzz/fuzz_entries.h — one entry function per parser that reads untrusted bytes: RESP requests,
// scenario files, AOF directories, checkpoint directories and the report.json that replay reads.
//
// Each entry feeds one input to the real reader and checks the reader's contract: any input is either
// accepted (and then behaves: round trips, reopens, answers queries) or refused with a message naming
// the file; nothing crashes, and a refused AOF or checkpoint directory is left byte for byte as it was.
// The libFuzzer targets (fuzz_main.cpp, clang only) and the corpus regression test (corpus_test.cpp,
// every build) call the same functions, so every corpus file protects every build.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace replsim::fuzz {

// Returns "" when the input was handled as the contract says, otherwise what broke (the fuzzer
// aborts with it; the corpus test fails with it). Crashes and sanitizer reports are found by running.
using FuzzEntry = std::string (*)(std::string_view data);

std::string fuzz_resp(std::string_view data);
std::string fuzz_scenario(std::string_view data);
std::string fuzz_aof(std::string_view data);
std::string fuzz_checkpoint(std::string_view data);
std::string fuzz_report(std::string_view data);

struct FuzzTarget {
  const char* name;  // also the corpus folder: tools/fuzz/corpus/<name>/
  FuzzEntry entry;
};
const std::vector<FuzzTarget>& fuzz_targets();

// ---- the directory container of the aof and checkpoint targets ---------------------------------
//
// A directory (file name -> bytes) as one fuzz input: a header line "RSDIR1\n", then per file one
// byte of name length, the name, four bytes of data length (little-endian) and the data. A length
// that runs past the end takes what is there, so a mutated input still names files. The first byte
// after the header selects the store config the reader uses (page size and segment pages).

struct FuzzDirectory {
  unsigned char config_selector = 0;
  std::map<std::string, std::string> files;
};

std::string pack_directory(const FuzzDirectory& dir);
FuzzDirectory unpack_directory(std::string_view data);

// The AOF layouts a config selector chooses between (selector % count).
struct FuzzAofLayout {
  unsigned page_size_bytes;
  unsigned segment_pages;
};
const std::vector<FuzzAofLayout>& fuzz_aof_layouts();

}  // namespace replsim::fuzz
