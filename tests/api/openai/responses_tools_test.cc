// Namespace tools, built-in tools (dropped, refused, Nova's web grounding), service tiers and
// model families on the Responses API translator.
#include "api/openai/responses_tools.h"

#include <gtest/gtest.h>

#include "api/openai/sse_events.h"

#include "api/openai/responses.h"
#include "aws/eventstream.h"

namespace signgate::api::openai {
namespace {

using nlohmann::json;
using testing::converse_event;
using testing::sse_data;
namespace es = aws::eventstream;

const std::map<std::string, std::string> kAliases = {
    {"claude", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"},
    {"nova", "us.amazon.nova-premier-v1:0"},
    {"team", "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123"},
};
const std::map<std::string, std::string> kFamilies = {
    {"arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123", "anthropic.claude-sonnet-4-5"},
};

// Codex 0.171's tools with its default config (descriptions cut).
const char* kCodexTools = R"([
  {"type":"function","name":"exec_command","description":"Runs a command.","strict":false,
   "parameters":{"type":"object","properties":{"cmd":{"type":"string"}},"required":["cmd"]}},
  {"type":"namespace","name":"multi_agent_v1","description":"Tools for spawning and managing sub-agents.",
   "tools":[
     {"type":"function","name":"close_agent","description":"Close an agent.","strict":false,
      "parameters":{"type":"object","properties":{"target":{"type":"string"}},"required":["target"]}},
     {"type":"function","name":"wait_agent","description":"Wait for agents.","strict":false,
      "parameters":{"type":"object","properties":{"targets":{"type":"array","items":{"type":"string"}}}}}]},
  {"type":"function","name":"get_goal","description":"The goal.","strict":false,"parameters":{"type":"object"}},
  {"type":"web_search","external_web_access":true}])";

std::variant<ResponsesRequest, ApiError> translate(const json& body, ResponsesOptions options = {}) {
  options.families = &kFamilies;
  return responses_to_converse(body.dump(), kAliases, nullptr, options);
}

ResponsesRequest ok(const json& body, const ResponsesOptions& options = {}) {
  auto r = translate(body, options);
  if (auto* e = std::get_if<ApiError>(&r)) ADD_FAILURE() << e->message << " (" << e->param << ")";
  return std::holds_alternative<ResponsesRequest>(r) ? std::get<ResponsesRequest>(r) : ResponsesRequest{};
}

ApiError refused(const json& body, const ResponsesOptions& options = {}) {
  auto r = translate(body, options);
  EXPECT_TRUE(std::holds_alternative<ApiError>(r)) << body;
  return std::holds_alternative<ApiError>(r) ? std::get<ApiError>(r) : ApiError{};
}

std::vector<std::string> tool_names(const json& converse) {
  std::vector<std::string> out;
  for (const auto& t : converse["toolConfig"]["tools"]) {
    out.push_back(t.contains("toolSpec") ? t["toolSpec"]["name"].get<std::string>() : "system:" + t.dump());
  }
  return out;
}

TEST(ResponsesTools, CodexNamespaceBecomesFunctionsAndWebSearchIsDropped) {
  const auto r = ok({{"model", "claude"}, {"input", "hi"}, {"tools", json::parse(kCodexTools)}});
  EXPECT_EQ(tool_names(r.converse), (std::vector<std::string>{"exec_command", "multi_agent_v1__close_agent",
                                                              "multi_agent_v1__wait_agent", "get_goal"}));
  const json& close = r.converse["toolConfig"]["tools"][1]["toolSpec"];
  // The namespace's description reaches the model with each of its tools.
  EXPECT_EQ(close["description"], "Tools for spawning and managing sub-agents.\n\nClose an agent.");
  EXPECT_EQ(close["inputSchema"]["json"]["required"], json::array({"target"}));
  EXPECT_EQ(r.tools.dropped_tools, std::vector<std::string>{"web_search"});
  EXPECT_FALSE(r.tools.grounded);
  const CallerTool* back = r.tools.names.caller("multi_agent_v1__wait_agent");
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->name, "wait_agent");
  EXPECT_EQ(back->ns, "multi_agent_v1");
  EXPECT_EQ(r.tools.names.caller("exec_command"), nullptr);  // a top-level tool keeps its name
}

