// STS answers of any shape (AssumeRole, web identity, ErrorResponse, garbage): credentials,
// an error, or an explanation, never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "aws/sts.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view xml(reinterpret_cast<const char*>(data), size);
  auto role = signgate::aws::parse_assume_role_response(xml);
  if (!role) (void)role.message();
  if (auto error = signgate::aws::parse_error_response(xml)) {
    (void)signgate::aws::explain_sts_error(*error, 403, "arn:aws:iam::111122223333:role/r", true);
  }
  (void)signgate::aws::sanitize_session_name(xml);
  return 0;
}
