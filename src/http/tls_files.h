// A listener's certificate and key, checked the way the listener will load them, so that
// `check-config` refuses what `serve` would fail on, with the file and OpenSSL's reason.
#pragma once

#include <optional>
#include <string>

namespace signgate::http {

// Why `cert` (a PEM chain) and `key` (its PEM private key) cannot serve TLS, or nullopt.
std::optional<std::string> tls_files_problem(const std::string& cert, const std::string& key);

}  // namespace signgate::http
