// The pipeline in process: a real Gateway with its router, surfaces and pipeline, a fake
// upstream and a fake responder, no sockets. Every refusal in every dialect, Retry-After, the
// body left unread until the key is known, and exactly one audit line per request.
#include "gateway/pipeline.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <thread>

#include "aws/eventstream.h"
#include "common/base64.h"
#include "common/crypto.h"
#include "gateway/abandoned.h"
#include "gateway/pipeline_harness.h"

namespace signgate::gateway {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using nlohmann::json;
using namespace testing;

// The three dialects' error shapes, each checked the way its SDK reads it.
void expect_dialect(const FakeResponder& res, Dialect d, unsigned status) {
  EXPECT_EQ(res.status, status) << res.body;
  const json j = json::parse(res.body);
  switch (d) {
    case Dialect::kBedrock:
      EXPECT_FALSE(res.header("x-amzn-ErrorType").empty()) << res.body;
      EXPECT_FALSE(res.header("x-amzn-RequestId").empty());
      EXPECT_TRUE(j["message"].is_string()) << res.body;
      break;
    case Dialect::kOpenAI:
      EXPECT_TRUE(j["error"]["message"].is_string()) << res.body;
      EXPECT_TRUE(j["error"]["type"].is_string()) << res.body;
      break;
    case Dialect::kAnthropic:
      EXPECT_EQ(j["type"], "error") << res.body;
      EXPECT_TRUE(j["error"]["type"].is_string()) << res.body;
      EXPECT_TRUE(j["error"]["message"].is_string()) << res.body;
      break;
  }
}

struct SurfaceCase {
  const char* name;
  Dialect dialect;
  std::string target;
  std::function<std::string(const std::string& model)> body;
};

std::vector<SurfaceCase> surfaces() {
  return {
      {"bedrock", Dialect::kBedrock, std::string("/model/") + kModel + "/converse",
       [](const std::string&) { return std::string(R"({"messages":[{"role":"user","content":[{"text":"hi"}]}]})"); }},
      {"openai", Dialect::kOpenAI, "/v1/chat/completions",
       [](const std::string& m) { return R"({"model":")" + m + R"(","messages":[{"role":"user","content":"hi"}]})"; }},
      {"openai", Dialect::kOpenAI, "/v1/responses",
       [](const std::string& m) { return R"({"model":")" + m + R"(","input":"hi"})"; }},
      {"anthropic", Dialect::kAnthropic, "/v1/messages",
       [](const std::string& m) {
         return R"({"model":")" + m + R"(","max_tokens":10,"messages":[{"role":"user","content":"hi"}]})";
       }},
  };
}

// A caller without a key, with an unknown key or with two keys is refused from the head, in
// its surface's dialect; its body is never read, and the upstream never called.
TEST(Pipeline, KeysAreCheckedFromTheHeadInEveryDialect) {
  for (const auto& s : surfaces()) {
    Harness h;
    const std::string body = s.body(kModel);
    const auto none = h.call(bhttp::verb::post, s.target, {{"Content-Type", "application/json"}}, body);
    expect_dialect(none.res, s.dialect, 401);
    EXPECT_FALSE(none.body_read) << s.name;
    const auto unknown = h.call(bhttp::verb::post, s.target, bearer("nobody"), body);
    expect_dialect(unknown.res, s.dialect, 401);
    EXPECT_FALSE(unknown.body_read) << s.name;
    const auto two = h.call(bhttp::verb::post, s.target,
                            {{"Authorization", "Bearer full-secret"}, {"Authorization", "Bearer haiku-secret"}}, body);
    expect_dialect(two.res, s.dialect, 400);
    EXPECT_FALSE(two.body_read) << s.name;
    EXPECT_TRUE(h.upstream->calls.empty()) << s.name;
    const auto lines = h.audit_lines();
    ASSERT_EQ(lines.size(), 3u) << s.name;
    EXPECT_EQ(lines[0]["status"], 401);
    EXPECT_EQ(lines[0]["surface"], s.name);
    EXPECT_TRUE(lines[0]["client"].is_null() || lines[0]["client"] == "") << lines[0];
  }
}

// Past the key, every way a request can be refused is answered in the caller's dialect with
// the right status, Retry-After where a retry will help, and one audit line each.
TEST(Pipeline, EveryRefusalInEveryDialect) {
  for (const auto& s : surfaces()) {
    SCOPED_TRACE(s.name);
    Harness h;
    int requests = 0;
    const auto post = [&](const std::string& secret, std::string body, std::string target = {}) {
      ++requests;
      return h.call(bhttp::verb::post, target.empty() ? s.target : target, bearer(secret), std::move(body));
    };
    // 413: over limits.max_body_bytes.
    expect_dialect(post("full-secret", std::string(5000, ' ')).res, s.dialect, 413);
    // 403: a model outside the allowlist.
    const std::string sonnet = "anthropic.claude-3-5-sonnet-20240620-v1:0";
    const std::string sonnet_target = std::string("/model/") + sonnet + "/converse";
    expect_dialect(post("haiku-secret", s.body(sonnet), s.dialect == Dialect::kBedrock ? sonnet_target : "").res,
                   s.dialect, 403);
    // 403: an operation outside the client's list (haiku may only converse).
    if (s.dialect == Dialect::kBedrock) {
      expect_dialect(post("haiku-secret", s.body(kModel), std::string("/model/") + kModel + "/invoke").res, s.dialect,
                     403);
    } else if (s.dialect == Dialect::kAnthropic) {
      expect_dialect(post("haiku-secret", s.body(kModel)).res, s.dialect, 403);  // InvokeModel
    }
    // 429 with Retry-After: haiku's one request a minute is spent by the first that passes.
    // (Anthropic's surface invokes, which haiku may not: its 429 comes from Bedrock below.)
    if (s.dialect != Dialect::kAnthropic) {
      h.upstream->script.push_back(converse_ok());
      const auto first = post("haiku-secret", s.body(kModel));
      EXPECT_EQ(first.res.status, 200u) << first.res.body;
      const auto limited = post("haiku-secret", s.body(kModel));
      expect_dialect(limited.res, s.dialect, 429);
      EXPECT_GE(std::stoi(limited.res.header("Retry-After")), 1);
    }
    // 502 and 504: the upstream unreachable, or silent.
    h.upstream->script.push_back(failing(ErrorKind::kUnreachable));
    expect_dialect(post("full-secret", s.body(kModel)).res, s.dialect, 502);
    h.upstream->script.push_back(failing(ErrorKind::kTimeout));
    expect_dialect(post("full-secret", s.body(kModel)).res, s.dialect, 504);
    // Bedrock's own throttle, after the upstream's retries: 429 with Retry-After.
    Scripted throttled;
    throttled.status = 429;
    throttled.headers = {{"Content-Type", "application/json"},
                         {"x-amzn-ErrorType", "ThrottlingException:http://x"},
                         {"x-amzn-RequestId", "req-429"}};
    throttled.pieces = {R"({"message":"Too many requests, please wait before trying again."})"};
    h.upstream->script.push_back(throttled);
    const auto bedrock_429 = post("full-secret", s.body(kModel));
    expect_dialect(bedrock_429.res, s.dialect, 429);
    EXPECT_EQ(bedrock_429.res.header("Retry-After"), "1");
    EXPECT_NE(bedrock_429.res.body.find("Too many requests"), std::string::npos) << bedrock_429.res.body;

    const auto lines = h.audit_lines();
    EXPECT_EQ(lines.size(), static_cast<std::size_t>(requests));
    EXPECT_EQ(lines.front()["status"], 413);
    EXPECT_EQ(lines.front()["client"], "full") << "a 413 from a known key names its client";
    EXPECT_GT(lines.front()["bytes_out"].get<int>(), 0) << "the refusal's bytes are counted";
    EXPECT_EQ(lines.back()["status"], 429);
    EXPECT_EQ(lines.back()["upstream_status"], 429);
  }
}

// Translating surfaces refuse a body they cannot read with a 400 in their dialect, after the
// key was checked (so a caller without one learns nothing about the body).
TEST(Pipeline, UnreadableBodiesAre400InTheirDialect) {
  Harness h;
  expect_dialect(h.call(bhttp::verb::post, "/v1/chat/completions", bearer("full-secret"), "{nope").res,
                 Dialect::kOpenAI, 400);
  expect_dialect(h.call(bhttp::verb::post, "/v1/messages", bearer("full-secret"), R"({"model":"x"})").res,
                 Dialect::kAnthropic, 400);
  // A model name that would become a dot segment upstream.
  const auto dots = h.call(bhttp::verb::post, "/v1/chat/completions", bearer("full-secret"),
                           R"({"model":"..","messages":[{"role":"user","content":"hi"}]})");
  expect_dialect(dots.res, Dialect::kOpenAI, 400);
  EXPECT_EQ(json::parse(dots.res.body)["error"]["param"], "model");
  EXPECT_EQ(h.call(bhttp::verb::post, "/v1/messages", {{"Content-Type", "application/json"}}, "{nope").res.status,
            401u);
  EXPECT_TRUE(h.upstream->calls.empty());
  // Fields of unexpected types do not throw out of the translator: Bedrock judges them, and
  // the request has its audit line.
  const auto odd =
      h.call(bhttp::verb::post, "/v1/messages", bearer("full-secret"),
             R"({"model":"fast","max_tokens":1,"messages":[{"role":null},{"role":"system","content":"s"}]})");
  EXPECT_EQ(odd.res.status, 200u) << odd.res.body;
  EXPECT_EQ(h.audit_lines().size(), 5u);
}

// Without valid credentials the gateway says so briefly (503, Retry-After); STS's words, which
// name roles and accounts, stay in the audit line and the log.
TEST(Pipeline, NoCredentialsIs503WithoutTheDetail) {
  for (const auto& s : surfaces()) {
    Harness h(false);
    const auto r = h.call(bhttp::verb::post, s.target, bearer("full-secret"), s.body(kModel));
    expect_dialect(r.res, s.dialect, 503);
    EXPECT_EQ(r.res.header("Retry-After"), "1");
    EXPECT_EQ(r.res.body.find("111122223333"), std::string::npos) << r.res.body;
    const auto lines = h.audit_lines();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0]["error"].get<std::string>().find("111122223333"), std::string::npos);
  }
}

