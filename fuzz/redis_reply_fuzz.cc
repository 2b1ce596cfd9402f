// What a Redis node answers, of any shape: RESP replies read whole or refused, read as a
// cluster's slot map (CLUSTER SHARDS, CLUSTER SLOTS) or a MOVED/ASK redirection; the bytes as
// keys and as a command's arguments for the slot arithmetic. A map, an error or nothing,
// never a crash or an unbounded allocation.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/cluster_map.h"
#include "store/resp_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace signgate::store;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (auto reply = read_one_reply(bytes)) {
    (void)parse_cluster_shards(*reply, false);
    (void)parse_cluster_shards(*reply, true);
    (void)parse_cluster_slots(*reply);
    if (reply->type == Reply::Type::kError) (void)parse_redirect(reply->str);
    std::vector<std::string> args;
    for (const auto& e : reply->elements) args.push_back(e.str);
    (void)command_slot(args);
  }
  (void)parse_redirect(bytes);
  (void)key_slot(bytes);
  return 0;
}
