#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include "http/fetch.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <array>
#include <limits>
#include <optional>

namespace signgate::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using boost::system::error_code;

struct Exchange {
  const Url& url;
  const aws::HttpRequest& req;
  std::string_view body;
  const std::function<void(const ResponseHead&)>& on_head;
  const std::function<void(std::string_view)>& on_body;
  const FetchOptions& options;
};

std::string describe(const char* step, const error_code& ec) {
  std::string m = std::string(step) + ": " + ec.message();
  if (ec.category() == asio::error::get_ssl_category()) {
    const auto reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
    if (reason != nullptr) m = std::string(step) + ": " + reason;
  }
  return m;
}

bhttp::request<bhttp::string_body> build_request(const Exchange& x) {
  bhttp::request<bhttp::string_body> r;
  r.method_string(x.req.method);
  r.target(x.req.query.empty() ? x.req.path : x.req.path + "?" + x.req.query);
  r.version(11);
  bool has_length = false;
  for (const auto& h : x.req.headers) {
    r.insert(h.name, h.value);
    if (beast::iequals(h.name, "content-length")) has_length = true;
  }
  r.body() = std::string(x.body);
  if (!has_length && (!x.body.empty() || x.req.method == "POST" || x.req.method == "PUT")) {
    r.content_length(x.body.size());
  }
  return r;
}

template <class Stream>
asio::awaitable<FetchResult> exchange(Stream& stream, beast::tcp_stream& tcp, const Exchange& x) {
  error_code ec;
  auto request = build_request(x);
  tcp.expires_after(x.options.idle_timeout);
  co_await bhttp::async_write(stream, request, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return FetchResult{false, describe("sending the request", ec)};

  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::buffer_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // streamed: no whole-body cap
  tcp.expires_after(x.options.idle_timeout);
  co_await bhttp::async_read_header(stream, buffer, parser,
                                    asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return FetchResult{false, describe("reading the response", ec)};

  ResponseHead head;
  head.status = parser.get().result_int();
  head.reason = std::string(parser.get().reason());
  for (const auto& f : parser.get()) {
    head.headers.push_back({std::string(f.name_string()), std::string(f.value())});
  }
  x.on_head(head);

  std::array<char, 64 * 1024> chunk;
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    tcp.expires_after(x.options.idle_timeout);
    co_await bhttp::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) co_return FetchResult{false, describe("reading the response body", ec)};
    const std::size_t n = chunk.size() - parser.get().body().size;
    if (n > 0) x.on_body(std::string_view(chunk.data(), n));
  }
  co_return FetchResult{true, {}};
}

asio::awaitable<FetchResult> run(const Exchange& x, ssl::context* tls) {
  auto executor = co_await asio::this_coro::executor;
  error_code ec;
  asio::ip::tcp::resolver resolver(executor);
  const auto endpoints = co_await resolver.async_resolve(
      x.url.host, std::to_string(x.url.port), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return FetchResult{false, describe(("resolving " + x.url.host).c_str(), ec)};

  beast::tcp_stream tcp(executor);
  tcp.expires_after(x.options.connect_timeout);
  co_await tcp.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    co_return FetchResult{false, describe(("connecting to " + x.url.host_header()).c_str(), ec)};
  }
  if (tls == nullptr) co_return co_await exchange(tcp, tcp, x);

  beast::ssl_stream<beast::tcp_stream&> stream(tcp, *tls);
  if (!x.url.is_ip_literal() &&
      !SSL_set_tlsext_host_name(stream.native_handle(), x.url.host.c_str())) {
    co_return FetchResult{false, "TLS: could not set SNI"};
  }
  stream.set_verify_mode(ssl::verify_peer);
  stream.set_verify_callback(ssl::host_name_verification(x.url.host));
  tcp.expires_after(x.options.connect_timeout);
  co_await stream.async_handshake(ssl::stream_base::client,
                                  asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return FetchResult{false, describe("TLS handshake", ec)};
  FetchResult result = co_await exchange(stream, tcp, x);
  tcp.expires_after(x.options.idle_timeout);
  co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));  // best effort
  co_return result;
}

}  // namespace

FetchResult fetch(const Url& url, const aws::HttpRequest& req, std::string_view body,
                  const std::function<void(const ResponseHead&)>& on_head,
                  const std::function<void(std::string_view)>& on_body,
                  const FetchOptions& options) {
  std::optional<ssl::context> tls;
  if (url.is_tls()) {
    tls.emplace(ssl::context::tls_client);
    tls->set_options(ssl::context::no_sslv2 | ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                     ssl::context::no_tlsv1_1);
    error_code ec;
    if (options.ca_file.empty()) {
      tls->set_default_verify_paths(ec);
    } else {
      tls->load_verify_file(options.ca_file, ec);
    }
    if (ec) return {false, describe("loading CA certificates", ec)};
  }
  const Exchange x{url, req, body, on_head, on_body, options};
  asio::io_context ioc;
  FetchResult result{false, "request did not complete"};
  asio::co_spawn(ioc, run(x, tls ? &*tls : nullptr),
                 [&result](std::exception_ptr e, FetchResult r) {
                   if (e) {
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       result = {false, ex.what()};
                     }
                   } else {
                     result = std::move(r);
                   }
                 });
  ioc.run();
  return result;
}

}  // namespace signgate::http
