// The Responses API's store: a client reads only its own responses, conversations chain
// through previous_response_id, and memory stays bounded (TTL, per-client share, total).
#include "gateway/response_store.h"

#include <gtest/gtest.h>

#include "gateway/fleet.h"

namespace signgate::gateway {
namespace {

using nlohmann::json;
using Clock = ResponseStore::Clock;

config::ResponsesConfig limits(std::size_t total, std::size_t per_client, int ttl_seconds = 3600) {
  config::ResponsesConfig c;
  c.ttl = std::chrono::seconds(ttl_seconds);
  c.max_bytes = total;
  c.max_bytes_per_client = per_client;
  return c;
}

// GCC 12 warns falsely (-Wrestrict) on "literal" + std::string.
std::string numbered(std::string prefix, int i) {
  prefix += std::to_string(i);
  return prefix;
}

json items(const std::string& text, const std::string& id) {
  return json::array({{{"type", "message"}, {"role", "user"}, {"content", text}},
                      {{"id", id}, {"type", "message"}, {"role", "assistant"}, {"content", "ok"}}});
}

TEST(ResponseStore, ConversationsChainAndStayWithTheirClient) {
  ResponseStore store;
  const auto now = Clock::now();
  store.put("a", "resp_1", "", items("one", "msg_1"), {"msg_1"}, now);
  store.put("a", "resp_2", "resp_1", items("two", "msg_2"), {"msg_2"}, now);
  auto conv = store.conversation("a", "resp_2", 1 << 20, now);
  ASSERT_TRUE(conv) << conv.message();
  ASSERT_EQ(conv->size(), 4u);
  EXPECT_EQ((*conv)[0]["content"], "one");
  EXPECT_EQ((*conv)[3]["id"], "msg_2");
  EXPECT_EQ(store.item("a", "msg_1", now).value()["content"], "ok");
  // Another client's response is as unknown as one that never was.
  EXPECT_FALSE(store.conversation("b", "resp_2", 1 << 20, now));
  EXPECT_FALSE(store.item("b", "msg_1", now).has_value());
  EXPECT_EQ(store.conversation("b", "resp_2", 1 << 20, now).message(), "previous response is not known (or expired)");
  // One client's item ids never shadow another's.
  store.put("b", "resp_b", "", items("b's", "msg_1"), {"msg_1"}, now);
  EXPECT_EQ(store.item("a", "msg_1", now).value()["content"], "ok");
  EXPECT_EQ(store.item("b", "msg_1", now).value()["id"], "msg_1");
  // A conversation longer than the caller would accept as a body is refused.
  EXPECT_FALSE(store.conversation("a", "resp_2", 10, now));
}

TEST(ResponseStore, EntriesExpire) {
  ResponseStore store(limits(1 << 20, 1 << 20, 60));
  const auto now = Clock::now();
  store.put("a", "resp_1", "", items("one", "msg_1"), {"msg_1"}, now);
  store.put("a", "resp_2", "resp_1", items("two", "msg_2"), {"msg_2"}, now + std::chrono::seconds(59));
  EXPECT_TRUE(store.conversation("a", "resp_2", 1 << 20, now + std::chrono::seconds(59)));
  // The first expired: the chain through it breaks with a clear reason.
  const auto later = now + std::chrono::seconds(61);
  EXPECT_EQ(store.conversation("a", "resp_2", 1 << 20, later).message(),
            "a response earlier in this conversation is no longer kept");
  EXPECT_FALSE(store.item("a", "msg_1", later).has_value());
  store.put("a", "resp_3", "", items("three", "msg_3"), {"msg_3"}, later);  // sweeps the expired one
  EXPECT_EQ(store.size(), 2u);
}

TEST(ResponseStore, OneClientCannotCrowdOutTheOthers) {
  const json body = items(std::string(1000, 'x'), "m");
  ResponseStore store(limits(20'000, 5'000));
  const auto now = Clock::now();
  store.put("quiet", "resp_q", "", body, {"msg_q"}, now);
  for (int i = 0; i < 100; ++i) {
    store.put("noisy", numbered("resp_n", i), "", body, {numbered("msg_n", i)}, now);
  }
  EXPECT_TRUE(store.conversation("quiet", "resp_q", 1 << 20, now));
  EXPECT_TRUE(store.conversation("noisy", "resp_n99", 1 << 20, now));  // the newest stay
  EXPECT_FALSE(store.conversation("noisy", "resp_n0", 1 << 20, now));  // the oldest went
  EXPECT_LE(store.bytes(), 20'000u);
  EXPECT_LT(store.size(), 10u);
  // All clients together: the total holds too.
  for (int c = 0; c < 20; ++c) {
    store.put(numbered("c", c), numbered("resp_c", c), "", body, {}, now);
  }
  EXPECT_LE(store.bytes(), 20'000u);
  // Turned off: nothing is kept.
  auto off = limits(20'000, 5'000);
  off.store = false;
  store.set_limits(off);
  store.put("quiet", "resp_new", "", body, {}, now);
  EXPECT_FALSE(store.conversation("quiet", "resp_new", 1 << 20, now));
}

}  // namespace
}  // namespace signgate::gateway

namespace signgate::gateway {
namespace {

// A client's Redis keys: the hash tag ends where the name does, whatever the name holds.
TEST(RedisPrefix, EncodesWhatWouldEndTheHashTagEarly) {
  EXPECT_EQ(redis_prefix("team-a"), "signgate:{team-a}:");
  EXPECT_EQ(redis_prefix("${HOME}"), "signgate:{$%7BHOME%7D}:");
  EXPECT_EQ(redis_prefix("a}:r:x"), "signgate:{a%7D:r:x}:");
  EXPECT_EQ(redis_prefix("50%"), "signgate:{50%25}:");
  EXPECT_NE(redis_prefix("a%7D"), redis_prefix("a}"));
}

}  // namespace
}  // namespace signgate::gateway
