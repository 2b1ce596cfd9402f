// OpenAI chat completions ⇄ Converse: what a client sends becomes the Converse body Bedrock
// expects, and Bedrock's answer becomes what the openai package parses.
#include "api/openai/chat.h"

#include <gtest/gtest.h>

namespace signgate::api::openai {
namespace {

using nlohmann::json;

const std::map<std::string, std::string> kAliases{{"claude-haiku", "anthropic.claude-3-haiku-20240307-v1:0"}};

ChatRequest ok(const json& body) {
  auto r = to_converse(body.dump(), kAliases);
  if (auto* e = std::get_if<ApiError>(&r)) ADD_FAILURE() << e->message << " (" << e->param << ")";
  return std::get<ChatRequest>(r);
}

ApiError refused(const std::string& body) {
  auto r = to_converse(body, kAliases);
  EXPECT_TRUE(std::holds_alternative<ApiError>(r)) << body;
  return std::holds_alternative<ApiError>(r) ? std::get<ApiError>(r) : ApiError{};
}

// A typical request: an alias, a system prompt, a user turn, sampling limits and stop.
// The answer path takes Converse's bytes: these tests write the answer as JSON and read the
// chat.completion back as JSON.
json from_converse(const json& answer, const ChatRequest& req, std::string_view id, std::int64_t created) {
  auto out = completion_from_converse(answer.dump(), req, id, created);
  EXPECT_TRUE(out.has_value());
  return out ? json::parse(out->body) : json();
}

TEST(OpenAiRequest, TypicalChatBecomesConverse) {
  const auto r =
      ok({{"model", "claude-haiku"},
          {"messages", {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hi"}}}},
          {"max_tokens", 100},
          {"temperature", 0.2},
          {"top_p", 0.9},
          {"stop", "END"},
          {"user", "u-42"},
          {"stream", true},
          {"stream_options", {{"include_usage", true}}}});
  EXPECT_EQ(r.model_name, "claude-haiku");
  EXPECT_EQ(r.model_id, "anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.user, "u-42");
  EXPECT_EQ(r.converse, json::parse(R"({
    "system":[{"text":"Be brief."}],
    "messages":[{"role":"user","content":[{"text":"Hi"}]}],
    "inferenceConfig":{"maxTokens":100,"temperature":0.2,"topP":0.9,"stopSequences":["END"]}})"));
}

TEST(OpenAiRequest, ImagesAsBase64AndTextParts) {
  const auto r =
      ok({{"model", "m"},
          {"messages",
           {{{"role", "user"},
             {"content",
              {{{"type", "text"}, {"text", "What is this?"}},
               {{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64,iVBORw0KGgo="}}}}}}}}}});
  EXPECT_EQ(r.converse["messages"][0]["content"][1],
            json::parse(R"({"image":{"format":"png","source":{"bytes":"iVBORw0KGgo="}}})"));
  const auto e = refused(
      R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/cat.png"}}]}]})");
  EXPECT_EQ(e.param, "messages[0].content[0].image_url");
}

// A tool round trip: tools → toolConfig, assistant tool_calls → toolUse, tool → toolResult.
TEST(OpenAiRequest, ToolRoundTrip) {
  const auto r = ok(json::parse(R"({
    "model":"m","tool_choice":"required",
    "tools":[{"type":"function","function":{"name":"get_weather","description":"Weather",
              "parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
    "messages":[
      {"role":"user","content":"Weather in Paris?"},
      {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
        "function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
      {"role":"tool","tool_call_id":"call_1","content":"18C"},
      {"role":"user","content":"Thanks"}]})"));
  EXPECT_EQ(r.converse["toolConfig"],
            json::parse(R"({"tools":[{"toolSpec":{"name":"get_weather","description":"Weather",
      "inputSchema":{"json":{"type":"object","properties":{"city":{"type":"string"}}}}}}],"toolChoice":{"any":{}}})"));
  EXPECT_EQ(r.converse["messages"], json::parse(R"([
      {"role":"user","content":[{"text":"Weather in Paris?"}]},
      {"role":"assistant","content":[{"toolUse":{"toolUseId":"call_1","name":"get_weather","input":{"city":"Paris"}}}]},
      {"role":"user","content":[{"toolResult":{"toolUseId":"call_1","content":[{"text":"18C"}]}},{"text":"Thanks"}]}])"));
}

TEST(OpenAiRequest, MeaningChangingFieldsAreRefusedByName) {
  EXPECT_EQ(refused(R"({"model":"m","messages":[{"role":"user","content":"x"}],"n":2})").param, "n");
  EXPECT_EQ(refused(R"({"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":true})").param, "logprobs");
  EXPECT_EQ(
      refused(R"({"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema"}})")
          .param,
      "response_format.schema");
  EXPECT_EQ(refused(R"({"model":"m","messages":[{"role":"user","content":"x"}],"presence_penalty":0.5})").param,
            "presence_penalty");
  EXPECT_EQ(refused(R"({"messages":[{"role":"user","content":"x"}]})").param, "model");
  EXPECT_EQ(refused(R"({"model":"m","messages":[]})").param, "messages");
  EXPECT_EQ(refused(R"({"model":"m","messages":[{"role":"wizard","content":"x"}]})").param, "messages[0].role");
  EXPECT_EQ(refused("{not json").message, "the body is not valid JSON");
  EXPECT_EQ(refused(R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0})").param, "max_tokens");
  // Harmless ones are ignored.
  ok(json::parse(
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"seed":7,"presence_penalty":0,"parallel_tool_calls":true})"));
}

TEST(OpenAiResponse, FinishReasons) {
  EXPECT_EQ(finish_reason("end_turn"), "stop");
  EXPECT_EQ(finish_reason("stop_sequence"), "stop");
  EXPECT_EQ(finish_reason("max_tokens"), "length");
  EXPECT_EQ(finish_reason("tool_use"), "tool_calls");
  EXPECT_EQ(finish_reason("guardrail_intervened"), "content_filter");
  EXPECT_EQ(finish_reason("content_filtered"), "content_filter");
}

TEST(OpenAiResponse, TextAndToolCallsWithUsage) {
  ChatRequest req;
  req.model_name = "claude-haiku";
  const json answer = json::parse(R"({"output":{"message":{"role":"assistant","content":[
      {"text":"Let me check."},{"toolUse":{"toolUseId":"tu_1","name":"get_weather","input":{"city":"Paris"}}}]}},
      "stopReason":"tool_use","usage":{"inputTokens":12,"outputTokens":5,"totalTokens":17}})");
  EXPECT_EQ(from_converse(answer, req, "chatcmpl-1", 1700000000), json::parse(R"({
      "id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"claude-haiku",
      "choices":[{"index":0,"logprobs":null,"finish_reason":"tool_calls","message":{"role":"assistant","content":"Let me check.",
        "tool_calls":[{"id":"tu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}}],
      "service_tier":"default","usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}})"));
}

TEST(OpenAiResponse, AnAnswerThatIsNotAnObjectOrTooDeepIsNone) {
  ChatRequest req;
  EXPECT_FALSE(completion_from_converse("[1,2]", req, "id", 1));
  EXPECT_FALSE(completion_from_converse("{not json", req, "id", 1));
  EXPECT_FALSE(completion_from_converse("", req, "id", 1));
  EXPECT_FALSE(completion_from_converse(R"({"a":1} trailing)", req, "id", 1));
  const std::string deep = R"({"output":)" + std::string(200, '[') + std::string(200, ']') + "}";
  EXPECT_FALSE(completion_from_converse(deep, req, "id", 1, 128));
  EXPECT_TRUE(completion_from_converse(deep, req, "id", 1, 512));
  // Deeper than simdjson's own default (1,024), within a configured max_json_depth.
  const std::string deeper = R"({"output":)" + std::string(3000, '[') + std::string(3000, ']') + "}";
  EXPECT_TRUE(completion_from_converse(deeper, req, "id", 1, 4000));
}

// Found by review: an integer beyond 64 bits is valid JSON that simdjson refuses; the answer
// is still translated (the number as a double, as before), with its usage.
TEST(OpenAiResponse, AnIntegerBeyond64BitsIsStillAnAnswer) {
  ChatRequest req;
  const auto out = completion_from_converse(
      R"({"output":{"message":{"content":[{"toolUse":{"toolUseId":"t","name":"f","input":{"id":123456789012345678901234}}}]}},)"
      R"("stopReason":"tool_use","usage":{"inputTokens":5,"outputTokens":6}})",
      req, "id", 1);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->usage.input, 5u);
  const json j = json::parse(out->body);
  EXPECT_EQ(j["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "f");
  EXPECT_DOUBLE_EQ(
      json::parse(j["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"].get<std::string>())["id"]
          .get<double>(),
      1.2345678901234568e23);
}

TEST(OpenAiResponse, TextIsEscapedAndUsageIsAsStated) {
  ChatRequest req;
  req.model_name = "m\"odel";
  const auto out = completion_from_converse(
      R"({"output":{"message":{"content":[{"text":"line\n\"q\" \u00e9 \u0001 \ud83d\ude00"}]}},"stopReason":"max_tokens",)"
      R"("usage":{"inputTokens":7,"outputTokens":3}})",
      req, "chatcmpl-9", -5);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->usage.input, 7u);
  EXPECT_EQ(out->usage.output, 3u);
  const json j = json::parse(out->body);
  EXPECT_EQ(j["choices"][0]["message"]["content"], "line\n\"q\" \u00e9 \u0001 \U0001F600");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["model"], "m\"odel");
  EXPECT_EQ(j["created"], -5);
  const auto none = completion_from_converse(R"({"usage":{"inputTokens":-1}})", req, "id", 1);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->usage.input);
  EXPECT_FALSE(none->usage.output);
  EXPECT_EQ(json::parse(none->body)["choices"][0]["message"]["content"], "");
}

TEST(OpenAiErrors, Shape) {
  EXPECT_EQ(
      error_body({400, "invalid_request_error", "n other than 1 is not supported", "n", ""}),
      json::parse(
          R"({"error":{"message":"n other than 1 is not supported","type":"invalid_request_error","param":"n","code":null}})"));
}

// Found by fuzzing: a field of the wrong type (a number where a string belongs) threw from
// nlohmann's value(). From a caller it is a 400 or ignored; from Bedrock it reads as absent.
TEST(OpenAiRequest, WrongTypedFieldsDoNotThrow) {
  EXPECT_EQ(refused(R"({"model":"m","messages":[{"role":"user","content":[{"type":1}]}]})").status, 400u);
  EXPECT_EQ(refused(R"({"model":"m","messages":[{"role":"system","content":[{"type":[],"text":"x"}]}]})").status, 400u);
  const ChatRequest r = ok(json::parse(R"({"model":"m","stream":"yes","logprobs":0,
      "response_format":{"type":7},"stream_options":{"include_usage":"no"},
      "messages":[{"role":"user","content":"hi"}]})"));
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.include_usage);
}

TEST(OpenAiResponse, WrongTypedAnswerFieldsReadAsAbsent) {
  ChatRequest req;
  req.model_name = "claude-haiku";
  const json answer = json::parse(R"({"output":{"message":{"content":[{"text":"hi"},
      {"toolUse":{"toolUseId":5,"name":null,"input":{}}}]}},"stopReason":12,
      "usage":{"inputTokens":"3","outputTokens":-1,"totalTokens":[]}})");
  const json out = from_converse(answer, req, "chatcmpl-1", 1);
  EXPECT_EQ(out["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(out["choices"][0]["message"]["tool_calls"][0]["id"], "");
  EXPECT_EQ(out["usage"]["prompt_tokens"], 0);
  EXPECT_EQ(out["usage"]["total_tokens"], 0);
}

// response_format json_schema: Converse's native structured output where the model has it
// (Claude 4.5 and later), the schema as a string as Bedrock wants it.
TEST(OpenAiStructuredOutput, JsonSchemaIsNativeOnClaude45) {
  const auto r = ok(json::parse(R"({"model":"us.anthropic.claude-sonnet-4-5-20250929-v1:0",
      "messages":[{"role":"user","content":"Capital of France?"}],
      "response_format":{"type":"json_schema","json_schema":{"name":"answer!","strict":true,
        "schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}}}})"));
  EXPECT_TRUE(r.forced_tool.empty());
  const json& fmt = r.converse["outputConfig"]["textFormat"];
  EXPECT_EQ(fmt["type"], "json_schema");
  EXPECT_EQ(fmt["structure"]["jsonSchema"]["name"], "answer");  // Bedrock's name grammar
  EXPECT_EQ(json::parse(fmt["structure"]["jsonSchema"]["schema"].get<std::string>())["required"][0], "city");
  EXPECT_FALSE(r.converse.contains("toolConfig"));
}

// Elsewhere a tool the model must call, whose input is the answer.
TEST(OpenAiStructuredOutput, JsonSchemaIsAForcedToolElsewhere) {
  const auto r = ok(json::parse(R"({"model":"claude-haiku","messages":[{"role":"user","content":"x"}],
      "response_format":{"type":"json_schema","json_schema":{"name":"answer","schema":{"type":"object"}}}})"));
  EXPECT_EQ(r.forced_tool, "answer");
  EXPECT_EQ(r.converse["toolConfig"]["toolChoice"], json::parse(R"({"tool":{"name":"answer"}})"));
  EXPECT_EQ(r.converse["toolConfig"]["tools"][0]["toolSpec"]["name"], "answer");
  const auto obj = ok(json::parse(
      R"({"model":"claude-haiku","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"}})"));
  EXPECT_EQ(obj.forced_tool, "json_response");
  // The answer: the tool's input is the content, the finish reason "stop", no tool call shown.
  const json answer = json::parse(R"({"output":{"message":{"role":"assistant","content":[
      {"toolUse":{"toolUseId":"t","name":"answer","input":{"city":"Paris"}}}]}},"stopReason":"tool_use",
      "usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3}})");
  const json out = from_converse(answer, r, "id", 1);
  EXPECT_EQ(out["choices"][0]["message"]["content"], R"({"city":"Paris"})");
  EXPECT_EQ(out["choices"][0]["finish_reason"], "stop");
  EXPECT_FALSE(out["choices"][0]["message"].contains("tool_calls"));
}

TEST(OpenAiReasoning, EffortBecomesThinkingWithinTheTokenLimit) {
  const auto r = ok(json::parse(R"({"model":"anthropic.claude-sonnet-4-5-20250929-v1:0",
      "messages":[{"role":"user","content":"x"}],"reasoning_effort":"medium","max_tokens":4000})"));
  EXPECT_TRUE(r.thinking);
  EXPECT_EQ(r.converse["additionalModelRequestFields"]["thinking"],
            json::parse(R"({"type":"enabled","budget_tokens":2976})"));
  const auto unset = ok(json::parse(R"({"model":"anthropic.claude-3-7-sonnet-20250219-v1:0",
      "messages":[{"role":"user","content":"x"}],"reasoning_effort":"high"})"));
  EXPECT_EQ(unset.converse["inferenceConfig"]["maxTokens"], 21333);
  EXPECT_EQ(unset.converse["additionalModelRequestFields"]["thinking"]["budget_tokens"], 16384);
  // Adaptive thinking from Claude 4.6 on, with the effort as Bedrock's outputConfig.effort.
  const auto adaptive = ok(json::parse(R"({"model":"global.anthropic.claude-opus-4-6-v1",
      "messages":[{"role":"user","content":"x"}],"reasoning_effort":"xhigh"})"));
  EXPECT_EQ(adaptive.converse["additionalModelRequestFields"]["thinking"]["type"], "adaptive");
  EXPECT_EQ(adaptive.converse["outputConfig"]["effort"], "xhigh");
  // Too few tokens to think in, a model that does not reason, "minimal": no thinking at all.
  for (
      const char* body :
      {R"({"model":"anthropic.claude-sonnet-4-5-20250929-v1:0","messages":[{"role":"user","content":"x"}],"reasoning_effort":"low","max_tokens":1500})",
       R"({"model":"claude-haiku","messages":[{"role":"user","content":"x"}],"reasoning_effort":"high"})",
       R"({"model":"anthropic.claude-sonnet-4-5-20250929-v1:0","messages":[{"role":"user","content":"x"}],"reasoning_effort":"minimal"})"}) {
    const auto none = ok(json::parse(body));
    EXPECT_FALSE(none.thinking) << body;
    EXPECT_FALSE(none.converse.contains("additionalModelRequestFields")) << body;
  }
  const auto nova = ok(json::parse(R"({"model":"us.amazon.nova-2-lite-v1:0","messages":[{"role":"user","content":"x"}],
      "reasoning_effort":"high","max_tokens":500,"temperature":0.3})"));
  EXPECT_EQ(nova.converse["additionalModelRequestFields"]["reasoningConfig"]["maxReasoningEffort"], "high");
  EXPECT_FALSE(nova.converse.contains("inferenceConfig"));  // Nova 2 refuses them with high effort
  EXPECT_EQ(refused(R"({"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":"max"})").param,
            "reasoning_effort");
}

TEST(OpenAiReasoning, ThinkingIsReturnedAsReasoningContent) {
  ChatRequest req;
  req.model_name = "claude";
  const json answer = json::parse(R"({"output":{"message":{"role":"assistant","content":[
      {"reasoningContent":{"reasoningText":{"text":"Paris is the capital.","signature":"sig"}}},{"text":"Paris"}]}},
      "stopReason":"end_turn","usage":{"inputTokens":10,"outputTokens":5,"totalTokens":15,
      "cacheReadInputTokens":100,"cacheWriteInputTokens":50}})");
  const json out = from_converse(answer, req, "id", 1);
  EXPECT_EQ(out["choices"][0]["message"]["reasoning_content"], "Paris is the capital.");
  EXPECT_EQ(out["choices"][0]["message"]["content"], "Paris");
  // OpenAI counts cached tokens inside prompt_tokens; Bedrock's inputTokens leaves them out.
  EXPECT_EQ(out["usage"], json::parse(R"({"prompt_tokens":160,"completion_tokens":5,"total_tokens":165,
      "prompt_tokens_details":{"cached_tokens":100},"cache_read_input_tokens":100,"cache_creation_input_tokens":50})"));
}

TEST(OpenAiCaching, CacheControlBecomesCachePoints) {
  const auto r = ok(json::parse(R"({"model":"m","messages":[
      {"role":"system","content":[{"type":"text","text":"Long rules","cache_control":{"type":"ephemeral","ttl":"1h"}}]},
      {"role":"user","content":[{"type":"text","text":"Doc","cache_control":{"type":"ephemeral"}},{"type":"text","text":"Q"}]},
      {"role":"assistant","content":"A","cache_control":{"type":"ephemeral"}},
      {"role":"user","content":"Q2"}],
      "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}},"cache_control":{"type":"ephemeral"}}]})"));
  EXPECT_EQ(r.converse["system"],
            json::parse(R"([{"text":"Long rules"},{"cachePoint":{"type":"default","ttl":"1h"}}])"));
  EXPECT_EQ(r.converse["messages"][0]["content"],
            json::parse(R"([{"text":"Doc"},{"cachePoint":{"type":"default"}},{"text":"Q"}])"));
  EXPECT_EQ(r.converse["messages"][1]["content"], json::parse(R"([{"text":"A"},{"cachePoint":{"type":"default"}}])"));
  EXPECT_EQ(r.converse["toolConfig"]["tools"][1], json::parse(R"({"cachePoint":{"type":"default"}})"));
  EXPECT_EQ(refused(R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x",
      "cache_control":{"type":"ephemeral","ttl":"2d"}}]}]})")
                .param,
            "messages[0].content[0].cache_control.ttl");
}

