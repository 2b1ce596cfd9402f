// What the gateway remembers between requests: the Responses API's stored responses
// (previous_response_id, item_reference) and who started which asynchronous invocation. Each
// replica keeps its own copy (ResponseStore, AsyncInvocations, shared by its loops); with
// `redis:` the fleet's copy is behind it, so a conversation begun on one replica continues on
// any other and a client reads its invocations wherever it asks.
//
// Stored responses never change once kept, so this replica's copy answers first and Redis is
// asked only for what it does not hold. What is kept goes to both; reading what only Redis
// holds is one round trip (a script walks a conversation's chain there). When Redis does not
// answer, what this replica holds still works and the rest is refused with 503, retryable.
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <boost/asio/awaitable.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"
#include "gateway/async_invocations.h"
#include "gateway/response_store.h"
#include "store/redis.h"

namespace signgate::gateway {

struct FleetStats;

// What a request needs from the shared store that this replica does not hold.
struct Wanted {
  std::string conversation;        // a response id whose chain this replica does not hold whole
  std::vector<std::string> items;  // item ids, each once
  bool empty() const { return conversation.empty() && items.empty(); }
  void add_item(std::string_view id);
};

// What the shared store answered: each conversation's items (oldest first) or why not; each
// item, or nullopt when it holds none by that id.
struct Recalled {
  std::map<std::string, std::variant<nlohmann::json, std::string>, std::less<>> conversations;
  std::map<std::string, std::optional<nlohmann::json>, std::less<>> items;
};

class Memory {
 public:
  Memory(ResponseStore& responses, AsyncInvocations& invocations) : responses_(responses), invocations_(invocations) {}
  virtual ~Memory() = default;
  Memory(const Memory&) = delete;
  Memory& operator=(const Memory&) = delete;

  // This replica's copies.
  ResponseStore& responses() const { return responses_; }
  AsyncInvocations& invocations() const { return invocations_; }

  // Whether other replicas share what is kept: what this replica lacks may be held there.
  virtual bool shared() const { return false; }

  // Fetches `wanted` of `client`'s from the shared store into `into`: of a conversation, only
  // the responses this replica does not hold, which it then holds too. An error (kTooLarge)
  // when what was asked for adds up to more than `max_bytes`, or when the store did not answer.
  virtual boost::asio::awaitable<Result<bool>> recall(const std::string& client, const Wanted& wanted,
                                                      std::size_t max_bytes, Recalled& into);

  // Keeps response `id` of `client` (ResponseStore::put), in the shared store too.
  virtual boost::asio::awaitable<void> keep_response(const std::string& client, const std::string& id,
                                                     const std::string& previous_id, const nlohmann::json& items,
                                                     const std::vector<std::string>& item_ids);

  // Notes that `client` started invocation `arn`, unless another client is known (here or, with
  // the shared store, anywhere in the fleet) to have started it first: then nothing is noted
  // and that client is returned. When the shared store does not answer, this replica alone
  // notes it.
  virtual boost::asio::awaitable<std::optional<std::string>> record_invocation(const std::string& client,
                                                                               const std::string& arn);

  // For each of `arns`, whether `client` started it; an error when the shared store did not
  // answer for those this replica does not know.
  virtual boost::asio::awaitable<Result<std::vector<bool>>> owns(const std::string& client,
                                                                 const std::vector<std::string>& arns);

  // Where the fleet last sent sticky route key `key` (route_runner.h), its hour of life
  // renewed; nullopt when nowhere. Only a shared store knows (shared()); an error when it did
  // not answer or is not shared: the runner then goes by this replica's own table.
  virtual boost::asio::awaitable<Result<std::optional<std::string>>> sticky_target(std::uint64_t key);
  // Notes that sticky `key` now goes to `target`, for an hour unused.
  virtual boost::asio::awaitable<void> keep_sticky(std::uint64_t key, const std::string& target);

 protected:
  // What this replica knows alone (true: `client` started it).
  std::vector<bool> owned_here(const std::string& client, const std::vector<std::string>& arns) const;

 private:
  ResponseStore& responses_;
  AsyncInvocations& invocations_;
};

// This replica's copies only.
std::unique_ptr<Memory> local_memory(ResponseStore& responses, AsyncInvocations& invocations);

// This replica's copies in front of the fleet's, through `redis` (the loop's connection).
std::unique_ptr<Memory> redis_memory(std::shared_ptr<store::Redis> redis, ResponseStore& responses,
                                     AsyncInvocations& invocations, std::shared_ptr<FleetStats> stats);

}  // namespace signgate::gateway
