#include "store/redis.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <map>

#include "common/crypto.h"
#include "common/percent.h"
#include "common/time.h"
#include "store/cluster_map.h"
#include "store/redis_node.h"
#include "store/wait_list.h"

namespace signgate::store {

namespace asio = boost::asio;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

std::string RedisUrl::redacted() const {
  std::string out = tls ? "rediss://" : "redis://";
  if (!user.empty() || !password.empty()) out += (user.empty() ? "" : user) + (password.empty() ? "@" : ":***@");
  out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
  out += ":" + std::to_string(port) + "/" + std::to_string(db);
  return out;
}

Result<RedisUrl> parse_redis_url(std::string_view text) {
  RedisUrl u;
  std::string_view rest;
  if (text.rfind("redis://", 0) == 0) {
    rest = text.substr(8);
  } else if (text.rfind("rediss://", 0) == 0) {
    u.tls = true;
    rest = text.substr(9);
  } else {
    return make_error("must start with redis:// or rediss://");
  }
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  const std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const std::size_t colon = userinfo.find(':');
    u.user = uri_decode(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) u.password = uri_decode(userinfo.substr(colon + 1));
  }
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return make_error("an IPv6 host must end with ']'");
    u.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return make_error("unexpected text after the IPv6 host");
      port = after.substr(1);
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (u.host.empty()) return make_error("names no host");
  if (u.host.find_first_of(" \t\r\n/?#") != std::string::npos)
    return make_error("the host has characters hosts cannot");
  if (!port.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return make_error("the port must be a number from 1 to 65535");
    }
    u.port = static_cast<std::uint16_t>(value);
  }
  if (!path.empty()) {
    int db = 0;
    const auto [end, ec] = std::from_chars(path.data(), path.data() + path.size(), db);
    if (ec != std::errc() || end != path.data() + path.size() || db < 0 || db > 15) {
      return make_error("the path must be a database number from 0 to 15");
    }
    u.db = db;
  }
  return u;
}

RedisScript::RedisScript(std::string lua) : text(std::move(lua)) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha1(), nullptr) == 1) sha1 = hex_lower(digest, size);
}

namespace {

constexpr std::uint16_t kNoNode = 0xffff;
// Primaries a client keeps connections to at most (managed clusters allow up to 500 shards).
constexpr std::size_t kMaxNodes = 512;
// A cluster's map is read again at most this often, however many commands find it wrong.
constexpr Millis kRefreshEvery{250};

// Errors a node answers while it cannot serve the slot it was asked for (a failover): the map
// is read again and a command that was not run goes where it now says.
bool cannot_serve(std::string_view error) { return is_failover_error(error) || error.rfind("CLUSTERDOWN", 0) == 0; }

std::string node_key(const std::string& host, std::uint16_t port) { return host + ":" + std::to_string(port); }

}  // namespace

struct Redis::Impl : std::enable_shared_from_this<Redis::Impl> {
  enum class Mode { kUnknown, kSingle, kCluster };

  Impl(asio::any_io_executor ex, RedisOptions o) : executor(std::move(ex)), options(std::move(o)), sub_wake(executor) {
    if (!options.stats) options.stats = std::make_shared<RedisStats>();
    seeds.push_back(std::make_shared<RedisNode>(executor, options));
    for (const auto& url : options.other_seeds) {
      RedisOptions o2 = options;
      o2.url = url;
      o2.tls_name.clear();
      seeds.push_back(std::make_shared<RedisNode>(executor, std::move(o2)));
    }
  }

  asio::any_io_executor executor;
  RedisOptions options;
  Mode mode = Mode::kUnknown;
  bool stopped = false;
  std::vector<std::shared_ptr<RedisNode>> seeds;  // as configured; kept for the client's life
  std::shared_ptr<RedisNode> home;                // the node that last answered for the map (or the one server)

