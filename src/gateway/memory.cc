#include "gateway/memory.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>

#include "gateway/fleet.h"

namespace signgate::gateway {

namespace asio = boost::asio;
using nlohmann::json;

asio::awaitable<Result<bool>> Memory::recall(const std::string&, const Wanted&, std::size_t, Recalled&) {
  co_return true;  // nothing is held anywhere else
}

asio::awaitable<void> Memory::keep_response(const std::string& client, const std::string& id,
                                            const std::string& previous_id, const json& items,
                                            const std::vector<std::string>& item_ids) {
  responses_.put(client, id, previous_id, items, item_ids);
  co_return;
}

asio::awaitable<void> Memory::record_invocation(const std::string& client, const std::string& arn) {
  invocations_.record(arn, client);
  co_return;
}

asio::awaitable<Result<std::vector<bool>>> Memory::owns(const std::string& client,
                                                        const std::vector<std::string>& arns) {
  co_return owned_here(client, arns);
}

std::vector<bool> Memory::owned_here(const std::string& client, const std::vector<std::string>& arns) const {
  std::vector<bool> out;
  out.reserve(arns.size());
  for (const auto& arn : arns) out.push_back(invocations_.owner(arn) == client);
  return out;
}

namespace {

// How many invocations the fleet remembers per client; older ones are forgotten.
constexpr std::size_t kInvocationsPerClient = 100'000;
// How many responses a conversation may chain through (as ResponseStore).
constexpr std::size_t kMaxChain = 10'000;

// Every key of a client's carries `{client}`: one shard of a Redis Cluster holds them all,
// so the scripts below, which reach keys named from their arguments, stay on it.
std::string prefix(std::string_view client) {
  std::string p = "signgate:{";
  p.append(client).append("}:");
  return p;
}

// Keeps a response. KEYS: the client's index of responses (id → expiry ms) and their sizes
// (id → bytes; "" → the total). ARGV: key prefix, id, previous id, the items (a JSON array),
// TTL ms, the client's share in bytes, then pairs of item id and index. A response keeps its
// hash P..r:ID {p, i, k (its item ids)} and each named item P..i:ITEM → "ID\nINDEX". Expired
// responses leave the index first, then the oldest until the new one fits the share. Returns
// 1, or 0 when the response alone is larger than the share.
constexpr const char* kKeepLua = R"lua(
local p, id, prev, blob = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ttl, share = tonumber(ARGV[5]), tonumber(ARGV[6])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function forget(m)
  local n = tonumber(redis.call('HGET', KEYS[2], m) or '0')
  redis.call('HDEL', KEYS[2], m)
  redis.call('HINCRBY', KEYS[2], '', -n)
  local r = p .. 'r:' .. m
  local k = redis.call('HGET', r, 'k')
  if k then
    for item in string.gmatch(k, '[^\n]+') do
      local ik = p .. 'i:' .. item
      local ref = redis.call('GET', ik)
      if ref and string.sub(ref, 1, #m + 1) == m .. '\n' then redis.call('DEL', ik) end
    end
  end
  redis.call('DEL', r)
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1000)
for _, m in ipairs(expired) do
  forget(m)
  redis.call('ZREM', KEYS[1], m)
end
local size = #id + #prev + #blob + 160
for i = 7, #ARGV, 2 do size = size + #ARGV[i] + 64 end
if size > share then return 0 end
if redis.call('ZSCORE', KEYS[1], id) then
  forget(id)
  redis.call('ZREM', KEYS[1], id)
end
local total = tonumber(redis.call('HGET', KEYS[2], '') or '0')
while total + size > share do
  local oldest = redis.call('ZPOPMIN', KEYS[1])
  if #oldest == 0 then break end
  forget(oldest[1])
  total = tonumber(redis.call('HGET', KEYS[2], '') or '0')
end
local names = {}
for i = 7, #ARGV, 2 do
  names[#names + 1] = ARGV[i]
  redis.call('SET', p .. 'i:' .. ARGV[i], id .. '\n' .. ARGV[i + 1], 'PX', ttl)
end
local r = p .. 'r:' .. id
redis.call('HSET', r, 'p', prev, 'i', blob, 'k', table.concat(names, '\n'))
redis.call('PEXPIRE', r, ttl)
redis.call('ZADD', KEYS[1], now + ttl, id)
redis.call('HSET', KEYS[2], id, size)
redis.call('HINCRBY', KEYS[2], '', size)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return 1
)lua";

// Reads conversations and items. KEYS: the client's index (for a cluster's routing). ARGV: key
// prefix, the most bytes a conversation may hold, the longest chain, the number of
// conversations, their response ids, then item ids. Returns one element per conversation:
// its responses' items newest first, or 1 (not known), 2 (an earlier response is no longer
// kept), 3 (longer than allowed); then one per item: {items of its response, its index} or nil.
constexpr const char* kRecallLua = R"lua(
local p = ARGV[1]
local max_bytes, max_chain, n = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
for c = 1, n do
  local id = ARGV[4 + c]
  local blobs, total, nxt, verdict = {}, 0, id, 0
  while nxt ~= nil and nxt ~= '' do
    local h = redis.call('HMGET', p .. 'r:' .. nxt, 'p', 'i')
    if not h[2] then
      if nxt == id then verdict = 1 else verdict = 2 end
      break
    end
    total = total + #h[2]
    if total > max_bytes or #blobs >= max_chain then
      verdict = 3
      break
    end
    blobs[#blobs + 1] = h[2]
    nxt = h[1]
  end
  if verdict == 0 then out[#out + 1] = blobs else out[#out + 1] = verdict end
end
for i = 5 + n, #ARGV do
  local found = false
  local ref = redis.call('GET', p .. 'i:' .. ARGV[i])
  if ref then
    local rid, index = string.match(ref, '^(.*)\n(%d+)$')
    if rid then
      local blob = redis.call('HGET', p .. 'r:' .. rid, 'i')
      if blob then found = {blob, tonumber(index)} end
    end
  end
  out[#out + 1] = found
end
return out
)lua";

// Notes an invocation. KEYS: the client's invocations (arn → start time). ARGV: the arn, how
// many to remember.
constexpr const char* kRecordLua = R"lua(
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], tonumber(t[1]), ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[2]) + 1))
return 1
)lua";