TEST(OpenAiModels, ClaudeVersionsFromAnyModelName) {
  EXPECT_EQ(claude_version("anthropic.claude-3-haiku-20240307-v1:0")->minor, 0);
  EXPECT_EQ(claude_version("anthropic.claude-3-5-sonnet-20240620-v1:0")->minor, 5);
  EXPECT_EQ(claude_version("us.anthropic.claude-3-7-sonnet-20250219-v1:0")->minor, 7);
  EXPECT_EQ(claude_version("anthropic.claude-opus-4-20250514-v1:0")->major, 4);
  EXPECT_EQ(claude_version("anthropic.claude-opus-4-20250514-v1:0")->minor, 0);
  EXPECT_EQ(claude_version("global.anthropic.claude-sonnet-4-5-20250929-v1:0")->minor, 5);
  EXPECT_TRUE(claude_version("anthropic.claude-opus-4-6-v1")->at_least(4, 6));
  EXPECT_TRUE(claude_version("claude-sonnet-5")->at_least(4, 6));
  EXPECT_FALSE(claude_version("anthropic.claude-v2:1").has_value());
  EXPECT_FALSE(claude_version("amazon.nova-pro-v1:0").has_value());
}

}  // namespace
}  // namespace signgate::api::openai

namespace signgate::api::openai {
namespace {

// service_tier where the model has it: Converse's serviceTier, and the answer says which served.
TEST(OpenAiServiceTier, AskedServedAndGatedByModel) {
  const std::map<std::string, std::string> aliases{{"nova", "us.amazon.nova-pro-v1:0"},
                                                   {"claude-haiku", "anthropic.claude-3-haiku-20240307-v1:0"}};
  const auto nova = std::get<ChatRequest>(
      to_converse(R"({"model":"nova","messages":[{"role":"user","content":"x"}],"service_tier":"flex"})", aliases));
  EXPECT_EQ(nova.converse["serviceTier"], json::parse(R"({"type":"flex"})"));
  EXPECT_EQ(nova.tier, ServiceTier::kFlex);
  auto out = completion_from_converse(
      R"({"output":{"message":{"role":"assistant","content":[{"text":"hi"}]}},"stopReason":"end_turn",
          "usage":{"inputTokens":1,"outputTokens":1},"serviceTier":{"type":"flex"}})",
      nova, "id", 1);
  ASSERT_TRUE(out);
  EXPECT_EQ(json::parse(out->body)["service_tier"], "flex");
  EXPECT_EQ(out->service_tier, "flex");
  // Claude has no Flex tier on Bedrock: none is asked, and the answer says default.
  const auto claude = std::get<ChatRequest>(to_converse(
      R"({"model":"claude-haiku","messages":[{"role":"user","content":"x"}],"service_tier":"flex"})", aliases));
  EXPECT_FALSE(claude.converse.contains("serviceTier"));
  auto plain = completion_from_converse(
      R"({"output":{"message":{"role":"assistant","content":[{"text":"hi"}]}},"stopReason":"end_turn"})", claude, "id",
      1);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->service_tier, "default");
  auto bad_tier =
      to_converse(R"({"model":"nova","messages":[{"role":"user","content":"x"}],"service_tier":"gold"})", aliases);
  ASSERT_TRUE(std::holds_alternative<ApiError>(bad_tier));
  EXPECT_EQ(std::get<ApiError>(bad_tier).param, "service_tier");
}

// An application inference profile with a family reasons as that family.
TEST(OpenAiFamilies, AnApplicationProfileReasonsAsItsFamily) {
  const std::string arn = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc";
  const std::map<std::string, std::string> aliases{{"team", arn}};
  const std::map<std::string, std::string> families{{arn, "anthropic.claude-sonnet-4-5"}};
  const std::string body = R"({"model":"team","messages":[{"role":"user","content":"x"}],"reasoning_effort":"low"})";
  const auto with = std::get<ChatRequest>(to_converse(body, aliases, kDefaultMaxJsonDepth, &families));
  EXPECT_TRUE(with.thinking);
  EXPECT_EQ(with.model_id, arn);
  const auto without = std::get<ChatRequest>(to_converse(body, aliases));
  EXPECT_FALSE(without.thinking);
}

}  // namespace
}  // namespace signgate::api::openai
