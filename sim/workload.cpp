// sim/workload.cpp — client tasks drawing operations and recording their outcomes.
#include "sim/workload.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/cluster_config.h"

namespace replsim::sim {

namespace {

using Op = WorkloadSpec::Op;

OpKind to_kind(Op op) {
  switch (op) {
    case Op::get: return OpKind::get;
    case Op::set: return OpKind::set;
    case Op::incr: return OpKind::incr;
    case Op::append: return OpKind::append;
    case Op::del: return OpKind::del;
    case Op::lpush: return OpKind::lpush;
    case Op::rpush: return OpKind::rpush;
    case Op::lpop: return OpKind::lpop;
    case Op::rpop: return OpKind::rpop;
    case Op::lrange: return OpKind::lrange;
    case Op::llen: return OpKind::llen;
  }
  return OpKind::get;
}

bool is_list_op(Op op) {
  return op == Op::lpush || op == Op::rpush || op == Op::lpop || op == Op::rpop ||
         op == Op::lrange || op == Op::llen;
}

// Errors that say the command did not run and another node (or a later try) may take it.
bool retryable_error(const core::RespValue& v) {
  const std::string& t = v.text;
  return t.rfind("MOVED", 0) == 0 || t.rfind("CLUSTERDOWN", 0) == 0 || t.rfind("TRYAGAIN", 0) == 0 ||
         t.rfind("LOADING", 0) == 0 || t.rfind("READONLY", 0) == 0 || t.rfind("NOAUTH", 0) == 0;
}

}  // namespace

WorkloadSpec workload_for_seed(const WorkloadSpec& spec, std::uint64_t seed, std::string* variant_name) {
  if (variant_name != nullptr) variant_name->clear();
  if (spec.variants.empty()) return spec;
  std::int64_t total = 0;
  for (const WorkloadSpec::Variant& v : spec.variants) total += v.weight;
  kernel::Rng rng(seed, "workload/variant");
  auto pick = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(total)));
  const WorkloadSpec::Variant* chosen = &spec.variants.back();
  for (const WorkloadSpec::Variant& v : spec.variants) {
    if (pick < v.weight) {
      chosen = &v;
      break;
    }
    pick -= v.weight;
  }
  WorkloadSpec out = spec;
  out.variants.clear();
  if (chosen->mix) out.mix = *chosen->mix;
  if (chosen->key_count) out.key_count = *chosen->key_count;
  if (chosen->value_size_bytes) out.value_size_bytes = *chosen->value_size_bytes;
  if (chosen->ops_per_second_per_client) out.ops_per_second_per_client = *chosen->ops_per_second_per_client;
  if (chosen->large_values) out.large_values = *chosen->large_values;
  if (variant_name != nullptr) *variant_name = chosen->name;
  return out;
}

Workload::Workload(WorkloadContext ctx, WorkloadSpec spec, std::int64_t start_ns, std::int64_t end_ns)
    : ctx_(std::move(ctx)), spec_(std::move(spec)), start_ns_(start_ns), end_ns_(end_ns) {
  next_value_.assign(static_cast<std::size_t>(std::max(spec_.clients, 0)), 0);
  list_length_seen_.resize(static_cast<std::size_t>(std::max(spec_.clients, 0)));
  routes_.resize(static_cast<std::size_t>(std::max(spec_.clients, 0)));
}

void Workload::start() {
  for (int i = 0; i < spec_.clients; ++i) {
    ctx_.sched->spawn(kernel::kNoNode, fmt::format("client-{}", i), [this, i] { client_loop(i); });
  }
}

std::string Workload::make_value(int index, kernel::Rng& rng) {
  // "c<client>.<n>", built without a format call (one per write showed in profiles).
  std::string v = "c";
  v += std::to_string(index);
  v += '.';
  v += std::to_string(next_value_[static_cast<std::size_t>(index)]++);
  std::int64_t size = rng.range(spec_.value_size_bytes.min, spec_.value_size_bytes.max);
  const auto& large = spec_.large_values;
  if (large.probability > 0 && rng.chance(large.probability)) {
    ++stats_.large_values;
    if (large.size_bytes) {
      size = rng.range(large.size_bytes->min, large.size_bytes->max);
    } else if (large.page_size_factor) {
      const double f = large.page_size_factor->min +
                       rng.unit() * (large.page_size_factor->max - large.page_size_factor->min);
      size = static_cast<std::int64_t>(f * static_cast<double>(ctx_.aof_page_size_bytes));
    }
  }
  if (static_cast<std::int64_t>(v.size()) < size) v.append(static_cast<std::size_t>(size) - v.size(), 'x');
  return v;
}

