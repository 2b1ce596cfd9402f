#include "common/gunzip.h"

#include <gtest/gtest.h>
#include <libdeflate.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/line_reader.h"

namespace signgate {
namespace {

std::string le32(std::uint32_t v) {
  return {static_cast<char>(v & 0xff), static_cast<char>((v >> 8) & 0xff), static_cast<char>((v >> 16) & 0xff),
          static_cast<char>((v >> 24) & 0xff)};
}

std::string deflate(const std::string& plain) {
  libdeflate_compressor* c = libdeflate_alloc_compressor(6);
  std::string out(libdeflate_deflate_compress_bound(c, plain.size()), '\0');
  out.resize(libdeflate_deflate_compress(c, plain.data(), plain.size(), out.data(), out.size()));
  libdeflate_free_compressor(c);
  return out;
}

// One gzip member; `fancy` sets every optional header field (extra, name, comment, header CRC).
std::string gzip_member(const std::string& plain, bool fancy = false) {
  std::string header = {'\x1f', '\x8b', 8, static_cast<char>(fancy ? 0x1e : 0), 0, 0, 0, 0, 0, 3};
  if (fancy)
    header += std::string(
                  "\x04\x00"
                  "abcd",
                  6) +
              std::string("audit.jsonl\0", 12) + std::string("hi\0", 3) + "zz";
  return header + deflate(plain) + le32(libdeflate_crc32(0, plain.data(), plain.size())) +
         le32(static_cast<std::uint32_t>(plain.size()));
}

std::string audit_like_line(std::size_t i) {
  return R"({"ts":"2026-12-0)" + std::to_string(1 + i % 9) + R"(T10:00:00Z","client":"c)" + std::to_string(i % 7) +
         R"(","input_tokens":)" + std::to_string(i * 31 % 1000) + "}";
}

std::string audit_like_text(std::size_t lines) {
  std::string text;
  for (std::size_t i = 0; i < lines; ++i) text += audit_like_line(i) + "\n";
  return text;
}

// Decodes `gz` handed over `piece` bytes at a time.
Result<std::string> gunzip_in_pieces(const std::string& gz, std::size_t piece, Gunzip& g) {
  std::string out;
  for (std::size_t at = 0; at < gz.size(); at += piece) {
    auto fed = g.feed(std::string_view(gz).substr(at, piece), [&](std::string_view b) { out.append(b); });
    if (!fed) return fed.error();
  }
  return out;
}

// A rotated audit file, however the reads split it (one byte at a time included), decodes to
// its text, and output comes in pieces no larger than kPiece.
TEST(Gunzip, DecodesAMemberWhateverThePieces) {
  const std::string plain = audit_like_text(20000);
  const std::string gz = gzip_member(plain);
  for (const std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{4096}, gz.size()}) {
    Gunzip g;
    std::size_t largest = 0;
    std::string out;
    for (std::size_t at = 0; at < gz.size(); at += piece) {
      auto fed = g.feed(std::string_view(gz).substr(at, piece), [&](std::string_view b) {
        largest = std::max(largest, b.size());
        out.append(b);
      });
      ASSERT_TRUE(fed) << fed.message();
    }
    EXPECT_EQ(out, plain) << piece;
    EXPECT_LE(largest, Gunzip::kPiece);
    EXPECT_TRUE(g.complete());
    EXPECT_EQ(g.members(), 1u);
  }
}

// `cat a.gz b.gz` (and headers with every optional field) is one stream of both texts.
TEST(Gunzip, MembersFollowEachOther) {
  const std::string gz = gzip_member("first\n") + gzip_member("second\nthird\n", true) + gzip_member("");
  Gunzip g;
  auto out = gunzip_in_pieces(gz, 3, g);
  ASSERT_TRUE(out) << out.message();
  EXPECT_EQ(*out, "first\nsecond\nthird\n");
  EXPECT_EQ(g.members(), 3u);
  EXPECT_TRUE(g.complete());
}

