// tools/bench_compare.cpp — `replsim bench compare`: one failover cycle, real processes versus replsim.
//
// The cycle a user would script by hand against a primary and a replica: write a key and wait for the
// replica to have it (SET, WAIT 1), kill the primary, promote the replica, read the key from the new
// primary, restart the old primary and re-attach it as a replica, wait until its link is up; then the
// roles are swapped and the next cycle starts. The real side runs it against two Debian redis-server
// processes on loopback (SIGKILL, REPLICAOF NO ONE, REPLICAOF host port), bounded in cycles and in
// time; the replsim side runs the same steps as one scripted scenario (crash, CLUSTER FAILOVER FORCE,
// restart, CLUSTER REPLICATE). Both report cycles per wall second, and the ratio comes from this one
// run. Without redis-server the real side is skipped with a message. Only this file starts processes
// and opens sockets, and only on 127.0.0.1. REPLSIM_COMPARE_DEBUG=1 prints each real step's duration
// and, on a failure, the tail of both servers' logs.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/resp.h"
#include "sim/run.h"
#include "sim/scenario.h"
#include "tools/bench.h"

namespace replsim::tools {

namespace {

using WallClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

double seconds_since(WallClock::time_point start) {
  return std::chrono::duration<double>(WallClock::now() - start).count();
}

// ---- a small blocking RESP client on loopback ------------------------------------------------------

class LoopbackClient {
 public:
  LoopbackClient() = default;
  ~LoopbackClient() { close_socket(); }
  LoopbackClient(const LoopbackClient&) = delete;
  LoopbackClient& operator=(const LoopbackClient&) = delete;

  bool connect_to(int port) {
    close_socket();
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close_socket();
      return false;
    }
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    parser_ = core::RespReplyParser();
    return true;
  }

  // One command, one reply; nullopt on any socket error or after timeout.
  std::optional<core::RespValue> call(const std::vector<std::string>& argv, milliseconds timeout) {
    if (fd_ < 0) return std::nullopt;
    const std::string bytes = core::encode_command(argv);
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return fail();
      sent += static_cast<std::size_t>(n);
    }
    const auto deadline = WallClock::now() + timeout;
    for (;;) {
      if (auto v = parser_.next()) return v;
      if (parser_.failed()) return fail();
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - WallClock::now()).count();
      if (left <= 0) return fail();
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) return fail();
      char buf[16384];
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return fail();
      parser_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    }
  }

 private:
  std::optional<core::RespValue> fail() {
    close_socket();
    return std::nullopt;
  }
  void close_socket() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
  core::RespReplyParser parser_;
};

// A loopback port nobody listens on right now (the kernel picks it).
int free_loopback_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

std::optional<std::string> find_on_path(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    return access(name.c_str(), X_OK) == 0 ? std::optional<std::string>(name) : std::nullopt;
  }
  const char* path = std::getenv("PATH");
  std::string rest = path == nullptr ? "/usr/bin:/bin" : path;
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    const std::string dir = rest.substr(0, colon);
    rest = colon == std::string::npos ? std::string() : rest.substr(colon + 1);
    const std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

// ---- the real side ---------------------------------------------------------------------------------

// One redis-server process: no persistence (a restart comes back empty and resyncs from its primary,
// as a replaced pod would), loopback only, its log in its own folder. repl-diskless-sync-delay is 0:
// the default 5 s wait for more replicas before a full sync would make every cycle 5 s slower, which
// measures a setting rather than the server.
struct RealServer {
  std::string binary;
  std::string dir;
  int port = 0;
  pid_t pid = -1;

  bool start() {
    std::fflush(stdout);
    std::fflush(stderr);
    pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
      const std::string port_text = std::to_string(port);
      const std::string log = dir + "/redis.log";
      std::FILE* out = std::freopen("/dev/null", "w", stdout);
      (void)out;
      execl(binary.c_str(), binary.c_str(), "--port", port_text.c_str(), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--repl-diskless-sync-delay", "0", "--dir", dir.c_str(), "--logfile",
            log.c_str(), "--daemonize", "no",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    return true;
  }
  void kill_now() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    pid = -1;
  }
};

