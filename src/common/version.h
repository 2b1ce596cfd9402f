// What this binary is: the project's version and the commit it was configured from.
#pragma once

#include <string_view>

namespace signgate {

std::string_view version();  // "0.13.0"
std::string_view commit();   // the short commit hash, "unknown" outside a git checkout

}  // namespace signgate
