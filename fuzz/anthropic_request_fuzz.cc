// /v1/messages and /v1/messages/count_tokens bodies of any shape, with any anthropic-beta header
// (the input's first line), → an InvokeModel or CountTokens body or a 400, never a crash.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>

#include "api/anthropic/betas.h"
#include "api/anthropic/messages.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace an = signgate::api::anthropic;
  static const std::map<std::string, std::string> aliases{{"claude-haiku", "anthropic.claude-3-haiku-20240307-v1:0"}};
  static const an::BetaPolicy policy(
      {{"*haiku*", {"interleaved-thinking-2025-05-14", "mid-conversation-system-2026-04-07"}}}, {});
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto newline = input.find('\n');
  const std::string_view header = newline == std::string_view::npos ? std::string_view() : input.substr(0, newline);
  const std::string_view body = newline == std::string_view::npos ? input : input.substr(newline + 1);
  const an::Betas betas{an::parse_beta_header({header}), &policy};
  auto r = an::to_invoke(body, aliases, signgate::api::kDefaultMaxJsonDepth, betas);
  if (auto* e = std::get_if<an::ApiError>(&r)) (void)an::error_body(*e).dump();
  auto c = an::to_count_tokens(body, aliases, signgate::api::kDefaultMaxJsonDepth, betas);
  if (auto* ok = std::get_if<an::CountTokensRequest>(&c)) (void)ok->bedrock_body.size();
  (void)an::from_count_tokens(body);
  // The same body re-filtered for another model (a route's target), and estimated.
  (void)an::refilter_invoke_body(body, policy, "eu.anthropic.claude-opus-4-5-20251101-v1:0", 64);
  const nlohmann::json j = signgate::api::parse_json(body, 64);
  if (j.is_object()) (void)an::estimate_input_tokens(j);
  return 0;
}
