// When credentials are refreshed and when they stop being used; no threads, a pinned clock.
#include "aws/credentials/cache.h"

#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "aws/credentials/providers.h"

namespace signgate::aws {
namespace {

using namespace std::chrono_literals;
const SystemTime kT0 = *parse_iso8601("2026-11-25T12:00:00Z");

// An hour-long STS session is refreshed 5 minutes before it ends.
TEST(Refresh, AheadOfExpiryByTheConfiguredWindow) {
  EXPECT_EQ(refresh_time(kT0, kT0 + 1h, 300s), kT0 + 55min);
  EXPECT_EQ(refresh_time(kT0, kT0 + 15min, 60s), kT0 + 14min);
}

// Credentials that live shorter than the window are refreshed half-way, not in a loop.
TEST(Refresh, HalfWayWhenTheyLiveShorterThanTheWindow) {
  EXPECT_EQ(refresh_time(kT0, kT0 + 4min, 300s), kT0 + 2min);
  EXPECT_EQ(refresh_time(kT0, kT0 + 300s, 300s), kT0 + 150s);
}

TEST(Refresh, RetriesBackOffExponentiallyWithJitterAndACap) {
  EXPECT_EQ(retry_delay(1, 0.0), 500ms);
  EXPECT_EQ(retry_delay(1, 0.999), 999ms);
  EXPECT_EQ(retry_delay(2, 0.0), 1000ms);
  EXPECT_EQ(retry_delay(3, 0.5), 3000ms);
  EXPECT_EQ(retry_delay(30, 0.0), 15s);
  EXPECT_LT(retry_delay(30, 0.999), 30s + 1ms);
  for (int attempt = 1; attempt < 40; ++attempt) {
    EXPECT_GT(retry_delay(attempt, 0.0), 0ms) << "never a hot loop";
  }
}

struct PinnedClock {
  SystemTime now = kT0;
  Clock clock() {
    return [this] { return now; };
  }
};

RoleSettings a_role() {
  RoleSettings r;
  r.role_arn = "arn:aws:iam::1:role/r";
  r.session_name = "signgate";
  return r;
}

TEST(CredentialCache, EmptyUntilTheFirstFetch) {
  PinnedClock t;
  CredentialCache cache(a_role(), t.clock(), 10s);
  EXPECT_NE(cache.current().message().find("still being fetched"), std::string::npos);
  EXPECT_FALSE(cache.status().ready);
  cache.fail("STS down", "AssumeRole ...");
  EXPECT_EQ(cache.current().message(), "no AWS credentials for arn:aws:iam::1:role/r as signgate: STS down");
}

// A failed refresh does not drop credentials that are still valid...
TEST(CredentialCache, KeepsServingValidCredentialsWhenARefreshFails) {
  PinnedClock t;
  CredentialCache cache(a_role(), t.clock(), 10s);
  cache.publish({Credentials("ASIA1", "s", "tok", kT0 + 1h), "arn:aws:sts::1:assumed-role/r/signgate"}, "src");
  t.now = kT0 + 56min;
  cache.fail("STS down", "src");
  auto c = cache.current();
  ASSERT_TRUE(c);
  EXPECT_EQ((*c)->access_key_id(), "ASIA1");
  const auto s = cache.status();
  EXPECT_TRUE(s.ready);
  EXPECT_EQ(s.refreshes, 1u);
  EXPECT_EQ(s.failures, 1u);
  EXPECT_EQ(s.last_error, "STS down");
}

// ...but once they are within the safety margin of expiry, requests fail fast with why.
TEST(CredentialCache, FailsFastOnceTheyExpire) {
  PinnedClock t;
  CredentialCache cache(a_role(), t.clock(), 10s);
  cache.publish({Credentials("ASIA1", "s", "tok", kT0 + 1h), {}}, "src");
  cache.fail("STS down", "src");
  t.now = kT0 + 1h - 10s;
  const auto c = cache.current();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.message(),
            "AWS credentials for arn:aws:iam::1:role/r as signgate expired at 2026-11-25T13:00:00Z "
            "and could not be refreshed: STS down");
  EXPECT_FALSE(cache.status().ready);
  cache.publish({Credentials("ASIA2", "s", "tok", kT0 + 2h), {}}, "src");
  ASSERT_TRUE(cache.current());
  EXPECT_EQ((*cache.current())->access_key_id(), "ASIA2");
  EXPECT_TRUE(cache.status().last_error.empty());
}

TEST(CredentialCache, KeysWithoutExpiryNeverExpire) {
  PinnedClock t;
  CredentialCache cache(RoleSettings{}, t.clock(), 10s);
  cache.publish({Credentials("AKID", "s"), {}}, "environment");
  t.now = kT0 + 24h * 365;
  EXPECT_TRUE(cache.current());
}

TEST(ContainerCredentials, ParsesTheEcsAndImdsAnswer) {
  auto c = parse_container_credentials(
      R"({"Code":"Success","AccessKeyId":"ASIA","SecretAccessKey":"s","Token":"t","Expiration":"2026-11-25T13:00:00Z"})");
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->access_key_id(), "ASIA");
  EXPECT_EQ(c->session_token(), "t");
  EXPECT_EQ(*c->expiration(), kT0 + 1h);
}

TEST(ContainerCredentials, RefusesWhatIsNotCredentials) {
  EXPECT_NE(parse_container_credentials("<html>").message().find("not JSON"), std::string::npos);
  EXPECT_NE(parse_container_credentials(R"({"Code":"AssumeRoleUnauthorizedAccess","Message":"no"})")
                .message()
                .find("AssumeRoleUnauthorizedAccess: no"),
            std::string::npos);
  EXPECT_NE(parse_container_credentials(R"({"AccessKeyId":"A"})").message().find("lacks"), std::string::npos);
  EXPECT_NE(parse_container_credentials(R"({"AccessKeyId":"A","SecretAccessKey":"s","Expiration":"soon"})")
                .message()
                .find("unreadable Expiration"),
            std::string::npos);
}

// Two roles share a cache only when every AssumeRole field is the same: a reload that changes
// a session policy or a tag gets a new identity, not the old one's credentials.
TEST(CredentialManager, IdentitiesDifferByEveryAssumeRoleField) {
  class Keys final : public Provider {
   public:
    std::string describe() const override { return "test keys"; }
    boost::asio::awaitable<Result<Fetched>> fetch() override {
      co_return Fetched{Credentials("AKIDTEST", "secret"), ""};
    }
  };
  CredentialSettings settings;
  settings.region = "us-east-1";
  settings.base = std::make_shared<Keys>();
  CredentialManager manager(settings, fixed_environment({}));
  RoleSettings role;
  role.role_arn = "arn:aws:iam::111122223333:role/r";
  role.external_id = "ext-1";
  const auto first = manager.identity(role);
  EXPECT_EQ(manager.identity(role), first) << "the same role is one identity";
  for (const auto& change : std::vector<std::function<void(RoleSettings&)>>{
           [](RoleSettings& r) { r.policy = R"({"Version":"2012-10-17","Statement":[]})"; },
           [](RoleSettings& r) {
             r.tags = {{"team", "ai"}};
           },
           [](RoleSettings& r) { r.source_identity = "someone"; }, [](RoleSettings& r) { r.session_name = "other"; },
           [](RoleSettings& r) { r.duration_seconds = 900; }}) {
    RoleSettings other = role;
    change(other);
    EXPECT_NE(manager.identity(other), first);
  }
  manager.stop();
}

}  // namespace
}  // namespace signgate::aws
