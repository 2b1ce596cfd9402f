#include "api/request_metadata.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace signgate::api {
namespace {

using nlohmann::json;
using Pairs = std::vector<std::pair<std::string, std::string>>;

const Pairs kNone;

MetadataStamp stamp(std::string_view client = "flashback-prod", const Pairs& pairs = kNone) {
  return {client, "0123456789abcdef0123456789abcdef", pairs};
}

json header(const MetadataStamp& s, std::string_view caller = {}) {
  return json::parse(stamp_metadata_header(s, caller));
}

// The metadata Bedrock would read from a stamped Converse body.
json body_metadata(std::string body, const MetadataStamp& s) {
  EXPECT_TRUE(stamp_converse_body(body, s)) << body;
  return json::parse(body).at("requestMetadata");
}

// A caller that sends nothing still gets signgate's two pairs: Bedrock's logs name the client and the request.
TEST(RequestMetadata, HeaderWithoutCallerIsTheStamp) {
  EXPECT_EQ(stamp_metadata_header(stamp()),
            R"({"signgate_client":"flashback-prod","signgate_request_id":"0123456789abcdef0123456789abcdef"})");
}

// The operator's pairs for a client come after signgate's own.
TEST(RequestMetadata, ConfiguredPairsAreStamped) {
  const Pairs pairs = {{"cost_center", "cc-42"}, {"team", "search"}};
  const json j = header(stamp("c", pairs));
  EXPECT_EQ(j, json({{"signgate_client", "c"},
                     {"signgate_request_id", "0123456789abcdef0123456789abcdef"},
                     {"cost_center", "cc-42"},
                     {"team", "search"}}));
}

// A caller cannot make signgate_client name another client, in the header or the body.
TEST(RequestMetadata, ForgedKeysAreReplaced) {
  const Pairs pairs = {{"team", "search"}};
  const json h = header(stamp("real", pairs), R"({"signgate_client":"other","signgate_request_id":"x","team":"t"})");
  EXPECT_EQ(h.at("signgate_client"), "real");
  EXPECT_EQ(h.at("signgate_request_id"), "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(h.at("team"), "search");
  EXPECT_EQ(h.size(), 3u);
  const json b = body_metadata(R"({"requestMetadata":{"signgate_client":"other"},"messages":[]})", stamp("real"));
  EXPECT_EQ(b.at("signgate_client"), "real");
  EXPECT_EQ(b.size(), 2u);
}

// Keys a log reader could take for signgate's (another case, surrounding spaces) are dropped too.
TEST(RequestMetadata, LookalikesOfSigngatesKeysAreDropped) {
  const Pairs pairs = {{"team", "search"}};
  const json h =
      header(stamp("real", pairs),
             R"({"Signgate_Client":"bob","signgate_client ":"bob"," SIGNGATE_REQUEST_ID":"x","TEAM":"t","env":"p"})");
  EXPECT_EQ(h, json({{"signgate_client", "real"},
                     {"signgate_request_id", "0123456789abcdef0123456789abcdef"},
                     {"team", "search"},
                     {"env", "p"}}));
}

// The caller's own attribution survives next to signgate's.
TEST(RequestMetadata, CallerPairsAreKept) {
  const std::string stamped =
      stamp_metadata_header(stamp(), R"({"team": "orchestrator", "environment": "preview-test"})");
  EXPECT_EQ(stamped, R"({"signgate_client":"flashback-prod","signgate_request_id":"0123456789abcdef0123456789abcdef",)"
                     R"("team":"orchestrator","environment":"preview-test"})");
}

// Over 16 pairs, the caller's last ones go first; signgate's and the operator's always stay.
TEST(RequestMetadata, CallerPairsDroppedFirstAtTheLimit) {
  const Pairs pairs = {{"a1", "1"}, {"a2", "2"}, {"a3", "3"}};
  std::string text = "{";
  for (int i = 0; i < 20; ++i) {
    if (i > 0) text += ',';
    text += "\"k";
    text += std::to_string(i);
    text += "\":\"v\"";
  }
  text += "}";
  const json j = header(stamp("c", pairs), text);
  EXPECT_EQ(j.size(), 16u);
  EXPECT_TRUE(j.contains("a3"));
  EXPECT_TRUE(j.contains("k10"));  // 5 of ours, the caller's first 11
  EXPECT_FALSE(j.contains("k11"));
}

// Pairs Bedrock would refuse are dropped one by one; the request goes on.
TEST(RequestMetadata, InvalidCallerPairsAreDropped) {
  const std::string long_text(257, 'x');
  const json j = header(stamp(), R"({"ok":"fine","bad key!":"v","k":"bad value!","n":1,"o":{"a":"b"},"l":["x"],)"
                                 R"("t":true,"z":null,"":"empty key",")" +
                                     long_text + R"(":"v","long":")" + long_text +
                                     R"(","é":"v","e":"é",)"
                                     R"("max":")" +
                                     std::string(256, 'y') + R"(","empty":""})");
  EXPECT_EQ(j.size(), 5u) << j;
  EXPECT_EQ(j.at("ok"), "fine");
  EXPECT_EQ(j.at("max"), std::string(256, 'y'));
  EXPECT_EQ(j.at("empty"), "");
}

