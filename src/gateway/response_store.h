// The Responses API's memory: what a stored response said (its input items and its output
// items), so that a later request may continue it with previous_response_id or point at one
// of its items with item_reference. Only the client that made a response can read it.
// In memory and bounded: entries expire after a TTL, and the oldest go first when all
// clients together, or one client alone, hold more than their share. Thread-safe; shared by
// every event loop. This is one replica's copy: with redis:, the fleet's is behind it
// (memory.h). Turning the store off forgets everything kept.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/result.h"
#include "config/config.h"

namespace signgate::gateway {

class ResponseStore {
 public:
  using Clock = std::chrono::steady_clock;

  // How many responses a conversation may chain through before it is refused.
  static constexpr std::size_t kMaxChain = 10'000;
  // Why a conversation cannot be replayed (the fleet's store says the same).
  static constexpr std::string_view kUnknown = "previous response is not known (or expired)";
  static constexpr std::string_view kGone = "a response earlier in this conversation is no longer kept";
  static constexpr std::string_view kTooLong =
      "the conversation behind this previous response is longer than signgate replays";

  // Each of `item_ids` (empty ones skipped) with the index of the first of `items` that has it
  // as its "id": the items item_reference may name.
  static std::vector<std::pair<std::string, std::size_t>> named_items(const nlohmann::json& items,
                                                                      const std::vector<std::string>& item_ids);

  explicit ResponseStore(config::ResponsesConfig limits = {}) : limits_(limits) {}

  // Takes the limits of a new configuration; the next put() applies them.
  void set_limits(const config::ResponsesConfig& limits);
  config::ResponsesConfig limits() const;

  // Keeps response `id` of `client`: it continued `previous_id` (may be empty) and its
  // `items` are a JSON array of the request's input items then its output items.
  // `item_ids` are the ids of those items that item_reference may name.
  void put(const std::string& client, const std::string& id, const std::string& previous_id,
           const nlohmann::json& items, const std::vector<std::string>& item_ids, Clock::time_point now = Clock::now());

  // Every item of the conversation that led to response `id` and its answer, oldest first;
  // an error saying why not (unknown, expired, another client's, longer than `max_bytes`).
  // When a response of the chain is not held (kNotFound), `missing` (if given) names it.
  Result<nlohmann::json> conversation(std::string_view client, std::string_view id, std::size_t max_bytes,
                                      Clock::time_point now = Clock::now(), std::string* missing = nullptr) const;

  // One stored item by its id, if `client` made it and it has not expired.
  std::optional<nlohmann::json> item(std::string_view client, std::string_view item_id,
                                     Clock::time_point now = Clock::now()) const;

  // The ids of `client`'s `n` newest unexpired responses this store holds, newest first.
  std::vector<std::string> recent(std::string_view client, std::size_t n) const;

  std::size_t size() const;  // responses kept
  std::size_t bytes() const;

 private:
  struct Entry {
    std::string client;
    std::string previous_id;
    std::vector<std::string> items;      // each item serialised on its own
    std::vector<std::string> item_keys;  // "client\nitem id" of the items item_reference may name
    Clock::time_point expires;
    std::list<std::string>::iterator in_all;     // position in order_
    std::list<std::string>::iterator in_client;  // position in by_client_[client].order
  };
  struct ClientShare {
    std::list<std::string> order;  // oldest first
    std::size_t bytes = 0;
  };
  static std::size_t cost(const std::string& id, const Entry& e);
  const Entry* live(std::string_view client, std::string_view id, Clock::time_point now) const;
  void erase(const std::string& id);
  void evict(Clock::time_point now, const std::string& client);

  config::ResponsesConfig limits_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  // "client\nitem id" → the response and the index of the item in it: one client's ids never
  // shadow another's.
  std::unordered_map<std::string, std::pair<std::string, std::size_t>> item_owner_;
  std::list<std::string> order_;  // every response, oldest first
  std::unordered_map<std::string, ClientShare> by_client_;
  std::size_t bytes_ = 0;
};

}  // namespace signgate::gateway
