// /v1/chat/completions bodies of any shape → a Converse request or a 400, never a crash;
// what is accepted must serialise.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>

#include "api/openai/chat.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::map<std::string, std::string> aliases{{"claude-haiku", "anthropic.claude-3-haiku-20240307-v1:0"}};
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto r = signgate::api::openai::to_converse(body, aliases);
  if (auto* req = std::get_if<signgate::api::openai::ChatRequest>(&r)) {
    (void)req->converse.dump();
  } else {
    (void)signgate::api::openai::error_body(std::get<signgate::api::openai::ApiError>(r)).dump();
  }
  return 0;
}
