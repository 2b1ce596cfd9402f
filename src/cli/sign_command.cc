#include "cli/sign_command.h"

#include <fstream>
#include <iostream>
#include <iterator>

#include "aws/credentials/cache.h"
#include "aws/eventstream.h"
#include "common/env.h"
#include "common/strings.h"
#include "common/time.h"
#include "http/fetch.h"

namespace signgate::cli {
namespace {

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::optional<aws::Header> parse_header(std::string_view text, std::string* error) {
  const std::size_t colon = text.find(':');
  const std::string_view name = text.substr(0, colon);
  if (colon == std::string_view::npos || name.empty() || !std::all_of(name.begin(), name.end(), is_token_char)) {
    *error = "bad header '" + std::string(text) + "': expected 'Name: value'";
    return std::nullopt;
  }
  std::string_view value = text.substr(colon + 1);
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') {
      *error = "bad header '" + std::string(name) + "': the value contains a line break";
      return std::nullopt;
    }
  }
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  return aws::Header{std::string(name), std::string(value)};
}

bool is_method(std::string_view m) {
  return !m.empty() && std::all_of(m.begin(), m.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

// Headers signgate itself computes; a value given with -H would be stale or forged.
bool is_computed_header(std::string_view name) {
  return iequals(name, "authorization") || iequals(name, "x-amz-date") || iequals(name, "x-amz-security-token");
}

std::string redact_token(std::string text, const std::string& token) {
  if (token.empty()) return text;
  for (std::size_t pos = text.find(token); pos != std::string::npos; pos = text.find(token, pos)) {
    text.replace(pos, token.size(), "<redacted>");
  }
  return text;
}

}  // namespace

std::optional<PreparedRequest> prepare_signed_request(const SignArgs& args, std::string* error,
                                                      const aws::Credentials* chain_credentials) {
  PreparedRequest p;
  auto url = http::parse_url(args.url, error);
  if (!url) return std::nullopt;
  p.url = std::move(*url);

  if (args.data && args.data_file) {
    *error = "--data and --data-file cannot be used together";
    return std::nullopt;
  }
  if (args.data) p.body = *args.data;
  if (args.data_file) {
    std::ifstream in(*args.data_file, std::ios::binary);
    if (!in) {
      *error = "cannot read --data-file '" + *args.data_file + "'";
      return std::nullopt;
    }
    p.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  p.request.method = args.method.empty() ? ((args.data || args.data_file) ? "POST" : "GET") : args.method;
  if (!is_method(p.request.method)) {
    *error = "bad method '" + p.request.method + "': expected an upper-case HTTP method";
    return std::nullopt;
  }
  p.request.path = p.url.path;
  p.request.query = p.url.query;

  bool has_host = false;
  for (const std::string& text : args.headers) {
    auto h = parse_header(text, error);
    if (!h) return std::nullopt;
    if (is_computed_header(h->name)) continue;
    if (iequals(h->name, "host")) has_host = true;
    p.request.headers.push_back(std::move(*h));
  }
  if (!has_host) p.request.headers.push_back({"Host", p.url.host_header()});

  SystemTime when = system_now();
  if (!args.time.empty()) {
    auto t = parse_iso8601(args.time);
    if (!t) {
      *error = "bad --time '" + args.time + "': expected e.g. 2015-08-30T12:36:00Z";
      return std::nullopt;
    }
    when = *t;
  }
  if (args.access_key.empty() != args.secret_key.empty()) {
    *error = "--access-key and --secret-key go together (or leave both out to use the AWS credential chain)";
    return std::nullopt;
  }
  if (!args.session_token.empty() && args.access_key.empty()) {
    *error = "--session-token needs --access-key and --secret-key";
    return std::nullopt;
  }
  if (args.access_key.empty() && chain_credentials == nullptr) {
    *error = "credentials required: pass --access-key and --secret-key, or give the AWS credential chain some";
    return std::nullopt;
  }
  if (args.region.empty() || args.service.empty()) {
    *error = "--region and --service are required";
    return std::nullopt;
  }

  const std::optional<aws::Credentials> flag_credentials =
      args.access_key.empty()
          ? std::nullopt
          : std::optional<aws::Credentials>(std::in_place, args.access_key, args.secret_key, args.session_token);
  const aws::Credentials& creds = flag_credentials ? *flag_credentials : *chain_credentials;
  const auto opts = aws::SigningOptions::for_service(args.region, args.service);
  aws::Signer signer([when] { return when; });
  p.signature = signer.sign(p.request, sha256_hex(p.body), creds, opts);

  // Content-Length is sent but left unsigned, as the AWS SDKs do: proxies may re-frame bodies.
  const bool has_length = std::any_of(p.request.headers.begin(), p.request.headers.end(),
                                      [](const aws::Header& h) { return iequals(h.name, "content-length"); });
  if (!has_length && (!p.body.empty() || p.request.method == "POST" || p.request.method == "PUT")) {
    auto host = std::find_if(p.request.headers.begin(), p.request.headers.end(),
                             [](const aws::Header& h) { return iequals(h.name, "host"); });
    p.request.headers.insert(host + 1, {"Content-Length", std::to_string(p.body.size())});
  }
  return p;
}

void print_request(const PreparedRequest& p, std::ostream& out) {
  out << p.request.method << ' ' << p.url.target() << " HTTP/1.1\n";
  for (const auto& h : p.request.headers) out << h.name << ": " << h.value << '\n';
}

int run_sign(const SignArgs& args, std::ostream& out, std::ostream& err) {
  std::string error;
  std::shared_ptr<const aws::Credentials> chain_credentials;
  if (args.access_key.empty() && args.secret_key.empty() && args.session_token.empty() && !args.region.empty()) {
    // No keys on the command line: the AWS SDKs' chain (environment, profile, web identity,
    // ECS, IMDS), exactly as `serve` resolves its base credentials.
    aws::CredentialSettings settings;
    settings.region = args.region;
    settings.http.ca_file = args.ca_file;
    auto proxy = http::ProxySettings::from_environment(process_environment());
    if (!proxy) {
      err << "signgate sign: " << proxy.message() << '\n';
      return kExitUsage;
    }
    settings.http.proxy = std::move(*proxy);
    aws::CredentialManager manager(std::move(settings), process_environment());
    auto creds = manager.identity(aws::RoleSettings{})->wait_first(std::chrono::seconds(30));
    if (!creds) {
      err << "signgate sign: " << creds.message() << '\n';
      return kExitFailure;
    }
    chain_credentials = *creds;
  }
  auto prepared = prepare_signed_request(args, &error, chain_credentials.get());
  if (!prepared) {
    err << "signgate sign: " << error << '\n';
    return kExitUsage;
  }
  if (args.verbose) {
    err << "# canonical request\n"
        << redact_token(prepared->signature.canonical_request, args.session_token) << "\n# string to sign\n"
        << prepared->signature.string_to_sign << '\n';
  }
  if (!args.send) {
    print_request(*prepared, out);
    return kExitOk;
  }
  if (!prepared->url.is_tls() && !prepared->url.is_loopback()) {
    err << "signgate sign: refusing to send a signed request over plain http to " << prepared->url.host
        << "; use https (http:// is for local endpoints)\n";
    return kExitUsage;
  }
  http::ClientOptions options;
  options.ca_file = args.ca_file;
  auto proxy = http::ProxySettings::from_environment(process_environment());
  if (!proxy) {
    err << "signgate sign: " << proxy.message() << '\n';
    return kExitUsage;
  }
  options.proxy = std::move(*proxy);
  bool event_stream = false;
  aws::eventstream::Decoder decoder;
  std::string stream_error;
  const auto result = http::fetch(
      prepared->url, prepared->request, prepared->body,
      [&](const http::ResponseHead& head) {
        out << "HTTP/1.1 " << head.status << ' ' << head.reason << '\n';
        for (const auto& h : head.headers) {
          out << h.name << ": " << h.value << '\n';
          if (iequals(h.name, "content-type") && h.value.rfind("application/vnd.amazon.eventstream", 0) == 0) {
            event_stream = args.events;
          }
        }
        out << '\n';
        out.flush();
      },
      [&](std::string_view piece) {
        if (!event_stream) {
          out.write(piece.data(), static_cast<std::streamsize>(piece.size()));
          out.flush();  // streamed answers show as they arrive
          return;
        }
        while (!piece.empty() && stream_error.empty()) {
          auto r = decoder.feed(piece);
          if (r.error != aws::eventstream::Error::kNone) {
            stream_error = std::string(aws::eventstream::to_string(r.error));
            break;
          }
          piece.remove_prefix(r.consumed);
          if (!r.message) continue;
          const std::string* type = r.message->string_header(":message-type");
          const std::string* name =
              r.message->string_header(type != nullptr && *type == "exception" ? ":exception-type" : ":event-type");
          out << (type != nullptr && *type != "event" ? *type + ":" : "") << (name ? *name : "?") << ' '
              << r.message->payload << '\n';
          out.flush();
        }
      },
      options);
  if (!result.ok) {
    err << "signgate sign: " << result.error << '\n';
    return kExitFailure;
  }
  if (event_stream && stream_error.empty() && !decoder.idle()) stream_error = "stream ended inside a message";
  if (!stream_error.empty()) {
    err << "signgate sign: event stream: " << stream_error << '\n';
    return kExitFailure;
  }
  return kExitOk;
}

CLI::App* add_sign_command(CLI::App& app, SignArgs& args) {
  CLI::App* cmd = app.add_subcommand("sign", "Sign one request with SigV4; print it or --send it");
  cmd->add_option("-X,--request", args.method, "HTTP method (default GET, or POST with a body)");
  cmd->add_option("-H,--header", args.headers, "Header 'Name: value' to send and sign (repeatable)");
  cmd->add_option("--data", args.data, "Request body");
  cmd->add_option("--data-file", args.data_file, "Read the request body from a file");
  cmd->add_option("--region", args.region, "Signing region, e.g. us-east-1")->required();
  cmd->add_option("--service", args.service, "Signing name, e.g. bedrock, sts")->required();
  cmd->add_option("--access-key", args.access_key, "AWS access key id");
  cmd->add_option("--secret-key", args.secret_key, "AWS secret access key");
  cmd->add_option("--session-token", args.session_token, "Session token of temporary credentials");
  cmd->add_option("--time", args.time, "Pin the signing time, e.g. 2015-08-30T12:36:00Z");
  cmd->add_flag("--send", args.send, "Send the request and print the response");
  cmd->add_option("--ca-file", args.ca_file, "CA bundle to verify the server with (default: system)");
  cmd->add_flag("--events", args.events, "With --send: print an event-stream answer one message per line");
  cmd->add_flag("-v,--verbose", args.verbose, "Print the canonical request and string to sign on stderr");
  cmd->add_option("url", args.url, "URL with the path and query exactly as sent")->required();
  return cmd;
}

}  // namespace signgate::cli