  // The cluster: its primaries by "host:port", and each slot's primary as an index.
  std::map<std::string, std::shared_ptr<RedisNode>> nodes;
  std::vector<std::shared_ptr<RedisNode>> by_index;
  std::vector<std::uint16_t> slots;
  bool shards_unknown = false;  // a Redis before 7.0: CLUSTER SLOTS

  // Finding the map: one at a time, the others wait for it.
  bool finding = false;
  WaitList waiting;
  Clock::time_point last_find{};
  std::string last_error;
  bool misconfigured = false;  // redis: names something this client cannot use; not tried again

  std::uint64_t reconnects_before = 0;  // of nodes let go
  std::size_t sub_turn = 0;
  asio::steady_timer sub_wake;

  // The node at host:port, made when new: a cluster's node gets the seed's credentials and
  // TLS settings, database 0, and the name its certificate is checked against.
  std::shared_ptr<RedisNode> node_at(const std::string& host, std::uint16_t port, const std::string& hostname,
                                     bool redirected = false) {
    const std::string key = node_key(host, port);
    if (auto it = nodes.find(key); it != nodes.end()) return it->second;
    for (const auto& s : seeds) {
      if (node_key(s->options().url.host, s->options().url.port) == key) return nodes[key] = s;
    }
    // Redirections to ever more nodes (a broken or hostile server) cannot make us hold more.
    if (redirected && nodes.size() >= kMaxNodes) return nullptr;
    RedisOptions o = options;
    o.other_seeds.clear();
    o.url.host = host;
    o.url.port = port;
    o.url.db = 0;
    o.tls_name = hostname.empty() ? options.url.host : hostname;
    auto node = std::make_shared<RedisNode>(executor, std::move(o));
    nodes[key] = node;
    return node;
  }

  std::uint16_t index_of(const std::shared_ptr<RedisNode>& node) {
    for (std::size_t i = 0; i < by_index.size(); ++i) {
      if (by_index[i] == node) return static_cast<std::uint16_t>(i);
    }
    by_index.push_back(node);
    return static_cast<std::uint16_t>(by_index.size() - 1);
  }

  std::shared_ptr<RedisNode> node_for(std::uint16_t slot) const {
    const std::uint16_t i = slot < slots.size() ? slots[slot] : kNoNode;
    return i == kNoNode ? nullptr : by_index[i];
  }

  // For a command without a key: a connected primary, else the one that answered last.
  std::shared_ptr<RedisNode> any_node() const {
    for (const auto& n : by_index) {
      if (n->connected()) return n;
    }
    return home;
  }

  // Takes a map read from a node at `asked_host` (where a primary did not say its address).
  void apply(const std::vector<ShardPrimary>& shards, const std::string& asked_host) {
    std::vector<std::uint16_t> fresh(kClusterSlots, kNoNode);
    std::map<std::string, std::shared_ptr<RedisNode>> keep;
    by_index.clear();
    for (const auto& p : shards) {
      const std::string host = p.endpoint.empty() ? asked_host : p.endpoint;
      auto node = node_at(host, p.port, p.hostname);
      keep[node_key(host, p.port)] = node;
      const std::uint16_t i = index_of(node);
      for (const auto& [first, last] : p.ranges) std::fill(fresh.begin() + first, fresh.begin() + last + 1, i);
    }
    // Nodes that serve nothing any more are let go (seeds stay: they may serve again).
    for (auto& [key, node] : nodes) {
      if (keep.count(key) == 0 && std::find(seeds.begin(), seeds.end(), node) == seeds.end()) {
        reconnects_before += node->reconnects();  // the counter does not go back
        node->stop();
      }
    }
    nodes = std::move(keep);
    const bool changed = slots != fresh;
    slots = std::move(fresh);
    options.stats->cluster_nodes = by_index.size();
    ++options.stats->map_refreshes;
    static Throttle every_10s(std::chrono::seconds(10));
    if (changed && every_10s.allow()) {
      const auto served = static_cast<std::size_t>(
          std::count_if(slots.begin(), slots.end(), [](std::uint16_t i) { return i != kNoNode; }));
      spdlog::info("redis: cluster map read: {} primaries serve {} of {} slots", by_index.size(), served,
                   kClusterSlots);
    }
  }

