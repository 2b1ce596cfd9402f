// RFC 9112 §6.1 for request bodies: only "chunked" (once, last) frames a body signgate reads;
// anything else is refused before a byte of it is read, so it cannot smuggle a second request.
#include "http/server.h"

#include <gtest/gtest.h>

namespace signgate::http {
namespace {

RequestHead with_te(std::initializer_list<const char*> values) {
  RequestHead h;
  for (const char* v : values) h.insert(boost::beast::http::field::transfer_encoding, v);
  return h;
}

TEST(TransferEncoding, OnlyChunkedAloneIsAccepted) {
  EXPECT_EQ(refuse_transfer_encoding(RequestHead{}), std::nullopt);
  EXPECT_EQ(refuse_transfer_encoding(with_te({"chunked"})), std::nullopt);
  EXPECT_EQ(refuse_transfer_encoding(with_te({" Chunked "})), std::nullopt);
}

TEST(TransferEncoding, AFinalCodingOtherThanChunkedIs400) {
  EXPECT_EQ(refuse_transfer_encoding(with_te({"chunked, identity"})), 400u);
  EXPECT_EQ(refuse_transfer_encoding(with_te({"identity"})), 400u);
  EXPECT_EQ(refuse_transfer_encoding(with_te({"xchunked"})), 400u);
  EXPECT_EQ(refuse_transfer_encoding(with_te({"gzip"})), 400u);
  EXPECT_EQ(refuse_transfer_encoding(with_te({"chunked", "chunked"})), 400u);
  EXPECT_EQ(refuse_transfer_encoding(with_te({""})), 400u);
  // Parameters without a coding: Beast's tokenizer stops there and never sees "chunked".
  EXPECT_EQ(refuse_transfer_encoding(with_te({";x, chunked"})), 400u);
}

TEST(TransferEncoding, AnUnknownCodingBeforeChunkedIs501) {
  EXPECT_EQ(refuse_transfer_encoding(with_te({"gzip, chunked"})), 501u);
  EXPECT_EQ(refuse_transfer_encoding(with_te({"gzip", "chunked"})), 501u);
}

}  // namespace
}  // namespace signgate::http
