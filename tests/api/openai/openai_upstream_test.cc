// Requests for models Bedrock serves through its OpenAI-compatible API, their answers and
// streams, and the SSE reader under them.
#include "api/openai/openai_upstream.h"

#include <gtest/gtest.h>

namespace signgate::api::openai {
namespace {

using nlohmann::json;

class History final : public ResponseHistory {
 public:
  std::variant<json, std::string> conversation(std::string_view id) const override {
    if (id != "resp_up_1") return std::string("previous response '") + std::string(id) + "' is not known";
    return json::parse(R"([{"type":"message","role":"user","content":"Weather?"},
        {"id":"rs_9","type":"reasoning","summary":[],"encrypted_content":"gAAA"},
        {"id":"fc_9","type":"function_call","call_id":"call_9","name":"get_weather","arguments":"{}"}])");
  }
  std::optional<json> item(std::string_view id) const override {
    if (id == "msg_7") return json::parse(R"({"id":"msg_7","type":"message","role":"assistant","content":"Earlier"})");
    if (id == "rs_9") return json::parse(R"({"id":"rs_9","type":"reasoning","summary":[],"encrypted_content":"gAAA"})");
    return std::nullopt;
  }
};
const History kHistory;

std::vector<SseEvent> read(std::string_view text, std::size_t step) {
  SseReader r;
  std::vector<SseEvent> out;
  for (std::size_t at = 0; at < text.size(); at += step) {
    EXPECT_TRUE(r.feed(text.substr(at, step)));
    while (auto e = r.next()) out.push_back(std::move(*e));
  }
  return out;
}

TEST(SseReader, EventsWhateverTheLineEndsAndPieces) {
  const std::string text =
      "event: response.created\ndata: {\"a\":1}\n\n: keep-alive\n\ndata: line1\r\ndata: line2\r\n\r\n"
      "retry: 5\rdata:nospace\r\revent: x\ndata: {\"b\":2}\n\n";
  for (std::size_t step : {std::size_t{1}, std::size_t{2}, std::size_t{7}, text.size()}) {
    const auto events = read(text, step);
    ASSERT_EQ(events.size(), 4u) << step;
    EXPECT_EQ(events[0].event, "response.created");
    EXPECT_EQ(events[0].data, "{\"a\":1}");
    EXPECT_EQ(events[1].data, "line1\nline2");
    EXPECT_EQ(events[1].event, "");
    EXPECT_EQ(events[2].data, "nospace");
    EXPECT_EQ(events[3].event, "x");
  }
  SseReader unfinished;
  EXPECT_TRUE(unfinished.feed("data: {\"half\":"));
  EXPECT_FALSE(unfinished.next());
  EXPECT_FALSE(unfinished.idle());
  // What is left at the end of a stream: a comment or an event line without data is no event.
  SseReader trailing;
  EXPECT_TRUE(trailing.feed("data: {}\n\n: ping\nevent: x\n"));
  EXPECT_TRUE(trailing.next());
  EXPECT_FALSE(trailing.next());
  EXPECT_TRUE(trailing.idle());
  EXPECT_TRUE(trailing.feed("data: {\"a\":"));
  EXPECT_FALSE(trailing.idle());
  // A large event arriving in small pieces is read once, not once per piece (the cap counts it).
  SseReader large(1 << 20);
  const std::string big = "data: " + std::string(600'000, 'x') + "\n\n";
  std::size_t events = 0;
  for (std::size_t at = 0; at < big.size(); at += 100) {
    ASSERT_TRUE(large.feed(std::string_view(big).substr(at, 100)));
    while (large.next()) ++events;
  }
  EXPECT_EQ(events, 1u);
  SseReader capped(16);
  EXPECT_FALSE(capped.feed("data: 0123456789abcdef"));  // an event past the cap: the stream is broken
}

TEST(OpenAIUpstream, ChatGoesOnWithBedrocksModelAndAStreamsUsage) {
  const json req = json::parse(R"({"model":"gpt","stream":true,"messages":[{"role":"user","content":"hi"}],
      "user":"u-1","tools":[{"type":"function","function":{"name":"f"}}]})");
  const auto r = std::get<OpenAIUpstreamRequest>(chat_for_openai(req, "gpt", "openai.gpt-oss-120b-1:0"));
  const json sent = json::parse(r.body);
  EXPECT_EQ(sent["model"], "openai.gpt-oss-120b-1:0");
  EXPECT_EQ(sent["stream_options"], json::parse(R"({"include_usage":true})"));
  EXPECT_EQ(sent["tools"], req["tools"]);
  EXPECT_FALSE(r.include_usage);
  EXPECT_EQ(r.user, "u-1");
  // The usage chunk signgate asked for is read, and not passed on.
  OpenAIStreamRewriter w(r);
  const std::string chunk =
      w.on_event({"", R"({"id":"c","object":"chat.completion.chunk","model":"openai.gpt-oss-120b-1:0",
        "choices":[{"index":0,"delta":{"content":"Hi"}}]})"});
  EXPECT_EQ(json::parse(chunk.substr(6))["model"], "gpt");
  EXPECT_EQ(w.on_event({"", R"({"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}})"}), "");
  EXPECT_EQ(w.facts.usage.input, 3u);
  EXPECT_EQ(w.facts.usage.output, 2u);
  EXPECT_EQ(w.on_event({"", "[DONE]"}), "data: [DONE]\n\n");
  EXPECT_EQ(w.on_event({"", "not json"}), "");
  // Asked for: passed on.
  const auto asked = std::get<OpenAIUpstreamRequest>(chat_for_openai(
      json::parse(R"({"model":"gpt","stream":true,"stream_options":{"include_usage":true},"messages":[]})"), "gpt",
      "openai.gpt-oss-120b-1:0"));
  OpenAIStreamRewriter v(asked);
  EXPECT_NE(v.on_event({"", R"({"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}})"}), "");
}

TEST(OpenAIUpstream, ResponsesExpandEarlierTurnsFromTheStore) {
  const json req = json::parse(R"({"model":"gpt-5","previous_response_id":"resp_up_1","input":[
      {"type":"item_reference","id":"msg_7"},
      {"type":"function_call_output","call_id":"call_9","output":"18C"}],"include":["file_search_call.results"]})");
  const auto r =
      std::get<OpenAIUpstreamRequest>(responses_for_openai(req, "gpt-5", "openai.gpt-5.5", &kHistory, 1 << 20));
  const json sent = json::parse(r.body);
  EXPECT_EQ(sent["model"], "openai.gpt-5.5");
  EXPECT_FALSE(sent.contains("previous_response_id"));
  EXPECT_EQ(sent["store"], false);
  EXPECT_EQ(sent["include"], json::parse(R"(["file_search_call.results","reasoning.encrypted_content"])"));
  ASSERT_EQ(sent["input"].size(), 5u);
  EXPECT_EQ(sent["input"][1]["encrypted_content"], "gAAA");  // the reasoning goes back as it came
  EXPECT_EQ(sent["input"][3]["id"], "msg_7");                // the reference, expanded
  EXPECT_EQ(r.previous_response_id, "resp_up_1");
  ASSERT_EQ(r.input_items.size(), 2u);  // what the store keeps of this turn
  EXPECT_EQ(r.input_items[0]["id"], "msg_7");
  EXPECT_TRUE(r.store);
  // A string input is a user message.
  const auto s = std::get<OpenAIUpstreamRequest>(responses_for_openai(
      json::parse(R"({"model":"g","input":"hi","store":false})"), "g", "openai.gpt-5.5", &kHistory, 1 << 20));
  EXPECT_EQ(json::parse(s.body)["input"], json::parse(R"([{"type":"message","role":"user","content":"hi"}])"));
  EXPECT_FALSE(s.store);
  const auto refused = [&](const char* body, const ResponseHistory* h = &kHistory, std::size_t budget = 1 << 20) {
    auto v = responses_for_openai(json::parse(body), "g", "openai.gpt-5.5", h, budget);
    EXPECT_TRUE(std::holds_alternative<ApiError>(v)) << body;
    return std::holds_alternative<ApiError>(v) ? std::get<ApiError>(v).param : std::string();
  };
  // A reasoning item sent back bare gets its content from the store (Bedrock wants it back).
  const auto bare = std::get<OpenAIUpstreamRequest>(
      responses_for_openai(json::parse(R"({"model":"g","input":[{"type":"reasoning","id":"rs_9","summary":[]},
          {"type":"reasoning","id":"rs_unknown","summary":[]}]})"),
                           "g", "openai.gpt-5.5", &kHistory, 1 << 20));
  EXPECT_EQ(json::parse(bare.body)["input"][0]["encrypted_content"], "gAAA");
  EXPECT_FALSE(json::parse(bare.body)["input"][1].contains("encrypted_content"));
  EXPECT_FALSE(bare.include_encrypted);
  // A Converse model's reasoning (signgate's seal) is not for Bedrock's OpenAI API: kept, not sent.
  const auto mixed = std::get<OpenAIUpstreamRequest>(responses_for_openai(
      json::parse(R"({"model":"g","input":[{"type":"reasoning","id":"rs_c","summary":[],"encrypted_content":"sg1.e30="},
          {"role":"user","content":"y"}]})"),
      "g", "openai.gpt-5.5", &kHistory, 1 << 20));
  EXPECT_EQ(json::parse(mixed.body)["input"].size(), 1u);
  EXPECT_EQ(mixed.input_items.size(), 2u);
  EXPECT_EQ(refused(R"({"model":"g","input":"x","previous_response_id":"resp_other"})"), "previous_response_id");
  EXPECT_EQ(refused(R"({"model":"g","input":"x","previous_response_id":"resp_up_1"})", nullptr),
            "previous_response_id");
  EXPECT_EQ(refused(R"({"model":"g","input":"x","previous_response_id":"resp_up_1"})", &kHistory, 50),
            "previous_response_id");
  EXPECT_EQ(refused(R"({"model":"g","input":[{"type":"item_reference","id":"nope"}]})"), "input[0].id");
  EXPECT_EQ(refused(R"({"model":"g","input":"x","background":true})"), "background");
  EXPECT_EQ(refused(R"({"model":"g","input":"x","conversation":"c"})"), "conversation");
  EXPECT_EQ(refused(R"({"model":"g"})"), "input");
}

