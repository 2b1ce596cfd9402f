#include "aws/credentials/chain.h"

#include <set>

#include "aws/credentials/providers.h"
#include "common/files.h"
#include "http/url.h"

namespace signgate::aws {

namespace asio = boost::asio;

namespace {

// A candidate is a provider, a reason it does not apply ("skip"), or a configuration
// error that must stop the chain (a half-set variable, a broken profile).
struct Candidate {
  std::shared_ptr<Provider> provider;
  std::string skipped;
  std::string error;
};

Candidate from_environment(const ProviderServices& s) {
  const auto akid = env_value(s.env, "AWS_ACCESS_KEY_ID");
  const auto secret = env_value(s.env, "AWS_SECRET_ACCESS_KEY");
  if (!akid && !secret) return {nullptr, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set", {}};
  if (!akid) return {nullptr, {}, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"};
  if (!secret) return {nullptr, {}, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"};
  const auto token = env_value(s.env, "AWS_SESSION_TOKEN");
  return {std::make_shared<StaticProvider>(
              Credentials(*akid, *secret, token.value_or("")),
              "environment (AWS_ACCESS_KEY_ID" + std::string(token ? ", AWS_SESSION_TOKEN)" : ")")),
          {},
          {}};
}

Candidate from_profile(const ProviderServices& s) {
  std::string where;
  const ProfileFiles files = load_profile_files(s.env, &where);
  const auto chosen = env_value(s.env, "AWS_PROFILE");
  const std::string name = chosen.value_or("default");
  if (!files.profile(name)) {
    if (chosen) return {nullptr, {}, "AWS_PROFILE=" + name + " but there is no such profile in " + where};
    return {nullptr, "no [default] profile in " + where, {}};
  }
  auto provider = provider_for_profile(files, name, s);
  if (!provider) {
    // A default profile with only settings (region, output) is not an error: move on.
    if (!chosen && provider.message().find("has no credentials") != std::string::npos) {
      return {nullptr, provider.message(), {}};
    }
    return {nullptr, {}, provider.message()};
  }
  return {std::move(*provider), {}, {}};
}

std::string session_name_for(const ProviderServices& s, const std::optional<std::string>& configured) {
  return sanitize_session_name(configured.value_or(s.default_session_name));
}

Candidate from_web_identity(const ProviderServices& s) {
  const auto role = env_value(s.env, "AWS_ROLE_ARN");
  const auto file = env_value(s.env, "AWS_WEB_IDENTITY_TOKEN_FILE");
  if (!role && !file) return {nullptr, "AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE are not set", {}};
  if (!role || !file) {
    return {nullptr,
            {},
            std::string(role ? "AWS_ROLE_ARN is set but AWS_WEB_IDENTITY_TOKEN_FILE is not"
                             : "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not")};
  }
  return {std::make_shared<WebIdentityProvider>(*role, *file,
                                                session_name_for(s, env_value(s.env, "AWS_ROLE_SESSION_NAME")), s),
          {},
          {}};
}

// The container endpoints AWS documents; anything else must be https or loopback so a
// misconfigured variable cannot send the token to an arbitrary host in clear text.
bool allowed_full_uri(const http::Url& url) {
  if (url.is_tls() || url.is_loopback()) return true;
  return url.host == "169.254.170.2" || url.host == "169.254.170.23" || url.host == "fd00:ec2::23";
}

Candidate from_ecs(const ProviderServices& s) {
  const auto relative = env_value(s.env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  const auto full = env_value(s.env, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
  if (!relative && !full) {
    return {nullptr, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI are not set", {}};
  }
  std::string url;
  if (relative) {
    url = "http://169.254.170.2" + *relative;
  } else {
    std::string error;
    const auto parsed = http::parse_url(*full, &error);
    if (!parsed) return {nullptr, {}, "AWS_CONTAINER_CREDENTIALS_FULL_URI: " + error};
    if (!allowed_full_uri(*parsed)) {
      return {nullptr,
              {},
              "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, loopback or an ECS/EKS "
              "link-local address, not " +
                  parsed->host};
    }
    url = *full;
  }
  return {std::make_shared<EcsProvider>(url, env_value(s.env, "AWS_CONTAINER_AUTHORIZATION_TOKEN").value_or(""),
                                        env_value(s.env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").value_or(""), s),
          {},
          {}};
}

Candidate from_imds(const ProviderServices& s) {
  const auto disabled = env_value(s.env, "AWS_EC2_METADATA_DISABLED");
  if (disabled && (*disabled == "true" || *disabled == "TRUE" || *disabled == "True")) {
    return {nullptr, "AWS_EC2_METADATA_DISABLED=true", {}};
  }
  const std::string endpoint = env_value(s.env, "AWS_EC2_METADATA_SERVICE_ENDPOINT").value_or("http://169.254.169.254");
  return {std::make_shared<ImdsProvider>(endpoint, s), {}, {}};
}

int parse_duration(const ProfileSection& p, std::string* error) {
  const auto it = p.find("duration_seconds");
  if (it == p.end()) return 3600;
  try {
    std::size_t used = 0;
    const int v = std::stoi(it->second, &used);
    if (used == it->second.size() && v >= 900 && v <= 43200) return v;
  } catch (const std::exception&) {}
  *error = "duration_seconds must be a number of seconds from 900 to 43200, not '" + it->second + "'";
  return 0;
}

Result<std::shared_ptr<Provider>> resolve_profile(const ProfileFiles& files, const std::string& name,
                                                  const ProviderServices& s, std::set<std::string>& seen) {
  const auto profile = files.profile(name);
  if (!profile) return make_error("profile '" + name + "' does not exist");
  const auto get = [&](const char* key) -> std::optional<std::string> {
    const auto it = profile->find(key);
    if (it == profile->end() || it->second.empty()) return std::nullopt;
    return it->second;
  };
  const std::string label = "profile '" + name + "'";
  const auto akid = get("aws_access_key_id");
  const auto secret = get("aws_secret_access_key");
  const auto role_arn = get("role_arn");
  if (!seen.insert(name).second) return make_error(label + ": source_profile loops back to it");
  const auto static_keys = [&]() -> std::shared_ptr<Provider> {
    if (!akid || !secret) return nullptr;
    const auto token = get("aws_session_token");
    return std::make_shared<StaticProvider>(Credentials(*akid, *secret, token.value_or("")),
                                            label + " (aws_access_key_id)");
  };
  if (role_arn) {
    std::string error;
    AssumeRoleParams params;
    params.role_arn = *role_arn;
    params.session_name = session_name_for(s, get("role_session_name"));
    params.external_id = get("external_id").value_or("");
    params.duration_seconds = parse_duration(*profile, &error);
    if (!error.empty()) return make_error(label + ": " + error);
    std::shared_ptr<Provider> base;
    if (const auto source = get("source_profile")) {
      if (*source == name) {  // the AWS CLI's rule: a profile may be its own source of keys
        base = static_keys();
        if (!base) return make_error(label + " is its own source_profile but has no aws_access_key_id");
      } else {
        auto b = resolve_profile(files, *source, s, seen);
        if (!b) return make_error(label + ": " + b.message());
        base = std::move(*b);
      }
    } else if (const auto source_name = get("credential_source")) {
      Candidate c;
      if (*source_name == "Environment")
        c = from_environment(s);
      else if (*source_name == "Ec2InstanceMetadata")
        c = from_imds(s);
      else if (*source_name == "EcsContainer")
        c = from_ecs(s);
      else
        return make_error(label + ": credential_source must be Environment, Ec2InstanceMetadata or EcsContainer");
      if (!c.provider) return make_error(label + ": credential_source " + *source_name + ": " + c.error + c.skipped);
      base = std::move(c.provider);
    } else if (const auto token_file = get("web_identity_token_file")) {
      return std::shared_ptr<Provider>(std::make_shared<WebIdentityProvider>(
          *role_arn, *token_file, session_name_for(s, get("role_session_name")), s));
    } else {
      return make_error(label +
                        " has role_arn but neither source_profile, credential_source nor "
                        "web_identity_token_file");
    }
    return std::shared_ptr<Provider>(std::make_shared<AssumeRoleProvider>(std::move(base), std::move(params), s));
  }
  if (auto keys = static_keys()) return keys;
  if (akid || secret) return make_error(label + " has only one of aws_access_key_id and aws_secret_access_key");
  if (get("sso_start_url") || get("sso_session")) {
    return make_error(label +
                      " uses IAM Identity Center (SSO), which signgate does not resolve; run "
                      "`aws configure export-credentials --profile " +
                      name +
                      " --format env` and "
                      "start signgate with those variables, or use a role");
  }
  if (get("credential_process")) {
    return make_error(label +
                      " uses credential_process, which signgate does not run (it would "
                      "execute a command with the gateway's privileges); use a role or static keys");
  }
  return make_error(label + " has no credentials");
}

}  // namespace

ProfileFiles load_profile_files(const Environment& env, std::string* where) {
  const std::string home = home_directory(env);
  const std::string config_path = env_value(env, "AWS_CONFIG_FILE").value_or(home + "/.aws/config");
  const std::string creds_path = env_value(env, "AWS_SHARED_CREDENTIALS_FILE").value_or(home + "/.aws/credentials");
  if (where != nullptr) *where = creds_path + " or " + config_path;
  return ProfileFiles(read_file(config_path).value_or(""), read_file(creds_path).value_or(""));
}

Result<std::shared_ptr<Provider>> provider_for_profile(const ProfileFiles& files, const std::string& name,
                                                       const ProviderServices& services) {
  std::set<std::string> seen;
  return resolve_profile(files, name, services, seen);
}

std::string ChainProvider::describe() const {
  return chosen_ ? chosen_->describe() : std::string("the default credential chain");
}

asio::awaitable<Result<Fetched>> ChainProvider::fetch() {
  if (chosen_) co_return co_await chosen_->fetch();
  std::string story;
  const auto note = [&story](const char* name, const std::string& why) {
    if (!story.empty()) story += "; ";
    story += std::string(name) + ": " + why;
  };
  using Step = Candidate (*)(const ProviderServices&);
  static constexpr std::pair<const char*, Step> kSteps[] = {{"environment", from_environment},
                                                            {"profile", from_profile},
                                                            {"web identity", from_web_identity},
                                                            {"ECS", from_ecs},
                                                            {"IMDS", from_imds}};
  for (const auto& [name, step] : kSteps) {
    Candidate c = step(services_);
    if (!c.error.empty()) co_return make_error(std::string(name) + ": " + c.error);
    if (!c.provider) {
      note(name, c.skipped);
      continue;
    }
    auto fetched = co_await c.provider->fetch();
    if (fetched) {
      chosen_ = std::move(c.provider);
      co_return fetched;
    }
    const auto* imds = dynamic_cast<const ImdsProvider*>(c.provider.get());
    if (imds != nullptr && imds->unreachable()) {
      note(name, fetched.message());
      continue;
    }
    co_return make_error(c.provider->describe() + ": " + fetched.message());
  }
  co_return make_error("no AWS credentials found (" + story + ")");
}

}  // namespace signgate::aws