// Unknown paths are 404 in the dialect their prefix promises; a known path with another
// method is 405 with Allow.
TEST(Pipeline, UnknownPathsAndWrongMethods) {
  Harness h;
  expect_dialect(h.call(bhttp::verb::post, "/v1/nothing", bearer("full-secret")).res, Dialect::kOpenAI, 404);
  expect_dialect(h.call(bhttp::verb::post, "/v1/messages/nothing", bearer("full-secret")).res, Dialect::kAnthropic,
                 404);
  const auto bedrock = h.call(bhttp::verb::post, "/nothing", bearer("full-secret"));
  expect_dialect(bedrock.res, Dialect::kBedrock, 404);
  EXPECT_NE(bedrock.res.body.find("POST /v1/chat/completions"), std::string::npos) << bedrock.res.body;
  const auto get_chat = h.call(bhttp::verb::get, "/v1/chat/completions", bearer("full-secret"));
  expect_dialect(get_chat.res, Dialect::kOpenAI, 405);
  EXPECT_EQ(get_chat.res.header("Allow"), "POST");
  const auto get_native = h.call(bhttp::verb::get, std::string("/model/") + kModel + "/converse", {});
  expect_dialect(get_native.res, Dialect::kBedrock, 405);
  expect_dialect(h.call(bhttp::verb::post, "/model/x/chat", bearer("full-secret")).res, Dialect::kBedrock, 404);
  EXPECT_TRUE(h.upstream->calls.empty());
  EXPECT_EQ(h.audit_lines().size(), 6u);
}

// The native surface sends the body byte for byte and only Bedrock's own headers for the
// operation; the caller's key never goes upstream.
TEST(Pipeline, NativeCallsPassThroughWithoutTheKey) {
  Harness h;
  const std::string body = R"({"messages":[{"role":"user","content":[{"text":"hi"}]}],"x":  1})";
  Scripted ok;
  ok.headers = {{"Content-Type", "application/json"}, {"x-amzn-RequestId", "req-1"}, {"Set-Cookie", "no"}};
  ok.pieces = {R"({"output":)", R"({}})"};
  h.upstream->script.push_back(ok);
  auto headers = bearer("full-secret");
  headers.push_back({"X-Amzn-Bedrock-Trace", "ENABLED"});
  headers.push_back({"X-Forwarded-For", "10.0.0.1"});
  const auto r = h.call(bhttp::verb::post, "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", headers, body);
  EXPECT_EQ(r.res.status, 200u);
  EXPECT_EQ(r.res.body, R"({"output":{}})");
  EXPECT_EQ(r.res.header("x-amzn-RequestId"), "req-1");
  EXPECT_EQ(r.res.header("Set-Cookie"), "");
  ASSERT_EQ(h.upstream->calls.size(), 1u);
  const UpstreamCall& call = h.upstream->calls[0];
  EXPECT_EQ(call.model, kModel);
  EXPECT_EQ(call.operation, aws::Operation::kConverse);
  // Changed only by signgate's attribution, spliced in first (SPEC §8).
  const std::string stamp = R"({"requestMetadata":{"signgate_client":"full","signgate_request_id":")" +
                            h.audit_lines().at(0)["request_id"].get<std::string>() + R"("},)";
  EXPECT_EQ(call.body, stamp + body.substr(1));
  for (const auto& hd : call.headers) {
    EXPECT_TRUE(iequals(hd.name, "content-type")) << hd.name;  // Converse takes no x-amzn-bedrock-* header
    EXPECT_EQ(hd.value.find("full-secret"), std::string::npos);
  }
  EXPECT_EQ(h.upstream->access_keys[0], "AKIDEXAMPLE");
  const auto lines = h.audit_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["client"], "full");
  EXPECT_EQ(lines[0]["aws_request_id"], "req-1");
  EXPECT_EQ(lines[0]["bytes_in"], body.size());
  EXPECT_EQ(lines[0]["bytes_out"], 13);
}

std::string event(const std::string& type, const std::string& payload) {
  return aws::eventstream::encode({{":message-type", aws::eventstream::HeaderValue::string("event")},
                                   {":event-type", aws::eventstream::HeaderValue::string(type)},
                                   {":content-type", aws::eventstream::HeaderValue::string("application/json")}},
                                  payload);
}

