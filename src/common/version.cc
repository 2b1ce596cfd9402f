#include "common/version.h"

// Both come from CMake, set on this file alone (so a new commit recompiles only it).
#ifndef SIGNGATE_VERSION
#define SIGNGATE_VERSION "0.0.0"
#endif
#ifndef SIGNGATE_COMMIT
#define SIGNGATE_COMMIT "unknown"
#endif

namespace signgate {

std::string_view version() { return SIGNGATE_VERSION; }
std::string_view commit() { return SIGNGATE_COMMIT; }

}  // namespace signgate
