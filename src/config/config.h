// signgate.yaml → validated plain structs (SPEC §3). Every problem is reported with the
// file, the key and the reason; nothing here runs after start-up or a reload.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aws/role.h"
#include "common/env.h"
#include "common/result.h"
#include "common/time.h"
#include "config/pricing.h"
#include "config/routes.h"

namespace signgate::config {

struct AwsConfig {
  std::string region;
  aws::RoleSettings role;  // role_arn empty: the base credentials are used directly
  std::chrono::seconds refresh_before_expiry{300};
  std::string sts_endpoint;              // empty: https://sts.{region}.amazonaws.com
  std::string bedrock_endpoint;          // empty: https://bedrock-runtime.{region}.amazonaws.com
  std::string bedrock_control_endpoint;  // empty: https://bedrock.{region}.amazonaws.com (discovery)
  std::string mantle_endpoint;           // empty: https://bedrock-mantle.{region}.api.aws (OpenAI-API models)

  std::string sts_url() const;
  std::string bedrock_url() const;
  std::string bedrock_control_url() const;
  std::string mantle_url() const;
  bool operator==(const AwsConfig&) const = default;
};

// A Bedrock guardrail: its ID (or ARN) and version ("DRAFT" or a number).
struct GuardrailConfig {
  std::string id;
  std::string version;
  bool operator==(const GuardrailConfig&) const = default;
};

struct ClientConfig {
  std::string name;
  std::vector<std::string> secret_sha256;  // 64 lower-case hex digits each; several while a key rotates
  std::vector<std::string> models;         // glob allowlist
  std::vector<std::string> operations;     // empty: all
  std::optional<SystemTime> expires_at;
  std::optional<aws::RoleSettings> aws;             // per-client identity, defaults filled from aws:
  std::optional<std::int64_t> requests_per_minute;  // rate_limit:
  std::optional<std::int64_t> tokens_per_minute;
  std::optional<std::int64_t> tokens_per_day;  // budget:
  std::optional<double> usd_per_day;           // budget: USD, a UTC day
  std::optional<double> usd_per_month;         // budget: USD, a UTC calendar month
  std::optional<GuardrailConfig> guardrail;    // forced onto every call of this client
  // request_metadata: pairs stamped into Bedrock's per-request metadata of every call, beside
  // signgate_client and signgate_request_id; the caller cannot override them.
  std::map<std::string, std::string> request_metadata;
  bool operator==(const ClientConfig&) const = default;
};

// responses: the store behind the Responses API's previous_response_id and item_reference.
struct ResponsesConfig {
  bool store = true;  // false: nothing is kept; previous_response_id is refused
  std::chrono::seconds ttl{3600};
  std::size_t max_bytes = 256u << 20;            // every client's responses together
  std::size_t max_bytes_per_client = 64u << 20;  // one client's
  // hosted_tools: what becomes of a built-in tool Bedrock cannot run (web_search, file_search,
  // ...): dropped (named in x-signgate-dropped-tools and the audit line) or refused with a 400.
  bool refuse_hosted_tools = false;
  bool operator==(const ResponsesConfig&) const = default;
};

// redis: the store a fleet of replicas shares (rate limits, budgets, revocations).
struct RedisConfig {
  // redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or rediss://...: one server, or seed nodes of a
  // Redis Cluster (any one that answers will do).
  std::vector<std::string> urls;
  enum class Cluster { kAuto, kOn, kOff } cluster = Cluster::kAuto;  // cluster: auto, true, false
  std::string ca_file;                                               // rediss://: empty for the system store
  bool deny_on_failure = false;  // on_failure: deny (503) rather than local (per-replica limits)
  std::chrono::milliseconds command_timeout{250};
  bool operator==(const RedisConfig&) const = default;
};

// One entry of anthropic.betas: the betas Bedrock takes for the models `model` matches (a glob
// over the model ID as sent to Bedrock; "*" for every model, which a flat list means).
struct BetaRule {
  std::string model;
  std::vector<std::string> betas;
  bool operator==(const BetaRule&) const = default;
};

struct UpstreamConfig {
  int max_retries = 2;
  std::string ca_file;  // empty: the system store
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds first_byte_timeout{60'000};
  std::chrono::milliseconds idle_timeout{60'000};
  bool operator==(const UpstreamConfig&) const = default;
};

struct Config {
  std::string source;  // the file it came from
  std::string listen = "127.0.0.1:8080";
  std::string listen_host = "127.0.0.1";  // parsed from listen: an IP literal (localhost → 127.0.0.1)
  std::uint16_t listen_port = 8080;       // 0: any free port
  AwsConfig aws;
  std::vector<ClientConfig> clients;
  std::map<std::string, std::string> models;  // alias → model ID
  // models: entries {id, family}: the model family an ID (an application inference profile's
  // ARN) serves, so thinking, structured output, caching and betas are chosen as for it.
  std::map<std::string, std::string> model_families;
  // models: entries {id, api: openai}: model IDs Bedrock serves through its OpenAI-compatible
  // endpoints (GPT-5.x, gpt-oss), whose /v1/chat/completions and /v1/responses requests go there
  // as they are. true: bedrock-runtime's /openai/v1 (endpoint: runtime); false: Mantle's.
  std::map<std::string, bool> openai_models;
  std::string audit_path;  // empty: no audit file; "-": stdout
  std::string tls_cert;
  std::string tls_key;
  std::optional<std::string> ops_listen;  // set: /healthz, /readyz and /metrics are served only there
  std::string ops_listen_host;            // parsed from ops_listen like listen_host; empty when unset
  std::uint16_t ops_listen_port = 0;      // 0: any free port (or ops_listen unset)
  // limits:
  std::uint64_t max_body_bytes = 20 * 1024 * 1024;
  std::uint64_t max_connections = 10000;     // client connections open at once
  int max_json_depth = 128;                  // nesting of a request body's JSON
  std::size_t max_header_bytes = 64 * 1024;  // a request's head: request line and headers
  // A stream whose caller left is read on, unrelayed, for Bedrock's usage: at most this much
  // more of it, for at most this long (0: not at all; the charge is then estimated).
  std::uint64_t abandoned_stream_bytes = 16 * 1024 * 1024;
  std::chrono::seconds abandoned_stream_seconds{120};
  UpstreamConfig upstream;
  // anthropic.betas: the anthropic-beta values sent on to Bedrock, by model glob (the first
  // rule whose glob matches the model as sent wins); unset, or a model no rule matches: the
  // ones Bedrock documents for that model's family (api/anthropic/betas.h).
  std::optional<std::vector<BetaRule>> anthropic_betas;
  // discovery: GET /foundation-models and /inference-profiles, filtered to each client's allowlist.
  bool discovery = false;
  ResponsesConfig responses;
  std::optional<RedisConfig> redis;
  // identities: and routes: (routes.h); the sticky table holds at most limits.sticky_entries.
  std::vector<IdentityConfig> identities;
  std::vector<RouteConfig> routes;
  std::size_t sticky_entries = 100'000;
  // pricing: model glob → USD prices (input required), over the shipped table (spend/pricing.h).
  PriceEntries pricing;
  bool operator==(const Config&) const = default;
};

// Bedrock's guardrail identifier grammar (an ID or a guardrail ARN) and version ("DRAFT", 1-99999999).
bool valid_guardrail_id(std::string_view id);
bool valid_guardrail_version(std::string_view version);

// Parses and validates `text`; `${VAR}` is expanded from `env` ("$$" is a literal '$').
// On failure the message has one line per problem: "FILE: KEY: reason".
Result<Config> parse_config(const std::string& text, const std::string& source, const Environment& env);

// What a reload from `before` to `after` changes, for the log: "clients added a, b; removed c;
// changed d (models, secret_sha256); aws, limits changed", or "nothing changed".
std::string describe_changes(const Config& before, const Config& after);

// Reads the file, then parse_config.
Result<Config> load_config(const std::string& path, const Environment& env);

}  // namespace signgate::config
