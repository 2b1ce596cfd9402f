#include "gateway/audit.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>

#include "api/json_scan.h"

namespace signgate::gateway {

namespace {

// Written field by field: this runs once per request, and a DOM per line cost more CPU than
// the rest of the audit path together (seen in perf under load).
// Every field but the first ("ts", written by hand) follows a comma.
void key(std::string& out, std::string_view name) {
  out += ",\"";
  out += name;
  out += "\":";
}

void text(std::string& out, std::string_view name, std::string_view value) {
  key(out, name);
  api::append_json_string_checked(out, value);
}

void text_or_null(std::string& out, std::string_view name, std::string_view value) {
  if (value.empty()) {
    key(out, name);
    out += "null";
  } else {
    text(out, name, value);
  }
}

void digits(std::string& out, std::uint64_t value) {
  char buf[24];
  const auto end = std::to_chars(buf, buf + sizeof buf, value).ptr;
  out.append(buf, static_cast<std::size_t>(end - buf));
}

void number(std::string& out, std::string_view name, std::uint64_t value) {
  key(out, name);
  digits(out, value);
}

void count_or_null(std::string& out, std::string_view name, const std::optional<std::uint64_t>& value) {
  key(out, name);
  if (value) {
    digits(out, *value);
  } else {
    out += "null";
  }
}

void millis(std::string& out, std::string_view name, std::optional<double> value) {
  key(out, name);
  if (!value || !std::isfinite(*value)) {
    out += "null";
    return;
  }
  char buf[48];  // microsecond precision, truncated
  const double truncated = static_cast<double>(static_cast<long long>(*value * 1000)) / 1000;
  const auto end = std::to_chars(buf, buf + sizeof buf, truncated, std::chars_format::fixed, 3).ptr;
  out.append(buf, static_cast<std::size_t>(end - buf));
}

// Dollars to the nano-dollar (the finest a price table's per-million rates make of one token),
// without an exponent: a line's reader sums them as they are.
void usd(std::string& out, std::string_view name, std::optional<double> value) {
  key(out, name);
  if (!value || !std::isfinite(*value)) {
    out += "null";
    return;
  }
  char buf[64];
  const auto end = std::to_chars(buf, buf + sizeof buf, *value, std::chars_format::fixed, 9).ptr;
  std::string_view digits_(buf, static_cast<std::size_t>(end - buf));
  // Trailing zeros (and a trailing point) say nothing.
  while (digits_.size() > 1 && digits_.back() == '0') digits_.remove_suffix(1);
  if (digits_.back() == '.') digits_.remove_suffix(1);
  out += digits_;
}

}  // namespace

std::string AuditRecord::to_json_line() const {
  std::string out;
  out.reserve(512);
  append_json_line(out);
  return out;
}

void AuditRecord::append_json_line(std::string& out) const {
  out += "{\"ts\":";
  api::append_json_string_checked(out, format_iso8601(ts));
  text(out, "request_id", request_id);
  text_or_null(out, "client", client);
  text_or_null(out, "user", user);
  text(out, "surface", surface);
  text(out, "operation", operation);
  text_or_null(out, "protocol", protocol);
  text_or_null(out, "model", model);
  number(out, "status", status);
  key(out, "upstream_status");
  if (upstream_status == 0) {
    out += "null";
  } else {
    digits(out, upstream_status);
  }
  text_or_null(out, "aws_request_id", aws_request_id);
  millis(out, "latency_ms", latency_ms);
  millis(out, "first_byte_ms", first_byte_ms);
  count_or_null(out, "input_tokens", input_tokens);
  count_or_null(out, "output_tokens", output_tokens);
  count_or_null(out, "cache_read_tokens", cache_read_tokens);
  count_or_null(out, "cache_write_tokens", cache_write_tokens);
  if (cache_write_1h_tokens != 0) number(out, "cache_write_1h_tokens", cache_write_1h_tokens);
  usd(out, "cost_usd", cost_usd);
  text_or_null(out, "tokens_from", tokens_from);
  key(out, "caller_left");
  out += caller_left ? "true" : "false";
  number(out, "bytes_in", bytes_in);
  number(out, "bytes_out", bytes_out);
  text_or_null(out, "role_session", role_session);
  text_or_null(out, "route", route);
  text_or_null(out, "target", target);
  text_or_null(out, "region", region);
  text_or_null(out, "identity", identity);
  text_or_null(out, "target_model", target_model);
  number(out, "attempts", attempts);
  text_or_null(out, "service_tier", service_tier);
  if (!dropped_tools.empty()) {
    key(out, "dropped_tools");
    out += '[';
    for (std::size_t i = 0; i < dropped_tools.size(); ++i) {
      if (i != 0) out += ',';
      api::append_json_string_checked(out, dropped_tools[i]);
    }
    out += ']';
  }
  if (!token_count.empty()) text(out, "token_count", token_count);
  text_or_null(out, "error", error);
  out += "}\n";
}

namespace {
int open_fd(const std::string& path) {
  if (path == "-") return STDOUT_FILENO;
  if (path.empty()) return -1;
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}
}  // namespace

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::string& path) {
  const int fd = open_fd(path);
  if (!path.empty() && fd < 0) return make_error("audit.path " + path + ": " + std::strerror(errno));
  return std::unique_ptr<AuditLog>(new AuditLog(path, fd));
}

