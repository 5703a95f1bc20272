// sim/kernel/demo.cpp — the kernel demonstration workload (see demo.h).
#include "sim/kernel/demo.h"

#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "sim/kernel/disk.h"
#include "sim/kernel/network.h"
#include "sim/kernel/rng.h"
#include "sim/kernel/scheduler.h"

namespace replsim::kernel {

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr Port kPort = 7000;
constexpr const char* kLog = "log";

class Demo {
 public:
  explicit Demo(const DemoOptions& o)
      : o_(o), trace_(64), sched_(trace_), net_(sched_, o.seed), nemesis_rng_(o.seed, "demo/nemesis"),
        crash_rng_(o.seed, "demo/crash") {
    if (o.trace_sink) trace_.set_sink(o.trace_sink);
    trace_.keep_hash_sequence(o.keep_hash_sequence);
    for (int i = 0; i < o.nodes; ++i) {
      const std::string name = fmt::format("n{}", i);
      ids_.push_back(sched_.add_node(name));
      disks_.push_back(std::make_unique<Disk>(name, DiskConfig{}, Rng(o.seed, "disk/" + name)));
    }
  }

  DemoResult run() {
    for (int i = 0; i < o_.nodes; ++i) start_node(i);
    if (o_.faults) sched_.spawn(kNoNode, "nemesis", [this] { nemesis(); });
    sched_.run(SimTime(std::chrono::hours(1)));
    // Liveness: heal everything, bring every node back, let the survivors finish.
    net_.heal();
    net_.unclog_all();
    for (int i = 0; i < o_.nodes; ++i) {
      if (sched_.node_state(ids_[i]) == NodeState::paused) sched_.resume_node(ids_[i]);
      if (sched_.node_state(ids_[i]) == NodeState::down) restart(i);
    }
    sched_.run(SimTime(std::chrono::hours(2)));
    return finish();
  }

 private:
  void start_node(int i) {
    sched_.spawn(ids_[i], "server", [this, i] { serve(i); });
    for (int s = 0; s < o_.senders_per_node; ++s) {
      sched_.spawn(ids_[i], fmt::format("sender{}", s), [this, i, s] { send_loop(i, s); });
    }
  }

  void restart(int i) {
    sched_.restart_node(ids_[i]);
    ++result_.restarts;
    start_node(i);
  }

  // Accepts connections and gives each its own task. The log file is created durably first: a file
  // whose name was never synced into the directory would vanish in a crash, acknowledged data and all.
  void serve(int i) {
    Disk& disk = *disks_[i];
    if (!disk.exists(kLog)) {
      if (!disk.append(kLog, "") || !disk.sync(kLog) || !disk.sync_dir()) return;
    }
    auto listener = net_.listen(ids_[i], kPort);
    if (!listener) return;
    for (;;) {
      auto conn = listener.value()->accept(kForever);
      if (!conn) return;
      std::shared_ptr<NetConnection> c(std::move(conn.value()));
      sched_.spawn(ids_[i], "conn", [this, i, c] { handle(i, *c); });
    }
  }

  // Appends each received line to the log and acknowledges it once synced.
  void handle(int i, NetConnection& conn) {
    Disk& disk = *disks_[i];
    std::string buffer;
    for (;;) {
      auto data = conn.recv(4096, seconds(5));
      if (!data) return;
      buffer += data.value();
      std::size_t nl;
      while ((nl = buffer.find('\n')) != std::string::npos) {
        const std::string line = buffer.substr(0, nl + 1);
        buffer.erase(0, nl + 1);
        sched_.sleep_for(disk.op_latency(DiskOp::append));
        if (!disk.append(kLog, line)) return;
        ++result_.disk_writes;
        trace_.record(sched_.now_ns(), sched_.node_name(ids_[i]), "disk.append",
                      fmt::format("file={} bytes={}", kLog, line.size()));
        sched_.sleep_for(disk.op_latency(DiskOp::sync));
        if (!disk.sync(kLog)) return;
        trace_.record(sched_.now_ns(), sched_.node_name(ids_[i]), "disk.sync", "file=log");
        if (!conn.send("ok\n")) return;
      }
    }
  }

