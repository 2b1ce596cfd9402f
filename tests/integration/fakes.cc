#include "integration/fakes.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "aws/sigv4.h"
#include "common/crypto.h"
#include "http/fetch.h"

extern char** environ;

namespace signgate::testing {

FakeProcess::FakeProcess(const std::string& script, const std::vector<std::string>& args) {
  std::vector<std::string> argv_s{"/usr/bin/python3", std::string(SIGNGATE_SOURCE) + "/tests/fakes/" + script};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  out_ = pipe_fds[0];
  if (rc != 0) throw std::runtime_error("cannot start " + script);
  std::string line;
  char c;
  while (read(out_, &c, 1) == 1 && c != '\n') line.push_back(c);
  const std::string prefix = "listening on ";
  if (line.rfind(prefix, 0) != 0) throw std::runtime_error(script + " did not start: '" + line + "'");
  url_ = line.substr(prefix.size());
}

FakeProcess::~FakeProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (out_ >= 0) close(out_);
}

FakeProcess start_aws_fake(std::vector<std::string> args) {
  args.insert(args.begin(), {"--credentials", std::string(kBaseKey) + ":" + kBaseSecret});
  return FakeProcess("aws_fake.py", args);
}

Reply call(const std::string& url_text, const std::string& method, const std::string& body, http::HeaderList headers,
           const http::ClientOptions& options) {
  std::string error;
  const auto url = http::parse_url(url_text, &error);
  if (!url) return Reply{0, {}, {}, error};
  http::Request req{method, url->path, url->query, std::move(headers)};
  req.headers.insert(req.headers.begin(), {"Host", url->host_header()});
  Reply reply;
  const auto result = http::fetch(
      *url, req, body,
      [&](const http::ResponseHead& head) {
        reply.status = head.status;
        reply.head = head;
      },
      [&](std::string_view piece) { reply.body.append(piece); }, options);
  if (!result.ok) reply.error = result.error;
  return reply;
}

Reply converse(const std::string& base_url, const aws::Credentials& creds) {
  std::string error;
  const auto url = http::parse_url(base_url + "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", &error);
  const std::string body = R"({"messages":[{"role":"user","content":[{"text":"hi"}]}]})";
  http::Request req{"POST", url->path, {}, {{"Host", url->host_header()}, {"Content-Type", "application/json"}}};
  aws::Signer signer;
  signer.sign(req, sha256_hex(body), creds, aws::SigningOptions::for_service("us-east-1", "bedrock"));
  Reply reply;
  const auto result = http::fetch(
      *url, req, body, [&](const http::ResponseHead& head) { reply.status = head.status, reply.head = head; },
      [&](std::string_view piece) { reply.body.append(piece); });
  if (!result.ok) reply.error = result.error;
  return reply;
}

nlohmann::json fake_stats(const std::string& base_url) {
  const Reply r = call(base_url + "/_fake/stats", "GET");
  if (r.status != 200) throw std::runtime_error("fake stats: " + r.error);
  return nlohmann::json::parse(r.body);
}

int fake_count(const std::string& base_url, const std::string& name) {
  const auto stats = fake_stats(base_url);
  return stats["counts"].value(name, 0);
}

void fake_control(const std::string& base_url, const nlohmann::json& settings) {
  const Reply r = call(base_url + "/_fake/control", "POST", settings.dump(), {{"Content-Type", "application/json"}});
  if (r.status != 200) throw std::runtime_error("fake control: " + r.error);
}

TempDir::TempDir() {
  std::string pattern = std::filesystem::temp_directory_path() / "signgate-test-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
  const auto p = std::filesystem::path(path_) / name;
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

}  // namespace signgate::testing
