// The Responses API's tools as Converse takes them: function and free-form (custom) tools,
// namespaces of them (Codex's multi_agent_v1: ordinary client-side functions grouped under a
// name), and the built-in tools OpenAI runs on its side (web_search, file_search, ...), which
// Bedrock cannot run: dropped, refused, or (web_search on an Amazon Nova model that has web
// grounding) turned into Bedrock's own system tool. Pure JSON (no I/O).
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "api/openai/converse_parts.h"

namespace signgate::api::openai {

// A tool as the caller knows it: its name and, for a tool of a namespace, the namespace.
struct CallerTool {
  std::string name;
  std::string ns;  // empty: a top-level tool
};

// Bedrock's tool name grammar: [a-zA-Z0-9_-]{1,64}.
bool valid_converse_tool_name(std::string_view name);

// The names a request's tools have on each side. A top-level tool keeps its name; a tool of a
// namespace is "{namespace}__{name}" when that is a valid Bedrock name no other tool has, else
// its namespace and name with every other character made '_', cut to fit, and "_" + 8 hex
// digits of a hash of both (so a name that does not fit is never merely truncated into
// another's). The same (namespace, name) gets the same Converse name in every turn.
class ToolNames {
 public:
  // A top-level tool's name, taken first: namespaced tools yield to it.
  void add_top_level(const std::string& name) { top_level_.insert(name); }
  // Names a namespace's tool; nullopt when (by a hash collision) no unique name is left.
  std::optional<std::string> add(const std::string& ns, const std::string& name);
  // The Converse name of (namespace, name): the one add() gave it, else what it would get (a
  // call sent back for a tool not on offer in this turn). A name without a namespace that no
  // top-level tool has but one namespace does is that namespace's.
  std::string converse_name(std::string_view ns, std::string_view name) const;
  bool has_top_level(std::string_view name) const { return top_level_.count(name) != 0; }
  // The one namespace that has a tool `name`; nullopt when none or several do.
  std::optional<std::string> only_namespace_of(std::string_view name) const;
  // The caller's names for a Converse name; nullptr when it is a top-level tool's own name.
  const CallerTool* caller(std::string_view converse_name) const;

 private:
  std::string derive(std::string_view ns, std::string_view name) const;

  std::set<std::string, std::less<>> top_level_;
  std::map<std::string, CallerTool, std::less<>> namespaced_;                   // Converse name → the caller's
  std::map<std::pair<std::string, std::string>, std::string> by_caller_;        // (namespace, name) → Converse
  std::map<std::string, std::vector<std::string>, std::less<>> namespaces_of_;  // name → namespaces having it
};

// Whether the model (or family) has Bedrock's nova_grounding system tool: Amazon Nova Premier
// and Nova 2 Lite (Bedrock's Nova user guides, "Web Grounding", 2025-10; US Regions, through
// their us. profiles).
bool has_web_grounding(std::string_view model);

struct ToolOptions {
  bool refuse_hosted = false;  // responses.hosted_tools: refuse
  bool web_grounding = false;  // the model has Bedrock's nova_grounding system tool
};

// What the tools of a request came to.
struct ToolPlan {
  ToolNames names;
  std::set<std::string> custom_tools;      // Converse names of free-form tools (input: one string)
  std::vector<std::string> dropped_tools;  // built-in tools dropped, by type, once each
  bool grounded = false;                   // web_search became Nova's web grounding
  bool tools_off = false;                  // tool_choice "none"
};

// Reads `tools` and `tool_choice` into the Converse request's toolConfig.
std::variant<ToolPlan, ApiError> plan_tools(nlohmann::json& converse, const nlohmann::json& request,
                                            const ToolOptions& options);

}  // namespace signgate::api::openai
