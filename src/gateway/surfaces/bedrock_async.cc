// Asynchronous invocation: StartAsyncInvoke (POST /async-invoke; the model is in the body and
// the allowlist governs it), GetAsyncInvoke (GET /async-invoke/{invocationArn}) and
// ListAsyncInvokes (GET /async-invoke). The gateway remembers who started what: a client reads
// and lists only its own invocations.
#include "gateway/surfaces/surfaces.h"

#include "api/json_depth.h"
#include "gateway/async_invocations.h"
#include "gateway/surfaces/passthrough.h"
#include "gateway/surfaces/translated.h"

namespace signgate::gateway::surfaces {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr std::string_view kCollection = "/async-invoke";
// Not maxResults or nextToken: paging through everyone's invocations would tell a client how
// many other clients have. The newest 1,000 that match are read, and the caller's kept.
constexpr std::string_view kListQuery[] = {"submitTimeAfter", "submitTimeBefore", "statusEquals", "sortBy",
                                           "sortOrder"};

enum class Kind { kStart, kGet, kList };

Kind kind_of(const http::RequestHead& head) {
  const std::string_view target = head.target();
  const std::string_view path = target.substr(0, target.find('?'));
  if (head.method() == boost::beast::http::verb::post) return Kind::kStart;
  return path == kCollection ? Kind::kList : Kind::kGet;
}

class BedrockAsync final : public Surface {
 public:
  std::string_view name() const override { return "bedrock"; }
  Dialect dialect() const override { return Dialect::kBedrock; }

  std::variant<HeadPlan, Refusal> plan_head(const http::RequestHead&) const override {
    return HeadPlan{aws::Operation::kAsyncInvoke, {}, {}};
  }

  std::variant<Plan, LocalAnswer, Refusal> plan(Exchange& x, const HeadPlan&, const http::RequestHead& head,
                                                std::string body) const override {
    Plan p;
    p.call.operation = aws::Operation::kAsyncInvoke;
    p.call.headers = {{"Accept", "application/json"}};
    const std::string_view target = head.target();
    const auto q = target.find('?');
    switch (kind_of(head)) {
      case Kind::kStart: {
        // StartAsyncInvoke takes no guardrail: a client held to one may not go around it.
        if (x.client->guardrail) return Refusal{403, "asynchronous invocations cannot carry this key's guardrail"};
        bool too_deep = false;
        json j = api::parse_json(body, x.config().max_json_depth, &too_deep);
        if (!j.is_object() || !j.contains("modelId") || !j["modelId"].is_string()) {
          return Refusal{400, too_deep ? "the body nests too deep" : "modelId: a model ID is required", "modelId"};
        }
        p.call.model = j["modelId"].get<std::string>();
        // The caller's idempotency token is made this client's: replaying another client's
        // cannot get Bedrock to answer with that client's invocation. None (or null) stays none.
        if (auto token = j.find("clientRequestToken"); token != j.end() && !token->is_null()) {
          if (!token->is_string() || !is_request_token(token->get_ref<const std::string&>())) {
            return Refusal{400, "clientRequestToken: 1 to 256 printable ASCII characters without spaces",
                           "clientRequestToken"};
          }
          *token = upstream_request_token(x.client->name, token->get_ref<const std::string&>());
        }
        p.call.path = std::string(kCollection);
        p.call.headers.push_back({"Content-Type", "application/json"});
        // Bedrock gets the body that was checked: a duplicate "modelId" read differently
        // upstream cannot slip past the allowlist.
        p.call.body = api::dump_json(j);
        return p;
      }
      case Kind::kGet: {
        const std::string arn = arn_of(head);
        if (x.memory->invocations().owner(arn) != x.client->name) return unknown(arn);
        return get_one(arn);
      }
      case Kind::kList:
        p.call.method = "GET";
        p.call.path = std::string(kCollection);
        if (q != std::string_view::npos) p.call.query = forwarded_query(target.substr(q + 1), kListQuery);
        p.call.query += p.call.query.empty() ? "maxResults=1000" : "&maxResults=1000";
        return p;
    }
    return Refusal{404, "no such path"};
  }

  // GetAsyncInvoke asks who started the invocation of the fleet's store, when this replica
  // does not know it.
  bool plans_async() const override { return true; }
  asio::awaitable<std::variant<Plan, LocalAnswer, Refusal>> plan_async(Exchange& x, const HeadPlan& hp,
                                                                       const http::RequestHead& head,
                                                                       std::string body) const override {
    if (kind_of(head) != Kind::kGet) co_return plan(x, hp, head, std::move(body));
    std::vector<std::string> arns = {arn_of(head)};
    auto owned = co_await x.memory->owns(x.client->name, arns);
    if (!owned) co_return owners_unknown();
    if (!owned->front()) co_return unknown(arns.front());
    co_return get_one(arns.front());
  }

