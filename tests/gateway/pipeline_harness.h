// The pipeline in process for tests: a real Gateway with its router, surfaces and pipeline over
// a fake upstream and a fake responder, no sockets (pipeline_test.cc, route_runner_test.cc).
#pragma once

#include <nlohmann/json.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <unistd.h>

#include "common/crypto.h"
#include "gateway/fake_upstream.h"
#include "gateway/gateway.h"
#include "spend/pricing.h"

namespace signgate::gateway::testing {

namespace pipeline_asio = boost::asio;

inline constexpr const char* kModel = "anthropic.claude-3-haiku-20240307-v1:0";

class FakeBody final : public http::BodyReader {
 public:
  explicit FakeBody(std::string bytes) : bytes_(std::move(bytes)) {}
  pipeline_asio::awaitable<http::Body> read(std::uint64_t limit) override {
    read_ = true;
    if (bytes_.size() > limit) co_return http::Body{{}, http::BodyError::kTooLarge};
    co_return http::Body{bytes_, http::BodyError::kNone};
  }
  bool announced() const override { return !bytes_.empty(); }
  bool was_read() const { return read_; }

 private:
  std::string bytes_;
  bool read_ = false;
};

class FakeResponder final : public http::Responder {
 public:
  pipeline_asio::awaitable<bool> send(unsigned s, std::vector<std::pair<std::string, std::string>> h,
                                      std::string b) override {
    status = s;
    headers = std::move(h);
    body = std::move(b);
    started_ = finished = true;
    co_return true;
  }
  pipeline_asio::awaitable<bool> start_stream(unsigned s, std::vector<std::pair<std::string, std::string>> h) override {
    status = s;
    headers = std::move(h);
    started_ = streamed = true;
    co_return true;
  }
  pipeline_asio::awaitable<bool> write(std::string_view piece) override {
    if (leave_after_writes >= 0 && writes >= leave_after_writes) co_return false;  // the caller left
    body.append(piece);
    ++writes;
    co_return true;
  }
  pipeline_asio::awaitable<bool> finish() override {
    finished = true;
    co_return true;
  }
  bool started() const override { return started_; }
  std::uint64_t bytes_written() const override { return body.size(); }

  std::string header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (iequals(n, name)) return v;
    }
    return {};
  }

  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool streamed = false, finished = false;
  int writes = 0;
  int leave_after_writes = -1;  // >= 0: writes past this many fail, as to a caller gone

 private:
  bool started_ = false;
};