TEST(ResponsesTools, NamesThatDoNotFitOrCollideAreHashedNotTruncated) {
  const std::string long_ns(40, 'n');
  const std::string long_a = std::string(30, 'f') + "_a";
  const std::string long_b = std::string(30, 'f') + "_b";
  json tools = json::array();
  tools.push_back({{"type", "function"}, {"name", "ns__taken"}});  // a top-level tool has "ns__taken"
  tools.push_back(
      {{"type", "namespace"}, {"name", "ns"}, {"tools", json::array({json{{"type", "function"}, {"name", "taken"}}})}});
  tools.push_back({{"type", "namespace"},
                   {"name", long_ns},
                   {"tools", json::array({json{{"type", "function"}, {"name", long_a}},
                                          json{{"type", "function"}, {"name", long_b}}})}});
  tools.push_back({{"type", "namespace"},
                   {"name", "mcp.server/x"},
                   {"tools", json::array({json{{"type", "custom"}, {"name", "run"}}})}});
  const auto r = ok({{"model", "claude"}, {"input", "hi"}, {"tools", tools}});
  const auto names = tool_names(r.converse);
  ASSERT_EQ(names.size(), 5u);
  EXPECT_EQ(names[0], "ns__taken");
  std::set<std::string> unique(names.begin(), names.end());
  EXPECT_EQ(unique.size(), 5u);
  for (const auto& n : names) EXPECT_TRUE(valid_converse_tool_name(n)) << n;
  EXPECT_NE(names[1], "ns__taken");
  EXPECT_EQ(names[1].rfind("ns__taken_", 0), 0u) << names[1];
  EXPECT_EQ(names[2].size(), 64u);
  EXPECT_EQ(names[4].rfind("mcp_server_x__run_", 0), 0u) << names[4];
  // Every name maps back, and a later turn (the same tools) names them the same way.
  EXPECT_EQ(r.tools.names.caller(names[2])->name, long_a);
  EXPECT_EQ(r.tools.names.caller(names[3])->name, long_b);
  EXPECT_EQ(r.tools.names.caller(names[4])->ns, "mcp.server/x");
  EXPECT_EQ(r.tools.custom_tools, std::set<std::string>{names[4]});
  const auto again = ok({{"model", "claude"}, {"input", "hi"}, {"tools", tools}});
  EXPECT_EQ(tool_names(again.converse), names);
  // The same tool twice in a namespace is the caller's mistake.
  json twice = json::array({json{
      {"type", "namespace"},
      {"name", "ns"},
      {"tools", json::array({json{{"type", "function"}, {"name", "a"}}, json{{"type", "function"}, {"name", "a"}}})}}});
  EXPECT_EQ(refused({{"model", "claude"}, {"input", "hi"}, {"tools", twice}}).param, "tools[0].tools[1].name");
  json nested = json::array({json{{"type", "namespace"},
                                  {"name", "ns"},
                                  {"tools", json::array({json{{"type", "namespace"}, {"name", "inner"}}})}}});
  EXPECT_EQ(refused({{"model", "claude"}, {"input", "hi"}, {"tools", nested}}).param, "tools[0].tools[0].type");
}

TEST(ResponsesTools, ANamespacedCallSentBackMapsToTheSameConverseTool) {
  const json input = json::parse(R"([
    {"role":"user","content":"wait for it"},
    {"type":"function_call","status":"completed","id":"fc_1","name":"wait_agent","namespace":"multi_agent_v1",
     "arguments":"{\"targets\":[\"a\"]}","call_id":"call_1"},
    {"type":"function_call_output","id":"fco_1","call_id":"call_1","output":"done"}])");
  const auto r = ok({{"model", "claude"}, {"input", input}, {"tools", json::parse(kCodexTools)}});
  const json& use = r.converse["messages"][1]["content"][0]["toolUse"];
  EXPECT_EQ(use["name"], "multi_agent_v1__wait_agent");
  EXPECT_EQ(use["toolUseId"], "call_1");
  // Without the tools on offer this turn, the name is still the one they had.
  const auto bare = ok({{"model", "claude"}, {"input", input}});
  EXPECT_EQ(bare.converse["messages"][1]["content"][0]["toolUse"]["name"], "multi_agent_v1__wait_agent");
}