AuditLog::AuditLog(std::string path, int fd) : path_(std::move(path)), fd_(fd), thread_([this] { run(); }) {}

AuditLog::~AuditLog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  if (fd_ > STDERR_FILENO) ::close(fd_);
}

void AuditLog::record(AuditRecord r) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(r));
    ++queued_;
    if (!idle_) return;  // the writer is busy or gathering a batch: it will see this line
    idle_ = false;
  }
  wake_.notify_one();
}

void AuditLog::reopen() {
  {
    std::lock_guard lock(mutex_);
    reopen_ = true;
  }
  wake_.notify_one();
}

void AuditLog::flush() {
  std::unique_lock lock(mutex_);
  const std::uint64_t target = queued_;
  drained_.wait(lock, [&] { return written_ >= target; });
}

std::uint64_t AuditLog::written() const {
  std::lock_guard lock(mutex_);
  return written_;
}

void AuditLog::run() {
  // Under load, lines are gathered for a few milliseconds and written with one write(): a
  // wake-up and a write per request cost more futex and syscall time than the request itself.
  constexpr auto kBatchWindow = std::chrono::milliseconds(5);
  std::unique_lock lock(mutex_);
  for (;;) {
    if (queue_.empty() && !stopping_ && !reopen_) {
      idle_ = true;
      wake_.wait(lock, [&] { return stopping_ || reopen_ || !queue_.empty(); });
      idle_ = false;
    }
    if (reopen_ && path_ != "-" && !path_.empty()) {
      reopen_ = false;
      const int fd = open_fd(path_);
      if (fd >= 0) {
        if (fd_ > STDERR_FILENO) ::close(fd_);
        fd_ = fd;
      }
    }
    reopen_ = false;
    std::deque<AuditRecord> batch;
    batch.swap(queue_);
    lock.unlock();
    std::string out;
    out.reserve(batch.size() * 512);
    for (const auto& record : batch) record.append_json_line(out);
    std::size_t off = 0;
    while (fd_ >= 0 && off < out.size()) {
      const ssize_t n = ::write(fd_, out.data() + off, out.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // a full disk must not stop the gateway; the count tells
      off += static_cast<std::size_t>(n);
    }
    lock.lock();
    written_ += batch.size();
    drained_.notify_all();
    if (stopping_ && queue_.empty()) return;
    if (!stopping_ && !reopen_) wake_.wait_for(lock, kBatchWindow, [&] { return stopping_ || reopen_; });
  }
}

}  // namespace signgate::gateway
