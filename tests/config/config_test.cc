// signgate.yaml: the SPEC §3 example loads; every mistake names the file, key and reason.
#include "config/config.h"

#include <gtest/gtest.h>

#include <regex>

namespace signgate::config {
namespace {

const Environment kEnv = fixed_environment({{"SIGNGATE_EXTERNAL_ID", "ext-123"}});

constexpr const char* kSpecExample = R"(
listen: 127.0.0.1:8080
aws:
  region: us-east-1
  role_arn: arn:aws:iam::111122223333:role/flashback-bedrock
  external_id: ${SIGNGATE_EXTERNAL_ID}
  session_name: signgate
  duration_seconds: 3600
  refresh_before_expiry_seconds: 300
  sts_endpoint: https://sts.us-east-1.amazonaws.com
  bedrock_endpoint: https://bedrock-runtime.us-east-1.amazonaws.com
clients:
  - name: flashback-prod
    secret_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    models: ["anthropic.claude-3-5-sonnet-*", "us.anthropic.*"]
    operations: [invoke, invoke-stream, converse, converse-stream, count-tokens]
    expires_at: 2027-01-01T00:00:00Z
    aws: { role_arn: "arn:aws:iam::444455556666:role/other", external_id: other-ext }
    rate_limit: { requests_per_minute: 600, tokens_per_minute: 200000 }
    budget: { tokens_per_day: 5000000 }
models:
  claude-sonnet: us.anthropic.claude-3-5-sonnet-20241022-v2:0
audit:
  path: /var/log/signgate/audit.jsonl
tls: { cert: server.pem, key: server.key }
limits: { max_body_bytes: 20971520, max_connections: 10000, max_json_depth: 128 }
ops_listen: 127.0.0.1:9090
upstream: { max_retries: 2 }
)";

TEST(Config, TheSpecExampleLoads) {
  auto c = parse_config(kSpecExample, "signgate.yaml", kEnv);
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->listen, "127.0.0.1:8080");
  EXPECT_EQ(c->aws.region, "us-east-1");
  EXPECT_EQ(c->aws.role.role_arn, "arn:aws:iam::111122223333:role/flashback-bedrock");
  EXPECT_EQ(c->aws.role.external_id, "ext-123");
  EXPECT_EQ(c->aws.refresh_before_expiry, std::chrono::seconds(300));
  EXPECT_EQ(c->aws.sts_url(), "https://sts.us-east-1.amazonaws.com");
  ASSERT_EQ(c->clients.size(), 1u);
  const ClientConfig& cl = c->clients[0];
  EXPECT_EQ(cl.name, "flashback-prod");
  EXPECT_EQ(cl.models.size(), 2u);
  EXPECT_EQ(cl.operations.size(), 5u);
  EXPECT_EQ(format_iso8601(*cl.expires_at), "2027-01-01T00:00:00Z");
  ASSERT_TRUE(cl.aws);
  EXPECT_EQ(cl.aws->role_arn, "arn:aws:iam::444455556666:role/other");
  EXPECT_EQ(cl.aws->external_id, "other-ext");
  EXPECT_EQ(cl.aws->duration_seconds, 3600) << "unset keys come from aws:";
  EXPECT_EQ(*cl.requests_per_minute, 600);
  EXPECT_EQ(*cl.tokens_per_minute, 200000);
  EXPECT_EQ(*cl.tokens_per_day, 5000000);
  EXPECT_EQ(c->models.at("claude-sonnet"), "us.anthropic.claude-3-5-sonnet-20241022-v2:0");
  EXPECT_EQ(c->max_body_bytes, 20971520u);
  EXPECT_EQ(c->max_connections, 10000u);
  EXPECT_EQ(c->max_json_depth, 128);
  ASSERT_TRUE(c->ops_listen);
  EXPECT_EQ(*c->ops_listen, "127.0.0.1:9090");
  EXPECT_EQ(c->ops_listen_host, "127.0.0.1");
  EXPECT_EQ(c->ops_listen_port, 9090);
  EXPECT_EQ(c->upstream.max_retries, 2);
}