// A call sent back for a tool not on offer this turn never takes the name of one that is: "a" +
// "b__c" joins to what "a__b" + "c" is called. And a call sent back without its namespace is the
// namespaced tool's when only one namespace has that name.
TEST(ResponsesTools, CallsSentBackNeverTakeAnotherToolsName) {
  const json offered = json::parse(R"([{"type":"namespace","name":"a__b","tools":[{"type":"function","name":"c"}]},
      {"type":"namespace","name":"ns","tools":[{"type":"function","name":"only_here"}]}])");
  const json input = json::parse(R"([{"role":"user","content":"x"},
      {"type":"function_call","call_id":"c1","name":"b__c","namespace":"a","arguments":"{}"},
      {"type":"function_call_output","call_id":"c1","output":"1"},
      {"type":"function_call","call_id":"c2","name":"only_here","arguments":"{}"},
      {"type":"function_call_output","call_id":"c2","output":"2"}])");
  const auto r = ok({{"model", "claude"}, {"input", input}, {"tools", offered}});
  EXPECT_EQ(tool_names(r.converse), (std::vector<std::string>{"a__b__c", "ns__only_here"}));
  const std::string replayed = r.converse["messages"][1]["content"][0]["toolUse"]["name"];
  EXPECT_NE(replayed, "a__b__c");
  EXPECT_TRUE(valid_converse_tool_name(replayed));
  EXPECT_EQ(r.converse["messages"][3]["content"][0]["toolUse"]["name"], "ns__only_here");
  // allowed_tools naming a namespaced function without its namespace allows it.
  const auto allowed = ok({{"model", "claude"},
                           {"input", "x"},
                           {"tools", offered},
                           {"tool_choice", json::parse(R"({"type":"allowed_tools","mode":"required",
                               "tools":[{"type":"function","name":"only_here"}]})")}});
  EXPECT_EQ(tool_names(allowed.converse), std::vector<std::string>{"ns__only_here"});
}

// A conversation that changes models: another model's reasoning (OpenAI's, from a turn a model
// on Bedrock's OpenAI API took) is not sent to a Converse model, and the turn is answered.
TEST(ResponsesTools, AnotherModelsReasoningIsNotSentToConverse) {
  const auto r = ok(
      {{"model", "claude"}, {"reasoning", {{"effort", "low"}}}, {"input", json::parse(R"([{"role":"user","content":"x"},
      {"type":"reasoning","id":"rs_o","summary":[],"encrypted_content":"gAAAAopenai"},
      {"type":"message","role":"assistant","content":"earlier"},{"role":"user","content":"y"}])")}});
  for (const auto& m : r.converse["messages"]) {
    for (const auto& b : m["content"]) EXPECT_FALSE(b.contains("reasoningContent")) << b;
  }
  EXPECT_EQ(r.input_items[1]["encrypted_content"], "gAAAAopenai");  // kept for the store as it came
}

// Many namespaced tools and many calls of them: each call is one lookup (a map), not a scan.
TEST(ResponsesTools, ManyToolsAndCallsStayCheap) {
  json tools = json::array();
  json inner = json::array();
  json input = json::array({json{{"role", "user"}, {"content", "x"}}});
  for (int i = 0; i < 3000; ++i) {
    std::string name = "f", call = "c";
    name += std::to_string(i);
    call += std::to_string(i);
    inner.push_back({{"type", "function"}, {"name", name}});
    input.push_back(
        {{"type", "function_call"}, {"call_id", call}, {"name", name}, {"namespace", "big"}, {"arguments", "{}"}});
    input.push_back({{"type", "function_call_output"}, {"call_id", call}, {"output", "ok"}});
  }
  tools.push_back({{"type", "namespace"}, {"name", "big"}, {"tools", inner}});
  const auto r = ok({{"model", "claude"}, {"input", input}, {"tools", tools}});
  EXPECT_EQ(r.converse["toolConfig"]["tools"].size(), 3000u);
  EXPECT_EQ(r.converse["messages"][1]["content"][0]["toolUse"]["name"], "big__f0");
}

TEST(ResponsesTools, ToolChoiceNamingANamespacedFunction) {
  const auto r =
      ok({{"model", "claude"},
          {"input", "hi"},
          {"tools", json::parse(kCodexTools)},
          {"tool_choice", {{"type", "function"}, {"name", "close_agent"}, {"namespace", "multi_agent_v1"}}}});
  EXPECT_EQ(r.converse["toolConfig"]["toolChoice"], json::parse(R"({"tool":{"name":"multi_agent_v1__close_agent"}})"));
  const auto allowed = ok({{"model", "claude"},
                           {"input", "hi"},
                           {"tools", json::parse(kCodexTools)},
                           {"tool_choice", json::parse(R"({"type":"allowed_tools","mode":"required","tools":[
              {"type":"function","name":"wait_agent","namespace":"multi_agent_v1"},
              {"type":"function","name":"get_goal"}]})")}});
  EXPECT_EQ(tool_names(allowed.converse), (std::vector<std::string>{"multi_agent_v1__wait_agent", "get_goal"}));
  EXPECT_EQ(allowed.converse["toolConfig"]["toolChoice"], json::parse(R"({"any":{}})"));
  // openai-node and the AI SDK name the function only: the one namespace that has it.
  const auto bare = ok({{"model", "claude"},
                        {"input", "hi"},
                        {"tools", json::parse(kCodexTools)},
                        {"tool_choice", {{"type", "function"}, {"name", "close_agent"}}}});
  EXPECT_EQ(bare.converse["toolConfig"]["toolChoice"],
            json::parse(R"({"tool":{"name":"multi_agent_v1__close_agent"}})"));
  EXPECT_EQ(refused({{"model", "claude"},
                     {"input", "hi"},
                     {"tools", json::parse(kCodexTools)},
                     {"tool_choice", {{"type", "function"}, {"name", "no_such_tool"}}}})
                .param,
            "tool_choice.name");
  // A built-in tool chosen: dropped with it, the model chooses.
  const auto hosted = ok({{"model", "claude"},
                          {"input", "hi"},
                          {"tools", json::parse(kCodexTools)},
                          {"tool_choice", {{"type", "web_search_preview"}}}});
  EXPECT_EQ(hosted.converse["toolConfig"]["toolChoice"], json::parse(R"({"auto":{}})"));
}

TEST(ResponsesTools, BuiltInToolsAreDroppedOrRefused) {
  const json tools = json::parse(R"([{"type":"web_search_preview"},{"type":"file_search","vector_store_ids":["v"]},
      {"type":"code_interpreter","container":{"type":"auto"}},{"type":"image_generation"},
      {"type":"computer_use_preview","display_width":1,"display_height":1,"environment":"linux"},
      {"type":"mcp","server_label":"x","server_url":"https://mcp.example/sse"},{"type":"web_search"},
      {"type":"Weird Type\r\nX-Injected: 1"},
      {"type":"function","name":"f"}])");
  const auto r = ok({{"model", "claude"}, {"input", "hi"}, {"tools", tools}});
  EXPECT_EQ(tool_names(r.converse), std::vector<std::string>{"f"});
  EXPECT_EQ(r.tools.dropped_tools,
            (std::vector<std::string>{"web_search_preview", "file_search", "code_interpreter", "image_generation",
                                      "computer_use_preview", "mcp", "web_search", "unknown"}));
  // Only built-in tools: no toolConfig at all (Converse refuses an empty one).
  const auto only = ok({{"model", "claude"}, {"input", "hi"}, {"tools", json::parse(R"([{"type":"web_search"}])")}});
  EXPECT_FALSE(only.converse.contains("toolConfig"));
  const ApiError e = refused({{"model", "claude"}, {"input", "hi"}, {"tools", tools}}, {.refuse_hosted_tools = true});
  EXPECT_EQ(e.param, "tools[0].type");
  EXPECT_NE(e.message.find("web_search_preview"), std::string::npos);
  EXPECT_EQ(refused({{"model", "claude"},
                     {"input", "hi"},
                     {"tools", json::parse(R"([{"type":"function","name":"f"}])")},
                     {"tool_choice", {{"type", "file_search"}}}},
                    {.refuse_hosted_tools = true})
                .param,
            "tool_choice.type");
}

TEST(ResponsesTools, WebSearchOnNovaBecomesWebGrounding) {
  const auto r = ok({{"model", "nova"},
                     {"input", "news?"},
                     {"tools", json::parse(R"([{"type":"web_search"},{"type":"web_search_preview"},
                         {"type":"function","name":"f"}])")}});
  EXPECT_TRUE(r.tools.grounded);
  EXPECT_TRUE(r.tools.dropped_tools.empty());
  EXPECT_EQ(r.converse["toolConfig"]["tools"],
            json::parse(R"([{"systemTool":{"name":"nova_grounding"}},{"toolSpec":{"name":"f",
                "inputSchema":{"json":{"type":"object"}}}}])"));
  // Its citations become url_citation annotations over the text they back.
  ResponseBuilder b(r, "abc", 1);
  const json answer = json::parse(R"({"output":{"message":{"role":"assistant","content":[
      {"text":"Héllo. "},
      {"toolUse":{"toolUseId":"s1","name":"nova_grounding","type":"server_tool_use","input":{"query":"news"}}},
      {"citationsContent":{"content":[{"text":"It rained."}],"citations":[
          {"location":{"web":{"url":"https://news.example/rain","domain":"news.example"}}},
          {"title":"Local paper","location":{"web":{"url":"https://paper.example/a","domain":"paper.example"}}}]}},
      {"text":" Bye."}]}},"stopReason":"end_turn","usage":{"inputTokens":5,"outputTokens":6}})");
  const json out = response_from_converse(answer, b);
  ASSERT_EQ(out["output"].size(), 1u);  // the server tool's call is not the caller's
  const json& part = out["output"][0]["content"][0];
  EXPECT_EQ(part["text"], "Héllo. It rained. Bye.");
  EXPECT_EQ(part["annotations"], json::parse(R"([
      {"type":"url_citation","start_index":7,"end_index":17,"url":"https://news.example/rain","title":"news.example"},
      {"type":"url_citation","start_index":7,"end_index":17,"url":"https://paper.example/a","title":"Local paper"}])"));
  // A model without web grounding: dropped.
  const auto claude = ok({{"model", "claude"}, {"input", "x"}, {"tools", json::parse(R"([{"type":"web_search"}])")}});
  EXPECT_FALSE(claude.tools.grounded);
}