  void send_loop(int i, int s) {
    Rng rng(o_.seed, fmt::format("demo/sender/{}/{}/{}", i, s, sched_.incarnation(ids_[i])));
    for (int k = 0; k < o_.messages_per_sender; ++k) {
      sched_.sleep_for(Nanos(static_cast<std::int64_t>(rng.below(20'000'000))));
      int to = static_cast<int>(rng.below(static_cast<std::uint64_t>(o_.nodes - 1)));
      if (to >= i) ++to;
      auto conn = net_.connect(ids_[i], ids_[to], kPort, seconds(2));
      if (!conn) continue;
      const std::string id =
          fmt::format("n{}:from=n{}.{}.inc{}.{}", to, i, s, sched_.incarnation(ids_[i]), k);
      if (!conn.value()->send(id + "\n")) continue;
      auto reply = conn.value()->recv(16, seconds(3));
      if (reply && reply.value() == "ok\n") {
        acked_.insert(id);
        ++result_.acked;
      }
    }
  }

  void nemesis() {
    for (int step = 0; step < 40; ++step) {
      sched_.sleep_for(milliseconds(20 + static_cast<std::int64_t>(nemesis_rng_.below(200))));
      const int victim = static_cast<int>(nemesis_rng_.below(static_cast<std::uint64_t>(o_.nodes)));
      const NodeId id = ids_[victim];
      switch (nemesis_rng_.below(5)) {
        case 0:
          if (sched_.node_state(id) != NodeState::down) {
            sched_.crash_node(id, "nemesis");
            const CrashReport report = disks_[victim]->crash(crash_rng_);
            trace_.record(sched_.now_ns(), sched_.node_name(id), "disk.crash", report.detail());
            ++result_.crashes;
          }
          break;
        case 1:
          if (sched_.node_state(id) == NodeState::down) restart(victim);
          break;
        case 2:
          if (sched_.node_state(id) == NodeState::up) {
            sched_.pause_node(id);
            ++result_.pauses;
          } else if (sched_.node_state(id) == NodeState::paused) {
            sched_.resume_node(id);
          }
          break;
        case 3:
          net_.partition_random(nemesis_rng_);
          ++result_.partitions;
          break;
        default:
          net_.heal();
          if (nemesis_rng_.chance(0.5)) {
            net_.clog_host(id, milliseconds(30));
          } else {
            net_.unclog_all();
          }
          break;
      }
    }
  }

  DemoResult finish() {
    // Every acknowledged message must be in its receiver's log, whatever crashed in between.
    std::map<std::string, std::set<std::string>> logs;
    for (int i = 0; i < o_.nodes; ++i) {
      auto contents = disks_[i]->true_contents(kLog);
      std::set<std::string>& lines = logs[fmt::format("n{}", i)];
      if (!contents) continue;
      std::size_t start = 0, nl;
      while ((nl = contents.value().find('\n', start)) != std::string::npos) {
        lines.insert(contents.value().substr(start, nl - start));
        start = nl + 1;
      }
    }
    for (const std::string& id : acked_) {
      const std::string node = id.substr(0, id.find(':'));
      if (logs[node].count(id) == 0) result_.lost_acked.push_back(id);
    }
    result_.trace_hash = trace_.hash();
    result_.events = sched_.events_run();
    result_.trace_events = trace_.count();
    result_.sim_ns = sched_.now_ns();
    result_.fiber_switches = sched_.fiber_switches();
    result_.messages_sent = net_.stats().sends;
    result_.hash_sequence = trace_.hash_sequence();
    return result_;
  }

  DemoOptions o_;
  Trace trace_;
  Scheduler sched_;
  Network net_;
  Rng nemesis_rng_;
  Rng crash_rng_;
  std::vector<NodeId> ids_;
  std::vector<std::unique_ptr<Disk>> disks_;
  std::set<std::string> acked_;
  DemoResult result_;
};

}  // namespace

DemoResult run_demo(const DemoOptions& options) {
  // The network must be destroyed before the scheduler unwinds the remaining tasks, and both before
  // the disks: Demo's member order guarantees it.
  Demo demo(options);
  return demo.run();
}

}  // namespace replsim::kernel
