#include "api/openai/openai_upstream.h"

#include <algorithm>

#include "api/json_fields.h"
#include "api/service_tier.h"
#include "aws/scrub_identity.h"

namespace signgate::api::openai {

using nlohmann::json;

namespace {

constexpr int kMaxReferences = 1000;  // stored items one request may name (as the translator allows)

// The model the caller named, where the answer names Bedrock's.
void rename_model(json& holder, const std::string& model_name) {
  if (holder.is_object() && holder.contains("model")) holder["model"] = model_name;
}

// Chat completions say prompt/completion tokens, the Responses API input/output tokens; the
// cached tokens inside either are Bedrock's cache reads (api/usage.h).
void read_usage(const json& usage, OpenAIAnswerFacts& facts) { facts.usage.update(openai_usage(usage)); }

void read_tier(const json& holder, OpenAIAnswerFacts& facts) {
  const std::string tier = string_field(holder, "service_tier");
  if (tier_word(tier)) facts.service_tier = tier;
}

// A response object's facts: usage, tier, id and (once it is done) its output.
void read_response(const json& response, OpenAIAnswerFacts& facts) {
  read_usage(object_field(response, "usage"), facts);
  read_tier(response, facts);
  facts.response_id = string_field(response, "id");
  const std::string status = string_field(response, "status");
  if (status == "completed" || status == "incomplete") {
    const json* output = field(response, "output");
    if (output != nullptr && output->is_array()) facts.output = *output;
    facts.completed = true;
  }
}

// A response object as the caller's request makes it: its model name, the previous_response_id
// and store it sent (Bedrock was sent neither), and the reasoning's encrypted content only when
// it asked for it (signgate asked for it to keep in its store).
void as_asked(json& response, const OpenAIUpstreamRequest& request) {
  if (!response.is_object()) return;
  rename_model(response, request.model_name);
  if (response.contains("previous_response_id")) {
    response["previous_response_id"] =
        request.previous_response_id.empty() ? json(nullptr) : json(request.previous_response_id);
  }
  if (response.contains("store")) response["store"] = request.store;
  if (!request.include_encrypted) {
    if (json* output = response.contains("output") && response["output"].is_array() ? &response["output"] : nullptr) {
      for (auto& item : *output) {
        if (item.is_object() && string_field(item, "type") == "reasoning") item.erase("encrypted_content");
      }
    }
  }
}

// Expands item_reference items (and collects what the store keeps of this turn's input).
std::optional<ApiError> expand_input(const json& input, const ResponseHistory* history, std::size_t& budget, json& sent,
                                     json& kept) {
  int references = 0;
  for (std::size_t i = 0; i < input.size(); ++i) {
    const json& item = input[i];
    const std::string p = "input[" + std::to_string(i) + "]";
    if (!item.is_object()) return bad("each input item must be an object", p);
    const std::string type = string_field(item, "type");
    const json* sealed = field(item, "encrypted_content");
    if (type == "reasoning" && sealed != nullptr && sealed->is_string() && is_sealed_here(sealed->get<std::string>())) {
      // A Converse model's reasoning (signgate sealed it): Bedrock's OpenAI API cannot read it.
      // Kept for the store, not sent: a conversation may change models.
      kept.push_back(item);
      continue;
    }
    // A reasoning item sent back without its content (the caller did not ask for it): the
    // stored one has it, and Bedrock wants it back.
    const bool bare_reasoning = type == "reasoning" && (sealed == nullptr || sealed->is_null()) && history != nullptr &&
                                !string_field(item, "id").empty();
    if (type != "item_reference" && !bare_reasoning) {
      sent.push_back(item);
      kept.push_back(item);
      continue;
    }
    if (history == nullptr) return bad("item_reference: this gateway keeps no responses", p + ".id");
    if (++references > kMaxReferences) {
      return bad("a request may name at most " + std::to_string(kMaxReferences) + " stored items", p);
    }
    const std::string id = string_field(item, "id");
    auto stored = history->item(id);
    if (!stored && bare_reasoning) {  // not kept here: sent as it came
      sent.push_back(item);
      kept.push_back(item);
      continue;
    }
    if (!stored) return bad("item '" + clip(id) + "' is not known (or expired, or was not stored)", p + ".id");
    const std::size_t size = dump_json(*stored).size();
    if (size > budget) return bad("the stored items this request names are larger than limits.max_body_bytes", p);
    budget -= size;
    sent.push_back(*stored);
    kept.push_back(std::move(*stored));
  }
  return std::nullopt;
}

std::string sse_text(std::string_view event, std::string_view data) {
  std::string out;
  out.reserve(event.size() + data.size() + 24);
  if (!event.empty()) {
    out += "event: ";
    out += event;
    out += '\n';
  }
  out += "data: ";
  out += data;
  out += "\n\n";
  return out;
}

}  // namespace

bool SseReader::feed(std::string_view bytes) {
  if (pos_ > 0 && pos_ >= buf_.size() / 2) {
    buf_.erase(0, pos_);
    scan_ -= pos_;
    pos_ = 0;
  }
  buf_ += bytes;
  return event_bytes_ + (buf_.size() - pos_) <= max_;
}

std::optional<SseEvent> SseReader::next() {
  for (;;) {
    const std::size_t end = buf_.find_first_of("\r\n", std::max(pos_, scan_));
    if (end == std::string::npos) {  // the line is not whole yet: what was looked at is not again
      scan_ = buf_.size();
      return std::nullopt;
    }
    // A CR at the very end may be the first half of a CRLF: wait for the next byte.
    if (buf_[end] == '\r' && end + 1 == buf_.size()) {
      scan_ = end;
      return std::nullopt;
    }
    const std::string_view line(buf_.data() + pos_, end - pos_);
    const std::size_t next_line = end + (buf_[end] == '\r' && buf_[end + 1] == '\n' ? 2 : 1);
    event_bytes_ += next_line - pos_;
    pos_ = scan_ = next_line;
    if (line.empty()) {
      // The end of an event: dispatched when it has data (a comment-only block is not).
      SseEvent e = std::move(partial_);
      const bool data = data_;
      partial_ = SseEvent{};
      data_ = false;
      event_bytes_ = 0;
      if (data) return e;
      continue;
    }
    if (line.front() == ':') continue;  // a comment (a keep-alive)
    const auto colon = line.find(':');
    const std::string_view name = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (name == "data") {
      if (data_) partial_.data += '\n';
      partial_.data += value;
      data_ = true;
    } else if (name == "event") {
      partial_.event = std::string(value);
    }
  }
}

bool SseReader::idle() const {
  if (data_) return false;
  // An unfinished last line: harmless unless it may still become data.
  const std::string_view rest(buf_.data() + pos_, buf_.size() - pos_);
  const std::string_view line = rest.substr(0, rest.find_first_of("\r\n"));
  return line.empty() || line.front() == ':' || line.rfind("data", 0) != 0;
}

std::variant<OpenAIUpstreamRequest, ApiError> chat_for_openai(const json& request, const std::string& model_name,
                                                              const std::string& model_id) {
  OpenAIUpstreamRequest out;
  out.api = OpenAIApi::kChat;
  out.model_name = model_name;
  out.model_id = model_id;
  out.stream = bool_field(request, "stream");
  out.user = string_field(request, "user", string_field(request, "safety_identifier"));
  json body = request;
  body["model"] = model_id;
  if (out.stream) {
    json& options = body["stream_options"];
    if (!options.is_object()) options = json::object();
    out.include_usage = bool_field(options, "include_usage");
    options["include_usage"] = true;  // the usage is charged whether or not the caller reads it
  }
  out.body = dump_json(body);
  return out;
}

std::variant<OpenAIUpstreamRequest, ApiError> responses_for_openai(const json& request, const std::string& model_name,
                                                                   const std::string& model_id,
                                                                   const ResponseHistory* history,
                                                                   std::size_t max_stored_bytes) {
  if (bool_field(request, "background")) {
    return bad("background responses are not supported through this gateway", "background");
  }
  if (const json* v = field(request, "conversation"); v != nullptr && !v->is_null()) {
    return bad("conversations are not supported; use previous_response_id", "conversation");
  }
  OpenAIUpstreamRequest out;
  out.api = OpenAIApi::kResponses;
  out.model_name = model_name;
  out.model_id = model_id;
  out.stream = bool_field(request, "stream");
  out.store = bool_field(request, "store", true);
  out.user = string_field(request, "user", string_field(request, "safety_identifier"));
  out.previous_response_id = string_field(request, "previous_response_id");
  const json* input = field(request, "input");
  if (input == nullptr || input->is_null()) return bad("input is required", "input");
  json items =
      input->is_string() ? json::array({{{"type", "message"}, {"role", "user"}, {"content", *input}}}) : *input;
  if (!items.is_array()) return bad("input must be a string or an array of items", "input");

  json sent = json::array();
  std::size_t budget = max_stored_bytes;
  if (!out.previous_response_id.empty()) {
    if (history == nullptr) return bad("previous_response_id: this gateway keeps no responses", "previous_response_id");
    auto earlier = history->conversation(out.previous_response_id);
    if (auto* why = std::get_if<std::string>(&earlier)) return bad(*why, "previous_response_id");
    for (auto& item : std::get<json>(earlier)) {
      const json* sealed = field(item, "encrypted_content");
      if (string_field(item, "type") == "reasoning" && sealed != nullptr && sealed->is_string() &&
          is_sealed_here(sealed->get<std::string>())) {
        continue;  // a Converse model's reasoning: not for Bedrock's OpenAI API
      }
      const std::size_t size = dump_json(item).size();
      if (size > budget) {
        return bad("the stored conversation is larger than limits.max_body_bytes", "previous_response_id");
      }
      budget -= size;
      sent.push_back(std::move(item));
    }
  }
  if (auto e = expand_input(items, history, budget, sent, out.input_items)) return *e;

  json body = request;
  body["model"] = model_id;
  body["input"] = std::move(sent);
  body.erase("previous_response_id");
  body["store"] = false;  // signgate's store keeps it, per client
  json include = body.contains("include") && body["include"].is_array() ? body["include"] : json::array();
  out.include_encrypted = std::find(include.begin(), include.end(), "reasoning.encrypted_content") != include.end();
  if (!out.include_encrypted) include.push_back("reasoning.encrypted_content");
  body["include"] = std::move(include);
  out.body = dump_json(body);
  return out;
}

std::optional<std::string> openai_answer(std::string_view answer, const OpenAIUpstreamRequest& request,
                                         OpenAIAnswerFacts& facts, int max_depth) {
  json j = parse_json(answer, max_depth);
  if (!j.is_object()) return std::nullopt;
  if (request.api == OpenAIApi::kResponses) {
    read_response(j, facts);  // before as_asked: the store keeps the encrypted reasoning
    as_asked(j, request);
  } else {
    rename_model(j, request.model_name);
    read_usage(object_field(j, "usage"), facts);
    read_tier(j, facts);
  }
  return dump_json(j);
}

std::string OpenAIStreamRewriter::on_event(const SseEvent& e) {
  if (e.data == "[DONE]") return sse_text(e.event, e.data);
  json j = parse_json(e.data, max_depth_);
  if (!j.is_object()) return {};  // not an event OpenAI's clients could read: not passed on
  if (request_.api == OpenAIApi::kChat) {
    rename_model(j, request_.model_name);
    read_tier(j, facts);
    if (const json* choices = field(j, "choices"); choices != nullptr && choices->is_array() && !choices->empty()) {
      ++facts.content_events;
    }
    if (const json* error = field(j, "error"); error != nullptr && error->is_object()) {
      facts.failure = "Bedrock's stream failed: " + aws::scrub_identity(clip(string_field(*error, "message"), 500));
    }
    if (const json* usage = field(j, "usage"); usage != nullptr && usage->is_object()) {
      read_usage(*usage, facts);
      const json* choices = field(j, "choices");
      // The usage chunk signgate asked for on the caller's behalf.
      if (!request_.include_usage && choices != nullptr && choices->is_array() && choices->empty()) return {};
    }
    if (!request_.include_usage) j.erase("usage");  // OpenAI sends none (not even null) unasked
  } else {
    if (const json* n = field(j, "sequence_number"); n != nullptr && n->is_number_unsigned()) {
      next_sequence_ = n->get<std::uint64_t>() + 1;
    }
    const std::string type = string_field(j, "type");
    if (type.size() > 6 && type.compare(type.size() - 6, 6, ".delta") == 0) ++facts.content_events;
    if (type == "error" || type == "response.failed") {
      std::string message = string_field(j, "message");
      if (message.empty()) message = string_field(object_field(object_field(j, "response"), "error"), "message");
      facts.failure = "Bedrock's stream failed: " + aws::scrub_identity(clip(message, 500));
    }
    if (json* response = j.contains("response") && j["response"].is_object() ? &j["response"] : nullptr) {
      read_response(*response, facts);
      as_asked(*response, request_);
    }
    // An output item's own events carry the item: its encrypted reasoning only when asked for.
    if (!request_.include_encrypted && j.contains("item") && j["item"].is_object() &&
        string_field(j["item"], "type") == "reasoning") {
      j["item"].erase("encrypted_content");
    }
  }
  return sse_text(e.event, dump_json(j));
}

std::string OpenAIStreamRewriter::error(std::string_view message) const {
  const json err = {{"message", message}, {"type", "server_error"}, {"param", nullptr}, {"code", "server_error"}};
  if (request_.api == OpenAIApi::kChat) return sse_text("", dump_json(json{{"error", err}}));
  return sse_text("error", dump_json(json{{"type", "error"},
                                          {"sequence_number", next_sequence_},
                                          {"code", "server_error"},
                                          {"message", message},
                                          {"param", nullptr},
                                          {"error", err}}));
}

ApiError openai_error(unsigned status, std::string_view body, int max_depth) {
  const json j = parse_json(body, max_depth);
  const json& error = object_field(j, "error");
  std::string message = string_field(error, "message", string_field(j, "message", string_field(j, "Message")));
  if (message.empty()) message = "Bedrock answered " + std::to_string(status);
  ApiError e;
  e.status = status;
  e.type = status == 429 ? "rate_limit_error" : status >= 500 ? "server_error" : "invalid_request_error";
  e.message = aws::scrub_identity(clip(message, 2000));
  e.param = clip(string_field(error, "param"), 200);
  e.code = clip(string_field(error, "code"), 100);
  return e;
}

}  // namespace signgate::api::openai
