// identities: and routes: (SPEC §7): the spec's example loads with its defaults filled in, and a
// route that could send a call nowhere is refused with the file, line and key.
#include "config/routes.h"

#include <gtest/gtest.h>

#include "config/config.h"

namespace signgate::config {
namespace {

const Environment kEnv = fixed_environment({{"OVERFLOW_EXTERNAL_ID", "ext-overflow"}});

std::string with_base(const std::string& tail) {
  return "aws:\n  region: us-east-1\n  role_arn: arn:aws:iam::111122223333:role/flashback-bedrock\n"
         "  external_id: ext-main\n"
         "clients:\n  - name: c\n    secret_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
         "    models: [\"*\"]\n"
         "models:\n  claude-sonnet: us.anthropic.claude-sonnet-4-5-20250929-v1:0\n" +
         tail;
}

constexpr const char* kSpecRoutes = R"(identities:
  overflow:
    role_arn: arn:aws:iam::444455556666:role/signgate-bedrock
    external_id: ${OVERFLOW_EXTERNAL_ID}
    region: us-west-2
routes:
  - match: ["claude-sonnet", "us.anthropic.claude-sonnet-4-5-*"]
    strategy: priority
    sticky: prefix
    targets:
      - { identity: default, region: us-east-1 }
      - { identity: overflow, weight: 1 }
      - { region: eu-west-1, model: eu.anthropic.claude-sonnet-4-5-20250929-v1:0 }
    fail_over_on: [throttled, unavailable, timeout]
    eject: { after: 3, for_seconds: 30 }
)";

// The example of SPEC §7 loads: regions and names default as the settled details say.
TEST(RoutesConfig, TheSpecExampleLoadsWithItsDefaults) {
  auto c = parse_config(with_base(kSpecRoutes), "signgate.yaml", kEnv);
  ASSERT_TRUE(c) << c.message();
  ASSERT_EQ(c->identities.size(), 1u);
  const IdentityConfig& id = c->identities[0];
  EXPECT_EQ(id.name, "overflow");
  EXPECT_EQ(id.role.external_id, "ext-overflow");
  EXPECT_EQ(id.role.sts_region, "us-west-2");  // its own STS, not aws:'s
  ASSERT_EQ(c->routes.size(), 1u);
  const RouteConfig& r = c->routes[0];
  EXPECT_EQ(r.name, "claude-sonnet");  // the first match entry
  EXPECT_EQ(r.sticky, Sticky::kPrefix);
  EXPECT_EQ(r.fail_over_on, kDefaultFailOver);
  EXPECT_EQ(r.deadline, std::chrono::milliseconds(120'000));
  ASSERT_EQ(r.targets.size(), 3u);
  EXPECT_EQ(r.targets[0].name, "default/us-east-1");
  EXPECT_EQ(r.targets[1].region, "us-west-2");  // the identity's
  EXPECT_EQ(r.targets[1].name, "overflow/us-west-2");
  EXPECT_EQ(r.targets[2].identity, "default");
  EXPECT_EQ(r.targets[2].name, "default/eu-west-1/eu.anthropic.claude-sonnet-4-5-20250929-v1:0");
}

// Defaults: priority, not sticky, eject after 3 for 30 s, weight 1.
TEST(RoutesConfig, DefaultsFillWhatIsNotSaid) {
  auto c = parse_config(with_base("routes:\n  - match: claude-sonnet\n    targets: [{region: us-west-2}]\n"),
                        "signgate.yaml", kEnv);
  ASSERT_TRUE(c) << c.message();
  const RouteConfig& r = c->routes[0];
  EXPECT_EQ(r.strategy, Strategy::kPriority);
  EXPECT_EQ(r.sticky, Sticky::kNone);
  EXPECT_EQ(r.eject_after, 3);
  EXPECT_EQ(r.eject_for, std::chrono::seconds(30));
  EXPECT_EQ(r.targets[0].weight, 1u);
  EXPECT_EQ(c->sticky_entries, 100'000u);
}

// Every mistake the issue names, each with the file and the line it is on.
TEST(RoutesConfig, MistakesAreRefusedWithFileAndLine) {
  const std::string text = with_base(R"(identities:
  default:
    role_arn: arn:aws:iam::444455556666:role/r
  noarn:
    region: us-west-2
routes:
  - match: ["claude-sonnet"]
    targets:
      - { identity: nobody }
      - { region: us-west-2, weight: 0 }
      - { region: us-west-2 }
      - { region: us-east-1, model: "../../x" }
    strategy: roundrobin
    sticky: always
    fail_over_on: [throttled, validation]
    eject: { after: 0 }
  - match: ["anthropic.claude/*"]
    targets: []
  - match: ["claude-sonnet"]
    name: claude-sonnet
    targets: [{}]
)");
  auto c = parse_config(text, "signgate.yaml", kEnv);
  ASSERT_FALSE(c);
  const std::string& m = c.message();
  for (const char* expected : {"signgate.yaml:13: identities.default: 'default' is the calling client's own identity",
                               "signgate.yaml:15: identities.noarn.role_arn: is required",
                               "signgate.yaml:19: routes[0].targets[0].identity: 'nobody' is not defined",
                               "signgate.yaml:20: routes[0].targets[1].weight: must be a whole number from 1",
                               "signgate.yaml:21: routes[0].targets[2]: duplicates an earlier target",
                               "signgate.yaml:22: routes[0].targets[3].model: '../../x' is not a Bedrock model ID",
                               "signgate.yaml:23: routes[0].strategy: must be priority or weighted",
                               "signgate.yaml:24: routes[0].sticky: must be none, client or prefix",
                               "signgate.yaml:25: routes[0].fail_over_on[1]: 'validation' is not a failure kind",
                               "signgate.yaml:26: routes[0].eject.after: must be a whole number from 1",
                               "signgate.yaml:27: routes[1].match[0]:", "signgate.yaml:28: routes[1].targets: is empty",
                               "signgate.yaml:30: routes[2].name: 'claude-sonnet' names another route"}) {
    EXPECT_NE(m.find(expected), std::string::npos) << expected << "\n---\n" << m;
  }
}

// A cross-region profile only serves its own geography: Bedrock would refuse the call with a
// ValidationException, which never fails over.
TEST(RoutesConfig, AProfileOutsideItsGeographyIsRefused) {
  auto c = parse_config(with_base(R"(routes:
  - match: ["claude-sonnet"]
    targets:
      - { region: eu-west-1 }
      - { region: us-east-2, model: eu.anthropic.claude-sonnet-4-5-20250929-v1:0 }
      - { region: ap-northeast-1, model: jp.anthropic.claude-sonnet-4-5-20250929-v1:0 }
      - { region: eu-central-1, model: global.anthropic.claude-sonnet-4-5-20250929-v1:0 }
)"),
                        "signgate.yaml", kEnv);
  ASSERT_FALSE(c);
  EXPECT_NE(c.message().find("routes[0].targets[0].region: eu-west-1 is outside the geography"), std::string::npos)
      << c.message();
  EXPECT_NE(c.message().find("routes[0].targets[1].model: 'eu.anthropic"), std::string::npos) << c.message();
  EXPECT_EQ(c.message().find("targets[2]"), std::string::npos) << c.message();
  EXPECT_EQ(c.message().find("targets[3]"), std::string::npos) << c.message();
}

// A reload names what changed in routes.
TEST(RoutesConfig, ReloadsSayRoutesChanged) {
  auto before = parse_config(with_base(kSpecRoutes), "signgate.yaml", kEnv);
  std::string changed = kSpecRoutes;
  changed.replace(changed.find("after: 3"), 8, "after: 5");
  auto after = parse_config(with_base(changed), "signgate.yaml", kEnv);
  ASSERT_TRUE(before && after);
  EXPECT_EQ(describe_changes(*before, *after), "routes changed");
}

}  // namespace
}  // namespace signgate::config
