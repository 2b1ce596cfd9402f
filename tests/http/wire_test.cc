// The heads signgate writes itself, read back by Beast's parser (not ours): what a client or
// Bedrock would read, framing and fields included, and nothing a header could smuggle in.
#include "http/wire.h"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>

namespace signgate::http {
namespace {

namespace bhttp = boost::beast::http;
using Fields = std::vector<std::pair<std::string, std::string>>;

// Parses `wire` as one response; returns it with its body.
bhttp::response<bhttp::string_body> parse_response(const std::string& wire, bool head_only = false) {
  bhttp::response_parser<bhttp::string_body> p;
  if (head_only) p.skip(true);
  boost::system::error_code ec;
  std::size_t used = p.put(boost::asio::buffer(wire), ec);
  while (!ec && !p.is_done() && used < wire.size()) {
    used += p.put(boost::asio::buffer(wire.data() + used, wire.size() - used), ec);
  }
  EXPECT_FALSE(ec) << ec.message() << " in:\n" << wire;
  EXPECT_TRUE(p.is_done()) << wire;
  EXPECT_EQ(used, wire.size()) << "bytes left after the answer:\n" << wire;
  return p.release();
}

TEST(Wire, ResponseWithLengthReadsBackWhole) {
  std::string out;
  const std::string body = R"({"ok":true})";
  write_response_head(out, 200, {{"Content-Type", "application/json"}, {"x-request-id", "abc"}}, Framing::kLength,
                      body.size(), true);
  const auto res = parse_response(out + body);
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.reason(), "OK");
  EXPECT_EQ(res[bhttp::field::content_type], "application/json");
  EXPECT_EQ(res["x-request-id"], "abc");
  EXPECT_EQ(res.body(), body);
  EXPECT_TRUE(res.keep_alive());
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
}

TEST(Wire, ClosingAnswerSaysSo) {
  std::string out;
  write_response_head(out, 503, {{"Retry-After", "1"}}, Framing::kLength, 2, false);
  const auto res = parse_response(out + "{}");
  EXPECT_EQ(res.result_int(), 503u);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_EQ(res["retry-after"], "1");
}

TEST(Wire, ChunkedAnswerReadsBack) {
  std::string out;
  write_response_head(out, 200, {{"Content-Type", "text/event-stream"}}, Framing::kChunked, 0, true);
  for (const std::string& piece : {std::string("data: one\n\n"), std::string(300, 'x')}) {
    char line[18];
    out.append(line, chunk_line(line, piece.size()));
    out += piece + "\r\n";
  }
  out += "0\r\n\r\n";
  const auto res = parse_response(out);
  EXPECT_TRUE(res.chunked());
  EXPECT_EQ(res.body(), "data: one\n\n" + std::string(300, 'x'));
}

TEST(Wire, ChunkLineIsHex) {
  char line[18];
  EXPECT_EQ(std::string(line, chunk_line(line, 0)), "0\r\n");
  EXPECT_EQ(std::string(line, chunk_line(line, 255)), "ff\r\n");
  EXPECT_EQ(std::string(line, chunk_line(line, 0xffffffffffffffffull)), "ffffffffffffffff\r\n");
}

TEST(Wire, TheWriterOwnsFramingAndConnection) {
  std::string out;
  // A handler (or a relayed upstream field) cannot set a second length or re-frame the answer.
  write_response_head(out, 200,
                      {{"Content-Length", "999"}, {"transfer-encoding", "chunked"}, {"Connection", "keep-alive"}},
                      Framing::kLength, 2, false);
  const auto res = parse_response(out + "{}");
  EXPECT_EQ(res[bhttp::field::content_length], "2");
  EXPECT_FALSE(res.keep_alive());
  EXPECT_EQ(out.find("999"), std::string::npos);
}

TEST(Wire, AFieldWithALineBreakIsLeftOut) {
  std::string out;
  write_response_head(out, 200,
                      {{"x-a", "one\r\nSet-Cookie: evil=1"},
                       {"x-b\r\nx-c", "v"},
                       {"x-d", std::string("a\0b", 3)},
                       {"", "nameless"},
                       {"x-e", "kept"}},
                      Framing::kLength, 0, true);
  const auto res = parse_response(out);
  EXPECT_EQ(res.find("set-cookie"), res.end());
  EXPECT_EQ(res.find("x-a"), res.end());
  EXPECT_EQ(res.find("x-d"), res.end());
  EXPECT_EQ(res["x-e"], "kept");
  EXPECT_EQ(std::distance(res.begin(), res.end()), 2);  // x-e and Content-Length
}

TEST(Wire, NoBodyStatusesCarryNoFraming) {
  for (const unsigned status : {204u, 304u}) {
    std::string out;
    write_response_head(out, status, {}, Framing::kLength, 0, true);
    const auto res = parse_response(out);
    EXPECT_EQ(res.result_int(), status);
    EXPECT_EQ(res.find(bhttp::field::content_length), res.end());
  }
  std::string out;
  write_response_head(out, 299, {}, Framing::kLength, 0, true);  // unnamed status: empty reason, still valid
  EXPECT_EQ(parse_response(out).result_int(), 299u);
}

TEST(Wire, RequestHeadReadsBackWithItsLength) {
  Request req{
      "POST", "/model/m%3A0/converse", "a=1", {{"Host", "bedrock.example"}, {"X-Amz-Date", "20261130T000000Z"}}};
  std::string out;
  ASSERT_EQ(write_request_head(out, req, 4), std::nullopt);
  bhttp::request_parser<bhttp::string_body> p;
  boost::system::error_code ec;
  const std::string wire = out + "body";
  p.put(boost::asio::buffer(wire), ec);
  if (!ec && !p.is_done()) p.put(boost::asio::buffer(wire.data() + out.size(), 4), ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(p.is_done());
  const auto& r = p.get();
  EXPECT_EQ(r.method(), bhttp::verb::post);
  EXPECT_EQ(r.target(), "/model/m%3A0/converse?a=1");
  EXPECT_EQ(r["host"], "bedrock.example");
  EXPECT_EQ(r["x-amz-date"], "20261130T000000Z");
  EXPECT_EQ(r.body(), "body");
}

TEST(Wire, RequestWithALineBreakIsNotWritten) {
  std::string out = "kept";
  Request bad_header{"GET", "/", "", {{"Host", "h"}, {"x-a", "v\r\nx-injected: 1"}}};
  const auto refused = write_request_head(out, bad_header, std::nullopt);
  ASSERT_TRUE(refused);
  EXPECT_NE(refused->find("x-a"), std::string::npos);
  EXPECT_EQ(out, "kept");  // nothing half-written
  Request bad_path{"GET", "/a\nb", "", {}};
  EXPECT_TRUE(write_request_head(out, bad_path, std::nullopt));
  Request bad_query{"GET", "/", std::string("a\0b", 3), {}};
  EXPECT_TRUE(write_request_head(out, bad_query, std::nullopt));
  EXPECT_EQ(out, "kept");
}

}  // namespace
}  // namespace signgate::http
