// Anthropic Messages ⇄ InvokeModel: the body Bedrock gets, and the SSE the SDK reads.
#include "api/anthropic/messages.h"

#include <gtest/gtest.h>

#include "common/base64.h"

namespace signgate::api::anthropic {
namespace {

using nlohmann::json;
namespace es = aws::eventstream;

TEST(AnthropicRequest, ModelAndStreamMoveOutVersionGoesIn) {
  auto r = to_invoke(R"({"model":"claude-haiku","max_tokens":20,"stream":true,"system":"Be brief",
                         "messages":[{"role":"user","content":"Hi"}]})",
                     {{"claude-haiku", "anthropic.claude-3-haiku-20240307-v1:0"}});
  ASSERT_TRUE(std::holds_alternative<MessagesRequest>(r));
  const auto& m = std::get<MessagesRequest>(r);
  EXPECT_EQ(m.model_id, "anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_TRUE(m.stream);
  EXPECT_EQ(json::parse(m.bedrock_body), json::parse(R"({"anthropic_version":"bedrock-2023-05-31","max_tokens":20,
      "system":"Be brief","messages":[{"role":"user","content":"Hi"}]})"));
}

TEST(AnthropicRequest, MissingFieldsAreInvalidRequests) {
  EXPECT_EQ(std::get<ApiError>(to_invoke(R"({"max_tokens":1,"messages":[]})", {})).message, "model: field required");
  EXPECT_EQ(std::get<ApiError>(to_invoke(R"({"model":"m","messages":[]})", {})).message, "max_tokens: field required");
  EXPECT_EQ(std::get<ApiError>(to_invoke("nope", {})).status, 400u);
  EXPECT_EQ(error_body({429, error_type_for(429), "slow"}),
            json::parse(R"({"type":"error","error":{"type":"rate_limit_error","message":"slow"}})"));
  EXPECT_EQ(error_type_for(503), "overloaded_error");
}

TEST(AnthropicStream, ChunksAreUnwrappedIntoEvents) {
  EventUnwrapper u;
  es::Message m;
  m.headers = {{":message-type", es::HeaderValue::string("event")}, {":event-type", es::HeaderValue::string("chunk")}};
  const std::string event =
      R"({"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":12,"outputTokenCount":5}})";
  m.payload = json{{"bytes", base64_encode(event)}}.dump();
  EXPECT_EQ(u.on_message(m), "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
  EXPECT_EQ(u.output_tokens, 5u);
  EXPECT_EQ(u.input_tokens, 12u);
}

es::Message chunk_of(const std::string& event) {
  es::Message m;
  m.headers = {{":message-type", es::HeaderValue::string("event")}, {":event-type", es::HeaderValue::string("chunk")}};
  m.payload = json{{"bytes", base64_encode(event)}}.dump();
  return m;
}

// Ordinary events pass through byte for byte (only their type is read); one spread over
// lines is rewritten on one line, since an SSE data: field cannot hold a line break.
TEST(AnthropicStream, OrdinaryEventsPassThroughAndMultiLineOnesAreRewritten) {
  EventUnwrapper u;
  const std::string delta =
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"h\u00e9"}})";
  EXPECT_EQ(u.on_message(chunk_of(delta)), "event: content_block_delta\ndata: " + delta + "\n\n");
  const std::string spread = "{\n  \"type\": \"ping\"\n}";
  EXPECT_EQ(u.on_message(chunk_of(spread)), "event: ping\ndata: {\"type\":\"ping\"}\n\n");
  // A type with a line break would inject SSE lines: such an event is dropped.
  EXPECT_EQ(u.on_message(chunk_of(R"({"type":"evil\nevent: x"})")), "");
}

