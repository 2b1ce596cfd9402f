// The typed field reads, the field scanner and the hand-written string escaper of the
// translators' hot paths.
#include "api/json_fields.h"
#include "api/json_scan.h"

#include <gtest/gtest.h>

namespace signgate::api {
namespace {

using nlohmann::json;

// Whatever the escaper writes must parse back to the same string, as nlohmann's own would.
TEST(JsonScan, EscapedStringsParseBackUnchanged) {
  const std::string cases[] = {"",
                               "plain",
                               "quote \" and \\ backslash",
                               "line\nbreak\ttab\rcr",
                               std::string("nul\0byte", 8),
                               "\x01\x1f control",
                               "unicode é ✓ 🚀",
                               "</script>"};
  for (const auto& s : cases) {
    std::string out;
    append_json_string(out, s);
    EXPECT_EQ(json::parse(out).get<std::string>(), s) << out;
  }
  std::string out = "x";
  append_json_string(out, "a\"b");
  EXPECT_EQ(out, "x\"a\\\"b\"");
}

// A field of another type reads as absent instead of throwing.
TEST(JsonFields, WrongTypesReadAsAbsent) {
  const json j = json::parse(R"({"s":1,"b":"yes","n":-3,"u":7,"o":[1]})");
  EXPECT_EQ(string_field(j, "s", "dflt"), "dflt");
  EXPECT_FALSE(bool_field(j, "b"));
  EXPECT_EQ(count_field(j, "n", 9), 9u);
  EXPECT_EQ(count_field(j, "u"), 7u);
  EXPECT_TRUE(object_field(j, "o").empty());
  EXPECT_EQ(string_field(json::array(), "s"), "");
}

// The per-token reader: the unescaped text when the path leads to a string, else nullopt so
// the caller falls back to a full parse.
TEST(JsonScan, ReadsAStringFieldOrSaysWhyNot) {
  EXPECT_EQ(scan_string(R"({"contentBlockIndex":0,"delta":{"text":"a \"b\" \u00e9\n"}})", "delta", "text"),
            std::optional<std::string>("a \"b\" \u00e9\n"));
  EXPECT_EQ(scan_string(R"({"type":"content_block_delta","index":0})", "type"), "content_block_delta");
  EXPECT_EQ(scan_string(R"({"delta":{"toolUse":{"input":"{"}}})", "delta", "text"), std::nullopt);
  EXPECT_EQ(scan_string(R"({"delta":"text"})", "delta", "text"), std::nullopt);
  EXPECT_EQ(scan_string(R"({"type":7})", "type"), std::nullopt);
  EXPECT_EQ(scan_string(R"([1,2])", "type"), std::nullopt);
  EXPECT_EQ(scan_string("not json", "type"), std::nullopt);
  EXPECT_EQ(scan_string("", "type"), std::nullopt);
  EXPECT_EQ(scan_string("{\"type\":\"\xff\xfe\"}", "type"), std::nullopt) << "invalid UTF-8 is refused";
}

}  // namespace
}  // namespace signgate::api
