#include "gateway/upstream.h"

namespace signgate::gateway {

boost::asio::awaitable<Result<std::string>> UpstreamReply::read_all(std::size_t limit) {
  std::string out;
  for (;;) {
    auto piece = co_await read_some();
    if (!piece) co_return piece.error();
    if (piece->empty() && done()) co_return out;
    if (out.size() + piece->size() > limit) {
      co_return make_error("answer larger than " + std::to_string(limit) + " bytes", ErrorKind::kTooLarge);
    }
    out.append(*piece);
  }
}

}  // namespace signgate::gateway