// An alias reaches Bedrock as its model ID; a ConverseStream answer, split mid-frame, comes
// back as OpenAI chunks with usage in the audit line.
TEST(Pipeline, OpenAIStreamsThroughAnAlias) {
  Harness h;
  const std::string frames = event("messageStart", R"({"role":"assistant"})") +
                             event("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"Hello"}})") +
                             event("messageStop", R"({"stopReason":"end_turn"})") +
                             event("metadata", R"({"usage":{"inputTokens":5,"outputTokens":1,"totalTokens":6}})");
  Scripted stream;
  stream.headers = {{"Content-Type", "application/vnd.amazon.eventstream"}};
  stream.pieces = {frames.substr(0, 30), frames.substr(30)};
  h.upstream->script.push_back(stream);
  const auto r = h.call(bhttp::verb::post, "/v1/chat/completions", bearer("full-secret"),
                        R"({"model":"fast","stream":true,"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(r.res.status, 200u);
  EXPECT_TRUE(r.res.streamed);
  EXPECT_TRUE(r.res.finished);
  EXPECT_NE(r.res.body.find(R"("content":"Hello")"), std::string::npos) << r.res.body;
  EXPECT_NE(r.res.body.find("data: [DONE]"), std::string::npos) << r.res.body;
  ASSERT_EQ(h.upstream->calls.size(), 1u);
  EXPECT_EQ(h.upstream->calls[0].model, kModel);
  EXPECT_EQ(h.upstream->calls[0].operation, aws::Operation::kConverseStream);
  const auto lines = h.audit_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["input_tokens"], 5);
  EXPECT_EQ(lines[0]["output_tokens"], 1);
}

// An upstream that breaks mid-stream ends the caller's stream with an error event in its
// dialect, not a hang or a truncated frame; the audit line says what happened.
TEST(Pipeline, AStreamBrokenMidwayEndsWithAnErrorEvent) {
  Harness h;
  const std::string inner = R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})";
  Scripted broken;
  broken.headers = {{"Content-Type", "application/vnd.amazon.eventstream"}};
  broken.pieces = {event("chunk", R"({"bytes":")" + base64_encode(inner) + R"("})")};
  broken.break_after_pieces = true;
  h.upstream->script.push_back(broken);
  const auto r = h.call(bhttp::verb::post, "/v1/messages", bearer("full-secret"),
                        R"({"model":"fast","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(r.res.status, 200u);
  EXPECT_NE(r.res.body.find("event: content_block_delta"), std::string::npos) << r.res.body;
  EXPECT_NE(r.res.body.find("event: error"), std::string::npos) << r.res.body;
  const auto lines = h.audit_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0]["error"].get<std::string>().find("upstream stream broke"), std::string::npos) << lines[0];
}

// A caller that leaves a stream after its first piece (a closed socket) still pays for the
// answer: the rest is read unrelayed on every streamed surface, Bedrock's usage is charged
// and audited as "drained", and the client's budget (5 tokens) is spent.
TEST(Pipeline, AStreamItsCallerLeftIsChargedWhatBedrockReports) {
  const std::string converse = event("messageStart", R"({"role":"assistant"})") +
                               event("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"Hello"}})") +
                               event("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":" there"}})") +
                               event("messageStop", R"({"stopReason":"end_turn"})") +
                               event("metadata", R"({"usage":{"inputTokens":5,"outputTokens":2,"totalTokens":7}})");
  const auto chunk = [](const std::string& inner) {
    return event("chunk", R"({"bytes":")" + base64_encode(inner) + R"("})");
  };
  const std::string invoke =
      chunk(R"({"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}})") +
      chunk(R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})") +
      chunk(R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there"}})") +
      chunk(R"({"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":5,"outputTokenCount":2}})");
  struct Case {
    std::string target, body, stream;
  };
  const std::string messages = R"({"role":"user","content":[{"text":"hi"}]})";
  const std::vector<Case> cases = {
      {std::string("/model/") + kModel + "/converse-stream", R"({"messages":[)" + messages + "]}", converse},
      {std::string("/model/") + kModel + "/invoke-with-response-stream",
       R"({"anthropic_version":"bedrock-2023-05-31","max_tokens":9,"messages":[{"role":"user","content":"hi"}]})",
       invoke},
      {"/v1/chat/completions", R"({"model":"fast","stream":true,"messages":[{"role":"user","content":"hi"}]})",
       converse},
      {"/v1/responses", R"({"model":"fast","stream":true,"input":"hi"})", converse},
      {"/v1/messages", R"({"model":"fast","stream":true,"max_tokens":9,"messages":[{"role":"user","content":"hi"}]})",
       invoke},
  };
  for (const Case& c : cases) {
    Harness h;
    Scripted stream;
    stream.headers = {{"Content-Type", "application/vnd.amazon.eventstream"}};
    // One frame a piece: the caller is gone after the first.
    for (std::size_t at = 0; at < c.stream.size();) {
      const std::size_t total =
          (static_cast<unsigned char>(c.stream[at]) << 24) | (static_cast<unsigned char>(c.stream[at + 1]) << 16) |
          (static_cast<unsigned char>(c.stream[at + 2]) << 8) | static_cast<unsigned char>(c.stream[at + 3]);
      stream.pieces.push_back(c.stream.substr(at, total));
      at += total;
    }
    h.upstream->script.push_back(stream);
    const auto r = h.call(bhttp::verb::post, c.target, bearer("budgeted-secret"), c.body, 1);
    EXPECT_EQ(r.res.status, 200u) << c.target;
    EXPECT_FALSE(r.res.finished) << c.target;
    const auto lines = h.audit_lines();
    ASSERT_EQ(lines.size(), 1u) << c.target;
    EXPECT_EQ(lines[0]["caller_left"], true) << lines[0];
    EXPECT_EQ(lines[0]["tokens_from"], "drained") << lines[0];
    EXPECT_EQ(lines[0]["input_tokens"], 5) << lines[0];
    EXPECT_EQ(lines[0]["output_tokens"], 2) << lines[0];
    const auto next = h.call(bhttp::verb::post, c.target, bearer("budgeted-secret"), c.body);
    EXPECT_EQ(next.res.status, 429u) << c.target << ": 7 tokens of a budget of 5 were charged";
    const auto metrics = h.call(bhttp::verb::get, "/metrics", {});
    EXPECT_NE(metrics.res.body.find("signgate_abandoned_streams_total{tokens_from=\"drained\"} 1"), std::string::npos)
        << metrics.res.body;
  }
}

// When the upstream breaks after the caller left, the charge is the documented estimate: the
// input Bedrock reported (else the body's text / 4), the content events seen, else max_tokens.
TEST(Pipeline, AStreamItsCallerLeftIsChargedAnEstimateWhenTheUsageNeverComes) {
  const auto chunk = [](const std::string& inner) {
    return event("chunk", R"({"bytes":")" + base64_encode(inner) + R"("})");
  };
  {
    Harness h;
    Scripted broken;
    broken.headers = {{"Content-Type", "application/vnd.amazon.eventstream"}};
    broken.pieces = {chunk(R"({"type":"message_start","message":{"usage":{"input_tokens":7,"output_tokens":1}}})"),
                     chunk(R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}})"),
                     chunk(R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"b"}})")};
    broken.break_after_pieces = true;
    h.upstream->script.push_back(broken);
    h.call(bhttp::verb::post, "/v1/messages", bearer("full-secret"),
           R"({"model":"fast","stream":true,"max_tokens":50,"messages":[{"role":"user","content":"hi"}]})", 1);
    const auto line = h.audit_lines().at(0);
    EXPECT_EQ(line["tokens_from"], "estimate") << line;
    EXPECT_EQ(line["input_tokens"], 7) << "message_start said it";
    EXPECT_EQ(line["output_tokens"], 3) << "three chunks seen";
    EXPECT_NE(line["error"].get<std::string>().find("the upstream stream broke"), std::string::npos) << line;
  }
  {
    Harness h;
    Scripted broken;  // nothing but a start, then the connection breaks
    broken.headers = {{"Content-Type", "application/vnd.amazon.eventstream"}};
    broken.pieces = {event("messageStart", R"({"role":"assistant"})")};
    broken.break_after_pieces = true;
    h.upstream->script.push_back(broken);
    const std::string body = R"({"messages":[{"role":"user","content":[{"text":"hi"}]}],)"
                             R"("inferenceConfig":{"maxTokens":40}})";
    h.call(bhttp::verb::post, std::string("/model/") + kModel + "/converse-stream", bearer("full-secret"), body, 0);
    const auto line = h.audit_lines().at(0);
    EXPECT_EQ(line["tokens_from"], "estimate") << line;
    EXPECT_EQ(line["input_tokens"], 2) << "\"user\" and \"hi\": 6 bytes of text, / 4";
    EXPECT_EQ(line["output_tokens"], 40) << "no content seen: the request's maxTokens";
  }
}

