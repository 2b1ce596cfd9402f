// The process environment as a dependency, so tests can hand providers their own.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

namespace signgate {

// Returns the variable's value, or nullopt when it is unset.
using Environment = std::function<std::optional<std::string>(const std::string& name)>;

// The real environment of this process.
Environment process_environment();

// A fixed environment (tests, and `doctor` explaining what it saw).
Environment fixed_environment(std::map<std::string, std::string> vars);

// The variable's value when it is set and not empty.
std::optional<std::string> env_value(const Environment& env, const std::string& name);

// HOME, or the user's home directory from the password database.
std::string home_directory(const Environment& env);

}  // namespace signgate
