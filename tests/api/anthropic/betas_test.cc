// anthropic-beta → the body's anthropic_beta, keeping what Bedrock takes; and count_tokens.
#include "api/anthropic/betas.h"

#include <gtest/gtest.h>

#include "api/anthropic/messages.h"
#include "common/base64.h"

namespace signgate::api::anthropic {
namespace {

using nlohmann::json;

// Claude Code sends one comma-separated header; other clients repeat it. Both read the same.
TEST(AnthropicBetas, HeaderValuesSplitTrimmedAndDeduplicated) {
  EXPECT_EQ(
      parse_beta_header({"claude-code-20250219, interleaved-thinking-2025-05-14,,", " interleaved-thinking-2025-05-14 ",
                         "context-1m-2025-08-07"}),
      (std::vector<std::string>{"claude-code-20250219", "interleaved-thinking-2025-05-14", "context-1m-2025-08-07"}));
  EXPECT_TRUE(parse_beta_header({}).empty());
  EXPECT_TRUE(parse_beta_header({" , ,"}).empty());
}

// A header of a million commas costs kMaxBetas entries, not a million.
TEST(AnthropicBetas, HeaderIsBounded) {
  std::string many;
  for (int i = 0; i < 1000; ++i) many += "beta-" + std::to_string(i) + ",";
  const auto betas = parse_beta_header({many, std::string(10'000, 'x')});
  EXPECT_EQ(betas.size(), kMaxBetas);
  EXPECT_EQ(parse_beta_header({std::string(10'000, 'x')})[0].size(), kMaxBetaLength);
}

// First-party betas are dropped (and reported), Bedrock's kept, body and header merged.
TEST(AnthropicBetas, OnlyAcceptedBetasReachTheBody) {
  const std::set<std::string> accepted{"interleaved-thinking-2025-05-14", "context-1m-2025-08-07"};
  json body = {{"anthropic_beta", {"context-1m-2025-08-07", "files-api-2025-04-14"}}};
  const auto dropped = apply_betas(body, {"claude-code-20250219", "interleaved-thinking-2025-05-14"}, accepted);
  EXPECT_EQ(body["anthropic_beta"], json({"context-1m-2025-08-07", "interleaved-thinking-2025-05-14"}));
  EXPECT_EQ(dropped, (std::vector<std::string>{"files-api-2025-04-14", "claude-code-20250219"}));
  json none = {{"anthropic_beta", {"claude-code-20250219"}}};
  apply_betas(none, {}, accepted);
  EXPECT_FALSE(none.contains("anthropic_beta"));  // Bedrock refuses an empty or unknown list
}

// The default is Bedrock's documented list, and it holds what Claude Code needs most.
TEST(AnthropicBetas, DefaultListIsBedrocks) {
  const auto& d = default_bedrock_betas();
  for (const char* b : {"interleaved-thinking-2025-05-14", "context-1m-2025-08-07", "context-management-2025-06-27",
                        "effort-2025-11-24"}) {
    EXPECT_NE(std::find(d.begin(), d.end(), b), d.end()) << b;
  }
  EXPECT_EQ(std::find(d.begin(), d.end(), "claude-code-20250219"), d.end());
}

// /v1/messages with betas: the header's accepted ones end up in the InvokeModel body.
TEST(AnthropicBetas, MessagesCarryTheAcceptedBetas) {
  const std::set<std::string> accepted{"interleaved-thinking-2025-05-14"};
  auto r = to_invoke(R"({"model":"m","max_tokens":5,"messages":[]})", {}, kDefaultMaxJsonDepth,
                     Betas{{"claude-code-20250219", "interleaved-thinking-2025-05-14"}, &accepted});
  ASSERT_TRUE(std::holds_alternative<MessagesRequest>(r));
  const auto& m = std::get<MessagesRequest>(r);
  EXPECT_EQ(json::parse(m.bedrock_body)["anthropic_beta"], json({"interleaved-thinking-2025-05-14"}));
  EXPECT_EQ(m.dropped_betas, std::vector<std::string>{"claude-code-20250219"});
}

// Bedrock takes only user and assistant turns: Claude Code's mid-conversation system messages
// join the next user turn (or the last one), unless the operator forwards their beta.
TEST(AnthropicBetas, MidConversationSystemMessagesFoldIntoUserTurns) {
  const char* body = R"({"model":"m","max_tokens":5,"messages":[
      {"role":"user","content":"first"},{"role":"assistant","content":"ok"},
      {"role":"system","content":"reminder A"},{"role":"user","content":[{"type":"text","text":"second"}]},
      {"role":"system","content":[{"type":"text","text":"reminder B"}]}]})";
  auto r = to_invoke(body, {});
  ASSERT_TRUE(std::holds_alternative<MessagesRequest>(r));
  const json messages = json::parse(std::get<MessagesRequest>(r).bedrock_body)["messages"];
  ASSERT_EQ(messages.size(), 3u) << messages;
  EXPECT_EQ(messages[2]["role"], "user");
  EXPECT_EQ(messages[2]["content"], json::parse(R"([{"type":"text","text":"second"},{"type":"text","text":"reminder A"},
                                                   {"type":"text","text":"reminder B"}])"));
  // After an assistant turn with no user turn to follow, the system text becomes one.
  auto tail = to_invoke(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"q"},
      {"role":"assistant","content":"a"},{"role":"system","content":"s"}]})",
                        {});
  const json t = json::parse(std::get<MessagesRequest>(tail).bedrock_body)["messages"];
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[2], json::parse(R"({"role":"user","content":[{"type":"text","text":"s"}]})"));
  // Forwarded beta: left as the client sent it.
  const std::set<std::string> accepted{"mid-conversation-system-2026-04-07"};
  auto kept = to_invoke(body, {}, kDefaultMaxJsonDepth, Betas{{"mid-conversation-system-2026-04-07"}, &accepted});
  EXPECT_EQ(json::parse(std::get<MessagesRequest>(kept).bedrock_body)["messages"].size(), 5u);
}

// count_tokens wraps the InvokeModel body it would be, base64 in CountTokens' JSON, with the
// max_tokens InvokeModel requires (above any thinking budget).
TEST(AnthropicCountTokens, WrapsTheInvokeBody) {
  auto r = to_count_tokens(R"({"model":"sonnet","system":"s","thinking":{"type":"enabled","budget_tokens":2048},
                               "messages":[{"role":"user","content":"Hi"}]})",
                           {{"sonnet", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"}});
  ASSERT_TRUE(std::holds_alternative<CountTokensRequest>(r));
  const auto& c = std::get<CountTokensRequest>(r);
  EXPECT_EQ(c.model_id, "us.anthropic.claude-sonnet-4-5-20250929-v1:0");
  const json wrapped = json::parse(c.bedrock_body);
  const auto inner = base64_decode(wrapped["input"]["invokeModel"]["body"].get<std::string>());
  ASSERT_TRUE(inner);
  const json body = json::parse(*inner);
  EXPECT_EQ(body["anthropic_version"], "bedrock-2023-05-31");
  EXPECT_EQ(body["max_tokens"], 2049);
  EXPECT_FALSE(body.contains("model"));
  EXPECT_EQ(body["system"], "s");
  EXPECT_EQ(std::get<ApiError>(to_count_tokens(R"({"messages":[]})", {})).message, "model: field required");
}

TEST(AnthropicCountTokens, AnswerBecomesInputTokens) {
  EXPECT_EQ(from_count_tokens(R"({"inputTokens":1234})"), R"({"input_tokens":1234})");
  EXPECT_FALSE(from_count_tokens(R"({"inputTokens":-1})"));
  EXPECT_FALSE(from_count_tokens(R"({"tokens":1})"));
  EXPECT_FALSE(from_count_tokens("[[[[[[[[[[[[[[[[[[[[[["));
}

}  // namespace
}  // namespace signgate::api::anthropic