void Workload::client_loop(int index) {
  const kernel::Host host = ctx_.net->add_client(fmt::format("client-{}", index));
  SimClient client(*ctx_.sched, *ctx_.net, host, ctx_.book, fmt::format("client-{}", index));
  kernel::Rng rng(ctx_.seed, fmt::format("workload/client-{}", index));
  std::int64_t total_weight = 0;
  for (auto w : spec_.mix) total_weight += std::max<std::int64_t>(w, 0);
  if (total_weight <= 0 || ctx_.nodes.empty()) return;
  const double mean_gap_ns = 1e9 / std::max(spec_.ops_per_second_per_client, 1e-3);
  if (ctx_.sched->now_ns() < start_ns_) ctx_.sched->sleep_for(kernel::Nanos(start_ns_ - ctx_.sched->now_ns()));
  for (;;) {
    const auto gap = static_cast<std::int64_t>(mean_gap_ns * (0.5 + rng.unit()));
    ctx_.sched->sleep_for(kernel::Nanos(gap));
    if (ctx_.sched->now_ns() >= end_ns_) return;
    std::int64_t pick = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(total_weight)));
    Op op = Op::get;
    for (std::size_t k = 0; k < WorkloadSpec::kOpCount; ++k) {
      const std::int64_t w = std::max<std::int64_t>(spec_.mix[k], 0);
      if (pick < w) {
        op = static_cast<Op>(k);
        break;
      }
      pick -= w;
    }
    ++active_;
    run_op(index, client, rng, op);
    --active_;
  }
}

void Workload::note_list_length(int index, std::uint64_t key_index, Op op, const ClientReply& reply) {
  if (!reply.answered || reply.is_error_reply()) return;
  auto& seen = list_length_seen_[static_cast<std::size_t>(index)];
  const core::RespValue& v = reply.value;
  switch (op) {
    case Op::lpush:
    case Op::rpush:
    case Op::llen:
      if (v.type == core::RespValue::Type::integer) seen[key_index] = v.integer;
      break;
    case Op::lrange:
      if (v.type == core::RespValue::Type::array) seen[key_index] = static_cast<std::int64_t>(v.elements.size());
      break;
    case Op::lpop:
    case Op::rpop:
      if (auto it = seen.find(key_index); it != seen.end()) {
        const std::int64_t popped = v.type == core::RespValue::Type::array ? static_cast<std::int64_t>(v.elements.size())
                                    : v.type == core::RespValue::Type::bulk  ? 1
                                                                             : it->second;
        it->second = std::max<std::int64_t>(0, it->second - popped);
      }
      break;
    default:
      break;
  }
}

std::optional<std::size_t> Workload::SlotMap::route(int slot) const {
  if (const auto it = learned.find(slot); it != learned.end()) {
    if (it->second == kUnrouted) return std::nullopt;
    return it->second;
  }
  const auto after = std::upper_bound(ranges.begin(), ranges.end(), slot,
                                      [](int s, const Range& r) { return s < r.first; });
  if (after == ranges.begin()) return std::nullopt;
  const Range& r = *std::prev(after);
  if (slot > r.last) return std::nullopt;
  return r.node;
}

void Workload::refresh_slot_map(int index, SimClient& client, const std::string& node, kernel::Nanos timeout) {
  if (!ctx_.password.empty()) (void)client.call(node, {"AUTH", ctx_.password}, timeout, 0);
  ClientReply reply = client.call(node, {"CLUSTER", "SLOTS"}, timeout, 0);
  if (!reply.answered || reply.value.type != core::RespValue::Type::array) return;
  std::vector<SlotMap::Range> ranges;
  for (const core::RespValue& e : reply.value.elements) {
    // [first, last, [host, port, id], replicas...]: the host is the node's name in the simulator.
    if (e.type != core::RespValue::Type::array || e.elements.size() < 3) continue;
    const core::RespValue& primary = e.elements[2];
    if (primary.type != core::RespValue::Type::array || primary.elements.empty()) continue;
    const auto at = std::find(ctx_.nodes.begin(), ctx_.nodes.end(), primary.elements[0].text);
    const std::int64_t first = e.elements[0].integer;
    const std::int64_t last = e.elements[1].integer;
    if (at == ctx_.nodes.end() || first < 0 || last < first || last >= core::kClusterSlots) continue;
    ranges.push_back({static_cast<int>(first), static_cast<int>(last), static_cast<std::size_t>(at - ctx_.nodes.begin())});
  }
  std::sort(ranges.begin(), ranges.end(), [](const SlotMap::Range& a, const SlotMap::Range& b) { return a.first < b.first; });
  SlotMap& map = routes_[static_cast<std::size_t>(index)];
  map.ranges = std::move(ranges);
  map.learned.clear();
  client.recycle(std::move(reply.value));
}

