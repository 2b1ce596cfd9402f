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

// Claude's line and version from every shape of ID Bedrock takes.
TEST(AnthropicBetas, ClaudeModelFromAnyId) {
  const auto read = [](std::string_view id) {
    const auto m = claude_model(id);
    return m ? m->line + " " + std::to_string(m->major) + "." + std::to_string(m->minor) : std::string("none");
  };
  EXPECT_EQ(read("us.anthropic.claude-sonnet-4-5-20250929-v1:0"), "sonnet 4.5");
  EXPECT_EQ(read("anthropic.claude-3-7-sonnet-20250219-v1:0"), "sonnet 3.7");
  EXPECT_EQ(read("anthropic.claude-3-5-sonnet-20241022-v2:0"), "sonnet 3.5");
  EXPECT_EQ(read("anthropic.claude-3-haiku-20240307-v1:0"), "haiku 3.0");
  EXPECT_EQ(read("anthropic.claude-sonnet-4-20250514-v1:0"), "sonnet 4.0");
  EXPECT_EQ(read("global.anthropic.claude-opus-4-6-v1"), "opus 4.6");
  EXPECT_EQ(read("eu.anthropic.claude-opus-4-7"), "opus 4.7");
  EXPECT_EQ(read("us.anthropic.claude-sonnet-5"), "sonnet 5.0");
  EXPECT_EQ(read("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0"), "haiku 4.5");
  EXPECT_EQ(read("anthropic.claude-opus-4-1"), "opus 4.1");
  EXPECT_EQ(read("arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123"), "none");
  EXPECT_EQ(read("anthropic.claude-v2:1"), "none");
  EXPECT_EQ(read("amazon.nova-pro-v1:0"), "none");
}

