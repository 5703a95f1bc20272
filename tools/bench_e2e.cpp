// tools/bench_e2e.cpp — `replsim bench e2e` and `replsim bench scaling`: whole runs of the harness.
//
// e2e runs each scenario over a range of seeds in this process and reports simulation events per
// second, runs per second and time compression, then the peak RSS of one run (a child process
// running `replsim run`) and of a sweep worker (a child forked after the scenarios are loaded, as the
// sweep engine forks its workers). scaling generates cluster-failover-like scenarios of 3, 9, 27 and 81
// nodes and of 10, 100 and 1000 simulated seconds, and reports the cost per event of each, so a cost
// that grows with the cluster or with time shows up as a rising column. Wall clocks and processes are
// allowed here: they measure the harness and never feed a simulation.
#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#if REPLSIM_TCMALLOC
#include <gperftools/malloc_extension.h>
#endif

#include "sim/run.h"
#include "sim/scenario.h"
#include "tools/bench.h"
#include "tools/sweep.h"

namespace replsim::tools {

namespace {

using WallClock = std::chrono::steady_clock;

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// What a batch of runs added up to.
struct Totals {
  std::uint64_t runs = 0;
  std::uint64_t failed = 0;
  std::uint64_t scheduler_events = 0;
  std::uint64_t trace_events = 0;
  double sim_s = 0;
  double wall_s = 0;
  double cpu_s = 0;
};

Totals run_seeds(const sim::Scenario& scenario, std::uint64_t first_seed, std::uint64_t count) {
  Totals t;
  const auto wall_start = WallClock::now();
  const double cpu_start = cpu_seconds();
  for (std::uint64_t seed = first_seed; seed < first_seed + count; ++seed) {
    sim::RunOptions options;
    options.seed = seed;
    const sim::RunResult r = sim::run_scenario(scenario, options);
    ++t.runs;
    if (r.verdict != sim::Verdict::pass) ++t.failed;
    t.scheduler_events += r.stats.scheduler_events;
    t.trace_events += r.stats.trace_events;
    t.sim_s += static_cast<double>(r.stats.sim_ns) / 1e9;
  }
  t.wall_s = std::chrono::duration<double>(WallClock::now() - wall_start).count();
  t.cpu_s = cpu_seconds() - cpu_start;
  return t;
}

void print_totals(const std::string& prefix, const Totals& t) {
  const auto per = [](double n, double s) { return s > 0 ? n / s : 0.0; };
  std::printf("%s.runs=%llu\n", prefix.c_str(), static_cast<unsigned long long>(t.runs));
  std::printf("%s.failed_runs=%llu\n", prefix.c_str(), static_cast<unsigned long long>(t.failed));
  std::printf("%s.sim_events_per_s=%.0f\n", prefix.c_str(), per(static_cast<double>(t.scheduler_events), t.wall_s));
  std::printf("%s.sim_events_per_cpu_s=%.0f\n", prefix.c_str(),
              per(static_cast<double>(t.scheduler_events), t.cpu_s));
  std::printf("%s.trace_events_per_s=%.0f\n", prefix.c_str(), per(static_cast<double>(t.trace_events), t.wall_s));
  std::printf("%s.runs_per_s=%.2f\n", prefix.c_str(), per(static_cast<double>(t.runs), t.wall_s));
  std::printf("%s.time_compression=%.0f\n", prefix.c_str(), per(t.sim_s, t.wall_s));
  std::printf("%s.time_compression_cpu=%.0f\n", prefix.c_str(), per(t.sim_s, t.cpu_s));
  std::printf("%s.sim_events_per_run=%.0f\n", prefix.c_str(),
              t.runs ? static_cast<double>(t.scheduler_events) / static_cast<double>(t.runs) : 0.0);
  std::printf("%s.ns_per_sim_event=%.0f\n", prefix.c_str(),
              t.scheduler_events ? t.wall_s * 1e9 / static_cast<double>(t.scheduler_events) : 0.0);
  std::fflush(stdout);
}

// Peak resident set of a child, in MiB (ru_maxrss is in KiB on Linux). -1 when it did not exit 0/1.
double child_peak_rss_mib(pid_t pid) {
  int status = 0;
  rusage usage{};
  if (wait4(pid, &status, 0, &usage) != pid) return -1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) > 1) return -1;
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

// Hands the memory the allocator keeps from earlier runs back to the system before a fork: the
// child's peak RSS (ru_maxrss) counts what it shares with this process at the fork, also across exec.
void release_free_memory() {
#if REPLSIM_TCMALLOC
  MallocExtension::instance()->ReleaseFreeMemory();
#else
  malloc_trim(0);
#endif
}

// One run as its own process: `replsim run PATH --seed N`, output discarded.
double one_run_peak_rss_mib(const std::string& path, std::uint64_t seed) {
  std::fflush(stdout);
  release_free_memory();
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    std::FILE* null = std::freopen("/dev/null", "w", stdout);
    (void)null;
    const std::string seed_text = std::to_string(seed);
    execl("/proc/self/exe", "replsim", "run", path.c_str(), "--seed", seed_text.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return child_peak_rss_mib(pid);
}

// A sweep worker: forked from a process that has loaded the scenarios, it runs one seed and exits.
double sweep_worker_peak_rss_mib(const sim::Scenario& scenario, std::uint64_t seed) {
  std::fflush(stdout);
  release_free_memory();
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    sim::RunOptions options;
    options.seed = seed;
    const sim::RunResult r = sim::run_scenario(scenario, options);
    _exit(r.verdict == sim::Verdict::pass ? 0 : 1);
  }
  return child_peak_rss_mib(pid);
}

std::uint64_t scaled(double base, double scale) {
  const auto n = static_cast<std::uint64_t>(base * scale);
  return n == 0 ? 1 : n;
}

// ---- generated scenarios for the scaling series ----------------------------------------------------

// cluster-failover's shape (fuzz/cluster-failover.json) with `shards` shards of a primary and two
// replicas, 4 clients per shard, and a safety phase of `safety_ms`. The swarm keeps the same families
// and intensities, so per-event work is comparable across the series.
nlohmann::json scaling_scenario(int shards, std::int64_t safety_ms) {
  using nlohmann::json;
  auto r = [](double a, double b) { return json::array({a, b}); };
  json doc = {
      {"format_version", 1},
      {"name", fmt::format("scaling-{}n-{}s", shards * 3, safety_ms / 1000)},
      {"description", "generated by `replsim bench scaling`"},
      {"clusters",
       json::array({{{"name", "c0"},
                     {"nodes", shards * 3},
                     {"config",
                      {{"appendfsync", "everysec"},
                       {"aof_page_size_bytes", 4096},
                       {"aof_segment_pages", 8},
                       {"checkpoint_interval_ms", 3000},
                       {"checkpoints_retained", 2}}},
                     {"topology", {{"shard_count", shards}, {"replicas_per_shard", 2}}}}})},
      {"workload",
       {{"clients", 4 * shards},
        {"mix",
         {{"get", 2}, {"set", 3}, {"incr", 1}, {"append", 1}, {"del", 1}, {"lpush", 3}, {"rpush", 3},
          {"lpop", 1}, {"rpop", 1}, {"lrange", 2}, {"llen", 1}}},
        {"key_count", 16 * shards},
        {"value_size_bytes", r(4, 200)},
        {"ops_per_second_per_client", 40},
        {"request_timeout_ms", 1000},
        {"retries", 2}}},
      {"swarm",
       {{"budget", {{"within_budget", true}, {"max_nodes_down", 1}, {"never_whole_shard_down", true}}},
        {"crash_restart",
         {{"may_enable", true}, {"enable_probability", 0.7},
          {"intensity", {{"interval_ms", r(2000, 6000)}, {"downtime_ms", r(300, 4000)}}}}},
        {"partition",
         {{"may_enable", true}, {"enable_probability", 0.4},
          {"intensity", {{"interval_ms", r(2000, 8000)}, {"duration_ms", r(300, 4000)}}}}},
        {"clog",
         {{"may_enable", true}, {"enable_probability", 0.3},
          {"intensity",
           {{"interval_ms", r(2000, 8000)}, {"duration_ms", r(200, 2000)}, {"extra_latency_ms", r(10, 300)}}}}},
        {"connection_reset",
         {{"may_enable", true}, {"enable_probability", 0.3}, {"intensity", {{"interval_ms", r(1000, 5000)}}}}}}},
      {"operator",
       {{"poll_interval_ms", 250}, {"failure_detection_delay_ms", 1500}, {"failover_delay_ms", 200},
        {"reattach_delay_ms", 500}}},
      {"checks",
       json::array({"no-stuck-recovering", "no-duplicate-list-entries", "valid-checkpoint-decrees",
                    "replicas-converge", "single-primary-per-slot", "replicate-ok-means-sync", "aof-readable",
                    "no-abort"})},
      {"limits", {{"events", 2'000'000'000}, {"wall_time_ms", 3'600'000}}},
      {"phases", {{"safety_duration_ms", safety_ms}, {"liveness", {{"converge_within_ms", 15000}}}}}};
  return doc;
}

// Loads a generated scaling scenario; exits 3 when it does not load (a bug in the generator).
sim::Scenario load_scaling_scenario(const std::string& prefix, int shards, std::int64_t safety_ms) {
  auto loaded = sim::load_scenario_json(scaling_scenario(shards, safety_ms), prefix);
  if (!loaded) {
    std::fprintf(stderr, "replsim bench: generated scenario %s: %s\n", prefix.c_str(),
                 loaded.status().message().c_str());
    std::exit(3);
  }
  return std::move(loaded.value());
}

// Peak RSS of seed 1 of a generated scenario run as its own process (`replsim run` on a temporary
// copy of the scenario): a worker forked from this process would also count, as resident, the memory
// the allocator kept from the runs measured before it.
double scaling_run_peak_rss_mib(int shards, std::int64_t safety_ms) {
  std::string path = (std::filesystem::temp_directory_path() / "replsim-bench-XXXXXX.json").string();
  const int fd = mkstemps(path.data(), 5);
  if (fd < 0) return -1;
  const std::string text = scaling_scenario(shards, safety_ms).dump();
  const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  const double mib = written ? one_run_peak_rss_mib(path, 1) : -1;
  std::remove(path.c_str());
  return mib;
}

// One point of a series. With split_setup, the same seeds also run with 1 s of safety (setup: the
// cluster's formation by gossip, then one second of workload), and the difference of the two is
// printed as the steady part: events per CPU second once the cluster has formed.
void scaling_point(const std::string& prefix, int shards, std::int64_t safety_ms, std::uint64_t seeds,
                   bool split_setup, double peak_rss_mib) {
  const sim::Scenario scenario = load_scaling_scenario(prefix, shards, safety_ms);
  const Totals t = run_seeds(scenario, 1, seeds);
  std::printf("%s.nodes=%d\n", prefix.c_str(), shards * 3);
  std::printf("%s.safety_s=%lld\n", prefix.c_str(), static_cast<long long>(safety_ms / 1000));
  print_totals(prefix, t);
  if (split_setup) {
    const Totals setup = run_seeds(load_scaling_scenario(prefix, shards, 1000), 1, seeds);
    const double events = static_cast<double>(t.scheduler_events) - static_cast<double>(setup.scheduler_events);
    const double cpu_s = t.cpu_s - setup.cpu_s;
    std::printf("%s.setup_events_per_run=%.0f\n", prefix.c_str(),
                static_cast<double>(setup.scheduler_events) / static_cast<double>(setup.runs));
    std::printf("%s.setup_events_per_cpu_s=%.0f\n", prefix.c_str(),
                setup.cpu_s > 0 ? static_cast<double>(setup.scheduler_events) / setup.cpu_s : 0.0);
    std::printf("%s.steady_events_per_cpu_s=%.0f\n", prefix.c_str(), cpu_s > 0 ? events / cpu_s : 0.0);
  }
  std::printf("%s.peak_rss_mib=%.1f\n", prefix.c_str(), peak_rss_mib);
  std::fflush(stdout);
}

}  // namespace

int bench_e2e(const BenchOptions& options) {
  const std::vector<std::string> inputs = options.paths.empty() ? std::vector<std::string>{"scenarios/fuzz"} : options.paths;
  auto paths = expand_scenario_paths(inputs);
  if (!paths) {
    std::fprintf(stderr, "replsim bench e2e: %s\n", paths.status().message().c_str());
    return 2;
  }
  auto entries = load_scenarios(paths.value());
  if (!entries) {
    std::fprintf(stderr, "replsim bench e2e: %s\n", entries.status().message().c_str());
    return 2;
  }
  const std::uint64_t seeds = scaled(40, options.scale);
  for (const ScenarioEntry& e : entries.value()) {
    const std::string prefix = "e2e." + e.scenario.name;
    std::printf("%s.file=%s\n", prefix.c_str(), e.path.c_str());
    // The worker is forked before this process runs the scenario itself, as a sweep's parent does
    // (forked later, it would count the memory the allocator kept from the timed runs).
    const double worker_rss_mib = sweep_worker_peak_rss_mib(e.scenario, 1);
    print_totals(prefix, run_seeds(e.scenario, 1, seeds));
    std::printf("%s.peak_rss_one_run_mib=%.1f\n", prefix.c_str(), one_run_peak_rss_mib(e.path, 1));
    std::printf("%s.peak_rss_sweep_worker_mib=%.1f\n", prefix.c_str(), worker_rss_mib);
    std::fflush(stdout);
  }
  return 0;
}

int bench_scaling(const BenchOptions& options) {
  // Cluster size at a fixed 10 s of safety, then simulated time at a fixed 3 nodes.
  // `bench scaling nodes` or `bench scaling time` runs one series only.
  const bool nodes = options.paths.empty() || options.paths.front() == "nodes";
  const bool time = options.paths.empty() || options.paths.front() == "time";
  if (!nodes && !time) {
    std::fprintf(stderr, "replsim bench scaling: unknown series %s (nodes or time)\n", options.paths.front().c_str());
    return 2;
  }
  const std::uint64_t seeds = scaled(3, options.scale);
  struct Point {
    std::string prefix;
    int shards = 1;
    std::int64_t safety_ms = 0;
    std::uint64_t seeds = 1;
    bool split_setup = false;
    double peak_rss_mib = -1;
  };
  std::vector<Point> points;
  for (const int shards : {1, 3, 9, 27}) {
    if (!nodes) break;
    points.push_back({fmt::format("scaling.nodes_{}", shards * 3), shards, 10'000, shards >= 9 ? 1 : seeds, true});
  }
  for (const std::int64_t safety_s : {10, 100, 1000}) {
    if (!time) break;
    points.push_back({fmt::format("scaling.sim_{}s", safety_s), 1, safety_s * 1000, safety_s >= 1000 ? 1 : seeds, false});
  }
  // Every point's peak RSS first, while this process has run nothing: a child counts as its own the
  // memory it shares with this process at the fork, and what the allocator keeps after a large run
  // is not all given back.
  for (Point& p : points) p.peak_rss_mib = scaling_run_peak_rss_mib(p.shards, p.safety_ms);
  for (const Point& p : points) scaling_point(p.prefix, p.shards, p.safety_ms, p.seeds, p.split_setup, p.peak_rss_mib);
  return 0;
}

}  // namespace replsim::tools