  // Asks the nodes in turn for the map (connected primaries first, then the others, then the
  // seeds) until one answers; while the mode is not known, the answer also says whether this
  // is a cluster at all.
  asio::awaitable<void> read_map(Clock::time_point deadline) {
    std::vector<std::shared_ptr<RedisNode>> ask;
    for (const auto& n : by_index) {
      if (n->connected()) ask.push_back(n);
    }
    for (const auto& n : by_index) {
      if (!n->connected()) ask.push_back(n);
    }
    for (const auto& s : seeds) {
      if (std::find(ask.begin(), ask.end(), s) == ask.end()) ask.push_back(s);
    }
    for (const auto& node : ask) {
      if (stopped || Clock::now() >= deadline) break;
      std::vector<std::vector<std::string>> batch = {{"CLUSTER", shards_unknown ? "SLOTS" : "SHARDS"}};
      auto reply = co_await node->command(std::move(batch), deadline);
      if (reply && reply->is_error() && !shards_unknown &&
          (reply->str.find("nknown subcommand") != std::string::npos || reply->str.rfind("NOPERM", 0) == 0)) {
        shards_unknown = true;  // before Redis 7.0, or an ACL that allows only the older command
        std::vector<std::vector<std::string>> slots_batch = {{"CLUSTER", "SLOTS"}};
        reply = co_await node->command(std::move(slots_batch), deadline);
      }
      const std::string where = node->options().url.redacted();
      if (!reply) {
        last_error = reply.message();
        if (last_error.find("SELECT is not allowed in cluster mode") != std::string::npos) {
          last_error = "Redis " + where +
                       " is a cluster node, and a Redis Cluster has only database 0 (redis.url names " +
                       std::to_string(options.url.db) + ")";
          misconfigured = true;
          co_return;
        }
        continue;
      }
      if (reply->is_error()) {
        const bool not_cluster = reply->str.find("cluster support disabled") != std::string::npos;
        // A server that is starting or failing over says nothing about what it is: ask another.
        const bool passing =
            cannot_serve(reply->str) || reply->str.rfind("BUSY", 0) == 0 || reply->str.rfind("TRYAGAIN", 0) == 0;
        if (mode == Mode::kUnknown && !passing) {
          if (options.cluster == ClusterMode::kOn || !options.other_seeds.empty()) {
            // A cluster was meant (cluster: true, or a list of seeds): one server will not do,
            // and replicas each taking whichever seed answered would not share anything.
            last_error = "Redis " + where + " is not a Redis Cluster (" + reply->str +
                         "); redis.url lists seeds of a cluster, or redis.cluster is true";
            misconfigured = true;
            co_return;
          }
          if (!not_cluster) {
            // Not asked (an ACL, a renamed CLUSTER command, a proxy): taken as one server.
            spdlog::warn(
                "redis: {} did not say whether it is a cluster ({}); taken as one server (set redis.cluster "
                "to say)",
                where, reply->str);
          }
          mode = Mode::kSingle;
          home = node;
          co_return;
        }
        last_error = "Redis " + where + ": " + reply->str;
        continue;
      }
      auto map = shards_unknown ? parse_cluster_slots(*reply) : parse_cluster_shards(*reply, options.url.tls);
      if (map && map->empty()) map = make_error("its map has no slot served (a node not yet joined?)");
      if (map && map->size() > kMaxNodes) {
        map = make_error("its map names more than " + std::to_string(kMaxNodes) + " primaries");
      }
      if (!map) {
        last_error = "Redis " + where + ": " + map.message();
        continue;
      }
      if (mode != Mode::kCluster) {
        static Throttle once(std::chrono::seconds(3600));
        if (once.allow()) spdlog::info("redis: {} is a node of a Redis Cluster", where);
      }
      mode = Mode::kCluster;
      apply(*map, node->options().url.host);
      // The node that answered, unless the map it gave no longer names it (a demoted primary).
      const bool named = std::find(by_index.begin(), by_index.end(), node) != by_index.end() ||
                         std::find(seeds.begin(), seeds.end(), node) != seeds.end();
      home = named ? node : by_index.front();
      co_return;
    }
  }

