#include "common/line_reader.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "common/gunzip.h"

namespace signgate {

namespace {

// Splits bytes arriving in pieces into lines, keeping only the unfinished one.
class LineSplitter {
 public:
  LineSplitter(std::size_t max_line, const std::function<void(std::string_view)>& on_line)
      : max_line_(max_line), on_line_(on_line) {}

  void push(std::string_view bytes) {
    while (!bytes.empty()) {
      const std::size_t newline = bytes.find('\n');
      const std::string_view piece = bytes.substr(0, newline);
      if (!too_long_) {
        if (partial_.size() + piece.size() > max_line_ + 1) {  // + 1: a "\r" to drop
          too_long_ = true;
          partial_.clear();
        } else {
          partial_.append(piece);
        }
      }
      if (newline == std::string_view::npos) return;
      end_line();
      bytes.remove_prefix(newline + 1);
    }
  }

  void finish() {
    if (!partial_.empty() || too_long_) end_line();
  }

  const LinesRead& read() const { return read_; }

 private:
  void end_line() {
    if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
    if (too_long_ || partial_.size() > max_line_) {
      ++read_.too_long;
    } else {
      ++read_.lines;
      on_line_(partial_);
    }
    partial_.clear();
    too_long_ = false;
  }

  std::size_t max_line_;
  const std::function<void(std::string_view)>& on_line_;
  std::string partial_;
  bool too_long_ = false;
  LinesRead read_;
};

bool ends_with_gz(const std::string& path) { return path.size() >= 3 && path.compare(path.size() - 3, 3, ".gz") == 0; }

}  // namespace

Result<LinesRead> for_each_line(const std::string& path, std::size_t max_line,
                                const std::function<void(std::string_view)>& on_line) {
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) return make_error(path + ": " + std::strerror(errno), ErrorKind::kNotFound);
  LineSplitter lines(max_line, on_line);
  const bool gzip = ends_with_gz(path);
  Gunzip gunzip;
  const Gunzip::Sink to_lines = [&](std::string_view bytes) { lines.push(bytes); };
  std::string buffer(Gunzip::kPiece, '\0');
  for (;;) {
    const std::size_t n = std::fread(buffer.data(), 1, buffer.size(), file.get());
    const std::string_view got(buffer.data(), n);
    if (gzip) {
      auto fed = gunzip.feed(got, to_lines);
      if (!fed) return make_error(path + ": " + fed.message());
    } else {
      lines.push(got);
    }
    if (n < buffer.size()) break;
  }
  if (std::ferror(file.get()) != 0) return make_error(path + ": read failed: " + std::strerror(errno));
  if (gzip && !gunzip.complete()) return make_error(path + ": not gzip: cut short (unexpected end of file)");
  lines.finish();
  return lines.read();
}

}  // namespace signgate
