// The SSE writers' input: a sequence of ConverseStream / InvokeModelWithResponseStream event
// messages with any event type and any payload (JSON or not), as a broken or hostile upstream
// could send them, through the OpenAI chunk translator and the Anthropic unwrapper. Also a
// Converse answer of any shape through the non-stream OpenAI translators (chat, Responses) and
// any InvokeModel answer through the embedding readers. The same events go through the
// Responses API's event translator.
// Input: records of [type byte][len byte][payload], type picking the event and message type.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/anthropic/messages.h"
#include "api/openai/chat.h"
#include "api/openai/embeddings.h"
#include "api/openai/responses.h"
#include "api/openai/stream.h"
#include "aws/eventstream.h"

namespace es = signgate::aws::eventstream;

namespace {

constexpr const char* kEvents[] = {"messageStart",
                                   "contentBlockStart",
                                   "contentBlockDelta",
                                   "contentBlockStop",
                                   "messageStop",
                                   "metadata",
                                   "chunk",
                                   "internalServerException",
                                   "throttlingException",
                                   "modelStreamErrorException",
                                   "validationException",
                                   ""};

es::Message event(std::uint8_t type, std::string payload) {
  es::Message m;
  const bool exception = (type & 0x80) != 0;
  m.headers.push_back({":message-type", es::HeaderValue::string(exception ? "exception" : "event")});
  const std::string name = kEvents[(type & 0x7f) % (sizeof(kEvents) / sizeof(kEvents[0]))];
  m.headers.push_back({exception ? ":exception-type" : ":event-type", es::HeaderValue::string(name)});
  m.headers.push_back({":content-type", es::HeaderValue::string("application/json")});
  m.payload = std::move(payload);
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  signgate::api::openai::ChatRequest request;
  request.model_name = "claude-haiku";
  request.include_usage = size > 0 && (data[0] & 1);
  signgate::api::openai::ChunkTranslator chunks(request, "chatcmpl-fuzz", 1700000000);
  signgate::api::anthropic::EventUnwrapper unwrapper;
  signgate::api::openai::ResponsesRequest rr;
  rr.model_name = "claude";
  rr.store = size > 0 && (data[0] & 2);
  rr.encrypted_reasoning = size > 0 && (data[0] & 4);
  if (size > 0 && (data[0] & 8)) rr.forced_tool = "json_response";
  rr.tools.custom_tools = {"apply_patch"};
  (void)rr.tools.names.add("multi_agent_v1", "wait_agent");  // a namespace's tool, mapped back
  request.forced_tool = rr.forced_tool;
  signgate::api::openai::ResponseBuilder builder(rr, "fuzz", 1);
  signgate::api::openai::ResponseEventTranslator events(builder);
  (void)events.start();
  std::size_t off = 0;
  while (off + 2 <= size) {
    const std::uint8_t type = data[off];
    const std::size_t len = data[off + 1];
    off += 2;
    const std::size_t take = len < size - off ? len : size - off;
    const es::Message m = event(type, std::string(reinterpret_cast<const char*>(data) + off, take));
    off += take;
    (void)chunks.on_message(m);
    (void)unwrapper.on_message(m);
    (void)events.on_message(m);
  }
  (void)events.finish();
  (void)events.error("upstream broke");
  (void)events.output().dump();
  (void)chunks.finish();
  (void)chunks.error("upstream broke");
  (void)unwrapper.error("upstream broke");

  // The chat answer path reads the bytes itself (simdjson); its output must always be JSON.
  if (auto completion = signgate::api::openai::completion_from_converse(
          std::string_view(reinterpret_cast<const char*>(data), size), request, "chatcmpl-fuzz", 1)) {
    if (nlohmann::json::parse(completion->body, nullptr, false).is_discarded()) __builtin_trap();
  }
  const auto answer = nlohmann::json::parse(reinterpret_cast<const char*>(data),
                                            reinterpret_cast<const char*>(data) + size, nullptr, false);
  if (!answer.is_discarded()) {
    (void)signgate::api::openai::response_from_converse(answer, builder).dump();
    for (auto family :
         {signgate::api::openai::EmbeddingFamily::kTitanV2, signgate::api::openai::EmbeddingFamily::kCohereV3,
          signgate::api::openai::EmbeddingFamily::kNova}) {
      (void)signgate::api::openai::read_embeddings(family, answer, 1);
    }
  }
  return 0;
}