// A duplicate key counts once: the first one is kept.
TEST(RequestMetadata, DuplicateCallerKeysKeepTheFirst) {
  const json j = header(stamp(), R"({"a":"1","a":"2"})");
  EXPECT_EQ(j.at("a"), "1");
  EXPECT_EQ(j.size(), 3u);
}

// A header that is not a JSON object is replaced by the stamp alone.
TEST(RequestMetadata, MalformedCallerHeaderIsReplaced) {
  for (std::string_view bad :
       {R"(not json)", R"(["a","b"])", R"("a")", R"({"a":"b")", R"({"a":"b"} x)", R"({"a" "b"})", R"({"a":"b",})",
        R"({a:"b"})", "{\"a\":\"b\x01\"}", R"({"a":"\q"})", R"({"a":"\u12"})", R"({"a":"b"}{"c":"d"})", "   "}) {
    EXPECT_EQ(header(stamp(), bad).size(), 2u) << bad;
  }
  EXPECT_EQ(header(stamp(), " \t{ \"a\" : \"b\" }\r\n").at("a"), "b");  // JSON's own whitespace is fine
}

// Escapes are JSON's: what they decode to is what Bedrock checks.
TEST(RequestMetadata, EscapesDecode) {
  const json j = header(stamp(), R"({"a\u0062":"x\/y\tz","\u00e9":"v","q":"\"","nl":"a\nb"})");
  EXPECT_EQ(j.at("ab"), "x/y\tz");
  EXPECT_EQ(j.at("nl"), "a\nb");  // \s includes newlines
  EXPECT_FALSE(j.contains("q"));  // '"' is not in Bedrock's pattern
  EXPECT_EQ(j.size(), 4u);
}

// A client name Bedrock's pattern refuses is made valid rather than left out.
TEST(RequestMetadata, ClientNameIsSanitized) {
  EXPECT_EQ(header(stamp("équipe!data")).at("signgate_client"), "_quipe_data");
  EXPECT_EQ(header(stamp(std::string(300, 'n'))).at("signgate_client"), std::string(256, 'n'));
  EXPECT_EQ(header(stamp("")).at("signgate_client"), "");
  EXPECT_EQ(header(stamp("a\"b\\c\x01")).at("signgate_client"), "a_b_c_");
  EXPECT_EQ(metadata_value("tab\there\vv"), "tab\there\vv");
  EXPECT_EQ(metadata_value("日本"), "__");
  EXPECT_TRUE(aws::valid_request_metadata_text(metadata_value("any \xff bytes\x80 at all 🙂"), false));
  // A configured value is made valid too, a configured key that is not valid is not sent.
  const Pairs pairs = {{"team", "a|b"}, {"bad|key", "v"}, {"signgate_client", "x"}};
  const json j = header(stamp("c", pairs));
  EXPECT_EQ(j.at("team"), "a_b");
  EXPECT_EQ(j.at("signgate_client"), "c");
  EXPECT_EQ(j.size(), 3u);
}

// Our own translated bodies have no requestMetadata: it is spliced in first, the rest byte for byte.
TEST(RequestMetadata, BodySpliceWithoutMetadata) {
  std::string body = R"({"messages":[{"role":"user","content":[{"text":"hi \"requestMetadata\" {"}]}]})";
  ASSERT_TRUE(stamp_converse_body(body, stamp("c")));
  EXPECT_EQ(body,
            R"({"requestMetadata":{"signgate_client":"c","signgate_request_id":"0123456789abcdef0123456789abcdef"},)"
            R"("messages":[{"role":"user","content":[{"text":"hi \"requestMetadata\" {"}]}]})");
  std::string empty = " {\n} ";
  ASSERT_TRUE(stamp_converse_body(empty, stamp("c")));
  EXPECT_EQ(empty, R"( {"requestMetadata":{"signgate_client":"c","signgate_request_id":)"
                   R"("0123456789abcdef0123456789abcdef"}
} )");
}

