// The event-stream decoder on arbitrary bytes: fed whole, fed in pieces of every size the
// input chooses, and through the gateway's FrameAligner. A decoded message must re-encode
// to the same bytes, and the incremental decoder must agree with the one-shot one.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "aws/eventstream.h"
#include "gateway/stream_relay.h"

namespace es = signgate::aws::eventstream;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t step = 1 + data[0] % 64;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  es::Decoder whole;
  es::Decoder pieces;
  std::string_view rest = input;
  std::size_t messages_whole = 0;
  while (!rest.empty()) {
    auto r = whole.feed(rest);
    if (r.error != es::Error::kNone) break;
    if (r.message) {
      ++messages_whole;
      // What decodes must encode back to the very same frame.
      const std::string again = es::encode(r.message->headers, r.message->payload);
      es::Message m;
      if (es::decode_frame(again, m) != es::Error::kNone) std::abort();
      if (m.payload != r.message->payload || m.headers.size() != r.message->headers.size()) std::abort();
    }
    if (r.consumed == 0) break;
    rest.remove_prefix(r.consumed);
  }

  std::size_t messages_pieces = 0;
  bool failed = false;
  for (std::size_t off = 0; off < input.size() && !failed; off += step) {
    std::string_view piece = input.substr(off, step);
    while (!piece.empty()) {
      auto r = pieces.feed(piece);
      if (r.error != es::Error::kNone) {
        failed = true;
        break;
      }
      if (r.message) ++messages_pieces;
      if (r.consumed == 0) break;
      piece.remove_prefix(r.consumed);
    }
  }
  if (!failed && whole.error() == es::Error::kNone && messages_pieces != messages_whole) std::abort();

  signgate::gateway::FrameAligner aligner;
  for (std::size_t off = 0; off < input.size(); off += step) {
    if (!aligner.push(input.substr(off, step))) break;
  }
  return 0;
}
