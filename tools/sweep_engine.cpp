// tools/sweep_engine.cpp — runs (scenario, seed) pairs in forked worker processes.
//
// One fork per run: the child runs the simulation under its own address-space limit, writes a framed
// result to a pipe and exits with _exit; its stderr goes to a second pipe, of which the parent keeps
// the head and the tail. The parent polls every pipe, kills a worker that outlives its wall budget,
// and turns each exit — clean, by signal, or without a result — into one RunRecord. A crash in one
// seed never stops the sweep. In determinism mode each seed runs twice in separate processes; when
// the hash sequences differ, two more runs capture the events around the first difference. The
// parent never runs a simulation itself, so nothing a seed does can take the sweep down.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <new>
#include <stdexcept>

#include <fmt/format.h>

#include "reports/report.h"
#include "tools/commands.h"
#include "tools/run_limits.h"
#include "tools/sweep.h"

#if defined(__SANITIZE_ADDRESS__)
#define REPLSIM_TOOLS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REPLSIM_TOOLS_ASAN 1
#endif
#endif

namespace replsim::tools {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kStderrHeadBytes = 2048;
constexpr std::size_t kStderrTailBytes = 2048;
constexpr std::uint64_t kCaptureBefore = 3;  // events shown before the first divergent one
constexpr std::uint32_t kFrameMagic = 0x31575352;  // "RSW1"
constexpr auto kTickInterval = std::chrono::milliseconds(200);

volatile std::sig_atomic_t g_stop_signal = 0;
// In a worker: where its run is, in memory shared with the parent (see Worker::position).
RunPosition* g_worker_position = nullptr;

void on_stop_signal(int sig) { g_stop_signal = sig; }

std::int64_t ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

std::string signal_name(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGPIPE: return "SIGPIPE";
    case SIGTRAP: return "SIGTRAP";
    case SIGXCPU: return "SIGXCPU";
    default: return fmt::format("signal {}", sig);
  }
}

// ---- what a worker does ------------------------------------------------------------------------

// One process to start: a run of a unit (a scenario and a seed), or in determinism mode one of its
// two runs or one of the two reruns that capture the events around the first difference.
struct Attempt {
  std::size_t unit = 0;
  int run_number = 0;  // 0: the first run of the seed, 1: the second (determinism mode only)
  bool keep_hashes = false;
  std::optional<std::uint64_t> capture_at;  // capture events [at - kCaptureBefore, at]
  // When this run writes report.json (only with --out): a sweep's failing runs, every run of
  // `run --out`, and the rerun that documents a determinism failure.
  enum class Report : std::uint8_t { never, on_failure, always } report = Report::never;
};

std::optional<std::uint64_t> env_u64(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return n;
}

// Test-only faults, read only here in tools/ and never by the simulator, so the tests can prove that
// a worker that crashes, hangs, runs out of memory or is nondeterministic becomes a recorded result.
void apply_test_faults(std::uint64_t seed) {
  if (env_u64("REPLSIM_TEST_CRASH_SEED") == seed) std::raise(SIGSEGV);
  if (env_u64("REPLSIM_TEST_ABORT_SEED") == seed) std::abort();
  if (env_u64("REPLSIM_TEST_HANG_SEED") == seed) {
    for (;;) pause();
  }
  if (env_u64("REPLSIM_TEST_OOM_SEED") == seed) {
    rlimit limit{};
    if (getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) {
      std::fprintf(stderr, "REPLSIM_TEST_OOM_SEED: no memory limit in effect; refusing to exhaust the machine\n");
      std::abort();
    }
    std::vector<std::unique_ptr<char[]>> hog;
    for (;;) {
      constexpr std::size_t kChunkBytes = std::size_t{64} << 20;
      hog.push_back(std::make_unique<char[]>(kChunkBytes));
      std::memset(hog.back().get(), 1, kChunkBytes);
    }
  }
}

constexpr std::uint64_t kTestPerturbation = 0x5eed5eed5eed5eedULL;

// REPLSIM_TEST_NONDETERMINISM_EVENT=k: the second run of each seed reports different events from
// index k on, as a nondeterministic simulator would.
std::optional<std::uint64_t> test_nondeterminism_from(int run_number) {
  if (run_number != 1) return std::nullopt;
  return env_u64("REPLSIM_TEST_NONDETERMINISM_EVENT");
}

json event_to_json(const kernel::TraceEvent& ev) {
  return json{{"index", ev.index}, {"time_ns", ev.time_ns}, {"node", ev.node}, {"kind", ev.kind},
              {"detail", ev.detail}, {"hash", ev.hash}};
}

