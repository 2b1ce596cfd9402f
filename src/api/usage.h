// Token usage as Bedrock reported it for one call, read from every shape an answer carries it in
// (SPEC §8): Converse's usage, InvokeModel bodies per model family, an InvokeModel stream's
// invocation metrics, Anthropic's usage, and the OpenAI-compatible API's. `input` keeps
// Bedrock's meaning: the input tokens neither read from nor written to the prompt cache.
// A count that is missing, negative, fractional, not a number or past kMaxTokenCount reads as
// absent. Pure: no I/O, no recursion on the document's depth.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string_view>

namespace signgate::api {

// More tokens than any call can use: a count past it is not believed.
inline constexpr std::uint64_t kMaxTokenCount = std::uint64_t{1} << 40;

struct TokenUsage {
  std::optional<std::uint64_t> input;
  std::optional<std::uint64_t> output;
  std::optional<std::uint64_t> cache_read;
  std::optional<std::uint64_t> cache_write;     // every write, 5-minute and 1-hour
  std::optional<std::uint64_t> cache_write_1h;  // the part of cache_write kept for an hour

  bool known() const { return input || output || cache_read || cache_write; }
  // Each count `more` states replaces this one's.
  void update(const TokenUsage& more);
  // Each count this one lacks is taken from `more`.
  void fill(const TokenUsage& more);
  // `more` added count by count (an answer of several calls), saturating at kMaxTokenCount.
  void add(const TokenUsage& more);
};

// A token count from a JSON value: a non-negative integer up to kMaxTokenCount, else nullopt.
std::optional<std::uint64_t> token_count(const nlohmann::json* v);
// A token count from a header's decimal digits (X-Amzn-Bedrock-Input-Token-Count), else nullopt.
std::optional<std::uint64_t> token_count(std::string_view digits);

// Converse's and ConverseStream's metadata TokenUsage: inputTokens, outputTokens,
// cacheReadInputTokens, cacheWriteInputTokens, and the 1-hour writes from cacheDetails
// ([{ttl: "1h"|"5m", inputTokens}]).
TokenUsage converse_usage(const nlohmann::json& usage);

// The same read from a whole Converse answer's bytes without a DOM (its "usage" object).
TokenUsage scan_converse_usage(std::string_view answer);

// Anthropic's usage object: input_tokens, output_tokens, cache_read_input_tokens,
// cache_creation_input_tokens, and cache_creation.ephemeral_1h_input_tokens.
TokenUsage anthropic_usage(const nlohmann::json& usage);

// An InvokeModel stream's last chunk's amazon-bedrock-invocationMetrics: inputTokenCount,
// outputTokenCount, cacheReadInputTokenCount, cacheWriteInputTokenCount.
TokenUsage invocation_metrics(const nlohmann::json& metrics);

// A whole InvokeModel answer's bytes, whatever the model family says, read without a DOM:
//   Anthropic  usage {input_tokens, output_tokens, cache_read_input_tokens,
//              cache_creation_input_tokens, cache_creation {ephemeral_1h_input_tokens}}
//   Nova       usage {inputTokens, outputTokens, cacheReadInputTokenCount, cacheWriteInputTokenCount}
//   Llama      prompt_token_count, generation_token_count
//   Titan      inputTextTokenCount, results[].tokenCount (summed)
//   Cohere     meta.billed_units {input_tokens, output_tokens}
// Nothing for an answer that says none (Mistral, Cohere Embed): Bedrock's headers say it.
TokenUsage invoke_answer_usage(std::string_view answer);

// The OpenAI-compatible API's usage (chat's prompt_tokens/completion_tokens with
// prompt_tokens_details.cached_tokens, or the Responses API's input_tokens/output_tokens with
// input_tokens_details.cached_tokens): the cached tokens are part of OpenAI's prompt tokens,
// so input is the prompt tokens less them, and they are the cache reads.
TokenUsage openai_usage(const nlohmann::json& usage);

}  // namespace signgate::api
