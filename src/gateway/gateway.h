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
#include "gateway/bedrock_path.h"
#include "gateway/metrics.h"
#include "gateway/refusal.h"
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
// (started on first use, shared with the previous runtime when unchanged). Clients that stay
// keep their rate-limit state from `previous`, so a reload (logrotate's SIGHUP) resets nothing.
Result<std::shared_ptr<const Runtime>> build_runtime(config::Config cfg, aws::CredentialManager& credentials,
                                                     const Runtime* previous = nullptr);

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

  // Serves every surface, and /healthz, /readyz, /metrics when `with_ops` (no ops_listen:).
  http::Handler handler(bool with_ops = true);
  // Serves only /healthz, /readyz and /metrics: the ops listener's handler.
  http::Handler ops_handler();
  // For requests the server refused itself (431, 400, 408, 501): an audit line and a metric.
  http::Rejected rejected();

  // Ready when every identity in use holds unexpired credentials; otherwise `why`.
  bool ready(std::string* why) const;

  struct Loop;
  struct Call;
  struct Access;
  struct Upstream;

 private:
  boost::asio::awaitable<void> handle(const http::RequestHead& head, http::BodyReader& body, http::Responder& res,
                                      std::size_t loop, bool with_ops);
  // /healthz, /readyz, /metrics; false when `path` is none of them.
  boost::asio::awaitable<bool> ops(const http::RequestHead& head, http::Responder& res);
  // Each surface is given the runtime the caller was authenticated against, so a reload in
  // between cannot pair a client of one generation with the tables of the next.
  boost::asio::awaitable<void> native(std::shared_ptr<const Runtime> rt, const http::RequestHead& req_head, const std::string& req_body,
                                      http::Responder& res, Loop& loop, Call& call, const auth::Client& client,
                                      const ModelCall& parsed);
  // The OpenAI and Anthropic surfaces (dialects.cc).
  boost::asio::awaitable<void> openai_chat(std::shared_ptr<const Runtime> rt, const std::string& body, http::Responder& res, Loop& loop, Call& call,
                                           const auth::Client& client);
  boost::asio::awaitable<void> openai_models(std::shared_ptr<const Runtime> rt, const http::RequestHead& head, http::Responder& res, Call& call,
                                             const auth::Client& client);
  boost::asio::awaitable<void> anthropic_messages(std::shared_ptr<const Runtime> rt, const std::string& body, http::Responder& res, Loop& loop,
                                                  Call& call, const auth::Client& client);
  // Answers `r` in `dialect` and records it for the audit log.
  boost::asio::awaitable<void> refuse(http::Responder& res, Dialect dialect, const Refusal& r, Call& call);
  // Operation, model, rate limit and credentials for an authenticated client; fills the
  // audit's role. A Refusal (403/429/503) when the call may not go.
  Access authorize(const Runtime& rt, const auth::Client& client, auth::Operation op, const std::string& model,
                   Call& call) const;
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
