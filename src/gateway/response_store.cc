#include "gateway/response_store.h"

#include <algorithm>

#include "api/json_depth.h"

namespace signgate::gateway {

namespace {
std::string item_key(std::string_view client, std::string_view item_id) {
  std::string key(client);
  key += '\n';
  key += item_id;
  return key;
}
}  // namespace

std::vector<std::pair<std::string, std::size_t>> ResponseStore::named_items(const nlohmann::json& items,
                                                                            const std::vector<std::string>& item_ids) {
  std::vector<std::pair<std::string, std::size_t>> out;
  if (!items.is_array()) return out;
  for (const auto& item_id : item_ids) {
    if (item_id.empty()) continue;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const auto& item = items[i];
      if (item.is_object() && item.contains("id") && item["id"] == item_id) {
        out.emplace_back(item_id, i);
        break;
      }
    }
  }
  return out;
}

void ResponseStore::set_limits(const config::ResponsesConfig& limits) {
  std::lock_guard lock(mutex_);
  limits_ = limits;
  if (!limits_.store) {
    while (!order_.empty()) erase(std::string(order_.front()));
  }
}

config::ResponsesConfig ResponseStore::limits() const {
  std::lock_guard lock(mutex_);
  return limits_;
}

std::size_t ResponseStore::cost(const std::string& id, const Entry& e) {
  std::size_t n = 2 * id.size() + e.client.size() + e.previous_id.size() + 160;
  for (const auto& i : e.items) n += i.size() + 32;
  for (const auto& k : e.item_keys) n += 2 * k.size() + 64;
  return n;
}

void ResponseStore::put(const std::string& client, const std::string& id, const std::string& previous_id,
                        const nlohmann::json& items, const std::vector<std::string>& item_ids, Clock::time_point now) {
  Entry e;
  e.client = client;
  e.previous_id = previous_id;
  if (items.is_array()) {
    for (const auto& item : items) e.items.push_back(api::dump_json(item));
  }
  std::vector<std::pair<std::string, std::size_t>> keys;  // item key → index
  for (const auto& [item_id, index] : named_items(items, item_ids)) {
    keys.emplace_back(item_key(client, item_id), index);
    e.item_keys.push_back(keys.back().first);
  }
  std::lock_guard lock(mutex_);
  if (!limits_.store) return;
  if (entries_.count(id) != 0) erase(id);
  e.expires = now + limits_.ttl;
  const std::size_t n = cost(id, e);
  if (n > limits_.max_bytes_per_client) return;  // would evict everything and still not fit
  ClientShare& share = by_client_[client];
  e.in_all = order_.insert(order_.end(), id);
  e.in_client = share.order.insert(share.order.end(), id);
  for (auto& [key, index] : keys) item_owner_[key] = {id, index};
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
  for (const auto& key : e.item_keys) {
    const auto owner = item_owner_.find(key);
    if (owner != item_owner_.end() && owner->second.first == id) item_owner_.erase(owner);
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
  // Over the total: the client holding the most gives up its oldest first, so a few busy
  // clients cannot push everyone else's conversations out.
  while (bytes_ > limits_.max_bytes && !by_client_.empty()) {
    auto largest = std::max_element(by_client_.begin(), by_client_.end(),
                                    [](const auto& a, const auto& b) { return a.second.bytes < b.second.bytes; });
    erase(std::string(largest->second.order.front()));
  }
}

const ResponseStore::Entry* ResponseStore::live(std::string_view client, std::string_view id,
                                                Clock::time_point now) const {
  const auto it = entries_.find(std::string(id));
  if (it == entries_.end() || it->second.expires <= now || it->second.client != client) return nullptr;
  return &it->second;
}

Result<nlohmann::json> ResponseStore::conversation(std::string_view client, std::string_view id, std::size_t max_bytes,
                                                   Clock::time_point now, std::string* missing) const {
  std::vector<std::vector<std::string>> pieces;  // newest first
  {
    std::lock_guard lock(mutex_);
    std::size_t total = 0;
    std::string next(id);
    while (!next.empty()) {
      const Entry* e = live(client, next, now);
      if (e == nullptr) {
        if (missing != nullptr) *missing = next;
        // Another client's response is as unknown as one that never was.
        return make_error(std::string(next == id ? kUnknown : kGone), ErrorKind::kNotFound);
      }
      for (const auto& item : e->items) total += item.size();
      if (total > max_bytes || pieces.size() >= kMaxChain) {
        return make_error(std::string(kTooLong), ErrorKind::kTooLarge);
      }
      pieces.push_back(e->items);
      next = e->previous_id;
    }
  }
  nlohmann::json out = nlohmann::json::array();
  for (auto p = pieces.rbegin(); p != pieces.rend(); ++p) {
    for (const auto& text : *p) {
      nlohmann::json item = nlohmann::json::parse(text, nullptr, false);
      if (!item.is_discarded()) out.push_back(std::move(item));
    }
  }
  return out;
}

std::optional<nlohmann::json> ResponseStore::item(std::string_view client, std::string_view item_id,
                                                  Clock::time_point now) const {
  std::string text;
  {
    std::lock_guard lock(mutex_);
    const auto owner = item_owner_.find(item_key(client, item_id));
    if (owner == item_owner_.end()) return std::nullopt;
    const Entry* e = live(client, owner->second.first, now);
    if (e == nullptr || owner->second.second >= e->items.size()) return std::nullopt;
    text = e->items[owner->second.second];  // only this item is copied under the lock
  }
  nlohmann::json item = nlohmann::json::parse(text, nullptr, false);
  if (item.is_discarded()) return std::nullopt;
  return item;
}

std::vector<std::string> ResponseStore::recent(std::string_view client, std::size_t n) const {
  std::vector<std::string> out;
  std::lock_guard lock(mutex_);
  const auto share = by_client_.find(std::string(client));
  if (share == by_client_.end()) return out;
  const Clock::time_point now = Clock::now();
  for (auto it = share->second.order.rbegin(); it != share->second.order.rend() && out.size() < n; ++it) {
    if (entries_.at(*it).expires > now) out.push_back(*it);
  }
  return out;
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