// The input estimate counts text, not the base64 of an image (a 4 MB image is not a million
// tokens), and is not fooled by nesting; max_tokens is found in each model family's field.
TEST(Pipeline, AbandonedStreamEstimatesReadTheBody) {
  const std::string image(100000, 'A');
  const std::string converse = R"({"messages":[{"role":"user","content":[{"text":"12345678"},)"
                               R"({"image":{"format":"png","source":{"bytes":")" +
                               image + R"("}}}]}],"inferenceConfig":{"maxTokens":33}})";
  EXPECT_EQ(estimated_input_tokens(converse, 128), (4 + 8 + 3 + 3) / 4 + kMediaTokens) << "user, text, png";
  EXPECT_EQ(requested_max_tokens(converse, 128), 33u);
  EXPECT_EQ(requested_max_tokens(R"({"inferenceConfig":{"max_new_tokens":7}})", 128), 7u);
  EXPECT_EQ(requested_max_tokens(R"({"max_gen_len":9})", 128), 9u);
  EXPECT_EQ(requested_max_tokens(R"({"textGenerationConfig":{"maxTokenCount":11}})", 128), 11u);
  EXPECT_FALSE(requested_max_tokens(R"({"max_tokens":-1})", 128));
  EXPECT_EQ(estimated_input_tokens("not json at all", 128), 4u) << "bytes / 4 when it is not JSON";
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += R"({"a":)";
  deep += R"("xxxx")";
  for (int i = 0; i < 100; ++i) deep += "}";
  EXPECT_EQ(estimated_input_tokens(deep, 128), 1u);
}

// /v1/models is answered locally from the key's allowlist and aliases, and counts against
// its rate limit like any other request.
TEST(Pipeline, ModelListIsLocalAndRateLimited) {
  Harness h;
  const auto full = h.call(bhttp::verb::get, "/v1/models", bearer("full-secret"));
  EXPECT_EQ(full.res.status, 200u);
  EXPECT_NE(full.res.body.find(R"("id":"fast")"), std::string::npos) << full.res.body;
  const auto one = h.call(bhttp::verb::get, "/v1/models/fast", bearer("haiku-secret"));
  EXPECT_EQ(one.res.status, 200u) << one.res.body;
  const auto limited = h.call(bhttp::verb::get, "/v1/models", bearer("haiku-secret"));
  expect_dialect(limited.res, Dialect::kOpenAI, 429);
  EXPECT_TRUE(h.upstream->calls.empty());
  const auto lines = h.audit_lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["operation"], "models");
}

// Tokens are charged from each answer's usage once it has ended: the request that overdraws a
// budget or a token rate is answered, the next one is refused with 429 in the caller's dialect.
TEST(Pipeline, TokenLimitsAndBudgetsAreChargedFromUsage) {
  Harness h;
  const std::string chat = R"({"model":")" + std::string(kModel) + R"(","messages":[{"role":"user","content":"hi"}]})";
  for (const char* secret : {"budgeted-secret", "thrifty-secret"}) {
    h.upstream->script.push_back(converse_ok());  // 3 + 1 tokens
    h.upstream->script.push_back(converse_ok());
    EXPECT_EQ(h.call(bhttp::verb::post, "/v1/chat/completions", bearer(secret), chat).res.status, 200u) << secret;
    EXPECT_EQ(h.call(bhttp::verb::post, "/v1/chat/completions", bearer(secret), chat).res.status, 200u)
        << secret << ": 4 of 5 tokens spent, admitted";
    const auto refused = h.call(bhttp::verb::post, "/v1/chat/completions", bearer(secret), chat);
    expect_dialect(refused.res, Dialect::kOpenAI, 429);
    const json error = json::parse(refused.res.body)["error"];
    const bool budget = std::string(secret) == "budgeted-secret";
    EXPECT_EQ(error["code"], budget ? "insufficient_quota" : "rate_limit_exceeded") << refused.res.body;
    EXPECT_NE(error["message"].get<std::string>().find(budget ? "daily token budget of 5 tokens" : "5 tokens a minute"),
              std::string::npos)
        << refused.res.body;
    EXPECT_GE(std::stoi(refused.res.header("Retry-After")), 1);
  }
  EXPECT_EQ(h.upstream->calls.size(), 4u) << "refused calls never reach Bedrock";
  // The budget left is a metric.
  const auto metrics = h.call(bhttp::verb::get, "/metrics", {});
  EXPECT_NE(metrics.res.body.find("signgate_budget_remaining_tokens{client=\"budgeted\"} 0"), std::string::npos)
      << metrics.res.body;
}

// A USD budget on one replica (SPEC §8): each answer (3 input and 1 output tokens at $1 and $2
// a million: $0.000005) is priced and charged when it ends; admitted while spent < $0.000008,
// so the second call overdraws it and the third is refused, naming usd_per_day. The audit line
// has each call's cost and /metrics the client's spend and what is left.
TEST(Pipeline, UsdBudgetsAreChargedFromTheCost) {
  Harness h(true, "pricing:\n  \"anthropic.claude-3-haiku-*\": {input: 1, output: 2}\n");
  const std::string chat = R"({"model":")" + std::string(kModel) + R"(","messages":[{"role":"user","content":"hi"}]})";
  h.upstream->script.push_back(converse_ok());
  h.upstream->script.push_back(converse_ok());
  EXPECT_EQ(h.call(bhttp::verb::post, "/v1/chat/completions", bearer("spender-secret"), chat).res.status, 200u);
  EXPECT_EQ(h.call(bhttp::verb::post, "/v1/chat/completions", bearer("spender-secret"), chat).res.status, 200u);
  const auto refused = h.call(bhttp::verb::post, "/v1/chat/completions", bearer("spender-secret"), chat);
  expect_dialect(refused.res, Dialect::kOpenAI, 429);
  const json error = json::parse(refused.res.body)["error"];
  EXPECT_EQ(error["code"], "insufficient_quota");
  EXPECT_NE(error["message"].get<std::string>().find("budget.usd_per_day"), std::string::npos) << refused.res.body;
  EXPECT_EQ(h.upstream->calls.size(), 2u);
  const auto lines = h.audit_lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_DOUBLE_EQ(lines[0]["cost_usd"].get<double>(), 0.000005);
  EXPECT_DOUBLE_EQ(lines[1]["cost_usd"].get<double>(), 0.000005);
  EXPECT_TRUE(lines[2]["cost_usd"].is_null());
  const auto metrics = h.call(bhttp::verb::get, "/metrics", {});
  EXPECT_NE(metrics.res.body.find("signgate_cost_usd_total{client=\"spender\"} 0.00001\n"), std::string::npos)
      << metrics.res.body;
  EXPECT_NE(metrics.res.body.find("signgate_budget_remaining_usd{client=\"spender\",budget=\"usd_per_day\"} 0\n"),
            std::string::npos)
      << metrics.res.body;
}