// A file cut short is not complete; nothing at all is (no members, nothing missing).
TEST(Gunzip, CutShortIsNotComplete) {
  const std::string gz = gzip_member(audit_like_text(100));
  for (const std::size_t cut : {std::size_t{3}, std::size_t{12}, gz.size() / 2, gz.size() - 1}) {
    Gunzip g;
    ASSERT_TRUE(gunzip_in_pieces(gz.substr(0, cut), 5, g));
    EXPECT_FALSE(g.complete()) << cut;
  }
  Gunzip empty;
  EXPECT_TRUE(empty.complete());
  EXPECT_EQ(empty.members(), 0u);
}

// Corruption is an error naming what is wrong, and stays one.
TEST(Gunzip, RefusesWhatIsNotGzip) {
  std::string gz = gzip_member("hello\n");
  std::string bad_crc = gz;
  bad_crc[bad_crc.size() - 8] ^= 1;
  std::string bad_size = gz;
  bad_size[bad_size.size() - 1] ^= 1;
  const std::pair<std::string, std::string> cases[] = {{"plain text\n", "bad member header"},
                                                       {bad_crc, "CRC-32 mismatch"},
                                                       {bad_size, "length mismatch"},
                                                       {gz + "trailing garbage", "bad member header"},
                                                       {gz.substr(0, 10) + "\xff\xff\xff\xff", "bad deflate data"}};
  for (const auto& [input, why] : cases) {
    Gunzip g;
    auto out = gunzip_in_pieces(input, input.size(), g);
    ASSERT_FALSE(out) << why;
    EXPECT_NE(out.message().find(why), std::string::npos) << out.message();
    EXPECT_FALSE(g.feed(gz, [](std::string_view) {}));
  }
}

class LineFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("signgate-lines-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& bytes) {
    const auto path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  static Result<LinesRead> lines_of(const std::string& path, std::vector<std::string>& lines, std::size_t max = 100) {
    return for_each_line(path, max, [&](std::string_view l) { lines.emplace_back(l); });
  }
  std::filesystem::path dir_;
};

// Plain and gzipped files give the same lines: CRLF ends a line too, a last line without a
// newline counts, and a line past the limit is skipped and counted.
TEST_F(LineFiles, PlainAndGzipReadAlike) {
  const std::string text = "one\r\ntwo\n" + std::string(150, 'x') + "\n\nlast";
  for (const auto& path : {write("audit.jsonl.1", text),
                           write("audit.jsonl.2.gz", gzip_member(text.substr(0, 9)) + gzip_member(text.substr(9)))}) {
    std::vector<std::string> lines;
    auto read = lines_of(path, lines);
    ASSERT_TRUE(read) << read.message();
    EXPECT_EQ(lines, (std::vector<std::string>{"one", "two", "", "last"})) << path;
    EXPECT_EQ(read->lines, 4u);
    EXPECT_EQ(read->too_long, 1u);
  }
}

// A large file goes through in pieces (its lines cross every read boundary).
TEST_F(LineFiles, LargeGzipFile) {
  const std::string text = audit_like_text(200000);
  std::vector<std::string> lines;
  auto read = lines_of(write("big.gz", gzip_member(text)), lines);
  ASSERT_TRUE(read) << read.message();
  ASSERT_EQ(lines.size(), 200000u);
  EXPECT_EQ(lines[123456], audit_like_line(123456));
}

// A missing file, a .gz that is not gzip and one cut short fail, naming the file.
TEST_F(LineFiles, UnreadableFilesAreErrors) {
  std::vector<std::string> lines;
  const std::string missing = (dir_ / "missing.jsonl").string();
  const std::string not_gzip = write("plain.gz", "{}\n");
  const std::string cut = write("cut.gz", gzip_member("a\nb\n").substr(0, 15));
  for (const auto& path : {missing, not_gzip, cut}) {
    auto read = lines_of(path, lines);
    ASSERT_FALSE(read) << path;
    EXPECT_EQ(read.message().rfind(path + ": ", 0), 0u) << read.message();
  }
}

}  // namespace
}  // namespace signgate
