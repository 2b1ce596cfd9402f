// gzip (RFC 1952) decoded as it arrives, for reading rotated audit files: one member after
// another (as `cat a.gz b.gz` and logrotate's compress make them), each member's CRC-32 and
// length checked. The deflate data is inflated by Boost.Beast's port of zlib's inflate (no
// library beyond Boost and libdeflate's CRC). Output comes through a sink in pieces of at most
// kPiece bytes, so memory stays bounded whatever the file's size or compression ratio.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "common/result.h"

namespace signgate {

class Gunzip {
 public:
  using Sink = std::function<void(std::string_view)>;
  static constexpr std::size_t kPiece = 64 * 1024;

  Gunzip();
  ~Gunzip();
  Gunzip(const Gunzip&) = delete;
  Gunzip& operator=(const Gunzip&) = delete;

  // Decodes all of `in`, handing what it decompresses to `sink`; returns how many bytes that
  // was. Fails, saying why and at which offset of the compressed input, on a header, deflate
  // data or trailer that is not gzip's; every later call fails the same way.
  Result<std::uint64_t> feed(std::string_view in, const Sink& sink);

  // At the end of the input: whether it ended where a member ends (false: cut short). An
  // empty input is complete, with no members.
  bool complete() const;
  std::uint64_t members() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace signgate
