#include "gateway/audit.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>

namespace signgate::gateway {

std::string AuditRecord::to_json_line() const {
  nlohmann::json j = {{"ts", format_iso8601(ts)},
                      {"request_id", request_id},
                      {"client", client.empty() ? nlohmann::json(nullptr) : nlohmann::json(client)},
                      {"surface", surface},
                      {"operation", operation},
                      {"model", model.empty() ? nlohmann::json(nullptr) : nlohmann::json(model)},
                      {"status", status},
                      {"upstream_status", upstream_status == 0 ? nlohmann::json(nullptr) : nlohmann::json(upstream_status)},
                      {"aws_request_id", aws_request_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(aws_request_id)},
                      {"latency_ms", static_cast<double>(static_cast<long long>(latency_ms * 1000)) / 1000},
                      {"first_byte_ms", first_byte_ms ? nlohmann::json(static_cast<double>(static_cast<long long>(*first_byte_ms * 1000)) / 1000)
                                                      : nlohmann::json(nullptr)},
                      {"input_tokens", input_tokens ? nlohmann::json(*input_tokens) : nlohmann::json(nullptr)},
                      {"output_tokens", output_tokens ? nlohmann::json(*output_tokens) : nlohmann::json(nullptr)},
                      {"bytes_in", bytes_in},
                      {"bytes_out", bytes_out},
                      {"role_session", role_session.empty() ? nlohmann::json(nullptr) : nlohmann::json(role_session)},
                      {"error", error.empty() ? nlohmann::json(nullptr) : nlohmann::json(error)}};
  // Replace invalid UTF-8 (a model ID from the wire) instead of throwing.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
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
    for (const auto& record : batch) out += record.to_json_line();
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