TEST(Config, DefaultsForAMinimalFile) {
  auto c = parse_config("aws: { region: eu-west-1 }\n", "min.yaml", kEnv);
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->listen, "127.0.0.1:8080");
  EXPECT_TRUE(c->aws.role.role_arn.empty());
  EXPECT_EQ(c->aws.sts_url(), "https://sts.eu-west-1.amazonaws.com/");
  EXPECT_EQ(c->aws.bedrock_url(), "https://bedrock-runtime.eu-west-1.amazonaws.com");
  EXPECT_EQ(c->aws.refresh_before_expiry, std::chrono::seconds(300));
  EXPECT_EQ(c->max_body_bytes, 20u * 1024 * 1024);
  EXPECT_EQ(c->max_connections, 10000u);
  EXPECT_EQ(c->max_json_depth, 128);
  EXPECT_EQ(c->max_header_bytes, 65536u);
  EXPECT_FALSE(c->ops_listen) << "health and metrics stay on the main listener";
  EXPECT_TRUE(c->ops_listen_host.empty());
  EXPECT_EQ(c->ops_listen_port, 0);
}

// The problems without their line numbers ("bad.yaml:3: k: why" → "bad.yaml: k: why"), so a
// test names the key and the reason; LinesAreNamed checks the numbers themselves.
std::string problems(const std::string& yaml, const Environment& env = kEnv) {
  auto c = parse_config(yaml, "bad.yaml", env);
  if (c) return "accepted";
  return std::regex_replace(c.message(), std::regex(R"(^bad\.yaml:[0-9]+: )", std::regex::multiline), "bad.yaml: ");
}

// Every problem in one go, each as "FILE: KEY: reason", so one edit fixes them all.
TEST(Config, EveryProblemNamesFileKeyAndReason) {
  const std::string out = problems(R"(
aws:
  region: us-east-1
  role_arn: flashback-bedrock
  extrenal_id: typo
  duration_seconds: 99
  sts_endpoint: http://sts.example.com
clients:
  - name: a
    secret_sha256: short
    models: []
    operations: [converse, chat]
    expires_at: someday
  - name: a
    secret_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    models: ["*"]
    rate_limit: { requests_per_minute: 0, tokens_per_minute: -5 }
    budget: { tokens_per_day: lots, tokens_per_week: 1 }
  - name: "team\tx"
    secret_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a09
    models: ["*"]
)");
  for (const char* needle :
       {"bad.yaml: aws.role_arn: must be an IAM role ARN", "bad.yaml: aws.extrenal_id: unknown key",
        "bad.yaml: aws.duration_seconds: must be a whole number from 900 to 43200, not '99'",
        "bad.yaml: aws.sts_endpoint: plain http is allowed only to loopback",
        "bad.yaml: clients[0].secret_sha256: must be 64 lower-case hex digits",
        "bad.yaml: clients[0].models: is required", "bad.yaml: clients[0].operations: unknown operation 'chat'",
        "bad.yaml: clients[0].expires_at: must be a time", "bad.yaml: clients[1].name: 'a' is used by another client",
        "bad.yaml: clients[1].rate_limit.requests_per_minute: must be a whole number",
        "bad.yaml: clients[1].rate_limit.tokens_per_minute: must be a whole number",
        "bad.yaml: clients[1].budget.tokens_per_day: must be a whole number",
        "bad.yaml: clients[1].budget.tokens_per_week: unknown key",
        "bad.yaml: clients[2].name: may not contain control characters"}) {
    EXPECT_NE(out.find(needle), std::string::npos) << needle << "\n--- got:\n" << out;
  }
}

TEST(Config, AnUnsetVariableIsAProblemNotAnEmptyExternalId) {
  const std::string out =
      problems("aws: { region: us-east-1, role_arn: 'arn:aws:iam::1:role/r', external_id: '${NOPE}' }\n");
  EXPECT_NE(out.find("aws.external_id: environment variable NOPE is not set"), std::string::npos) << out;
  auto c = parse_config("aws: { region: us-east-1, session_name: 'a$$b' }\n", "x", kEnv);
  EXPECT_FALSE(c) << "a$b is not a valid session name, but $$ did expand to one $";
  EXPECT_NE(c.message().find("session_name"), std::string::npos);
}

TEST(Config, BrokenYamlGivesTheLine) {
  const std::string out = problems("aws:\n  region: [unclosed\n");
  EXPECT_EQ(out.rfind("bad.yaml: line ", 0), 0u) << out;
  EXPECT_NE(problems("- just\n- a list\n").find("must be a YAML mapping"), std::string::npos);
  EXPECT_NE(problems("listen: 8080\n").find("aws: is required"), std::string::npos);
}

