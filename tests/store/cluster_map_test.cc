// The Redis Cluster arithmetic and replies, without a server: slots as Redis's own
// documentation and CLUSTER KEYSLOT give them (the integration test asks a real node for
// thousands more), the slot a command touches, and the maps and redirections nodes answer.
#include "store/cluster_map.h"

#include <gtest/gtest.h>

#include "store/resp_reader.h"

namespace signgate::store {
namespace {

// Redis's cluster specification gives CRC16("123456789") = 0x31C3; the others are
// CLUSTER KEYSLOT's answers.
TEST(KeySlot, MatchesRedis) {
  EXPECT_EQ(key_slot("123456789"), 0x31C3 % 16384);
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("bar"), 5061);
  EXPECT_EQ(key_slot(""), 0);
  EXPECT_EQ(key_slot("signgate:revoked"), key_slot("signgate:revoked"));
}

// A client's keys share its {hash tag}; an empty tag or one never closed hashes the whole key.
TEST(KeySlot, HashTags) {
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("{user1000}.followers"));
  EXPECT_EQ(key_slot("signgate:{alice}:requests"), key_slot("alice"));
  EXPECT_EQ(key_slot("signgate:{alice}:day:20261207"), key_slot("signgate:{alice}:tokens"));
  EXPECT_EQ(key_slot("foo{}{bar}"), key_slot(std::string_view("foo{}{bar}")));
  EXPECT_NE(key_slot("foo{}{bar}"), key_slot("bar"));
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));
  EXPECT_EQ(key_slot("foo{bar}{zap}"), key_slot("bar"));
  EXPECT_EQ(key_slot("foo{bar"), key_slot(std::string_view("foo{bar")));
}

TEST(CommandSlot, KeysByCommand) {
  const auto slot = [](std::vector<std::string> args) { return command_slot(args); };
  EXPECT_EQ(*slot({"GET", "foo"}), std::optional<std::uint16_t>(12182));
  EXPECT_EQ(*slot({"smembers", "bar"}), std::optional<std::uint16_t>(5061));
  EXPECT_EQ(*slot({"PING"}), std::nullopt);
  EXPECT_EQ(*slot({"PUBLISH", "signgate:revocations", "ab"}), std::nullopt);
  EXPECT_EQ(*slot({"EVALSHA", "sha", "0", "arg"}), std::nullopt);
  EXPECT_EQ(*slot({"EVALSHA", "sha", "2", "{c}:a", "{c}:b", "argument-elsewhere"}), key_slot("c"));
  EXPECT_EQ(*slot({"DEL", "{c}:a", "{c}:b"}), key_slot("c"));
  // Keys in two slots: refused here, before Redis would refuse it with CROSSSLOT.
  EXPECT_FALSE(slot({"EVAL", "script", "2", "{a}:x", "{b}:y"}));
  EXPECT_FALSE(slot({"MGET", "foo", "bar"}));
  EXPECT_FALSE(slot({"EVALSHA", "sha", "3", "only-one"}));
  EXPECT_FALSE(slot({"EVALSHA", "sha", "x"}));
}

TEST(Redirect, MovedAndAsk) {
  auto moved = parse_redirect("MOVED 3999 127.0.0.1:6381");
  ASSERT_TRUE(moved);
  EXPECT_FALSE(moved->ask);
  EXPECT_EQ(moved->slot, 3999);
  EXPECT_EQ(moved->host, "127.0.0.1");
  EXPECT_EQ(moved->port, 6381);
  auto ask = parse_redirect("ASK 16383 [::1]:7000");
  ASSERT_TRUE(ask);
  EXPECT_TRUE(ask->ask);
  EXPECT_EQ(ask->host, "::1");
  // Redis 7 with an unknown endpoint: the node that answered.
  auto here = parse_redirect("MOVED 1 :7001");
  ASSERT_TRUE(here);
  EXPECT_EQ(here->host, "");
  EXPECT_EQ(here->port, 7001);
  for (const char* bad : {"ERR MOVED 1 a:1", "MOVED", "MOVED 16384 a:1", "MOVED 1 a", "MOVED 1 a:0", "MOVED x a:1",
                          "ASK 1 a:70000", "MOVED 1 a b:1", "MOVED 1 a/b:1"}) {
    EXPECT_FALSE(parse_redirect(bad)) << bad;
  }
}

Reply str(std::string s) {
  Reply r;
  r.type = Reply::Type::kString;
  r.str = std::move(s);
  return r;
}
Reply num(long long v) {
  Reply r;
  r.type = Reply::Type::kInteger;
  r.integer = v;
  return r;
}
Reply arr(std::vector<Reply> e) {
  Reply r;
  r.type = Reply::Type::kArray;
  r.elements = std::move(e);
  return r;
}