std::string text_of(const std::optional<core::RespValue>& v) {
  if (!v) return "(no reply)";
  if (v->type == core::RespValue::Type::integer) return std::to_string(v->integer);
  if (v->type == core::RespValue::Type::null) return "(nil)";
  return v->text;
}

// Sends argv to the server until `ok` says the reply is right or the deadline passes. Reconnects as
// needed (a restarting server refuses connections for a moment).
template <class Ok>
bool until(LoopbackClient& c, int port, const std::vector<std::string>& argv, Ok ok, milliseconds within,
           std::string& error) {
  const auto deadline = WallClock::now() + within;
  const auto began = WallClock::now();
  static const bool debug = std::getenv("REPLSIM_COMPARE_DEBUG") != nullptr;
  std::string last = "(not sent)";
  bool connected = false;
  for (;;) {
    if (!connected) connected = c.connect_to(port);
    if (connected) {
      auto r = c.call(argv, milliseconds(2000));
      if (!r) connected = false;
      last = text_of(r);
      if (r && ok(*r)) {
        if (debug) std::fprintf(stderr, "compare: %s on %d took %.3f s\n", argv.front().c_str(), port, seconds_since(began));
        return true;
      }
    }
    if (WallClock::now() >= deadline) {
      error = fmt::format("{} on port {}: last reply {}", argv.front(), port, last);
      return false;
    }
    std::this_thread::sleep_for(milliseconds(2));
  }
}

struct RealResult {
  int cycles = 0;
  double wall_s = 0;
  std::string error;
};

RealResult run_real(const std::string& binary, int cycles_max, double budget_s) {
  RealResult out;
  char tmpl[] = "/tmp/replsim-compare-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    out.error = fmt::format("mkdtemp: {}", std::strerror(errno));
    return out;
  }
  const std::string root = tmpl;
  RealServer servers[2];
  for (int i = 0; i < 2; ++i) {
    servers[i].binary = binary;
    servers[i].dir = fmt::format("{}/s{}", root, i);
    std::filesystem::create_directories(servers[i].dir);
    servers[i].port = free_loopback_port();
  }
  auto is_ok = [](const core::RespValue& v) { return v.type == core::RespValue::Type::simple && v.text == "OK"; };
  auto is_pong = [](const core::RespValue& v) { return v.text == "PONG"; };
  auto link_up = [](const core::RespValue& v) { return v.text.find("master_link_status:up") != std::string::npos; };
  LoopbackClient a_client;
  LoopbackClient b_client;
  std::string& err = out.error;
  const milliseconds step(10'000);
  const auto stop_all = [&] {
    for (RealServer& s : servers) s.kill_now();
    if (!err.empty() && std::getenv("REPLSIM_COMPARE_DEBUG") != nullptr) {
      for (RealServer& s : servers) (void)std::system(fmt::format("tail -n 25 {}/redis.log >&2", s.dir).c_str());
    }
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  };
  if (servers[0].port <= 0 || servers[1].port <= 0 || !servers[0].start() || !servers[1].start()) {
    err = "could not pick loopback ports or start redis-server";
    stop_all();
    return out;
  }
  int a = 0;  // the primary's index
  int b = 1;
  // Setup (not timed): b replicates a.
  bool ok = until(a_client, servers[a].port, {"PING"}, is_pong, step, err) &&
            until(b_client, servers[b].port, {"PING"}, is_pong, step, err) &&
            until(b_client, servers[b].port, {"REPLICAOF", "127.0.0.1", std::to_string(servers[a].port)}, is_ok, step,
                  err) &&
            until(b_client, servers[b].port, {"INFO", "replication"}, link_up, step, err);
  const auto start = WallClock::now();
  for (int cycle = 0; ok && cycle < cycles_max && seconds_since(start) < budget_s; ++cycle) {
    LoopbackClient& ac = a == 0 ? a_client : b_client;
    LoopbackClient& bc = a == 0 ? b_client : a_client;
    const std::string key = fmt::format("cycle:{}", cycle);
    const std::string value = fmt::format("v-{}", cycle);
    // 1. write, and wait until the replica has it
    ok = until(ac, servers[a].port, {"SET", key, value}, is_ok, step, err) &&
         until(ac, servers[a].port, {"WAIT", "1", "1000"},
               [](const core::RespValue& v) { return v.type == core::RespValue::Type::integer && v.integer >= 1; },
               step, err) &&
         // WAIT alone is not enough right after a diskless full sync: redis 7 answered WAIT 1 with 1 while
         // the write still sat in the buffer of a replica whose streaming waited for its first ACK, and
         // the key was lost with the primary. Reading it back from the replica is the proof.
         until(bc, servers[b].port, {"GET", key}, [&](const core::RespValue& v) { return v.text == value; }, step,
               err);
    if (!ok) break;
    // 2. kill the primary
    servers[a].kill_now();
    // 3. promote the replica, and read the write back from it
    ok = until(bc, servers[b].port, {"REPLICAOF", "NO", "ONE"}, is_ok, step, err) &&
         until(bc, servers[b].port, {"GET", key}, [&](const core::RespValue& v) { return v.text == value; }, step,
               err);
    if (!ok) break;
    // 4. restart the old primary and re-attach it to the new one
    ok = servers[a].start() && until(ac, servers[a].port, {"PING"}, is_pong, step, err) &&
         until(ac, servers[a].port, {"REPLICAOF", "127.0.0.1", std::to_string(servers[b].port)}, is_ok, step, err) &&
         until(ac, servers[a].port, {"INFO", "replication"}, link_up, step, err);
    if (!ok) break;
    ++out.cycles;
    std::swap(a, b);
  }
  out.wall_s = seconds_since(start);
  stop_all();
  return out;
}

