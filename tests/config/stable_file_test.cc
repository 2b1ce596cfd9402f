// A reload must see the file its author finished writing, never the prefix it caught.
#include "config/stable_file.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

namespace signgate::config {
namespace {

using std::chrono::milliseconds;

class StableFile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = (std::filesystem::temp_directory_path() / "signgate-stable-XXXXXX").string();
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    dir_ = dir;
    path_ = (dir_ / "signgate.yaml").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void write(const std::string& text, std::ios::openmode mode = std::ios::trunc) const {
    std::ofstream out(path_, std::ios::binary | mode);
    out << text;
  }

  // Options whose sleep runs `step` (the world moving on) instead of sleeping.
  SettleOptions counting(std::function<void(int call)> step) {
    SettleOptions o;
    o.settle = milliseconds(10);
    o.max_wait = milliseconds(100);
    o.sleep = [this, step = std::move(step)](milliseconds) { step(++sleeps_); };
    return o;
  }

  std::filesystem::path dir_;
  std::string path_;
  int sleeps_ = 0;
};

const std::string kFull =
    "aws: { region: us-east-1 }\n"
    "clients:\n"
    "  - name: a\n"
    "    models: [\"*\"]\n"
    "    operations: [converse]\n"
    "    expires_at: 2027-01-01T00:00:00Z\n";

// The common case: nothing is writing, so one settle interval and the file is taken.
TEST_F(StableFile, AnUnchangedFileIsTakenAfterOneSettle) {
  write(kFull);
  auto v = read_stable_file(path_, counting([](int) {}));
  ASSERT_TRUE(v) << v.message();
  EXPECT_EQ(v->text, kFull);
  EXPECT_EQ(v->size, kFull.size());
  EXPECT_NE(v->inode, 0u);
  EXPECT_NE(v->mtime_ns, 0);
  EXPECT_EQ(sleeps_, 1);
}

// `cat > file` caught after its first lines: each look sees more, and only the end is taken.
TEST_F(StableFile, AGrowingFileIsTakenOnlyOnceItStopsGrowing) {
  const std::size_t third = kFull.size() / 3;
  write(kFull.substr(0, third));
  auto v = read_stable_file(path_, counting([&](int call) {
                              if (call == 1) write(kFull.substr(third, third), std::ios::app);
                              if (call == 2) write(kFull.substr(2 * third), std::ios::app);
                            }));
  ASSERT_TRUE(v) << v.message();
  EXPECT_EQ(v->text, kFull);
  EXPECT_EQ(sleeps_, 3);
}

// The same with a real writer racing the reader: the result is the whole file, never a prefix.
TEST_F(StableFile, AWriterThreadStillAppendingIsWaitedFor) {
  std::promise<void> started;
  std::atomic<bool> done{false};
  std::string full;
  for (int i = 0; i < 40; ++i) full += "  - name: client-" + std::to_string(i) + "\n    models: [\"*\"]\n";
  std::thread writer([&] {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    for (std::size_t i = 0; i < full.size(); i += 32) {
      out << full.substr(i, 32) << std::flush;
      if (i == 0) started.set_value();
      std::this_thread::sleep_for(milliseconds(2));
    }
    done = true;
  });
  started.get_future().wait();
  SettleOptions o;
  o.settle = milliseconds(250);  // far above the writer's 2 ms pauses, so a stall cannot pass for the end
  o.max_wait = milliseconds(5000);
  auto v = read_stable_file(path_, o);
  writer.join();
  ASSERT_TRUE(v) << v.message();
  EXPECT_TRUE(done);
  EXPECT_EQ(v->text, full);
}

// A writer that never pauses for a settle interval is refused; the caller keeps its config.
TEST_F(StableFile, AFileThatKeepsChangingIsRefused) {
  write(kFull);
  auto v = read_stable_file(path_, counting([&](int) { write("# more\n", std::ios::app); }));
  ASSERT_FALSE(v);
  EXPECT_NE(v.message().find(path_ + ": still being written after 100 ms"), std::string::npos) << v.message();
  EXPECT_EQ(sleeps_, 10) << "bounded by max_wait / settle";
}

// Same bytes, but the file was replaced (an editor's rename into place): it is read again.
TEST_F(StableFile, ANewInodeIsAChangeEvenWithTheSameBytes) {
  write(kFull);
  auto v = read_stable_file(path_, counting([&](int call) {
                              if (call != 1) return;
                              const std::string tmp = path_ + ".tmp";
                              std::ofstream(tmp, std::ios::binary) << kFull;
                              ASSERT_EQ(std::rename(tmp.c_str(), path_.c_str()), 0);
                            }));
  ASSERT_TRUE(v) << v.message();
  EXPECT_EQ(v->text, kFull);
  EXPECT_EQ(sleeps_, 2);
}

// Same bytes and inode, but a new mtime means someone wrote: it is read again.
TEST_F(StableFile, ANewMtimeIsAChangeEvenWithTheSameBytes) {
  write(kFull);
  auto v = read_stable_file(path_, counting([&](int call) {
                              if (call != 1) return;
                              const timespec times[2] = {{1'600'000'000, 5}, {1'600'000'000, 5}};
                              ASSERT_EQ(::utimensat(AT_FDCWD, path_.c_str(), times, 0), 0);
                            }));
  ASSERT_TRUE(v) << v.message();
  EXPECT_EQ(v->mtime_ns, 1'600'000'000'000'000'005);
  EXPECT_EQ(sleeps_, 2);
}

// Between an editor's unlink and rename the path is missing; once it is back it is read.
TEST_F(StableFile, AFileThatReappearsIsRead) {
  auto v = read_stable_file(path_, counting([&](int call) {
                              if (call == 1) write(kFull);
                            }));
  ASSERT_TRUE(v) << v.message();
  EXPECT_EQ(v->text, kFull);
  EXPECT_EQ(sleeps_, 2);
}

TEST_F(StableFile, AMissingFileIsAnErrorNamingIt) {
  auto v = read_stable_file(path_, counting([](int) {}));
  ASSERT_FALSE(v);
  EXPECT_EQ(v.message(), path_ + ": cannot be read (does the file exist and may signgate read it?)");
}

}  // namespace
}  // namespace signgate::config
