// /v1/messages bodies of any shape → an InvokeModel body or a 400, never a crash.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>

#include "api/anthropic/messages.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::map<std::string, std::string> aliases{{"claude-haiku", "anthropic.claude-3-haiku-20240307-v1:0"}};
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto r = signgate::api::anthropic::to_invoke(body, aliases);
  if (auto* e = std::get_if<signgate::api::anthropic::ApiError>(&r)) {
    (void)signgate::api::anthropic::error_body(*e).dump();
  }
  return 0;
}