kernel::TraceEvent event_from_json(const json& j) {
  kernel::TraceEvent ev;
  ev.index = j.value("index", std::uint64_t{0});
  ev.time_ns = j.value("time_ns", std::int64_t{0});
  ev.node = j.value("node", std::string());
  ev.kind = j.value("kind", std::string());
  ev.detail = j.value("detail", std::string());
  ev.hash = j.value("hash", std::uint64_t{0});
  return ev;
}

std::string run_message(const sim::RunResult& r) {
  if (r.verdict == sim::Verdict::error) return "run error: " + r.error;
  if (r.violations.empty()) return {};
  const sim::Violation& v = r.violations.front();
  std::string text = fmt::format("{} at {:.3f}s on {}: {}", v.check,
                                 v.time_ns < 0 ? -1.0 : static_cast<double>(v.time_ns) / 1e9,
                                 v.node.empty() ? "-" : v.node, v.message);
  if (r.violations.size() > 1) text += fmt::format(" (and {} more violations)", r.violations.size() - 1);
  return text;
}

std::string report_dir_for(const EngineOptions& options, const ScenarioEntry& entry, std::uint64_t seed) {
  if (options.single_run_layout) return options.out_dir;
  return fmt::format("{}/{}/seed-{}", options.out_dir, entry.folder, seed);
}

// The report folder as the summary names it: relative to --out.
std::string report_rel_for(const EngineOptions& options, const ScenarioEntry& entry, std::uint64_t seed) {
  if (options.single_run_layout) return ".";
  return fmt::format("{}/seed-{}", entry.folder, seed);
}

// Reruns the seed to stream trace.jsonl and draw report.html, and writes report.json and
// history.json from the first run (a sweep cannot know in advance which runs will fail, and tracing
// every run would cost time and disk).
json write_reports(const ScenarioEntry& entry, std::uint64_t seed, const EngineOptions& options,
                   const sim::RunResult& result, std::int64_t wall_ms) {
  const std::string dir = report_dir_for(options, entry, seed);
  reports::ReportInputs in;
  in.scenario = &entry.scenario;
  in.scenario_path = entry.path;
  in.seed = seed;
  in.bugs = options.bugs;
  in.result = &result;
  in.replay_command = replay_command(entry.path, seed, options.bugs);
  in.wall_ms = wall_ms;
  in.binary_id = binary_id();
  json out;
  reports::RunFilesWriter files(dir, entry.scenario);
  std::string open_error = files.open();
  sim::RunOptions again;
  again.seed = seed;
  again.bugs = options.bugs;
  again.trace_sink = [&files](const kernel::TraceEvent& ev) { files.on_event(ev); };
  const sim::RunResult rerun = sim::run_scenario(entry.scenario, again);
  if (std::string err = files.finish(in); !err.empty() || !open_error.empty()) {
    out["report_error"] = open_error.empty() ? err : open_error;
    if (!std::filesystem::exists(dir + "/report.json")) return out;
  }
  out["report_dir"] = dir;
  if (rerun.trace_hash != result.trace_hash) {
    out["trace_note"] = fmt::format("trace.jsonl comes from a rerun whose trace hash {} differs from {}",
                                    kernel::hex64(rerun.trace_hash), kernel::hex64(result.trace_hash));
  }
  return out;
}

// Runs one attempt and returns what the parent needs. Exceptions escape to worker_main.
//
// The per-event hashes come from the trace sink rather than RunOptions::keep_hash_sequence, because
// they are then keyed by event index: the sink and the sequence both start after the world's
// constructor has recorded its first events, and "first_index" says where they start. A difference
// in those earliest events still shows, since every event's hash folds in all before it.
json run_attempt(const ScenarioEntry& entry, std::uint64_t seed, const Attempt& attempt, const EngineOptions& options,
                 std::vector<std::uint64_t>& hashes) {
  const auto perturb_from = test_nondeterminism_from(attempt.run_number);
  auto perturbed = [perturb_from](std::uint64_t index) { return perturb_from && index >= *perturb_from; };
  sim::RunOptions ro;
  ro.seed = seed;
  ro.bugs = options.bugs;
  ro.watchdog = make_run_watchdog(entry.scenario.limits.wall_time_ms, g_worker_position);
  json captured = json::array();
  std::optional<std::uint64_t> first_index;
  if (attempt.keep_hashes || attempt.capture_at) {
    ro.trace_sink = [&](const kernel::TraceEvent& ev) {
      if (!first_index) first_index = ev.index;
      if (attempt.keep_hashes) hashes.push_back(perturbed(ev.index) ? ev.hash ^ kTestPerturbation : ev.hash);
      if (!attempt.capture_at) return;
      const std::uint64_t at = *attempt.capture_at;
      if (ev.index + kCaptureBefore < at || ev.index > at) return;
      kernel::TraceEvent copy = ev;
      if (perturbed(ev.index)) {
        copy.detail += " test-perturbation=1";
        copy.hash ^= kTestPerturbation;
      }
      captured.push_back(event_to_json(copy));
    };
  }
  const auto start = Clock::now();
  const sim::RunResult result = sim::run_scenario(entry.scenario, ro);
  const std::int64_t wall_ms = ms_since(start);

  json out;
  out["verdict"] = sim::verdict_name(result.verdict);
  out["check"] = result.verdict == sim::Verdict::error ? std::string("run-limit") : result.first_failed_check();
  out["trace_hash"] = kernel::hex64(result.trace_hash);
  out["events"] = result.stats.trace_events;
  out["sim_ms"] = result.stats.sim_ns / 1'000'000;
  out["wall_ms"] = wall_ms;
  out["message"] = run_message(result);
  out["seed_line"] = seed_line(seed, entry.scenario, entry.path, options.bugs);
  out["body_lines"] = run_body_lines(result);
  out["captured"] = captured;
  out["first_index"] = first_index.value_or(0);
  const bool failed = result.verdict != sim::Verdict::pass;
  const bool wanted = attempt.report == Attempt::Report::always ||
                      (attempt.report == Attempt::Report::on_failure && failed);
  if (wanted && !options.out_dir.empty()) {
    out.update(write_reports(entry, seed, options, result, wall_ms));
  }
  return out;
}

