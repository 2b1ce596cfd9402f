#include "api/openai/embeddings.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "api/json_fields.h"
#include "api/json_scan.h"
#include "common/base64.h"

namespace signgate::api::openai {

using nlohmann::json;

namespace {

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

constexpr std::size_t kCohereBatch = 96;

// OpenAI's input_type-less API: Cohere and Nova want a purpose; documents unless told.
std::variant<std::string, ApiError> purpose(const json& req, EmbeddingFamily family) {
  const std::string type = string_field(req, "input_type", "search_document");
  static constexpr std::string_view kTypes[] = {"search_document", "search_query", "classification", "clustering"};
  if (std::find(std::begin(kTypes), std::end(kTypes), type) == std::end(kTypes)) {
    return bad("input_type must be search_document, search_query, classification or clustering", "input_type");
  }
  if (family != EmbeddingFamily::kNova) return type;
  if (type == "search_query") return std::string("GENERIC_RETRIEVAL");
  if (type == "classification") return std::string("CLASSIFICATION");
  if (type == "clustering") return std::string("CLUSTERING");
  return std::string("GENERIC_INDEX");
}

std::optional<ApiError> check_dimensions(EmbeddingFamily family, std::optional<std::int64_t> d) {
  if (!d) return std::nullopt;
  auto one_of = [&](std::initializer_list<std::int64_t> ok) { return std::find(ok.begin(), ok.end(), *d) != ok.end(); };
  bool ok = false;
  std::string allowed;
  switch (family) {
    case EmbeddingFamily::kTitanV2:
      ok = one_of({256, 512, 1024});
      allowed = "256, 512 or 1024";
      break;
    case EmbeddingFamily::kTitanV1:
      ok = one_of({1536});
      allowed = "1536";
      break;
    case EmbeddingFamily::kCohereV3:
      ok = one_of({1024});
      allowed = "1024";
      break;
    case EmbeddingFamily::kCohereV4:
      ok = one_of({256, 512, 1024, 1536});
      allowed = "256, 512, 1024 or 1536";
      break;
    case EmbeddingFamily::kNova:
      ok = one_of({256, 384, 1024, 3072});
      allowed = "256, 384, 1024 or 3072";
      break;
  }
  if (ok) return std::nullopt;
  return bad("dimensions must be " + allowed + " for this model", "dimensions");
}

}  // namespace

std::optional<EmbeddingFamily> embedding_family(std::string_view id) {
  if (contains(id, "amazon.titan-embed-text-v2")) return EmbeddingFamily::kTitanV2;
  if (contains(id, "amazon.titan-embed-text-v1") || contains(id, "amazon.titan-embed-g1-text")) {
    return EmbeddingFamily::kTitanV1;
  }
  if (contains(id, "cohere.embed-v4")) return EmbeddingFamily::kCohereV4;
  if (contains(id, "cohere.embed-")) return EmbeddingFamily::kCohereV3;
  if (contains(id, "amazon.nova-2-multimodal-embeddings")) return EmbeddingFamily::kNova;
  return std::nullopt;
}

std::size_t texts_per_call(EmbeddingFamily family) {
  return family == EmbeddingFamily::kCohereV3 || family == EmbeddingFamily::kCohereV4 ? kCohereBatch : 1;
}

std::variant<EmbeddingsRequest, ApiError> to_embeddings(std::string_view body,
                                                        const std::map<std::string, std::string>& aliases,
                                                        int max_depth,
                                                        const std::map<std::string, std::string>* families) {
  auto read = read_object(body, max_depth);
  if (auto* e = std::get_if<ApiError>(&read)) return *e;
  const json& req = std::get<json>(read);
  EmbeddingsRequest out;
  out.model_name = string_field(req, "model");
  if (out.model_name.empty()) return bad("model is required", "model");
  const auto alias = aliases.find(out.model_name);
  out.model_id = alias != aliases.end() ? alias->second : out.model_name;
  const auto family = embedding_family(family_of(families, out.model_id));
  if (!family) {
    return bad("model '" + clip(out.model_name) +
                   "' is not an embedding model signgate knows (Titan Text Embeddings, Cohere Embed, Nova "
                   "multimodal embeddings)",
               "model");
  }
  out.family = *family;

  std::vector<std::string> texts;
  const json* input = field(req, "input");
  if (input == nullptr || input->is_null()) return bad("input is required", "input");
  if (input->is_string()) {
    texts.push_back(input->get<std::string>());
  } else if (input->is_array()) {
    for (std::size_t i = 0; i < input->size(); ++i) {
      const json& t = (*input)[i];
      if (!t.is_string()) {
        return bad("input must be a string or an array of strings (Bedrock takes no token arrays)",
                   "input[" + std::to_string(i) + "]");
      }
      texts.push_back(t.get<std::string>());
    }
  } else {
    return bad("input must be a string or an array of strings", "input");
  }
  if (texts.empty()) return bad("input must not be empty", "input");
  if (texts.size() > kMaxEmbeddingInputs) {
    return bad("input may hold at most " + std::to_string(kMaxEmbeddingInputs) + " texts", "input");
  }
  for (std::size_t i = 0; i < texts.size(); ++i) {
    if (texts[i].empty()) return bad("input texts must not be empty", "input[" + std::to_string(i) + "]");
  }
  out.inputs = texts.size();

  const std::string encoding = string_field(req, "encoding_format", "float");
  if (encoding != "float" && encoding != "base64")
    return bad("encoding_format must be float or base64", "encoding_format");
  out.base64 = encoding == "base64";
  std::optional<std::int64_t> dimensions;
  if (const json* d = field(req, "dimensions"); d != nullptr && !d->is_null()) {
    if (!d->is_number_integer()) return bad("dimensions must be an integer", "dimensions");
    dimensions = d->get<std::int64_t>();
  }
  if (auto e = check_dimensions(out.family, dimensions)) return *e;
  switch (out.family) {
    case EmbeddingFamily::kTitanV2: out.dimension = static_cast<std::size_t>(dimensions.value_or(1024)); break;
    case EmbeddingFamily::kTitanV1: out.dimension = 1536; break;
    case EmbeddingFamily::kCohereV3: out.dimension = 0; break;
    case EmbeddingFamily::kCohereV4: out.dimension = static_cast<std::size_t>(dimensions.value_or(1536)); break;
    case EmbeddingFamily::kNova: out.dimension = static_cast<std::size_t>(dimensions.value_or(3072)); break;
  }
  if (texts.size() * std::max<std::size_t>(out.dimension, 1024) > kMaxEmbeddingValues) {
    return bad("input × dimensions may be at most " + std::to_string(kMaxEmbeddingValues) +
                   " values in one request: send fewer texts per request",
               "input");
  }
  out.user = string_field(req, "user");
  auto why = purpose(req, out.family);
  if (auto* e = std::get_if<ApiError>(&why)) return *e;
  const std::string& use = std::get<std::string>(why);

  switch (out.family) {
    case EmbeddingFamily::kTitanV2:
      for (const auto& t : texts) {
        json b = {{"inputText", t}, {"normalize", true}};
        if (dimensions) b["dimensions"] = *dimensions;
        out.bodies.push_back(b.dump());
      }
      break;
    case EmbeddingFamily::kTitanV1:
      for (const auto& t : texts) out.bodies.push_back(json{{"inputText", t}}.dump());
      break;
    case EmbeddingFamily::kCohereV3:
    case EmbeddingFamily::kCohereV4:
      for (std::size_t at = 0; at < texts.size(); at += kCohereBatch) {
        json batch = json::array();
        for (std::size_t i = at; i < std::min(texts.size(), at + kCohereBatch); ++i) batch.push_back(texts[i]);
        json b = {{"texts", std::move(batch)}, {"input_type", use}, {"embedding_types", {"float"}}};
        if (out.family == EmbeddingFamily::kCohereV4 && dimensions) b["output_dimension"] = *dimensions;
        out.bodies.push_back(b.dump());
      }
      break;
    case EmbeddingFamily::kNova:
      for (const auto& t : texts) {
        out.bodies.push_back(json{{"schemaVersion", "nova-multimodal-embed-v1"},
                                  {"taskType", "SINGLE_EMBEDDING"},
                                  {"singleEmbeddingParams",
                                   {{"embeddingPurpose", use},
                                    {"embeddingDimension", dimensions.value_or(3072)},
                                    {"text", {{"truncationMode", "END"}, {"value", t}}}}}}
                                 .dump());
      }
      break;
  }
  return out;
}

namespace {

constexpr std::size_t kMaxDimension = 4096;

// A JSON array of float32-sized numbers → doubles; nullopt when it is not one.
std::optional<std::vector<double>> vector_of(const json& v) {
  if (!v.is_array() || v.empty() || v.size() > kMaxDimension) return std::nullopt;
  std::vector<double> out;
  out.reserve(v.size());
  for (const auto& x : v) {
    if (!x.is_number()) return std::nullopt;
    const double d = x.get<double>();
    if (!std::isfinite(d) || std::fabs(d) > std::numeric_limits<float>::max()) return std::nullopt;
    out.push_back(d);
  }
  return out;
}

}  // namespace

std::variant<EmbeddingBatch, std::string> read_embeddings(EmbeddingFamily family, const json& answer,
                                                          std::size_t expected, std::size_t dimension) {
  EmbeddingBatch batch;
  const json* list = nullptr;
  switch (family) {
    case EmbeddingFamily::kTitanV2:
    case EmbeddingFamily::kTitanV1: {
      const json* e = field(answer, "embedding");
      auto v = e != nullptr ? vector_of(*e) : std::nullopt;
      if (!v) return std::string("Bedrock's answer has no embedding");
      batch.vectors.push_back(std::move(*v));
      if (field(answer, "inputTextTokenCount") != nullptr) batch.tokens = count_field(answer, "inputTextTokenCount");
      break;
    }
    case EmbeddingFamily::kCohereV3:
    case EmbeddingFamily::kCohereV4: {
      // A plain array of vectors, or by type ({"float": [...]}) when embedding_types was sent.
      const json* e = field(answer, "embeddings");
      list = e != nullptr && e->is_object() ? field(*e, "float") : e;
      if (list == nullptr || !list->is_array()) return std::string("Bedrock's answer has no embeddings");
      for (const auto& item : *list) {
        auto v = vector_of(item);
        if (!v) return std::string("Bedrock's answer has an embedding that is not numbers");
        batch.vectors.push_back(std::move(*v));
      }
      break;
    }
    case EmbeddingFamily::kNova: {
      const json* e = field(answer, "embeddings");
      if (e == nullptr || !e->is_array() || e->empty()) return std::string("Bedrock's answer has no embeddings");
      auto v = vector_of((*e)[0].is_object() ? (*e)[0].value("embedding", json()) : json());
      if (!v) return std::string("Bedrock's answer has no embedding");
      batch.vectors.push_back(std::move(*v));
      break;
    }
  }
  if (batch.vectors.size() != expected) {
    return "Bedrock answered " + std::to_string(batch.vectors.size()) + " embeddings for " + std::to_string(expected) +
           " texts";
  }
  for (const auto& v : batch.vectors) {
    const std::size_t want = dimension != 0 ? dimension : batch.vectors.front().size();
    if (v.size() != want) {
      return "Bedrock answered an embedding of " + std::to_string(v.size()) + " values where " + std::to_string(want) +
             " were asked for";
    }
  }
  return batch;
}

std::string embeddings_answer(const EmbeddingsRequest& request, const std::vector<std::vector<double>>& vectors,
                              std::uint64_t tokens) {
  std::string out = "{\"object\":\"list\",\"data\":[";
  std::string bytes;
  for (std::size_t i = 0; i < vectors.size(); ++i) {
    if (i != 0) out += ',';
    out += "{\"object\":\"embedding\",\"index\":" + std::to_string(i) + ",\"embedding\":";
    if (request.base64) {
      // As OpenAI sends it: the float32 values, little-endian, base64-encoded.
      bytes.resize(vectors[i].size() * 4);
      for (std::size_t k = 0; k < vectors[i].size(); ++k) {
        auto bits = std::bit_cast<std::uint32_t>(static_cast<float>(vectors[i][k]));
        for (int b = 0; b < 4; ++b)
          bytes[k * 4 + static_cast<std::size_t>(b)] = static_cast<char>((bits >> (8 * b)) & 0xff);
      }
      out += '"';
      out += base64_encode(bytes);
      out += '"';
    } else {
      out += json(vectors[i]).dump();
    }
    out += '}';
  }
  out += "],\"model\":";
  append_json_string_checked(out, request.model_name);
  out +=
      ",\"usage\":{\"prompt_tokens\":" + std::to_string(tokens) + ",\"total_tokens\":" + std::to_string(tokens) + "}}";
  return out;
}

}  // namespace signgate::api::openai
