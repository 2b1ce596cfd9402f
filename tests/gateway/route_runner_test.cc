// Routes (SPEC §7): the runner's decisions with a fake upstream, and the pieces it decides with
// (failure kinds, ejection, stickiness, the order of attempts), each on its own.
#include "gateway/route_runner.h"

#include <gtest/gtest.h>

#include <map>

#include "aws/eventstream.h"
#include "common/base64.h"
#include "gateway/pipeline_harness.h"
#include "gateway/preflight.h"
#include "gateway/route_fleet.h"

namespace signgate::gateway {
namespace {

namespace bhttp = boost::beast::http;
using nlohmann::json;
using namespace testing;
using namespace std::chrono_literals;

constexpr const char* kSonnet = "anthropic.claude-sonnet-4-5-20250929-v1:0";

// east: the client's own identity in us-east-1; west: another account's role in us-west-2;
// eu: an EU profile of the same model.
std::string routes_yaml(const std::string& strategy = "priority", const std::string& sticky = "none",
                        const std::string& extra = "") {
  return "identities:\n"
         "  overflow:\n"
         "    role_arn: arn:aws:iam::444455556666:role/signgate-bedrock\n"
         "    external_id: ext-overflow\n"
         "    region: us-west-2\n"
         "routes:\n"
         "  - name: sonnet\n"
         "    match: [\"anthropic.claude-sonnet-*\", \"sonnet\"]\n"
         "    strategy: " +
         strategy + "\n    sticky: " + sticky +
         "\n"
         "    targets:\n"
         "      - { name: east, identity: default, region: us-east-1, bedrock_endpoint: http://127.0.0.1:1 }\n"
         "      - { name: west, identity: overflow, bedrock_endpoint: http://127.0.0.2:1 }\n"
         "      - { name: eu, region: eu-west-1, model: eu.anthropic.claude-sonnet-4-5-20250929-v1:0 }\n" +
         extra;
}

Scripted bedrock_error(unsigned status, const std::string& type) {
  Scripted s;
  s.status = status;
  s.headers = {{"Content-Type", "application/json"}, {"x-amzn-ErrorType", type + ":http://internal.amazon.com/"}};
  s.pieces = {R"({"message":"scripted )" + type + R"("})"};
  return s;
}

std::string event(const std::string& type, const std::string& payload) {
  return aws::eventstream::encode({{":message-type", aws::eventstream::HeaderValue::string("event")},
                                   {":event-type", aws::eventstream::HeaderValue::string(type)},
                                   {":content-type", aws::eventstream::HeaderValue::string("application/json")}},
                                  payload);
}

std::string exception_event(const std::string& type) {
  return aws::eventstream::encode({{":message-type", aws::eventstream::HeaderValue::string("exception")},
                                   {":exception-type", aws::eventstream::HeaderValue::string(type)},
                                   {":content-type", aws::eventstream::HeaderValue::string("application/json")}},
                                  R"({"message":"Too many requests"})");
}

Scripted stream_of(const std::string& frames) {
  Scripted s;
  s.headers = {{"Content-Type", "application/vnd.amazon.eventstream"}};
  s.pieces = {frames};
  return s;
}

std::string native_converse() { return std::string("/model/") + kSonnet + "/converse"; }
std::string native_stream() { return std::string("/model/") + kSonnet + "/converse-stream"; }
const std::string kHi = R"({"messages":[{"role":"user","content":[{"text":"hi"}]}]})";

// A throttled first target hands the call to the next at once (no retries there): the caller
// gets one clean answer, and the audit line names the target that answered.
TEST(Routes, AThrottledTargetFailsOverToTheNextAtOnce) {
  Harness h(true, routes_yaml());
  h.upstream->script.push_back(bedrock_error(429, "ThrottlingException"));
  h.upstream->script.push_back(converse_ok());
  const auto r = h.call(bhttp::verb::post, native_converse(), bearer("full-secret"), kHi);
  EXPECT_EQ(r.res.status, 200u) << r.res.body;
  ASSERT_EQ(h.upstream->calls.size(), 2u);
  EXPECT_EQ(h.upstream->regions[0], "us-east-1");
  EXPECT_EQ(h.upstream->access_keys[0], "AKIDEXAMPLE");
  EXPECT_EQ(h.upstream->endpoints[0], "127.0.0.1:1");
  EXPECT_EQ(h.upstream->regions[1], "us-west-2");
  EXPECT_EQ(h.upstream->access_keys[1], "AKID-overflow");
  const auto lines = h.audit_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["route"], "sonnet");
  EXPECT_EQ(lines[0]["target"], "west");
  EXPECT_EQ(lines[0]["region"], "us-west-2");
  EXPECT_EQ(lines[0]["identity"], "overflow");
  EXPECT_EQ(lines[0]["attempts"], 2);
  EXPECT_EQ(lines[0]["model"], kSonnet);
  EXPECT_TRUE(lines[0]["target_model"].is_null());
  const std::string metrics = h.metrics.render({}, system_now());
  EXPECT_NE(metrics.find(R"(signgate_route_attempts_total{route="sonnet",target="east",outcome="throttled"} 1)"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find(R"(signgate_route_attempts_total{route="sonnet",target="west",outcome="ok"} 1)"),
            std::string::npos);
  EXPECT_NE(metrics.find(R"(signgate_route_failovers_total{route="sonnet",target="east"} 1)"), std::string::npos);
}

// Every kind SPEC §7 lists fails over by default; a ValidationException (the request itself is
// wrong) and a 403 other than the target's AccessDenied never do.
TEST(Routes, OnlyTheListedKindsFailOver) {
  struct Case {
    Scripted first;
    bool fails_over;
  };
  const std::vector<Case> cases = {
      {bedrock_error(429, "ThrottlingException"), true},
      {bedrock_error(400, "ServiceQuotaExceededException"), true},
      {bedrock_error(503, "ServiceUnavailableException"), true},
      {bedrock_error(429, "ModelNotReadyException"), true},
      {bedrock_error(500, "InternalServerException"), true},
      {bedrock_error(408, "ModelTimeoutException"), true},
      {failing(ErrorKind::kUnreachable), true},
      {failing(ErrorKind::kTimeout), true},
      {failing(ErrorKind::kBroken), true},
      {bedrock_error(400, "ValidationException"), false},
      {bedrock_error(424, "ModelErrorException"), false},  // model_error is opt-in
      {bedrock_error(502, "BadGatewayException"), false},  // server_error is opt-in
      {bedrock_error(403, "AccessDeniedException"), false},
      {bedrock_error(404, "ResourceNotFoundException"), false},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    Harness h(true, routes_yaml());
    h.upstream->script.push_back(cases[i].first);
    h.upstream->script.push_back(converse_ok());
    const auto r = h.call(bhttp::verb::post, native_converse(), bearer("full-secret"), kHi);
    EXPECT_EQ(h.upstream->calls.size(), cases[i].fails_over ? 2u : 1u) << "case " << i;
    EXPECT_EQ(r.res.status == 200, cases[i].fails_over) << "case " << i << ": " << r.res.body;
  }
}

// A route may opt in to server_error, model_error and denied (a target account without access).
TEST(Routes, OptInKindsFailOverWhenListed) {
  for (const auto& [status, type] : std::vector<std::pair<unsigned, std::string>>{
           {424, "ModelErrorException"}, {502, "BadGatewayException"}, {403, "AccessDeniedException"}}) {
    Harness h(true,
              routes_yaml("priority", "none", "    fail_over_on: [throttled, server_error, model_error, denied]\n"));
    h.upstream->script.push_back(bedrock_error(status, type));
    h.upstream->script.push_back(converse_ok());
    const auto r = h.call(bhttp::verb::post, native_converse(), bearer("full-secret"), kHi);
    EXPECT_EQ(r.res.status, 200u) << type;
    EXPECT_EQ(h.upstream->calls.size(), 2u) << type;
  }
}

// When every target fails, the caller gets the last one's error in its dialect, with
// Retry-After; the last target's throttles were retried in place as upstream.max_retries says.
TEST(Routes, EveryTargetThrottledAnswersTheLastErrorWithRetryAfter) {
  Harness h(true, routes_yaml("priority", "none", "upstream:\n  max_retries: 0\n"));
  for (int i = 0; i < 3; ++i) h.upstream->script.push_back(bedrock_error(429, "ThrottlingException"));
  const auto r =
      h.call(bhttp::verb::post, "/v1/chat/completions", bearer("full-secret"),
             R"({"model":"anthropic.claude-sonnet-4-5-20250929-v1:0","messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(r.res.status, 429u) << r.res.body;
  EXPECT_FALSE(r.res.header("Retry-After").empty());
  EXPECT_TRUE(json::parse(r.res.body)["error"]["message"].is_string());
  EXPECT_EQ(h.upstream->calls.size(), 3u);
  const auto lines = h.audit_lines();
  EXPECT_EQ(lines[0]["attempts"], 3);
  EXPECT_EQ(lines[0]["target"], "eu");
  EXPECT_EQ(lines[0]["target_model"], "eu.anthropic.claude-sonnet-4-5-20250929-v1:0");
  EXPECT_EQ(h.upstream->calls[2].model, "eu.anthropic.claude-sonnet-4-5-20250929-v1:0");
}

// Bedrock throttles inside a 200 event stream: an exception before the first content event is
// still a failover, and the caller sees one clean stream from the next target.
TEST(Routes, AStreamThrottledBeforeContentFailsOver) {
  Harness h(true, routes_yaml());
  h.upstream->script.push_back(
      stream_of(event("messageStart", R"({"role":"assistant"})") + exception_event("throttlingException")));
  h.upstream->script.push_back(
      stream_of(event("messageStart", R"({"role":"assistant"})") +
                event("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"Hello"}})") +
                event("messageStop", R"({"stopReason":"end_turn"})") +
                event("metadata", R"({"usage":{"inputTokens":5,"outputTokens":1,"totalTokens":6}})")));
  const auto r = h.call(bhttp::verb::post, native_stream(), bearer("full-secret"), kHi);
  EXPECT_EQ(r.res.status, 200u);
  EXPECT_TRUE(r.res.finished);
  EXPECT_EQ(r.res.body.find("throttlingException"), std::string::npos);
  EXPECT_NE(r.res.body.find("Hello"), std::string::npos);
  EXPECT_EQ(h.upstream->calls.size(), 2u);
  const auto lines = h.audit_lines();
  EXPECT_EQ(lines[0]["target"], "west");
  EXPECT_EQ(lines[0]["attempts"], 2);
  EXPECT_EQ(lines[0]["output_tokens"], 1);
}

// Once content has reached the caller, a throttle mid-stream ends the stream as today: no retry.
TEST(Routes, AStreamThrottledAfterContentIsNotRetried) {
  Harness h(true, routes_yaml());
  h.upstream->script.push_back(
      stream_of(event("messageStart", R"({"role":"assistant"})") +
                event("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"Hel"}})") +
                exception_event("throttlingException")));
  const auto r = h.call(bhttp::verb::post, "/v1/chat/completions", bearer("full-secret"),
                        R"({"model":"anthropic.claude-sonnet-4-5-20250929-v1:0","stream":true,)"
                        R"("messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(r.res.status, 200u);
  EXPECT_NE(r.res.body.find("Hel"), std::string::npos) << r.res.body;
  EXPECT_NE(r.res.body.find("error"), std::string::npos) << r.res.body;
  EXPECT_EQ(h.upstream->calls.size(), 1u);
  EXPECT_EQ(h.audit_lines()[0]["attempts"], 1);
}

// An Anthropic InvokeModel stream's first chunk (message_start) is not content either.
TEST(Routes, AnInvokeStreamThrottledAfterMessageStartFailsOver) {
  Harness h(true, routes_yaml());
  const auto chunk = [](const std::string& j) { return event("chunk", R"({"bytes":")" + base64_encode(j) + "\"}"); };
  h.upstream->script.push_back(stream_of(chunk(R"({"type":"message_start","message":{"usage":{"input_tokens":3}}})") +
                                         exception_event("throttlingException")));
  h.upstream->script.push_back(stream_of(
      chunk(R"({"type":"message_start","message":{"usage":{"input_tokens":3}}})") +
      chunk(R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})") +
      chunk(
          R"({"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":3,"outputTokenCount":1}})")));
  const auto r = h.call(bhttp::verb::post, "/v1/messages", bearer("full-secret"),
                        R"({"model":"anthropic.claude-sonnet-4-5-20250929-v1:0","max_tokens":10,"stream":true,)"
                        R"("messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(r.res.status, 200u);
  EXPECT_EQ(h.upstream->calls.size(), 2u);
  EXPECT_EQ(r.res.body.find("overloaded"), std::string::npos) << r.res.body;
  EXPECT_NE(r.res.body.find("Hi"), std::string::npos) << r.res.body;
}

// A model no route matches goes as before: one call, the client's identity, aws.region.
// Anthropic's betas are chosen again for a target that sends another model: the EU profile
// here takes only interleaved thinking, so context-1m never reaches it.
TEST(Routes, BetasAreChosenForTheModelATargetSends) {
  Harness h(true, routes_yaml() +
                      "anthropic:\n  betas:\n    \"eu.*\": [interleaved-thinking-2025-05-14]\n"
                      "    \"*\": [interleaved-thinking-2025-05-14, context-1m-2025-08-07]\n");
  h.upstream->script.push_back(bedrock_error(429, "ThrottlingException"));
  h.upstream->script.push_back(bedrock_error(429, "ThrottlingException"));
  Scripted ok;
  ok.headers = {{"Content-Type", "application/json"}};
  ok.pieces = {R"({"type":"message","content":[],"usage":{"input_tokens":3,"output_tokens":1}})"};
  h.upstream->script.push_back(ok);
  auto headers = bearer("full-secret");
  headers.push_back({"anthropic-beta", "interleaved-thinking-2025-05-14,context-1m-2025-08-07"});
  const auto r = h.call(bhttp::verb::post, "/v1/messages", headers,
                        std::string(R"({"model":")") + kSonnet + R"(","max_tokens":5,"messages":[]})");
  EXPECT_EQ(r.res.status, 200u) << r.res.body;
  ASSERT_EQ(h.upstream->calls.size(), 3u);
  EXPECT_EQ(json::parse(h.upstream->calls[0].body)["anthropic_beta"],
            json::array({"interleaved-thinking-2025-05-14", "context-1m-2025-08-07"}));
  EXPECT_EQ(json::parse(h.upstream->calls[2].body)["anthropic_beta"], json::array({"interleaved-thinking-2025-05-14"}));
  EXPECT_EQ(h.audit_lines()[0]["target"], "eu");
  EXPECT_NE(h.metrics.render({}, system_now())
                .find(R"(signgate_anthropic_betas_dropped_total{client="full",beta="context-1m-2025-08-07"} 1)"),
            std::string::npos);
}

TEST(Routes, AnUnroutedModelGoesAsBefore) {
  Harness h(true, routes_yaml());
  h.upstream->script.push_back(bedrock_error(429, "ThrottlingException"));
  h.upstream->script.push_back(converse_ok());
  const auto r = h.call(bhttp::verb::post, std::string("/model/") + kModel + "/converse", bearer("full-secret"), kHi);
  EXPECT_EQ(r.res.status, 429u);
  EXPECT_EQ(h.upstream->calls.size(), 1u);  // the fake does not retry; the Bedrock upstream would
  EXPECT_TRUE(h.upstream->regions[0].empty());
  const auto lines = h.audit_lines();
  EXPECT_TRUE(lines[0]["route"].is_null());
  EXPECT_EQ(lines[0]["region"], "us-east-1");
  EXPECT_EQ(lines[0]["attempts"], 1);
}

// The answer names the model as the caller asked, whatever the target sent.
TEST(Routes, TranslatedAnswersNameTheModelAsAsked) {
  Harness h(true, "models:\n  sonnet: anthropic.claude-sonnet-4-5-20250929-v1:0\n" + routes_yaml());
  h.upstream->script.push_back(bedrock_error(503, "ServiceUnavailableException"));
  h.upstream->script.push_back(bedrock_error(503, "ServiceUnavailableException"));
  h.upstream->script.push_back(converse_ok());
  const auto r = h.call(bhttp::verb::post, "/v1/chat/completions", bearer("full-secret"),
                        R"({"model":"sonnet","messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(r.res.status, 200u) << r.res.body;
  EXPECT_EQ(json::parse(r.res.body)["model"], "sonnet");
  ASSERT_EQ(h.upstream->calls.size(), 3u);
  EXPECT_EQ(h.upstream->calls[2].model, "eu.anthropic.claude-sonnet-4-5-20250929-v1:0");
}

// A route matches the model as the caller named it: an alias entry serves that alias only, so
// two aliases of one model take different routes, and the raw ID takes neither.
TEST(Routes, AliasesRouteByTheNameTheCallerUsed) {
  Harness h(true,
            "models:\n  fast-sonnet: anthropic.claude-sonnet-4-5-20250929-v1:0\n"
            "  west-sonnet: anthropic.claude-sonnet-4-5-20250929-v1:0\n"
            "routes:\n  - name: by-alias\n    match: [west-sonnet]\n    targets: [{ region: us-west-2 }]\n");
  const auto chat = [&](const std::string& model) {
    h.upstream->script.push_back(converse_ok());
    (void)h.call(bhttp::verb::post, "/v1/chat/completions", bearer("full-secret"),
                 R"({"model":")" + model + R"(","messages":[{"role":"user","content":"hi"}]})");
    return h.upstream->regions.back();
  };
  EXPECT_EQ(chat("west-sonnet"), "us-west-2");
  EXPECT_EQ(chat("fast-sonnet"), "");  // unrouted: aws: as configured
  EXPECT_EQ(chat(kSonnet), "");
}

// A target whose identity holds no credentials is passed over; the call still goes.
TEST(Routes, ATargetWithoutCredentialsIsPassedOver) {
  Harness h(true,
            "identities:\n  broken-acct:\n    role_arn: arn:aws:iam::444455556666:role/r\n"
            "routes:\n  - match: [\"anthropic.claude-sonnet-*\"]\n    targets:\n"
            "      - { identity: broken-acct }\n      - { identity: default, region: us-west-2 }\n");
  h.upstream->script.push_back(converse_ok());
  const auto r = h.call(bhttp::verb::post, native_converse(), bearer("full-secret"), kHi);
  EXPECT_EQ(r.res.status, 200u);
  ASSERT_EQ(h.upstream->calls.size(), 1u);
  EXPECT_EQ(h.upstream->regions[0], "us-west-2");
  EXPECT_EQ(h.audit_lines()[0]["target"], "default/us-west-2");
}

// Only the last target tried may retry a throttle in place; the others hand over at once.
TEST(Routes, OnlyTheLastTargetRetriesInPlace) {
  Harness h(true, routes_yaml());
  h.upstream->script.push_back(bedrock_error(429, "ThrottlingException"));
  h.upstream->script.push_back(bedrock_error(429, "ThrottlingException"));
  h.upstream->script.push_back(converse_ok());
  (void)h.call(bhttp::verb::post, native_converse(), bearer("full-secret"), kHi);
  EXPECT_EQ(h.upstream->max_retries, (std::vector<int>{0, 0, -1}));
}

// The last target's stream is read up to its first content event too: a throttle there is
// that target's failure (it counts towards ejection), though nothing is left to fail over to.
TEST(Routes, TheLastTargetsThrottledStreamCountsAgainstIt) {
  Harness h(true,
            "routes:\n  - name: one\n    match: [\"anthropic.claude-sonnet-*\"]\n"
            "    eject: { after: 1, for_seconds: 60 }\n    targets: [{ name: only }]\n");
  h.upstream->script.push_back(
      stream_of(event("messageStart", R"({"role":"assistant"})") + exception_event("throttlingException")));
  const auto r = h.call(bhttp::verb::post, native_stream(), bearer("full-secret"), kHi);
  EXPECT_EQ(r.res.status, 200u);
  EXPECT_NE(r.res.body.find("throttlingException"), std::string::npos);  // relayed as it came
  const std::string metrics = h.metrics.render({}, system_now());
  EXPECT_NE(metrics.find(R"(signgate_route_ejections_total{route="one",target="only"} 1)"), std::string::npos)
      << metrics;
}

// A stream that sends its head and then nothing fails over once the first-byte timeout (or
// the route's deadline) passes without a content event.
TEST(Routes, AStreamSilentBeforeContentTimesOutAndFailsOver) {
  Harness h(true, routes_yaml("priority", "none", "upstream:\n  first_byte_timeout_ms: 200\n"));
  Scripted silent = stream_of(event("messageStart", R"({"role":"assistant"})"));
  silent.stall_after_pieces = true;
  h.upstream->script.push_back(silent);
  h.upstream->script.push_back(
      stream_of(event("messageStart", R"({"role":"assistant"})") +
                event("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"Hello"}})") +
                event("messageStop", R"({"stopReason":"end_turn"})")));
  const auto r = h.call(bhttp::verb::post, native_stream(), bearer("full-secret"), kHi);
  EXPECT_EQ(r.res.status, 200u);
  EXPECT_NE(r.res.body.find("Hello"), std::string::npos);
  EXPECT_EQ(h.audit_lines()[0]["target"], "west");
  const std::string metrics = h.metrics.render({}, system_now());
  EXPECT_NE(metrics.find(R"(signgate_route_attempts_total{route="sonnet",target="east",outcome="timeout"} 1)"),
            std::string::npos)
      << metrics;
}

// A half-open probe that ends in a 4xx says nothing about the target: the probe is given back
// and the next call may probe it.
TEST(Routes, AProbeEndingInABadRequestIsGivenBack) {
  Harness h(true, routes_yaml());
  const auto rt = h.gateway->runtime();
  const RouteTarget& east = rt->routes.routes()[0].targets[0];
  TargetHealth& health = h.gateway->route_state().health;
  const std::string key = target_key(east, "full", kSonnet);
  (void)health.failed(key, RouteClock::now() - 120s, 1, 30s);  // ejected long ago: half-open now
  h.upstream->script.push_back(bedrock_error(400, "ValidationException"));
  (void)h.call(bhttp::verb::post, native_converse(), bearer("full-secret"), kHi);
  ASSERT_EQ(h.upstream->regions.size(), 1u);
  EXPECT_EQ(h.upstream->regions[0], "us-east-1");           // the probe went to east
  EXPECT_TRUE(health.claim_probe(key, RouteClock::now()));  // and was given back
}

// A client's forced guardrail exists in one region and account: its calls go only to targets
// signing as the client in that region.
TEST(Routes, AGuardedClientStaysWhereItsGuardrailLives) {
  Harness h(true, routes_yaml());
  h.upstream->script.push_back(bedrock_error(429, "ThrottlingException"));
  h.upstream->script.push_back(converse_ok());
  const auto r = h.call(bhttp::verb::post, native_converse(), bearer("guarded-secret"), kHi);
  EXPECT_EQ(r.res.status, 429u);
  ASSERT_EQ(h.upstream->calls.size(), 1u);
  EXPECT_EQ(h.upstream->regions[0], "us-east-1");
}

// After eject.after failures in a row a target gets no traffic; the metrics say so.
TEST(Routes, ConsecutiveFailuresEjectATarget) {
  Harness h(true, routes_yaml("priority", "none", "    eject: { after: 2, for_seconds: 60 }\n"));
  for (int i = 0; i < 2; ++i) {
    h.upstream->script.push_back(bedrock_error(429, "ThrottlingException"));
    h.upstream->script.push_back(converse_ok());
    (void)h.call(bhttp::verb::post, native_converse(), bearer("full-secret"), kHi);
  }
  h.upstream->script.push_back(converse_ok());
  const auto r = h.call(bhttp::verb::post, native_converse(), bearer("full-secret"), kHi);
  EXPECT_EQ(r.res.status, 200u);
  ASSERT_EQ(h.upstream->calls.size(), 5u);
  EXPECT_EQ(h.upstream->regions[4], "us-west-2");  // east is ejected: straight to west
  EXPECT_EQ(h.audit_lines()[2]["attempts"], 1);
  const std::string metrics = h.metrics.render({}, system_now());
  EXPECT_NE(metrics.find(R"(signgate_route_ejections_total{route="sonnet",target="east"} 1)"), std::string::npos)
      << metrics;
}

// Failure kinds by Bedrock's error type first, then the status.
TEST(Routes, FailureKindsFollowBedrocksErrorTypes) {
  const auto kind_of = [](unsigned status, const std::string& type) {
    UpstreamResult r;
    Scripted s;
    s.status = status;
    r.reply = std::make_unique<FakeReply>(s);
    r.facts.error_type = type;
    return failure_kind(r);
  };
  EXPECT_EQ(kind_of(200, ""), 0u);
  EXPECT_EQ(kind_of(429, "ThrottlingException"), config::kThrottled);
  EXPECT_EQ(kind_of(400, "ServiceQuotaExceededException"), config::kThrottled);
  EXPECT_EQ(kind_of(429, "ModelNotReadyException"), config::kUnavailable);
  EXPECT_EQ(kind_of(500, "InternalServerException"), config::kUnavailable);
  EXPECT_EQ(kind_of(408, "ModelTimeoutException"), config::kTimeout);
  EXPECT_EQ(kind_of(424, "ModelErrorException"), config::kModelError);
  EXPECT_EQ(kind_of(403, "AccessDeniedException"), config::kDenied);
  EXPECT_EQ(kind_of(403, "UnrecognizedClientException"), 0u);
  EXPECT_EQ(kind_of(400, "ValidationException"), 0u);
  EXPECT_EQ(kind_of(429, ""), config::kThrottled);
  EXPECT_EQ(kind_of(503, ""), config::kUnavailable);
  EXPECT_EQ(kind_of(502, ""), config::kServerError);
  EXPECT_EQ(stream_exception_kind("throttlingException"), config::kThrottled);
  EXPECT_EQ(stream_exception_kind("modelStreamErrorException"), config::kModelError);
  EXPECT_EQ(stream_exception_kind("validationException"), 0u);
}

// Ejection, half-open and Retry-After, with a clock the test moves.
TEST(TargetHealth, EjectsThenProbesOnceThenEjectsTwiceAsLong) {
  TargetHealth h;
  const auto t0 = RouteClock::now();
  EXPECT_FALSE(h.failed("a", t0, 2, 10s));
  EXPECT_EQ(h.view("a", t0).standing, TargetHealth::Standing::kHealthy);
  EXPECT_TRUE(h.failed("a", t0, 2, 10s));
  EXPECT_EQ(h.view("a", t0 + 9s).standing, TargetHealth::Standing::kEjected);
  EXPECT_EQ(h.view("a", t0 + 10s).standing, TargetHealth::Standing::kHalfOpen);
  EXPECT_TRUE(h.claim_probe("a", t0 + 10s));
  EXPECT_FALSE(h.claim_probe("a", t0 + 10s));    // one probe at a time
  EXPECT_TRUE(h.failed("a", t0 + 11s, 2, 10s));  // the probe failed: 20 s this time
  EXPECT_EQ(h.view("a", t0 + 30s).standing, TargetHealth::Standing::kEjected);
  EXPECT_EQ(h.view("a", t0 + 31s).standing, TargetHealth::Standing::kHalfOpen);
  EXPECT_TRUE(h.claim_probe("a", t0 + 31s));
  h.succeeded("a");
  EXPECT_EQ(h.view("a", t0 + 31s).standing, TargetHealth::Standing::kHealthy);
  // Retry-After keeps a target out without an ejection.
  EXPECT_FALSE(h.failed("b", t0, 5, 10s, 3s));
  EXPECT_EQ(h.view("b", t0 + 2s).standing, TargetHealth::Standing::kEjected);
  EXPECT_EQ(h.view("b", t0 + 3s).standing, TargetHealth::Standing::kHealthy);
  // Ejections double up to five minutes, no further.
  for (int i = 0; i < 10; ++i) (void)h.failed("c", t0 + std::chrono::hours(i), 1, 200s);
  EXPECT_EQ(h.view("c", t0 + std::chrono::hours(9) + 299s).standing, TargetHealth::Standing::kEjected);
  EXPECT_EQ(h.view("c", t0 + std::chrono::hours(9) + 300s).standing, TargetHealth::Standing::kHalfOpen);
}

// Callers name the models: the table of failures stays bounded.
TEST(TargetHealth, HoldsAtMostItsCap) {
  TargetHealth h(3);
  const auto t0 = RouteClock::now();
  for (int i = 0; i < 10; ++i)
    (void)h.failed(std::string(1, static_cast<char>('a' + i)), t0 + std::chrono::seconds(i), 5, 10s);
  EXPECT_EQ(h.size(), 3u);
}

TEST(StickyTable, IsAnLruWithAnHourToLive) {
  StickyTable t(2);
  const auto t0 = RouteClock::now();
  t.put(1, "east", t0);
  t.put(2, "west", t0);
  EXPECT_EQ(t.get(1, t0), "east");  // 1 is now the most recent
  t.put(3, "eu", t0);               // evicts 2
  EXPECT_FALSE(t.get(2, t0));
  EXPECT_EQ(t.get(3, t0), "eu");
  EXPECT_FALSE(t.get(1, t0 + 61min));
  t.set_capacity(0);
  EXPECT_EQ(t.size(), 0u);
}

config::Config route_config(const std::string& yaml) {
  auto cfg = config::parse_config(
      "aws:\n  region: us-east-1\nclients:\n  - name: c\n    secret_sha256: " + sha256_hex("s") +
          "\n    models: [\"*\"]\nidentities:\n  other:\n    role_arn: arn:aws:iam::444455556666:role/r\n" + yaml,
      "t.yaml", fixed_environment({}));
  if (!cfg) throw std::runtime_error(cfg.message());
  return std::move(*cfg);
}

RouteTable table_of(const config::Config& cfg) {
  std::map<std::string, std::shared_ptr<aws::CredentialCache>> none;
  auto t = RouteTable::build(cfg, none, [](const std::string&, const config::IdentityConfig&) {
    return std::shared_ptr<aws::CredentialCache>();
  });
  if (!t) throw std::runtime_error(t.message());
  return std::move(*t);
}

// Priority keeps the config's order with ejected targets left out; when all are ejected, only
// the least recently failed is tried; the sticky target comes first while it serves.
TEST(AttemptOrder, PriorityEjectionAndStickiness) {
  const auto cfg = route_config(
      "routes:\n  - match: [\"m*\"]\n    targets:\n      - {name: a}\n      - {name: b, identity: other}\n"
      "      - {name: c, region: eu-west-1}\n");
  const RouteTable table = table_of(cfg);
  const ModelRoute& route = table.routes()[0];
  TargetHealth health;
  const auto now = RouteClock::now();
  const auto names = [](const std::vector<const RouteTarget*>& v) {
    std::string out;
    for (const auto* t : v) out += t->name;
    return out;
  };
  const auto no_draw = [] { return 0.0; };
  EXPECT_EQ(names(attempt_order(route, "c", "m1", health, now, std::nullopt, no_draw)), "abc");
  EXPECT_EQ(names(attempt_order(route, "c", "m1", health, now, std::string("c"), no_draw)), "cab");
  (void)health.failed(target_key(route.targets[0], "c", "m1"), now - 5s, 1, 60s);
  EXPECT_EQ(names(attempt_order(route, "c", "m1", health, now, std::nullopt, no_draw)), "bc");
  EXPECT_EQ(names(attempt_order(route, "c", "m2", health, now, std::nullopt, no_draw)), "abc");     // per model
  EXPECT_EQ(names(attempt_order(route, "c", "m1", health, now, std::string("a"), no_draw)), "bc");  // a is out
  (void)health.failed(target_key(route.targets[1], "c", "m1"), now - 1s, 1, 60s);
  (void)health.failed(target_key(route.targets[2], "c", "m1"), now - 3s, 1, 60s);
  EXPECT_EQ(names(attempt_order(route, "c", "m1", health, now, std::nullopt, no_draw)), "a");
}

// Weighted draws follow the weights; the rest follow as fallbacks.
TEST(AttemptOrder, WeightedFollowsTheWeights) {
  const auto cfg = route_config(
      "routes:\n  - match: [\"m*\"]\n    strategy: weighted\n    targets:\n      - {name: a, weight: 1}\n"
      "      - {name: b, identity: other, weight: 3}\n");
  const RouteTable table = table_of(cfg);
  TargetHealth health;
  std::map<std::string, int> first;
  for (int i = 0; i < 100; ++i) {
    const double d = (i + 0.5) / 100;
    const auto order =
        attempt_order(table.routes()[0], "c", "m", health, RouteClock::now(), std::nullopt, [d] { return d; });
    ASSERT_EQ(order.size(), 2u);
    ++first[order[0]->name];
  }
  EXPECT_EQ(first["a"], 25);
  EXPECT_EQ(first["b"], 75);
}

// The sticky key follows the cacheable prefix: what comes after the last cache point, or after
// the first message when there is none, does not move it; the system prompt does.
TEST(StickyKey, FollowsThePromptsCacheablePrefix) {
  const auto cfg = route_config("routes:\n  - match: [\"m*\"]\n    sticky: prefix\n    targets:\n      - {name: a}\n");
  const RouteTable table = table_of(cfg);
  const ModelRoute& route = table.routes()[0];
  const auto key = [&](const std::string& client, const std::string& body) {
    UpstreamCall call;
    call.body = body;
    return *sticky_key(route, client, call, 64);
  };
  const std::string sys = R"("system":[{"text":"You are a coding agent"},{"cachePoint":{"type":"default"}}])";
  const auto a = key("c", "{" + sys + R"(,"messages":[{"role":"user","content":[{"text":"one"}]}]})");
  const auto b = key("c", "{" + sys +
                              R"(,"messages":[{"role":"user","content":[{"text":"two"}]},)"
                              R"({"role":"assistant","content":[{"text":"x"}]}]})");
  EXPECT_EQ(a, b);  // the cache point is in the system prompt: the messages do not count
  EXPECT_NE(a, key("d", "{" + sys + R"(,"messages":[]})"));  // another client
  EXPECT_NE(a, key("c", R"({"system":[{"text":"other"}],"messages":[]})"));
  // Anthropic's cache_control on a message: the prefix runs through that message.
  const auto m1 = key(
      "c",
      R"({"messages":[{"role":"user","content":[{"type":"text","text":"doc","cache_control":{"type":"ephemeral"}}]},{"role":"user","content":"q1"}]})");
  const auto m2 = key(
      "c",
      R"({"messages":[{"role":"user","content":[{"type":"text","text":"doc","cache_control":{"type":"ephemeral"}}]},{"role":"user","content":"q2"}]})");
  EXPECT_EQ(m1, m2);
  // No cache point: the system prompt and the first message.
  EXPECT_EQ(key("c", R"({"system":"s","messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]})"),
            key("c", R"({"system":"s","messages":[{"role":"user","content":"a"},{"role":"user","content":"c"}]})"));
  const auto client_route =
      route_config("routes:\n  - match: [\"m*\"]\n    sticky: client\n    targets:\n      - {name: a}\n");
  const RouteTable ct = table_of(client_route);
  UpstreamCall one, two;
  one.body = "{\"x\":1}";
  two.body = "{\"x\":2}";
  EXPECT_EQ(*sticky_key(ct.routes()[0], "c", one, 64), *sticky_key(ct.routes()[0], "c", two, 64));
}

// Stickiness keeps a prompt on the target that served it under weighted, and moves it (then
// keeps it) only when that target fails.
TEST(Routes, StickyPrefixHoldsThenMovesOnFailure) {
  Harness h(true, routes_yaml("weighted", "prefix"));
  const std::string body =
      R"({"system":[{"text":"long agent prompt"},{"cachePoint":{"type":"default"}}],"messages":[{"role":"user","content":[{"text":"q"}]}]})";
  for (int i = 0; i < 12; ++i) {
    h.upstream->script.push_back(converse_ok());
    (void)h.call(bhttp::verb::post, native_converse(), bearer("full-secret"), body);
  }
  std::set<std::string> places(h.upstream->regions.begin(), h.upstream->regions.end());
  EXPECT_EQ(places.size(), 1u);
  const std::string first = h.upstream->regions[0];
  h.upstream->script.push_back(bedrock_error(429, "ThrottlingException"));
  h.upstream->script.push_back(converse_ok());
  (void)h.call(bhttp::verb::post, native_converse(), bearer("full-secret"), body);
  const std::string moved = h.upstream->regions.back();
  EXPECT_NE(moved, first);
  for (int i = 0; i < 5; ++i) {
    h.upstream->script.push_back(converse_ok());
    (void)h.call(bhttp::verb::post, native_converse(), bearer("full-secret"), body);
    EXPECT_EQ(h.upstream->regions.back(), moved);
  }
}

// A route no client may call, and one an earlier route always takes first, are served but
// warned about: check-config says so, and so do serve and a reload.
TEST(RoutesPreflight, UnreachableAndShadowedRoutesAreWarnedAbout) {
  const auto cfg = route_config(
      "models:\n  sonnet: anthropic.claude-sonnet-4-5-20250929-v1:0\n"
      "routes:\n"
      "  - name: all-claude\n    match: [\"anthropic.claude-*\"]\n    targets: [{name: a}]\n"
      "  - name: sonnet-only\n    match: [\"anthropic.claude-sonnet-4-5-20250929-v1:0\"]\n    targets: [{name: b}]\n"
      "  - name: by-alias\n    match: [sonnet]\n    targets: [{name: c}]\n");
  const std::string w = serve_warnings(cfg);
  EXPECT_NE(w.find("routes[1] (sonnet-only): routes[0] (all-claude) matches everything it does"), std::string::npos)
      << w;
  EXPECT_EQ(w.find("routes[2]"), std::string::npos) << w;  // an alias is its own name
  EXPECT_EQ(w.find("no client"), std::string::npos) << w;
  auto narrow = route_config("routes:\n  - name: titan\n    match: [\"amazon.titan-*\"]\n    targets: [{name: a}]\n");
  narrow.clients[0].models = {"anthropic.*"};
  EXPECT_NE(serve_warnings(narrow).find("routes[0] (titan): no client's models allow what it matches"),
            std::string::npos);
  // Bedrock's OpenAI API is not a route's to send.
  const auto gpt = route_config(
      "models:\n  gpt: {id: openai.gpt-5.5, api: openai}\n"
      "routes:\n  - name: g\n    match: [gpt]\n    targets: [{name: a}]\n");
  EXPECT_NE(serve_warnings(gpt).find("routes[0] (g): 'gpt' is an api: openai model, which routes do not send"),
            std::string::npos)
      << serve_warnings(gpt);
}

// The fleet's ejection news comes from Redis: only a well-formed "SECONDS KEY" is taken, a
// length within an hour, a key of bounded size.
TEST(EjectionNews, OnlyWellFormedNewsIsTaken) {
  const auto news = parse_ejection(ejection_message("us-east-1|default|arn:aws:iam::1:role/r|m", 30s));
  ASSERT_TRUE(news);
  EXPECT_EQ(news->key, "us-east-1|default|arn:aws:iam::1:role/r|m");
  EXPECT_EQ(news->length, 30s);
  std::string long_key = "30 ";
  long_key.append(1100, 'k');
  const std::vector<std::string> bad_news = {
      "", "30", " key", "30 ", "-5 key", "0 key", "3601 key", "3x key", "99999999999999999999 k", long_key};
  for (const std::string& bad : bad_news) {
    EXPECT_FALSE(parse_ejection(bad)) << bad;
  }
}

}  // namespace
}  // namespace signgate::gateway