TEST(OpenAIUpstream, ResponsesAnswersAndEventsNameTheCallersModel) {
  OpenAIUpstreamRequest r;
  r.api = OpenAIApi::kResponses;
  r.model_name = "gpt-5";
  r.model_id = "openai.gpt-5.5";
  r.previous_response_id = "resp_up_1";
  OpenAIAnswerFacts facts;
  const auto out = openai_answer(R"({"id":"resp_up_2","object":"response","model":"openai.gpt-5.5",
      "status":"completed","service_tier":"default","store":false,"previous_response_id":null,"output":[
      {"id":"rs_1","type":"reasoning","summary":[],"encrypted_content":"gBBB"},
      {"id":"msg_1","type":"message","role":"assistant",
      "content":[{"type":"output_text","text":"Hi"}]}],"usage":{"input_tokens":10,"output_tokens":4}})",
                                 r, facts);
  ASSERT_TRUE(out);
  const json answer = json::parse(*out);
  EXPECT_EQ(answer["model"], "gpt-5");
  // What the caller sent, not what Bedrock was sent; the encrypted reasoning only when asked for.
  EXPECT_EQ(answer["previous_response_id"], "resp_up_1");
  EXPECT_EQ(answer["store"], true);
  EXPECT_FALSE(answer["output"][0].contains("encrypted_content"));
  EXPECT_EQ(facts.output[0]["encrypted_content"], "gBBB");  // the store keeps it
  EXPECT_EQ(facts.response_id, "resp_up_2");
  EXPECT_TRUE(facts.completed);
  EXPECT_EQ(facts.output.size(), 2u);
  EXPECT_EQ(facts.usage.input, 10u);
  EXPECT_EQ(facts.usage.output, 4u);
  EXPECT_EQ(facts.service_tier, "default");
  EXPECT_FALSE(openai_answer("[1]", r, facts));
  EXPECT_FALSE(openai_answer(std::string(200, '[') + std::string(200, ']'), r, facts, 64));

  OpenAIStreamRewriter w(r);
  const std::string created = w.on_event(
      {"response.created", R"({"type":"response.created","response":{"id":"resp_up_3","model":"openai.gpt-5.5",
        "status":"in_progress"}})"});
  EXPECT_EQ(created.rfind("event: response.created\ndata: ", 0), 0u);
  EXPECT_EQ(json::parse(created.substr(created.find("data: ") + 6))["response"]["model"], "gpt-5");
  EXPECT_FALSE(w.facts.completed);
  (void)w.on_event({"response.completed", R"({"type":"response.completed","response":{"id":"resp_up_3",
      "model":"openai.gpt-5.5","status":"completed","output":[{"type":"message"}],
      "usage":{"input_tokens":7,"output_tokens":1}}})"});
  EXPECT_TRUE(w.facts.completed);
  EXPECT_EQ(w.facts.response_id, "resp_up_3");
  EXPECT_EQ(w.facts.usage.input, 7u);
  const std::string error = w.error("signgate: the upstream stream broke");
  EXPECT_EQ(error.rfind("event: error\n", 0), 0u);
  (void)w.on_event({"response.output_text.delta", R"({"type":"response.output_text.delta","sequence_number":41})"});
  const std::string later = w.error("signgate: broke");
  EXPECT_EQ(json::parse(later.substr(later.find("data: ") + 6))["sequence_number"], 42);  // the stream's next
}

TEST(OpenAIUpstream, ErrorsKeepTheirStatusAndLoseArns) {
  const ApiError e = openai_error(400, R"({"error":{"message":"Model arn:aws:bedrock:us-east-1:111122223333:x is bad",
      "type":"invalid_request_error","code":"model_not_found","param":"model"}})");
  EXPECT_EQ(e.status, 400u);
  EXPECT_EQ(e.code, "model_not_found");
  EXPECT_EQ(e.param, "model");
  EXPECT_EQ(e.message.find("111122223333"), std::string::npos);
  EXPECT_EQ(openai_error(429, R"({"message":"Too many requests"})").type, "rate_limit_error");
  EXPECT_EQ(openai_error(503, "<html>").message, "Bedrock answered 503");
}

}  // namespace
}  // namespace signgate::api::openai