// ---- the replsim side --------------------------------------------------------------------------------

// Enough simulated time for every step of a cycle with its retries; the steps themselves wait for
// replies, as the real side does, so a shorter period only trims idle simulated time.
constexpr std::int64_t kCyclePeriodMs = 2500;

// The same cycle as a scripted scenario: c0n0 and c0n1 swap roles every kCyclePeriodMs.
nlohmann::json sim_cycle_scenario(int cycles) {
  using nlohmann::json;
  json faults = json::array();
  for (int i = 0; i < cycles; ++i) {
    const std::string a = i % 2 == 0 ? "c0n0" : "c0n1";
    const std::string b = i % 2 == 0 ? "c0n1" : "c0n0";
    const std::int64_t t = 1000 + static_cast<std::int64_t>(i) * kCyclePeriodMs;
    const std::string key = fmt::format("cycle:{}", i);
    const std::string value = fmt::format("v-{}", i);
    faults.push_back({{"at_ms", t}, {"action", "admin"}, {"node", a}, {"argv", json::array({"SET", key, value})},
                      {"expect", "+OK"}, {"retry_for_ms", 300}, {"retry_interval_ms", 20}});
    faults.push_back({{"at_ms", t + 100}, {"action", "admin"}, {"node", a}, {"argv", "WAIT 1 1000"}, {"expect", ":1"}});
    faults.push_back({{"at_ms", t + 300}, {"action", "crash"}, {"node", a}});
    faults.push_back({{"at_ms", t + 400}, {"action", "admin"}, {"node", b}, {"argv", "CLUSTER FAILOVER FORCE"},
                      {"expect", "OK"}, {"check", "single-primary-per-slot"}});
    faults.push_back({{"at_ms", t + 500}, {"action", "admin"}, {"node", b}, {"argv", json::array({"GET", key})},
                      {"expect", value}, {"retry_for_ms", 500}, {"retry_interval_ms", 20}});
    faults.push_back({{"at_ms", t + 700}, {"action", "restart"}, {"node", a}});
    faults.push_back({{"at_ms", t + 700}, {"action", "admin"}, {"node", a},
                      {"argv", fmt::format("CLUSTER REPLICATE ${{node:{}}}", b)}, {"expect", "OK"},
                      {"retry_for_ms", 1500}, {"retry_interval_ms", 20}});
    faults.push_back({{"at_ms", t + 700}, {"action", "admin"}, {"node", a}, {"argv", "INFO replication"},
                      {"expect", "*master_link_status:up*"}, {"retry_for_ms", 1700}, {"retry_interval_ms", 20},
                      {"check", "replicas-converge"}});
  }
  return {{"format_version", 1},
          {"name", "compare-failover-cycle"},
          {"description", "generated by `replsim bench compare`: write, kill the primary, promote the replica, "
                          "restart the old primary, re-attach it; roles swap every cycle"},
          {"clusters",
           json::array({{{"name", "c0"},
                         {"nodes", 2},
                         {"config", {{"appendfsync", "everysec"}, {"checkpoint_interval_ms", 3000}}},
                         {"topology", {{"shard_count", 1}, {"replicas_per_shard", 1}}}}})},
          {"faults", faults},
          {"checks", json::array({"single-primary-per-slot", "replicas-converge", "replicate-ok-means-sync",
                                  "no-stuck-recovering", "aof-readable", "no-abort"})},
          {"limits", {{"wall_time_ms", 3'600'000}}},
          {"phases",
           {{"safety_duration_ms", 1000 + static_cast<std::int64_t>(cycles) * kCyclePeriodMs + 1000},
            {"liveness", {{"converge_within_ms", 10000}}}}}};
}

}  // namespace