  // Reads the map, or waits for the read already under way; callers give up at `deadline`.
  asio::awaitable<void> find(Clock::time_point deadline) {
    if (finding) {
      (void)co_await waiting.wait(executor, deadline);
      co_return;
    }
    auto self = shared_from_this();
    finding = true;
    last_find = Clock::now();
    co_await read_map(deadline);
    finding = false;
    waiting.wake_all();
  }

  // The map again, when it was not read within kRefreshEvery.
  asio::awaitable<void> refresh(Clock::time_point deadline) {
    if (finding || Clock::now() - last_find >= kRefreshEvery) co_await find(deadline);
  }

  // The same, not waited for (a command that may have run is not sent again, but the next
  // should find the right node).
  void refresh_soon() {
    if (stopped || finding || Clock::now() - last_find < kRefreshEvery) return;
    const auto deadline = Clock::now() + std::max<Millis>(options.command_timeout, Millis(1'000));
    asio::co_spawn(
        executor, [self = shared_from_this(), deadline]() -> asio::awaitable<void> { co_await self->find(deadline); },
        asio::detached);
  }

  // Whether this is one server or a cluster, found from the seeds on first use.
  asio::awaitable<Result<bool>> known(Clock::time_point deadline) {
    while (mode == Mode::kUnknown) {
      if (stopped) co_return make_error("the Redis client is stopped", ErrorKind::kUnreachable);
      if (misconfigured) co_return make_error(last_error, ErrorKind::kUnreachable);
      if (options.cluster == ClusterMode::kOff) {
        mode = Mode::kSingle;
        home = seeds.front();
        break;
      }
      const bool mine = !finding;
      co_await find(deadline);
      if (mode != Mode::kUnknown) break;
      if (mine || Clock::now() >= deadline) {
        if (last_error.empty()) last_error = "no seed of redis.url answered";
        // Nothing was sent, whatever held the answer up.
        if (last_error.rfind("Redis unavailable", 0) == 0) co_return make_error(last_error, ErrorKind::kUnreachable);
        co_return make_error("Redis unavailable (" + last_error + ")", ErrorKind::kUnreachable);
      }
    }
    co_return true;
  }

  asio::awaitable<Result<Reply>> send(std::vector<std::string> args, Clock::time_point deadline) {
    auto self = shared_from_this();
    if (mode == Mode::kUnknown) {  // no coroutine frame for the check once the mode is known
      auto ready = co_await known(deadline);
      if (!ready) co_return ready.error();
    }
    if (mode == Mode::kSingle) {
      std::vector<std::vector<std::string>> batch;
      batch.push_back(std::move(args));  // not a braced list: that would copy every argument
      auto reply = co_await home->command(std::move(batch), deadline);
      // The server became a cluster: found again on the next command.
      if (reply && reply->is_error() && parse_redirect(reply->str)) mode = Mode::kUnknown;
      co_return reply;
    }
    auto slot = command_slot(args);
    if (!slot) co_return slot.error();
    const auto route = [&] { return *slot ? node_for(**slot) : any_node(); };
    std::shared_ptr<RedisNode> node = route();
    bool asking = false, resent = false;
    int hops = 0;
    for (;;) {
      if (!node) {
        co_await refresh(deadline);
        node = route();
        if (!node) {
          co_return make_error("no primary of the Redis Cluster serves hash slot " + std::to_string(slot->value_or(0)),
                               ErrorKind::kUnreachable);
        }
      }
      std::vector<std::vector<std::string>> batch;
      if (asking) batch.push_back({"ASKING"});
      batch.push_back(args);
      auto reply = co_await node->command(std::move(batch), deadline);
      if (reply && reply->is_error()) {
        if (auto r = parse_redirect(reply->str); r && Clock::now() < deadline) {
          if (++hops > 8)
            co_return make_error("the Redis Cluster redirected a command too many times", ErrorKind::kUnreachable);
          ++options.stats->redirects;
          auto to = node_at(r->host.empty() ? node->options().url.host : r->host, r->port, {}, true);
          if (!to) co_return not_run(*node, *reply);
          if (!r->ask) {
            // The slot has moved for good: this command and the next go there; the rest of
            // the map is read again soon (a failover or a resharding moves more than one).
            if (slots.size() == kClusterSlots) slots[r->slot] = index_of(to);
            refresh_soon();
          }
          asking = r->ask;
          node = std::move(to);
          continue;
        }
        if (reply->str.rfind("TRYAGAIN", 0) == 0 && Clock::now() + Millis(20) < deadline) {
          // A slot being migrated holds some of the command's keys here and not all there
          // yet: a moment, then the same node again (ASKING again if it was asked so), until
          // the migration is done or the deadline comes.
          asio::steady_timer pause(executor);
          pause.expires_after(Millis(20));
          error_code ec;
          co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
          continue;
        }
        asking = false;
        // A redirection past the deadline, or a TRYAGAIN that outlived it: not run.
        if (parse_redirect(reply->str) || reply->str.rfind("TRYAGAIN", 0) == 0) co_return not_run(*node, *reply);
        if (!cannot_serve(reply->str)) co_return reply;
      } else if (reply || reply.kind() != ErrorKind::kUnreachable) {
        // Answered; or lost in a way that may have run it (a timeout, a broken connection),
        // so it is not sent again, but the map is read again for the next command.
        if (!reply) refresh_soon();
        co_return reply;
      }
      // Not served and not run (the node is gone, or a replica now): read the map, and send
      // it once more where the map now says.
      if (resent) co_return reply ? not_run(*node, *reply) : std::move(reply);
      resent = true;
      co_await refresh(deadline);
      auto now_at = route();
      if (!now_at || now_at == node || Clock::now() >= deadline) {
        co_return reply ? not_run(*node, *reply) : std::move(reply);
      }
      node = std::move(now_at);
    }
  }

  // A cluster's refusal to run a command here and now (a failover, a migration) is a failure
  // of the kind "not sent" for the caller: what it would have charged is still owed.
  static Result<Reply> not_run(const RedisNode& node, const Reply& refusal) {
    return make_error("Redis " + node.options().url.redacted() + " did not run the command: " + refusal.str,
                      ErrorKind::kUnreachable);
  }

  // The node to subscribe on: in a cluster any primary (PUBLISH reaches every node), in turn
  // after each loss; otherwise the server, or the seeds in turn until one is found.
  std::shared_ptr<RedisNode> subscription_node() const {
    if (mode == Mode::kSingle && home) return home;
    std::vector<std::shared_ptr<RedisNode>> all = by_index;
    for (const auto& s : seeds) {
      if (std::find(all.begin(), all.end(), s) == all.end()) all.push_back(s);
    }
    return all[sub_turn % all.size()];
  }

  asio::awaitable<void> subscription(std::shared_ptr<Impl> /*self*/, std::vector<std::string> channels,
                                     std::function<void(std::string_view, std::string_view)> on_message,
                                     std::function<void(bool)> on_state) {
    Millis delay(100);
    while (!stopped) {
      if (mode == Mode::kUnknown && options.cluster != ClusterMode::kOff) {
        (void)co_await known(Clock::now() + std::max<Millis>(options.command_timeout, Millis(1'000)));
      }
      if (stopped) break;
      auto node = subscription_node();
      // Named, not built inside the co_await: GCC 12 loses such temporaries.
      std::function<void(std::string_view, std::string_view)> relay = [this, &on_message](std::string_view channel,
                                                                                          std::string_view payload) {
        if (!stopped) on_message(channel, payload);
      };
      std::function<void()> subscribed = [&] {
        delay = Millis(100);
        if (!stopped) on_state(true);
      };
      const bool was_up = co_await node->subscribe_once(channels, std::move(relay), std::move(subscribed));
      if (stopped) break;
      if (was_up) on_state(false);
      ++sub_turn;
      sub_wake.expires_after(delay);
      delay = std::min(delay * 2, options.max_backoff);
      error_code ec;
      co_await sub_wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
  void stop() {
    stopped = true;
    for (const auto& s : seeds) s->stop();
    for (auto& [key, node] : nodes) node->stop();  // every primary of the map is among them
    waiting.wake_all();
    sub_wake.cancel();
  }
};

Redis::Redis(asio::any_io_executor executor, RedisOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options))) {}

Redis::~Redis() { impl_->stop(); }

asio::awaitable<Result<Reply>> Redis::command(std::vector<std::string> args) {
  // Not a coroutine of its own: send() holds the client while it runs.
  return impl_->send(std::move(args), Clock::now() + impl_->options.command_timeout);
}

asio::awaitable<Result<Reply>> Redis::eval(const RedisScript& script, std::vector<std::string> keys,
                                           std::vector<std::string> args) {
  // One deadline for the call, however many round trips it takes.
  const auto deadline = Clock::now() + impl_->options.command_timeout;
  auto impl = impl_;
  std::vector<std::string> command = {"EVALSHA", script.sha1, std::to_string(keys.size())};
  command.insert(command.end(), std::make_move_iterator(keys.begin()), std::make_move_iterator(keys.end()));
  command.insert(command.end(), std::make_move_iterator(args.begin()), std::make_move_iterator(args.end()));
  auto reply = co_await impl->send(command, deadline);
  if (reply && reply->is_error() && reply->str.rfind("NOSCRIPT", 0) == 0) {
    // Past the deadline, it is not sent: Redis would run it while the caller has given up.
    if (Clock::now() >= deadline) co_return make_error("Redis did not run the script in time", ErrorKind::kTimeout);
    // Not known yet (a new or restarted Redis, SCRIPT FLUSH, another node): EVAL runs it and keeps it.
    command[0] = "EVAL";
    command[1] = script.text;
    reply = co_await impl->send(std::move(command), deadline);
  }
  co_return reply;
}

void Redis::subscribe(std::vector<std::string> channels,
                      std::function<void(std::string_view, std::string_view)> on_message,
                      std::function<void(bool)> on_state) {
  asio::co_spawn(impl_->executor,
                 impl_->subscription(impl_, std::move(channels), std::move(on_message), std::move(on_state)),
                 asio::detached);
}

void Redis::stop() { impl_->stop(); }

bool Redis::connected() const {
  const auto& i = *impl_;
  if (i.mode == Impl::Mode::kSingle) return i.home && i.home->connected();
  return std::any_of(i.by_index.begin(), i.by_index.end(), [](const auto& n) { return n->connected(); });
}

std::uint64_t Redis::reconnects() const {
  std::uint64_t n = impl_->reconnects_before;
  for (const auto& s : impl_->seeds) n += s->reconnects();
  for (const auto& [key, node] : impl_->nodes) {
    if (std::find(impl_->seeds.begin(), impl_->seeds.end(), node) == impl_->seeds.end()) n += node->reconnects();
  }
  return n;
}

bool Redis::cluster() const { return impl_->mode == Impl::Mode::kCluster; }

std::optional<std::string> Redis::misconfigured() const {
  if (!impl_->misconfigured) return std::nullopt;
  return impl_->last_error;
}

}  // namespace signgate::store
