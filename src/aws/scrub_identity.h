// AWS's error text with signgate's own identity taken out, for callers who are not its operator:
// Bedrock's AccessDenied names the account, role and session signgate signs as, and other
// errors may quote an ARN. Pure, no regex.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace signgate::aws {

// `text` with every ARN (arn:aws…, any partition) replaced by a placeholder naming only its
// service and resource type ("<sts assumed-role ARN>", "<bedrock inference-profile ARN>",
// "<s3 ARN>"), every lone 12-digit account ID by "<account>", an "assumed-role/ROLE/SESSION"
// outside an ARN by "assumed-role/<role>/<session>", IAM unique and access key IDs (AROA…,
// AIDA…, AKIA…, ASIA…) by "<AWS id>" (AROA…:SESSION by "<AWS id>:<session>"), and a signed
// x-amz-security-token's value by "<redacted>".
// Text without any of these comes back unchanged.
std::string scrub_identity(std::string_view text);

// `text` for the operator's log and audit line: an x-amz-security-token's value (AWS quotes the
// canonical request in InvalidSignatureException) becomes "<redacted>", control characters
// become spaces (the text may quote the caller) and it is cut to `max_bytes` on a UTF-8
// boundary, "…" marking the cut. Identities stay: the operator needs them.
std::string operator_text(std::string_view text, std::size_t max_bytes = 2048);

}  // namespace signgate::aws
