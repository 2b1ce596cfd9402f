#include "aws/scrub_identity.h"

#include <algorithm>
#include <array>

#include "aws/model_id.h"
#include "common/strings.h"

namespace signgate::aws {

namespace {

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_upper_or_digit(char c) { return is_digit(c) || (c >= 'A' && c <= 'Z'); }
constexpr bool is_alnum(char c) { return is_upper_or_digit(c) || (c >= 'a' && c <= 'z'); }
// [a-z0-9-]: a partition's, service's or resource type's characters.
constexpr bool is_name_char(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || c == '-'; }
// What an ARN is made of, IAM paths and names included (their [\w+=,.@-]), and IAM's wildcards.
constexpr bool is_arn_char(char c) {
  return is_alnum(c) || c == ':' || c == '/' || c == '_' || c == '+' || c == '=' || c == ',' || c == '.' || c == '@' ||
         c == '-' || c == '*';
}
// Where a session token's value ends: a canonical request's line, a query parameter, a quote.
constexpr bool ends_token(char c) {
  return static_cast<unsigned char>(c) <= ' ' || c == '\'' || c == '"' || c == '&' || c == ',' || c == ';';
}

// Resource types an ARN placeholder may name: AWS's own words, never an account's.
constexpr std::array<std::string_view, 22> kResourceTypes = {"assumed-role",
                                                             "role",
                                                             "user",
                                                             "group",
                                                             "federated-user",
                                                             "instance-profile",
                                                             "policy",
                                                             "foundation-model",
                                                             "inference-profile",
                                                             "application-inference-profile",
                                                             "provisioned-model",
                                                             "custom-model",
                                                             "imported-model",
                                                             "custom-model-deployment",
                                                             "prompt",
                                                             "prompt-router",
                                                             "default-prompt-router",
                                                             "async-invoke",
                                                             "guardrail",
                                                             "endpoint",
                                                             "model-invocation-job",
                                                             "knowledge-base"};

constexpr std::array<std::string_view, 6> kIdPrefixes = {"AKIA", "ASIA", "AROA", "AIDA", "AGPA", "ANPA"};

bool starts_with_i(std::string_view text, std::size_t at, std::string_view prefix) {
  return text.size() - at >= prefix.size() && iequals(text.substr(at, prefix.size()), prefix);
}

// Where an ARN starting at `at` ends, or `at` when none starts there ("arn:aws" and a partition
// such as aws-us-gov, then ':'). Sentence punctuation after it is not part of it.
std::size_t arn_end(std::string_view text, std::size_t at) {
  if (!starts_with_i(text, at, "arn:aws")) return at;
  std::size_t p = at + 7;
  while (p < text.size() && is_name_char(text[p])) ++p;
  if (p == text.size() || text[p] != ':') return at;
  while (p < text.size() && is_arn_char(text[p])) ++p;
  while (p > at && (text[p - 1] == '.' || text[p - 1] == ',' || text[p - 1] == ':')) --p;
  return p;
}

// "<service resource-type ARN>" for arn:partition:service:region:account:resource.
std::string arn_placeholder(std::string_view arn) {
  const auto field = arn_fields(arn);
  if (!field) return "<ARN>";
  const std::string_view service = (*field)[2];
  if (service.empty() || service.size() > 40 || !std::all_of(service.begin(), service.end(), is_name_char)) {
    return "<ARN>";
  }
  std::string out = "<";
  out.append(service);
  if (const auto sep = (*field)[5].find_first_of("/:"); sep != std::string_view::npos) {
    const std::string_view type = (*field)[5].substr(0, sep);
    if (std::find(kResourceTypes.begin(), kResourceTypes.end(), type) != kResourceTypes.end()) {
      out.append(" ").append(type);
    }
  }
  return out.append(" ARN>");
}

// The length of the run of `is` characters at `at`.
template <typename Class>
std::size_t run(std::string_view text, std::size_t at, Class is) {
  std::size_t p = at;
  while (p < text.size() && is(text[p])) ++p;
  return p - at;
}

// The text with session tokens redacted and, when `identities`, everything else named above.
std::string scrub(std::string_view text, bool identities) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (starts_with_i(text, i, "x-amz-security-token") && i + 20 < text.size() &&
        (text[i + 20] == ':' || text[i + 20] == '=')) {
      out.append(text.substr(i, 21)).append("<redacted>");
      i += 21;
      while (i < text.size() && !ends_token(text[i])) ++i;
      continue;
    }
    if (!identities) {
      out.push_back(text[i++]);
      continue;
    }
    if (const std::size_t end = arn_end(text, i); end != i) {
      out += arn_placeholder(text.substr(i, end - i));
      i = end;
      continue;
    }
    if (starts_with_i(text, i, "assumed-role/") && i + 13 < text.size() && is_arn_char(text[i + 13])) {
      out += "assumed-role/<role>/<session>";
      i += 13 + run(text, i + 13, is_arn_char);
      continue;
    }
    const bool word_start = i == 0 || !is_alnum(text[i - 1]);
    if (word_start && is_digit(text[i])) {
      const std::size_t digits = run(text, i, is_digit);
      const bool alone = i + digits == text.size() || !is_alnum(text[i + digits]);
      out += digits == 12 && alone ? std::string("<account>") : std::string(text.substr(i, digits));
      i += digits;
      continue;
    }
    if (word_start && std::any_of(kIdPrefixes.begin(), kIdPrefixes.end(),
                                  [&](std::string_view p) { return text.substr(i, 4) == p; })) {
      const std::size_t n = run(text, i, is_upper_or_digit);
      if (n >= 16 && (i + n == text.size() || !is_alnum(text[i + n]))) {
        out += "<AWS id>";
        i += n;
        // A role's unique ID names its session after a colon (AROA…:SESSION).
        if (text.substr(i - n, 4) == "AROA" && i + 1 < text.size() && text[i] == ':' && is_arn_char(text[i + 1])) {
          out += ":<session>";
          i += 1 + run(text, i + 1, is_arn_char);
        }
        continue;
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

}  // namespace

std::string scrub_identity(std::string_view text) { return scrub(text, true); }

std::string operator_text(std::string_view text, std::size_t max_bytes) {
  std::string out = scrub(text, false);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < ' ' || c == '\x7f') c = ' ';
  }
  if (out.size() > max_bytes) {
    out.resize(max_bytes);
    // A character the cut went through goes whole.
    std::size_t lead = out.size();
    while (lead > 0 && (static_cast<unsigned char>(out[lead - 1]) & 0xC0) == 0x80) --lead;
    if (lead > 0) {
      const auto b = static_cast<unsigned char>(out[lead - 1]);
      const std::size_t length = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
      if (out.size() - (lead - 1) < length) out.resize(lead - 1);
    }
    out += "\xE2\x80\xA6";  // …
  }
  return out;
}

}  // namespace signgate::aws
