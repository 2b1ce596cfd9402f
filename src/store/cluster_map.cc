#include "store/cluster_map.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace signgate::store {

namespace {

// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the checksum Redis Cluster uses.
constexpr std::array<std::uint16_t, 256> make_crc_table() {
  std::array<std::uint16_t, 256> t{};
  for (unsigned i = 0; i < 256; ++i) {
    auto crc = static_cast<std::uint16_t>(i << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc =
          (crc & 0x8000) != 0 ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021) : static_cast<std::uint16_t>(crc << 1);
    }
    t[i] = crc;
  }
  return t;
}
constexpr std::array<std::uint16_t, 256> kCrcTable = make_crc_table();

std::uint16_t crc16(std::string_view data) {
  std::uint16_t crc = 0;
  for (const char ch : data) {
    const auto byte = static_cast<unsigned char>(ch);
    crc = static_cast<std::uint16_t>((crc << 8) ^ kCrcTable[((crc >> 8) ^ byte) & 0xff]);
  }
  return crc;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool parse_u16(std::string_view text, std::uint16_t& out) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > 65535) return false;
  out = static_cast<std::uint16_t>(value);
  return true;
}

// A field of a RESP2 map (a flat array of name, value, name, value...).
const Reply* field(const Reply& map, std::string_view name) {
  if (map.type != Reply::Type::kArray) return nullptr;
  for (std::size_t i = 0; i + 1 < map.elements.size(); i += 2) {
    if (map.elements[i].type == Reply::Type::kString && map.elements[i].str == name) return &map.elements[i + 1];
  }
  return nullptr;
}

std::string text_of(const Reply* r) {
  return r != nullptr && (r->type == Reply::Type::kString || r->type == Reply::Type::kStatus) ? r->str : std::string();
}

std::optional<long long> integer_of(const Reply* r) {
  if (r == nullptr) return std::nullopt;
  if (r->type == Reply::Type::kInteger) return r->integer;
  if (r->type == Reply::Type::kString) {
    long long v = 0;
    const auto [end, ec] = std::from_chars(r->str.data(), r->str.data() + r->str.size(), v);
    if (ec == std::errc() && end == r->str.data() + r->str.size()) return v;
  }
  return std::nullopt;
}

bool valid_range(long long start, long long end) { return start >= 0 && end >= start && end < kClusterSlots; }

// "?" is Redis's "unknown endpoint"; empty means "the node you asked".
std::string endpoint_or_empty(std::string e) { return e == "?" ? std::string() : e; }

}  // namespace

