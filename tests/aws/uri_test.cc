#include "aws/uri.h"

#include <gtest/gtest.h>

namespace signgate::aws {
namespace {

// Only the RFC 3986 unreserved set passes through; hex is upper-case.
TEST(Uri, EncodesEverythingButUnreserved) {
  EXPECT_EQ(uri_encode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(uri_encode("a b+c/d:e"), "a%20b%2Bc%2Fd%3Ae");
  EXPECT_EQ(uri_encode("a/b:c", /*keep_slash=*/true), "a/b%3Ac");
  EXPECT_EQ(uri_encode("\xe1\x88\xb4"), "%E1%88%B4");
  EXPECT_EQ(uri_encode("%3A"), "%253A");
}

TEST(Uri, DecodesEscapesAndKeepsBrokenOnes) {
  EXPECT_EQ(uri_decode("a%20b%2fc"), "a b/c");
  EXPECT_EQ(uri_decode("100%"), "100%");
  EXPECT_EQ(uri_decode("%zz%4"), "%zz%4");
  EXPECT_EQ(uri_decode("a+b"), "a+b");
}

// The normalisations of AWS's suite: dot segments and empty segments.
TEST(Uri, NormalizesPaths) {
  EXPECT_EQ(normalize_path("/"), "/");
  EXPECT_EQ(normalize_path("//"), "/");
  EXPECT_EQ(normalize_path("/./"), "/");
  EXPECT_EQ(normalize_path("/./example"), "/example");
  EXPECT_EQ(normalize_path("/example/.."), "/");
  EXPECT_EQ(normalize_path("/example1/example2/../.."), "/");
  EXPECT_EQ(normalize_path("//example//"), "/example/");
  EXPECT_EQ(normalize_path("/../../a"), "/a");
  EXPECT_EQ(normalize_path("/a/b/../c/"), "/a/c/");
}

// The fast path skips normalisation only where it would change nothing.
TEST(Uri, NormalPathDetection) {
  for (const char* p : {"/", "/a", "/a/b/", "/model/x%3A0/converse", "/a.b/..c/.d"}) {
    EXPECT_TRUE(is_normal_path(p)) << p;
    EXPECT_EQ(normalize_path(p), p);
  }
  for (const char* p : {"", "a", "//", "/./", "/a/..", "/a//b", "/a/.", "/../a", "//example//"}) {
    EXPECT_FALSE(is_normal_path(p)) << p;
  }
}

// Bedrock's model IDs: the wire's %3A becomes %253A, an ARN's %2F becomes %252F.
TEST(Uri, CanonicalUriEncodesBedrockSegmentsAgain) {
  EXPECT_EQ(canonical_uri("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", true, true),
            "/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse");
  EXPECT_EQ(canonical_uri("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A111122223333%3A"
                          "inference-profile%2Fus.anthropic.claude-3-haiku-20240307-v1%3A0/invoke",
                          true, true),
            "/model/arn%253Aaws%253Abedrock%253Aus-east-1%253A111122223333%253A"
            "inference-profile%252Fus.anthropic.claude-3-haiku-20240307-v1%253A0/invoke");
  EXPECT_EQ(canonical_uri("/model/anthropic.claude-v2:1/invoke", true, true), "/model/anthropic.claude-v2%3A1/invoke");
}

// S3 signs the path as sent.
TEST(Uri, CanonicalUriForS3IsTheWirePath) {
  EXPECT_EQ(canonical_uri("/bucket//a%20b/./c", false, false), "/bucket//a%20b/./c");
  EXPECT_EQ(canonical_uri("", true, true), "/");
}

// Names and values are re-encoded strictly and sorted by name, then by value.
TEST(Uri, CanonicalQuerySortsAndReencodes) {
  EXPECT_EQ(canonical_query(""), "");
  EXPECT_EQ(canonical_query("b=2&a=1"), "a=1&b=2");
  EXPECT_EQ(canonical_query("a=2&a=1&a=10"), "a=1&a=10&a=2");
  EXPECT_EQ(canonical_query("flag&x="), "flag=&x=");
  EXPECT_EQ(canonical_query("Param-3=Value3&Param=Value2&%E1%88%B4=Value1"),
            "%E1%88%B4=Value1&Param=Value2&Param-3=Value3");
  EXPECT_EQ(canonical_query("k=a%2fb&k2=c:d&k3=e+f&k4=%7e"), "k=a%2Fb&k2=c%3Ad&k3=e%2Bf&k4=~");
  EXPECT_EQ(canonical_query("&&a=1&"), "a=1");
  EXPECT_EQ(canonical_query("B=1&a=1"), "B=1&a=1");  // byte order: upper case first
}

}  // namespace
}  // namespace signgate::aws
