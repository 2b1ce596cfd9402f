// OpenAI bodies of any shape through every OpenAI translator — /v1/chat/completions,
// /v1/responses (with a store that knows a few items) and /v1/embeddings — → a Bedrock request
// or a 400, never a crash; what is accepted must serialise.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>

#include "api/openai/chat.h"
#include "api/openai/embeddings.h"
#include "api/openai/openai_upstream.h"
#include "api/openai/responses.h"

namespace {

namespace openai = signgate::api::openai;
using nlohmann::json;

class History final : public openai::ResponseHistory {
 public:
  std::variant<json, std::string> conversation(std::string_view id) const override {
    if (id != "resp_1") return std::string("unknown");
    return json::parse(R"([{"type":"message","role":"user","content":"hi"},
        {"id":"fc_1","type":"function_call","call_id":"c1","name":"f","arguments":"{}"}])");
  }
  std::optional<json> item(std::string_view id) const override {
    if (id == "rs_1") {
      return json{
          {"id", "rs_1"},
          {"type", "reasoning"},
          {"encrypted_content", openai::seal_reasoning(json::parse(
                                    R"([{"reasoningContent":{"reasoningText":{"text":"t","signature":"s"}}}])"))}};
    }
    if (id == "ref_1") return json{{"type", "item_reference"}, {"id", "ref_1"}};  // a reference to a reference
    if (id == "msg_1") return json::parse(R"({"id":"msg_1","type":"message","role":"assistant","content":"ok"})");
    return std::nullopt;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::map<std::string, std::string> aliases{{"claude-haiku", "anthropic.claude-3-haiku-20240307-v1:0"},
                                                          {"claude", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"},
                                                          {"embed", "amazon.titan-embed-text-v2:0"}};
  static const History history;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto chat = openai::to_converse(body, aliases);
  if (auto* req = std::get_if<openai::ChatRequest>(&chat)) {
    (void)req->converse.dump();
  } else {
    (void)openai::error_body(std::get<openai::ApiError>(chat)).dump();
  }
  auto responses = openai::responses_to_converse(body, aliases, &history);
  if (auto* req = std::get_if<openai::ResponsesRequest>(&responses)) {
    (void)req->converse.dump();
    (void)req->echo.dump();
    openai::ResponseBuilder b(*req, "fuzz", 1);
    (void)b.response("completed", json::array(), nullptr).dump();
  }
  // The same body for a model Bedrock serves through its OpenAI-compatible API.
  const json parsed = signgate::api::parse_json(body, 64);
  if (parsed.is_object()) {
    auto c = openai::chat_for_openai(parsed, "gpt", "openai.gpt-oss-120b-1:0");
    if (auto* req = std::get_if<openai::OpenAIUpstreamRequest>(&c)) (void)req->body.size();
    auto r = openai::responses_for_openai(parsed, "gpt", "openai.gpt-5.5", &history, 1 << 16);
    if (auto* req = std::get_if<openai::OpenAIUpstreamRequest>(&r)) (void)req->input_items.dump();
  }
  auto embeddings = openai::to_embeddings(body, aliases);
  if (auto* req = std::get_if<openai::EmbeddingsRequest>(&embeddings)) {
    (void)openai::embeddings_answer(*req, {{0.5}}, 1);
  }
  return 0;
}