TEST(Config, ListenIsAnIpAndAPort) {
  auto v6 = parse_config("listen: '[::1]:0'\naws: { region: us-east-1 }\n", "x", kEnv);
  ASSERT_TRUE(v6) << v6.message();
  EXPECT_EQ(v6->listen_host, "::1");
  EXPECT_EQ(v6->listen_port, 0);
  auto local = parse_config("listen: localhost:9000\naws: { region: us-east-1 }\n", "x", kEnv);
  ASSERT_TRUE(local);
  EXPECT_EQ(local->listen_host, "127.0.0.1");
  EXPECT_EQ(local->listen_port, 9000);
  for (const char* bad : {"8080", "127.0.0.1:http", "127.0.0.1:99999", "127.0.0.1:", "gateway.internal:8080"}) {
    EXPECT_NE(problems(std::string("listen: '") + bad + "'\naws: { region: us-east-1 }\n")
                  .find("bad.yaml: listen: must be IP:PORT"),
              std::string::npos)
        << bad;
  }
}

// The caps that keep one client from exhausting the gateway are the operator's to set, within sane bounds.
TEST(Config, LimitsAreReadWithinTheirRanges) {
  auto c = parse_config(
      "aws: { region: us-east-1 }\nlimits: { max_body_bytes: 1024, max_connections: 1, "
      "max_json_depth: 8, max_header_bytes: 1024 }\n",
      "x", kEnv);
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->max_body_bytes, 1024u);
  EXPECT_EQ(c->max_connections, 1u);
  EXPECT_EQ(c->max_json_depth, 8);
  EXPECT_EQ(c->max_header_bytes, 1024u);
  auto top = parse_config(
      "aws: { region: us-east-1 }\nlimits: { max_connections: 1000000, max_json_depth: 10000, "
      "max_header_bytes: 1048576 }\n",
      "x", kEnv);
  ASSERT_TRUE(top) << top.message();
  EXPECT_EQ(top->max_connections, 1000000u);
  EXPECT_EQ(top->max_json_depth, 10000);
  EXPECT_EQ(top->max_header_bytes, 1048576u);

  const std::string out = problems(
      "aws: { region: us-east-1 }\nlimits: { max_connections: 0, max_json_depth: 7, "
      "max_header_bytes: 1048577, max_body_bytez: 5 }\n");
  for (const char* needle :
       {"bad.yaml: limits.max_connections: must be a whole number from 1 to 1000000, not '0'",
        "bad.yaml: limits.max_json_depth: must be a whole number from 8 to 10000, not '7'",
        "bad.yaml: limits.max_header_bytes: must be a whole number from 1024 to 1048576, not '1048577'",
        "bad.yaml: limits.max_body_bytez: unknown key"}) {
    EXPECT_NE(out.find(needle), std::string::npos) << needle << "\n--- got:\n" << out;
  }
  EXPECT_NE(problems("aws: { region: us-east-1 }\nlimits: { max_connections: 1000001 }\n")
                .find("limits.max_connections: must be a whole number"),
            std::string::npos);
  EXPECT_NE(problems("aws: { region: us-east-1 }\nlimits: { max_json_depth: deep }\n")
                .find("limits.max_json_depth: must be a whole number"),
            std::string::npos);
}

