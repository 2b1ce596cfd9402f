#include "common/files.h"

#include <filesystem>
#include <fstream>
#include <iterator>

namespace signgate {

std::optional<std::string> read_file(const std::string& path) {
  // A directory opens as a stream on Linux, then fails its first read with an exception.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  try {
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (const std::ios_base::failure&) {
    return std::nullopt;  // a read error (EIO, EISDIR on a path that became a directory)
  }
}

}  // namespace signgate