TEST(AnthropicStream, ExceptionsBecomeErrorEvents) {
  EventUnwrapper u;
  es::Message m;
  m.headers = {{":message-type", es::HeaderValue::string("exception")},
               {":exception-type", es::HeaderValue::string("modelStreamErrorException")}};
  m.payload = R"({"message":"boom"})";
  EXPECT_EQ(u.on_message(m),
            "event: error\ndata: {\"error\":{\"message\":\"modelStreamErrorException: "
            "boom\",\"type\":\"api_error\"},\"type\":\"error\"}\n\n");
}

// Bedrock's words about signgate's own identity (an ARN, an account) do not reach the caller.
TEST(AnthropicStream, ExceptionTextLosesArnsAndAccounts) {
  EventUnwrapper u;
  es::Message m;
  m.headers = {{":message-type", es::HeaderValue::string("exception")},
               {":exception-type", es::HeaderValue::string("validationException")}};
  m.payload = R"({"message":"User: arn:aws:sts::123456789012:assumed-role/r/s may not"})";
  EXPECT_EQ(u.on_message(m),
            "event: error\ndata: {\"error\":{\"message\":\"validationException: User: <sts assumed-role ARN> may "
            "not\",\"type\":\"api_error\"},\"type\":\"error\"}\n\n");
}

// A PNG whose header says w x h (the pixels themselves are never read).
std::string png(std::uint32_t w, std::uint32_t h) {
  std::string b("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
  for (const std::uint32_t v : {w, h}) {
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<char>((v >> shift) & 0xFF));
  }
  return base64_encode(b + std::string(40, '\0'));
}

json image_request(const std::string& data, const char* media = "image/png") {
  return {{"messages",
           {{{"role", "user"},
             {"content",
              {{{"type", "image"}, {"source", {{"type", "base64"}, {"media_type", media}, {"data", data}}}}}}}}}};
}

// The estimate errs high: text at 2.5 bytes a token, overheads on top; more text, more tokens.
TEST(AnthropicEstimate, TextErrsHigh) {
  const std::string english(4000, 'a');  // ~1,000 tokens of English text for Claude's tokenizers
  const json r = {{"system", "Be brief"}, {"messages", {{{"role", "user"}, {"content", english}}}}};
  const auto n = estimate_input_tokens(r);
  EXPECT_GE(n, 1600u);
  EXPECT_LE(n, 1700u);
  const json longer = {{"system", "Be brief"}, {"messages", {{{"role", "user"}, {"content", english + english}}}}};
  EXPECT_GT(estimate_input_tokens(longer), n);
  // A CJK character (3 bytes) counts 1.5 tokens; the empty request its fixed overhead.
  const json cjk = {{"messages", {{{"role", "user"}, {"content", "\xe4\xbd\xa0\xe5\xa5\xbd"}}}}};
  EXPECT_GE(estimate_input_tokens(cjk), 32u + 8u + 3u);
  EXPECT_EQ(estimate_input_tokens(json::object()), 32u);
}

// Tools add Anthropic's tool-use prompt and their schemas; thinking signatures add nothing.
TEST(AnthropicEstimate, ToolsAndSignatures) {
  const json base = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  json with_tool = base;
  with_tool["tools"] = json::parse(R"([{"name":"Bash","description":"Run a command",
      "input_schema":{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}}])");
  EXPECT_GE(estimate_input_tokens(with_tool), estimate_input_tokens(base) + 400 + 16 + 30);
  const json signed_turn = {
      {"messages",
       {{{"role", "assistant"},
         {"content", {{{"type", "thinking"}, {"thinking", ""}, {"signature", std::string(9000, 'S')}}}}}}}};
  EXPECT_LT(estimate_input_tokens(signed_turn), 100u);
}