// anthropic.betas replaces Bedrock's default list; unset, the default applies; names are checked.
TEST(Config, AnthropicBetasAreAListOfNames) {
  auto c =
      parse_config("aws: { region: us-east-1 }\nanthropic: { betas: [interleaved-thinking-2025-05-14] }\n", "x", kEnv);
  ASSERT_TRUE(c) << c.message();
  ASSERT_TRUE(c->anthropic_betas);
  ASSERT_EQ(c->anthropic_betas->size(), 1u);
  EXPECT_EQ(c->anthropic_betas->front().model, "*");
  EXPECT_EQ(c->anthropic_betas->front().betas, std::vector<std::string>{"interleaved-thinking-2025-05-14"});
  auto none = parse_config("aws: { region: us-east-1 }\nanthropic: { betas: [] }\n", "x", kEnv);
  ASSERT_TRUE(none) << none.message();
  ASSERT_TRUE(none->anthropic_betas && none->anthropic_betas->size() == 1u);
  EXPECT_TRUE(none->anthropic_betas->front().betas.empty());
  auto unset = parse_config("aws: { region: us-east-1 }\n", "x", kEnv);
  ASSERT_TRUE(unset) << unset.message();
  EXPECT_FALSE(unset->anthropic_betas);
  EXPECT_NE(problems("aws: { region: us-east-1 }\nanthropic: { betas: [\"a,b\"] }\n").find("anthropic.betas: 'a,b'"),
            std::string::npos);
  EXPECT_NE(problems("aws: { region: us-east-1 }\nanthropic: { beta: [x] }\n").find("anthropic.beta: unknown key"),
            std::string::npos);
  // The two operations of the rest of bedrock-runtime are names a client's list may hold.
  auto ops = parse_config(
      "aws: { region: us-east-1 }\nclients:\n  - name: a\n    secret_sha256: "
      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n    models: ['*']\n"
      "    operations: [apply-guardrail, async-invoke]\n",
      "x", kEnv);
  EXPECT_TRUE(ops) << ops.message();
}

// anthropic.betas may map model globs to lists, in order (the first match wins at use).
TEST(Config, AnthropicBetasMayBePerModel) {
  auto c = parse_config(
      "aws: { region: us-east-1 }\nanthropic:\n  betas:\n    \"us.anthropic.claude-opus-4-1*\": "
      "[interleaved-thinking-2025-05-14]\n    \"*sonnet*\": [context-1m-2025-08-07, effort-2025-11-24]\n"
      "    \"*haiku*\": []\n",
      "x", kEnv);
  ASSERT_TRUE(c) << c.message();
  ASSERT_TRUE(c->anthropic_betas);
  ASSERT_EQ(c->anthropic_betas->size(), 3u);
  EXPECT_EQ((*c->anthropic_betas)[0].model, "us.anthropic.claude-opus-4-1*");
  EXPECT_EQ((*c->anthropic_betas)[0].betas, std::vector<std::string>{"interleaved-thinking-2025-05-14"});
  EXPECT_EQ((*c->anthropic_betas)[1].model, "*sonnet*");
  EXPECT_EQ((*c->anthropic_betas)[1].betas.size(), 2u);
  EXPECT_TRUE((*c->anthropic_betas)[2].betas.empty());
  EXPECT_NE(problems("aws: { region: us-east-1 }\nanthropic: { betas: { \"*opus*\": [\"a b\"] } }\n")
                .find("anthropic.betas.*opus*: 'a b' is not a beta name"),
            std::string::npos);
  EXPECT_NE(problems("aws: { region: us-east-1 }\nanthropic: { betas: { \"*opus*\": x } }\n")
                .find("anthropic.betas.*opus*: must be a list"),
            std::string::npos);
}

// A models: alias may name the family an application inference profile serves.
TEST(Config, ModelAliasMayNameItsFamily) {
  const std::string arn = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123";
  auto c =
      parse_config("aws: { region: us-east-1 }\nmodels:\n  team-sonnet: { id: \"" + arn +
                       "\", family: anthropic.claude-sonnet-4-5 }\n  haiku: anthropic.claude-3-haiku-20240307-v1:0\n",
                   "x", kEnv);
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->models.at("team-sonnet"), arn);
  EXPECT_EQ(c->model_families.at(arn), "anthropic.claude-sonnet-4-5");
  EXPECT_EQ(c->models.at("haiku"), "anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_EQ(c->model_families.count("anthropic.claude-3-haiku-20240307-v1:0"), 0u);
  EXPECT_NE(problems("aws: { region: us-east-1 }\nmodels:\n  a: { family: anthropic.claude-sonnet-4-5 }\n")
                .find("models.a.id: must be a model ID"),
            std::string::npos);
  EXPECT_NE(problems("aws: { region: us-east-1 }\nmodels:\n  a: { id: x, family: \"Claude Sonnet\" }\n")
                .find("models.a.family: must be a model ID naming the family"),
            std::string::npos);
  EXPECT_NE(
      problems("aws: { region: us-east-1 }\nmodels:\n  a: { id: x, famly: y }\n").find("models.a.famly: unknown key"),
      std::string::npos);
  EXPECT_NE(problems("aws: { region: us-east-1 }\nmodels:\n  a: { id: x, family: f1 }\n  b: { id: x, family: f2 }\n")
                .find("'x' is given two families"),
            std::string::npos);
}

