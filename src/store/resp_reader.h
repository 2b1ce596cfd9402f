// hiredis's RESP reply reader, building our Reply directly (no redisReply tree to copy): feed
// bytes, take whole replies. An array may announce any number of elements before sending
// them: a reply is refused once its arrays announce more than kMaxReplyElements in all, before
// anything is allocated for them. No I/O: the connections (redis_node.h) feed it.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "store/redis.h"

struct redisReader;

namespace signgate::store {

inline constexpr std::size_t kMaxReplyElements = 1u << 18;

class RespReader {
 public:
  RespReader();
  ~RespReader();
  RespReader(const RespReader&) = delete;
  RespReader& operator=(const RespReader&) = delete;

  // False when the reader could not take the bytes (out of memory).
  bool feed(const char* data, std::size_t n);
  // Bytes fed and not yet made into replies.
  std::size_t buffered() const;
  // A reply, nothing yet (nullopt and no error), or a protocol error (nullopt and `error`).
  std::optional<Reply> next(std::string* error);

  // What the reader's callbacks count for the reply being read.
  struct Build {
    std::size_t elements = 0;  // announced so far by the reply being read
    bool too_many = false;
  };

 private:
  Build build_;
  redisReader* r_;
};

// One RESP reply read from `bytes` (for the fuzz target and tests): nullopt when the bytes
// hold no whole reply or a malformed one.
std::optional<Reply> read_one_reply(std::string_view bytes);

}  // namespace signgate::store
