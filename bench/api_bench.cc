// The dialect translators on their hot paths: a typical 2 KiB chat request to Converse, and
// a 500-chunk ConverseStream answer to SSE (decode + translate), per request; the same for the
// Responses API.
#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>

#include "api/anthropic/messages.h"
#include "api/openai/chat.h"
#include "api/openai/responses.h"
#include "api/openai/stream.h"
#include "aws/eventstream.h"
#include "common/base64.h"

namespace {

using nlohmann::json;
namespace es = signgate::aws::eventstream;

std::string chat_body_2kib() {
  json messages =
      json::array({{{"role", "system"}, {"content", "You are a helpful assistant. Answer briefly and precisely."}}});
  for (int i = 0; messages.dump().size() < 1900; ++i) {
    messages.push_back(
        {{"role", i % 2 == 0 ? "user" : "assistant"},
         {"content", "This is turn " + std::to_string(i) + " of a conversation about Bedrock signing gateways."}});
  }
  if (messages.back()["role"] != "user") messages.push_back({{"role", "user"}, {"content", "And now?"}});
  return json{{"model", "claude-haiku"}, {"messages", messages}, {"max_tokens", 512},
              {"temperature", 0.3},      {"stream", true},       {"stream_options", {{"include_usage", true}}}}
      .dump();
}

void BM_OpenAiChatRequest2KiB(benchmark::State& state) {
  const std::string body = chat_body_2kib();
  const std::map<std::string, std::string> aliases{{"claude-haiku", "anthropic.claude-3-haiku-20240307-v1:0"}};
  for (auto _ : state) {
    auto r = signgate::api::openai::to_converse(body, aliases);
    const std::string out = std::get<signgate::api::openai::ChatRequest>(r).converse.dump();
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
  state.counters["body_bytes"] = static_cast<double>(body.size());
}
BENCHMARK(BM_OpenAiChatRequest2KiB);

std::string converse_stream_500() {
  std::string wire;
  const auto frame = [&](const std::string& type, const json& payload) {
    wire += es::encode({{":event-type", es::HeaderValue::string(type)},
                        {":content-type", es::HeaderValue::string("application/json")},
                        {":message-type", es::HeaderValue::string("event")}},
                       payload.dump());
  };
  frame("messageStart", {{"role", "assistant"}});
  for (int i = 0; i < 497; ++i)
    frame("contentBlockDelta", {{"contentBlockIndex", 0}, {"delta", {{"text", " token" + std::to_string(i)}}}});
  frame("messageStop", {{"stopReason", "end_turn"}});
  frame("metadata", {{"usage", {{"inputTokens", 100}, {"outputTokens", 497}, {"totalTokens", 597}}}});
  return wire;
}

void BM_OpenAiStream500Chunks(benchmark::State& state) {
  const std::string wire = converse_stream_500();
  signgate::api::openai::ChatRequest req;
  req.model_name = "claude-haiku";
  req.include_usage = true;
  for (auto _ : state) {
    es::Decoder decoder;
    signgate::api::openai::ChunkTranslator t(req, "chatcmpl-1", 1700000000);
    std::size_t out = 0;
    std::string_view rest = wire;
    while (!rest.empty()) {
      auto r = decoder.feed(rest);
      rest.remove_prefix(r.consumed);
      if (r.message) out += t.on_message(*r.message).size();
    }
    out += t.finish().size();
    benchmark::DoNotOptimize(out);
  }
  state.counters["per_chunk_ns"] = benchmark::Counter(static_cast<double>(state.iterations()) * 500,
                                                      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_OpenAiStream500Chunks)->Unit(benchmark::kMicrosecond);

}  // namespace

// The load harness's chat completion, end to end through the translators: request → Converse
// body, then Converse answer → chat.completion body. What one proxied completion costs in JSON.
void BM_OpenAiChatRoundTripSmall(benchmark::State& state) {
  const std::string body =
      R"({"model":"claude-haiku","messages":[{"role":"system","content":"You are a concise assistant for platform engineers."},)"
      R"({"role":"user","content":"In two sentences: why should a gateway sign Bedrock requests with short-lived credentials instead of handing out AWS keys?"}],)"
      R"("max_tokens":256,"temperature":0.2})";
  const std::string answer =
      R"({"output":{"message":{"role":"assistant","content":[{"text":"Signing gateways keep long-lived AWS keys away from the callers; each request is signed with short-lived credentials from STS, and every call is audited."}]}},)"
      R"("stopReason":"end_turn","usage":{"inputTokens":25,"outputTokens":31,"totalTokens":56},"metrics":{"latencyMs":120}})";
  const std::map<std::string, std::string> aliases{{"claude-haiku", "anthropic.claude-3-haiku-20240307-v1:0"}};
  for (auto _ : state) {
    auto r = signgate::api::openai::to_converse(body, aliases);
    const auto& req = std::get<signgate::api::openai::ChatRequest>(r);
    const std::string upstream = req.converse.dump();
    const std::string out =
        signgate::api::openai::completion_from_converse(answer, req, "chatcmpl-1", 1700000000)->body;
    benchmark::DoNotOptimize(upstream);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_OpenAiChatRoundTripSmall);

// The Responses API next to chat completions: the same 2 KiB conversation as input items, the
// same 500-token stream as typed events, and the same small round trip.
namespace {

std::string responses_body_2kib() {
  json chat = json::parse(chat_body_2kib());
  json input = json::array();
  for (const auto& m : chat["messages"]) {
    if (m["role"] == "system") continue;
    const bool user = m["role"] == "user";
    input.push_back(
        {{"type", "message"},
         {"role", m["role"]},
         {"content", json::array({{{"type", user ? "input_text" : "output_text"}, {"text", m["content"]}}})}});
  }
  return json{{"model", "claude-haiku"}, {"instructions", chat["messages"][0]["content"]},
              {"input", input},          {"max_output_tokens", 512},
              {"temperature", 0.3},      {"stream", true},
              {"store", false}}
      .dump();
}

void BM_ResponsesRequest2KiB(benchmark::State& state) {
  const std::string body = responses_body_2kib();
  const std::map<std::string, std::string> aliases{{"claude-haiku", "anthropic.claude-3-haiku-20240307-v1:0"}};
  for (auto _ : state) {
    auto r = signgate::api::openai::responses_to_converse(body, aliases, nullptr);
    const std::string out = std::get<signgate::api::openai::ResponsesRequest>(r).converse.dump();
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
  state.counters["body_bytes"] = static_cast<double>(body.size());
}
BENCHMARK(BM_ResponsesRequest2KiB);

// Codex 0.171's first request with its default tools, in shape: a 20 KiB developer prompt,
// eight functions, the multi_agent_v1 namespace of five, and web_search (dropped); the same
// request without the namespace and web_search (what the old example config sent) for the ratio.
std::string codex_shaped_body(bool defaults) {
  json tools = json::array();
  const json params = json::parse(
      R"({"type":"object","properties":{"cmd":{"type":"string","description":"the command"},
          "workdir":{"type":"string"},"timeout_ms":{"type":"number"}},"required":["cmd"],
          "additionalProperties":false})");
  for (const char* name : {"exec_command", "write_stdin", "request_user_input", "view_image", "get_goal", "create_goal",
                           "update_goal", "apply_patch_helper"}) {
    tools.push_back({{"type", "function"},
                     {"name", name},
                     {"description", std::string(400, 'd')},
                     {"strict", false},
                     {"parameters", params}});
  }
  if (defaults) {
    json inner = json::array();
    for (const char* name : {"close_agent", "resume_agent", "send_input", "spawn_agent", "wait_agent"}) {
      inner.push_back({{"type", "function"},
                       {"name", name},
                       {"description", std::string(300, 'a')},
                       {"strict", false},
                       {"parameters", params}});
    }
    tools.push_back({{"type", "namespace"},
                     {"name", "multi_agent_v1"},
                     {"description", "Tools for spawning and managing sub-agents."},
                     {"tools", inner}});
    tools.push_back({{"type", "web_search"}, {"external_web_access", true}});
  }
  json input = json::array();
  input.push_back({{"type", "message"},
                   {"role", "developer"},
                   {"content", json::array({{{"type", "input_text"}, {"text", std::string(20'000, 'p')}}})}});
  input.push_back({{"type", "message"},
                   {"role", "user"},
                   {"content", json::array({{{"type", "input_text"}, {"text", "explain this repository"}}})}});
  return json{{"model", "claude-haiku"},
              {"input", input},
              {"tools", tools},
              {"tool_choice", "auto"},
              {"stream", true},
              {"store", false},
              {"parallel_tool_calls", true},
              {"include", json::array({"reasoning.encrypted_content"})}}
      .dump();
}

void BM_ResponsesCodexRequest(benchmark::State& state) {
  const std::string body = codex_shaped_body(state.range(0) != 0);
  const std::map<std::string, std::string> aliases{{"claude-haiku", "anthropic.claude-3-haiku-20240307-v1:0"}};
  for (auto _ : state) {
    auto r = signgate::api::openai::responses_to_converse(body, aliases, nullptr);
    const std::string out = std::get<signgate::api::openai::ResponsesRequest>(r).converse.dump();
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
  state.counters["body_bytes"] = static_cast<double>(body.size());
}
BENCHMARK(BM_ResponsesCodexRequest)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

void BM_ResponsesStream500Events(benchmark::State& state) {
  const std::string wire = converse_stream_500();
  signgate::api::openai::ResponsesRequest req;
  req.model_name = "claude-haiku";
  for (auto _ : state) {
    es::Decoder decoder;
    signgate::api::openai::ResponseBuilder builder(req, "0123456789abcdef0123456789abcdef", 1700000000);
    signgate::api::openai::ResponseEventTranslator t(builder);
    std::size_t out = t.start().size();
    std::string_view rest = wire;
    while (!rest.empty()) {
      auto r = decoder.feed(rest);
      rest.remove_prefix(r.consumed);
      if (r.message) out += t.on_message(*r.message).size();
    }
    out += t.finish().size();
    benchmark::DoNotOptimize(out);
  }
  state.counters["per_event_ns"] = benchmark::Counter(static_cast<double>(state.iterations()) * 500,
                                                      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ResponsesStream500Events)->Unit(benchmark::kMicrosecond);

void BM_ResponsesRoundTripSmall(benchmark::State& state) {
  const std::string body =
      R"({"model":"claude-haiku","instructions":"You are a concise assistant for platform engineers.",)"
      R"("input":"In two sentences: why should a gateway sign Bedrock requests with short-lived credentials instead of handing out AWS keys?",)"
      R"("max_output_tokens":256,"temperature":0.2,"store":false})";
  const std::string answer =
      R"({"output":{"message":{"role":"assistant","content":[{"text":"Signing gateways keep long-lived AWS keys away from the callers; each request is signed with short-lived credentials from STS, and every call is audited."}]}},)"
      R"("stopReason":"end_turn","usage":{"inputTokens":25,"outputTokens":31,"totalTokens":56},"metrics":{"latencyMs":120}})";
  const std::map<std::string, std::string> aliases{{"claude-haiku", "anthropic.claude-3-haiku-20240307-v1:0"}};
  for (auto _ : state) {
    auto r = signgate::api::openai::responses_to_converse(body, aliases, nullptr);
    const auto& req = std::get<signgate::api::openai::ResponsesRequest>(r);
    const std::string upstream = req.converse.dump();
    const json parsed = json::parse(answer);
    signgate::api::openai::ResponseBuilder builder(req, "0123456789abcdef0123456789abcdef", 1700000000);
    const std::string out = signgate::api::openai::response_from_converse(parsed, builder).dump();
    benchmark::DoNotOptimize(upstream);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_ResponsesRoundTripSmall);

}  // namespace
