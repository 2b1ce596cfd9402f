// The Redis client against a Redis Cluster of three of Debian's redis-server on loopback
// (cluster mode, a password): the slot of every key as CLUSTER KEYSLOT says, commands sent
// from any seed to the primary of their slot, a slot moved behind the client's back (MOVED)
// and one being migrated (ASK, ASKING), scripts loaded on every node, a node lost and back,
// seeds tried in turn, database 0 only, and a subscription hearing a PUBLISH sent elsewhere.
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include <random>

#include "fakes.h"
#include "redis_process.h"
#include "store/cluster_map.h"
#include "store/redis.h"

namespace signgate::store {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::free_port;
using testing::redis_cli;
using testing::sleep_for;
using testing::TempDir;
using testing::with_redis;

constexpr const char* kPassword = "cluster-s3cret";

// Three primaries serving 0-5460, 5461-10922 and 10923-16383; a lost node does not stop the
// others (cluster-require-full-coverage no).
class MiniCluster {
 public:
  MiniCluster() {
    for (int i = 0; i < 3; ++i) {
      ports_[i] = free_port();
      bus_ports_[i] = free_port();  // not PORT+10000, which may be past 65535 or taken
      start(i);
    }
    const char* ranges[3] = {"0 5460", "5461 10922", "10923 16383"};
    for (int i = 0; i < 3; ++i) redis_cli(ports_[i], kPassword, std::string("CLUSTER ADDSLOTSRANGE ") + ranges[i]);
    for (int i = 1; i < 3; ++i)
      redis_cli(ports_[0], kPassword,
                "CLUSTER MEET 127.0.0.1 " + std::to_string(ports_[i]) + " " + std::to_string(bus_ports_[i]));
    for (int i = 0; i < 3; ++i) ids_[i] = redis_cli(ports_[i], kPassword, "CLUSTER MYID");
    wait_ok();
  }
  ~MiniCluster() {
    for (auto& pid : pids_) testing::kill_redis(pid);
  }
  MiniCluster(const MiniCluster&) = delete;
  MiniCluster& operator=(const MiniCluster&) = delete;

  void start(int i) {
    const std::string dir = dirs_[i].path();
    pids_[i] = testing::spawn_redis({"--bind",
                                     "127.0.0.1",
                                     "--port",
                                     std::to_string(ports_[i]),
                                     "--cluster-enabled",
                                     "yes",
                                     "--cluster-port",
                                     std::to_string(bus_ports_[i]),
                                     "--cluster-config-file",
                                     dir + "/nodes.conf",
                                     "--cluster-node-timeout",
                                     "1000",
                                     "--cluster-require-full-coverage",
                                     "no",
                                     "--requirepass",
                                     kPassword,
                                     "--masterauth",
                                     kPassword,
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "no",
                                     "--dir",
                                     dir},
                                    ports_[i]);
  }
  void kill(int i) { testing::kill_redis(pids_[i]); }

  // Every node says the cluster is whole and knows the three primaries.
  void wait_ok() const {
    for (int tries = 0; tries < 300; ++tries) {
      bool ok = true;
      for (int i = 0; i < 3 && ok; ++i) {
        ok = redis_cli(ports_[i], kPassword, "CLUSTER INFO").find("cluster_state:ok") != std::string::npos &&
             redis_cli(ports_[i], kPassword, "CLUSTER INFO").find("cluster_known_nodes:3") != std::string::npos;
      }
      if (ok) return;
      std::this_thread::sleep_for(50ms);
    }
    throw std::runtime_error("the cluster did not come up");
  }

  std::uint16_t port(int i) const { return ports_[i]; }
  const std::string& id(int i) const { return ids_[i]; }
  int owner(std::uint16_t slot) const { return slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2; }
  std::string url(int i, const std::string& db = "") const {
    return "redis://:" + std::string(kPassword) + "@127.0.0.1:" + std::to_string(ports_[i]) + db;
  }
  std::string cli(int i, const std::string& args) const { return redis_cli(ports_[i], kPassword, args); }

