#include "aws/credentials/providers.h"

#include <nlohmann/json.hpp>

#include "aws/sigv4.h"
#include "common/crypto.h"
#include "common/files.h"
#include "http/client.h"

namespace signgate::aws {

namespace asio = boost::asio;
using Millis = std::chrono::milliseconds;

namespace {

constexpr Millis kStsTimeout{10'000};
constexpr Millis kMetadataTimeout{1'000};  // IMDS and ECS answer in milliseconds or not at all

std::string trim_newlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

Result<http::Url> url_of(const std::string& text) {
  std::string error;
  auto url = http::parse_url(text, &error);
  if (!url) return make_error(error);
  return *url;
}

HttpRequest form_post(const http::Url& url, const std::string& body_length) {
  return HttpRequest{"POST",
                     url.path,
                     url.query,
                     {{"Host", url.host_header()},
                      {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                      {"Content-Length", body_length}}};
}

// Sends one STS Query call and turns the answer into credentials or a readable failure.
asio::awaitable<Result<Fetched>> call_sts(const ProviderServices& services, const http::Url& url,
                                          const HttpRequest& request, const std::string& form,
                                          const std::string& role_arn, bool external_id_sent) {
  auto response = co_await http::fetch_small(*services.http, url, request, form, kStsTimeout);
  if (!response) co_return make_error("STS at " + url.host_header() + " unreachable: " + response.message());
  if (response->head.status != 200) {
    if (auto error = parse_error_response(response->body)) {
      co_return make_error(explain_sts_error(*error, response->head.status, role_arn, external_id_sent));
    }
    co_return make_error("STS at " + url.host_header() + " answered " + std::to_string(response->head.status) + " " +
                         response->head.reason + " without an ErrorResponse");
  }
  auto assumed = parse_assume_role_response(response->body);
  secure_wipe(response->body);
  if (!assumed) co_return assumed.error();
  co_return Fetched{std::move(assumed->credentials), std::move(assumed->assumed_role_arn)};
}

}  // namespace

std::string ProviderServices::sts_url() const {
  if (!sts_endpoint.empty()) return sts_endpoint;
  return "https://sts." + region + ".amazonaws.com/";
}

asio::awaitable<Result<Fetched>> StaticProvider::fetch() { co_return Fetched{credentials_, {}}; }

std::string AssumeRoleProvider::describe() const {
  return "AssumeRole " + params_.role_arn + " as session '" + params_.session_name + "'" +
         (params_.external_id.empty() ? "" : " with an External ID") + ", from " + base_->describe();
}

asio::awaitable<Result<Fetched>> AssumeRoleProvider::fetch() {
  auto base = co_await base_->fetch();
  if (!base) co_return make_error("no base credentials to assume " + params_.role_arn + " with: " + base.message());
  const std::string& region = sts_region_.empty() ? services_.region : sts_region_;
  auto url = url_of(!sts_endpoint_.empty() ? sts_endpoint_
                    : sts_region_.empty()  ? services_.sts_url()
                                           : "https://sts." + sts_region_ + ".amazonaws.com/");
  if (!url) co_return make_error("sts_endpoint: " + url.message());
  const std::string form = assume_role_form(params_);
  HttpRequest request = form_post(*url, std::to_string(form.size()));
  Signer signer(services_.clock);
  signer.sign(request, sha256_hex(form), base->credentials, SigningOptions::for_service(region, "sts"));
  co_return co_await call_sts(services_, *url, request, form, params_.role_arn, !params_.external_id.empty());
}

std::string WebIdentityProvider::describe() const {
  return "web identity (AWS_ROLE_ARN " + role_arn_ + ", token file " + token_file_ + ")";
}

asio::awaitable<Result<Fetched>> WebIdentityProvider::fetch() {
  auto token = read_file(token_file_);
  if (!token) co_return make_error("web identity token file " + token_file_ + " cannot be read");
  const std::string trimmed = trim_newlines(std::move(*token));
  if (trimmed.empty()) co_return make_error("web identity token file " + token_file_ + " is empty");
  auto url = url_of(services_.sts_url());
  if (!url) co_return make_error("aws.sts_endpoint: " + url.message());
  const std::string form = assume_role_with_web_identity_form(role_arn_, session_name_, trimmed, 3600);
  const HttpRequest request = form_post(*url, std::to_string(form.size()));
  co_return co_await call_sts(services_, *url, request, form, role_arn_, false);
}

Result<Credentials> parse_container_credentials(std::string_view text) {
  const auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return make_error("credentials answer is not JSON");
  if (json.contains("Code") && json["Code"].is_string() && json["Code"] != "Success") {
    return make_error("credentials endpoint says " + json["Code"].get<std::string>() +
                      (json.contains("Message") && json["Message"].is_string()
                           ? ": " + json["Message"].get<std::string>()
                           : std::string()));
  }
  const auto str = [&](const char* key) -> std::string {
    const auto it = json.find(key);
    return it != json.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::string akid = str("AccessKeyId");
  std::string secret = str("SecretAccessKey");
  if (akid.empty() || secret.empty()) return make_error("credentials answer lacks AccessKeyId or SecretAccessKey");
  std::optional<SystemTime> expiration;
  if (const std::string e = str("Expiration"); !e.empty()) {
    expiration = parse_iso8601(e);
    if (!expiration) return make_error("credentials answer has an unreadable Expiration '" + e + "'");
  }
  return Credentials(std::move(akid), std::move(secret), str("Token"), expiration);
}

asio::awaitable<Result<Fetched>> EcsProvider::fetch() {
  auto url = url_of(url_);
  if (!url) co_return make_error("container credentials URI: " + url.message());
  HttpRequest request{"GET", url->path, url->query, {{"Host", url->host_header()}, {"Accept", "application/json"}}};
  std::string token = token_;
  if (!token_file_.empty()) {
    auto t = read_file(token_file_);
    if (!t) co_return make_error("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE " + token_file_ + " cannot be read");
    token = trim_newlines(std::move(*t));
  }
  if (!token.empty()) request.headers.push_back({"Authorization", token});
  auto response = co_await http::fetch_small(*services_.http, *url, request, {}, kMetadataTimeout * 2);
  secure_wipe(token);
  if (!response) co_return make_error("container credentials endpoint " + url_ + ": " + response.message());
  if (response->head.status != 200) {
    co_return make_error(
        "container credentials endpoint " + url_ + " answered " + std::to_string(response->head.status) +
        (response->head.status == 401 || response->head.status == 403 ? " (the authorization token was refused)" : ""));
  }
  auto creds = parse_container_credentials(response->body);
  secure_wipe(response->body);
  if (!creds) co_return make_error("container credentials endpoint " + url_ + ": " + creds.message());
  co_return Fetched{std::move(*creds), {}};
}

asio::awaitable<Result<Fetched>> ImdsProvider::fetch() {
  unreachable_ = false;
  auto base = url_of(endpoint_);
  if (!base) co_return make_error("AWS_EC2_METADATA_SERVICE_ENDPOINT: " + base.message());
  std::string root = endpoint_;
  while (!root.empty() && root.back() == '/') root.pop_back();
  const auto request_to = [&](const char* method, const std::string& path) {
    return HttpRequest{method, path, {}, {{"Host", base->host_header()}}};
  };

  HttpRequest put = request_to("PUT", "/latest/api/token");
  put.headers.push_back({"X-aws-ec2-metadata-token-ttl-seconds", "21600"});
  auto token = co_await http::fetch_small(*services_.http, *base, put, {}, kMetadataTimeout);
  if (!token) {
    unreachable_ = true;
    co_return make_error("no instance metadata service at " + root + " (" + token.message() + ")");
  }
  if (token->head.status != 200) {
    unreachable_ = true;  // no IMDSv2 here (disabled, or something else answers the address)
    co_return make_error("IMDSv2 token request to " + root + " answered " + std::to_string(token->head.status) +
                         (token->head.status == 403 ? " (IMDS is disabled for this instance)" : ""));
  }
  const std::string session = trim_newlines(std::move(token->body));

  HttpRequest list = request_to("GET", "/latest/meta-data/iam/security-credentials/");
  list.headers.push_back({"X-aws-ec2-metadata-token", session});
  auto roles = co_await http::fetch_small(*services_.http, *base, list, {}, kMetadataTimeout);
  if (!roles) co_return make_error("instance metadata at " + root + ": " + roles.message());
  if (roles->head.status == 404) {
    co_return make_error(
        "this EC2 instance has no IAM role attached (instance profile); attach one "
        "or give signgate credentials another way");
  }
  if (roles->head.status != 200) {
    co_return make_error("instance metadata role list answered " + std::to_string(roles->head.status));
  }
  const std::string role = trim_newlines(roles->body.substr(0, roles->body.find('\n')));
  if (role.empty()) co_return make_error("this EC2 instance has no IAM role attached");

  HttpRequest get = request_to("GET", "/latest/meta-data/iam/security-credentials/" + role);
  get.headers.push_back({"X-aws-ec2-metadata-token", session});
  auto answer = co_await http::fetch_small(*services_.http, *base, get, {}, kMetadataTimeout);
  if (!answer) co_return make_error("instance metadata at " + root + ": " + answer.message());
  if (answer->head.status != 200) {
    co_return make_error("instance role " + role + " credentials answered " + std::to_string(answer->head.status));
  }
  auto creds = parse_container_credentials(answer->body);
  secure_wipe(answer->body);
  if (!creds) co_return make_error("instance role " + role + ": " + creds.message());
  co_return Fetched{std::move(*creds), {}};
}

}  // namespace signgate::aws
