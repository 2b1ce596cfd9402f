// Server-sent events from Bedrock's OpenAI-compatible API (a hostile or broken upstream):
// the SSE reader fed whole and in pieces of every size the input chooses must give the same
// events, within its cap; each event goes through the stream rewriter for both APIs, and whole
// answers through openai_answer and openai_error. Never a crash, never unbounded memory.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "api/openai/openai_upstream.h"

namespace openai = signgate::api::openai;

namespace {

std::vector<openai::SseEvent> read_all(std::string_view input, std::size_t step, bool& broke) {
  openai::SseReader reader(4096);
  std::vector<openai::SseEvent> out;
  broke = false;
  for (std::size_t at = 0; at < input.size() && !broke; at += step) {
    if (!reader.feed(input.substr(at, step))) {
      broke = true;
      break;
    }
    while (auto e = reader.next()) out.push_back(std::move(*e));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t step = 1 + data[0] % 64;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  bool broke_whole = false, broke_pieces = false;
  const auto whole = read_all(input, input.size() + 1, broke_whole);
  const auto pieces = read_all(input, step, broke_pieces);
  if (!broke_whole && !broke_pieces) {
    // Where an event ends does not depend on how the bytes arrived.
    if (whole.size() != pieces.size()) std::abort();
    for (std::size_t i = 0; i < whole.size(); ++i) {
      if (whole[i].data != pieces[i].data || whole[i].event != pieces[i].event) std::abort();
    }
  }
  openai::OpenAIUpstreamRequest chat;
  chat.model_name = "gpt";
  chat.model_id = "openai.gpt-oss-120b-1:0";
  chat.stream = true;
  openai::OpenAIUpstreamRequest responses = chat;
  responses.api = openai::OpenAIApi::kResponses;
  openai::OpenAIStreamRewriter c(chat, 32), r(responses, 32);
  for (const auto& e : pieces) {
    (void)c.on_event(e);
    (void)r.on_event(e);
  }
  openai::OpenAIAnswerFacts facts;
  (void)openai::openai_answer(input, responses, facts, 32);
  (void)openai::openai_answer(input, chat, facts, 32);
  (void)openai::openai_error(429, input, 32);
  return 0;
}
