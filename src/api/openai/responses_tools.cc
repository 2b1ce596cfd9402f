#include "api/openai/responses_tools.h"

#include <algorithm>

#include "api/json_fields.h"
#include "common/crypto.h"

namespace signgate::api::openai {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxToolName = 64;
constexpr std::size_t kMaxDropped = 16;  // built-in tools named in the header and the audit line

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

std::string index_param(std::string_view base, std::size_t i) {
  return std::string(base) + "[" + std::to_string(i) + "]";
}

// The built-in tools OpenAI runs on its side (or, for local_shell, shell and apply_patch, that
// have their own call items): Bedrock has none of them.
bool is_builtin(std::string_view type) {
  static constexpr std::string_view kBuiltin[] = {"file_search",
                                                  "code_interpreter",
                                                  "image_generation",
                                                  "computer_use_preview",
                                                  "computer_use",
                                                  "computer",
                                                  "mcp",
                                                  "local_shell",
                                                  "shell",
                                                  "apply_patch",
                                                  "tool_search"};
  if (type.rfind("web_search", 0) == 0) return true;  // web_search, web_search_preview and dated versions
  return std::find(std::begin(kBuiltin), std::end(kBuiltin), type) != std::end(kBuiltin);
}

// A dropped tool's type as the header and the audit line name it: the caller chose it, so only
// a plain word is repeated.
std::string dropped_name(std::string_view type) {
  if (type.empty() || type.size() > 64) return "unknown";
  for (char c : type) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')) return "unknown";
  }
  return std::string(type);
}

void note_dropped(ToolPlan& plan, std::string_view type) {
  std::string name = dropped_name(type);
  if (plan.dropped_tools.size() >= kMaxDropped ||
      std::find(plan.dropped_tools.begin(), plan.dropped_tools.end(), name) != plan.dropped_tools.end()) {
    return;
  }
  plan.dropped_tools.push_back(std::move(name));
}

// A free-form tool takes one string; its grammar, if any, is told to the model in words.
json custom_spec(const std::string& name, const json& t, const std::string& prefix) {
  std::string description = prefix + string_field(t, "description");
  const json& format = object_field(t, "format");
  if (string_field(format, "type") == "grammar") {
    description += "\n\nThe input must follow this " + string_field(format, "syntax", "grammar") + " grammar:\n" +
                   string_field(format, "definition");
  }
  const json schema = {{"type", "object"},
                       {"properties", {{"input", {{"type", "string"}, {"description", "the tool's input"}}}}},
                       {"required", json::array({"input"})}};
  const json desc = description;
  return tool_spec(name, &desc, &schema, false);
}

json function_spec(const std::string& name, const json& t, const std::string& prefix) {
  if (prefix.empty()) return tool_spec(name, field(t, "description"), field(t, "parameters"), bool_field(t, "strict"));
  const json desc = prefix + string_field(t, "description");
  return tool_spec(name, &desc, field(t, "parameters"), bool_field(t, "strict"));
}

// tool_choice as read: a mode, the one tool it forces, or the tools it allows.
struct Choice {
  std::string mode = "auto";  // auto, none, required, tool
  CallerTool forced;
  std::set<std::pair<std::string, std::string>> allowed;  // (namespace, name); empty: every tool
  std::set<std::string> allowed_namespaces;               // every tool of these
  bool any_allowed = true;
};

std::variant<Choice, ApiError> read_choice(const json* choice, const ToolOptions& options, ToolPlan& plan) {
  Choice out;
  if (choice == nullptr || choice->is_null()) return out;
  if (choice->is_string()) {
    out.mode = choice->get<std::string>();
    if (out.mode != "auto" && out.mode != "none" && out.mode != "required") {
      return bad("tool_choice must be none, auto, required or a tool", "tool_choice");
    }
    return out;
  }
  const std::string type = string_field(*choice, "type");
  if (type == "allowed_tools") {
    out.mode = string_field(*choice, "mode", "auto");
    if (out.mode != "auto" && out.mode != "required") {
      return bad("allowed_tools' mode must be auto or required", "tool_choice.mode");
    }
    const json* list = field(*choice, "tools");
    if (list == nullptr || !list->is_array()) return bad("allowed_tools needs tools", "tool_choice.tools");
    out.any_allowed = false;
    for (const auto& t : *list) {
      const std::string kind = string_field(t, "type");
      if (kind == "namespace") {
        out.allowed_namespaces.insert(string_field(t, "name"));
      } else if (kind == "function" || kind == "custom") {
        out.allowed.emplace(string_field(t, "namespace"), string_field(t, "name"));
      }
      // A built-in tool allowed: it is dropped (or refused) with the tools themselves.
    }
    return out;
  }
  if (type == "function" || type == "custom") {
    out.mode = "tool";
    out.forced = {string_field(*choice, "name"), string_field(*choice, "namespace")};
    if (out.forced.name.empty()) return bad("tool_choice needs the tool's name", "tool_choice.name");
    return out;
  }
  if (is_builtin(type)) {
    if (options.refuse_hosted) {
      return bad("tool_choice names the built-in tool '" + clip(type) +
                     "', which Bedrock cannot run (this gateway refuses built-in tools)",
                 "tool_choice.type");
    }
    // Dropped with its tool (or, for web grounding, left to the model: Converse cannot force
    // a system tool): the model chooses.
    if (!(options.web_grounding && type.rfind("web_search", 0) == 0)) note_dropped(plan, type);
    return out;
  }
  return bad("tool_choice type '" + clip(type) + "' is not supported through Bedrock", "tool_choice.type");
}

