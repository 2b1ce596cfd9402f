// OpenAI's Responses API ⇄ Converse: what Codex, the AI SDK and the Agents SDK send becomes the
// Converse body Bedrock expects; Bedrock's answers become the response objects and the typed
// events those clients parse.
#include "api/openai/responses.h"

#include <gtest/gtest.h>

#include "api/openai/sse_events.h"

namespace signgate::api::openai {
namespace {

using nlohmann::json;
using testing::converse_event;
using testing::sse_data;
namespace es = aws::eventstream;

const std::map<std::string, std::string> kAliases{{"claude", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"},
                                                  {"haiku3", "anthropic.claude-3-haiku-20240307-v1:0"}};

// A store with one earlier response and its items.
class FakeHistory final : public ResponseHistory {
 public:
  std::variant<json, std::string> conversation(std::string_view id) const override {
    if (id != "resp_1") return std::string("previous response '") + std::string(id) + "' is not known";
    return json::parse(R"([{"type":"message","role":"user","content":"Weather in Paris?"},
        {"id":"fc_1","type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"}])");
  }
  std::optional<json> item(std::string_view id) const override {
    if (id == "msg_1")
      return json::parse(R"({"id":"msg_1","type":"message","role":"assistant","status":"completed",
        "content":[{"type":"output_text","text":"Earlier answer","annotations":[]}]})");
    if (id == "rs_1")
      return json{
          {"id", "rs_1"},
          {"type", "reasoning"},
          {"summary", json::array()},
          {"encrypted_content",
           seal_reasoning(json::parse(R"([{"reasoningContent":{"reasoningText":{"text":"hm","signature":"s1"}}}])"))}};
    return std::nullopt;
  }
};
const FakeHistory kHistory;

ResponsesRequest ok(const json& body) {
  auto r = responses_to_converse(body.dump(), kAliases, &kHistory);
  if (auto* e = std::get_if<ApiError>(&r)) ADD_FAILURE() << e->message << " (" << e->param << ")";
  return std::holds_alternative<ResponsesRequest>(r) ? std::get<ResponsesRequest>(r) : ResponsesRequest{};
}

ApiError refused(const std::string& body, const ResponseHistory* history = &kHistory) {
  auto r = responses_to_converse(body, kAliases, history);
  EXPECT_TRUE(std::holds_alternative<ApiError>(r)) << body;
  return std::holds_alternative<ApiError>(r) ? std::get<ApiError>(r) : ApiError{};
}

TEST(ResponsesRequest, StringInputInstructionsAndSettings) {
  const auto r = ok(json::parse(R"({"model":"claude","input":"Hi","instructions":"Be brief.",
      "max_output_tokens":100,"temperature":0.2,"top_p":0.9,"user":"u-7","metadata":{"k":"v"},"store":false})"));
  EXPECT_EQ(r.model_id, "us.anthropic.claude-sonnet-4-5-20250929-v1:0");
  EXPECT_EQ(r.converse, json::parse(R"({"system":[{"text":"Be brief."}],
      "messages":[{"role":"user","content":[{"text":"Hi"}]}],
      "inferenceConfig":{"maxTokens":100,"temperature":0.2,"topP":0.9}})"));
  EXPECT_FALSE(r.store);
  EXPECT_EQ(r.user, "u-7");
  EXPECT_EQ(r.echo["metadata"]["k"], "v");
  EXPECT_EQ(r.input_items, json::parse(R"([{"type":"message","role":"user","content":"Hi"}])"));
}

// What Codex sends: developer messages (its system prompt) among the input, a tool loop with
// a function call and a free-form tool, reasoning with its encrypted content.
TEST(ResponsesRequest, CodexItemsBecomeAConversation) {
  const std::string sealed =
      seal_reasoning(json::parse(R"([{"reasoningContent":{"reasoningText":{"text":"Run it.","signature":"s"}}}])"));
  const json body = {{"model", "claude"},
                     {"stream", true},
                     {"store", false},
                     {"include", {"reasoning.encrypted_content"}},
                     {"reasoning", {{"effort", "low"}, {"summary", "auto"}}},
                     {"tool_choice", "auto"},
                     {"parallel_tool_calls", true},
                     {"prompt_cache_key", "thread-1"},
                     {"client_metadata", {{"x", "y"}}},
                     {"tools", json::parse(R"([{"type":"function","name":"exec_command","description":"Runs a command",
          "parameters":{"type":"object","properties":{"cmd":{"type":"string"}},"required":["cmd"]},"strict":false},
          {"type":"custom","name":"apply_patch","description":"Edits files","format":{"type":"grammar","syntax":"lark","definition":"start: x"}}])")},
                     {"input", json::parse(R"([
          {"type":"message","role":"developer","content":[{"type":"input_text","text":"You are Codex."}]},
          {"type":"message","role":"user","content":[{"type":"input_text","text":"<environment_context/>"}]},
          {"type":"message","role":"user","content":[{"type":"input_text","text":"Run echo"}]},
          {"type":"reasoning","id":"rs_9","summary":[{"type":"summary_text","text":"Run it."}],"content":null,"encrypted_content":")" +
                                           sealed + R"("},
          {"type":"function_call","id":"fc_9","call_id":"call_9","name":"exec_command","arguments":"{\"cmd\":\"echo hi\"}","status":"completed"},
          {"type":"function_call_output","id":"fco_9","call_id":"call_9","output":"hi\n"},
          {"type":"custom_tool_call","id":"ctc_9","call_id":"call_10","name":"apply_patch","input":"*** Begin Patch","status":"completed"},
          {"type":"custom_tool_call_output","call_id":"call_10","output":""}])")}};
  const auto r = ok(body);
  EXPECT_TRUE(r.thinking);
  EXPECT_TRUE(r.encrypted_reasoning);
  EXPECT_EQ(r.tools.custom_tools, std::set<std::string>{"apply_patch"});
  EXPECT_EQ(r.converse["system"], json::parse(R"([{"text":"You are Codex."}])"));
  EXPECT_EQ(r.converse["messages"], json::parse(R"J([
      {"role":"user","content":[{"text":"<environment_context/>"},{"text":"Run echo"}]},
      {"role":"assistant","content":[{"reasoningContent":{"reasoningText":{"text":"Run it.","signature":"s"}}},
        {"toolUse":{"toolUseId":"call_9","name":"exec_command","input":{"cmd":"echo hi"}}}]},
      {"role":"user","content":[{"toolResult":{"toolUseId":"call_9","content":[{"text":"hi\n"}]}}]},
      {"role":"assistant","content":[{"toolUse":{"toolUseId":"call_10","name":"apply_patch","input":{"input":"*** Begin Patch"}}}]},
      {"role":"user","content":[{"toolResult":{"toolUseId":"call_10","content":[{"text":"(no output)"}]}}]}])J"));
  const json& tools = r.converse["toolConfig"]["tools"];
  EXPECT_EQ(tools[0]["toolSpec"]["name"], "exec_command");
  EXPECT_EQ(tools[1]["toolSpec"]["inputSchema"]["json"]["required"], json::array({"input"}));
  EXPECT_NE(tools[1]["toolSpec"]["description"].get<std::string>().find("lark grammar:\nstart: x"), std::string::npos);
  EXPECT_EQ(r.converse["toolConfig"]["toolChoice"], json::parse(R"({"auto":{}})"));
  EXPECT_EQ(r.converse["additionalModelRequestFields"]["thinking"]["type"], "enabled");
}

// Without thinking, reasoning items are not sent (the model would refuse or ignore them).
TEST(ResponsesRequest, ReasoningWithoutThinkingIsLeftOut) {
  const auto r = ok(json::parse(R"({"model":"claude","input":[{"role":"user","content":"a"},
      {"type":"reasoning","id":"rs_1","summary":[]},{"role":"assistant","content":[{"type":"output_text","text":"b"}]},
      {"role":"user","content":"c"}]})"));
  EXPECT_EQ(r.converse["messages"][1], json::parse(R"({"role":"assistant","content":[{"text":"b"}]})"));
  // With thinking, a reasoning item sent back by id alone is found in the store.
  const auto t = ok(json::parse(R"({"model":"claude","reasoning":{"effort":"medium"},"input":[
      {"role":"user","content":"a"},{"type":"reasoning","id":"rs_1","summary":[]},
      {"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},
      {"type":"function_call_output","call_id":"c1","output":"ok"}],
      "tools":[{"type":"function","name":"f","parameters":{"type":"object"}}]})"));
  EXPECT_EQ(t.converse["messages"][1]["content"][0],
            json::parse(R"({"reasoningContent":{"reasoningText":{"text":"hm","signature":"s1"}}})"));
}

