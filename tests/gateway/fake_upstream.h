// An upstream for in-process tests of the pipeline: answers from a script, remembers each call.
#pragma once

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/upstream.h"

namespace signgate::gateway::testing {

// One scripted answer: a failure of some kind, or a status, headers and body pieces.
struct Scripted {
  std::optional<ErrorKind> failure;
  unsigned status = 200;
  http::HeaderList headers;
  std::vector<std::string> pieces;
  bool break_after_pieces = false;  // the connection breaks once the pieces are read
  bool stall_after_pieces = false;  // then nothing more comes until the reading is aborted
};

struct FakeUpstreamState {
  std::deque<Scripted> script;  // empty: 200 {} as JSON
  std::vector<UpstreamCall> calls;
  std::vector<std::string> access_keys;  // the credentials each call was made with
  std::vector<std::string> regions;      // each call's Destination region (empty: the runtime's)
  std::vector<std::string> endpoints;    // each call's Destination endpoint host (empty: the runtime's)
  std::vector<int> max_retries;          // each call's Destination max_retries (-1: the config's)
};

class FakeReply final : public UpstreamReply {
 public:
  explicit FakeReply(Scripted s) : s_(std::move(s)) {
    head_.status = s_.status;
    head_.headers = s_.headers;
  }
  const http::ResponseHead& head() const override { return head_; }
  boost::asio::awaitable<Result<std::string_view>> read_some() override {
    // Yields, as a socket would: the reader's writes interleave with the reads.
    co_await boost::asio::post(co_await boost::asio::this_coro::executor, boost::asio::use_awaitable);
    if (next_ < s_.pieces.size()) co_return std::string_view(s_.pieces[next_++]);
    if (s_.break_after_pieces) co_return make_error("connection reset by peer", ErrorKind::kBroken);
    while (s_.stall_after_pieces && !(abort_ && abort_->fired())) {
      boost::asio::steady_timer tick(co_await boost::asio::this_coro::executor, std::chrono::milliseconds(5));
      co_await tick.async_wait(boost::asio::use_awaitable);
    }
    if (s_.stall_after_pieces) co_return make_error("aborted: " + abort_->reason(), ErrorKind::kBroken);
    done_ = true;
    co_return std::string_view{};
  }
  bool done() const override { return done_; }
  void set_abort(std::shared_ptr<http::AbortSignal> abort) override { abort_ = std::move(abort); }
  // The signal reading answers to now (null: none).
  const std::shared_ptr<http::AbortSignal>& abort() const { return abort_; }

 private:
  Scripted s_;
  std::shared_ptr<http::AbortSignal> abort_;
  http::ResponseHead head_;
  std::size_t next_ = 0;
  bool done_ = false;
};

class FakeUpstream final : public Upstream {
 public:
  explicit FakeUpstream(std::shared_ptr<FakeUpstreamState> state) : state_(std::move(state)) {}

  using Upstream::send;
  boost::asio::awaitable<UpstreamResult> send(const Runtime&, const UpstreamCall& call,
                                              const aws::Credentials& credentials, const Destination& to) override {
    state_->calls.push_back(call);
    if (!to.model.empty()) state_->calls.back().model = std::string(to.model);
    state_->regions.push_back(std::string(to.region));
    state_->endpoints.push_back(to.endpoint != nullptr ? to.endpoint->host_header() : std::string());
    state_->max_retries.push_back(to.max_retries);
    state_->access_keys.push_back(credentials.access_key_id());
    Scripted s;
    if (!state_->script.empty()) {
      s = std::move(state_->script.front());
      state_->script.pop_front();
    } else {
      s.headers = {{"Content-Type", "application/json"}};
      s.pieces = {"{}"};
    }
    UpstreamResult out;
    if (s.failure) {
      out.failure = make_error("scripted failure", *s.failure);
      co_return out;
    }
    out.facts.status = s.status;
    auto reply = std::make_unique<FakeReply>(std::move(s));
    out.facts.request_id = std::string(reply->head().header("x-amzn-RequestId"));
    out.facts.error_type = reply->status() >= 400 ? std::string(reply->head().header("x-amzn-ErrorType")) : "";
    out.reply = std::move(reply);
    co_return out;
  }

 private:
  std::shared_ptr<FakeUpstreamState> state_;
};

}  // namespace signgate::gateway::testing