TEST(ResponsesTools, StreamedNamespacedCallsAndCitations) {
  const auto r = ok({{"model", "nova"},
                     {"input", "x"},
                     {"stream", true},
                     {"service_tier", "flex"},
                     {"tools", json::parse(kCodexTools)}});
  EXPECT_EQ(r.converse["serviceTier"], json::parse(R"({"type":"flex"})"));
  ResponseBuilder b(r, "abc", 1);
  ResponseEventTranslator t(b);
  std::string sse = t.start();
  for (const auto& [type, payload] : std::vector<std::pair<std::string, json>>{
           {"messageStart", {{"role", "assistant"}}},
           {"contentBlockStart",
            {{"contentBlockIndex", 0},
             {"start", {{"toolUse", {{"toolUseId", "s"}, {"name", "nova_grounding"}, {"type", "server_tool_use"}}}}}}},
           {"contentBlockDelta", {{"contentBlockIndex", 0}, {"delta", {{"toolUse", {{"input", "{}"}}}}}}},
           {"contentBlockStop", {{"contentBlockIndex", 0}}},
           {"contentBlockDelta", {{"contentBlockIndex", 1}, {"delta", {{"text", "It rained."}}}}},
           {"contentBlockDelta",
            {{"contentBlockIndex", 1},
             {"delta",
              {{"citation", {{"location", {{"web", {{"url", "https://n.example/r"}, {"domain", "n.example"}}}}}}}}}}},
           {"contentBlockStop", {{"contentBlockIndex", 1}}},
           {"contentBlockStart",
            {{"contentBlockIndex", 2},
             {"start", {{"toolUse", {{"toolUseId", "tu"}, {"name", "multi_agent_v1__wait_agent"}}}}}}},
           {"contentBlockDelta", {{"contentBlockIndex", 2}, {"delta", {{"toolUse", {{"input", "{}"}}}}}}},
           {"contentBlockStop", {{"contentBlockIndex", 2}}},
           {"messageStop", {{"stopReason", "tool_use"}}},
           {"metadata", {{"usage", {{"inputTokens", 9}, {"outputTokens", 4}}}, {"serviceTier", {{"type", "flex"}}}}}}) {
    sse += t.on_message(converse_event(type, payload));
  }
  sse += t.finish();
  const auto all = sse_data(sse);
  std::vector<std::string> types;
  for (const auto& e : all) types.push_back(e["type"]);
  const auto at = std::find(types.begin(), types.end(), "response.output_text.annotation.added");
  ASSERT_NE(at, types.end());
  const json& added = all[static_cast<std::size_t>(at - types.begin())];
  EXPECT_EQ(added["annotation"]["url"], "https://n.example/r");
  EXPECT_EQ(added["annotation"]["start_index"], 0);
  EXPECT_EQ(added["annotation"]["end_index"], 10);
  EXPECT_EQ(added["annotation_index"], 0);
  const json& done = all.back()["response"];
  EXPECT_EQ(done["service_tier"], "flex");
  ASSERT_EQ(done["output"].size(), 2u);
  EXPECT_EQ(done["output"][0]["content"][0]["annotations"].size(), 1u);
  EXPECT_EQ(done["output"][1]["name"], "wait_agent");
  EXPECT_EQ(done["output"][1]["namespace"], "multi_agent_v1");
  // The item as it was added, and the arguments' done event, name it as the caller does.
  for (const auto& e : all) {
    if (e["type"] == "response.function_call_arguments.done") {
      EXPECT_EQ(e["name"], "wait_agent");
    }
    if (e["type"] == "response.output_item.added" && e["item"]["type"] == "function_call") {
      EXPECT_EQ(e["item"]["name"], "wait_agent");
      EXPECT_EQ(e["item"]["namespace"], "multi_agent_v1");
    }
  }
}

