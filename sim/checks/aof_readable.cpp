// sim/checks/aof_readable.cpp — reading a node's files back with the store's own readers.
#include "sim/checks/aof_readable.h"

#include <map>
#include <stdexcept>

#include <fmt/format.h>

#include "core/aof.h"
#include "core/checkpoint.h"

namespace replsim::sim {

namespace {

// Thrown by MemEnv::abort: a reader that asserts instead of returning an error is itself a finding.
struct ReaderAborted : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A directory in memory with no faults, no latency and no tasks: just enough Env for the readers.
class MemEnv final : public core::Env {
 public:
  explicit MemEnv(std::map<std::string, std::string> files) : files_(std::move(files)) {}

  std::string node_name() const override { return "aof-readable"; }
  std::string host() const override { return "aof-readable"; }
  core::LocalTime now() const override { return core::LocalTime{}; }
  void sleep_for(core::Nanos) override {}
  core::TaskInfo spawn(std::string, std::function<void()>) override { return {}; }
  std::unique_ptr<core::Event> make_event() override { return nullptr; }
  core::Result<std::unique_ptr<core::Listener>> listen(std::uint16_t) override {
    return core::Status(core::Err::refused, "no network in the aof-readable check");
  }
  core::Result<std::unique_ptr<core::Connection>> connect(const std::string&, std::uint16_t, core::Nanos) override {
    return core::Status(core::Err::refused, "no network in the aof-readable check");
  }
  core::Status append(const std::string& name, std::string_view data) override {
    files_[name].append(data);
    return {};
  }
  core::Status write_at(const std::string& name, std::uint64_t offset, std::string_view data) override {
    std::string& f = files_[name];
    if (f.size() < offset + data.size()) f.resize(offset + data.size(), '\0');
    f.replace(offset, data.size(), data);
    return {};
  }
  core::Result<std::string> read_at(const std::string& name, std::uint64_t offset, std::size_t length) override {
    auto it = files_.find(name);
    if (it == files_.end()) return core::Status(core::Err::not_found, name);
    if (offset > it->second.size()) return core::Status(core::Err::invalid, name + ": read past end");
    return it->second.substr(offset, length);
  }
  core::Result<std::uint64_t> file_size(const std::string& name) override {
    auto it = files_.find(name);
    if (it == files_.end()) return core::Status(core::Err::not_found, name);
    return static_cast<std::uint64_t>(it->second.size());
  }
  core::Status truncate(const std::string& name, std::uint64_t length) override {
    files_[name].resize(length, '\0');
    return {};
  }
  core::Status sync(const std::string&) override { return {}; }
  core::Status rename(const std::string& from, const std::string& to) override {
    auto it = files_.find(from);
    if (it == files_.end()) return core::Status(core::Err::not_found, from);
    files_[to] = std::move(it->second);
    files_.erase(from);
    return {};
  }
  core::Status remove(const std::string& name) override {
    files_.erase(name);
    return {};
  }
  core::Result<std::vector<std::string>> list_files() override {
    std::vector<std::string> names;
    for (const auto& [n, _] : files_) names.push_back(n);
    return names;
  }
  core::Status sync_dir() override { return {}; }
  std::uint64_t random_u64() override { return 0; }
  void log(std::string_view, std::string_view) override {}
  bool buggify(std::string_view) override { return false; }
  [[noreturn]] void abort(std::string_view why) override { throw ReaderAborted(std::string(why)); }

 private:
  std::map<std::string, std::string> files_;
};

// FNV-1a over the record's arguments, each prefixed by its length.
std::uint64_t hash_argv(const std::vector<std::string_view>& argv) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&h](unsigned char c) {
    h ^= c;
    h *= 0x100000001b3ULL;
  };
  for (std::string_view a : argv) {
    for (int k = 0; k < 8; ++k) mix(static_cast<unsigned char>((a.size() >> (8 * k)) & 0xff));
    for (char c : a) mix(static_cast<unsigned char>(c));
  }
  return h;
}