// Images by Anthropic's formula from their header, capped; unknown sizes cost the cap.
TEST(AnthropicEstimate, ImagesByTheirSize) {
  const auto small = estimate_input_tokens(image_request(png(200, 150)));
  const auto big = estimate_input_tokens(image_request(png(1000, 1000)));
  const auto huge = estimate_input_tokens(image_request(png(100000, 100000)));
  const auto unknown = estimate_input_tokens(image_request(base64_encode("not an image at all")));
  EXPECT_GE(big - small, 1334u - 40u);
  EXPECT_GE(huge, 5000u);
  EXPECT_LT(huge, 5200u);
  EXPECT_GE(unknown, 5000u);
  EXPECT_GE(estimate_input_tokens(image_request("!!!not base64")), 5000u);
  // GIF and JPEG headers too.
  std::string gif("GIF89a", 6);
  gif += std::string("\x20\x03\x58\x02", 4) + std::string(20, '\0');  // 800 x 600
  EXPECT_GE(estimate_input_tokens(image_request(base64_encode(gif), "image/gif")), 640u);
  EXPECT_LT(estimate_input_tokens(image_request(base64_encode(gif), "image/gif")), 800u);
  std::string jpeg("\xFF\xD8\xFF\xE0\x00\x04\x00\x00\xFF\xC0\x00\x11\x08\x02\x58\x03\x20", 17);  // 800 x 600
  jpeg += std::string(20, '\0');
  EXPECT_GE(estimate_input_tokens(image_request(base64_encode(jpeg), "image/jpeg")), 640u);
  EXPECT_LT(estimate_input_tokens(image_request(base64_encode(jpeg), "image/jpeg")), 800u);
}

// A PDF costs a page's text and image per page.
TEST(AnthropicEstimate, DocumentsPerPage) {
  const std::string pdf =
      "%PDF-1.7\n1 0 obj <</Type /Pages /Count 3>>\n2 0 obj <</Type /Page>>\n"
      "3 0 obj <</Type/Page>>\n4 0 obj <</Type /Page /Parent 1 0 R>>\n%%EOF";
  json r = {
      {"messages",
       {{{"role", "user"},
         {"content",
          {{{"type", "document"},
            {"source", {{"type", "base64"}, {"media_type", "application/pdf"}, {"data", base64_encode(pdf)}}}}}}}}}};
  EXPECT_GE(estimate_input_tokens(r), 3u * 8000u);
  EXPECT_LT(estimate_input_tokens(r), 4u * 8000u);
}

// A hostile body costs work linear in its size, and no sum wraps around.
TEST(AnthropicEstimate, HostileBodiesAreBounded) {
  json blocks = json::array();
  for (int i = 0; i < 20000; ++i) blocks.push_back({{"type", "image"}, {"source", {{"type", "url"}, {"url", "u"}}}});
  const json r = {{"messages", {{{"role", "user"}, {"content", blocks}}}}};
  EXPECT_GE(estimate_input_tokens(r), 20000u * 5000u);
  std::string deep = R"({"messages":[{"role":"user","content":)";
  for (int i = 0; i < 100; ++i) deep += "[";
  deep += "1e308";
  for (int i = 0; i < 100; ++i) deep += "]";
  deep += "}]}";
  EXPECT_GT(estimate_input_tokens(json::parse(deep)), 0u);
}

// count_tokens carries the estimate; its service_tier never reaches Bedrock.
TEST(AnthropicCountTokens, CarriesTheEstimate) {
  auto r = to_count_tokens(R"({"model":"m","service_tier":"auto","messages":[{"role":"user","content":"Hi"}]})", {});
  ASSERT_TRUE(std::holds_alternative<CountTokensRequest>(r));
  const auto& c = std::get<CountTokensRequest>(r);
  EXPECT_GE(c.estimate, 32u + 8u + 1u);
  const auto inner = base64_decode(json::parse(c.bedrock_body)["input"]["invokeModel"]["body"].get<std::string>());
  EXPECT_FALSE(json::parse(*inner).contains("service_tier"));
}

// Only CountTokens refusing the model itself becomes an estimate.
TEST(AnthropicCountTokens, WhichRefusalIsEstimated) {
  const std::string said = R"({"message":"The provided model doesn't support counting tokens."})";
  EXPECT_TRUE(
      counting_unsupported(400, "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/", said));
  EXPECT_TRUE(counting_unsupported(400, "ValidationException", said));
  EXPECT_FALSE(counting_unsupported(400, "ValidationException", R"({"message":"Malformed input request"})"));
  EXPECT_FALSE(counting_unsupported(429, "ThrottlingException", said));
  EXPECT_FALSE(counting_unsupported(400, "AccessDeniedException", said));
  EXPECT_FALSE(counting_unsupported(400, "ValidationException", "[[[[[[[[[[[[[["));
}

