#include "aws/sts.h"

#include <pugixml.hpp>

#include "aws/uri.h"
#include "common/time.h"

namespace signgate::aws {
namespace {

void add_param(std::string& form, std::string_view name, std::string_view value) {
  if (!form.empty()) form.push_back('&');
  uri_encode(name, form);
  form.push_back('=');
  uri_encode(value, form);
}

// The element of that local name under `parent`, whatever namespace prefix it carries.
pugi::xml_node child(const pugi::xml_node& parent, std::string_view name) {
  for (pugi::xml_node n : parent.children()) {
    std::string_view full = n.name();
    const auto colon = full.find(':');
    if (colon != std::string_view::npos) full.remove_prefix(colon + 1);
    if (full == name) return n;
  }
  return {};
}

std::string text_of(const pugi::xml_node& parent, std::string_view name) {
  return child(parent, name).text().as_string();
}

}  // namespace

std::string assume_role_form(const AssumeRoleParams& p) {
  // Parameters in sorted order, as the SDKs send them (STS does not require it).
  std::string form;
  add_param(form, "Action", "AssumeRole");
  add_param(form, "DurationSeconds", std::to_string(p.duration_seconds));
  if (!p.external_id.empty()) add_param(form, "ExternalId", p.external_id);
  if (!p.policy.empty()) add_param(form, "Policy", p.policy);
  add_param(form, "RoleArn", p.role_arn);
  add_param(form, "RoleSessionName", p.session_name);
  if (!p.source_identity.empty()) add_param(form, "SourceIdentity", p.source_identity);
  for (std::size_t i = 0; i < p.tags.size(); ++i) {
    const std::string prefix = "Tags.member." + std::to_string(i + 1);
    add_param(form, prefix + ".Key", p.tags[i].first);
    add_param(form, prefix + ".Value", p.tags[i].second);
  }
  add_param(form, "Version", "2011-06-15");
  return form;
}

std::string assume_role_with_web_identity_form(const std::string& role_arn, const std::string& session_name,
                                               const std::string& web_identity_token, int duration_seconds) {
  std::string form;
  add_param(form, "Action", "AssumeRoleWithWebIdentity");
  add_param(form, "DurationSeconds", std::to_string(duration_seconds));
  add_param(form, "RoleArn", role_arn);
  add_param(form, "RoleSessionName", session_name);
  add_param(form, "Version", "2011-06-15");
  add_param(form, "WebIdentityToken", web_identity_token);
  return form;
}

std::optional<StsError> parse_error_response(std::string_view xml) {
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size())) return std::nullopt;
  const pugi::xml_node root = doc.document_element();
  std::string_view name = root.name();
  if (const auto colon = name.find(':'); colon != std::string_view::npos) name.remove_prefix(colon + 1);
  if (name != "ErrorResponse") return std::nullopt;
  const pugi::xml_node error = child(root, "Error");
  if (!error) return std::nullopt;
  return StsError{text_of(error, "Code"), text_of(error, "Message")};
}

Result<AssumedRole> parse_assume_role_response(std::string_view xml) {
  if (auto error = parse_error_response(xml)) {
    return make_error("STS error " + error->code + ": " + error->message);
  }
  // Parsed in place in a buffer of our own, so the one copy of the secret pugixml sees is
  // the one we wipe (load_buffer would keep an unwiped copy until it is freed).
  std::string buffer(xml);
  struct WipeOnExit {
    std::string& b;
    ~WipeOnExit() { secure_wipe(b); }
  } wipe{buffer};
  pugi::xml_document doc;
  const pugi::xml_parse_result parsed = doc.load_buffer_inplace(buffer.data(), buffer.size());
  if (!parsed) {
    return make_error(std::string("STS answered with XML that does not parse: ") + parsed.description());
  }
  const pugi::xml_node root = doc.document_element();
  pugi::xml_node result = child(root, "AssumeRoleResult");
  if (!result) result = child(root, "AssumeRoleWithWebIdentityResult");
  if (!result) {
    return make_error(std::string("STS answered <") + root.name() + "> instead of an AssumeRole result");
  }
  const pugi::xml_node creds = child(result, "Credentials");
  std::string akid = text_of(creds, "AccessKeyId");
  std::string secret = text_of(creds, "SecretAccessKey");
  std::string token = text_of(creds, "SessionToken");
  const std::string expiration_text = text_of(creds, "Expiration");
  if (akid.empty() || secret.empty() || token.empty()) {
    return make_error("STS answer lacks AccessKeyId, SecretAccessKey or SessionToken");
  }
  const auto expiration = parse_iso8601(expiration_text);
  if (!expiration) {
    return make_error("STS answer has an unreadable Expiration '" + expiration_text + "'");
  }
  AssumedRole out{Credentials(std::move(akid), std::move(secret), std::move(token), *expiration),
                  text_of(child(result, "AssumedRoleUser"), "Arn")};
  return out;
}

std::string explain_sts_error(const StsError& e, unsigned status, const std::string& role_arn, bool external_id_sent) {
  std::string line =
      "STS refused AssumeRole on " + role_arn + " (" + std::to_string(status) + " " + e.code + ": " + e.message + ")";
  if (e.code == "AccessDenied") {
    // STS answers AccessDenied alike for a wrong External ID, a trust policy that does not
    // name the caller, and a role that does not exist; name the likeliest first.
    if (external_id_sent) {
      line +=
          " — most likely the External ID does not match the role's trust policy (condition "
          "sts:ExternalId); otherwise the trust policy does not name these base credentials as "
          "principal, or the role does not exist; compare aws.external_id and aws.role_arn with "
          "what `signgate iam-policy` prints";
    } else {
      line +=
          " — the role's trust policy does not allow these base credentials to assume it, it "
          "requires an External ID and none is configured (set aws.external_id), or the role does "
          "not exist";
    }
  } else if (e.code == "InvalidClientTokenId" || e.code == "SignatureDoesNotMatch" || e.code == "IncompleteSignature") {
    line +=
        " — the base credentials are not valid (wrong or deactivated access key, or a wrong "
        "secret); check the base credential source that `signgate doctor` names";
  } else if (e.code == "ExpiredToken") {
    line += " — the base credentials have expired; refresh their source (profile, SSO, instance role)";
  } else if (e.code == "ValidationError" && e.message.find("DurationSeconds") != std::string::npos) {
    line += " — lower aws.duration_seconds to at most the role's maximum session duration";
  } else if (e.code == "RegionDisabledException") {
    line += " — activate STS in this region (IAM → Account settings) or set aws.sts_endpoint";
  } else if (e.code == "NoSuchEntity" || e.message.find("does not exist") != std::string::npos) {
    line += " — the role does not exist; check aws.role_arn";
  }
  return line;
}

std::string sanitize_session_name(std::string_view name) {
  std::string out;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '+' || c == '=' || c == ',' || c == '.' || c == '@' || c == '-';
    out.push_back(ok ? c : '-');
  }
  if (out.size() > 64) out.resize(64);
  while (out.size() < 2) out.push_back('-');
  return out;
}

}  // namespace signgate::aws