TEST(ResponsesRequest, PreviousResponseAndItemReferences) {
  const auto r = ok(json::parse(R"({"model":"claude","previous_response_id":"resp_1","input":[
      {"type":"function_call_output","call_id":"call_1","output":"18C"}],
      "tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}}]})"));
  EXPECT_EQ(r.converse["messages"].size(), 3u);
  EXPECT_EQ(r.converse["messages"][1]["content"][0]["toolUse"]["toolUseId"], "call_1");
  EXPECT_EQ(r.previous_response_id, "resp_1");
  EXPECT_EQ(r.echo["previous_response_id"], "resp_1");
  const auto ref = ok(json::parse(R"({"model":"claude","input":[{"role":"user","content":"a"},
      {"type":"item_reference","id":"msg_1"},{"role":"user","content":"b"}]})"));
  EXPECT_EQ(ref.converse["messages"][1], json::parse(R"({"role":"assistant","content":[{"text":"Earlier answer"}]})"));
  // A conversation that starts with an answer gets one user opener before it (Converse starts
  // with the user), not two stray arrays.
  const auto answer_first = ok(json::parse(R"({"model":"claude","input":[
      {"type":"item_reference","id":"msg_1"},{"role":"user","content":"b"}]})"));
  ASSERT_EQ(answer_first.converse["messages"].size(), 3u);
  EXPECT_EQ(answer_first.converse["messages"][0], json::parse(R"({"role":"user","content":[{"text":"."}]})"));
  EXPECT_EQ(answer_first.converse["messages"][1]["role"], "assistant");
  EXPECT_EQ(refused(R"({"model":"claude","previous_response_id":"resp_404","input":"x"})").param,
            "previous_response_id");
  EXPECT_EQ(refused(R"({"model":"claude","input":[{"type":"item_reference","id":"msg_404"}]})").param, "input[0].id");
  // A gateway with its store turned off says so.
  EXPECT_EQ(refused(R"({"model":"claude","previous_response_id":"resp_1","input":"x"})", nullptr).message,
            "previous_response_id: this gateway keeps no responses");
}