// models: {id, api: openai} names a model Bedrock serves through its OpenAI-compatible API.
TEST(Config, OpenAIApiModels) {
  auto c = parse_config(
      "aws: { region: us-east-1, mantle_endpoint: \"http://127.0.0.1:9\" }\nmodels:\n"
      "  gpt-5: { id: openai.gpt-5.5, api: openai }\n"
      "  oss: { id: openai.gpt-oss-120b-1:0, api: openai, endpoint: runtime }\n"
      "  claude: { id: anthropic.claude-3-haiku-20240307-v1:0, api: bedrock }\n",
      "x", kEnv);
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->models.at("gpt-5"), "openai.gpt-5.5");
  EXPECT_EQ(c->openai_models,
            (std::map<std::string, bool>{{"openai.gpt-5.5", false}, {"openai.gpt-oss-120b-1:0", true}}));
  EXPECT_EQ(c->aws.mantle_url(), "http://127.0.0.1:9");
  auto plain = parse_config("aws: { region: eu-west-1 }\n", "x", kEnv);
  ASSERT_TRUE(plain) << plain.message();
  EXPECT_EQ(plain->aws.mantle_url(), "https://bedrock-mantle.eu-west-1.api.aws");
  EXPECT_NE(problems("aws: { region: us-east-1 }\nmodels:\n  g: { id: x, api: grpc }\n").find("models.g.api: must be"),
            std::string::npos);
  EXPECT_NE(problems("aws: { region: us-east-1 }\nmodels:\n  g: { id: x, api: openai, endpoint: moon }\n")
                .find("models.g.endpoint: must be mantle"),
            std::string::npos);
  EXPECT_NE(problems("aws: { region: us-east-1 }\nmodels:\n  a: { id: x, api: openai }\n"
                     "  b: { id: x, api: openai, endpoint: runtime }\n")
                .find("'x' is given two endpoints"),
            std::string::npos);
  EXPECT_NE(problems("aws: { region: us-east-1, mantle_endpoint: \"https://bedrock-mantle.eu-west-1.api.aws\" }\n")
                .find("aws.mantle_endpoint: is Mantle in another region"),
            std::string::npos);
  EXPECT_NE(problems("aws: { region: us-east-1 }\nmodels:\n  g: { id: x, endpoint: runtime }\n")
                .find("models.g.endpoint: is for api: openai models"),
            std::string::npos);
}

// responses.hosted_tools: drop (the default) or refuse.
TEST(Config, HostedToolsPolicy) {
  auto unset = parse_config("aws: { region: us-east-1 }\n", "x", kEnv);
  ASSERT_TRUE(unset) << unset.message();
  EXPECT_FALSE(unset->responses.refuse_hosted_tools);
  auto refuse = parse_config("aws: { region: us-east-1 }\nresponses: { hosted_tools: refuse }\n", "x", kEnv);
  ASSERT_TRUE(refuse) << refuse.message();
  EXPECT_TRUE(refuse->responses.refuse_hosted_tools);
  EXPECT_NE(problems("aws: { region: us-east-1 }\nresponses: { hosted_tools: ignore }\n")
                .find("responses.hosted_tools: must be drop or refuse, not 'ignore'"),
            std::string::npos);
}

