// HTTPS_PROXY and NO_PROXY read the way curl and the AWS SDKs read them.
#include "http/proxy.h"

#include <gtest/gtest.h>

namespace signgate::http {
namespace {

Url url(const std::string& text) { return *parse_url(text, nullptr); }

TEST(Proxy, ParsesHostPortWithOrWithoutScheme) {
  auto p = parse_proxy("proxy.corp:3128");
  ASSERT_TRUE(p) << p.message();
  EXPECT_EQ(p->url.host, "proxy.corp");
  EXPECT_EQ(p->url.port, 3128);
  EXPECT_TRUE(p->authorization.empty());
  EXPECT_EQ(parse_proxy("http://proxy.corp")->url.port, 80);
}

TEST(Proxy, CredentialsInTheUrlBecomeBasicAuthorization) {
  auto p = parse_proxy("http://user:p%40ss@proxy:8080");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->authorization, "Basic dXNlcjpwQHNz");  // user:p@ss
  EXPECT_EQ(p->url.host, "proxy");
}

TEST(Proxy, RefusesWhatItCannotUse) {
  EXPECT_NE(parse_proxy("https://proxy:443").message().find("https:// proxy is not supported"), std::string::npos);
  EXPECT_FALSE(parse_proxy("http://"));
  auto bad = ProxySettings::from_environment(fixed_environment({{"HTTPS_PROXY", "ftp://x"}}));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.message().rfind("HTTPS_PROXY: ", 0), 0u);
}

TEST(Proxy, OnlyHttpsTargetsGoThroughTheTunnel) {
  auto s = ProxySettings::from_environment(fixed_environment({{"https_proxy", "proxy:3128"}}));
  ASSERT_TRUE(s);
  EXPECT_NE(s->for_target(url("https://bedrock-runtime.us-east-1.amazonaws.com/")), nullptr);
  EXPECT_EQ(s->for_target(url("http://169.254.169.254/latest")), nullptr) << "IMDS never via a proxy";
  EXPECT_EQ(ProxySettings{}.for_target(url("https://sts.amazonaws.com/")), nullptr);
}

TEST(Proxy, NoProxyMatchesHostsAndDomainSuffixes) {
  const std::vector<std::string> entries{"internal.corp", ".amazonaws.com", "10.0.0.1", "[::1]"};
  EXPECT_TRUE(no_proxy_matches(entries, "internal.corp"));
  EXPECT_TRUE(no_proxy_matches(entries, "api.internal.corp"));
  EXPECT_FALSE(no_proxy_matches(entries, "notinternal.corp"));
  EXPECT_TRUE(no_proxy_matches(entries, "sts.us-east-1.amazonaws.com"));
  EXPECT_TRUE(no_proxy_matches(entries, "10.0.0.1"));
  EXPECT_TRUE(no_proxy_matches(entries, "::1"));
  EXPECT_TRUE(no_proxy_matches({"*"}, "anything"));
  EXPECT_FALSE(no_proxy_matches({}, "anything"));
}

TEST(Proxy, NoProxyFromTheEnvironmentIgnoresPortsSpacesAndCase) {
  auto s = ProxySettings::from_environment(
      fixed_environment({{"HTTPS_PROXY", "proxy:3128"}, {"NO_PROXY", " Example.COM:443 , localhost,,"}}));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->no_proxy, (std::vector<std::string>{"example.com", "localhost"}));
  EXPECT_EQ(s->for_target(url("https://API.example.com/")), nullptr);
}

}  // namespace
}  // namespace signgate::http