bool write_all(int fd, const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// The frame a worker sends: magic, JSON length, JSON text, hash count, hashes (host byte order; the
// parent is the same binary on the same machine).
void send_frame(int fd, const json& result, const std::vector<std::uint64_t>& hashes) {
  const std::string text = result.dump(-1, ' ', false, json::error_handler_t::replace);
  const std::uint32_t magic = kFrameMagic;
  const std::uint64_t text_size = text.size();
  const std::uint64_t hash_count = hashes.size();
  write_all(fd, &magic, sizeof magic);
  write_all(fd, &text_size, sizeof text_size);
  write_all(fd, text.data(), text.size());
  write_all(fd, &hash_count, sizeof hash_count);
  write_all(fd, hashes.data(), hashes.size() * sizeof(std::uint64_t));
}

// The child side of a fork. Never returns.
[[noreturn]] void worker_main(const ScenarioEntry& entry, std::uint64_t seed, const Attempt& attempt,
                              const EngineOptions& options, int result_fd, int stderr_fd, RunPosition* position) {
  g_worker_position = position;
  std::signal(SIGINT, SIG_IGN);  // Ctrl-C reaches the whole process group; the parent decides
  std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGPIPE, SIG_DFL);
#ifdef __linux__
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // a worker never outlives its sweep
#endif
  const int devnull = ::open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    ::dup2(devnull, STDIN_FILENO);
    ::dup2(devnull, STDOUT_FILENO);
    ::close(devnull);
  }
  ::dup2(stderr_fd, STDERR_FILENO);
  ::close(stderr_fd);
  const std::int64_t limit_mb = effective_memory_limit_mb(options.memory_limit_mb);
  if (limit_mb > 0) {
    const rlimit limit{static_cast<rlim_t>(limit_mb) << 20, static_cast<rlim_t>(limit_mb) << 20};
    setrlimit(RLIMIT_AS, &limit);
  }

  json out;
  std::vector<std::uint64_t> hashes;
  try {
    apply_test_faults(seed);
    out = run_attempt(entry, seed, attempt, options, hashes);
  } catch (const std::bad_alloc&) {
    hashes.clear();
    out = json{{"worker_error", "memory"},
               {"message", fmt::format("out of memory (the worker's limit is {} MiB; --memory-limit-mb)", limit_mb)}};
  } catch (const std::exception& e) {
    hashes.clear();
    out = json{{"worker_error", "internal"}, {"message", fmt::format("internal error: {}", e.what())}};
  }
  send_frame(result_fd, out, hashes);
  ::close(result_fd);
  std::fflush(stderr);
  _exit(0);
}

// ---- the parent's side -------------------------------------------------------------------------

// What came back from one worker process.
struct AttemptResult {
  bool finished = false;  // a complete result arrived and the worker exited cleanly
  json result;
  std::vector<std::uint64_t> hashes;
  std::string error_kind;  // when not finished, or when the worker reported an error
  std::string message;
  std::string stderr_text;
  std::int64_t wall_ms = 0;
};

struct Worker {
  pid_t pid = -1;
  Attempt attempt;
  int result_fd = -1;
  int stderr_fd = -1;
  std::string result_bytes;
  std::string stderr_head;
  std::string stderr_tail;
  std::uint64_t stderr_total = 0;
  Clock::time_point start;
  Clock::time_point deadline;
  bool killed_for_budget = false;
  bool cancelled = false;  // killed because the sweep is stopping; not recorded
  // Where the worker's run was at its last watchdog call: one page shared with the worker (mmap
  // before fork), so that a worker killed by a signal, its wall budget or its memory limit still says
  // how far it got. nullptr when the page could not be mapped.
  RunPosition* position = nullptr;
};