  asio::awaitable<std::optional<Refusal>> answer(Exchange& x, Plan& plan, UpstreamReply& reply,
                                                 http::Responder& res) const override {
    const bool get_one = plan.call.method == "GET" && plan.call.path != kCollection;
    if (reply.status() != 200 || get_one) return relay_bedrock_answer(x, reply, res);
    return own(x, plan, reply, res);
  }

 private:
  static std::string arn_of(const http::RequestHead& head) {
    const std::string_view target = head.target();
    const auto q = target.find('?');
    return uri_decode(target.substr(kCollection.size() + 1, q - kCollection.size() - 1));
  }

  // The fleet's store did not answer who started an invocation: retry shortly.
  static Refusal owners_unknown() {
    return Refusal{503,
                   "signgate's replicas could not tell who started this invocation; retry",
                   "",
                   "",
                   "ServiceUnavailableException",
                   std::chrono::seconds(1)};
  }

  // Another client's, or unknown: the same answer, so nobody learns which.
  static Refusal unknown(const std::string& arn) {
    return Refusal{404, "no asynchronous invocation " + arn.substr(0, 2048) + " for this key", "", "",
                   "ResourceNotFoundException"};
  }

  static Plan get_one(const std::string& arn) {
    Plan p;
    p.call.operation = aws::Operation::kAsyncInvoke;
    p.call.headers = {{"Accept", "application/json"}};
    p.call.method = "GET";
    p.call.path = std::string(kCollection) + "/";
    uri_encode(arn, p.call.path);
    return p;
  }

  // Start: remember the new invocation as this client's. List: keep only this client's.
  static asio::awaitable<std::optional<Refusal>> own(Exchange& x, Plan& plan, UpstreamReply& reply,
                                                     http::Responder& res) {
    auto text = co_await reply.read_all(kMaxAnswer);
    if (!text) co_return unreadable_answer(x, "Bedrock's answer broke off: " + text.message());
    bool too_deep = false;
    json j = api::parse_json(*text, x.config().max_json_depth, &too_deep);
    std::string out;
    if (plan.call.method == "POST") {
      if (!j.is_object() || !j.contains("invocationArn") || !j["invocationArn"].is_string()) {
        co_return unreadable_answer(x, "StartAsyncInvoke answered without an invocationArn");
      }
      const std::string arn = j["invocationArn"].get<std::string>();
      if (auto first = co_await x.memory->record_invocation(x.client->name, arn)) {
        // Someone else's: as unknown as any other client's, and not this caller's from now on.
        co_return Refusal{404,
                          "no such asynchronous invocation for this key",
                          "",
                          "",
                          "ResourceNotFoundException",
                          {},
                          "StartAsyncInvoke answered with invocation " + arn.substr(0, 2048) + ", which client " +
                              *first + " started first: not recorded for this one"};
      }
      out = std::move(*text);
    } else {
      if (!j.is_object() || !j.contains("asyncInvokeSummaries") || !j["asyncInvokeSummaries"].is_array()) {
        co_return unreadable_answer(x, "ListAsyncInvokes answered without asyncInvokeSummaries");
      }
      std::vector<std::string> arns;
      for (const auto& s : j["asyncInvokeSummaries"]) {
        const bool named = s.is_object() && s.contains("invocationArn") && s["invocationArn"].is_string();
        arns.push_back(named ? s["invocationArn"].get<std::string>() : std::string());
      }
      auto owned = co_await x.memory->owns(x.client->name, arns);
      if (!owned) co_return owners_unknown();
      json kept = json::array();
      for (std::size_t i = 0; i < arns.size(); ++i) {
        if (!arns[i].empty() && (*owned)[i]) kept.push_back(std::move(j["asyncInvokeSummaries"][i]));
      }
      j["asyncInvokeSummaries"] = std::move(kept);
      j.erase("nextToken");
      out = api::dump_json(j);
    }
    Headers headers = content_type("application/json");
    if (auto id = reply.head().header("x-amzn-RequestId"); !id.empty())
      headers.push_back({"x-amzn-RequestId", std::string(id)});
    x.first_byte = SteadyClock::now();
    x.audit.bytes_out = out.size();
    co_await res.send(200, std::move(headers), std::move(out));
    co_return std::nullopt;
  }
};

}  // namespace

const Surface& bedrock_async() {
  static const BedrockAsync surface;
  return surface;
}

}  // namespace signgate::gateway::surfaces