// A model without a price is still served; its cost is null (and warned about once).
TEST(Pipeline, AnUnpricedModelIsServedWithANullCost) {
  Harness h(true, "pricing:\n  \"anthropic.claude-3-haiku-*\": {input: 1, output: 2}\n");
  h.upstream->script.push_back(converse_ok());
  const std::string chat = R"({"model":"writer.palmyra-x5-v1:0","messages":[{"role":"user","content":"hi"}]})";
  EXPECT_EQ(h.call(bhttp::verb::post, "/v1/chat/completions", bearer("spender-secret"), chat).res.status, 200u);
  const auto lines = h.audit_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0]["cost_usd"].is_null()) << lines[0].dump();
  EXPECT_EQ(lines[0]["input_tokens"], 3);
}

// Claude Code's betas: the accepted ones reach Bedrock in the body, first-party ones are
// dropped and counted, so the request is answered rather than refused as "invalid beta flag".
TEST(Pipeline, AnthropicBetasBecomeTheBodysAnthropicBeta) {
  Harness h;
  auto headers = bearer("full-secret");
  headers.push_back({"anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14"});
  headers.push_back({"anthropic-beta", "fine-grained-tool-streaming-2025-05-14"});
  const auto r = h.call(bhttp::verb::post, "/v1/messages?beta=true", headers,
                        R"({"model":"fast","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(r.res.status, 200u) << r.res.body;
  ASSERT_EQ(h.upstream->calls.size(), 1u);
  const json sent = json::parse(h.upstream->calls[0].body);
  EXPECT_EQ(sent["anthropic_beta"], json({"interleaved-thinking-2025-05-14"}));
  const std::string metrics = h.metrics.render({}, system_now());
  EXPECT_NE(metrics.find(R"(signgate_anthropic_betas_dropped_total{client="full",beta="claude-code-20250219"} 1)"),
            std::string::npos)
      << metrics;
}

// count_tokens goes to Bedrock's CountTokens for the aliased model and answers Anthropic's
// shape; the client's operations list governs it as count-tokens.
TEST(Pipeline, CountTokensAnswersInputTokens) {
  Harness h;
  Scripted counted;
  counted.headers = {{"Content-Type", "application/json"}};
  counted.pieces = {R"({"inputTokens":42})"};
  h.upstream->script.push_back(counted);
  const std::string body = R"({"model":"fast","messages":[{"role":"user","content":"hi"}]})";
  const auto r = h.call(bhttp::verb::post, "/v1/messages/count_tokens?beta=true", bearer("full-secret"), body);
  EXPECT_EQ(r.res.status, 200u) << r.res.body;
  EXPECT_EQ(r.res.body, R"({"input_tokens":42})");
  ASSERT_EQ(h.upstream->calls.size(), 1u);
  EXPECT_EQ(h.upstream->calls[0].operation, aws::Operation::kCountTokens);
  EXPECT_EQ(h.upstream->calls[0].model, kModel);
  EXPECT_TRUE(json::parse(h.upstream->calls[0].body)["input"]["invokeModel"]["body"].is_string());
  // haiku may only converse.
  expect_dialect(h.call(bhttp::verb::post, "/v1/messages/count_tokens", bearer("haiku-secret"), body).res,
                 Dialect::kAnthropic, 403);
  const auto lines = h.audit_lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["operation"], "count-tokens");
}

// CountTokens refusing the model becomes an estimate, marked and audited as one; any other
// 400 stays Bedrock's error.
TEST(Pipeline, CountTokensForAModelBedrockCannotCountIsEstimated) {
  Harness h;
  Scripted refused;
  refused.status = 400;
  refused.headers = {{"x-amzn-ErrorType", "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"}};
  refused.pieces = {R"({"message":"The provided model doesn't support counting tokens."})"};
  h.upstream->script.push_back(refused);
  Scripted malformed = refused;
  malformed.pieces = {R"({"message":"Malformed input request"})"};
  h.upstream->script.push_back(malformed);
  const std::string body = R"({"model":"fast","messages":[{"role":"user","content":"hi"}]})";
  const auto r = h.call(bhttp::verb::post, "/v1/messages/count_tokens", bearer("full-secret"), body);
  EXPECT_EQ(r.res.status, 200u) << r.res.body;
  EXPECT_EQ(r.res.header("x-signgate-token-count"), "estimated");
  EXPECT_GE(json::parse(r.res.body)["input_tokens"].get<int>(), 32 + 8 + 1);
  const auto other = h.call(bhttp::verb::post, "/v1/messages/count_tokens", bearer("full-secret"), body);
  expect_dialect(other.res, Dialect::kAnthropic, 400);
  EXPECT_EQ(other.res.header("x-signgate-token-count"), "");
  const auto lines = h.audit_lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["status"], 200);
  EXPECT_EQ(lines[0]["token_count"], "estimated");
  EXPECT_FALSE(lines[1].contains("token_count"));
}

// Anthropic's service_tier: priority goes as Bedrock's header, never in the body; the answer's
// usage and the audit line say what served.
TEST(Pipeline, AnthropicServiceTierIsBedrocksHeader) {
  Harness h;
  Scripted served;
  served.headers = {{"Content-Type", "application/json"}, {"X-Amzn-Bedrock-Service-Tier", "priority"}};
  served.pieces = {R"({"type":"message","content":[],"usage":{"input_tokens":3,"output_tokens":1}})"};
  h.upstream->script.push_back(served);
  const auto r = h.call(bhttp::verb::post, "/v1/messages", bearer("full-secret"),
                        R"({"model":"amazon.nova-pro-v1:0","max_tokens":5,"service_tier":"priority","messages":[]})");
  EXPECT_EQ(r.res.status, 200u) << r.res.body;
  EXPECT_EQ(json::parse(r.res.body)["usage"]["service_tier"], "priority");
  ASSERT_EQ(h.upstream->calls.size(), 1u);
  EXPECT_FALSE(json::parse(h.upstream->calls[0].body).contains("service_tier"));
  const auto& sent = h.upstream->calls[0].headers;
  EXPECT_TRUE(std::any_of(sent.begin(), sent.end(), [](const http::Header& hd) {
    return hd.name == "X-Amzn-Bedrock-Service-Tier" && hd.value == "priority";
  }));
  EXPECT_EQ(h.audit_lines()[0]["service_tier"], "priority");
  // A Claude model has no Priority tier on Bedrock: none is asked for, and the answer says standard.
  Scripted plain;
  plain.headers = {{"Content-Type", "application/json"}};
  plain.pieces = {R"({"type":"message","content":[],"usage":{"input_tokens":3,"output_tokens":1}})"};
  h.upstream->script.push_back(plain);
  const auto c = h.call(bhttp::verb::post, "/v1/messages", bearer("full-secret"),
                        R"({"model":"fast","max_tokens":5,"service_tier":"priority","messages":[]})");
  EXPECT_EQ(json::parse(c.res.body)["usage"]["service_tier"], "standard");
  ASSERT_EQ(h.upstream->calls.size(), 2u);
  const auto& none = h.upstream->calls[1].headers;
  EXPECT_FALSE(std::any_of(none.begin(), none.end(),
                           [](const http::Header& hd) { return hd.name == "X-Amzn-Bedrock-Service-Tier"; }));
}

