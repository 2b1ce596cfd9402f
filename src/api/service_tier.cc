#include "api/service_tier.h"

namespace signgate::api {

std::string_view tier_name(ServiceTier tier) {
  switch (tier) {
    case ServiceTier::kPriority: return "priority";
    case ServiceTier::kFlex: return "flex";
    case ServiceTier::kDefault: break;
  }
  return "default";
}

bool tier_word(std::string_view tier) {
  return !tier.empty() && tier.size() <= 32 &&
         tier.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string_view::npos;
}

bool tier_available(std::string_view model, ServiceTier tier) {
  if (tier == ServiceTier::kDefault) return true;
  // Bedrock's "Service tiers for optimizing performance and cost" page
  // (docs.aws.amazon.com/bedrock/latest/userguide/service-tiers-inference.html, as of
  // 2026-02-15) lists these model families for both Priority and Flex. Claude models are
  // listed for the Reserved tier only, and GPT-5.x serves the default tier only. A model
  // matched here by the family inside its ID also matches its cross-Region profiles.
  static constexpr std::string_view kPriorityAndFlex[] = {
      "openai.gpt-oss-",
      "qwen.qwen3-",
      "deepseek.v3-",
      "amazon.nova-premier-",
      "amazon.nova-pro-",
      "amazon.nova-2-lite-",
      "amazon.nova-2-pro-",
      "google.gemma-3-",
      "minimax.minimax-m2",
      "mistral.magistral-small-",
      "mistral.voxtral-",
      "mistral.ministral-3-",
      "mistral.mistral-large-3-",
      "moonshot.kimi-k2-thinking",
      "nvidia.nemotron-nano-",
  };
  for (std::string_view family : kPriorityAndFlex) {
    if (model.find(family) != std::string_view::npos) return true;
  }
  return false;
}

ServiceTier tier_for(std::string_view model, ServiceTier asked) {
  return tier_available(model, asked) ? asked : ServiceTier::kDefault;
}

}  // namespace signgate::api