RunPosition* map_position() {
  void* page = ::mmap(nullptr, sizeof(RunPosition), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return nullptr;
  return new (page) RunPosition();
}

void unmap_position(RunPosition*& position) {
  if (position == nullptr) return;
  ::munmap(position, sizeof(RunPosition));
  position = nullptr;
}

bool parse_frame(const std::string& bytes, AttemptResult& out) {
  std::size_t pos = 0;
  auto take = [&](void* dst, std::size_t n) {
    if (bytes.size() - pos < n) return false;
    std::memcpy(dst, bytes.data() + pos, n);
    pos += n;
    return true;
  };
  std::uint32_t magic = 0;
  std::uint64_t text_size = 0;
  if (!take(&magic, sizeof magic) || magic != kFrameMagic || !take(&text_size, sizeof text_size)) return false;
  if (bytes.size() - pos < text_size) return false;
  out.result = json::parse(bytes.substr(pos, text_size), nullptr, false);
  pos += text_size;
  if (out.result.is_discarded() || !out.result.is_object()) return false;
  std::uint64_t hash_count = 0;
  if (!take(&hash_count, sizeof hash_count)) return false;
  if ((bytes.size() - pos) / sizeof(std::uint64_t) != hash_count || (bytes.size() - pos) % sizeof(std::uint64_t) != 0) {
    return false;
  }
  out.hashes.resize(hash_count);
  // memcpy with a null destination is undefined even for zero bytes, and an empty vector's data() may be null.
  if (hash_count != 0) std::memcpy(out.hashes.data(), bytes.data() + pos, hash_count * sizeof(std::uint64_t));
  return true;
}

std::string stderr_excerpt(const Worker& w) {
  std::string text = w.stderr_head;
  if (w.stderr_total > w.stderr_head.size() + w.stderr_tail.size()) text += "\n[...]\n";
  text += w.stderr_tail;
  return sanitize_text(text);
}

// The line of a worker's stderr that best says what went wrong, for one-line messages.
std::string telling_line(const std::string& text) {
  std::string last;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string lower = line;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    for (const char* word : {"error", "terminate", "assert", "abort", "panic", "what()"}) {
      if (lower.find(word) != std::string::npos) return line.size() > 300 ? line.substr(0, 300) + "..." : line;
    }
    last = line;
  }
  return last.size() > 300 ? last.substr(0, 300) + "..." : last;
}

AttemptResult collect(Worker& w, int status, const EngineOptions& options) {
  AttemptResult r;
  r.wall_ms = ms_since(w.start);
  r.stderr_text = stderr_excerpt(w);
  const bool framed = parse_frame(w.result_bytes, r);
  const std::string said = telling_line(r.stderr_text);
  const std::string said_suffix = said.empty() ? "" : "; stderr: " + said;
  if (w.killed_for_budget) {
    r.error_kind = "wall-budget";
    r.message = fmt::format("exceeded its wall budget of {} ms and was killed (--wall-budget-ms)", options.wall_budget_ms);
  } else if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const bool memory = r.stderr_text.find("bad_alloc") != std::string::npos;
    r.error_kind = memory ? "memory" : "signal";
    r.message = fmt::format("worker killed by {} ({})", signal_name(sig), strsignal(sig));
    if (memory) {
      r.message += fmt::format(": out of memory (limit {} MiB)", effective_memory_limit_mb(options.memory_limit_mb));
    } else if (sig == SIGKILL) {
      r.message += " — not by replsim; the kernel's out-of-memory killer does this";
    }
    r.message += said_suffix;
  } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
    r.error_kind = "exit";
    r.message = fmt::format("worker exited with status {} before reporting a result{}", WEXITSTATUS(status), said_suffix);
  } else if (!framed) {
    r.error_kind = "exit";
    r.message = "worker exited without a complete result" + said_suffix;
  } else if (r.result.contains("worker_error")) {
    r.error_kind = r.result.value("worker_error", std::string("internal"));
    r.message = r.result.value("message", std::string("worker error"));
  } else {
    r.finished = true;
  }
  if (!r.finished && w.position != nullptr) {
    if (const std::string where = w.position->describe(); !where.empty()) r.message += "; the run was last seen " + where;
  }
  return r;
}

std::string event_text(const kernel::TraceEvent& ev) {
  return fmt::format("{} hash={}", ev.to_text(), kernel::hex64(ev.hash));
}

// Everything the engine tracks about one (scenario, seed).
struct UnitState {
  std::optional<AttemptResult> runs[2];
  std::optional<AttemptResult> captures[2];
  std::optional<std::uint64_t> divergence;
  std::uint64_t hash_at_divergence[2] = {0, 0};
  std::uint64_t events[2] = {0, 0};
  bool done = false;
};