 private:
  TempDir dirs_[3];
  std::uint16_t ports_[3] = {};
  std::uint16_t bus_ports_[3] = {};
  pid_t pids_[3] = {-1, -1, -1};
  std::string ids_[3];
};

RedisOptions options_for(const std::string& url) {
  auto u = parse_redis_url(url);
  if (!u) throw std::runtime_error(u.message());
  RedisOptions o;
  o.url = *u;
  o.command_timeout = 1'000ms;
  o.connect_timeout = 500ms;
  o.max_backoff = 400ms;
  return o;
}

asio::awaitable<std::string> get(Redis& r, const std::string& key) {
  std::vector<std::string> command = {"GET", key};
  auto reply = co_await r.command(std::move(command));
  co_return !reply ? "failed: " + reply.message() : reply->is_error() ? "error: " + reply->str : reply->str;
}

asio::awaitable<std::string> set(Redis& r, const std::string& key, const std::string& value) {
  std::vector<std::string> command = {"SET", key, value};
  auto reply = co_await r.command(std::move(command));
  co_return !reply ? "failed: " + reply.message() : reply->is_error() ? "error: " + reply->str : reply->str;
}

// A key whose slot the first primary (`node`) serves, with `tag` as its hash tag.
std::string tag_on(const MiniCluster& c, int node, const std::string& prefix) {
  for (int i = 0;; ++i) {
    const std::string tag = prefix + std::to_string(i);
    if (c.owner(key_slot(tag)) == node) return tag;
  }
}

// Our slot arithmetic is Redis's, for keys of every shape: plain, tagged, empty tags, binary.
TEST(RedisCluster, KeySlotIsRedisOwn) {
  MiniCluster cluster;
  std::minstd_rand random(7);
  std::vector<std::string> keys = {"", "{", "}", "{}", "a{}b", "{{a}}", "signgate:{alice}:requests", "x{y}z{w}"};
  for (int i = 0; i < 400; ++i) {
    std::string k;
    const int length = static_cast<int>(random() % 24);
    for (int j = 0; j < length; ++j) k.push_back("ab{}:%\x01\xff"[random() % 8]);
    keys.push_back(k);
  }
  with_redis(options_for(cluster.url(1)), [&](Redis& r) -> asio::awaitable<void> {
    for (const auto& key : keys) {
      std::vector<std::string> command = {"CLUSTER", "KEYSLOT", key};
      auto reply = co_await r.command(std::move(command));
      EXPECT_TRUE(reply && reply->type == Reply::Type::kInteger) << (reply ? reply->str : reply.message());
      if (reply) {
        EXPECT_EQ(reply->integer, key_slot(key)) << "key " << key;
      }
    }
    EXPECT_TRUE(r.cluster());
  });
}

// From any seed every command reaches its slot's primary, without a redirection once the map
// is known; a slot moved behind the client's back answers MOVED, which it follows.
TEST(RedisCluster, RoutedAndMoved) {
  MiniCluster cluster;
  auto options = options_for(cluster.url(2));
  options.stats = std::make_shared<RedisStats>();
  with_redis(options, [&](Redis& r) -> asio::awaitable<void> {
    for (int i = 0; i < 60; ++i) EXPECT_EQ(co_await set(r, "key" + std::to_string(i), std::to_string(i)), "OK");
    EXPECT_EQ(options.stats->redirects.load(), 0u);
    EXPECT_EQ(options.stats->cluster_nodes.load(), 3u);
    for (int i = 0; i < 60; i += 7) {
      const std::string key = "key" + std::to_string(i);
      EXPECT_EQ(cluster.cli(cluster.owner(key_slot(key)), "GET " + key), std::to_string(i)) << "kept by its owner";
    }
    // Move a slot of node 0's to node 1, telling every node but not the client.
    const std::string tag = tag_on(cluster, 0, "moved");
    const std::uint16_t slot = key_slot(tag);
    cluster.cli(1, "CLUSTER SETSLOT " + std::to_string(slot) + " IMPORTING " + cluster.id(0));
    cluster.cli(0, "CLUSTER SETSLOT " + std::to_string(slot) + " MIGRATING " + cluster.id(1));
    for (int i = 0; i < 3; ++i) cluster.cli(i, "CLUSTER SETSLOT " + std::to_string(slot) + " NODE " + cluster.id(1));
    EXPECT_EQ(co_await set(r, "{" + tag + "}:x", "moved"), "OK");
    EXPECT_GE(options.stats->redirects.load(), 1u);
    EXPECT_EQ(cluster.cli(1, "GET {" + tag + "}:x"), "moved");
    const auto redirects = options.stats->redirects.load();
    EXPECT_EQ(co_await get(r, "{" + tag + "}:x"), "moved");
    EXPECT_EQ(options.stats->redirects.load(), redirects) << "the map learnt it";
  });
}

// A slot half migrated: keys already moved are answered after ASK (ASKING first), the rest
// where they were, a new key where it is going; scripts run on whichever node holds them.
TEST(RedisCluster, AskDuringMigration) {
  MiniCluster cluster;
  const std::string tag = tag_on(cluster, 0, "ask");
  const std::string a = "{" + tag + "}:a", b = "{" + tag + "}:b";
  const std::uint16_t slot = key_slot(tag);
  auto options = options_for(cluster.url(0));
  options.stats = std::make_shared<RedisStats>();
  with_redis(options, [&](Redis& r) -> asio::awaitable<void> {
    EXPECT_EQ(co_await set(r, a, "1"), "OK");
    EXPECT_EQ(co_await set(r, b, "2"), "OK");
    cluster.cli(1, "CLUSTER SETSLOT " + std::to_string(slot) + " IMPORTING " + cluster.id(0));
    cluster.cli(0, "CLUSTER SETSLOT " + std::to_string(slot) + " MIGRATING " + cluster.id(1));
    EXPECT_EQ(cluster.cli(0, "MIGRATE 127.0.0.1 " + std::to_string(cluster.port(1)) + " \"\" 0 5000 AUTH " +
                                 std::string(kPassword) + " KEYS " + a),
              "OK");
    EXPECT_EQ(co_await get(r, a), "1") << "moved already: ASK";
    EXPECT_GE(options.stats->redirects.load(), 1u);
    EXPECT_EQ(co_await get(r, b), "2") << "still where it was";
    EXPECT_EQ(co_await set(r, "{" + tag + "}:new", "3"), "OK");
    // A script over one key on each side of the migration, and one on the new side only.
    const RedisScript script("return redis.call('GET', KEYS[1])");
    std::vector<std::string> keys_b = {b}, keys_a = {a}, none;
    auto on_b = co_await r.eval(script, keys_b, none);
    EXPECT_TRUE(on_b && on_b->str == "2") << (on_b ? on_b->str : on_b.message());
    auto on_a = co_await r.eval(script, keys_a, none);
    EXPECT_TRUE(on_a && on_a->str == "1") << (on_a ? on_a->str : on_a.message());
    // Finish the migration: everything answered by node 1 now.
    cluster.cli(0, "MIGRATE 127.0.0.1 " + std::to_string(cluster.port(1)) + " \"\" 0 5000 AUTH " +
                       std::string(kPassword) + " KEYS " + b);
    for (int i = 0; i < 3; ++i) cluster.cli(i, "CLUSTER SETSLOT " + std::to_string(slot) + " NODE " + cluster.id(1));
    EXPECT_EQ(co_await get(r, b), "2");
    EXPECT_EQ(co_await get(r, "{" + tag + "}:new"), "3");
    EXPECT_EQ(cluster.cli(1, "GET {" + tag + "}:new"), "3");
  });
}

// A primary lost: its slots fail at once (nothing hangs), the others are served; back on its
// port, it serves again without the client being restarted.
TEST(RedisCluster, NodeLostAndBack) {
  MiniCluster cluster;
  const std::string on0 = "{" + tag_on(cluster, 0, "n") + "}", on2 = "{" + tag_on(cluster, 2, "n") + "}";
  with_redis(options_for(cluster.url(0)), [&](Redis& r) -> asio::awaitable<void> {
    EXPECT_EQ(co_await set(r, on2, "x"), "OK");
    cluster.kill(2);
    const auto started = std::chrono::steady_clock::now();
    const std::string lost = co_await set(r, on2, "y");
    EXPECT_EQ(lost.rfind("failed", 0), 0u) << lost;
    EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
    EXPECT_EQ(co_await set(r, on0, "z"), "OK") << "other slots are served";
    cluster.start(2);
    std::string back;
    for (int i = 0; i < 100 && back != "OK"; ++i) {
      back = co_await set(r, on2, "again");
      if (back != "OK") co_await sleep_for(100ms);
    }
    EXPECT_EQ(back, "OK");
  });
}

// Seeds are tried in turn; a cluster has only database 0.
TEST(RedisCluster, SeedsInTurnAndDatabaseZero) {
  MiniCluster cluster;
  auto options = options_for("redis://:" + std::string(kPassword) + "@127.0.0.1:" + std::to_string(free_port()));
  options.other_seeds.push_back(*parse_redis_url(cluster.url(1)));
  with_redis(options, [&](Redis& r) -> asio::awaitable<void> {
    EXPECT_EQ(co_await set(r, "seeded", "1"), "OK");
    EXPECT_TRUE(r.cluster());
  });
  with_redis(options_for(cluster.url(1, "/2")), [&](Redis& r) -> asio::awaitable<void> {
    const std::string refused = co_await set(r, "k", "v");
    EXPECT_NE(refused.find("only database 0"), std::string::npos) << refused;
  });
}

// A subscription on one node hears what is published on another.
TEST(RedisCluster, SubscriptionHearsEveryNode) {
  MiniCluster cluster;
  with_redis(options_for(cluster.url(0)), [&](Redis& r) -> asio::awaitable<void> {
    std::vector<std::string> heard;
    bool up = false;
    std::vector<std::string> channels = {"signgate:test"};
    r.subscribe(
        channels, [&](std::string_view, std::string_view m) { heard.emplace_back(m); }, [&](bool on) { up = on; });
    for (int i = 0; i < 100 && !up; ++i) co_await sleep_for(20ms);
    EXPECT_TRUE(up);
    // A cluster just formed may take a moment to link every node's bus: published until heard.
    for (int i = 0; i < 50 && heard.empty(); ++i) {
      cluster.cli(2, "PUBLISH signgate:test from-node-2");
      co_await sleep_for(100ms);
    }
    EXPECT_FALSE(heard.empty());
    if (!heard.empty()) {
      EXPECT_EQ(heard.front(), "from-node-2");
    }
  });
}

}  // namespace
}  // namespace signgate::store