// Health and metrics can move to a port of their own, which must not be the gateway's.
TEST(Config, OpsListenIsAnIpAndAPortOfItsOwn) {
  auto v6 = parse_config("ops_listen: '[::1]:9091'\naws: { region: us-east-1 }\n", "x", kEnv);
  ASSERT_TRUE(v6) << v6.message();
  EXPECT_EQ(*v6->ops_listen, "[::1]:9091");
  EXPECT_EQ(v6->ops_listen_host, "::1");
  EXPECT_EQ(v6->ops_listen_port, 9091);
  auto local = parse_config("ops_listen: localhost:9090\naws: { region: us-east-1 }\n", "x", kEnv);
  ASSERT_TRUE(local) << local.message();
  EXPECT_EQ(local->ops_listen_host, "127.0.0.1");
  auto both_any = parse_config("listen: 127.0.0.1:0\nops_listen: 127.0.0.1:0\naws: { region: us-east-1 }\n", "x", kEnv);
  EXPECT_TRUE(both_any) << "port 0 is a fresh free port each time: " << both_any.message();
  auto other_ip =
      parse_config("listen: 127.0.0.1:8080\nops_listen: 127.0.0.2:8080\naws: { region: us-east-1 }\n", "x", kEnv);
  EXPECT_TRUE(other_ip) << other_ip.message();

  for (const char* bad : {"9090", "127.0.0.1:metrics", "127.0.0.1:65536", "ops.internal:9090", ""}) {
    EXPECT_NE(problems(std::string("ops_listen: '") + bad + "'\naws: { region: us-east-1 }\n")
                  .find("bad.yaml: ops_listen: must be IP:PORT"),
              std::string::npos)
        << bad;
  }
  for (const char* clash :
       {"listen: 127.0.0.1:8080\nops_listen: 127.0.0.1:8080\n", "listen: localhost:8080\nops_listen: 127.0.0.1:8080\n",
        "listen: '[::1]:8080'\nops_listen: '[0:0:0:0:0:0:0:1]:8080'\n",
        "listen: 0.0.0.0:8080\nops_listen: 127.0.0.1:8080\n", "listen: 127.0.0.1:8080\nops_listen: '[::]:8080'\n"}) {
    EXPECT_NE(problems(std::string(clash) + "aws: { region: us-east-1 }\n").find("bad.yaml: ops_listen: '"),
              std::string::npos)
        << clash;
  }
  EXPECT_NE(problems("ops_listen: [a, b]\naws: { region: us-east-1 }\n").find("ops_listen: must be a string"),
            std::string::npos);
}

// A name that only starts like a loopback address would get signed requests in clear text.
TEST(Config, PlainHttpEndpointsMustBeLoopbackExactly) {
  for (const char* host : {"127.evil.example", "127.0.0.1.evil.example", "localhost.evil.example"}) {
    EXPECT_NE(problems(std::string("aws: { region: us-east-1, bedrock_endpoint: 'http://") + host + ":8080' }\n")
                  .find("bad.yaml: aws.bedrock_endpoint: plain http is allowed only to loopback"),
              std::string::npos)
        << host;
  }
  auto local = parse_config(
      "aws: { region: us-east-1, bedrock_endpoint: 'http://127.0.0.1:4566', "
      "sts_endpoint: 'http://[::1]:4566' }\n",
      "x", kEnv);
  EXPECT_TRUE(local) << local.message();
}

TEST(Config, ExternalIdWithoutARoleIsAMistake) {
  EXPECT_NE(problems("aws: { region: us-east-1, external_id: abc }\n").find("role_arn is not"), std::string::npos);
}

// Found by fuzzing: an expires_at in year 4054 overflowed the clock; it is a named problem.
TEST(Config, AnExpiryPastTheClocksRangeIsAProblem) {
  const std::string text =
      "aws:\n  region: us-east-1\nclients:\n  - name: a\n    secret_sha256: " + std::string(64, 'a') +
      "\n    models: [\"*\"]\n    expires_at: 4054-01-01T00:00:00Z\n";
  auto c = parse_config(text, "signgate.yaml", kEnv);
  ASSERT_FALSE(c);
  EXPECT_NE(c.message().find("expires_at"), std::string::npos) << c.message();
}

}  // namespace
TEST(Config, LinesAreNamed) {
  auto c = parse_config(
      "listen: 127.0.0.1:8080\naws:\n  region: us-east-1\n  regoin: x\nclients:\n  - name: a\n"
      "    secret_sha256: short\n    models: ['*']\n",
      "bad.yaml", kEnv);
  ASSERT_FALSE(c);
  EXPECT_NE(c.message().find("bad.yaml:4: aws.regoin: unknown key"), std::string::npos) << c.message();
  EXPECT_NE(c.message().find("bad.yaml:7: clients[0].secret_sha256: must be"), std::string::npos) << c.message();
}

TEST(Config, RegionsAreCheckedForShape) {
  for (const char* good : {"us-east-1", "eu-central-2", "ap-southeast-5", "us-gov-west-1", "cn-northwest-1"}) {
    EXPECT_EQ(problems(std::string("aws: { region: ") + good + " }\n"), "accepted") << good;
  }
  for (const char* bad : {"us-east1", "US-EAST-1", "useast-1", "us-east-", "us-east-1a", "east-1"}) {
    EXPECT_NE(
        problems(std::string("aws: { region: ") + bad + " }\n").find("bad.yaml: aws.region: must be an AWS region"),
        std::string::npos)
        << bad;
  }
}