TEST(ResponsesRequest, WhatConverseCannotHonourIsRefusedByName) {
  EXPECT_EQ(refused(R"({"model":"claude","input":"x","background":true})").param, "background");
  EXPECT_EQ(refused(R"({"model":"claude","input":"x","conversation":"conv_1"})").param, "conversation");
  EXPECT_EQ(refused(R"({"model":"claude","input":"x","prompt":{"id":"p"}})").param, "prompt");
  EXPECT_EQ(refused(R"({"model":"claude","input":"x","top_logprobs":3})").param, "top_logprobs");
  EXPECT_EQ(refused(R"({"model":"claude","input":[{"type":"web_search_call","id":"w"}]})").param, "input[0].type");
  EXPECT_EQ(
      refused(
          R"({"model":"claude","input":[{"role":"user","content":[{"type":"input_image","image_url":"https://x/y.png"}]}]})")
          .param,
      "input[0].content[0].image_url");
  EXPECT_EQ(refused(R"({"model":"claude","input":[{"role":"user","content":"x"},{"type":"reasoning","id":"r",
      "encrypted_content":"sg1.forged"}],"reasoning":{"effort":"low"}})")
                .param,
            "input[1].encrypted_content");
  EXPECT_EQ(refused(R"({"input":"x"})").param, "model");
  EXPECT_EQ(refused(R"({"model":"claude"})").param, "input");
  EXPECT_EQ(refused(R"({"model":"claude","input":"x","reasoning":{"effort":"huge"}})").param, "reasoning.effort");
  EXPECT_EQ(
      refused(R"({"model":"claude","input":[{"type":"function_call","call_id":"c","name":"f","arguments":"[1]"}]})")
          .param,
      "input[0].arguments");
  EXPECT_EQ(refused("[1,2]").message, "the body must be a JSON object");
}

