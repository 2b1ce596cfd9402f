#include "gateway/memory.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "api/json_depth.h"
#include "common/time.h"
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

asio::awaitable<std::optional<std::string>> Memory::record_invocation(const std::string& client,
                                                                      const std::string& arn) {
  std::string owner = invocations_.record(arn, client);
  if (owner == client) co_return std::nullopt;
  co_return owner;
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
// How long the fleet remembers who claimed an invocation's ARN first (signgate:async_owner:ARN).
// It bounds Redis: a second client is handed an ARN only through a repeated clientRequestToken,
// which upstream_request_token already rules out; this claim is the second line.
constexpr std::chrono::seconds kOwnerLifetime = std::chrono::hours(24 * 90);
// A stored response with more items than this stays with the replica that made it.
constexpr std::size_t kMaxItemsShared = 4'096;

// Every key of a client's carries `{client}` (redis_prefix): one shard of a Redis Cluster
// holds them all, so the scripts below, which reach keys named from their arguments, stay on it.

// Keeps a response. KEYS: the client's index of responses (id → expiry ms) and their sizes
// (id → bytes; "" → the total). ARGV: key prefix, id, previous id, TTL ms, the client's share in
// bytes, the number of items N, the N items (JSON each), then pairs of item id and index. A
// response is the hash P..r:ID {p: previous id, n: N, k: its named item ids, "0".."N-1": its
// items}; each named item P..i:ITEM → "ID\nINDEX". Expired responses leave the index first,
// then the oldest until the new one fits the share. Returns 1, or 0 when the response alone
// is larger than the share.
constexpr const char* kKeepLua = R"lua(
local p, id, prev = ARGV[1], ARGV[2], ARGV[3]
local ttl, share, n = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function forget(m)
  local size = tonumber(redis.call('HGET', KEYS[2], m) or '0')
  redis.call('HDEL', KEYS[2], m)
  redis.call('HINCRBY', KEYS[2], '', -size)
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
local size = #id + #prev + 160
for i = 7, 6 + n do size = size + #ARGV[i] + 16 end
for i = 7 + n, #ARGV, 2 do size = size + #ARGV[i] + 64 end
if size > share then return 0 end
if redis.call('ZSCORE', KEYS[1], id) then
  forget(id)
  redis.call('ZREM', KEYS[1], id)
end
local total = tonumber(redis.call('HGET', KEYS[2], '') or '0')
while total + size > share do
  local oldest = redis.call('ZPOPMIN', KEYS[1])
  if #oldest == 0 then
    -- The index is gone (evicted under maxmemory, say) but the sizes stayed: count afresh.
    redis.call('DEL', KEYS[2])
    total = 0
    break
  end
  forget(oldest[1])
  total = tonumber(redis.call('HGET', KEYS[2], '') or '0')
end
local r = p .. 'r:' .. id
local names = {}
for i = 7 + n, #ARGV, 2 do
  names[#names + 1] = ARGV[i]
  redis.call('SET', p .. 'i:' .. ARGV[i], id .. '\n' .. ARGV[i + 1], 'PX', ttl)
end
redis.call('HSET', r, 'p', prev, 'n', n, 'k', table.concat(names, '\n'))
for i = 1, n do redis.call('HSET', r, tostring(i - 1), ARGV[6 + i]) end
redis.call('PEXPIRE', r, ttl)
redis.call('ZADD', KEYS[1], now + ttl, id)
redis.call('HSET', KEYS[2], id, size)
redis.call('HINCRBY', KEYS[2], '', size)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return 1
)lua";

// Reads a conversation's responses and items. KEYS: the client's index (for a cluster's
// routing). ARGV: key prefix, the most bytes the reply may carry, the longest chain, the number
// H of responses the replica holds, their ids, the response to start the walk at ("" for
// none), then item ids. Returns {conversation, item...}: the conversation is 0 (none asked),
// 1 (the first response is not known), 2 (an earlier one is no longer kept), 3 (too long), or
// the responses from the first back to, not including, one the replica holds, each {id,
// previous id, named item ids, item...}; each item is its JSON or false. {3} when the
// conversation or the items would carry more than allowed (bytes each; elements in all).
constexpr const char* kRecallLua = R"lua(
local p = ARGV[1]
local max_bytes, max_chain, h = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local max_elements = 200000  -- within what signgate reads in one reply
local held = {}
for i = 5, 4 + h do held[ARGV[i]] = true end
local start = ARGV[5 + h]
local total, elements = 0, 0
local conversation = 0
if start ~= '' then
  local links, nxt = {}, start
  conversation = nil
  while nxt ~= '' and not held[nxt] do
    local r = p .. 'r:' .. nxt
    local head = redis.call('HMGET', r, 'p', 'n', 'k')
    if not head[2] then
      if nxt == start then conversation = 1 else conversation = 2 end
      break
    end
    if #links >= max_chain then
      conversation = 3
      break
    end
    local link = {nxt, head[1] or '', head[3] or ''}
    elements = elements + 4 + tonumber(head[2])
    if elements > max_elements then return {3} end
    for i = 0, tonumber(head[2]) - 1 do
      local item = redis.call('HGET', r, tostring(i)) or ''
      total = total + #item
      link[#link + 1] = item
    end
    if total > max_bytes then return {3} end
    links[#links + 1] = link
    nxt = head[1] or ''
  end
  if conversation == nil then conversation = links end
end
local out = {conversation}
total = 0  -- the items have a budget of their own, as the translator gives them
for i = 6 + h, #ARGV do
  local found = false
  local ref = redis.call('GET', p .. 'i:' .. ARGV[i])
  if ref then
    local rid, index = string.match(ref, '^(.*)\n(%d+)$')
    if rid then found = redis.call('HGET', p .. 'r:' .. rid, index) or false end
  end
  if found then
    total = total + #found
    if total > max_bytes then return {3} end
  end
  out[#out + 1] = found
end
return out
)lua";

// Who started an invocation, fleet-wide: the first client to claim its ARN keeps it. KEYS: the
// ARN's owner key. ARGV: the client, its lifetime in seconds. Returns the owner. A key of its
// own, not a client's: a cluster would route it alone (the client's list is a second call).
constexpr const char* kClaimLua = R"lua(
local owner = redis.call('GET', KEYS[1])
if owner then return owner end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
return ARGV[1]
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
const store::RedisScript& claim_script() {
  static const store::RedisScript script(kClaimLua);
  return script;
}

class RedisMemory final : public Memory {
 public:
  RedisMemory(std::shared_ptr<store::Redis> redis, ResponseStore& responses, AsyncInvocations& invocations,
              std::shared_ptr<FleetStats> stats)
      : Memory(responses, invocations), redis_(std::move(redis)), stats_(std::move(stats)) {}

  bool shared() const override { return true; }

  asio::awaitable<Result<bool>> recall(const std::string& client, const Wanted& wanted, std::size_t max_bytes,
                                       Recalled& into) override {
    // Of the conversation, only what this replica lacks: from the first response it does not
    // hold back to one it does.
    std::string start;
    if (!wanted.conversation.empty()) {
      auto here = responses().conversation(client, wanted.conversation, max_bytes, ResponseStore::Clock::now(), &start);
      if (here) {
        into.conversations[wanted.conversation] = std::move(*here);
        start.clear();
      } else if (here.kind() != ErrorKind::kNotFound) {
        into.conversations[wanted.conversation] = here.message();
        start.clear();
      }
    }
    if (start.empty() && wanted.items.empty()) co_return true;
    // The walk stops at a response this replica holds; when what lies behind it here is
    // incomplete too (evicted first, being oldest), it goes on from there: a few calls at most.
    for (int walk = 0; walk < 3; ++walk) {
      const Wanted next{wanted.conversation, {}};
      auto more = co_await fetch(client, walk == 0 ? wanted : next, start, max_bytes, into);
      if (!more) co_return more.error();
      if (!*more) co_return true;
    }
    co_return true;
  }

  // One read: from `start` (if any) back, and `wanted`'s items, into `into`. True when the
  // conversation's chain is still broken here behind where the walk stopped; `start` then
  // names where to go on.
  asio::awaitable<Result<bool>> fetch(const std::string& client, const Wanted& wanted, std::string& start,
                                      std::size_t max_bytes, Recalled& into) {
    const std::string p = redis_prefix(client);
    const std::vector<std::string> held = start.empty() ? std::vector<std::string>() : responses().recent(client, 256);
    std::vector<std::string> keys = {p + "responses"};
    std::vector<std::string> args = {p, std::to_string(max_bytes), std::to_string(ResponseStore::kMaxChain),
                                     std::to_string(held.size())};
    args.insert(args.end(), held.begin(), held.end());
    args.push_back(start);
    args.insert(args.end(), wanted.items.begin(), wanted.items.end());
    auto reply = co_await redis_->eval(recall_script(), std::move(keys), std::move(args));
    if (!reply || reply->type != store::Reply::Type::kArray || reply->elements.empty()) {
      co_return failed("reading stored responses", reply);
    }
    if (reply->elements.size() == 1 && reply->elements[0].type == store::Reply::Type::kInteger &&
        reply->elements[0].integer == 3 && (!wanted.items.empty() || start.empty())) {
      co_return make_error("the stored items this request names are larger than limits.max_body_bytes",
                           ErrorKind::kTooLarge);
    }
    if (reply->elements.size() != 1 + wanted.items.size()) co_return failed("reading stored responses", reply);
    bool broken = false;
    if (!start.empty()) {
      auto conversation = conversation_from(client, wanted, start, reply->elements[0], max_bytes);
      if (!conversation && conversation.kind() == ErrorKind::kNotFound &&
          reply->elements[0].type == store::Reply::Type::kArray) {
        // What it fetched is held now; what is missing lies further back.
        std::string next;
        (void)responses().conversation(client, wanted.conversation, max_bytes, ResponseStore::Clock::now(), &next);
        broken = !next.empty() && next != start;
        start = next;
      }
      if (!broken) {
        if (conversation) {
          into.conversations[wanted.conversation] = std::move(*conversation);
        } else {
          into.conversations[wanted.conversation] = conversation.message();
        }
      }
    }
    for (std::size_t i = 0; i < wanted.items.size(); ++i) {
      const store::Reply& r = reply->elements[1 + i];
      std::optional<json> item;
      if (r.type == store::Reply::Type::kString) {
        json parsed = json::parse(r.str, nullptr, false);
        if (parsed.is_object()) item = std::move(parsed);
      }
      into.items[wanted.items[i]] = std::move(item);
    }
    co_return broken;
  }

  asio::awaitable<void> keep_response(const std::string& client, const std::string& id, const std::string& previous_id,
                                      const json& items, const std::vector<std::string>& item_ids) override {
    responses().put(client, id, previous_id, items, item_ids);
    const config::ResponsesConfig limits = responses().limits();
    if (!limits.store) co_return;
    if (items.size() > kMaxItemsShared) {
      // One script call per item would hold Redis for every replica: this replica keeps it.
      spdlog::debug("redis: response {} has {} items, more than {} shared: kept by this replica only", id, items.size(),
                    kMaxItemsShared);
      co_return;
    }
    const std::string p = redis_prefix(client);
    std::vector<std::string> keys = {p + "responses", p + "response_bytes"};
    std::vector<std::string> args = {
        p,
        id,
        previous_id,
        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(limits.ttl).count()),
        std::to_string(limits.max_bytes_per_client),
        std::to_string(items.size())};
    for (const auto& item : items) args.push_back(api::dump_json(item));
    for (const auto& [item_id, index] : ResponseStore::named_items(items, item_ids)) {
      if (item_id.find('\n') != std::string::npos) continue;  // the script lists them by line
      args.push_back(item_id);
      args.push_back(std::to_string(index));
    }
    auto reply = co_await redis_->eval(keep_script(), std::move(keys), std::move(args));
    if (!reply || reply->is_error()) {
      (void)failed("keeping response " + id + " (this replica still holds it)", reply);
    } else if (reply->type == store::Reply::Type::kInteger && reply->integer == 0) {
      spdlog::debug("redis: response {} is larger than responses.max_mib_per_client: kept by this replica only", id);
    }
  }

  // First writer wins: this replica's copy, then the fleet's claim on the ARN; only its
  // claimant's list gets it.
  asio::awaitable<std::optional<std::string>> record_invocation(const std::string& client,
                                                                const std::string& arn) override {
    if (auto here = invocations().owner(arn); here && *here != client) co_return *here;
    std::vector<std::string> owner_key = {"signgate:async_owner:" + arn};
    std::vector<std::string> claimant = {client, std::to_string(kOwnerLifetime.count())};
    auto claim = co_await redis_->eval(claim_script(), std::move(owner_key), std::move(claimant));
    if (!claim || claim->type != store::Reply::Type::kString) {
      (void)failed("claiming an asynchronous invocation (only this replica knows it)", claim);
      co_return co_await Memory::record_invocation(client, arn);
    }
    // Whoever claimed it, this replica remembers: a later look-up needs no round trip.
    const std::string owner = invocations().record(arn, claim->str);
    if (owner != client) co_return owner;
    std::vector<std::string> keys = {redis_prefix(client) + "invocations"};
    std::vector<std::string> args = {arn, std::to_string(kInvocationsPerClient)};
    auto reply = co_await redis_->eval(record_script(), std::move(keys), std::move(args));
    if (!reply || reply->is_error()) {
      (void)failed("recording an asynchronous invocation (only this replica knows it)", reply);
    }
    co_return std::nullopt;
  }

  asio::awaitable<Result<std::vector<bool>>> owns(const std::string& client,
                                                  const std::vector<std::string>& arns) override {
    std::vector<bool> out = owned_here(client, arns);
    std::vector<std::string> command = {"ZMSCORE", redis_prefix(client) + "invocations"};
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

  asio::awaitable<Result<std::optional<std::string>>> sticky_target(std::uint64_t key) override {
    std::vector<std::string> command = {"GETEX", sticky_key_name(key), "EX", std::to_string(kStickyLifetime.count())};
    auto reply = co_await redis_->command(std::move(command));
    if (reply && reply->type == store::Reply::Type::kNil) co_return std::optional<std::string>();
    if (!reply || reply->type != store::Reply::Type::kString) co_return failed("reading a sticky route key", reply);
    co_return std::optional<std::string>(std::move(reply->str));
  }

  asio::awaitable<void> keep_sticky(std::uint64_t key, const std::string& target) override {
    std::vector<std::string> command = {"SET", sticky_key_name(key), target, "EX",
                                        std::to_string(kStickyLifetime.count())};
    auto reply = co_await redis_->command(std::move(command));
    if (!reply || reply->is_error()) (void)failed("keeping a sticky route key", reply);
  }

 private:
  static constexpr std::chrono::seconds kStickyLifetime{3600};
  // Its own hash tag: sticky keys spread over a cluster's shards.
  static std::string sticky_key_name(std::uint64_t key) {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(key));
    std::string name = "signgate:sticky:{";
    name += hex;
    name += '}';
    return name;
  }

  // Counts and logs (at most every 10 s) a command Redis did not answer as expected.
  Error failed(const std::string& what, const Result<store::Reply>& reply) {
    ++stats_->redis_failures;
    const std::string why =
        !reply ? reply.message() : (reply->is_error() ? reply->str : std::string("an unexpected reply"));
    static Throttle every_10s(std::chrono::seconds(10));
    if (every_10s.allow()) spdlog::warn("redis: {}: {}", what, why);
    return make_error("signgate's shared store did not answer: " + why, ErrorKind::kUnreachable);
  }

  // The conversation once the responses Redis returned (`links`, newest first) are held here
  // too; or why not.
  Result<json> conversation_from(const std::string& client, const Wanted& wanted, const std::string& start,
                                 const store::Reply& links, std::size_t max_bytes) {
    if (links.type == store::Reply::Type::kInteger) {
      if (links.integer == 1 && start == wanted.conversation) return make_error(std::string(ResponseStore::kUnknown));
      if (links.integer == 3) return make_error(std::string(ResponseStore::kTooLong));
      return make_error(std::string(ResponseStore::kGone));
    }
    for (auto link = links.elements.rbegin(); link != links.elements.rend(); ++link) {
      if (link->type != store::Reply::Type::kArray || link->elements.size() < 3) continue;
      json items = json::array();
      for (std::size_t i = 3; i < link->elements.size(); ++i) {
        json item = json::parse(link->elements[i].str, nullptr, false);
        if (!item.is_discarded()) items.push_back(std::move(item));
      }
      std::vector<std::string> names;
      std::string_view k = link->elements[2].str;
      while (!k.empty()) {
        const std::size_t nl = k.find('\n');
        names.emplace_back(k.substr(0, nl));
        k = nl == std::string_view::npos ? std::string_view() : k.substr(nl + 1);
      }
      responses().put(client, link->elements[0].str, link->elements[1].str, items, names);
    }
    return responses().conversation(client, wanted.conversation, max_bytes);
  }

  std::shared_ptr<store::Redis> redis_;
  std::shared_ptr<FleetStats> stats_;
};

}  // namespace

asio::awaitable<Result<std::optional<std::string>>> Memory::sticky_target(std::uint64_t) {
  co_return make_error("not shared", ErrorKind::kNotFound);
}

asio::awaitable<void> Memory::keep_sticky(std::uint64_t, const std::string&) { co_return; }

void Wanted::add_item(std::string_view id) {
  if (std::find(items.begin(), items.end(), id) == items.end()) items.emplace_back(id);
}

std::unique_ptr<Memory> local_memory(ResponseStore& responses, AsyncInvocations& invocations) {
  return std::make_unique<Memory>(responses, invocations);
}

std::unique_ptr<Memory> redis_memory(std::shared_ptr<store::Redis> redis, ResponseStore& responses,
                                     AsyncInvocations& invocations, std::shared_ptr<FleetStats> stats) {
  return std::make_unique<RedisMemory>(std::move(redis), responses, invocations, std::move(stats));
}

}  // namespace signgate::gateway
