#include "aws/role.h"

namespace signgate::aws {

std::string RoleSettings::label() const {
  if (role_arn.empty()) return "base credentials";
  return role_arn + " as " + session_name;
}

}  // namespace signgate::aws
