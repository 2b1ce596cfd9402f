#include "gateway/response_store.h"

namespace signgate::gateway {

namespace {
// How many responses a conversation may chain through before it is refused.
constexpr std::size_t kMaxChain = 10'000;
}  // namespace

void ResponseStore::set_limits(const config::ResponsesConfig& limits) {
  std::lock_guard lock(mutex_);
  limits_ = limits;
}

std::size_t ResponseStore::cost(const std::string& id, const Entry& e) {
  std::size_t n = 2 * id.size() + e.client.size() + e.previous_id.size() + e.items.size() + 160;
  for (const auto& i : e.item_ids) n += 2 * i.size() + 64;
  return n;
}

void ResponseStore::put(const std::string& client, const std::string& id, const std::string& previous_id,
                        std::string items, const std::vector<std::string>& item_ids, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (!limits_.store) return;
  if (entries_.count(id) != 0) erase(id);
  Entry e{client, previous_id, std::move(items), item_ids, now + limits_.ttl, {}, {}};
  const std::size_t n = cost(id, e);
  if (n > limits_.max_bytes_per_client) return;  // would evict everything and still not fit
  ClientShare& share = by_client_[client];
  e.in_all = order_.insert(order_.end(), id);
  e.in_client = share.order.insert(share.order.end(), id);
  for (const auto& item : item_ids) item_owner_[item] = id;
  entries_.emplace(id, std::move(e));
  share.bytes += n;
  bytes_ += n;
  evict(now, client);
}

void ResponseStore::erase(const std::string& id) {
  const auto it = entries_.find(id);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  const std::size_t n = cost(id, e);
  for (const auto& item : e.item_ids) {
    const auto owner = item_owner_.find(item);
    if (owner != item_owner_.end() && owner->second == id) item_owner_.erase(owner);
  }
  auto share = by_client_.find(e.client);
  if (share != by_client_.end()) {
    share->second.order.erase(e.in_client);
    share->second.bytes -= n;
    if (share->second.order.empty()) by_client_.erase(share);
  }
  order_.erase(e.in_all);
  bytes_ -= n;
  entries_.erase(it);
}

void ResponseStore::evict(Clock::time_point now, const std::string& client) {
  // Expired entries first (the oldest are at the front: one TTL for all), then the share.
  while (!order_.empty() && entries_.at(order_.front()).expires <= now) erase(std::string(order_.front()));
  for (auto share = by_client_.find(client);
       share != by_client_.end() && share->second.bytes > limits_.max_bytes_per_client;
       share = by_client_.find(client)) {
    erase(std::string(share->second.order.front()));
  }
  while (bytes_ > limits_.max_bytes && !order_.empty()) erase(std::string(order_.front()));
}

const ResponseStore::Entry* ResponseStore::live(std::string_view client, std::string_view id,
                                                Clock::time_point now) const {
  const auto it = entries_.find(std::string(id));
  if (it == entries_.end() || it->second.expires <= now || it->second.client != client) return nullptr;
  return &it->second;
}

Result<nlohmann::json> ResponseStore::conversation(std::string_view client, std::string_view id, std::size_t max_bytes,
                                                   Clock::time_point now) const {
  std::vector<std::string> pieces;  // newest first
  {
    std::lock_guard lock(mutex_);
    std::size_t total = 0;
    std::string next(id);
    while (!next.empty()) {
      const Entry* e = live(client, next, now);
      if (e == nullptr) {
        // Another client's response is as unknown as one that never was.
        if (next == id) return make_error("previous response '" + std::string(id) + "' is not known (or expired)");
        return make_error("response '" + next + "', earlier in this conversation, is no longer kept");
      }
      total += e->items.size();
      if (total > max_bytes || pieces.size() >= kMaxChain) {
        return make_error("the conversation behind '" + std::string(id) + "' is longer than signgate replays");
      }
      pieces.push_back(e->items);
      next = e->previous_id;
    }
  }
  nlohmann::json out = nlohmann::json::array();
  for (auto p = pieces.rbegin(); p != pieces.rend(); ++p) {
    nlohmann::json items = nlohmann::json::parse(*p, nullptr, false);
    if (!items.is_array()) continue;
    for (auto& item : items) out.push_back(std::move(item));
  }
  return out;
}

std::optional<nlohmann::json> ResponseStore::item(std::string_view client, std::string_view item_id,
                                                  Clock::time_point now) const {
  std::string items;
  {
    std::lock_guard lock(mutex_);
    const auto owner = item_owner_.find(std::string(item_id));
    if (owner == item_owner_.end()) return std::nullopt;
    const Entry* e = live(client, owner->second, now);
    if (e == nullptr) return std::nullopt;
    items = e->items;
  }
  nlohmann::json all = nlohmann::json::parse(items, nullptr, false);
  if (!all.is_array()) return std::nullopt;
  for (auto& i : all) {
    if (i.is_object() && i.contains("id") && i["id"] == item_id) return std::move(i);
  }
  return std::nullopt;
}

std::size_t ResponseStore::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

std::size_t ResponseStore::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

}  // namespace signgate::gateway
