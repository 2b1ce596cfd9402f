// JSON from callers and from the upstream is parsed with a nesting-depth limit: dump(),
// copies and comparisons of nlohmann's DOM recurse, so a document nested 100,000 deep would
// overflow the stack later (found by an adversarial review). Parsing goes through simdjson
// and the DOM is written back by a writer of ours: both are on every translated request and
// streamed event. Pure: no I/O.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace simdjson::dom {
class parser;
}

namespace signgate::api {

// Deep enough for real tool schemas; `limits.max_json_depth` overrides it.
inline constexpr int kDefaultMaxJsonDepth = 128;

// True when no array or object in `text` nests deeper than `max_depth` (brackets inside
// strings do not count). Linear, no recursion; stops at the first level too deep. Says
// nothing about the rest of the syntax.
bool within_depth(std::string_view text, int max_depth);

// Parses `text` into the DOM json::parse(text, nullptr, false) gives (discarded on a syntax
// error), and also discarded when it nests deeper than `max_depth`; `too_deep` then says so.
// simdjson reads it; what simdjson refuses (an integer beyond 64 bits, a byte-order mark, or
// bad JSON) goes to nlohmann's parser, so the answer is nlohmann's in every case.
nlohmann::json parse_json(std::string_view text, int max_depth, bool* too_deep = nullptr);

// The bytes j.dump(-1, ' ', false, error_handler_t::replace) gives (compact, keys in order,
// invalid UTF-8 replaced by U+FFFD), written without nlohmann's serializer.
std::string dump_json(const nlohmann::json& j);
void append_json(std::string& out, const nlohmann::json& j);

// Documents up to this size are parsed by the thread's kept simdjson parser, whose buffers keep
// the size of the largest it parsed (about 13 bytes a byte at most: 3.3 MiB); larger ones by a
// parser of their own, freed with it.
inline constexpr std::size_t kKeptParserBytes = std::size_t{256} << 10;

// The thread's kept parser. What it parsed is valid until its next parse on this thread.
simdjson::dom::parser& kept_parser();

// `parser`, made able to nest `max_depth` deep (simdjson's default is 1,024) for a document of
// `size` bytes; nullptr when its memory cannot be had.
simdjson::dom::parser* able_to_nest(simdjson::dom::parser& parser, std::size_t size, int max_depth);

// The kept parser or `once`, whichever a document of `size` bytes goes to, able to nest
// `max_depth` deep.
simdjson::dom::parser* ready_parser(simdjson::dom::parser& once, std::size_t size, int max_depth);

}  // namespace signgate::api
