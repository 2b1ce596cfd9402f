// The local AWS fakes (tests/fakes/*.py) as C++ test fixtures: each runs as its own
// process on 127.0.0.1, verifies SigV4 with botocore, and stops when the fixture dies.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "aws/credentials.h"
#include "http/client.h"

namespace signgate::testing {

// The base keys the fakes accept unless a test says otherwise.
inline constexpr const char* kBaseKey = "AKIDBASEEXAMPLE";
inline constexpr const char* kBaseSecret = "base/secret/EXAMPLEKEY+do-not-leak";
inline constexpr const char* kRole = "arn:aws:iam::111122223333:role/flashback-bedrock";
inline constexpr const char* kExternalId = "ext-7f3a9c2e";

class FakeProcess {
 public:
  // Runs `/usr/bin/python3 tests/fakes/<script> args...` and waits for "listening on URL".
  FakeProcess(const std::string& script, const std::vector<std::string>& args);
  ~FakeProcess();
  FakeProcess(const FakeProcess&) = delete;
  FakeProcess& operator=(const FakeProcess&) = delete;
  const std::string& url() const { return url_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string url_;
};

// aws_fake.py accepting the base keys, with `args` added.
FakeProcess start_aws_fake(std::vector<std::string> args = {});

struct Reply {
  unsigned status = 0;
  http::ResponseHead head;
  std::string body;
  std::string error;  // transport failure
};

// One blocking exchange through our client (the fakes check what matters on their side).
Reply call(const std::string& url, const std::string& method, const std::string& body = {},
           http::HeaderList headers = {}, const http::ClientOptions& options = {});

// A Converse request signed with `creds` and sent to the fake; 200 when botocore agreed.
Reply converse(const std::string& base_url, const aws::Credentials& creds);

nlohmann::json fake_stats(const std::string& base_url);
int fake_count(const std::string& base_url, const std::string& name);
void fake_control(const std::string& base_url, const nlohmann::json& settings);

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

}  // namespace signgate::testing