namespace signgate::store {
namespace {

// cluster: auto with a server that will not say what it is (CLUSTER renamed away, as some
// managed offerings and proxies do): taken as one server. A list of seeds means a cluster, so
// there the same server is refused rather than used alone.
TEST(RedisCluster, AutoWithAServerThatWillNotSay) {
  const std::uint16_t port = free_port();
  testing::TempDir dir;
  pid_t pid = testing::spawn_redis({"--bind", "127.0.0.1", "--port", std::to_string(port), "--requirepass", kPassword,
                                    "--rename-command", "CLUSTER", "", "--save", "", "--dir", dir.path()},
                                   port);
  const std::string url = "redis://:" + std::string(kPassword) + "@127.0.0.1:" + std::to_string(port);
  with_redis(options_for(url), [&](Redis& r) -> asio::awaitable<void> {
    EXPECT_EQ(co_await set(r, "k", "v"), "OK");
    EXPECT_FALSE(r.cluster());
  });
  auto seeds = options_for(url);
  seeds.other_seeds.push_back(*parse_redis_url(url));
  with_redis(seeds, [&](Redis& r) -> asio::awaitable<void> {
    const std::string refused = co_await set(r, "k", "v");
    EXPECT_NE(refused.find("is not a Redis Cluster"), std::string::npos) << refused;
    EXPECT_TRUE(r.misconfigured());
  });
  testing::kill_redis(pid);
}

// A cluster node that serves no slot yet (just started, not joined) gives no map to use.
TEST(RedisCluster, ANodeServingNothingIsNoMap) {
  const std::uint16_t port = free_port(), bus = free_port();
  testing::TempDir dir;
  pid_t pid =
      testing::spawn_redis({"--bind", "127.0.0.1", "--port", std::to_string(port), "--cluster-enabled", "yes",
                            "--cluster-port", std::to_string(bus), "--cluster-config-file", dir.path() + "/nodes.conf",
                            "--requirepass", kPassword, "--save", "", "--dir", dir.path()},
                           port);
  with_redis(options_for("redis://:" + std::string(kPassword) + "@127.0.0.1:" + std::to_string(port)),
             [&](Redis& r) -> asio::awaitable<void> {
               const std::string failed = co_await set(r, "k", "v");
               EXPECT_NE(failed.find("no slot served"), std::string::npos) << failed;
             });
  testing::kill_redis(pid);
}

}  // namespace
}  // namespace signgate::store
