// Reading a config that someone may be writing right now: `cat > file` or an editor caught
// mid-write leaves a prefix that can still be valid YAML (a client without its operations:
// line), so a reload takes only a version that stayed the same across a settle interval.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "common/result.h"

namespace signgate::config {

// One read of a file: its bytes and what stat said about the file they came from.
struct FileVersion {
  std::string text;
  std::uint64_t device = 0;
  std::uint64_t inode = 0;  // an editor's rename-into-place gives a new one
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;

  bool operator==(const FileVersion&) const = default;
};

// Reads the whole file. Fails when it cannot be opened, or when its size or times moved
// while it was being read.
Result<FileVersion> read_file_version(const std::string& path);

struct SettleOptions {
  std::chrono::milliseconds settle{300};                 // how long a version must stay unchanged
  std::chrono::milliseconds max_wait{3000};              // then give up; the caller keeps what it has
  std::function<void(std::chrono::milliseconds)> sleep;  // empty: std::this_thread::sleep_for
};

// Reads the file, waits `settle`, reads again, and returns the version once two reads in a
// row agree on bytes, size, mtime, ctime, inode and device. Fails, saying why, when the file
// cannot be read or is still changing after about `max_wait` of waiting (at least one settle).
Result<FileVersion> read_stable_file(const std::string& path, const SettleOptions& options = {});

}  // namespace signgate::config