TEST(ResponsesRequest, JsonFormatAndFiles) {
  const auto r = ok(json::parse(R"({"model":"claude","input":[{"role":"user","content":[
      {"type":"input_text","text":"Read"},
      {"type":"input_file","filename":"q3 report.pdf","file_data":"data:application/pdf;base64,JVBERg=="},
      {"type":"input_image","image_url":"data:image/png;base64,iVBO","detail":"auto"}]}],
      "text":{"format":{"type":"json_schema","name":"out","strict":true,"schema":{"type":"object"}}}})"));
  EXPECT_EQ(r.converse["messages"][0]["content"][1],
            json::parse(R"({"document":{"format":"pdf","name":"q3 report-pdf","source":{"bytes":"JVBERg=="}}})"));
  EXPECT_EQ(r.converse["messages"][0]["content"][2]["image"]["format"], "png");
  EXPECT_EQ(r.converse["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["name"], "out");
  const auto old = ok(json::parse(
      R"({"model":"haiku3","input":"x","text":{"format":{"type":"json_schema","name":"out","schema":{"type":"object"}}}})"));
  EXPECT_EQ(old.forced_tool, "out");
}

TEST(ResponsesAnswer, ItemsUsageAndStatus) {
  const auto req = ok(json::parse(R"({"model":"claude","input":"x","include":["reasoning.encrypted_content"],
      "tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}}]})"));
  ResponseBuilder b(req, "abc", 1700000000);
  const json answer = json::parse(R"({"output":{"message":{"role":"assistant","content":[
      {"reasoningContent":{"reasoningText":{"text":"Check the weather.","signature":"sig"}}},
      {"text":"Let me check."},
      {"toolUse":{"toolUseId":"tu_1","name":"get_weather","input":{"city":"Paris"}}}]}},
      "stopReason":"tool_use","usage":{"inputTokens":12,"outputTokens":5,"totalTokens":17,"cacheReadInputTokens":3}})");
  const json r = response_from_converse(answer, b);
  EXPECT_EQ(r["id"], "resp_abc");
  EXPECT_EQ(r["object"], "response");
  EXPECT_EQ(r["status"], "completed");
  EXPECT_EQ(r["model"], "claude");
  ASSERT_EQ(r["output"].size(), 3u);
  EXPECT_EQ(r["output"][0]["type"], "reasoning");
  EXPECT_EQ(r["output"][0]["summary"][0]["text"], "Check the weather.");
  EXPECT_EQ(*open_reasoning(r["output"][0]["encrypted_content"].get<std::string>()),
            json::parse(R"([{"reasoningContent":{"reasoningText":{"text":"Check the weather.","signature":"sig"}}}])"));
  EXPECT_EQ(r["output"][1]["content"][0],
            json::parse(R"({"type":"output_text","text":"Let me check.","annotations":[],"logprobs":[]})"));
  EXPECT_EQ(r["output"][2], json::parse(R"({"id":"fc_abc_2","type":"function_call","status":"completed",
      "call_id":"tu_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"})"));
  EXPECT_EQ(r["usage"], json::parse(R"({"input_tokens":15,"input_tokens_details":{"cached_tokens":3},
      "output_tokens":5,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":20})"));
  const json cut = response_from_converse(
      json::parse(R"({"output":{"message":{"content":[{"text":"Par"}]}},"stopReason":"max_tokens"})"), b);
  EXPECT_EQ(cut["status"], "incomplete");
  EXPECT_EQ(cut["incomplete_details"]["reason"], "max_output_tokens");
}

