// The STS Query API as signgate uses it: the form bodies of AssumeRole and
// AssumeRoleWithWebIdentity, and their XML answers and ErrorResponses. Pure: no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aws/credentials.h"
#include "common/result.h"

namespace signgate::aws {

struct AssumeRoleParams {
  std::string role_arn;
  std::string session_name;
  std::string external_id;      // empty: not sent
  int duration_seconds = 3600;  // 900 .. 43200, within the role's maximum
  std::string source_identity;  // empty: not sent
  std::string policy;           // session policy JSON; empty: not sent
  std::vector<std::pair<std::string, std::string>> tags;
};

// "Action=AssumeRole&DurationSeconds=3600&ExternalId=...&RoleArn=...&RoleSessionName=...&Version=2011-06-15"
std::string assume_role_form(const AssumeRoleParams& params);

// AssumeRoleWithWebIdentity is not signed: the token file's content is the proof.
std::string assume_role_with_web_identity_form(const std::string& role_arn, const std::string& session_name,
                                               const std::string& web_identity_token, int duration_seconds);

struct AssumedRole {
  Credentials credentials;
  std::string assumed_role_arn;  // arn:aws:sts::111122223333:assumed-role/ROLE/SESSION
};

// Parses <AssumeRoleResponse> or <AssumeRoleWithWebIdentityResponse>. Fails on an
// ErrorResponse (with its code and message), on XML that does not parse, and on an
// answer without keys or with an unreadable Expiration.
Result<AssumedRole> parse_assume_role_response(std::string_view xml);

struct StsError {
  std::string code;     // "AccessDenied"
  std::string message;  // "User: ... is not authorized to perform: sts:AssumeRole on resource: ..."
};

// The Code and Message of an <ErrorResponse>, or nullopt when `xml` is not one.
std::optional<StsError> parse_error_response(std::string_view xml);

// What an STS failure most likely means for an operator, with the fix. `external_id_sent`
// tells an External ID mismatch from a missing trust relationship.
std::string explain_sts_error(const StsError& error, unsigned http_status, const std::string& role_arn,
                              bool external_id_sent);

// Session names allow [\w+=,.@-], 2..64 characters; anything else is replaced by '-'.
std::string sanitize_session_name(std::string_view name);

}  // namespace signgate::aws
