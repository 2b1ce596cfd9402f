// What a Redis Cluster client needs to know besides RESP, as pure functions: which of the
// 16384 hash slots a key is in (CRC16 of the key or of its {hash tag}, as Redis computes it),
// which slot a command touches, what CLUSTER SHARDS and CLUSTER SLOTS say about who serves
// which slots, and what a MOVED or ASK redirection names.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "store/redis.h"

namespace signgate::store {

inline constexpr std::uint16_t kClusterSlots = 16384;

// The slot of `key`: CRC16 (XMODEM) of the key, or of the text between its first '{' and the
// next '}' when that is not empty, modulo 16384.
std::uint16_t key_slot(std::string_view key);

// The one slot every key of `args` (a command as Redis takes it) is in; nullopt for a command
// that names no key (PING, PUBLISH, EVALSHA with no keys); an error when its keys span slots.
Result<std::optional<std::uint16_t>> command_slot(const std::vector<std::string>& args);

// One primary and the slot ranges it serves.
struct ShardPrimary {
  std::string endpoint;  // where to connect: an IP or host name; empty when the node did not say
  std::string hostname;  // the name the node announces (cluster-announce-hostname), for TLS
  std::uint16_t port = 0;
  std::vector<std::pair<std::uint16_t, std::uint16_t>> ranges;  // inclusive
};

// CLUSTER SHARDS (Redis 7): each shard's primary; `tls` picks tls-port over port. A shard
// whose primary has failed (and no replica took over yet) still names it: its slots are
// nobody else's.
Result<std::vector<ShardPrimary>> parse_cluster_shards(const Reply& reply, bool tls);

// CLUSTER SLOTS (Redis 3 to 7): the same from the older command.
Result<std::vector<ShardPrimary>> parse_cluster_slots(const Reply& reply);

// "MOVED 3999 127.0.0.1:6381" or "ASK 3999 [::1]:6381"; nullopt for any other error.
struct Redirect {
  bool ask = false;
  std::uint16_t slot = 0;
  std::string host;  // empty: the node that answered (Redis 7's "MOVED 3999 :6381")
  std::uint16_t port = 0;
};
std::optional<Redirect> parse_redirect(std::string_view error);

}  // namespace signgate::store