TEST(ResponsesStream, TheRealEventSequence) {
  const auto req = ok(json::parse(R"({"model":"claude","input":"x","stream":true,
      "tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}}]})"));
  ResponseBuilder b(req, "abc", 1);
  ResponseEventTranslator t(b);
  std::string sse = t.start();
  for (const auto& [type, payload] : std::vector<std::pair<std::string, json>>{
           {"messageStart", {{"role", "assistant"}}},
           {"contentBlockDelta", {{"contentBlockIndex", 0}, {"delta", {{"reasoningContent", {{"text", "Think"}}}}}}},
           {"contentBlockDelta", {{"contentBlockIndex", 0}, {"delta", {{"reasoningContent", {{"signature", "sg"}}}}}}},
           {"contentBlockStop", {{"contentBlockIndex", 0}}},
           {"contentBlockDelta", {{"contentBlockIndex", 1}, {"delta", {{"text", "Let "}}}}},
           {"contentBlockDelta", {{"contentBlockIndex", 1}, {"delta", {{"text", "me."}}}}},
           {"contentBlockStop", {{"contentBlockIndex", 1}}},
           {"contentBlockStart",
            {{"contentBlockIndex", 2}, {"start", {{"toolUse", {{"toolUseId", "tu"}, {"name", "get_weather"}}}}}}},
           {"contentBlockDelta", {{"contentBlockIndex", 2}, {"delta", {{"toolUse", {{"input", "{\"city\":"}}}}}}},
           {"contentBlockDelta", {{"contentBlockIndex", 2}, {"delta", {{"toolUse", {{"input", "\"Paris\"}"}}}}}}},
           {"contentBlockStop", {{"contentBlockIndex", 2}}},
           {"messageStop", {{"stopReason", "tool_use"}}},
           {"metadata", {{"usage", {{"inputTokens", 9}, {"outputTokens", 4}, {"totalTokens", 13}}}}}}) {
    sse += t.on_message(converse_event(type, payload));
  }
  sse += t.finish();
  const auto all = sse_data(sse);
  std::vector<std::string> types;
  for (std::size_t i = 0; i < all.size(); ++i) {
    types.push_back(all[i]["type"]);
    EXPECT_EQ(all[i]["sequence_number"], i);
  }
  EXPECT_EQ(types, (std::vector<std::string>{"response.created",
                                             "response.in_progress",
                                             "response.output_item.added",
                                             "response.reasoning_summary_part.added",
                                             "response.reasoning_summary_text.delta",
                                             "response.reasoning_summary_text.done",
                                             "response.reasoning_summary_part.done",
                                             "response.output_item.done",
                                             "response.output_item.added",
                                             "response.content_part.added",
                                             "response.output_text.delta",
                                             "response.output_text.delta",
                                             "response.output_text.done",
                                             "response.content_part.done",
                                             "response.output_item.done",
                                             "response.output_item.added",
                                             "response.function_call_arguments.delta",
                                             "response.function_call_arguments.delta",
                                             "response.function_call_arguments.done",
                                             "response.output_item.done",
                                             "response.completed"}));
  EXPECT_EQ(all[0]["response"]["output"], json::array());
  EXPECT_EQ(all[10]["delta"], "Let ");
  EXPECT_EQ(all[10]["output_index"], 1);
  EXPECT_EQ(all[12]["text"], "Let me.");
  EXPECT_EQ(all[18]["arguments"], R"({"city":"Paris"})");
  const json& done = all.back()["response"];
  EXPECT_EQ(done["status"], "completed");
  EXPECT_EQ(done["output"].size(), 3u);
  EXPECT_EQ(done["output"][2]["call_id"], "tu");
  EXPECT_EQ(done["usage"]["input_tokens"], 9);
  EXPECT_EQ(t.output().size(), 3u);
  EXPECT_TRUE(t.completed());
}

TEST(ResponsesStream, FailureMidStreamEndsWithResponseFailed) {
  const auto req = ok(json::parse(R"({"model":"claude","input":"x","stream":true})"));
  ResponseBuilder b(req, "abc", 1);
  ResponseEventTranslator t(b);
  std::string sse = t.start();
  sse += t.on_message(converse_event("contentBlockDelta", {{"contentBlockIndex", 0}, {"delta", {{"text", "Hel"}}}}));
  es::Message ex;
  ex.headers = {{":message-type", es::HeaderValue::string("exception")},
                {":exception-type", es::HeaderValue::string("throttlingException")}};
  ex.payload = R"({"message":"slow down"})";
  sse += t.on_message(ex);
  sse += t.finish();  // nothing more after a failure
  sse += t.error("again");
  const auto all = sse_data(sse);
  ASSERT_GE(all.size(), 2u);
  EXPECT_EQ(all[all.size() - 2]["type"], "error");
  EXPECT_EQ(all[all.size() - 2]["error"]["message"], "throttlingException: slow down");
  EXPECT_EQ(all.back()["type"], "response.failed");
  EXPECT_EQ(all.back()["response"]["status"], "failed");
  EXPECT_EQ(all.back()["response"]["error"]["code"], "throttlingException");
  EXPECT_FALSE(t.completed());
}

