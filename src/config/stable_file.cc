#include "config/stable_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

namespace signgate::config {
namespace {

std::int64_t nanoseconds(const timespec& t) { return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec; }

bool same_stat(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
         nanoseconds(a.st_mtim) == nanoseconds(b.st_mtim) && nanoseconds(a.st_ctim) == nanoseconds(b.st_ctim);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

Result<FileVersion> read_file_version(const std::string& path) {
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat before {};
  if (fd.get() < 0 || ::fstat(fd.get(), &before) != 0) {
    return make_error(path + ": cannot be read (does the file exist and may signgate read it?)");
  }
  FileVersion v;
  char buffer[16 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(path + ": cannot be read (does the file exist and may signgate read it?)");
    }
    v.text.append(buffer, static_cast<std::size_t>(n));
  }
  struct stat after {};
  if (::fstat(fd.get(), &after) != 0 || !same_stat(before, after) ||
      v.text.size() != static_cast<std::uint64_t>(after.st_size)) {
    return make_error(path + ": changed while it was being read");
  }
  v.device = static_cast<std::uint64_t>(after.st_dev);
  v.inode = static_cast<std::uint64_t>(after.st_ino);
  v.size = static_cast<std::uint64_t>(after.st_size);
  v.mtime_ns = nanoseconds(after.st_mtim);
  v.ctime_ns = nanoseconds(after.st_ctim);
  return v;
}

Result<FileVersion> read_stable_file(const std::string& path, const SettleOptions& options) {
  const auto sleep = options.sleep ? options.sleep
                                   : std::function<void(std::chrono::milliseconds)>(
                                         [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); });
  const auto step = std::max(options.settle, std::chrono::milliseconds(1));  // a 0 settle would never time out
  Result<FileVersion> previous = read_file_version(path);
  std::chrono::milliseconds waited{0};
  do {
    sleep(step);
    waited += step;
    Result<FileVersion> current = read_file_version(path);
    if (previous && current && *previous == *current) return current;
    previous = std::move(current);
  } while (waited < options.max_wait);
  if (!previous) return previous.error();
  return make_error(path + ": still being written after " + std::to_string(waited.count()) +
                    " ms (size, time, inode or content kept changing)");
}

}  // namespace signgate::config