TEST(Config, VariablesHaveDefaultsAndABareDollarIsAMistake) {
  const Environment env = fixed_environment({{"SET", "eu-west-1"}, {"EMPTY", ""}});
  auto c = parse_config("aws: { region: '${UNSET:-us-east-2}' }\n", "x", env);
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->aws.region, "us-east-2");
  c = parse_config("aws: { region: '${SET:-us-east-2}' }\n", "x", env);
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->aws.region, "eu-west-1");
  c = parse_config("aws: { region: '${EMPTY:-us-west-2}' }\n", "x", env);
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->aws.region, "us-west-2") << ":- also covers a variable set to nothing";
  EXPECT_NE(problems("aws: { region: $UNSET_REGION }\n", env)
                .find("aws.region: '$UNSET_REGION' is not expanded: write ${UNSET_REGION}"),
            std::string::npos);
  EXPECT_NE(problems("aws: { region: '${not a name}' }\n", env).find("is not a variable reference"), std::string::npos);
  EXPECT_NE(problems("aws: { region: '${NOPE}' }\n", env).find("or give a default: ${NOPE:-VALUE}"), std::string::npos);
  c = parse_config("aws: { region: us-east-1, session_name: 'a$1' }\n", "x", env);
  EXPECT_EQ(c ? std::string::npos : c.message().find("is not expanded"), std::string::npos)
      << "'$1' is no variable name: the $ stays (and the session name check judges it)";
}

TEST(Config, DefaultsArePlainTextAndExternalIdsAreWhatStsTakes) {
  EXPECT_NE(problems("aws: { region: '${A:-${B}}' }\n").find("may not hold '$' or '{'"), std::string::npos);
  EXPECT_NE(problems("aws: { region: '${A:-$HOME}' }\n").find("may not hold '$' or '{'"), std::string::npos);
  EXPECT_NE(problems("aws: { region: us-east-1, role_arn: 'arn:aws:iam::1:role/r', external_id: 'has space' }\n")
                .find("external_id: must be 2 to 1224 of the characters"),
            std::string::npos);
  EXPECT_EQ(
      problems(
          "aws: { region: eusc-de-east-1, role_arn: 'arn:aws:iam::1:role/r', external_id: 'a+b=c,d.e@f:g/h-i_j' }\n"),
      "accepted");
}

TEST(Config, ModelGlobsThatCanNeverMatchAreRefused) {
  const std::string head =
      "aws: { region: us-east-1 }\nclients:\n  - name: a\n    secret_sha256: "
      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n    models: ";
  EXPECT_NE(problems(head + "['anthropic.claude-3-haiku-[0-9']\n")
                .find("clients[0].models[0]: 'anthropic.claude-3-haiku-[0-9' holds '['"),
            std::string::npos);
  EXPECT_NE(problems(head + "['*', '']\n").find("clients[0].models[1]: is empty"), std::string::npos);
  EXPECT_EQ(problems(head + "['anthropic.claude-*', 'arn:aws:bedrock:*:123456789012:inference-profile/us.*', "
                            "'amazon.nova-?ite-v1:0']\n"),
            "accepted");
}

// An ARN pattern of four fields passed once and matched nothing (every inference-profile call a
// 403): it is refused with its line and the pattern it probably meant.
TEST(Config, AnArnPatternThatCanNeverMatchIsRefusedWithWhatItMeant) {
  const std::string text =
      "aws: { region: us-east-1 }\nclients:\n  - name: a\n    secret_sha256: "
      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
      "    models: [\"arn:aws:bedrock:*\", \"anthropic.claude-*\"]\n";
  const auto cfg = parse_config(text, "signgate.yaml", fixed_environment({}));
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.message().find("signgate.yaml:5: clients[0].models[0]: 'arn:aws:bedrock:*' has 4 of an ARN's six"),
            std::string::npos)
      << cfg.message();
  EXPECT_NE(cfg.message().find("did you mean 'arn:aws:bedrock:*:*:*'?"), std::string::npos) << cfg.message();
}

