// The typed field reads and the hand-written string escaper the translators' hot paths use.
#include "api/json_fields.h"

#include <gtest/gtest.h>

namespace signgate::api {
namespace {

using nlohmann::json;

// Whatever the escaper writes must parse back to the same string, as nlohmann's own would.
TEST(JsonFields, EscapedStringsParseBackUnchanged) {
  const std::string cases[] = {"", "plain", "quote \" and \\ backslash", "line\nbreak\ttab\rcr",
                               std::string("nul\0byte", 8), "\x01\x1f control", "unicode é ✓ 🚀", "</script>"};
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

}  // namespace
}  // namespace signgate::api