const store::RedisScript& keep_script() {
  static const store::RedisScript script(kKeepLua);
  return script;
}
const store::RedisScript& recall_script() {
  static const store::RedisScript script(kRecallLua);
  return script;
}
const store::RedisScript& record_script() {
  static const store::RedisScript script(kRecordLua);
  return script;
}

json parse_items(const std::string& blob) {
  json items = json::parse(blob, nullptr, false);
  return items.is_array() ? items : json::array();
}

class RedisMemory final : public Memory {
 public:
  RedisMemory(std::shared_ptr<store::Redis> redis, ResponseStore& responses, AsyncInvocations& invocations,
              std::shared_ptr<FleetStats> stats)
      : Memory(responses, invocations), redis_(std::move(redis)), stats_(std::move(stats)) {}

  bool shared() const override { return true; }

  asio::awaitable<Result<bool>> recall(const std::string& client, const Wanted& wanted, std::size_t max_bytes,
                                       Recalled& into) override {
    if (wanted.empty()) co_return true;
    const std::string p = prefix(client);
    std::vector<std::string> keys = {p + "responses"};
    std::vector<std::string> args = {p, std::to_string(max_bytes), std::to_string(kMaxChain),
                                     std::to_string(wanted.conversations.size())};
    args.insert(args.end(), wanted.conversations.begin(), wanted.conversations.end());
    args.insert(args.end(), wanted.items.begin(), wanted.items.end());
    auto reply = co_await redis_->eval(recall_script(), std::move(keys), std::move(args));
    const std::size_t expected = wanted.conversations.size() + wanted.items.size();
    if (!reply || reply->type != store::Reply::Type::kArray || reply->elements.size() != expected) {
      co_return failed("reading stored responses", reply);
    }
    std::size_t at = 0;
    for (const auto& id : wanted.conversations) {
      const store::Reply& r = reply->elements[at++];
      if (r.type == store::Reply::Type::kArray) {
        json items = json::array();
        for (auto blob = r.elements.rbegin(); blob != r.elements.rend(); ++blob) {
          for (auto& item : parse_items(blob->str)) items.push_back(std::move(item));
        }
        into.conversations[id] = std::move(items);
      } else {
        into.conversations[id] = std::string(
            r.integer == 1   ? "previous response is not known (or expired)"
            : r.integer == 2 ? "a response earlier in this conversation is no longer kept"
                             : "the conversation behind this previous response is longer than signgate replays");
      }
    }
    for (const auto& id : wanted.items) {
      const store::Reply& r = reply->elements[at++];
      std::optional<json> item;
      if (r.type == store::Reply::Type::kArray && r.elements.size() == 2) {
        json items = parse_items(r.elements[0].str);
        const auto index = static_cast<std::size_t>(std::max<long long>(0, r.elements[1].integer));
        if (index < items.size()) item = std::move(items[index]);
      }
      into.items[id] = std::move(item);
    }
    co_return true;
  }

