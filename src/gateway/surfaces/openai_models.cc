// GET /v1/models and /v1/models/{id}: the models this key may use, answered locally — the
// aliases whose model its allowlist admits, and its allowlist entries that name one model.
#include "gateway/surfaces/surfaces.h"

#include <set>

#include "api/json_depth.h"
#include "aws/uri.h"
#include "gateway/surfaces/translated.h"

namespace signgate::gateway::surfaces {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

bool has_glob(const std::string& s) { return s.find_first_of("*?") != std::string::npos; }

json entry(const std::string& model_id) {
  return json{{"id", model_id}, {"object", "model"}, {"created", 0}, {"owned_by", "bedrock"}};
}

class OpenAIModels final : public Surface {
 public:
  std::string_view name() const override { return "openai"; }
  Dialect dialect() const override { return Dialect::kOpenAI; }

  std::variant<HeadPlan, Refusal> plan_head(const http::RequestHead&) const override {
    HeadPlan hp;
    hp.label = "models";
    return hp;
  }

  std::variant<Plan, LocalAnswer, Refusal> plan(Exchange& x, const HeadPlan&, const http::RequestHead& head,
                                                std::string) const override {
    std::set<std::string> ids;
    for (const auto& [alias, model] : x.config().models) {
      if (x.client->allows_model(model)) ids.insert(alias);
    }
    for (const auto& m : x.client->models) {
      if (!has_glob(m)) ids.insert(m);
    }
    const std::string_view target = head.target();
    const std::string_view path = target.substr(0, target.find('?'));
    constexpr std::string_view kOne = "/v1/models/";
    if (path.substr(0, kOne.size()) == kOne) {
      const std::string wanted = aws::uri_decode(path.substr(kOne.size()));
      if (ids.count(wanted) == 0) {
        return Refusal{404, "The model does not exist or is not allowed for this key", "model", "model_not_found"};
      }
      return LocalAnswer{200, content_type("application/json"), api::dump_json(entry(wanted))};
    }
    json data = json::array();
    for (const auto& model_id : ids) data.push_back(entry(model_id));
    return LocalAnswer{200, content_type("application/json"),
                       api::dump_json(json{{"object", "list"}, {"data", std::move(data)}})};
  }

  asio::awaitable<std::optional<Refusal>> answer(Exchange&, Plan&, UpstreamReply&, http::Responder&) const override {
    co_return Refusal{500, "no upstream call is planned for /v1/models"};  // plan() answers locally
  }
};

}  // namespace

const Surface& openai_models() {
  static const OpenAIModels surface;
  return surface;
}

}  // namespace signgate::gateway::surfaces