std::uint16_t key_slot(std::string_view key) {
  if (const std::size_t open = key.find('{'); open != std::string_view::npos) {
    const std::size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  return static_cast<std::uint16_t>(crc16(key) & (kClusterSlots - 1));
}

Result<std::optional<std::uint16_t>> command_slot(const std::vector<std::string>& args) {
  if (args.empty()) return std::optional<std::uint16_t>();
  const std::string name = upper(args[0]);
  std::size_t first = 1, last = std::min<std::size_t>(args.size(), 2);  // keys in [first, last)
  if (name == "EVAL" || name == "EVALSHA" || name == "EVAL_RO" || name == "EVALSHA_RO" || name == "FCALL" ||
      name == "FCALL_RO") {
    std::uint16_t n = 0;
    if (args.size() < 3 || !parse_u16(args[2], n) || 3u + n > args.size()) {
      return make_error("the script call's number of keys is wrong");
    }
    first = 3;
    last = 3u + n;
  } else if (name == "DEL" || name == "UNLINK" || name == "EXISTS" || name == "TOUCH" || name == "MGET") {
    last = args.size();
  } else if (name == "PING" || name == "PUBLISH" || name == "INFO" || name == "CLUSTER" || name == "SCRIPT" ||
             name == "ASKING" || name == "AUTH" || name == "HELLO" || name == "SUBSCRIBE" || name == "ECHO" ||
             name == "TIME" || name == "COMMAND" || name == "CONFIG" || name == "DBSIZE") {
    return std::optional<std::uint16_t>();
  }
  std::optional<std::uint16_t> slot;
  for (std::size_t i = first; i < last; ++i) {
    const std::uint16_t s = key_slot(args[i]);
    if (slot && *slot != s) return make_error(args[0] + "'s keys are in more than one hash slot (CROSSSLOT)");
    slot = s;
  }
  return slot;
}

Result<std::vector<ShardPrimary>> parse_cluster_shards(const Reply& reply, bool tls) {
  if (reply.type != Reply::Type::kArray) return make_error("CLUSTER SHARDS did not answer with a list");
  std::vector<ShardPrimary> out;
  for (const Reply& shard : reply.elements) {
    const Reply* slots = field(shard, "slots");
    const Reply* nodes = field(shard, "nodes");
    if (slots == nullptr || nodes == nullptr || slots->type != Reply::Type::kArray ||
        nodes->type != Reply::Type::kArray) {
      return make_error("CLUSTER SHARDS answered a shard without slots or nodes");
    }
    if (slots->elements.empty()) continue;  // a shard that serves nothing (yet)
    if (slots->elements.size() % 2 != 0) return make_error("CLUSTER SHARDS answered an odd list of slots");
    ShardPrimary p;
    for (std::size_t i = 0; i < slots->elements.size(); i += 2) {
      const auto start = integer_of(&slots->elements[i]);
      const auto end = integer_of(&slots->elements[i + 1]);
      if (!start || !end || !valid_range(*start, *end)) return make_error("CLUSTER SHARDS answered a bad slot range");
      p.ranges.emplace_back(static_cast<std::uint16_t>(*start), static_cast<std::uint16_t>(*end));
    }
    // The primary: the node whose role is master (a failed one still owns the slots until a
    // replica is promoted).
    const Reply* primary = nullptr;
    for (const Reply& node : nodes->elements) {
      if (text_of(field(node, "role")) == "master" &&
          (primary == nullptr || text_of(field(*primary, "health")) == "fail" ||
           text_of(field(*primary, "health")) == "failed")) {
        primary = &node;
      }
    }
    if (primary == nullptr) return make_error("CLUSTER SHARDS answered a shard without a primary");
    const auto plain = integer_of(field(*primary, "port"));
    const auto secure = integer_of(field(*primary, "tls-port"));
    const auto port = tls && secure && *secure > 0 ? secure : (plain && *plain > 0 ? plain : secure);
    if (!port || *port <= 0 || *port > 65535) return make_error("CLUSTER SHARDS answered a primary without a port");
    p.port = static_cast<std::uint16_t>(*port);
    p.endpoint = endpoint_or_empty(text_of(field(*primary, "endpoint")));
    if (p.endpoint.empty()) p.endpoint = endpoint_or_empty(text_of(field(*primary, "ip")));
    p.hostname = text_of(field(*primary, "hostname"));
    out.push_back(std::move(p));
  }
  return out;
}

Result<std::vector<ShardPrimary>> parse_cluster_slots(const Reply& reply) {
  if (reply.type != Reply::Type::kArray) return make_error("CLUSTER SLOTS did not answer with a list");
  std::vector<ShardPrimary> out;
  for (const Reply& entry : reply.elements) {
    if (entry.type != Reply::Type::kArray || entry.elements.size() < 3) {
      return make_error("CLUSTER SLOTS answered an entry without a primary");
    }
    const auto start = integer_of(&entry.elements[0]);
    const auto end = integer_of(&entry.elements[1]);
    if (!start || !end || !valid_range(*start, *end)) return make_error("CLUSTER SLOTS answered a bad slot range");
    const Reply& node = entry.elements[2];
    if (node.type != Reply::Type::kArray || node.elements.size() < 2) {
      return make_error("CLUSTER SLOTS answered a primary without an address");
    }
    const auto port = integer_of(&node.elements[1]);
    if (!port || *port <= 0 || *port > 65535) return make_error("CLUSTER SLOTS answered a primary without a port");
    ShardPrimary p;
    p.endpoint = endpoint_or_empty(text_of(&node.elements[0]));
    p.port = static_cast<std::uint16_t>(*port);
    if (node.elements.size() >= 4) p.hostname = text_of(field(node.elements[3], "hostname"));
    p.ranges.emplace_back(static_cast<std::uint16_t>(*start), static_cast<std::uint16_t>(*end));
    out.push_back(std::move(p));
  }
  return out;
}

std::optional<Redirect> parse_redirect(std::string_view error) {
  Redirect r;
  if (error.rfind("MOVED ", 0) == 0) {
    error.remove_prefix(6);
  } else if (error.rfind("ASK ", 0) == 0) {
    r.ask = true;
    error.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  const std::size_t space = error.find(' ');
  if (space == std::string_view::npos || !parse_u16(error.substr(0, space), r.slot) || r.slot >= kClusterSlots) {
    return std::nullopt;
  }
  std::string_view address = error.substr(space + 1);
  const std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || !parse_u16(address.substr(colon + 1), r.port) || r.port == 0) {
    return std::nullopt;
  }
  std::string_view host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.find_first_of(" \t\r\n/?#[]") != std::string_view::npos) return std::nullopt;
  r.host = std::string(host);
  return r;
}

}  // namespace signgate::store