  asio::awaitable<void> keep_response(const std::string& client, const std::string& id, const std::string& previous_id,
                                      const json& items, const std::vector<std::string>& item_ids) override {
    responses().put(client, id, previous_id, items, item_ids);
    const config::ResponsesConfig limits = responses().limits();
    if (!limits.store) co_return;
    const std::string p = prefix(client);
    std::vector<std::string> keys = {p + "responses", p + "response_bytes"};
    std::vector<std::string> args = {
        p,
        id,
        previous_id,
        items.dump(-1, ' ', false, json::error_handler_t::replace),
        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(limits.ttl).count()),
        std::to_string(limits.max_bytes_per_client)};
    for (const auto& item_id : item_ids) {
      if (item_id.empty() || item_id.find('\n') != std::string::npos) continue;
      for (std::size_t i = 0; i < items.size(); ++i) {
        const json& item = items[i];
        if (item.is_object() && item.contains("id") && item["id"] == item_id) {
          args.push_back(item_id);
          args.push_back(std::to_string(i));
          break;
        }
      }
    }
    auto reply = co_await redis_->eval(keep_script(), std::move(keys), std::move(args));
    if (!reply || reply->is_error()) (void)failed("keeping response " + id + " (this replica still holds it)", reply);
  }

  asio::awaitable<void> record_invocation(const std::string& client, const std::string& arn) override {
    invocations().record(arn, client);
    std::vector<std::string> keys = {prefix(client) + "invocations"};
    std::vector<std::string> args = {arn, std::to_string(kInvocationsPerClient)};
    auto reply = co_await redis_->eval(record_script(), std::move(keys), std::move(args));
    if (!reply || reply->is_error()) {
      (void)failed("recording an asynchronous invocation (only this replica knows it)", reply);
    }
  }

  asio::awaitable<Result<std::vector<bool>>> owns(const std::string& client,
                                                  const std::vector<std::string>& arns) override {
    std::vector<bool> out = owned_here(client, arns);
    std::vector<std::string> command = {"ZMSCORE", prefix(client) + "invocations"};
    std::vector<std::size_t> asked;
    for (std::size_t i = 0; i < arns.size(); ++i) {
      if (out[i]) continue;
      command.push_back(arns[i]);
      asked.push_back(i);
    }
    if (asked.empty()) co_return out;
    auto reply = co_await redis_->command(std::move(command));
    if (!reply || reply->type != store::Reply::Type::kArray || reply->elements.size() != asked.size()) {
      co_return failed("reading who started asynchronous invocations", reply);
    }
    for (std::size_t j = 0; j < asked.size(); ++j) {
      out[asked[j]] = reply->elements[j].type != store::Reply::Type::kNil;
    }
    co_return out;
  }

 private:
  // Counts and logs (at most every 10 s) a command Redis did not answer as expected.
  Error failed(const std::string& what, const Result<store::Reply>& reply) {
    ++stats_->redis_failures;
    const std::string why =
        !reply ? reply.message() : (reply->is_error() ? reply->str : std::string("an unexpected reply"));
    static std::atomic<std::int64_t> last_logged{0};
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
    if (std::int64_t seen = last_logged.load(); now - seen >= 10 && last_logged.compare_exchange_strong(seen, now)) {
      spdlog::warn("redis: {}: {}", what, why);
    }
    return make_error("signgate's shared store did not answer: " + why, ErrorKind::kUnreachable);
  }

  std::shared_ptr<store::Redis> redis_;
  std::shared_ptr<FleetStats> stats_;
};

}  // namespace

std::unique_ptr<Memory> local_memory(ResponseStore& responses, AsyncInvocations& invocations) {
  return std::make_unique<Memory>(responses, invocations);
}

std::unique_ptr<Memory> redis_memory(std::shared_ptr<store::Redis> redis, ResponseStore& responses,
                                     AsyncInvocations& invocations, std::shared_ptr<FleetStats> stats) {
  return std::make_unique<RedisMemory>(std::move(redis), responses, invocations, std::move(stats));
}

}  // namespace signgate::gateway
