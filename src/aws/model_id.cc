#include "aws/model_id.h"

#include <algorithm>

namespace signgate::aws {

namespace {

constexpr bool is_lower_or_digit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
constexpr bool is_alnum(char c) { return is_lower_or_digit(c) || (c >= 'A' && c <= 'Z'); }
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
// [a-z0-9-]
constexpr bool is_name_char(char c) { return is_lower_or_digit(c) || c == '-'; }
// [a-zA-Z0-9-:.]
constexpr bool is_id_char(char c) { return is_alnum(c) || c == '-' || c == ':' || c == '.'; }

// `s` is min to max characters, each of the class.
template <typename Class>
bool run(std::string_view s, Class is, std::size_t min, std::size_t max) {
  return s.size() >= min && s.size() <= max && std::all_of(s.begin(), s.end(), is);
}

constexpr std::size_t kUnbounded = kMaxModelIdSize;

// Removes `prefix` from `s` when it is there.
bool consume(std::string_view& s, std::string_view prefix) {
  if (s.substr(0, prefix.size()) != prefix) return false;
  s.remove_prefix(prefix.size());
  return true;
}

// [a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.:]?[a-z0-9-]{1,63})
bool foundation_model_name(std::string_view s) {
  const auto dot = s.find('.');
  if (dot == std::string_view::npos || !run(s.substr(0, dot), is_name_char, 1, 63)) return false;
  const std::string_view rest = s.substr(dot + 1);
  const auto sep = rest.find_first_of(".:");
  // Without a separator the two runs are adjacent: one run of 2 to 126.
  if (sep == std::string_view::npos) return run(rest, is_name_char, 2, 126);
  return run(rest.substr(0, sep), is_name_char, 1, 63) && run(rest.substr(sep + 1), is_name_char, 1, 63);
}

// [a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}/[a-z0-9]{12}
bool custom_model_name(std::string_view s) {
  const auto dot = s.find('.');
  const auto slash = s.find('/');
  if (dot == std::string_view::npos || slash == std::string_view::npos || dot > slash) return false;
  return run(s.substr(0, dot), is_name_char, 1, 63) && run(s.substr(dot + 1, slash - dot - 1), is_name_char, 1, 63) &&
         run(s.substr(slash + 1), is_lower_or_digit, 12, 12);
}

// [0-9a-zA-Z]{10}(?::[0-9]{1,5})?
bool prompt_name(std::string_view s) {
  const auto colon = s.find(':');
  if (!run(s.substr(0, colon), is_alnum, 10, 10)) return false;
  return colon == std::string_view::npos || run(s.substr(colon + 1), is_digit, 1, 5);
}

// The resource part of a bedrock ARN that names an account.
bool account_resource(std::string_view r) {
  if (consume(r, "custom-model/")) return custom_model_name(r);
  if (consume(r, "imported-model/") || consume(r, "provisioned-model/") || consume(r, "custom-model-deployment/")) {
    return run(r, is_lower_or_digit, 12, 12);
  }
  if (consume(r, "inference-profile/") || consume(r, "application-inference-profile/") ||
      consume(r, "prompt-router/") || consume(r, "default-prompt-router/")) {
    return run(r, is_id_char, 1, kUnbounded);
  }
  if (consume(r, "prompt/")) return prompt_name(r);
  return false;
}

// arn:{partition}:{service}:{region}:{account}:{resource}, as the pattern's ARN branches allow.
bool valid_arn(std::string_view arn) {
  auto fields = arn_fields(arn);
  if (!fields) return false;
  auto& field = *fields;
  const std::string_view partition = field[1], service = field[2], region = field[3], account = field[4];
  if (service == "sagemaker") {
    return partition == "aws" && run(region, is_name_char, 1, kUnbounded) && run(account, is_digit, 12, 12) &&
           consume(field[5], "endpoint/") &&
           run(
               field[5], [](char c) { return is_alnum(c) || c == '-'; }, 1, kUnbounded);
  }
  // The pattern's aws(-[^:]+)? would let spaces and '%' in; real partitions are aws-cn, aws-us-gov, ...
  std::string_view suffix = partition;
  if (!consume(suffix, "aws") ||
      (!suffix.empty() && !(consume(suffix, "-") && run(suffix, is_name_char, 1, kUnbounded)))) {
    return false;
  }
  if (service != "bedrock" || !run(region, is_name_char, 1, 20)) return false;
  std::string_view resource = field[5];
  if (account.empty()) return consume(resource, "foundation-model/") && foundation_model_name(resource);
  return run(account, is_digit, 12, 12) && account_resource(resource);
}

// ([0-9a-zA-Z][_-]?)+ : '_' and '-' only each after a letter or digit.
bool underscore_name(std::string_view s) {
  bool after_alnum = false;
  for (const char c : s) {
    if (is_alnum(c)) {
      after_alnum = true;
    } else if ((c == '_' || c == '-') && after_alnum) {
      after_alnum = false;
    } else {
      return false;
    }
  }
  return !s.empty();
}

}  // namespace

std::optional<std::array<std::string_view, 6>> arn_fields(std::string_view arn) {
  std::array<std::string_view, 6> fields;
  for (std::size_t i = 0; i < 5; ++i) {
    const auto colon = arn.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    fields[i] = arn.substr(0, colon);
    arn.remove_prefix(colon + 1);
  }
  fields[5] = arn;
  return fields;
}

bool valid_model_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxModelIdSize) return false;
  // The pattern allows them, but upstream they would be path dot segments.
  if (id == "." || id == "..") return false;
  if (id.substr(0, 4) == "arn:") return valid_arn(id);
  return run(id, is_id_char, 1, kMaxModelIdSize) || underscore_name(id);
}

}  // namespace signgate::aws