int bench_compare(const BenchOptions& options) {
  const int cycles = static_cast<int>(std::max(1.0, 10 * options.scale));

  // replsim: one run of the scripted cycles.
  auto loaded = sim::load_scenario_json(sim_cycle_scenario(cycles), "compare-failover-cycle");
  if (!loaded) {
    std::fprintf(stderr, "replsim bench compare: generated scenario: %s\n", loaded.status().message().c_str());
    return 3;
  }
  sim::RunOptions run_options;
  run_options.seed = 1;
  const auto sim_start = WallClock::now();
  const sim::RunResult r = sim::run_scenario(loaded.value(), run_options);
  const double sim_wall_s = seconds_since(sim_start);
  const double sim_rate = static_cast<double>(cycles) / sim_wall_s;
  std::printf("compare.cycle=write+wait,kill primary,promote replica,read,restart old primary,re-attach\n");
  std::printf("compare.replsim.cycles=%d\n", cycles);
  std::printf("compare.replsim.verdict=%s%s%s\n", std::string(sim::verdict_name(r.verdict)).c_str(),
              r.violations.empty() ? "" : " check=", r.first_failed_check().c_str());
  std::printf("compare.replsim.wall_s=%.4f\n", sim_wall_s);
  std::printf("compare.replsim.sim_s_per_cycle=%.1f\n", static_cast<double>(kCyclePeriodMs) / 1000.0);
  std::printf("compare.replsim.cycles_per_s=%.1f\n", sim_rate);
  std::fflush(stdout);

  // Real processes: the same number of cycles, at most 60 s.
  const auto binary = find_on_path(options.redis_server);
  if (!binary) {
    std::printf("compare.redis.skipped=%s not found; install it with `apt-get install redis-server` (Debian) "
                "to compare against real processes\n",
                options.redis_server.c_str());
    std::fprintf(stderr, "replsim bench compare: %s is not installed; the real-process side is skipped\n",
                 options.redis_server.c_str());
    return 0;
  }
  const RealResult real = run_real(*binary, cycles, 60.0);
  std::printf("compare.redis.binary=%s\n", binary->c_str());
  std::printf("compare.redis.cycles=%d\n", real.cycles);
  std::printf("compare.redis.wall_s=%.4f\n", real.wall_s);
  if (!real.error.empty()) std::printf("compare.redis.error=%s\n", real.error.c_str());
  if (real.cycles > 0 && real.wall_s > 0) {
    const double real_rate = static_cast<double>(real.cycles) / real.wall_s;
    std::printf("compare.redis.cycles_per_s=%.2f\n", real_rate);
    std::printf("compare.ratio_replsim_over_redis=%.1f\n", sim_rate / real_rate);
  }
  std::fflush(stdout);
  return real.error.empty() ? 0 : 1;
}

}  // namespace replsim::tools