class Engine {
 public:
  Engine(const std::vector<ScenarioEntry>& scenarios, const std::vector<RunKey>& keys, const EngineOptions& options,
         const EngineObserver& observer)
      : scenarios_(scenarios), keys_(keys), options_(options), observer_(observer), units_(keys.size()) {}

  EngineReport run();

 private:
  void launch(const Attempt& attempt);
  void poll_once();
  void reap(Worker& w);
  void attempt_done(const Attempt& attempt, AttemptResult result);
  void complete(std::size_t unit, UnitOutcome outcome);
  void stop_everything();
  UnitOutcome base_outcome(std::size_t unit) const;
  UnitOutcome outcome_from_run(std::size_t unit, const AttemptResult& r) const;
  UnitOutcome error_outcome(std::size_t unit, const AttemptResult& r, const std::string& which) const;
  UnitOutcome divergence_outcome(std::size_t unit);
  void write_note(UnitOutcome& outcome, const std::string& file, const std::string& text) const;
  EngineProgress progress() const;

  const std::vector<ScenarioEntry>& scenarios_;
  const std::vector<RunKey>& keys_;
  const EngineOptions& options_;
  const EngineObserver& observer_;
  std::vector<UnitState> units_;
  std::vector<std::optional<UnitOutcome>> outcomes_;
  std::deque<Attempt> queue_;
  std::vector<std::unique_ptr<Worker>> running_;
  Clock::time_point start_;
  std::uint64_t done_ = 0;
  Totals totals_;
  bool stopping_ = false;
  bool stopped_early_ = false;
};

EngineReport Engine::run() {
  start_ = Clock::now();
  outcomes_.assign(keys_.size(), std::nullopt);
  const auto report = options_.reports_for_every_run ? Attempt::Report::always : Attempt::Report::on_failure;
  for (std::size_t u = 0; u < keys_.size(); ++u) {
    queue_.push_back(Attempt{u, 0, options_.check_determinism, std::nullopt, report});
    if (options_.check_determinism) queue_.push_back(Attempt{u, 1, true, std::nullopt, Attempt::Report::never});
  }
  g_stop_signal = 0;
  struct sigaction stop_action {};
  stop_action.sa_handler = on_stop_signal;
  sigemptyset(&stop_action.sa_mask);
  stop_action.sa_flags = static_cast<int>(SA_RESETHAND);  // a second Ctrl-C ends replsim at once
  struct sigaction old_int {};
  struct sigaction old_term {};
  sigaction(SIGINT, &stop_action, &old_int);
  sigaction(SIGTERM, &stop_action, &old_term);

  const unsigned jobs = std::max(1u, options_.jobs);
  auto next_tick = Clock::now() + kTickInterval;
  EngineReport result;
  while (true) {
    if (g_stop_signal != 0 && !result.interrupted) {
      result.interrupted = true;
      stop_everything();
    }
    while (!stopping_ && running_.size() < jobs && !queue_.empty()) {
      const Attempt a = queue_.front();
      queue_.pop_front();
      launch(a);
    }
    if (running_.empty()) break;
    poll_once();
    if (Clock::now() >= next_tick) {
      next_tick = Clock::now() + kTickInterval;
      if (observer_.on_tick) observer_.on_tick(progress());
    }
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);

  for (auto& o : outcomes_) {
    if (o) result.outcomes.push_back(std::move(*o));
  }
  result.stopped_early = stopped_early_;
  result.wall_s = static_cast<double>(ms_since(start_)) / 1000.0;
  return result;
}

void Engine::launch(const Attempt& attempt) {
  const RunKey& key = keys_[attempt.unit];
  int result_pipe[2];
  int stderr_pipe[2];
  if (pipe(result_pipe) != 0) throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
  if (pipe(stderr_pipe) != 0) {
    ::close(result_pipe[0]);
    ::close(result_pipe[1]);
    throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
  }
  std::fflush(stdout);
  std::fflush(stderr);
  RunPosition* position = map_position();
  const pid_t pid = fork();
  if (pid < 0) {
    unmap_position(position);
    throw std::runtime_error(fmt::format("fork: {}", std::strerror(errno)));
  }
  if (pid == 0) {
    for (const auto& w : running_) {
      if (w->result_fd >= 0) ::close(w->result_fd);
      if (w->stderr_fd >= 0) ::close(w->stderr_fd);
    }
    ::close(result_pipe[0]);
    ::close(stderr_pipe[0]);
    worker_main(scenarios_[key.scenario], key.seed, attempt, options_, result_pipe[1], stderr_pipe[1], position);
  }
  ::close(result_pipe[1]);
  ::close(stderr_pipe[1]);
  auto w = std::make_unique<Worker>();
  w->pid = pid;
  w->attempt = attempt;
  w->result_fd = result_pipe[0];
  w->stderr_fd = stderr_pipe[0];
  w->position = position;
  w->start = Clock::now();
  w->deadline = w->start + std::chrono::milliseconds(std::max<std::int64_t>(1, options_.wall_budget_ms));
  running_.push_back(std::move(w));
}