Reply shard_node(const std::string& ip, long long port, const std::string& role, const std::string& health,
                 long long tls_port = 0) {
  std::vector<Reply> f = {str("id"),       str("abc"), str("port"), num(port), str("ip"),     str("127.0.0.1"),
                          str("endpoint"), str(ip),    str("role"), str(role), str("health"), str(health)};
  if (tls_port != 0) {
    f.push_back(str("tls-port"));
    f.push_back(num(tls_port));
  }
  return arr(std::move(f));
}

// CLUSTER SHARDS: the primary of each shard, its ranges, the TLS port when asked over TLS; a
// failed primary still names its slots until a replica is promoted; a shard serving nothing
// is skipped.
TEST(ClusterShards, Primaries) {
  const Reply reply = arr({
      arr({str("slots"), arr({num(0), num(5460), num(10923), num(10930)}), str("nodes"),
           arr({shard_node("10.0.0.2", 7001, "replica", "online"),
                shard_node("10.0.0.1", 7000, "master", "online", 8000)})}),
      arr({str("slots"), arr({num(5461), num(10922)}), str("nodes"),
           arr({shard_node("10.0.0.3", 7002, "master", "failed")})}),
      arr({str("slots"), arr({}), str("nodes"), arr({shard_node("10.0.0.9", 7009, "master", "online")})}),
  });
  auto plain = parse_cluster_shards(reply, false);
  ASSERT_TRUE(plain) << plain.message();
  ASSERT_EQ(plain->size(), 2u);
  EXPECT_EQ((*plain)[0].endpoint, "10.0.0.1");
  EXPECT_EQ((*plain)[0].port, 7000);
  ASSERT_EQ((*plain)[0].ranges.size(), 2u);
  EXPECT_EQ((*plain)[0].ranges[1], (std::pair<std::uint16_t, std::uint16_t>(10923, 10930)));
  EXPECT_EQ((*plain)[1].endpoint, "10.0.0.3");
  auto tls = parse_cluster_shards(reply, true);
  ASSERT_TRUE(tls);
  EXPECT_EQ((*tls)[0].port, 8000);
}

TEST(ClusterShards, RefusesNonsense) {
  EXPECT_FALSE(parse_cluster_shards(str("x"), false));
  EXPECT_FALSE(parse_cluster_shards(arr({arr({str("slots"), arr({num(0)}), str("nodes"), arr({})})}), false));
  EXPECT_FALSE(parse_cluster_shards(arr({arr({str("slots"), arr({num(5), num(16384)}), str("nodes"),
                                              arr({shard_node("a", 1, "master", "online")})})}),
                                    false));
  EXPECT_FALSE(parse_cluster_shards(
      arr({arr({str("slots"), arr({num(0), num(1)}), str("nodes"), arr({shard_node("a", 1, "replica", "online")})})}),
      false));
  EXPECT_FALSE(parse_cluster_shards(
      arr({arr({str("slots"), arr({num(0), num(1)}), str("nodes"), arr({shard_node("a", 0, "master", "online")})})}),
      false));
}

// CLUSTER SLOTS (before Redis 7): one entry a range, the primary first, "?" for no endpoint.
TEST(ClusterSlots, Primaries) {
  const Reply reply = arr({
      arr({num(0), num(8191), arr({str("10.0.0.1"), num(7000), str("id1"), arr({str("hostname"), str("n1.cache")})}),
           arr({str("10.0.0.2"), num(7001), str("id2")})}),
      arr({num(8192), num(16383), arr({str("?"), num(7002), str("id3")})}),
  });
  auto map = parse_cluster_slots(reply);
  ASSERT_TRUE(map) << map.message();
  ASSERT_EQ(map->size(), 2u);
  EXPECT_EQ((*map)[0].hostname, "n1.cache");
  EXPECT_EQ((*map)[1].endpoint, "");
  EXPECT_EQ((*map)[1].port, 7002);
  EXPECT_FALSE(parse_cluster_slots(arr({arr({num(0), num(1)})})));
  EXPECT_FALSE(parse_cluster_slots(arr({arr({num(1), num(0), arr({str("a"), num(1)})})})));
}

// The reader the fuzz target drives: whole replies only.
TEST(ReadOneReply, WholeRepliesOnly) {
  auto r = read_one_reply("*2\r\n$3\r\nfoo\r\n:7\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->elements.size(), 2u);
  EXPECT_FALSE(read_one_reply("*2\r\n$3\r\nfoo\r\n"));
  EXPECT_FALSE(read_one_reply("?garbage\r\n"));
}

}  // namespace
}  // namespace signgate::store