// The shipped table follows Bedrock's documentation per family; Opus 4.7 and later take none.
TEST(AnthropicBetas, ShippedDefaultsPerFamily) {
  const BetaPolicy shipped;
  const auto takes = [&](std::string_view model, std::string_view beta) {
    return shipped.accepted(model).count(std::string(beta)) != 0;
  };
  EXPECT_TRUE(takes("anthropic.claude-3-7-sonnet-20250219-v1:0", "computer-use-2025-01-24"));
  EXPECT_TRUE(takes("anthropic.claude-3-7-sonnet-20250219-v1:0", "output-128k-2025-02-19"));
  EXPECT_FALSE(takes("anthropic.claude-3-7-sonnet-20250219-v1:0", "interleaved-thinking-2025-05-14"));
  EXPECT_FALSE(takes("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "output-128k-2025-02-19"));
  EXPECT_TRUE(takes("us.anthropic.claude-sonnet-4-20250514-v1:0", "context-1m-2025-08-07"));
  EXPECT_TRUE(takes("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "context-1m-2025-08-07"));
  EXPECT_TRUE(takes("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "context-management-2025-06-27"));
  EXPECT_TRUE(takes("us.anthropic.claude-haiku-4-5-20251001-v1:0", "context-management-2025-06-27"));
  EXPECT_FALSE(takes("us.anthropic.claude-haiku-4-5-20251001-v1:0", "context-1m-2025-08-07"));
  EXPECT_TRUE(takes("us.anthropic.claude-opus-4-5-20251101-v1:0", "effort-2025-11-24"));
  EXPECT_TRUE(takes("us.anthropic.claude-opus-4-5-20251101-v1:0", "tool-search-tool-2025-10-19"));
  EXPECT_FALSE(takes("us.anthropic.claude-opus-4-1-20250805-v1:0", "effort-2025-11-24"));
  EXPECT_TRUE(takes("us.anthropic.claude-opus-4-1-20250805-v1:0", "interleaved-thinking-2025-05-14"));
  EXPECT_TRUE(takes("global.anthropic.claude-opus-4-6-v1", "interleaved-thinking-2025-05-14"));
  EXPECT_FALSE(takes("anthropic.claude-3-haiku-20240307-v1:0", "interleaved-thinking-2025-05-14"));
  for (const char* newer :
       {"eu.anthropic.claude-opus-4-7", "us.anthropic.claude-opus-4-8", "us.anthropic.claude-sonnet-5"}) {
    EXPECT_TRUE(shipped.accepted(newer).empty()) << newer;
  }
  EXPECT_TRUE(shipped.accepted("arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/x").empty());
  for (const auto& m : {"anthropic.claude-sonnet-4-5", "anthropic.claude-opus-4-5"}) {
    for (const auto& beta : documented_betas(m)) EXPECT_EQ(beta.find("claude-code"), std::string::npos);
  }
}

// anthropic.betas: the first glob matching the model as sent wins; a model none matches gets the
// shipped defaults of its family, which an application inference profile takes from models:.
TEST(AnthropicBetas, FirstMatchingRuleWinsElseFamilyDefaults) {
  const std::string arn = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123";
  const BetaPolicy policy({{"us.anthropic.claude-opus-4-1*", {"interleaved-thinking-2025-05-14"}},
                           {"*opus*", {"effort-2025-11-24"}},
                           {"*haiku*", {}}},
                          {{arn, "anthropic.claude-sonnet-4-5"}});
  EXPECT_EQ(policy.accepted("us.anthropic.claude-opus-4-1-20250805-v1:0"),
            std::set<std::string>{"interleaved-thinking-2025-05-14"});
  EXPECT_EQ(policy.accepted("us.anthropic.claude-opus-4-5-20251101-v1:0"), std::set<std::string>{"effort-2025-11-24"});
  EXPECT_TRUE(policy.accepted("us.anthropic.claude-haiku-4-5-20251001-v1:0").empty());
  EXPECT_EQ(policy.accepted("us.anthropic.claude-sonnet-4-20250514-v1:0"),
            documented_betas("anthropic.claude-sonnet-4-20250514-v1:0"));
  EXPECT_EQ(policy.family_of(arn), "anthropic.claude-sonnet-4-5");
  EXPECT_TRUE(policy.accepted(arn).count("context-management-2025-06-27"));
  EXPECT_EQ(policy.accepted(arn, "anthropic.claude-haiku-4-5"), documented_betas("anthropic.claude-haiku-4-5"));
  // A flat list is one rule for every model.
  const BetaPolicy flat({{"*", {"context-1m-2025-08-07"}}}, {});
  EXPECT_EQ(flat.accepted("eu.anthropic.claude-opus-4-7"), std::set<std::string>{"context-1m-2025-08-07"});
}

// /v1/messages chooses by the model the alias resolves to.
TEST(AnthropicBetas, MessagesChooseByTheResolvedModel) {
  const BetaPolicy shipped;
  const std::map<std::string, std::string> aliases = {{"opus", "eu.anthropic.claude-opus-4-7"},
                                                      {"sonnet", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"}};
  const Betas asked{{"claude-code-20250219", "interleaved-thinking-2025-05-14", "context-management-2025-06-27"},
                    &shipped};
  const auto opus = std::get<MessagesRequest>(
      to_invoke(R"({"model":"opus","max_tokens":5,"messages":[]})", aliases, kDefaultMaxJsonDepth, asked));
  EXPECT_FALSE(json::parse(opus.bedrock_body).contains("anthropic_beta"));
  EXPECT_EQ(opus.dropped_betas.size(), 3u);
  const auto sonnet = std::get<MessagesRequest>(
      to_invoke(R"({"model":"sonnet","max_tokens":5,"messages":[]})", aliases, kDefaultMaxJsonDepth, asked));
  EXPECT_EQ(json::parse(sonnet.bedrock_body)["anthropic_beta"],
            json({"interleaved-thinking-2025-05-14", "context-management-2025-06-27"}));
  EXPECT_EQ(sonnet.dropped_betas, std::vector<std::string>{"claude-code-20250219"});
}

// A route target naming another model: the body's betas are filtered again for it.
TEST(AnthropicBetas, RefilterForAnotherModel) {
  const BetaPolicy shipped;
  const std::string body = R"({"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"messages":[],)"
                           R"("anthropic_beta":["interleaved-thinking-2025-05-14","context-management-2025-06-27"]})";
  EXPECT_FALSE(refilter_invoke_body(body, shipped, "us.anthropic.claude-sonnet-4-5-20250929-v1:0", 64));
  const auto opus41 = refilter_invoke_body(body, shipped, "us.anthropic.claude-opus-4-1-20250805-v1:0", 64);
  ASSERT_TRUE(opus41);
  EXPECT_EQ(json::parse(opus41->body)["anthropic_beta"], json({"interleaved-thinking-2025-05-14"}));
  EXPECT_EQ(opus41->dropped, std::vector<std::string>{"context-management-2025-06-27"});
  const auto opus47 = refilter_invoke_body(body, shipped, "eu.anthropic.claude-opus-4-7", 64);
  ASSERT_TRUE(opus47);
  EXPECT_FALSE(json::parse(opus47->body).contains("anthropic_beta"));
  EXPECT_EQ(json::parse(opus47->body)["max_tokens"], 5);
  EXPECT_FALSE(refilter_invoke_body(R"({"max_tokens":5})", shipped, "eu.anthropic.claude-opus-4-7", 64));
  EXPECT_FALSE(refilter_invoke_body("[[[[\"anthropic_beta\"]]]]", shipped, "eu.anthropic.claude-opus-4-7", 2));
  EXPECT_FALSE(refilter_invoke_body("not json anthropic_beta", shipped, "eu.anthropic.claude-opus-4-7", 64));
  // A CountTokens body carries the InvokeModel body base64-encoded: filtered inside.
  const std::string counting = R"({"input":{"invokeModel":{"body":")" + base64_encode(body) + R"("}}})";
  EXPECT_FALSE(refilter_count_tokens_body(counting, shipped, "us.anthropic.claude-sonnet-4-5-20250929-v1:0", 64));
  const auto counted = refilter_count_tokens_body(counting, shipped, "us.anthropic.claude-opus-4-1-20250805-v1:0", 64);
  ASSERT_TRUE(counted);
  const auto inner = base64_decode(json::parse(counted->body)["input"]["invokeModel"]["body"].get<std::string>());
  ASSERT_TRUE(inner);
  EXPECT_EQ(json::parse(*inner)["anthropic_beta"], json({"interleaved-thinking-2025-05-14"}));
  EXPECT_EQ(counted->dropped, std::vector<std::string>{"context-management-2025-06-27"});
  EXPECT_FALSE(refilter_count_tokens_body(R"({"input":{"invokeModel":{"body":"***"}}})", shipped, "x", 64));
  EXPECT_FALSE(refilter_count_tokens_body(R"({"input":{"converse":{}}})", shipped, "x", 64));
}

// /v1/messages with betas: the header's accepted ones end up in the InvokeModel body.
TEST(AnthropicBetas, MessagesCarryTheAcceptedBetas) {
  const BetaPolicy accepted({{"*", {"interleaved-thinking-2025-05-14"}}}, {});
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
  const BetaPolicy accepted({{"*", {"mid-conversation-system-2026-04-07"}}}, {});
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