std::map<std::string, std::string> copy_files(const kernel::Disk& disk) {
  std::map<std::string, std::string> files;
  for (const std::string& name : disk.list_files()) {
    auto bytes = disk.true_contents(name);
    if (bytes) files.emplace(name, std::move(bytes.value()));
  }
  return files;
}

}  // namespace

AofReadBack read_back_files(const std::string& node, const kernel::Disk& disk, const core::StoreConfig& config,
                            std::uint64_t store_tail_address, std::int64_t now_ns, bool prints, bool readable) {
  AofReadBack out;
  auto add = [&](std::string message, nlohmann::json evidence) {
    out.violations.push_back({"aof-readable", now_ns, node, std::move(message), std::move(evidence)});
  };
  auto aborted = [&](const ReaderAborted& e) {
    if (prints) out.prints_error = std::string("the AOF reader hit an internal assertion: ") + e.what();
    if (readable) {
      add(fmt::format("reading the files of {} hit an internal assertion: {}", node, e.what()), {{"error", e.what()}});
    }
  };
  // One copy and one open serve both readings: neither changes the files after open (which may cut a
  // torn tail), so each sees what it would see alone.
  MemEnv env(copy_files(disk));
  std::unique_ptr<core::Aof> log;
  try {
    auto aof = core::Aof::open(env, config.aof_config());
    if (!aof) {
      if (prints) out.prints_error = aof.status().message();
      if (readable) {
        add(fmt::format("the AOF of {} does not read back: {}", node, aof.status().message()),
            {{"error", aof.status().message()}});
      }
    } else {
      log = std::move(aof.value());
    }
  } catch (const ReaderAborted& e) {
    aborted(e);
    return out;
  }
  if (prints && log != nullptr) {
    try {
      const core::Status st = log->scan(log->begin_address(), [&](const core::AofRecord& r) {
        out.prints.push_back({r.address, r.end_address, r.decree, hash_argv(r.argv)});
        return true;
      });
      if (!st) out.prints_error = st.message();
    } catch (const ReaderAborted& e) {
      out.prints_error = std::string("the AOF reader hit an internal assertion: ") + e.what();
    }
  }
  if (!readable) return out;
  try {
    if (log != nullptr) {
      const core::AofRecovery& rec = log->recovery();
      if (rec.torn_tail) {
        add(fmt::format("the AOF of {} reads back only to address {} ({} bytes after it unreadable: {}); "
                        "the store wrote up to {}",
                        node, rec.torn_address, rec.bytes_dropped, rec.torn_reason, store_tail_address),
            {{"torn_address", rec.torn_address}, {"bytes_dropped", rec.bytes_dropped},
             {"reason", rec.torn_reason}, {"store_tail", store_tail_address}});
      } else if (rec.tail_address != store_tail_address) {
        add(fmt::format("the AOF of {} reads back to address {}, but the store's tail is {}", node,
                        rec.tail_address, store_tail_address),
            {{"read_tail", rec.tail_address}, {"store_tail", store_tail_address}});
      }
    }
    auto listed = core::list_checkpoints(env);
    if (listed) {
      for (const core::CheckpointInfo& info : listed.value()) {
        auto cp = core::read_checkpoint(env, info.file_name);
        if (!cp) {
          add(fmt::format("checkpoint {} of {} does not verify: {}", info.file_name, node, cp.status().message()),
              {{"file", info.file_name}, {"error", cp.status().message()}});
        }
      }
    }
  } catch (const ReaderAborted& e) {
    aborted(e);
  }
  return out;
}

std::string read_aof_prints(const kernel::Disk& disk, const core::StoreConfig& config,
                            std::vector<AofRecordPrint>& records) {
  AofReadBack r = read_back_files("", disk, config, 0, 0, /*prints=*/true, /*readable=*/false);
  records.insert(records.end(), r.prints.begin(), r.prints.end());
  return r.prints_error;
}

std::vector<Violation> check_aof_readable(const std::string& node, const kernel::Disk& disk,
                                          const core::StoreConfig& config, std::uint64_t store_tail_address,
                                          std::int64_t now_ns) {
  return read_back_files(node, disk, config, store_tail_address, now_ns, /*prints=*/false, /*readable=*/true)
      .violations;
}

}  // namespace replsim::sim