// Bedrock's words about signgate's own identity do not reach the caller, nor the stored response.
TEST(ResponsesStream, FailureTextLosesArnsAndAccounts) {
  const auto req = ok(json::parse(R"({"model":"claude","input":"x","stream":true})"));
  ResponseBuilder b(req, "abc", 1);
  ResponseEventTranslator t(b);
  std::string sse = t.start();
  es::Message ex;
  ex.headers = {{":message-type", es::HeaderValue::string("exception")},
                {":exception-type", es::HeaderValue::string("validationException")}};
  ex.payload = R"({"message":"arn:aws-us-gov:iam::123456789012:role/ops cannot; account 123456789012"})";
  sse += t.on_message(ex);
  EXPECT_EQ(sse.find("123456789012"), std::string::npos) << sse;
  EXPECT_EQ(sse.find("arn:"), std::string::npos) << sse;
  EXPECT_NE(sse.find("validationException: <iam role ARN> cannot; account <account>"), std::string::npos) << sse;
}

// The forced JSON tool's input streams as the message's text; a max_tokens stop is incomplete.
TEST(ResponsesStream, ForcedJsonToolStreamsAsTextAndIncomplete) {
  const auto req =
      ok(json::parse(R"({"model":"haiku3","input":"x","stream":true,"text":{"format":{"type":"json_object"}}})"));
  ResponseBuilder b(req, "abc", 1);
  ResponseEventTranslator t(b);
  std::string sse;
  sse += t.on_message(converse_event(
      "contentBlockStart",
      {{"contentBlockIndex", 0}, {"start", {{"toolUse", {{"toolUseId", "t"}, {"name", "json_response"}}}}}}));
  sse += t.on_message(converse_event("contentBlockDelta",
                                     {{"contentBlockIndex", 0}, {"delta", {{"toolUse", {{"input", "{\"a\":1}"}}}}}}));
  sse += t.on_message(converse_event("contentBlockStop", {{"contentBlockIndex", 0}}));
  sse += t.on_message(converse_event("messageStop", {{"stopReason", "max_tokens"}}));
  sse += t.finish();
  const auto all = sse_data(sse);
  EXPECT_EQ(all.back()["type"], "response.incomplete");
  EXPECT_EQ(all.back()["response"]["output"][0]["content"][0]["text"], R"({"a":1})");
}

TEST(ResponsesReasoning, SealedContentOpensOnlyAsConverseShapes) {
  const json blocks = json::parse(R"([{"reasoningContent":{"reasoningText":{"text":"a","signature":"b"}}},
      {"reasoningContent":{"redactedContent":"cmVk"}}])");
  EXPECT_EQ(*open_reasoning(seal_reasoning(blocks)), blocks);
  EXPECT_FALSE(open_reasoning("sg1.%%%").has_value());
  EXPECT_FALSE(open_reasoning("gAAAAopenai").has_value());
  EXPECT_FALSE(open_reasoning(seal_reasoning(json::parse(R"([{"toolUse":{"name":"x"}}])"))).has_value());
  // Extra members are not carried through.
  EXPECT_EQ(*open_reasoning(seal_reasoning(
                json::parse(R"([{"reasoningContent":{"reasoningText":{"text":"a","extra":1}},"more":2}])"))),
            json::parse(R"([{"reasoningContent":{"reasoningText":{"text":"a"}}}])"));
}