TEST(ResponsesTools, ServiceTierOnlyWhereTheModelHasIt) {
  EXPECT_EQ(ok({{"model", "nova"}, {"input", "x"}, {"service_tier", "priority"}}).converse["serviceTier"],
            json::parse(R"({"type":"priority"})"));
  for (const char* tier : {"auto", "default", "scale"}) {
    const auto r = ok({{"model", "nova"}, {"input", "x"}, {"service_tier", tier}});
    EXPECT_FALSE(r.converse.contains("serviceTier")) << tier;
    EXPECT_EQ(r.tier, ServiceTier::kDefault);
  }
  // Claude has no Flex tier on Bedrock: served in the default tier, and the answer says so.
  const auto claude = ok({{"model", "claude"}, {"input", "x"}, {"service_tier", "flex"}});
  EXPECT_FALSE(claude.converse.contains("serviceTier"));
  ResponseBuilder b(claude, "abc", 1);
  EXPECT_EQ(b.response("completed", json::array(), nullptr)["service_tier"], "default");
  EXPECT_EQ(refused({{"model", "nova"}, {"input", "x"}, {"service_tier", "turbo"}}).param, "service_tier");
}

TEST(ResponsesTools, AnApplicationInferenceProfileIsTreatedAsItsFamily) {
  const auto r = ok({{"model", "team"}, {"input", "x"}, {"reasoning", {{"effort", "low"}}}});
  EXPECT_EQ(r.model_id, "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123");
  EXPECT_EQ(r.family, "anthropic.claude-sonnet-4-5");
  EXPECT_TRUE(r.thinking);
  EXPECT_EQ(r.converse["additionalModelRequestFields"]["thinking"]["type"], "enabled");
  // Without a family the ARN says nothing: no thinking, as before.
  auto plain = responses_to_converse(
      json({{"model", "team"}, {"input", "x"}, {"reasoning", {{"effort", "low"}}}}).dump(), kAliases, nullptr);
  ASSERT_TRUE(std::holds_alternative<ResponsesRequest>(plain));
  EXPECT_FALSE(std::get<ResponsesRequest>(plain).thinking);
}

}  // namespace
}  // namespace signgate::api::openai
