#include "http/url.h"

#include <gtest/gtest.h>

namespace signgate::http {
namespace {

// The path and query stay byte for byte as typed: they are the wire form.
TEST(Url, KeepsPathAndQueryAsGiven) {
  std::string err;
  auto u = parse_url("https://bedrock-runtime.us-east-1.amazonaws.com/model/a.b-v1%3A0/converse?x=1&x=2#frag", &err);
  ASSERT_TRUE(u) << err;
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "bedrock-runtime.us-east-1.amazonaws.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->path, "/model/a.b-v1%3A0/converse");
  EXPECT_EQ(u->query, "x=1&x=2");
  EXPECT_EQ(u->host_header(), "bedrock-runtime.us-east-1.amazonaws.com");
  EXPECT_EQ(u->target(), "/model/a.b-v1%3A0/converse?x=1&x=2");
}

// Ports: default ones are not part of Host, others are.
TEST(Url, HostHeaderCarriesNonDefaultPorts) {
  std::string err;
  EXPECT_EQ(parse_url("http://127.0.0.1:8080", &err)->host_header(), "127.0.0.1:8080");
  EXPECT_EQ(parse_url("http://127.0.0.1:8080", &err)->path, "/");
  EXPECT_EQ(parse_url("https://example.com:443/", &err)->host_header(), "example.com");
  EXPECT_EQ(parse_url("HTTP://EXAMPLE.com:80/A", &err)->host_header(), "example.com");
  auto v6 = parse_url("http://[::1]:9000/x", &err);
  ASSERT_TRUE(v6) << err;
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->host_header(), "[::1]:9000");
  EXPECT_TRUE(v6->is_loopback());
  EXPECT_TRUE(v6->is_ip_literal());
}

TEST(Url, LoopbackDetection) {
  std::string err;
  EXPECT_TRUE(parse_url("http://localhost/", &err)->is_loopback());
  EXPECT_TRUE(parse_url("http://127.1.2.3/", &err)->is_loopback());
  EXPECT_FALSE(parse_url("http://10.0.0.1/", &err)->is_loopback());
  EXPECT_FALSE(parse_url("http://127.example.com/", &err)->is_ip_literal());
}

// Plain http is allowed only to loopback, so a name that merely starts with "127." is not.
TEST(Url, LoopbackIsAnExactAddressNotAPrefix) {
  for (const char* host : {"127.0.0.1", "127.1.2.3", "127.255.255.255", "localhost", "LOCALHOST", "[::1]",
                           "[0:0:0:0:0:0:0:1]", "[0000:0000:0000:0000:0000:0000:0000:0001]"}) {
    std::string err;
    auto u = parse_url(std::string("http://") + host + ":8080/", &err);
    ASSERT_TRUE(u) << host << ": " << err;
    EXPECT_TRUE(u->is_loopback()) << host;
  }
  for (const char* host : {"127.evil.example", "127.0.0.1.evil.example", "127.0.0.256", "127.0.0", "1127.0.0.1",
                           "127.1", "0127.0.0.1", "127.0.0.01", "localhost.evil.example", "evil-localhost", "128.0.0.1",
                           "[::2]", "[::]", "[::ffff:7f00:1]", "[1::1]"}) {
    std::string err;
    auto u = parse_url(std::string("http://") + host + "/", &err);
    ASSERT_TRUE(u) << host << ": " << err;
    EXPECT_FALSE(u->is_loopback()) << host;
  }
}

// Each malformed URL is refused with a reason.
TEST(Url, RejectsMalformedUrls) {
  for (const char* bad : {"", "example.com/path", "ftp://example.com/", "https://", "https:///path",
                          "https://user:pw@example.com/", "https://example.com:0/", "https://example.com:99999/",
                          "https://example.com:abc/", "https://exa mple.com/", "https://example.com/a b",
                          "https://[::1/", "https://[zz]/", "https://exa$mple.com/", "https://example.com:/"}) {
    std::string err;
    EXPECT_FALSE(parse_url(bad, &err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
}

}  // namespace
}  // namespace signgate::http