void Engine::poll_once() {
  std::vector<pollfd> fds;
  std::vector<std::pair<Worker*, bool>> owners;  // (worker, is the result pipe)
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(kTickInterval).count();
  const auto now = Clock::now();
  for (const auto& w : running_) {
    if (w->result_fd >= 0) {
      fds.push_back(pollfd{w->result_fd, POLLIN, 0});
      owners.emplace_back(w.get(), true);
    }
    if (w->stderr_fd >= 0) {
      fds.push_back(pollfd{w->stderr_fd, POLLIN, 0});
      owners.emplace_back(w.get(), false);
    }
    if (!w->killed_for_budget && !w->cancelled) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(w->deadline - now).count();
      timeout = std::clamp<long long>(left, 0, timeout);
    }
  }
  const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(timeout));
  if (ready < 0 && errno != EINTR) throw std::runtime_error(fmt::format("poll: {}", std::strerror(errno)));
  for (std::size_t i = 0; ready > 0 && i < fds.size(); ++i) {
    if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    Worker& w = *owners[i].first;
    int& fd = owners[i].second ? w.result_fd : w.stderr_fd;
    char buf[65536];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      fd = -1;
      continue;
    }
    if (owners[i].second) {
      w.result_bytes.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    w.stderr_total += static_cast<std::uint64_t>(n);
    std::string_view chunk(buf, static_cast<std::size_t>(n));
    const std::size_t to_head = std::min(chunk.size(), kStderrHeadBytes - w.stderr_head.size());
    w.stderr_head.append(chunk.substr(0, to_head));
    w.stderr_tail.append(chunk.substr(to_head));
    if (w.stderr_tail.size() > 2 * kStderrTailBytes) w.stderr_tail.erase(0, w.stderr_tail.size() - kStderrTailBytes);
  }
  // Workers past their budget are killed; their pipes then close and they are reaped below.
  for (const auto& w : running_) {
    if (!w->killed_for_budget && !w->cancelled && Clock::now() >= w->deadline) {
      w->killed_for_budget = true;
      ::kill(w->pid, SIGKILL);
    }
  }
  for (std::size_t i = 0; i < running_.size();) {
    Worker& w = *running_[i];
    if (w.result_fd >= 0 || w.stderr_fd >= 0) {
      ++i;
      continue;
    }
    std::unique_ptr<Worker> owned = std::move(running_[i]);
    running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(i));
    reap(*owned);
  }
}

