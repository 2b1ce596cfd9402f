// The lines of a text file, plain or gzip (named *.gz: several members allowed), read piece by
// piece so that a large file is never held in memory: for reading audit logs after the fact.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace signgate {

struct LinesRead {
  std::uint64_t lines = 0;     // handed to the callback
  std::uint64_t too_long = 0;  // longer than the limit: skipped
};

// Calls `on_line` with each line of the file at `path`, without its "\n" (nor a "\r" before
// it); a last line without a newline is a line too. A line longer than `max_line` bytes is
// skipped and counted. Fails, saying which file and why, when it cannot be opened or read, or
// when a *.gz file is not gzip or is cut short.
Result<LinesRead> for_each_line(const std::string& path, std::size_t max_line,
                                const std::function<void(std::string_view)>& on_line);

}  // namespace signgate