// The native surface audits the tier Bedrock says served a call: InvokeModel's header,
// Converse's body.
TEST(Pipeline, NativeCallsAuditTheirServiceTier) {
  Harness h;
  Scripted invoked;
  invoked.headers = {{"Content-Type", "application/json"}, {"X-Amzn-Bedrock-Service-Tier", "flex"}};
  invoked.pieces = {"{}"};
  h.upstream->script.push_back(invoked);
  Scripted conversed = converse_ok();
  conversed.pieces = {R"({"output":{"message":{"role":"assistant","content":[]}},"stopReason":"end_turn",)"
                      R"("usage":{"inputTokens":3,"outputTokens":1},"serviceTier":{"type":"priority"}})"};
  h.upstream->script.push_back(conversed);
  h.upstream->script.push_back(converse_ok());
  auto headers = bearer("full-secret");
  headers.push_back({"X-Amzn-Bedrock-Service-Tier", "flex"});
  h.call(bhttp::verb::post, std::string("/model/") + kModel + "/invoke", headers, "{}");
  h.call(bhttp::verb::post, std::string("/model/") + kModel + "/converse", bearer("full-secret"),
         R"({"messages":[],"serviceTier":{"type":"priority"}})");
  h.call(bhttp::verb::post, std::string("/model/") + kModel + "/converse", bearer("full-secret"), R"({"messages":[]})");
  const auto lines = h.audit_lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["service_tier"], "flex");
  EXPECT_EQ(lines[1]["service_tier"], "priority");
  EXPECT_TRUE(lines[2]["service_tier"].is_null());
  // The caller's header went on as it was.
  const auto& sent = h.upstream->calls[0].headers;
  EXPECT_TRUE(std::any_of(sent.begin(), sent.end(), [](const http::Header& hd) {
    return hd.name == "X-Amzn-Bedrock-Service-Tier" && hd.value == "flex";
  }));
}

// A client with a guardrail cannot call without it, on any surface.
TEST(Pipeline, AClientsGuardrailGoesOnEveryCall) {
  Harness h;
  h.upstream->script.push_back(converse_ok());
  h.call(bhttp::verb::post, "/v1/chat/completions", bearer("guarded-secret"),
         R"({"model":"fast","messages":[{"role":"user","content":"hi"}]})");
  h.call(bhttp::verb::post, "/v1/messages", bearer("guarded-secret"),
         R"({"model":"fast","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})");
  auto headers = bearer("guarded-secret");
  headers.push_back({"X-Amzn-Bedrock-GuardrailIdentifier", "mine"});
  h.call(bhttp::verb::post, std::string("/model/") + kModel + "/invoke", headers, R"({"messages":[]})");
  h.call(bhttp::verb::post, std::string("/model/") + kModel + "/converse", bearer("guarded-secret"),
         R"({"messages":[],"guardrailConfig":{"guardrailIdentifier":"none","guardrailVersion":"DRAFT"}})");
  ASSERT_EQ(h.upstream->calls.size(), 4u);
  const json want = json::parse(R"({"guardrailIdentifier":"gr0abc123","guardrailVersion":"2"})");
  EXPECT_EQ(json::parse(h.upstream->calls[0].body)["guardrailConfig"], want);
  EXPECT_EQ(json::parse(h.upstream->calls[3].body)["guardrailConfig"], want);
  for (int i : {1, 2}) {
    int identifiers = 0;
    for (const auto& hd : h.upstream->calls[i].headers) {
      if (iequals(hd.name, "X-Amzn-Bedrock-GuardrailIdentifier")) {
        ++identifiers;
        EXPECT_EQ(hd.value, "gr0abc123");
      }
    }
    EXPECT_EQ(identifiers, 1) << i;
  }
  // A client without one sends what it sends.
  h.call(bhttp::verb::post, std::string("/model/") + kModel + "/converse", bearer("full-secret"), R"({"messages":[]})");
  EXPECT_FALSE(json::parse(h.upstream->calls[4].body).contains("guardrailConfig"));
}

// The guardrail and async-invoke paths refuse what they cannot read before anything goes
// upstream: a malformed guardrail path, another's or an unknown invocation, a start without a
// model; and a start sends Bedrock exactly the body whose model was checked.
TEST(Pipeline, GuardrailAndAsyncBadInputs) {
  Harness h;
  for (const char* bad : {"/guardrail/GR-1/version/1/apply", "/guardrail/gr1/version/01/apply",
                          "/guardrail/gr1/version/1/check", "/guardrail/gr1/apply"}) {
    expect_dialect(h.call(bhttp::verb::post, bad, bearer("full-secret"), "{}").res, Dialect::kBedrock, 404);
  }
  // The guarded client may apply only its own guardrail.
  expect_dialect(h.call(bhttp::verb::post, "/guardrail/gr0abc123/version/1/apply", bearer("guarded-secret"), "{}").res,
                 Dialect::kBedrock, 403);
  // async-invoke is opt-in: "full" has no operations list.
  const std::string start = R"({"modelId":"anthropic.claude-3-haiku-20240307-v1:0","modelId":"amazon.nova-reel-v1:0",
                                "modelInput":{},"outputDataConfig":{"s3OutputDataConfig":{"s3Uri":"s3://b/"}}})";
  expect_dialect(h.call(bhttp::verb::post, "/async-invoke", bearer("full-secret"), start).res, Dialect::kBedrock, 403);
  expect_dialect(h.call(bhttp::verb::post, "/async-invoke", bearer("asyncer-secret"), R"({"modelInput":{}})").res,
                 Dialect::kBedrock, 400);
  expect_dialect(h.call(bhttp::verb::get, "/async-invoke/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aasync-invoke%2Fx",
                        bearer("asyncer-secret"))
                     .res,
                 Dialect::kBedrock, 404);
  EXPECT_TRUE(h.upstream->calls.empty());
  // A duplicate modelId: the last one is checked (amazon.nova-*, allowed) and is all Bedrock sees.
  Scripted started;
  started.headers = {{"Content-Type", "application/json"}};
  started.pieces = {R"({"invocationArn":"arn:aws:bedrock:us-east-1:1:async-invoke/mine"})"};
  h.upstream->script.push_back(started);
  EXPECT_EQ(h.call(bhttp::verb::post, "/async-invoke", bearer("asyncer-secret"), start).res.status, 200u);
  ASSERT_EQ(h.upstream->calls.size(), 1u);
  EXPECT_EQ(json::parse(h.upstream->calls[0].body)["modelId"], "amazon.nova-reel-v1:0");
  EXPECT_EQ(h.upstream->calls[0].body.find("claude"), std::string::npos);
  // Its owner reads it; the list asks Bedrock for one page, never the caller's paging.
  h.call(bhttp::verb::get, "/async-invoke/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aasync-invoke%2Fmine",
         bearer("asyncer-secret"));
  ASSERT_EQ(h.upstream->calls.size(), 2u);
  h.call(bhttp::verb::get, "/async-invoke?maxResults=1&nextToken=t&statusEquals=Completed", bearer("asyncer-secret"));
  ASSERT_EQ(h.upstream->calls.size(), 3u);
  EXPECT_EQ(h.upstream->calls[2].query, "statusEquals=Completed&maxResults=1000");
}