struct TempFile {
  std::string path = (std::filesystem::temp_directory_path() /
                      ("pipeline-audit-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".jsonl"))
                         .string();
  ~TempFile() { std::filesystem::remove(path); }
  static inline int counter = 0;
};

// Clients: "full" may call anything; "haiku" one model, converse only, 1 request a minute.
inline std::string config_yaml(const std::string& extra = "") {
  return extra +
         "listen: 127.0.0.1:0\n"
         "aws:\n  region: us-east-1\n"
         "clients:\n"
         "  - name: full\n    secret_sha256: " +
         sha256_hex("full-secret") +
         "\n    models: [\"*\"]\n"
         "  - name: haiku\n    secret_sha256: " +
         sha256_hex("haiku-secret") +
         "\n"
         "    models: [\"anthropic.claude-3-haiku-*\"]\n    operations: [converse]\n"
         "    rate_limit: {requests_per_minute: 1}\n"
         "  - name: lister\n    secret_sha256: " +
         sha256_hex("lister-secret") +
         "\n"
         "    models: [\"us.anthropic.*\"]\n    operations: [discovery]\n"
         "  - name: guarded\n    secret_sha256: " +
         sha256_hex("guarded-secret") +
         "\n"
         "    models: [\"*\"]\n    guardrail: {id: gr0abc123, version: \"2\"}\n"
         "  - name: asyncer\n    secret_sha256: " +
         sha256_hex("asyncer-secret") +
         "\n"
         "    models: [\"amazon.nova-*\"]\n    operations: [async-invoke]\n"
         "  - name: budgeted\n    secret_sha256: " +
         sha256_hex("budgeted-secret") +
         "\n"
         "    models: [\"*\"]\n    budget: {tokens_per_day: 5}\n"
         "  - name: thrifty\n    secret_sha256: " +
         sha256_hex("thrifty-secret") +
         "\n"
         "    models: [\"*\"]\n    rate_limit: {tokens_per_minute: 5}\n"
         "  - name: spender\n    secret_sha256: " +
         sha256_hex("spender-secret") +
         "\n"
         "    models: [\"*\"]\n    budget: {usd_per_day: 0.000008}\n"
         "models:\n  fast: " +
         kModel +
         "\n"
         "limits:\n  max_body_bytes: 4096\n";
}

// A gateway over the fake upstream, with credentials held (or not).
struct Harness {
  TempFile audit_file;
  std::unique_ptr<AuditLog> audit;
  Metrics metrics;
  std::shared_ptr<FakeUpstreamState> upstream = std::make_shared<FakeUpstreamState>();
  std::unique_ptr<Gateway> gateway;
  pipeline_asio::io_context ioc;
  http::Handler handler;

  explicit Harness(bool credentials = true, const std::string& extra_config = "") {
    auto opened = AuditLog::open(audit_file.path);
    if (!opened) throw std::runtime_error(opened.message());
    audit = std::move(opened.value());
    auto cfg = config::parse_config(config_yaml(extra_config), "pipeline_test.yaml", fixed_environment({}));
    if (!cfg) throw std::runtime_error(cfg.message());
    auto rt = std::make_shared<Runtime>();
    std::string error;
    rt->bedrock = *http::parse_url("https://bedrock-runtime.us-east-1.amazonaws.com", &error);
    rt->bedrock_control = *http::parse_url("https://bedrock.us-east-1.amazonaws.com", &error);
    rt->clients = auth::ClientTable::from_config(*cfg);
    rt->pricing = std::make_unique<const spend::Pricing>(spend::shipped_prices(), cfg->pricing, cfg->model_families);
    auto cache = std::make_shared<aws::CredentialCache>(aws::RoleSettings{}, system_now, std::chrono::seconds(10));
    if (credentials) {
      cache->publish({aws::Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI"), ""}, "test");
    } else {
      cache->fail("STS said no to arn:aws:iam::111122223333:role/x", "test");
    }
    for (const auto& c : rt->clients.clients()) rt->identity_by_client[c.name] = cache;
    rt->identities.push_back({"base credentials", cache, {}, {}});
    std::vector<api::anthropic::BetaRule> beta_rules;
    for (const auto& rule : cfg->anthropic_betas.value_or(std::vector<config::BetaRule>{})) {
      beta_rules.push_back({rule.model, rule.betas});
    }
    if (beta_rules.empty()) beta_rules.push_back({"*", {"interleaved-thinking-2025-05-14", "context-1m-2025-08-07"}});
    rt->anthropic_betas = api::anthropic::BetaPolicy(beta_rules, cfg->model_families);
    // Routes' named identities sign as AKID-NAME; one named "broken..." holds no credentials.
    auto routes =
        RouteTable::build(*cfg, rt->identity_by_client, [](const std::string&, const config::IdentityConfig& id) {
          auto c = std::make_shared<aws::CredentialCache>(aws::RoleSettings{}, system_now, std::chrono::seconds(10));
          if (id.name.rfind("broken", 0) == 0) {
            c->fail("STS said no", "test");
          } else {
            c->publish({aws::Credentials("AKID-" + id.name, "secret"), ""}, "test");
          }
          return c;
        });
    if (!routes) throw std::runtime_error(routes.message());
    rt->routes = std::move(*routes);
    rt->config = std::move(*cfg);
    gateway = std::make_unique<Gateway>(rt, *audit, metrics, [state = upstream](const pipeline_asio::any_io_executor&) {
      return std::make_unique<FakeUpstream>(state);
    });
    handler = gateway->handlers(true)(ioc.get_executor());
  }

  struct Result {
    FakeResponder res;
    bool body_read = false;
  };

  Result call(boost::beast::http::verb method, std::string target,
              std::vector<std::pair<std::string, std::string>> headers, std::string body = {},
              int leave_after_writes = -1) {
    http::RequestHead head;
    head.method(method);
    head.target(target);
    for (const auto& [n, v] : headers) head.insert(n, v);
    FakeBody reader(std::move(body));
    Result r;
    r.res.leave_after_writes = leave_after_writes;
    pipeline_asio::co_spawn(ioc, handler(head, reader, r.res), pipeline_asio::detached);
    ioc.restart();
    ioc.run();
    r.body_read = reader.was_read();
    return r;
  }

  std::vector<nlohmann::json> audit_lines() {
    audit->flush();
    std::vector<nlohmann::json> out;
    std::ifstream in(audit_file.path);
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  }
};

inline Scripted converse_ok() {
  Scripted s;
  s.headers = {{"Content-Type", "application/json"}};
  s.pieces = {R"({"output":{"message":{"role":"assistant","content":[{"text":"hi"}]}},"stopReason":"end_turn",)"
              R"("usage":{"inputTokens":3,"outputTokens":1,"totalTokens":4}})"};
  return s;
}

inline Scripted failing(ErrorKind kind) {
  Scripted s;
  s.failure = kind;
  return s;
}

inline std::vector<std::pair<std::string, std::string>> bearer(const std::string& secret) {
  return {{"Authorization", "Bearer " + secret}, {"Content-Type", "application/json"}};
}

}  // namespace signgate::gateway::testing
