// Hostile nesting, from callers and from the model: refused with a clear error before any
// recursive code (nlohmann's dump, copies) walks it. Each input here crashed main before.
#include "api/json_depth.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include "api/anthropic/messages.h"
#include "api/openai/chat.h"
#include "api/openai/stream.h"
#include "common/base64.h"
#include "gateway/stream_relay.h"

namespace signgate::api {
namespace {

namespace es = aws::eventstream;

std::string nested(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

es::Message message(std::string event_type, std::string payload) {
  es::Message m;
  m.headers.push_back({":message-type", es::HeaderValue::string("event")});
  m.headers.push_back({":event-type", es::HeaderValue::string(std::move(event_type))});
  m.payload = std::move(payload);
  return m;
}

// The depth counts brackets, not brackets inside strings, and stops at the first level too deep.
TEST(JsonDepth, CountsNestingOutsideStrings) {
  EXPECT_TRUE(within_depth(R"({"a":[1,{"b":[]}]})", 4));
  EXPECT_FALSE(within_depth(R"({"a":[1,{"b":[]}]})", 3));
  EXPECT_TRUE(within_depth(R"({"a":"[[[[[[[[[[[[[[[["})", 1));
  EXPECT_TRUE(within_depth(R"({"a":"\"[[[[[[[[[[[[[["})", 1));
  EXPECT_TRUE(within_depth(R"({"a":"\\"})", 1));
  EXPECT_FALSE(within_depth(R"({"a":"\\",  "b":[[[]]]})", 2));
  EXPECT_TRUE(within_depth(nested(128), 128));
  EXPECT_FALSE(within_depth(nested(129), 128));
  bool deep = false;
  EXPECT_TRUE(parse_json(nested(300'000), 128, &deep).is_discarded());
  EXPECT_TRUE(deep);
  EXPECT_EQ(parse_json(R"({"a":[1]})", 128, &deep)["a"][0], 1);
  EXPECT_FALSE(deep);
}

// POST /v1/messages with "metadata" nested 100,000 deep: SIGSEGV in to_invoke's dump before.
TEST(JsonDepth, AnthropicBodyNestedTooDeepIsA400) {
  const std::string body = R"({"model":"m.x","max_tokens":5,"messages":[],"metadata":)" + nested(100'000) + "}";
  auto r = anthropic::to_invoke(body, {}, 128);
  ASSERT_TRUE(std::holds_alternative<anthropic::ApiError>(r));
  EXPECT_EQ(std::get<anthropic::ApiError>(r).status, 400u);
  EXPECT_NE(std::get<anthropic::ApiError>(r).message.find("deeper than 128"), std::string::npos);
}

// /v1/chat/completions with "stop" or a tool's parameters nested 300,000 deep: recursive copy before.
TEST(JsonDepth, OpenAiBodyNestedTooDeepIsA400) {
  for (const std::string& field :
       {std::string(R"("stop":)") + nested(300'000),
        std::string(R"("tools":[{"type":"function","function":{"name":"f","parameters":)") + nested(300'000) + "}}]"}) {
    const std::string body = R"({"model":"m.x","messages":[{"role":"user","content":"hi"}],)" + field + "}";
    auto r = openai::to_converse(body, {}, 128);
    ASSERT_TRUE(std::holds_alternative<openai::ApiError>(r));
    EXPECT_NE(std::get<openai::ApiError>(r).message.find("deeper than 128"), std::string::npos);
  }
  // Real tool schemas (a few levels) still pass.
  auto ok = openai::to_converse(R"({"model":"m.x","messages":[{"role":"user","content":"hi"}],
      "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":
      {"a":{"type":"array","items":{"type":"object","properties":{"b":{"type":"string"}}}}}}}}]})",
                                {}, 128);
  EXPECT_TRUE(std::holds_alternative<openai::ChatRequest>(ok));
  // tool_calls[].function.arguments is JSON in a string: the same limit applies inside it.
  const std::string args = nested(1'000);
  std::string escaped;
  for (char c : args) escaped.push_back(c);
  auto deep_args = openai::to_converse(
      R"({"model":"m.x","messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"1","function":{"name":"f","arguments":")" +
          escaped + R"("}}]}]})",
      {}, 128);
  EXPECT_TRUE(std::holds_alternative<openai::ApiError>(deep_args));
}

// A deeply nested InvokeModel stream chunk on the Anthropic surface: event.dump overflowed.
TEST(JsonDepth, AnthropicStreamEventNestedTooDeepIsAnErrorEvent) {
  anthropic::EventUnwrapper u;
  const std::string event = R"({"type":"content_block_delta","x":)" + nested(300'000) + R"(,
"amazon-bedrock-invocationMetrics":{"inputTokenCount":1}})";
  const std::string out = u.on_message(message("chunk", R"({"bytes":")" + base64_encode(event) + R"("})"));
  EXPECT_EQ(out.rfind("event: error\n", 0), 0u) << out.substr(0, 200);
  EXPECT_NE(out.find("deeper than"), std::string::npos);
}

// The native relay reads usage from chunks; a model's text that mentions the metrics key
// (but has no such object) read past a map before (ASan: heap-buffer-overflow).
TEST(JsonDepth, RelayUsageReadingSurvivesLookalikesAndNesting) {
  gateway::FrameAligner frames;
  const std::string lookalike = R"({"type":"content_block_delta","delta":{"text":"amazon-bedrock-invocationMetrics"}})";
  const std::string deep = R"({"type":"x","amazon-bedrock-invocationMetrics":)" + nested(200'000) + "}";
  const std::string wrong_type = R"({"type":"x","amazon-bedrock-invocationMetrics":{"inputTokenCount":"7"}})";
  std::string wire;
  for (const auto& inner : {lookalike, deep, wrong_type}) {
    wire += es::encode(
        {{":message-type", es::HeaderValue::string("event")}, {":event-type", es::HeaderValue::string("chunk")}},
        R"({"bytes":")" + base64_encode(inner) + R"("})");
  }
  auto r = frames.push(wire);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->size(), wire.size());
  EXPECT_FALSE(frames.usage.known());
}

// A Converse answer whose toolUse.input nests 300,000 deep parses as too deep, never reaching
// from_converse's dump (the gateway answers 502 in the caller's dialect).
TEST(JsonDepth, HostileAnswerNeverReachesTheTranslator) {
  const std::string answer =
      R"({"output":{"message":{"role":"assistant","content":[{"toolUse":{"toolUseId":"t","name":"f","input":)" +
      nested(300'000) + "}}]}},\"stopReason\":\"tool_use\"}";
  bool deep = false;
  EXPECT_TRUE(parse_json(answer, 128, &deep).is_discarded());
  EXPECT_TRUE(deep);
}

// Equal and of the same types all the way down (nlohmann's == takes 1, 1u and 1.0 as equal).
::testing::AssertionResult same(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.type() != b.type()) return ::testing::AssertionFailure() << a.dump() << " is not typed as " << b.dump();
  if (a.is_structured()) {
    if (a.size() != b.size()) return ::testing::AssertionFailure() << a.dump() << " vs " << b.dump();
    for (auto x = a.begin(), y = b.begin(); x != a.end(); ++x, ++y) {
      if (a.is_object() && x.key() != y.key()) return ::testing::AssertionFailure() << x.key() << " vs " << y.key();
      if (auto r = same(*x, *y); !r) return r;
    }
    return ::testing::AssertionSuccess();
  }
  if (a == b) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << a.dump() << " vs " << b.dump();
}

// parse_json reads with simdjson but must give nlohmann's DOM, and dump_json nlohmann's bytes:
// each document here is parsed both ways and written both ways.
TEST(JsonDepth, ParsesAndWritesAsNlohmannDoes) {
  const std::string docs[] = {
      R"({"b":1,"a":[true,false,null],"c":{"d":-1,"e":1.5,"f":"x"}})",
      R"([0,-0,-0.0,1.0,1E2,1e-7,0.1,123456789.125,-9223372036854775808,9223372036854775808])",
      R"({"a":-0,"b":[-0],"c":"-0","d":-0.5,"e":-0e1,"f":1e300,"g":2.5e-300,"h":1e16,"i":123456.789e3})",
      R"([18446744073709551615,18446744073709551616,-9223372036854775809])",  // beyond 64 bits
      R"({"a":1,"a":2})",                                                     // the last one wins
      "\xEF\xBB\xBF{\"bom\":1}",                                              // nlohmann skips a BOM
      R"(["\u0000\b\f\n\r\t\u001f\u007f\"\\/","é ✓ 🚀","\ud83d\ude80"])",
      R"(  {"spaced" : [ 1 , 2 ] }  )",
      "{}",
      "[]",
      "\"just a string\"",
      "7",
  };
  for (const auto& doc : docs) {
    const nlohmann::json ours = parse_json(doc, 128);
    const nlohmann::json theirs = nlohmann::json::parse(doc, nullptr, false);
    ASSERT_FALSE(theirs.is_discarded()) << doc;
    EXPECT_TRUE(same(ours, theirs)) << doc;
    EXPECT_EQ(dump_json(ours), theirs.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)) << doc;
  }
  for (const std::string bad : {"", "{", "[1,]", "{\"a\":1}x", "[\"\\ud800\"]", "[1e400]", "\"\xff\"", "nul"}) {
    EXPECT_TRUE(parse_json(bad, 128).is_discarded()) << bad;
  }
  // Integers keep nlohmann's types: unsigned when ≥ 0, signed below.
  EXPECT_TRUE(parse_json("[5]", 8)[0].is_number_unsigned());
  EXPECT_TRUE(parse_json("[-5]", 8)[0].is_number_integer() && !parse_json("[-5]", 8)[0].is_number_unsigned());
  // A string built by us, not parsed, may hold any bytes: replaced as nlohmann's replace does.
  const nlohmann::json built = {{"k\xff", std::string("v\xc3\x28\x00z", 5)}};
  EXPECT_EQ(dump_json(built), built.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  // Deeper than simdjson's default depth (1,024), within the configured limit: simdjson's
  // parser is made able to read it (not left to nlohmann's).
  const std::string deep = std::string(2000, '[') + std::string(2000, ']');
  simdjson::dom::parser once;
  simdjson::dom::parser* parser = ready_parser(once, deep.size(), 2000);
  ASSERT_NE(parser, nullptr);
  EXPECT_EQ(parser->parse(deep).error(), simdjson::SUCCESS);
  const nlohmann::json j = parse_json(deep, 2000);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(dump_json(j), deep);
}

}  // namespace
}  // namespace signgate::api
