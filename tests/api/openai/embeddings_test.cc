// OpenAI embeddings ⇄ Bedrock's embedding models: the InvokeModel bodies each model documents,
// and their answers read in both shapes Bedrock sends.
#include "api/openai/embeddings.h"

#include <gtest/gtest.h>

namespace signgate::api::openai {
namespace {

using nlohmann::json;

const std::map<std::string, std::string> kAliases{{"embed", "amazon.titan-embed-text-v2:0"}};

EmbeddingsRequest ok(const std::string& body) {
  auto r = to_embeddings(body, kAliases);
  if (auto* e = std::get_if<ApiError>(&r)) ADD_FAILURE() << e->message << " (" << e->param << ")";
  return std::holds_alternative<EmbeddingsRequest>(r) ? std::get<EmbeddingsRequest>(r) : EmbeddingsRequest{};
}

std::string refused(const std::string& body) {
  auto r = to_embeddings(body, kAliases);
  EXPECT_TRUE(std::holds_alternative<ApiError>(r)) << body;
  return std::holds_alternative<ApiError>(r) ? std::get<ApiError>(r).param : "";
}

TEST(Embeddings, FamiliesFromAnyModelName) {
  EXPECT_EQ(embedding_family("amazon.titan-embed-text-v2:0"), EmbeddingFamily::kTitanV2);
  EXPECT_EQ(embedding_family("amazon.titan-embed-text-v1"), EmbeddingFamily::kTitanV1);
  EXPECT_EQ(embedding_family("cohere.embed-multilingual-v3"), EmbeddingFamily::kCohereV3);
  EXPECT_EQ(embedding_family("us.cohere.embed-v4:0"), EmbeddingFamily::kCohereV4);
  EXPECT_EQ(embedding_family("amazon.nova-2-multimodal-embeddings-v1:0"), EmbeddingFamily::kNova);
  EXPECT_FALSE(embedding_family("anthropic.claude-3-haiku-20240307-v1:0").has_value());
}

// An application inference profile names no model: its family (models: {id, family}) does.
TEST(Embeddings, AnApplicationProfileTakesItsFamilysBody) {
  const std::string arn = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/emb";
  const std::map<std::string, std::string> aliases{{"team-embed", arn}};
  const std::map<std::string, std::string> families{{arn, "cohere.embed-v4:0"}};
  auto with = to_embeddings(R"({"model":"team-embed","input":["a","b"]})", aliases, kDefaultMaxJsonDepth, &families);
  ASSERT_TRUE(std::holds_alternative<EmbeddingsRequest>(with));
  const auto& r = std::get<EmbeddingsRequest>(with);
  EXPECT_EQ(r.model_id, arn);
  ASSERT_EQ(r.bodies.size(), 1u);  // Cohere takes the batch in one call
  EXPECT_EQ(json::parse(r.bodies[0])["texts"], json::array({"a", "b"}));
  EXPECT_TRUE(std::holds_alternative<ApiError>(to_embeddings(R"({"model":"team-embed","input":"a"})", aliases)));
}

TEST(Embeddings, TitanTakesOneTextPerCall) {
  const auto r = ok(R"({"model":"embed","input":["a","b"],"dimensions":512,"user":"u1"})");
  EXPECT_EQ(r.model_id, "amazon.titan-embed-text-v2:0");
  ASSERT_EQ(r.bodies.size(), 2u);
  EXPECT_EQ(json::parse(r.bodies[1]), json::parse(R"({"inputText":"b","dimensions":512,"normalize":true})"));
  EXPECT_FALSE(r.base64);
  EXPECT_EQ(r.user, "u1");
  EXPECT_EQ(ok(R"({"model":"amazon.titan-embed-text-v1","input":"a"})").bodies[0], R"({"inputText":"a"})");
}

TEST(Embeddings, CohereBatchesOf96WithAnInputType) {
  json input = json::array();
  for (int i = 0; i < 200; ++i) {
    std::string t = "t";  // not "t" + std::to_string(i): GCC 12 warns falsely (-Wrestrict)
    t += std::to_string(i);
    input.push_back(t);
  }
  const auto r =
      ok(json{{"model", "cohere.embed-english-v3"}, {"input", input}, {"input_type", "search_query"}}.dump());
  ASSERT_EQ(r.bodies.size(), 3u);
  const json last = json::parse(r.bodies[2]);
  EXPECT_EQ(last["texts"].size(), 8u);
  EXPECT_EQ(last["texts"][0], "t192");
  EXPECT_EQ(last["input_type"], "search_query");
  EXPECT_EQ(last["embedding_types"], json::array({"float"}));
  EXPECT_EQ(
      json::parse(ok(R"({"model":"us.cohere.embed-v4:0","input":"a","dimensions":256})").bodies[0])["output_dimension"],
      256);
}

TEST(Embeddings, NovaSingleEmbedding) {
  const auto r = ok(R"({"model":"amazon.nova-2-multimodal-embeddings-v1:0","input":"a","encoding_format":"base64"})");
  EXPECT_TRUE(r.base64);
  EXPECT_EQ(json::parse(r.bodies[0]),
            json::parse(R"({"schemaVersion":"nova-multimodal-embed-v1","taskType":"SINGLE_EMBEDDING",
      "singleEmbeddingParams":{"embeddingPurpose":"GENERIC_INDEX","embeddingDimension":3072,
      "text":{"truncationMode":"END","value":"a"}}})"));
}

TEST(Embeddings, RefusalsNameTheField) {
  EXPECT_EQ(refused(R"({"model":"embed","input":[[1,2,3]]})"), "input[0]");
  EXPECT_EQ(refused(R"({"model":"embed","input":[1,2]})"), "input[0]");
  EXPECT_EQ(refused(R"({"model":"embed","input":[]})"), "input");
  EXPECT_EQ(refused(R"({"model":"embed","input":["a",""]})"), "input[1]");
  EXPECT_EQ(refused(R"({"model":"embed","input":"a","dimensions":1536})"), "dimensions");
  EXPECT_EQ(refused(R"({"model":"cohere.embed-english-v3","input":"a","dimensions":512})"), "dimensions");
  EXPECT_EQ(refused(R"({"model":"embed","input":"a","encoding_format":"int8"})"), "encoding_format");
  EXPECT_EQ(refused(R"({"model":"anthropic.claude-3-haiku-20240307-v1:0","input":"a"})"), "model");
  EXPECT_EQ(refused(R"({"model":"cohere.embed-english-v3","input":"a","input_type":"poetry"})"), "input_type");
  EXPECT_EQ(refused(R"({"input":"a"})"), "model");
  json many = json::array();
  for (std::size_t i = 0; i <= kMaxEmbeddingInputs; ++i) many.push_back("x");
  EXPECT_EQ(refused(json{{"model", "embed"}, {"input", many}}.dump()), "input");
  // 2,048 texts of Nova's 3,072 values would be a 126 MB answer from a 10 KB body.
  json nova = json::array();
  for (int i = 0; i < 700; ++i) nova.push_back("x");
  EXPECT_EQ(refused(json{{"model", "amazon.nova-2-multimodal-embeddings-v1:0"}, {"input", nova}}.dump()), "input");
}

TEST(Embeddings, AnswersInEveryShape) {
  auto titan =
      read_embeddings(EmbeddingFamily::kTitanV2, json::parse(R"({"embedding":[0.1,0.2],"inputTextTokenCount":3})"), 1);
  ASSERT_TRUE(std::holds_alternative<EmbeddingBatch>(titan));
  EXPECT_EQ(std::get<EmbeddingBatch>(titan).tokens, 3u);
  // Cohere answers a plain array, or by type when embedding_types was sent.
  for (const char* body : {R"({"embeddings":[[0.1],[0.2]],"response_type":"embeddings_floats"})",
                           R"({"embeddings":{"float":[[0.1],[0.2]]},"response_type":"embeddings_by_type"})"}) {
    auto cohere = read_embeddings(EmbeddingFamily::kCohereV3, json::parse(body), 2);
    ASSERT_TRUE(std::holds_alternative<EmbeddingBatch>(cohere)) << body;
    EXPECT_EQ(std::get<EmbeddingBatch>(cohere).vectors[1][0], 0.2);
    EXPECT_FALSE(std::get<EmbeddingBatch>(cohere).tokens.has_value());
  }
  auto nova = read_embeddings(EmbeddingFamily::kNova,
                              json::parse(R"({"embeddings":[{"embeddingType":"TEXT","embedding":[1,2]}]})"), 1);
  ASSERT_TRUE(std::holds_alternative<EmbeddingBatch>(nova));
  // Wrong counts and shapes are errors, not crashes.
  EXPECT_TRUE(std::holds_alternative<std::string>(
      read_embeddings(EmbeddingFamily::kCohereV3, json::parse(R"({"embeddings":[[0.1]]})"), 2)));
  EXPECT_TRUE(std::holds_alternative<std::string>(
      read_embeddings(EmbeddingFamily::kTitanV2, json::parse(R"({"embedding":["x"]})"), 1)));
  EXPECT_TRUE(std::holds_alternative<std::string>(
      read_embeddings(EmbeddingFamily::kNova, json::parse(R"({"embeddings":[5]})"), 1)));
  // Found in review: lengths other than asked for, and values no float32 holds, are refused.
  EXPECT_TRUE(std::holds_alternative<std::string>(
      read_embeddings(EmbeddingFamily::kTitanV2, json::parse(R"({"embedding":[0.1,0.2,0.3]})"), 1, 2)));
  EXPECT_TRUE(std::holds_alternative<std::string>(
      read_embeddings(EmbeddingFamily::kCohereV3, json::parse(R"({"embeddings":[[0.1],[0.2,0.3]]})"), 2)));
  EXPECT_TRUE(std::holds_alternative<std::string>(
      read_embeddings(EmbeddingFamily::kTitanV2, json::parse(R"({"embedding":[1e300]})"), 1)));
}

TEST(Embeddings, TheAnswerInFloatsAndBase64) {
  EmbeddingsRequest r;
  r.model_name = "embed";
  EXPECT_EQ(json::parse(embeddings_answer(r, {{0.5, -1.0}}, 3)), json::parse(R"({"object":"list","data":[
      {"object":"embedding","index":0,"embedding":[0.5,-1.0]}],"model":"embed",
      "usage":{"prompt_tokens":3,"total_tokens":3}})"));
  r.base64 = true;
  // -1.0f is bf 80 00 00: little-endian 00 00 80 bf.
  EXPECT_EQ(json::parse(embeddings_answer(r, {{-1.0}}, 0))["data"][0]["embedding"], "AACAvw==");
}

}  // namespace
}  // namespace signgate::api::openai