void Engine::reap(Worker& w) {
  if (w.stderr_tail.size() > kStderrTailBytes) w.stderr_tail.erase(0, w.stderr_tail.size() - kStderrTailBytes);
  int status = 0;
  while (::waitpid(w.pid, &status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error(fmt::format("waitpid {}: {}", w.pid, std::strerror(errno)));
  }
  if (w.cancelled) {
    unmap_position(w.position);
    return;
  }
  AttemptResult result = collect(w, status, options_);
  unmap_position(w.position);
  attempt_done(w.attempt, std::move(result));
}

void Engine::attempt_done(const Attempt& attempt, AttemptResult result) {
  UnitState& u = units_[attempt.unit];
  if (u.done) return;
  if (!options_.check_determinism) {
    complete(attempt.unit, result.finished ? outcome_from_run(attempt.unit, result)
                                           : error_outcome(attempt.unit, result, ""));
    return;
  }
  if (attempt.capture_at) {
    u.captures[attempt.run_number] = std::move(result);
    if (u.captures[0] && u.captures[1]) complete(attempt.unit, divergence_outcome(attempt.unit));
    return;
  }
  u.runs[attempt.run_number] = std::move(result);
  if (!u.runs[0] || !u.runs[1]) return;
  for (int n = 0; n < 2; ++n) {
    if (!u.runs[n]->finished) {
      complete(attempt.unit, error_outcome(attempt.unit, *u.runs[n], n == 0 ? "first run: " : "second run: "));
      return;
    }
  }
  const std::uint64_t first[2] = {u.runs[0]->result.value("first_index", std::uint64_t{0}),
                                  u.runs[1]->result.value("first_index", std::uint64_t{0})};
  std::optional<std::uint64_t> at;
  if (first[0] != first[1]) {
    at = std::min(first[0], first[1]);
  } else if (const auto d = first_divergence(u.runs[0]->hashes, u.runs[1]->hashes)) {
    at = first[0] + *d;
  }
  // Events as the sink saw them, which includes the world's teardown after the run's own count.
  for (int n = 0; n < 2; ++n) u.events[n] = first[n] + u.runs[n]->hashes.size();
  if (!at) {
    UnitOutcome o = outcome_from_run(attempt.unit, *u.runs[0]);
    o.determinism_lines.push_back(fmt::format(
        "determinism: the two runs (separate processes) agree on all {} event hashes (events {}..{})",
        u.runs[0]->hashes.size(), first[0], u.events[0] == 0 ? 0 : u.events[0] - 1));
    complete(attempt.unit, std::move(o));
    return;
  }
  // Keep only what the report needs from the sequences, then rerun both sides with a capture window.
  u.divergence = at;
  for (int n = 0; n < 2; ++n) {
    const std::vector<std::uint64_t>& h = u.runs[n]->hashes;
    u.hash_at_divergence[n] = *at >= first[n] && *at - first[n] < h.size() ? h[*at - first[n]] : 0;
    u.runs[n]->hashes.clear();
    u.runs[n]->hashes.shrink_to_fit();
  }
  queue_.push_front(Attempt{attempt.unit, 1, false, *at, Attempt::Report::never});
  queue_.push_front(Attempt{attempt.unit, 0, false, *at, Attempt::Report::always});
}

UnitOutcome Engine::base_outcome(std::size_t unit) const {
  const RunKey& key = keys_[unit];
  const ScenarioEntry& entry = scenarios_[key.scenario];
  UnitOutcome o;
  o.key = key;
  o.record.scenario = entry.scenario.name;
  o.record.scenario_path = entry.path;
  o.record.seed = key.seed;
  o.record.replay = replay_command(entry.path, key.seed, options_.bugs);
  return o;
}

UnitOutcome Engine::outcome_from_run(std::size_t unit, const AttemptResult& r) const {
  UnitOutcome o = base_outcome(unit);
  const json& j = r.result;
  const std::string verdict = j.value("verdict", std::string("error"));
  o.record.outcome = verdict == "pass" ? Outcome::pass : Outcome::fail;
  o.record.check = o.record.outcome == Outcome::pass ? "" : j.value("check", std::string());
  o.record.trace_hash = j.value("trace_hash", std::string());
  o.record.events = j.value("events", std::uint64_t{0});
  o.record.sim_ms = j.value("sim_ms", std::int64_t{0});
  o.record.wall_ms = j.value("wall_ms", std::int64_t{0});
  o.record.message = j.value("message", std::string());
  o.seed_line = j.value("seed_line", std::string());
  if (j.contains("body_lines") && j["body_lines"].is_array()) {
    for (const json& line : j["body_lines"]) o.body_lines.push_back(line.get<std::string>());
  }
  if (o.record.outcome == Outcome::fail) {
    for (const std::string& line : o.body_lines) o.record.detail += line + "\n";
  }
  if (j.contains("report_error")) {
    o.record.detail += "could not write the report: " + j["report_error"].get<std::string>() + "\n";
  }
  if (j.contains("trace_note")) o.record.detail += "note: " + j["trace_note"].get<std::string>() + "\n";
  if (j.contains("report_dir")) o.record.report = report_rel_for(options_, scenarios_[keys_[unit].scenario], keys_[unit].seed);
  return o;
}

UnitOutcome Engine::error_outcome(std::size_t unit, const AttemptResult& r, const std::string& which) const {
  UnitOutcome o = base_outcome(unit);
  o.record.outcome = Outcome::error;
  o.record.error_kind = r.error_kind;
  o.record.message = which + r.message;
  o.record.wall_ms = r.wall_ms;
  o.record.detail = r.stderr_text.empty() ? "" : "worker stderr:\n" + r.stderr_text;
  const std::int64_t limit_mb = effective_memory_limit_mb(options_.memory_limit_mb);
  write_note(o, "error.txt",
             fmt::format("{} seed {}: ERROR ({})\n{}\n\nreplay: {}\nwall budget: {} ms, memory limit: {}\n\n{}\n",
                         o.record.scenario_path, o.record.seed, r.error_kind, o.record.message, o.record.replay,
                         options_.wall_budget_ms, limit_mb > 0 ? fmt::format("{} MiB", limit_mb) : "none",
                         o.record.detail));
  return o;
}

UnitOutcome Engine::divergence_outcome(std::size_t unit) {
  UnitState& u = units_[unit];
  const std::uint64_t at = *u.divergence;
  UnitOutcome o = outcome_from_run(unit, *u.runs[0]);
  const std::string first_check = o.record.check;
  o.record.outcome = Outcome::fail;
  o.record.check = "determinism";
  o.record.replay += " --check-determinism";

  std::vector<kernel::TraceEvent> seen[2];
  for (int n = 0; n < 2; ++n) {
    const AttemptResult& c = *u.captures[n];
    if (!c.finished || !c.result.contains("captured")) continue;
    for (const json& e : c.result["captured"]) seen[n].push_back(event_from_json(e));
  }
  auto event_at = [&](int n, std::uint64_t index) -> const kernel::TraceEvent* {
    for (const kernel::TraceEvent& ev : seen[n]) {
      if (ev.index == index) return &ev;
    }
    return nullptr;
  };
  std::vector<std::string>& lines = o.determinism_lines;
  lines.push_back(fmt::format("determinism: DIVERGED at event {} (the first run had {} events, the second {})", at,
                              u.events[0], u.events[1]));
  for (std::uint64_t i = at >= kCaptureBefore ? at - kCaptureBefore : 0; i < at; ++i) {
    if (const kernel::TraceEvent* ev = event_at(0, i)) lines.push_back("  both runs:  " + event_text(*ev));
  }
  const char* labels[2] = {"  first run:  ", "  second run: "};
  std::string summary[2];
  for (int n = 0; n < 2; ++n) {
    const kernel::TraceEvent* ev = event_at(n, at);
    if (at >= u.events[n]) {
      summary[n] = fmt::format("no event (the run ended after {} events)", u.events[n]);
    } else if (ev == nullptr) {
      summary[n] = u.captures[n]->finished ? "not captured (the rerun ended earlier)"
                                            : "not captured (the rerun failed: " + u.captures[n]->message + ")";
    } else {
      summary[n] = event_text(*ev);
      if (ev->hash != u.hash_at_divergence[n]) summary[n] += " [the rerun did not reproduce this run's hash here]";
    }
    lines.push_back(labels[n] + summary[n]);
  }
  if (!first_check.empty()) lines.push_back("  the first run also failed check " + first_check);
  o.record.message = fmt::format("the runs diverge at event {}: first run {} | second run {}", at, summary[0], summary[1]);
  o.record.detail.clear();
  for (const std::string& line : lines) o.record.detail += line + "\n";
  write_note(o, "determinism.txt", o.record.detail + "\nreplay: " + o.record.replay + "\n");
  return o;
}

// Writes a note next to (or instead of) a report, for runs whose worker could not write one itself.
void Engine::write_note(UnitOutcome& o, const std::string& file, const std::string& text) const {
  if (options_.out_dir.empty()) return;
  const ScenarioEntry& entry = scenarios_[o.key.scenario];
  const std::string dir = report_dir_for(options_, entry, o.key.seed);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (const std::string err = reports::write_file_atomic(dir + "/" + file, text); !err.empty()) {
    std::fprintf(stderr, "replsim: %s\n", err.c_str());
    return;
  }
  o.record.report = report_rel_for(options_, entry, o.key.seed);
}

void Engine::complete(std::size_t unit, UnitOutcome outcome) {
  units_[unit].done = true;
  units_[unit].runs[0].reset();
  units_[unit].runs[1].reset();
  units_[unit].captures[0].reset();
  units_[unit].captures[1].reset();
  ++done_;
  ++totals_.runs;
  if (outcome.record.outcome == Outcome::pass) ++totals_.passed;
  if (outcome.record.outcome == Outcome::fail) ++totals_.failed;
  if (outcome.record.outcome == Outcome::error) ++totals_.errors;
  const bool bad = outcome.record.outcome != Outcome::pass;
  outcomes_[unit] = std::move(outcome);
  if (observer_.on_outcome) observer_.on_outcome(*outcomes_[unit], progress());
  if (bad && options_.stop_on_first_fail && !stopping_) {
    stopped_early_ = true;
    stop_everything();
  }
}

void Engine::stop_everything() {
  stopping_ = true;
  queue_.clear();
  for (const auto& w : running_) {
    if (!w->cancelled) {
      w->cancelled = true;
      ::kill(w->pid, SIGKILL);
    }
  }
}

EngineProgress Engine::progress() const {
  EngineProgress p;
  p.done = done_;
  p.total = keys_.size();
  p.totals = totals_;
  p.elapsed_s = static_cast<double>(ms_since(start_)) / 1000.0;
  return p;
}

}  // namespace

std::int64_t effective_memory_limit_mb(std::int64_t requested_mb) {
#ifdef REPLSIM_TOOLS_ASAN
  (void)requested_mb;
  return 0;
#else
  return requested_mb;
#endif
}

unsigned available_cpus() {
#ifdef __linux__
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<unsigned>(n);
  }
#endif
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<unsigned>(n) : 1u;
}

EngineReport run_engine(const std::vector<ScenarioEntry>& scenarios, const std::vector<RunKey>& keys,
                        const EngineOptions& options, const EngineObserver& observer) {
  (void)binary_id();  // hash the executable once here rather than in every worker that writes a report
  Engine engine(scenarios, keys, options, observer);
  return engine.run();
}

}  // namespace replsim::tools