TEST(Config, ReloadChangesAreDescribed) {
  const std::string base = "aws: { region: us-east-1 }\nclients:\n";
  const auto client = [](const std::string& name, const std::string& hash_digit, const std::string& models) {
    return "  - { name: " + name + ", secret_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0" +
           hash_digit + ", models: " + models + " }\n";
  };
  auto before = parse_config(base + client("a", "1", "['*']") + client("b", "2", "['*']"), "x", kEnv);
  auto after = parse_config(
      base + client("a", "3", "['x.*']") + client("c", "4", "['*']") + "limits: { max_body_bytes: 2048 }\n", "x", kEnv);
  ASSERT_TRUE(before && after);
  EXPECT_EQ(describe_changes(*before, *after),
            "clients added c; removed b; changed a (secret_sha256, models); limits changed");
  EXPECT_EQ(describe_changes(*before, *before), "nothing changed");
}

}  // namespace signgate::config

namespace signgate::config {
namespace {

constexpr const char* kSpendClient = R"(
aws: { region: us-east-1 }
clients:
  - name: team-a
    secret_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    models: ["*"]
)";

// Spend (SPEC §8): USD budgets, pricing: entries by glob, and request_metadata pairs.
TEST(Config, SpendKeysLoad) {
  auto c = parse_config(
      std::string(kSpendClient) + R"(    budget: { tokens_per_day: 100, usd_per_day: 50, usd_per_month: 1000.5 }
    request_metadata: { team: search, cost-center: "cc 42/x" }
pricing:
  "anthropic.claude-sonnet-4-5-*": { input: 2.7 }
  "arn:aws:bedrock:*:application-inference-profile/abc": { input: 1, output: 2, cache_read: 0.1, cache_write: 1.25, cache_write_1h: 2, regional_premium: 0, tiers: { priority: 2 } }
)",
      "s.yaml", kEnv);
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->clients[0].usd_per_day, 50.0);
  EXPECT_EQ(c->clients[0].usd_per_month, 1000.5);
  EXPECT_EQ(c->clients[0].request_metadata.at("cost-center"), "cc 42/x");
  ASSERT_EQ(c->pricing.size(), 2u);
  EXPECT_EQ(c->pricing.at("anthropic.claude-sonnet-4-5-*").input, 2.7);
  EXPECT_FALSE(c->pricing.at("anthropic.claude-sonnet-4-5-*").output);
  EXPECT_EQ(c->pricing.at("arn:aws:bedrock:*:application-inference-profile/abc").tiers.at("priority"), 2.0);
}

TEST(Config, SpendMistakesAreNamed) {
  const std::string out = problems(std::string(kSpendClient) + R"(    budget: { usd_per_day: 0, usd_per_month: lots }
    request_metadata: { signgate_client: forged, "bad key!": x, ok: "new\nline", fine: "é" }
pricing:
  "m1": { input: -3 }
  "m2": { output: 1, cache_reed: 2, tiers: { turbo: 2 } }
  "m3": [1, 2]
)");
  for (const char* needle : {"clients[0].budget.usd_per_day: must be an amount of USD above 0, not '0'",
                             "clients[0].budget.usd_per_month: must be an amount of USD above 0, not 'lots'",
                             "clients[0].request_metadata.signgate_client: is signgate's own key",
                             "clients[0].request_metadata.bad key!: is not a key Bedrock takes",
                             "clients[0].request_metadata.fine: is not a value Bedrock takes",
                             "pricing.m1.input: must be a number from 0", "pricing.m2.cache_reed: unknown key",
                             "pricing.m2.tiers.turbo: unknown service tier", "pricing.m3: must be {input, output"}) {
    EXPECT_NE(out.find(needle), std::string::npos) << needle << "\n--- got:\n" << out;
  }
  // A newline is whitespace, which Bedrock's pattern allows.
  EXPECT_EQ(out.find("request_metadata.ok"), std::string::npos) << out;
}

TEST(Config, AtMostFourteenMetadataPairs) {
  std::string text = std::string(kSpendClient) + "    request_metadata:\n";
  for (int i = 0; i < 15; ++i) text += "      k" + std::to_string(i) + ": v\n";
  EXPECT_NE(problems(text).find("clients[0].request_metadata: may hold at most 14 pairs"), std::string::npos)
      << problems(text);
}

}  // namespace
}  // namespace signgate::config
