#include "http/fetch.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

namespace signgate::http {

namespace asio = boost::asio;

namespace {

asio::awaitable<FetchResult> run(Client& client, const Url& url, const http::Request& req, std::string_view body,
                                 const std::function<void(const ResponseHead&)>& on_head,
                                 const std::function<void(std::string_view)>& on_body) {
  auto response = co_await client.send(url, req, body);
  if (!response) co_return FetchResult{false, response.message()};
  on_head(response->head());
  for (;;) {
    auto piece = co_await response->read_some();
    if (!piece) co_return FetchResult{false, piece.message()};
    if (piece->empty() && response->done()) co_return FetchResult{true, {}};
    on_body(*piece);
  }
}

}  // namespace

FetchResult fetch(const Url& url, const http::Request& req, std::string_view body,
                  const std::function<void(const ResponseHead&)>& on_head,
                  const std::function<void(std::string_view)>& on_body, const ClientOptions& options) {
  asio::io_context ioc;
  Client client(ioc.get_executor(), options);
  FetchResult result{false, "request did not complete"};
  asio::co_spawn(ioc, run(client, url, req, body, on_head, on_body), [&result](std::exception_ptr e, FetchResult r) {
    if (!e) {
      result = std::move(r);
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      result = {false, ex.what()};
    }
  });
  ioc.run();
  return result;
}

}  // namespace signgate::http
