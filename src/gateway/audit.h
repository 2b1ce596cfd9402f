// The audit log (SPEC §5): one JSON object per line per request, denied ones included,
// written by its own thread so an event loop never waits on the disk. Never a secret,
// never prompt text: records carry only the fields below.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "common/time.h"

namespace signgate::gateway {

struct AuditRecord {
  SystemTime ts;
  std::string request_id;
  std::string client;     // empty when the key was unknown
  std::string user;       // the end user the caller named (OpenAI's user), at most 256 bytes
  std::string surface;    // "bedrock", "openai", "anthropic"
  std::string protocol;   // "h2", "http/1.1", "http/1.0"
  std::string operation;  // "converse", ...
  std::string model;
  unsigned status = 0;
  unsigned upstream_status = 0;  // 0: never reached Bedrock
  std::string aws_request_id;
  double latency_ms = 0;
  std::optional<double> first_byte_ms;
  std::optional<std::uint64_t> input_tokens;
  std::optional<std::uint64_t> output_tokens;
  // Prompt-cache tokens (SPEC §8): input_tokens keeps Bedrock's meaning (neither read from nor
  // written to the cache); cache_write_tokens counts every write, cache_write_1h_tokens those of
  // them kept for an hour (priced higher). Null with the input tokens when no usage is known.
  std::optional<std::uint64_t> cache_read_tokens;
  std::optional<std::uint64_t> cache_write_tokens;
  std::uint64_t cache_write_1h_tokens = 0;
  // What the call cost in USD at the price table's rates (spend/pricing.h); null when no price is
  // known for the model or no usage was reported.
  std::optional<double> cost_usd;
  // How the tokens are known: "bedrock" (its usage, relayed), "drained" (the caller left a
  // stream, and Bedrock's usage was read after it), "estimate" (the caller left and the usage
  // did not arrive within the limits: abandoned.h's bound); empty: no tokens.
  std::string_view tokens_from;
  bool caller_left = false;  // the caller went away before the answer ended
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::string role_session;  // "ROLE_ARN/SESSION", or "base credentials"
  // Where the call went (SPEC §7): the route (empty: none matched), the target that answered
  // (or was tried last), its region and identity ("default": the client's own), the model it
  // was sent as when a target overrode it, and the upstream attempts made (failovers and
  // retries included).
  std::string route;
  std::string target;
  std::string region;
  std::string identity;
  std::string target_model;
  unsigned attempts = 0;
  // Bedrock's service tier that served the call ("default", "priority", "flex"; empty: none
  // was asked and Bedrock said none), the caller's built-in tools signgate dropped (Bedrock
  // cannot run them), and "estimated" when a token count was signgate's, not Bedrock's.
  std::string service_tier;
  std::vector<std::string> dropped_tools;
  std::string_view token_count;
  std::string error;

  std::string to_json_line() const;
  // The same line appended to `out` (a batch of lines).
  void append_json_line(std::string& out) const;
};

class AuditLog {
 public:
  // `path` "-" is stdout, empty disables the file (records are still counted).
  static Result<std::unique_ptr<AuditLog>> open(const std::string& path);
  ~AuditLog();

  // Queues the record; never blocks on I/O.
  void record(AuditRecord r);
  // Reopens the file (after logrotate moved it); done on SIGHUP.
  void reopen();
  // Waits until everything queued so far is written.
  void flush();
  std::uint64_t written() const;

 private:
  explicit AuditLog(std::string path, int fd);
  void run();

  std::string path_;
  int fd_;
  mutable std::mutex mutex_;
  std::condition_variable wake_, drained_;
  std::deque<AuditRecord> queue_;  // formatted as JSON on the writer thread, not on a loop
  bool stopping_ = false;
  bool reopen_ = false;
  bool idle_ = false;  // the writer waits for work: only then does record() wake it
  std::uint64_t written_ = 0, queued_ = 0;
  std::thread thread_;
};

}  // namespace signgate::gateway
