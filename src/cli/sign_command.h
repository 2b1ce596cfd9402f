// `signgate sign`: sign one request with SigV4 and print it, or send it (SPEC §4).
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "aws/sigv4.h"
#include "http/url.h"

namespace signgate::cli {

struct SignArgs {
  std::string method;                // default GET, or POST when there is a body (as curl does)
  std::vector<std::string> headers;  // "Name: value", in order, repeats kept
  std::optional<std::string> data;
  std::optional<std::string> data_file;
  std::string region;
  std::string service;
  std::string access_key;
  std::string secret_key;
  std::string session_token;
  std::string time;  // "2015-08-30T12:36:00Z"; empty: now
  bool send = false;
  bool verbose = false;  // canonical request and string to sign on stderr
  bool events = false;   // with --send: decode an event-stream answer, one line per message
  std::string ca_file;
  std::string url;
};

// The exit codes of the command line: 2 for bad input, 1 for a failed exchange.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct PreparedRequest {
  http::Url url;
  aws::HttpRequest request;
  std::string body;
  aws::Signature signature;
};

// Validates the arguments, reads the body and signs with the flags' keys or, when there
// are none, `chain_credentials`. On bad input returns nullopt with a one-line reason.
std::optional<PreparedRequest> prepare_signed_request(const SignArgs& args, std::string* error,
                                                      const aws::Credentials* chain_credentials = nullptr);

// The request line and header lines exactly as they are sent.
void print_request(const PreparedRequest& p, std::ostream& out);

// Runs the command; returns the process exit code.
int run_sign(const SignArgs& args, std::ostream& out, std::ostream& err);

// Registers `sign` and its flags on `app`, filling `args` when parsed.
CLI::App* add_sign_command(CLI::App& app, SignArgs& args);

}  // namespace signgate::cli