bool allowed(const Choice& choice, const ToolNames& names, const std::string& ns, const std::string& name) {
  if (choice.any_allowed) return true;
  if (choice.allowed.count({ns, name}) != 0 || (!ns.empty() && choice.allowed_namespaces.count(ns) != 0)) return true;
  // Named without its namespace (OpenAI's allowed_tools has no such field): a namespace's tool
  // that no top-level tool shares a name with.
  return !ns.empty() && choice.allowed.count({"", name}) != 0 && !names.has_top_level(name);
}

}  // namespace

bool has_web_grounding(std::string_view model) {
  return model.find("amazon.nova-premier-") != std::string_view::npos ||
         model.find("amazon.nova-2-lite-") != std::string_view::npos;
}

bool valid_converse_tool_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxToolName && std::all_of(name.begin(), name.end(), name_char);
}

namespace {

// "{namespace}__{name}" with every character Bedrock refuses made '_', cut to leave room for
// "_" + 8 hex digits of a hash of the two: unique, and the same in every turn.
std::string hashed_name(std::string_view ns, std::string_view name) {
  std::string key(ns);
  key += '\0';
  key += name;
  const std::string suffix = "_" + sha256_hex(key).substr(0, 8);
  std::string out;
  for (char c : (key.replace(ns.size(), 1, "__")).substr(0, kMaxToolName - suffix.size()))
    out += name_char(c) ? c : '_';
  return out + suffix;
}

}  // namespace

std::string ToolNames::derive(std::string_view ns, std::string_view name) const {
  std::string joined(ns);
  joined += "__";
  joined += name;
  if (valid_converse_tool_name(joined) && top_level_.count(joined) == 0) return joined;
  return hashed_name(ns, name);
}

std::optional<std::string> ToolNames::add(const std::string& ns, const std::string& name) {
  if (by_caller_.count({ns, name}) != 0) return std::nullopt;  // the same tool twice
  std::string converse = derive(ns, name);
  // Another namespace's tool joined to the same name ("a__b" + "c", "a" + "b__c"): the hashed form.
  if (namespaced_.count(converse) != 0) converse = hashed_name(ns, name);
  if (top_level_.count(converse) != 0 || namespaced_.count(converse) != 0) return std::nullopt;
  namespaced_.emplace(converse, CallerTool{name, ns});
  by_caller_.emplace(std::make_pair(ns, name), converse);
  namespaces_of_[name].push_back(ns);
  return converse;
}

std::string ToolNames::converse_name(std::string_view ns, std::string_view name) const {
  if (ns.empty()) {
    if (top_level_.count(name) != 0) return std::string(name);
    if (const auto one = only_namespace_of(name)) return converse_name(*one, name);
    return std::string(name);
  }
  if (const auto it = by_caller_.find({std::string(ns), std::string(name)}); it != by_caller_.end()) {
    return it->second;
  }
  // Not on offer this turn: the name it would get, unless an offered tool has that one.
  std::string converse = derive(ns, name);
  if (namespaced_.count(converse) != 0) converse = hashed_name(ns, name);
  return converse;
}

std::optional<std::string> ToolNames::only_namespace_of(std::string_view name) const {
  const auto it = namespaces_of_.find(name);
  if (it == namespaces_of_.end() || it->second.size() != 1) return std::nullopt;  // none, or which?
  return it->second.front();
}

const CallerTool* ToolNames::caller(std::string_view converse_name) const {
  const auto it = namespaced_.find(converse_name);
  return it == namespaced_.end() ? nullptr : &it->second;
}