// Discovery is off unless configured: the paths exist, and say so.
TEST(Pipeline, DiscoveryIsOffByDefault) {
  Harness h;
  const auto r = h.call(bhttp::verb::get, "/inference-profiles?type=SYSTEM_DEFINED", bearer("full-secret"));
  expect_dialect(r.res, Dialect::kBedrock, 404);
  EXPECT_NE(r.res.body.find("discovery: true"), std::string::npos) << r.res.body;
  EXPECT_TRUE(h.upstream->calls.empty());
}

// With discovery on, lists go to the control plane with only the operation's own query
// parameters, and come back holding only what the client's allowlist admits.
TEST(Pipeline, DiscoveryListsAreFilteredToTheAllowlist) {
  Harness h(true, "discovery: true\n");
  Scripted listing;
  listing.headers = {{"Content-Type", "application/json"}, {"x-amzn-RequestId", "cp-1"}};
  listing.pieces = {R"({"inferenceProfileSummaries":[
      {"inferenceProfileId":"us.anthropic.claude-3-haiku-20240307-v1:0","inferenceProfileArn":"arn:aws:bedrock:us-east-1:1:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0"},
      {"inferenceProfileId":"us.meta.llama3-2-1b-instruct-v1:0"}],"nextToken":"n2"})"};
  h.upstream->script.push_back(listing);
  const auto r = h.call(bhttp::verb::get, "/inference-profiles?typeEquals=SYSTEM_DEFINED&nextToken=a%2Bb&evil=1",
                        bearer("lister-secret"));
  EXPECT_EQ(r.res.status, 200u) << r.res.body;
  const json j = json::parse(r.res.body);
  ASSERT_EQ(j["inferenceProfileSummaries"].size(), 1u) << j;  // us.anthropic.*: not the llama profile
  EXPECT_EQ(j["inferenceProfileSummaries"][0]["inferenceProfileId"], "us.anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_EQ(j["nextToken"], "n2");
  ASSERT_EQ(h.upstream->calls.size(), 1u);
  const UpstreamCall& call = h.upstream->calls[0];
  EXPECT_TRUE(call.control_plane);
  EXPECT_EQ(call.method, "GET");
  EXPECT_EQ(call.path, "/inference-profiles");
  EXPECT_EQ(call.query, "type=SYSTEM_DEFINED&nextToken=a%2Bb");
  EXPECT_EQ(call.operation, aws::Operation::kDiscovery);

  h.upstream->script.push_back(listing);
  const auto full = h.call(bhttp::verb::get, "/inference-profiles", bearer("full-secret"));
  EXPECT_EQ(json::parse(full.res.body)["inferenceProfileSummaries"].size(), 2u);
  // One profile the client may not call: 403, and nothing sent; one it may: sent, encoded.
  expect_dialect(
      h.call(bhttp::verb::get, "/inference-profiles/us.meta.llama3-2-1b-instruct-v1%3A0", bearer("lister-secret")).res,
      Dialect::kBedrock, 403);
  EXPECT_EQ(h.upstream->calls.size(), 2u);
  h.call(bhttp::verb::get, "/inference-profiles/us.anthropic.claude-3-haiku-20240307-v1:0", bearer("lister-secret"));
  ASSERT_EQ(h.upstream->calls.size(), 3u);
  EXPECT_EQ(h.upstream->calls[2].path, "/inference-profiles/us.anthropic.claude-3-haiku-20240307-v1%3A0");
  // A client whose operations leave discovery out is refused it.
  expect_dialect(h.call(bhttp::verb::get, "/foundation-models", bearer("haiku-secret")).res, Dialect::kBedrock, 403);
}

}  // namespace
}  // namespace signgate::gateway

namespace signgate::gateway {
namespace {

// A Titan answer: `first`, then 0.5 up to `dimension` values.
Scripted titan(double first, int dimension = 1024) {
  Scripted s;
  s.headers = {{"Content-Type", "application/json"}};
  std::string v = std::to_string(first);
  for (int i = 1; i < dimension; ++i) v += ",0.5";
  s.pieces = {R"({"embedding":[)" + v + R"(],"inputTextTokenCount":2})"};
  return s;
}

// An array of texts fans out one call per text on Titan, each signed with the same
// credentials; the vectors come back in input order, as base64 float32 when asked.
TEST(Pipeline, EmbeddingsFanOutInInputOrder) {
  Harness h;
  for (int i = 0; i < 6; ++i) h.upstream->script.push_back(titan(i, 256));
  const auto r =
      h.call(bhttp::verb::post, "/v1/embeddings", bearer("full-secret"),
             R"({"model":"amazon.titan-embed-text-v2:0","input":["a","b","c","d","e","f"],"dimensions":256})");
  ASSERT_EQ(r.res.status, 200u) << r.res.body;
  const json j = json::parse(r.res.body);
  ASSERT_EQ(j["data"].size(), 6u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(j["data"][i]["index"], i);
    EXPECT_EQ(j["data"][i]["embedding"][0], static_cast<double>(i));  // the i-th call's answer
  }
  EXPECT_EQ(j["usage"]["prompt_tokens"], 12);
  ASSERT_EQ(h.upstream->calls.size(), 6u);
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(h.upstream->calls[i].operation, aws::Operation::kInvoke);
    EXPECT_EQ(json::parse(h.upstream->calls[i].body)["inputText"], std::string(1, static_cast<char>('a' + i)));
    EXPECT_EQ(json::parse(h.upstream->calls[i].body)["dimensions"], 256);
    EXPECT_EQ(h.upstream->access_keys[i], "AKIDEXAMPLE");
  }
  const auto lines = h.audit_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["input_tokens"], 12);

  h.upstream->script.push_back(titan(1.0, 256));
  const auto b64 =
      h.call(bhttp::verb::post, "/v1/embeddings", bearer("full-secret"),
             R"({"model":"amazon.titan-embed-text-v2:0","input":"a","encoding_format":"base64","dimensions":256})");
  // 1.0f, 0.5f, ... as little-endian float32: 00 00 80 3f, then 00 00 00 3f.
  std::string floats("\0\0\x80\x3f", 4);
  for (int i = 1; i < 256; ++i) floats += std::string("\0\0\0\x3f", 4);
  EXPECT_EQ(json::parse(b64.res.body)["data"][0]["embedding"], base64_encode(floats));
  // A vector of another length than asked for is an unreadable answer.
  h.upstream->script.push_back(titan(1.0, 3));
  expect_dialect(h.call(bhttp::verb::post, "/v1/embeddings", bearer("full-secret"),
                        R"({"model":"amazon.titan-embed-text-v2:0","input":"a"})")
                     .res,
                 Dialect::kOpenAI, 502);
}

