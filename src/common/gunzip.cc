#include "common/gunzip.h"

#include <libdeflate.h>

#include <boost/beast/zlib/error.hpp>
#include <boost/beast/zlib/inflate_stream.hpp>

#include <optional>
#include <string>

namespace signgate {

namespace zlib = boost::beast::zlib;

namespace {

constexpr std::size_t kTrailerSize = 8;                // CRC-32 and ISIZE, little-endian
constexpr std::size_t kMaxHeaderSize = 4 * 64 * 1024;  // an extra field and two names at most

std::uint8_t byte_at(std::string_view s, std::size_t i) { return static_cast<std::uint8_t>(s[i]); }

std::uint32_t le32(std::string_view s, std::size_t at) {
  return static_cast<std::uint32_t>(byte_at(s, at)) | static_cast<std::uint32_t>(byte_at(s, at + 1)) << 8 |
         static_cast<std::uint32_t>(byte_at(s, at + 2)) << 16 | static_cast<std::uint32_t>(byte_at(s, at + 3)) << 24;
}

// The length of the member header `h` starts with: 0 while more bytes are needed, nullopt
// when it is not a gzip header (magic, deflate method, reserved flags).
std::optional<std::size_t> header_length(std::string_view h) {
  constexpr std::uint8_t kText = 1, kHcrc = 2, kExtra = 4, kName = 8, kComment = 16;
  if ((h.size() > 0 && byte_at(h, 0) != 0x1f) || (h.size() > 1 && byte_at(h, 1) != 0x8b) ||
      (h.size() > 2 && byte_at(h, 2) != 8) || (h.size() > 3 && (byte_at(h, 3) & 0xe0) != 0)) {
    return std::nullopt;
  }
  if (h.size() < 10) return 0;
  const std::uint8_t flags = byte_at(h, 3) & ~kText;
  std::size_t at = 10;
  if ((flags & kExtra) != 0) {
    if (h.size() < at + 2) return 0;
    at += 2 + (static_cast<std::size_t>(byte_at(h, at)) | static_cast<std::size_t>(byte_at(h, at + 1)) << 8);
    if (h.size() < at) return 0;
  }
  for (const std::uint8_t zero_terminated : {kName, kComment}) {
    if ((flags & zero_terminated) == 0) continue;
    const std::size_t end = h.find('\0', at);
    if (end == std::string_view::npos) return 0;
    at = end + 1;
  }
  if ((flags & kHcrc) != 0) at += 2;
  return h.size() < at ? 0 : at;
}

}  // namespace

struct Gunzip::Impl {
  enum class Stage { kHeader, kBody, kTrailer, kFailed };
  Stage stage = Stage::kHeader;
  std::string pending;  // header or trailer bytes gathered so far
  zlib::inflate_stream inflater;
  std::uint32_t crc = 0;      // of this member's output so far
  std::uint64_t size = 0;     // of this member's output so far
  std::uint64_t members = 0;  // ended and checked
  std::uint64_t offset = 0;   // compressed bytes consumed
  std::string failure;
  std::string out = std::string(kPiece, '\0');

  Error fail(std::string why) {
    stage = Stage::kFailed;
    failure = "not gzip: " + std::move(why) + " at byte " + std::to_string(offset);
    return make_error(failure);
  }

  // Consumes the header's bytes from the front of `in`.
  std::optional<Error> header(std::string_view& in) {
    const std::size_t before = pending.size();
    pending.append(in);
    const auto length = header_length(pending);
    if (!length) return fail("bad member header");
    if (*length == 0) {
      offset += in.size();
      in = {};
      if (pending.size() > kMaxHeaderSize) return fail("member header too long");
      return std::nullopt;
    }
    // The header did not end within what came before (or it would have been taken then).
    const std::size_t used = *length - before;
    offset += used;
    in.remove_prefix(used);
    pending.clear();
    stage = Stage::kBody;
    return std::nullopt;
  }

  // Inflates from the front of `in` until it is used up or the member's deflate data ends.
  std::optional<Error> body(std::string_view& in, const Sink& sink, std::uint64_t& produced) {
    zlib::z_params zs;
    zs.next_in = in.data();
    zs.avail_in = in.size();
    for (;;) {
      zs.next_out = out.data();
      zs.avail_out = out.size();
      boost::system::error_code ec;
      inflater.write(zs, zlib::Flush::none, ec);
      const std::size_t made = out.size() - zs.avail_out;
      if (made > 0) {
        crc = libdeflate_crc32(crc, out.data(), made);
        size += made;
        produced += made;
        sink(std::string_view(out.data(), made));
      }
      const std::size_t used = in.size() - zs.avail_in;
      offset += used;
      in.remove_prefix(used);
      if (ec == zlib::error::end_of_stream) {
        stage = Stage::kTrailer;
        return std::nullopt;
      }
      if (ec && ec != zlib::error::need_buffers) return fail("bad deflate data (" + ec.message() + ")");
      if (zs.avail_out != 0 || (ec == zlib::error::need_buffers && made == 0)) return std::nullopt;
    }
  }

  // Consumes the trailer's bytes from the front of `in` and checks them against the output.
  std::optional<Error> trailer(std::string_view& in) {
    const std::size_t take = std::min(kTrailerSize - pending.size(), in.size());
    pending.append(in.substr(0, take));
    offset += take;
    in.remove_prefix(take);
    if (pending.size() < kTrailerSize) return std::nullopt;
    if (le32(pending, 0) != crc) return fail("CRC-32 mismatch");
    if (le32(pending, 4) != static_cast<std::uint32_t>(size)) return fail("length mismatch");
    pending.clear();
    inflater.reset();
    crc = 0;
    size = 0;
    ++members;
    stage = Stage::kHeader;
    return std::nullopt;
  }
};

Gunzip::Gunzip() : impl_(std::make_unique<Impl>()) {}
Gunzip::~Gunzip() = default;

Result<std::uint64_t> Gunzip::feed(std::string_view in, const Sink& sink) {
  Impl& s = *impl_;
  std::uint64_t produced = 0;
  while (!in.empty() || s.stage == Impl::Stage::kFailed) {
    std::optional<Error> error;
    switch (s.stage) {
      case Impl::Stage::kHeader: error = s.header(in); break;
      case Impl::Stage::kBody: error = s.body(in, sink, produced); break;
      case Impl::Stage::kTrailer: error = s.trailer(in); break;
      case Impl::Stage::kFailed: return make_error(s.failure);
    }
    if (error) return *error;
  }
  return produced;
}

bool Gunzip::complete() const { return impl_->stage == Impl::Stage::kHeader && impl_->pending.empty(); }

std::uint64_t Gunzip::members() const { return impl_->members; }

}  // namespace signgate