std::variant<ToolPlan, ApiError> plan_tools(json& c, const json& req, const ToolOptions& options) {
  ToolPlan plan;
  const json* tools = field(req, "tools");
  if (tools == nullptr || tools->is_null()) return plan;
  if (!tools->is_array()) return bad("tools must be an array", "tools");
  auto read = read_choice(field(req, "tool_choice"), options, plan);
  if (auto* e = std::get_if<ApiError>(&read)) return *e;
  Choice& choice = std::get<Choice>(read);

  // Top-level names first: a namespace's tools yield to them wherever they stand.
  for (const auto& t : *tools) {
    const std::string type = string_field(t, "type");
    if (type == "function" || type == "custom") plan.names.add_top_level(string_field(t, "name"));
  }
  json specs = json::array();
  // One tool of the caller's (top-level, or of namespace `ns` at `p`) → a toolSpec.
  const auto add_tool = [&](const json& t, const std::string& p, const std::string& ns,
                            const std::string& prefix) -> std::optional<ApiError> {
    const std::string type = string_field(t, "type");
    const json* name = field(t, "name");
    if (name == nullptr || !name->is_string() || name->get<std::string>().empty()) {
      return bad("a tool needs a name", p + ".name");
    }
    const std::string n = name->get<std::string>();
    if (!allowed(choice, plan.names, ns, n)) return std::nullopt;
    std::string converse = n;
    if (!ns.empty()) {
      auto named = plan.names.add(ns, n);
      if (!named) return bad("tool '" + clip(n) + "' appears twice in namespace '" + clip(ns) + "'", p + ".name");
      converse = std::move(*named);
    }
    if (type == "function") {
      specs.push_back(function_spec(converse, t, prefix));
    } else {
      specs.push_back(custom_spec(converse, t, prefix));
      plan.custom_tools.insert(converse);
    }
    return add_cache_point(specs, t, p);
  };
  for (std::size_t i = 0; i < tools->size(); ++i) {
    const json& t = (*tools)[i];
    const std::string p = index_param("tools", i);
    const std::string type = string_field(t, "type");
    if (type == "function" || type == "custom") {
      if (auto e = add_tool(t, p, "", "")) return *e;
    } else if (type == "namespace") {
      const std::string ns = string_field(t, "name");
      if (ns.empty()) return bad("a namespace needs a name", p + ".name");
      const json* inner = field(t, "tools");
      if (inner == nullptr || !inner->is_array()) return bad("a namespace needs its tools", p + ".tools");
      // The namespace's description reaches the model with each of its tools.
      const std::string about = string_field(t, "description");
      const std::string prefix = about.empty() ? std::string() : about + "\n\n";
      for (std::size_t j = 0; j < inner->size(); ++j) {
        const json& f = (*inner)[j];
        const std::string q = index_param(p + ".tools", j);
        const std::string kind = string_field(f, "type");
        if (kind != "function" && kind != "custom") {
          return bad("a namespace holds function and custom tools, not '" + clip(kind) + "'", q + ".type");
        }
        if (auto e = add_tool(f, q, ns, prefix)) return *e;
      }
    } else if (!type.empty()) {  // built-in (is_builtin) or a type this gateway does not know
      if (options.web_grounding && type.rfind("web_search", 0) == 0) {
        if (!plan.grounded) specs.push_back({{"systemTool", {{"name", "nova_grounding"}}}});
        plan.grounded = true;
        continue;
      }
      if (options.refuse_hosted) {
        return bad("tool type '" + clip(type) +
                       "' is a built-in tool Bedrock cannot run (this gateway refuses them; function, custom and "
                       "namespace tools are supported)",
                   p + ".type");
      }
      note_dropped(plan, type);
    } else {
      return bad("each tool needs a type", p + ".type");
    }
  }
  if (choice.mode == "tool" && choice.forced.ns.empty() && !plan.names.has_top_level(choice.forced.name)) {
    // OpenAI's tool_choice has no namespace field (openai-node 6, the AI SDK send a bare
    // name): a name only one namespace has is that namespace's tool.
    if (const auto ns = plan.names.only_namespace_of(choice.forced.name)) choice.forced.ns = *ns;
  }
  if (choice.mode == "tool") {
    const std::string forced = plan.names.converse_name(choice.forced.ns, choice.forced.name);
    const bool offered = std::any_of(specs.begin(), specs.end(), [&](const json& s) {
      return string_field(object_field(s, "toolSpec"), "name") == forced;
    });
    if (!offered) return bad("tool_choice names a tool that is not in tools", "tool_choice.name");
  }
  if (specs.empty()) return plan;
  plan.tools_off = choice.mode == "none";
  json config = {{"tools", std::move(specs)}};
  if (choice.mode == "required") {
    config["toolChoice"] = {{"any", json::object()}};
  } else if (choice.mode == "tool") {
    config["toolChoice"] = {{"tool", {{"name", plan.names.converse_name(choice.forced.ns, choice.forced.name)}}}};
  } else {
    config["toolChoice"] = {{"auto", json::object()}};
  }
  c["toolConfig"] = std::move(config);
  return plan;
}

}  // namespace signgate::api::openai
