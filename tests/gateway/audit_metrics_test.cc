// The audit line's fields (SPEC §5) and the metrics' text format.
#include "gateway/audit.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/version.h"
#include "gateway/metrics.h"

namespace signgate::gateway {
namespace {

// SPEC §5's fields, the end user a caller named (OpenAI's user field) and the protocol.
TEST(AuditRecord, EveryFieldOfTheSpecAndNothingElse) {
  AuditRecord r;
  r.ts = *parse_iso8601("2026-11-25T12:00:00Z");
  r.request_id = "abc";
  r.client = "flashback";
  r.surface = "bedrock";
  r.operation = "converse";
  r.protocol = "h2";
  r.model = "anthropic.claude-3-haiku-20240307-v1:0";
  r.status = 200;
  r.upstream_status = 200;
  r.latency_ms = 12.34567;
  r.input_tokens = 12;
  r.role_session = "arn:aws:iam::1:role/r/signgate-flashback";
  const std::string line = r.to_json_line();
  ASSERT_EQ(line.back(), '\n');
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j.size(), 31u);
  for (const char* key : {"ts",
                          "request_id",
                          "client",
                          "user",
                          "surface",
                          "operation",
                          "protocol",
                          "model",
                          "status",
                          "upstream_status",
                          "aws_request_id",
                          "latency_ms",
                          "first_byte_ms",
                          "input_tokens",
                          "output_tokens",
                          "cache_read_tokens",
                          "cache_write_tokens",
                          "cost_usd",
                          "tokens_from",
                          "caller_left",
                          "bytes_in",
                          "bytes_out",
                          "role_session",
                          "route",
                          "target",
                          "region",
                          "identity",
                          "target_model",
                          "attempts",
                          "service_tier",
                          "error"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["ts"], "2026-11-25T12:00:00Z");
  EXPECT_EQ(j["protocol"], "h2");
  EXPECT_EQ(j["latency_ms"], 12.345);
  EXPECT_TRUE(j["output_tokens"].is_null());
  EXPECT_TRUE(j["error"].is_null());
  EXPECT_TRUE(j["tokens_from"].is_null());
  EXPECT_TRUE(j["route"].is_null());  // no route matched
  EXPECT_EQ(j["attempts"], 0);
  EXPECT_EQ(j["caller_left"], false);
  EXPECT_TRUE(j["service_tier"].is_null());
  EXPECT_FALSE(j.contains("dropped_tools"));  // only when some were dropped
  EXPECT_FALSE(j.contains("token_count"));    // only when signgate estimated it
  r.dropped_tools = {"web_search", "image_generation"};
  r.token_count = "estimated";
  r.service_tier = "flex";
  const auto k = nlohmann::json::parse(r.to_json_line());
  EXPECT_EQ(k["dropped_tools"], nlohmann::json::array({"web_search", "image_generation"}));
  EXPECT_EQ(k["token_count"], "estimated");
  EXPECT_EQ(k["service_tier"], "flex");
}

TEST(AuditRecord, InvalidUtf8FromTheWireDoesNotBreakTheLine) {
  AuditRecord r;
  r.model = "bad\xff\xfe";
  EXPECT_NO_THROW(nlohmann::json::parse(r.to_json_line()));
}

// cost_usd is written to the nano-dollar without an exponent; null when unpriced; the 1-hour
// cache writes only when there were some.
TEST(Audit, CostAndCacheTokens) {
  AuditRecord r;
  r.input_tokens = 10;
  r.cache_read_tokens = 0;
  r.cache_write_tokens = 2048;
  r.cache_write_1h_tokens = 1024;
  r.cost_usd = 0.000000350;
  std::string line = r.to_json_line();
  EXPECT_NE(line.find("\"cost_usd\":0.00000035,"), std::string::npos) << line;
  EXPECT_NE(line.find("\"cache_write_1h_tokens\":1024,"), std::string::npos) << line;
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["cache_write_tokens"], 2048);
  EXPECT_EQ(j["cache_read_tokens"], 0);
  r.cost_usd = 12.5;
  EXPECT_NE(r.to_json_line().find("\"cost_usd\":12.5,"), std::string::npos);
  r.cost_usd = 0.0;
  EXPECT_NE(r.to_json_line().find("\"cost_usd\":0,"), std::string::npos);
  r.cost_usd.reset();
  r.cache_write_1h_tokens = 0;
  line = r.to_json_line();
  EXPECT_NE(line.find("\"cost_usd\":null,"), std::string::npos) << line;
  EXPECT_EQ(line.find("cache_write_1h_tokens"), std::string::npos) << line;
}

TEST(Metrics, PrometheusTextWithEscapedLabels) {
  Metrics m;
  m.request({.client = "fb",
             .surface = "bedrock",
             .operation = "converse",
             .model = "model\"x",
             .protocol = "h2",
             .status = 200,
             .latency_seconds = 0.004,
             .first_byte_seconds = 0.002,
             .cost_usd = 0.0123});
  m.request({.client = "fb",
             .surface = "bedrock",
             .operation = "converse",
             .model = "model\"x",
             .protocol = "http/1.1",
             .status = 200,
             .latency_seconds = 0.2,
             .first_byte_seconds = std::nullopt,
             .cost_usd = std::nullopt});
  m.upstream_retry();
  aws::CacheStatus s;
  s.ready = true;
  s.refreshes = 3;
  s.expiration = *parse_iso8601("2026-11-25T13:00:00Z");
  const std::string text = m.render({{"arn:r/s", s}}, *parse_iso8601("2026-11-25T12:00:00Z"));
  EXPECT_NE(text.find("signgate_requests_total{client=\"fb\",surface=\"bedrock\",operation=\"converse\",model="
                      "\"model\\\"x\",status=\"200\",protocol=\"h2\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("model=\"model\\\"x\",status=\"200\",protocol=\"http/1.1\"} 1"), std::string::npos) << text;
  EXPECT_NE(
      text.find("signgate_request_duration_seconds_bucket{surface=\"bedrock\",operation=\"converse\",le=\"0.005\"} 1"),
      std::string::npos);
  EXPECT_NE(text.find("signgate_request_duration_seconds_count{surface=\"bedrock\",operation=\"converse\"} 2"),
            std::string::npos);
  EXPECT_NE(text.find("signgate_upstream_retries_total 1"), std::string::npos);
  EXPECT_NE(text.find("signgate_credential_seconds_to_expiry{role_session=\"arn:r/s\"} 3600"), std::string::npos);
  EXPECT_NE(text.find("signgate_credential_refreshes_total{role_session=\"arn:r/s\"} 3"), std::string::npos);
  // Only the priced call adds to the client's spend.
  EXPECT_NE(text.find("signgate_cost_usd_total{client=\"fb\"} 0.0123\n"), std::string::npos) << text;
}

TEST(Metrics, BudgetsLeftInTokensAndUsd) {
  Metrics m;
  const std::string text =
      m.render({}, *parse_iso8601("2026-11-25T12:00:00Z"), {{"a", 500, 12.5, std::nullopt}, {"b", {}, {}, 0.25}});
  EXPECT_NE(text.find("signgate_budget_remaining_tokens{client=\"a\"} 500\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("signgate_budget_remaining_tokens{client=\"b\"}"), std::string::npos) << text;
  EXPECT_NE(text.find("signgate_budget_remaining_usd{client=\"a\",budget=\"usd_per_day\"} 12.5\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("signgate_budget_remaining_usd{client=\"b\",budget=\"usd_per_month\"} 0.25\n"), std::string::npos)
      << text;
}

// Label values reach the exposition as valid UTF-8 without raw control bytes: 0xFF, CR,
// VT and NUL went out as they came before.
TEST(Metrics, LabelValuesAreValidUtf8WithoutControlBytes) {
  Metrics m;
  const std::string client("a\xff\r\x0b\0b\xc3\xa9\xed\xa0\x80\xc0\xaf\n", 14);
  m.request({.client = client,
             .surface = "s",
             .operation = "o",
             .model = "",
             .protocol = "http/1.1",
             .status = 200,
             .latency_seconds = 0.001,
             .first_byte_seconds = std::nullopt,
             .cost_usd = std::nullopt});
  const std::string text = m.render({}, *parse_iso8601("2026-11-25T12:00:00Z"));
  const auto line_start = text.find("signgate_requests_total{");
  ASSERT_NE(line_start, std::string::npos);
  const std::string line = text.substr(line_start, text.find('\n', line_start) - line_start);
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_NE(line.find("client=\"a" + r + r + r + r + "b\xc3\xa9" + r + r + r + r + r + "\\n\""), std::string::npos)
      << line;
  for (char c : text) {
    EXPECT_TRUE(c == '\n' || static_cast<unsigned char>(c) >= 0x20) << static_cast<int>(c);
  }
}

// An authenticated client inventing model IDs its globs admit cannot grow /metrics for ever.
TEST(Metrics, ModelLabelsPerClientAreCapped) {
  Metrics m;
  for (int i = 0; i < 1000; ++i) {
    const std::string model = "anthropic.claude-" + std::to_string(i);
    m.request({.client = "fb",
               .surface = "openai",
               .operation = "converse",
               .model = model,
               .protocol = "h2",
               .status = 400,
               .latency_seconds = 0.001,
               .first_byte_seconds = std::nullopt,
               .cost_usd = std::nullopt});
  }
  m.request({.client = "fb",
             .surface = "openai",
             .operation = "converse",
             .model = "anthropic.claude-1",
             .protocol = "h2",
             .status = 200,
             .latency_seconds = 0.001,
             .first_byte_seconds = std::nullopt,
             .cost_usd = std::nullopt});
  const std::string text = m.render({}, *parse_iso8601("2026-11-25T12:00:00Z"));
  std::size_t series = 0;
  for (std::size_t at = text.find("signgate_requests_total{"); at != std::string::npos;
       at = text.find("signgate_requests_total{", at + 1)) {
    ++series;
  }
  EXPECT_EQ(series, 64u + 1 + 1);  // 64 models at 400, "other" at 400, one known model at 200
  EXPECT_NE(text.find("model=\"other\",status=\"400\",protocol=\"h2\"} 936"), std::string::npos);
}

}  // namespace
}  // namespace signgate::gateway

namespace signgate::gateway {
namespace {

// /metrics says which binary runs: signgate_build_info{version,commit} 1.
TEST(Metrics, BuildInfo) {
  Metrics m;
  const std::string text = m.render({}, *parse_iso8601("2026-11-25T12:00:00Z"));
  EXPECT_NE(text.find("# TYPE signgate_build_info gauge\nsigngate_build_info{version=\"" + std::string(version()) +
                      "\",commit=\"" + std::string(commit()) + "\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(version(), "0.0.0");
}

}  // namespace
}  // namespace signgate::gateway
