#include "store/resp_reader.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <memory>

namespace signgate::store {

namespace {

// hiredis's reply reader, building our Reply directly (no redisReply tree to copy). An array
// may announce any number of elements before sending them: a reply is refused once its arrays
// announce more than kMaxReplyElements in all, before anything is allocated for them.
Reply* place(const redisReadTask* task, Reply::Type type) {
  Reply* r = nullptr;
  if (task->parent != nullptr) {
    auto* parent = static_cast<Reply*>(task->parent->obj);
    r = &parent->elements[static_cast<std::size_t>(task->idx)];
  } else {
    r = new Reply();  // NOLINT(cppcoreguidelines-owning-memory): hiredis owns it until next()
  }
  r->type = type;
  return r;
}

void* create_string(const redisReadTask* task, char* data, std::size_t len) {
  const Reply::Type type = task->type == REDIS_REPLY_ERROR    ? Reply::Type::kError
                           : task->type == REDIS_REPLY_STATUS ? Reply::Type::kStatus
                                                              : Reply::Type::kString;
  Reply* r = place(task, type);
  r->str.assign(data, len);
  return r;
}

void* create_array(const redisReadTask* task, int elements) {
  auto* build = static_cast<RespReader::Build*>(task->privdata);
  const auto n = static_cast<std::size_t>(std::max(elements, 0));
  if (build == nullptr) return nullptr;
  if (n > kMaxReplyElements - build->elements) {
    build->too_many = true;
    return nullptr;  // hiredis's reader fails with "Out of memory"
  }
  build->elements += n;
  Reply* r = place(task, Reply::Type::kArray);
  r->elements.resize(n);
  return r;
}

void* create_integer(const redisReadTask* task, long long value) {
  Reply* r = place(task, Reply::Type::kInteger);
  r->integer = value;
  return r;
}

void* create_nil(const redisReadTask* task) { return place(task, Reply::Type::kNil); }

// Only a whole reply (the root) is ever freed: its elements are inside it.
void free_reply(void* reply) { delete static_cast<Reply*>(reply); }  // NOLINT(cppcoreguidelines-owning-memory)

redisReplyObjectFunctions kReplyFunctions = {create_string, create_array, create_integer, create_nil, free_reply};

}  // namespace

RespReader::RespReader() : r_(redisReaderCreateWithFunctions(&kReplyFunctions)) {
  if (r_ != nullptr) r_->privdata = &build_;
}

RespReader::~RespReader() {
  if (r_ != nullptr) redisReaderFree(r_);
}

bool RespReader::feed(const char* data, std::size_t n) {
  return r_ != nullptr && redisReaderFeed(r_, data, n) == REDIS_OK;
}

std::size_t RespReader::buffered() const { return r_ == nullptr ? 0 : r_->len - r_->pos; }

std::optional<Reply> RespReader::next(std::string* error) {
  void* raw = nullptr;
  if (r_ == nullptr || redisReaderGetReply(r_, &raw) != REDIS_OK) {
    *error = r_ != nullptr && r_->errstr[0] != '\0' ? r_->errstr : "unreadable reply";
    if (build_.too_many) *error = "a reply of more than " + std::to_string(kMaxReplyElements) + " elements";
    return std::nullopt;
  }
  if (raw == nullptr) return std::nullopt;
  build_.elements = 0;
  std::unique_ptr<Reply> owned(static_cast<Reply*>(raw));
  return std::move(*owned);
}

std::optional<Reply> read_one_reply(std::string_view bytes) {
  RespReader reader;
  if (!reader.feed(bytes.data(), bytes.size())) return std::nullopt;
  std::string error;
  return reader.next(&error);
}

}  // namespace signgate::store
