// The gateway: routes each request, checks the client's key and policy, signs with the
// right identity's credentials, relays Bedrock's answer (streams frame by frame, with the
// client's pace as back-pressure), and writes one audit line and the metrics for it.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "auth/clients.h"
#include "aws/credentials/cache.h"
#include "aws/sigv4.h"
#include "config/config.h"
#include "gateway/audit.h"
#include "gateway/metrics.h"
#include "http/client.h"
#include "http/server.h"

namespace signgate::gateway {

// One configuration generation, immutable once built; a reload builds a new one.
struct Runtime {
  config::Config config;
  auth::ClientTable clients;
  http::Url bedrock;  // base URL of bedrock-runtime
  std::shared_ptr<aws::CredentialCache> default_identity;
  std::map<std::string, std::shared_ptr<aws::CredentialCache>> identity_by_client;
};

// Builds a runtime from a validated config; each client's identity comes from `credentials`
// (started on first use, shared with the previous runtime when unchanged).
Result<std::shared_ptr<const Runtime>> build_runtime(config::Config cfg, aws::CredentialManager& credentials);

class Gateway {
 public:
  Gateway(std::shared_ptr<const Runtime> runtime, AuditLog& audit, Metrics& metrics);
  ~Gateway();

  // Creates one upstream client and signer per server loop, on that loop's executor.
  void attach(http::Server& server, const http::ClientOptions& upstream);
  // Drops the per-loop clients; call after the server stopped, before it is destroyed.
  void detach();

  void swap(std::shared_ptr<const Runtime> runtime);
  std::shared_ptr<const Runtime> runtime() const;

  http::Handler handler();
  // For requests the server refused itself (413, 400, 408): an audit line and a metric.
  http::Refusal refusal();

  // Ready when every identity in use holds unexpired credentials; otherwise `why`.
  bool ready(std::string* why) const;

 struct Loop;
  struct Call;
  struct Access;
  struct Upstream;

 private:
  boost::asio::awaitable<void> handle(const http::Request& req, http::Responder& res, std::size_t loop);
  boost::asio::awaitable<void> native(const http::Request& req, http::Responder& res, Loop& loop, Call& call);
  // The OpenAI and Anthropic surfaces (dialects.cc).
  boost::asio::awaitable<void> openai_chat(const http::Request& req, http::Responder& res, Loop& loop, Call& call);
  boost::asio::awaitable<void> openai_models(const http::Request& req, http::Responder& res, Call& call);
  boost::asio::awaitable<void> anthropic_messages(const http::Request& req, http::Responder& res, Loop& loop, Call& call);
  // Key, policy, rate limit and credentials for one call; fills the audit's client and role.
  Access access(const Runtime& rt, const http::Request& req, auth::Operation op, const std::string& model, Call& call) const;
  // Signs and sends one Bedrock call, retrying 429/503 before any byte went to the caller.
  boost::asio::awaitable<Upstream> call_bedrock(const Runtime& rt, Loop& loop, const aws::Credentials& creds,
                                                const std::string& model_id, auth::Operation op,
                                                aws::HeaderList headers, std::string_view body, Call& call);
  void finish(Call& call);

  AuditLog& audit_;
  Metrics& metrics_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Runtime> runtime_;
  std::vector<std::unique_ptr<Loop>> loops_;
};

}  // namespace signgate::gateway