// One failing call of a fan-out makes the whole answer a refusal in OpenAI's shape: Bedrock's
// status for an error answer, 502 for a broken connection; nothing half-sent.
TEST(Pipeline, EmbeddingsFanOutFailureIsOneRefusal) {
  Harness h;
  h.upstream->script.push_back(titan(0));
  Scripted throttled;
  throttled.status = 429;
  throttled.headers = {{"x-amzn-ErrorType", "ThrottlingException"}};
  throttled.pieces = {R"({"message":"Too many requests"})"};
  h.upstream->script.push_back(throttled);
  h.upstream->script.push_back(titan(2));
  const auto r = h.call(bhttp::verb::post, "/v1/embeddings", bearer("full-secret"),
                        R"({"model":"amazon.titan-embed-text-v2:0","input":["a","b","c"]})");
  expect_dialect(r.res, Dialect::kOpenAI, 429);
  EXPECT_EQ(json::parse(r.res.body)["error"]["message"], "Too many requests");
  {
    // The texts Bedrock embedded before the refusal were billed: priced and charged all the same
    // (Titan Text Embeddings v2 at $0.02 a million tokens, 2 tokens a text).
    const auto line = h.audit_lines().back();
    const auto input = line["input_tokens"].get<std::uint64_t>();
    EXPECT_GE(input, 2u) << line.dump();
    EXPECT_DOUBLE_EQ(line["cost_usd"].get<double>(), static_cast<double>(input) * 0.02 / 1e6) << line.dump();
  }

  h.upstream->script.push_back(titan(0));
  h.upstream->script.push_back(failing(ErrorKind::kBroken));
  const auto broken = h.call(bhttp::verb::post, "/v1/embeddings", bearer("full-secret"),
                             R"({"model":"amazon.titan-embed-text-v2:0","input":["a","b"]})");
  expect_dialect(broken.res, Dialect::kOpenAI, 502);

  Scripted short_answer;
  short_answer.headers = {{"Content-Type", "application/json"}};
  short_answer.pieces = {R"({"embeddings":[[0.1]],"response_type":"embeddings_floats"})"};
  h.upstream->script.push_back(short_answer);
  const auto cohere = h.call(bhttp::verb::post, "/v1/embeddings", bearer("full-secret"),
                             R"({"model":"cohere.embed-english-v3","input":["a","b"]})");
  expect_dialect(cohere.res, Dialect::kOpenAI, 502);  // 1 vector for 2 texts
  EXPECT_EQ(json::parse(h.upstream->calls.back().body)["texts"].size(), 2u);

  // A model the client may not use is refused before any call, as invoke on that model.
  const std::size_t before = h.upstream->calls.size();
  const auto denied = h.call(bhttp::verb::post, "/v1/embeddings", bearer("haiku-secret"),
                             R"({"model":"amazon.titan-embed-text-v2:0","input":"a"})");
  expect_dialect(denied.res, Dialect::kOpenAI, 403);
  EXPECT_EQ(h.upstream->calls.size(), before);
}

// A stored response continues with previous_response_id, for its own client only.
TEST(Pipeline, ResponsesContinueFromTheStoreForTheirClientOnly) {
  Harness h;
  h.upstream->script.push_back(converse_ok());
  const auto first = h.call(bhttp::verb::post, "/v1/responses", bearer("full-secret"),
                            R"({"model":"fast","input":"Hi","instructions":"Be brief."})");
  ASSERT_EQ(first.res.status, 200u) << first.res.body;
  const json r1 = json::parse(first.res.body);
  EXPECT_EQ(r1["output"][0]["content"][0]["text"], "hi");
  const std::string id = r1["id"];
  h.upstream->script.push_back(converse_ok());
  const auto second = h.call(bhttp::verb::post, "/v1/responses", bearer("full-secret"),
                             R"({"model":"fast","input":"More","previous_response_id":")" + id + R"("})");
  ASSERT_EQ(second.res.status, 200u) << second.res.body;
  const json sent = json::parse(h.upstream->calls.back().body);
  EXPECT_EQ(sent["messages"], json::parse(R"([{"role":"user","content":[{"text":"Hi"}]},
      {"role":"assistant","content":[{"text":"hi"}]},{"role":"user","content":[{"text":"More"}]}])"));
  EXPECT_FALSE(sent.contains("system"));  // instructions are not carried over
  // Another client may not continue it, and learns nothing about it.
  const auto other = h.call(bhttp::verb::post, "/v1/responses", bearer("guarded-secret"),
                            R"({"model":"fast","input":"More","previous_response_id":")" + id + R"("})");
  expect_dialect(other.res, Dialect::kOpenAI, 400);
  EXPECT_EQ(json::parse(other.res.body)["error"]["param"], "previous_response_id");
  // store: false keeps nothing.
  h.upstream->script.push_back(converse_ok());
  const auto unstored = h.call(bhttp::verb::post, "/v1/responses", bearer("full-secret"),
                               R"({"model":"fast","input":"Hi","store":false})");
  const std::string id3 = json::parse(unstored.res.body)["id"];
  const auto gone = h.call(bhttp::verb::post, "/v1/responses", bearer("full-secret"),
                           R"({"model":"fast","input":"x","previous_response_id":")" + id3 + R"("})");
  expect_dialect(gone.res, Dialect::kOpenAI, 400);
}

}  // namespace
}  // namespace signgate::gateway

namespace signgate::gateway {
namespace {

// Every answer carries x-request-id, the audit line's request_id: answers relayed from Bedrock,
// streams, local answers, refusals before and after the key is known, and unrouted paths.
TEST(Pipeline, EveryAnswerNamesItsRequest) {
  Harness h;
  std::vector<std::string> ids;
  h.upstream->script.push_back(converse_ok());
  ids.push_back(h.call(bhttp::verb::post, "/v1/chat/completions", bearer("full-secret"),
                       R"({"model":"fast","messages":[{"role":"user","content":"hi"}]})")
                    .res.header("x-request-id"));
  ids.push_back(h.call(bhttp::verb::post, "/v1/responses", bearer("nobody"), R"({"model":"fast","input":"hi"})")
                    .res.header("x-request-id"));
  ids.push_back(h.call(bhttp::verb::get, "/v1/models", bearer("full-secret")).res.header("x-request-id"));
  ids.push_back(h.call(bhttp::verb::post, "/v1/nothing", bearer("full-secret")).res.header("x-request-id"));
  h.upstream->script.push_back(converse_ok());
  ids.push_back(h.call(bhttp::verb::post, std::string("/model/") + kModel + "/converse", bearer("full-secret"),
                       R"({"messages":[{"role":"user","content":[{"text":"hi"}]}]})")
                    .res.header("x-request-id"));
  ids.push_back(h.call(bhttp::verb::post, "/v1/messages", bearer("full-secret"), "{broken").res.header("x-request-id"));
  const auto lines = h.audit_lines();
  ASSERT_EQ(lines.size(), ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(ids[i].size(), 32u) << i;
    EXPECT_EQ(lines[i]["request_id"], ids[i]) << i;
  }
}

// Request ids name stored data (resp_..., item ids): 200,000 from four threads never repeat, and are not all alike.
TEST(RequestIds, NeverRepeatAcrossThreads) {
  std::vector<std::vector<std::string>> drawn(4);
  std::vector<std::thread> threads;
  for (auto& out : drawn) {
    threads.emplace_back([&out] {
      for (int i = 0; i < 50000; ++i) out.push_back(new_request_id());
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> seen;
  for (const auto& out : drawn) seen.insert(out.begin(), out.end());
  EXPECT_EQ(seen.size(), 200000u);
}

// A forked child does not hand out the bytes its parent's pool still held: the two processes'
// ids never meet.
TEST(RequestIds, TwoProcessesNeverMeet) {
  (void)new_request_id();  // the parent's pool now holds bytes a child would inherit
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    for (int i = 0; i < 1000; ++i) {
      const std::string id = new_request_id() + "\n";
      if (write(fds[1], id.data(), id.size()) != static_cast<ssize_t>(id.size())) _exit(1);
    }
    _exit(0);
  }
  close(fds[1]);
  std::set<std::string> parent;
  for (int i = 0; i < 1000; ++i) parent.insert(new_request_id());
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::size_t children = 0;
  for (std::size_t at = 0; at < text.size(); at += 33, ++children) {
    EXPECT_EQ(parent.count(text.substr(at, 32)), 0u) << "the child repeated a parent's id";
  }
  EXPECT_EQ(children, 1000u);
}

}  // namespace
}  // namespace signgate::gateway