// CountTokens wants the model a cross-Region profile serves.
TEST(AnthropicCountTokens, ProfileModel) {
  EXPECT_EQ(profile_model("us.anthropic.claude-sonnet-4-5-20250929-v1:0"), "anthropic.claude-sonnet-4-5-20250929-v1:0");
  EXPECT_EQ(profile_model("global.anthropic.claude-opus-4-6-v1"), "anthropic.claude-opus-4-6-v1");
  EXPECT_EQ(profile_model("us-gov.anthropic.claude-3-haiku-20240307-v1:0"), "anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_EQ(profile_model("anthropic.claude-3-haiku-20240307-v1:0"), "anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_EQ(profile_model("arn:aws:bedrock:us-east-1:1:application-inference-profile/x"),
            "arn:aws:bedrock:us-east-1:1:application-inference-profile/x");
  EXPECT_EQ(profile_model("claude-sonnet"), "claude-sonnet");
}

// Anthropic's service_tier: auto and standard_only are Bedrock's default (no header), priority
// and flex a header where the model has them (Claude: nowhere yet), anything else a 400; never a
// body key Bedrock would refuse.
TEST(AnthropicRequest, ServiceTier) {
  const auto tier_of = [](const char* value, const char* model = "amazon.nova-pro-v1:0") {
    auto r = to_invoke(
        std::string(R"({"model":")") + model + R"(","max_tokens":5,"messages":[],"service_tier":)" + value + "}", {});
    if (auto* e = std::get_if<ApiError>(&r)) return "error: " + e->message;
    EXPECT_FALSE(json::parse(std::get<MessagesRequest>(r).bedrock_body).contains("service_tier"));
    return std::get<MessagesRequest>(r).service_tier;
  };
  EXPECT_EQ(tier_of(R"("auto")"), "");
  EXPECT_EQ(tier_of(R"("standard_only")"), "");
  EXPECT_EQ(tier_of(R"("priority")"), "priority");
  EXPECT_EQ(tier_of(R"("flex")"), "flex");
  EXPECT_EQ(tier_of(R"("flex")", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"), "");
  EXPECT_EQ(tier_of(R"("priority")", "us.anthropic.claude-opus-4-5-20251101-v1:0"), "");
  EXPECT_EQ(tier_of(R"("reserved")"), "error: service_tier: must be auto, standard_only, priority or flex");
  EXPECT_EQ(tier_of("7"), "error: service_tier: must be auto, standard_only, priority or flex");
  EXPECT_EQ(anthropic_service_tier(""), "standard");
  EXPECT_EQ(anthropic_service_tier("default"), "standard");
  EXPECT_EQ(anthropic_service_tier("priority"), "priority");
}

// The answer's usage says the tier that served, whole and streamed.
TEST(AnthropicResponse, UsageSaysTheServiceTier) {
  const json whole = json::parse(with_service_tier(R"({"type":"message","usage":{"input_tokens":3}})", "standard", 64));
  EXPECT_EQ(whole["usage"]["service_tier"], "standard");
  EXPECT_EQ(with_service_tier("not json", "flex", 64), "not json");
  EventUnwrapper u;
  u.service_tier = "flex";
  const std::string start = R"({"type":"message_start","message":{"usage":{"input_tokens":12,"output_tokens":1}}})";
  const std::string sse = u.on_message(chunk_of(start));
  EXPECT_NE(sse.find(R"("service_tier":"flex")"), std::string::npos) << sse;
  EXPECT_EQ(u.input_tokens, 12u);
}

}  // namespace
}  // namespace signgate::api::anthropic