// A caller's requestMetadata is merged in place; nothing else in the body moves.
TEST(RequestMetadata, BodyMergeInPlace) {
  std::string body =
      "{ \"messages\" : [] ,\n  \"requestMetadata\" : {\"team\":\"x\", \"signgate_client\":\"other\"} ,"
      " \"inferenceConfig\":{\"maxTokens\":5}}";
  ASSERT_TRUE(stamp_converse_body(body, stamp("c")));
  EXPECT_EQ(body,
            "{ \"messages\" : [] ,\n  \"requestMetadata\" : "
            R"({"signgate_client":"c","signgate_request_id":"0123456789abcdef0123456789abcdef","team":"x"})"
            " , \"inferenceConfig\":{\"maxTokens\":5}}");
}

// A requestMetadata that is not an object is replaced by the stamp alone.
TEST(RequestMetadata, BodyMetadataNotAnObject) {
  for (std::string_view value : {"null", "\"x\"", "[1,2]", "42", "{\"a\":1", "true"}) {
    std::string body = std::string(R"({"messages":[],"requestMetadata":)") + std::string(value) + "}";
    if (value == "{\"a\":1") {
      EXPECT_FALSE(stamp_converse_body(body, stamp("c"))) << body;  // the body itself is broken
      continue;
    }
    EXPECT_EQ(body_metadata(body, stamp("c")).size(), 2u) << value;
  }
}

// A key escaped so it reads as requestMetadata to Bedrock is still the caller's requestMetadata.
TEST(RequestMetadata, EscapedKeyIsRecognised) {
  std::string body = R"({"request\u004detadata":{"signgate_client":"other","team":"t"},"messages":[]})";
  ASSERT_TRUE(stamp_converse_body(body, stamp("c")));
  const json j = json::parse(body);
  EXPECT_EQ(j.size(), 2u);
  EXPECT_EQ(j.at("requestMetadata").at("signgate_client"), "c");
  EXPECT_EQ(j.at("requestMetadata").at("team"), "t");
}

// Several requestMetadata members become one, whichever a parser would have kept.
TEST(RequestMetadata, DuplicateMembersBecomeOne) {
  std::string body = R"({"requestMetadata":{"a":"1"},"messages":[],"requestMetadata":{"signgate_client":"x","b":"2"},)"
                     R"("requestMetadata":"s"})";
  ASSERT_TRUE(stamp_converse_body(body, stamp("c")));
  EXPECT_EQ(body, R"({"requestMetadata":{"signgate_client":"c","signgate_request_id":)"
                  R"("0123456789abcdef0123456789abcdef","a":"1","b":"2"},"messages":[]})");
}

// Nested requestMetadata keys (inside tools or messages) are the caller's data, not metadata.
TEST(RequestMetadata, NestedKeysAreNotMetadata) {
  std::string body = R"({"toolConfig":{"requestMetadata":{"a":"b"}},"m":["requestMetadata",{"requestMetadata":1}]})";
  ASSERT_TRUE(stamp_converse_body(body, stamp("c")));
  const json j = json::parse(body);
  EXPECT_EQ(j.at("toolConfig").at("requestMetadata"), json({{"a", "b"}}));
  EXPECT_EQ(j.at("requestMetadata").size(), 2u);
}

// A body this cannot read as an object is left for Bedrock to refuse, untouched.
TEST(RequestMetadata, UnreadableBodiesAreUntouched) {
  for (std::string_view bad : {"", "[]", "\"x\"", "{", R"({"a")", R"({"a":)", R"({"a":1,)", R"({"a" 1})", R"({1:2})",
                               R"({"a":"unterminated})", R"({"a":[1,2})"}) {
    std::string body(bad);
    EXPECT_FALSE(stamp_converse_body(body, stamp())) << bad;
    EXPECT_EQ(body, bad);
  }
}

// A byte-order mark, and what follows the object, stay where they are.
TEST(RequestMetadata, BomAndTrailingBytes) {
  std::string body = "\xEF\xBB\xBF{\"messages\":[]} trailing";
  ASSERT_TRUE(stamp_converse_body(body, stamp("c")));
  EXPECT_EQ(body.substr(0, 5), "\xEF\xBB\xBF{\"");
  EXPECT_TRUE(body.ends_with(",\"messages\":[]} trailing"));
}

// Strings with escaped quotes and backslashes are skipped whole, however deep the JSON nests.
TEST(RequestMetadata, SkipsTrickyStringsAndDepth) {
  std::string deep(100000, '[');
  deep += std::string(100000, ']');
  std::string body = R"({"a":"\\","b":"x\\\"}","c":)" + deep + R"(,"requestMetadata":{"k":"v"}})";
  ASSERT_TRUE(stamp_converse_body(body, stamp("c")));
  EXPECT_TRUE(body.ends_with(R"("0123456789abcdef0123456789abcdef","k":"v"}})"));
}

}  // namespace
}  // namespace signgate::api