void Workload::run_op(int index, SimClient& client, kernel::Rng& rng, Op op) {
  const auto key_index = rng.below(static_cast<std::uint64_t>(std::max(spec_.key_count, 1)));
  const std::string key = (is_list_op(op) ? "l:" : "s:") + std::to_string(key_index);
  // Built in place: brace lists would copy every string once more.
  std::vector<std::string> argv;
  argv.reserve(4);
  std::vector<std::string> args;  // what the history records as written
  auto write = [&](const char* command) {
    argv.emplace_back(command);
    argv.push_back(key);
    args.push_back(make_value(index, rng));
    argv.push_back(args.back());
  };
  switch (op) {
    case Op::get: argv.emplace_back("GET"); argv.push_back(key); break;
    case Op::set: write("SET"); break;
    case Op::incr: argv.emplace_back("INCR"); argv.push_back("n" + key); break;
    case Op::append: write("APPEND"); break;
    case Op::del: argv.emplace_back("DEL"); argv.push_back(key); break;
    case Op::lpush: write("LPUSH"); break;
    case Op::rpush: write("RPUSH"); break;
    case Op::lpop:
    case Op::rpop: {
      const bool with_count = rng.chance(0.3);
      std::int64_t count = with_count ? 2 : 1;
      // A list this client saw grow past the bound gives back its surplus (the draw above is made
      // either way, so runs whose lists stay short are unchanged).
      const auto& seen = list_length_seen_[static_cast<std::size_t>(index)];
      if (const auto it = seen.find(key_index); spec_.list_length_bound > 0 && it != seen.end() &&
                                                it->second > spec_.list_length_bound) {
        count = it->second - spec_.list_length_bound / 2;
      }
      argv.emplace_back(op == Op::lpop ? "LPOP" : "RPOP");
      argv.push_back(key);
      args.push_back(std::to_string(count));
      if (with_count || count != 1) argv.push_back(args[0]);
      break;
    }
    case Op::lrange:
      argv.emplace_back("LRANGE");
      argv.push_back(key);
      argv.emplace_back("0");
      argv.emplace_back("-1");
      break;
    case Op::llen: argv.emplace_back("LLEN"); argv.push_back(key); break;
  }
  std::string hist_key = op == Op::incr ? argv[1] : key;
  const std::uint64_t id =
      ctx_.history->invoke(index, to_kind(op), std::move(hist_key), std::move(args), ctx_.sched->now_ns());
  ++stats_.invoked;
  const kernel::Nanos timeout{spec_.request_timeout_ms * 1'000'000};
  ClientReply reply;
  SlotMap& routes = routes_[static_cast<std::size_t>(index)];
  const int slot = core::key_hash_slot(argv[1]);  // every command here has its key at argv[1]
  if (!routes.fetched && ctx_.nodes.size() > 1) {
    // A cluster client starts from one node's CLUSTER SLOTS, not from guesses.
    routes.fetched = true;
    refresh_slot_map(index, client, ctx_.nodes[rng.below(ctx_.nodes.size())], timeout);
  }
  for (int attempt = 0; attempt <= spec_.retries; ++attempt) {
    // A retry asks a random node, as a client refreshing its slot map after a failure would.
    const std::optional<std::size_t> route = attempt == 0 ? routes.route(slot) : std::nullopt;
    const std::string& node = ctx_.nodes[route ? *route : rng.below(ctx_.nodes.size())];
    if (!ctx_.password.empty()) {
      // AUTH once per call keeps the client simple: a fresh connection needs it, a live one accepts it.
      (void)client.call(node, {"AUTH", ctx_.password}, timeout, 0);
    }
    reply = client.call(node, argv, timeout);
    if (ctx_.on_reply) ctx_.on_reply(argv, reply);
    const bool definitely_not_run =
        (!reply.answered && reply.error == core::Err::refused) ||
        (reply.is_error_reply() && retryable_error(reply.value));
    const auto served_by = std::find(ctx_.nodes.begin(), ctx_.nodes.end(), reply.node);
    if (reply.answered && !definitely_not_run && served_by != ctx_.nodes.end()) {
      routes.learned[slot] = static_cast<std::size_t>(served_by - ctx_.nodes.begin());
      // Redirected: the map is out of date (a failover, a reshard), as a client library learns.
      if (reply.redirects > 0) refresh_slot_map(index, client, reply.node, timeout);
    } else {
      routes.learned[slot] = SlotMap::kUnrouted;
    }
    if (!definitely_not_run) break;
    ctx_.sched->sleep_for(kernel::Nanos(std::int64_t{50'000'000} * (attempt + 1)));
  }
  if (spec_.list_length_bound > 0 && is_list_op(op)) note_list_length(index, key_index, op, reply);
  Outcome outcome;
  if (!reply.answered) {
    outcome = reply.error == core::Err::refused || reply.error == core::Err::invalid ? Outcome::fail
                                                                                     : Outcome::unknown;
  } else if (reply.is_error_reply()) {
    outcome = Outcome::fail;
  } else {
    outcome = Outcome::ok;
  }
  switch (outcome) {
    case Outcome::ok: ++stats_.ok; break;
    case Outcome::fail: ++stats_.failed; break;
    default: ++stats_.unknown; break;
  }
  if (!reply.answered) {
    ctx_.history->complete(id, outcome, ctx_.sched->now_ns(), std::move(reply.node), reply.display());
    return;
  }
  const bool reads = outcome == Outcome::ok && (op == Op::get || op == Op::lpop || op == Op::rpop || op == Op::lrange);
  ctx_.history->complete_keeping(id, outcome, ctx_.sched->now_ns(), std::move(reply.node), reply.value, reads);
  client.recycle(std::move(reply.value));
}

}  // namespace replsim::sim
