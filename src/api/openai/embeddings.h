// OpenAI embeddings ⇄ Bedrock's embedding models (InvokeModel), as pure transforms (no I/O):
// Titan Text Embeddings v2 (and v1), Cohere Embed v3 and v4, Amazon Nova multimodal embeddings.
// A request becomes one InvokeModel body per upstream call (Titan and Nova take one text per
// call, Cohere up to 96); the answers become OpenAI's list of embeddings, as floats or base64.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "api/json_depth.h"
#include "api/openai/converse_parts.h"

namespace signgate::api::openai {

enum class EmbeddingFamily { kTitanV2, kTitanV1, kCohereV3, kCohereV4, kNova };

// The family of an embedding model ID, inference profile or ARN; nullopt for other models.
std::optional<EmbeddingFamily> embedding_family(std::string_view model_id);

struct EmbeddingsRequest {
  std::string model_name;  // as the client named it (echoed back)
  std::string model_id;
  EmbeddingFamily family = EmbeddingFamily::kTitanV2;
  std::size_t inputs = 0;           // how many texts
  std::vector<std::string> bodies;  // one InvokeModel body per upstream call, in input order
  bool base64 = false;              // encoding_format: base64 (little-endian float32)
  std::size_t dimension = 0;        // each vector's length; 0: the model's own (Cohere v3: 384 or 1024)
  std::string user;
};

// The most texts one request may carry (OpenAI's own limit), and the most values its answer may
// hold (texts × dimensions: 2,048 of Titan's 1,024, or 682 of Nova's 3,072).
inline constexpr std::size_t kMaxEmbeddingInputs = 2048;
inline constexpr std::size_t kMaxEmbeddingValues = 2048 * 1024;

// `families` maps model IDs (an application inference profile's ARN) to the family they
// serve, which chooses the body's shape.
std::variant<EmbeddingsRequest, ApiError> to_embeddings(std::string_view body,
                                                        const std::map<std::string, std::string>& aliases,
                                                        int max_depth = kDefaultMaxJsonDepth,
                                                        const std::map<std::string, std::string>* families = nullptr);

// One call's answer: its vectors, in order, and the tokens it read (when the body says).
struct EmbeddingBatch {
  std::vector<std::vector<double>> vectors;
  std::optional<std::uint64_t> tokens;
};
// Reads an InvokeModel answer of `family` that should hold `expected` vectors of `dimension`
// finite float32 values each (0: any length up to 4,096, the same for all); an error message
// when it does not.
std::variant<EmbeddingBatch, std::string> read_embeddings(EmbeddingFamily family, const nlohmann::json& answer,
                                                          std::size_t expected, std::size_t dimension = 0);

// The texts each call of `request` carries (1, or up to 96 for Cohere).
std::size_t texts_per_call(EmbeddingFamily family);

// OpenAI's answer: {"object":"list","data":[{"object":"embedding","index":i,"embedding":...}],
// "model","usage"}, written directly (vectors are long).
std::string embeddings_answer(const EmbeddingsRequest& request, const std::vector<std::vector<double>>& vectors,
                              std::uint64_t tokens);

}  // namespace signgate::api::openai