// Found in review: one small body naming a large stored item many times would have built a
// huge Converse body. Each use is charged to a budget; the count of references is capped.
TEST(ResponsesRequest, StoredItemsAreChargedToABudget) {
  json input = json::array({{{"role", "user"}, {"content", "go"}}});
  for (int i = 0; i < 50; ++i) input.push_back({{"type", "item_reference"}, {"id", "msg_1"}});
  const std::string body = json{{"model", "claude"}, {"input", input}}.dump();
  EXPECT_TRUE(std::holds_alternative<ResponsesRequest>(responses_to_converse(body, kAliases, &kHistory)));
  auto tight = responses_to_converse(body, kAliases, &kHistory, {.max_stored_bytes = 2000});
  ASSERT_TRUE(std::holds_alternative<ApiError>(tight));
  EXPECT_EQ(std::get<ApiError>(tight).message,
            "the stored items this request names are larger than limits.max_body_bytes");
  for (int i = 0; i < 1000; ++i) input.push_back({{"type", "item_reference"}, {"id", "msg_1"}});
  EXPECT_EQ(refused(json{{"model", "claude"}, {"input", input}}.dump()).message,
            "a request may name at most 1000 stored items");
  // What is stored is the item a reference named, so a replay never resolves references again.
  const auto r = ok(json::parse(R"({"model":"claude","input":[{"role":"user","content":"a"},
      {"type":"item_reference","id":"msg_1"},{"role":"user","content":"b"}]})"));
  EXPECT_EQ(r.input_items[1]["id"], "msg_1");
  EXPECT_EQ(r.input_items[1]["type"], "message");
}

TEST(ResponsesRequest, ConverseGetsWhatBedrockTakes) {
  // tool_choice none with tool calls in the history: the tools stay declared, unforced.
  const auto none = ok(json::parse(R"({"model":"claude","tool_choice":"none","input":[{"role":"user","content":"a"},
      {"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},
      {"type":"function_call_output","call_id":"c1","output":"ok"}],
      "tools":[{"type":"function","name":"f","parameters":{"type":"object"}}]})"));
  EXPECT_EQ(none.converse["toolConfig"]["toolChoice"], json::parse(R"({"auto":{}})"));
  EXPECT_EQ(none.converse["system"].back()["text"], "Answer without calling any tool.");
  const auto fresh = ok(json::parse(R"({"model":"claude","tool_choice":"none","input":"a",
      "tools":[{"type":"function","name":"f","parameters":{"type":"object"}}]})"));
  EXPECT_FALSE(fresh.converse.contains("toolConfig"));
  // Thinking refuses a forced tool choice: it becomes automatic.
  const auto thinking = ok(json::parse(R"({"model":"claude","tool_choice":"required","reasoning":{"effort":"low"},
      "input":"a","tools":[{"type":"function","name":"f","parameters":{"type":"object"}}]})"));
  EXPECT_EQ(thinking.converse["toolConfig"]["toolChoice"], json::parse(R"({"auto":{}})"));
  // Tool results come first in their user turn, whatever order the items came in.
  const auto order = ok(json::parse(R"({"model":"claude","input":[{"role":"user","content":"a"},
      {"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},{"role":"user","content":"also"},
      {"type":"function_call_output","call_id":"c1","output":"ok"}],
      "tools":[{"type":"function","name":"f","parameters":{"type":"object"}}]})"));
  EXPECT_TRUE(order.converse["messages"][2]["content"][0].contains("toolResult"));
  EXPECT_EQ(order.converse["messages"][2]["content"][1]["text"], "also");
  // A cache point after nothing is dropped; more than Bedrock's four is a 400.
  const auto empty = ok(json::parse(R"({"model":"claude","input":[
      {"role":"developer","content":"","cache_control":{"type":"ephemeral"}},
      {"role":"user","content":[{"type":"input_text","text":"","cache_control":{"type":"ephemeral"}},
        {"type":"input_text","text":"x"}]}]})"));
  EXPECT_FALSE(empty.converse.contains("system"));
  EXPECT_EQ(empty.converse["messages"][0]["content"], json::parse(R"([{"text":"x"}])"));
  json parts = json::array();
  for (int i = 0; i < 5; ++i) {
    parts.push_back({{"type", "input_text"}, {"text", "p"}, {"cache_control", {{"type", "ephemeral"}}}});
  }
  EXPECT_EQ(refused(json{{"model", "claude"}, {"input", {{{"role", "user"}, {"content", parts}}}}}.dump()).param,
            "cache_control");
}

}  // namespace
}  // namespace signgate::api::openai
