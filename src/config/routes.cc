// identities: and routes: (SPEC §7), read and validated: a route that could send a call
// nowhere, or to an identity nobody defined, is refused at start and on reload.
#include "config/routes.h"

#include <algorithm>
#include <set>

#include "aws/model_id.h"
#include "config/config.h"
#include "config/reader.h"

namespace signgate::config {

std::string_view fail_kind_name(FailKind k) {
  switch (k) {
    case kThrottled: return "throttled";
    case kUnavailable: return "unavailable";
    case kTimeout: return "timeout";
    case kServerError: return "server_error";
    case kModelError: return "model_error";
    case kDenied: return "denied";
  }
  return "other";
}

std::optional<FailKind> fail_kind_from_name(std::string_view name) {
  for (const FailKind k : kAllFailKinds) {
    if (fail_kind_name(k) == name) return k;
  }
  return std::nullopt;
}

namespace detail {
namespace {

// Names that become metrics labels and audit fields: short, printable, no quotes.
bool label_safe(const std::string& name) {
  return !name.empty() && name.size() <= 128 && std::all_of(name.begin(), name.end(), [](char ch) {
    return static_cast<unsigned char>(ch) > 0x20 && static_cast<unsigned char>(ch) < 0x7f && ch != '"' && ch != '\\';
  });
}

bool identity_name_ok(const std::string& name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
  });
}

void read_identities(Reader& r, const YAML::Node& node, Config& c) {
  Problems& p = r.problems();
  if (!node.IsMap()) {
    p.add("identities", "must map names to roles (identities: {overflow: {role_arn: ..., region: ...}})");
    return;
  }
  for (const auto& kv : node) {
    IdentityConfig id;
    id.name = kv.first.as<std::string>();
    const std::string w = "identities." + id.name;
    if (!identity_name_ok(id.name)) {
      p.add(w, "an identity's name is 1 to 64 of [A-Za-z0-9_-]");
    } else if (id.name == "default") {
      p.add(w, "'default' is the calling client's own identity (aws: or clients[].aws:); name this one otherwise");
    }
    r.only(kv.second, w,
           {"role_arn", "external_id", "session_name", "duration_seconds", "source_identity", "policy", "tags",
            "region", "sts_endpoint"});
    if (!kv.second.IsMap()) continue;
    id.role = c.aws.role;
    id.role.role_arn.clear();
    id.role.external_id.clear();
    id.role.tags.clear();
    read_role(r, kv.second, w, id.role);
    if (id.role.role_arn.empty()) p.add(w + ".role_arn", "is required: the role this identity assumes");
    id.region = r.str(kv.second, w, "region").value_or(c.aws.region);
    if (!valid_region(id.region)) {
      p.add(w + ".region", "must be an AWS region like us-west-2, not '" + id.region + "'");
    }
    const auto sts = r.str(kv.second, w, "sts_endpoint");
    r.url(sts, w + ".sts_endpoint");
    id.sts_endpoint = sts.value_or("");
    id.role.sts_region = id.region;
    id.role.sts_endpoint = id.sts_endpoint;
    c.identities.push_back(std::move(id));
  }
}

// Whether a cross-region profile's geography serves `region` (Bedrock refuses the call with a
// ValidationException otherwise, which never fails over); true for anything not a known profile.
bool profile_serves(std::string_view model, std::string_view region) {
  const auto starts = [](std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; };
  if (starts(model, "us-gov.")) return starts(region, "us-gov-");
  if (starts(model, "us.")) return starts(region, "us-") && !starts(region, "us-gov-");
  if (starts(model, "eu.")) return starts(region, "eu-") && !starts(region, "eusc-");
  if (starts(model, "apac.")) return starts(region, "ap-");
  if (starts(model, "jp.")) return region == "ap-northeast-1" || region == "ap-northeast-3";
  if (starts(model, "au.")) return region == "ap-southeast-2" || region == "ap-southeast-4";
  if (starts(model, "ca.")) return starts(region, "ca-");
  if (starts(model, "global.")) {
    return !starts(region, "us-gov-") && !starts(region, "cn-") && !starts(region, "us-iso") &&
           !starts(region, "eusc-");
  }
  return true;
}

const IdentityConfig* find_identity(const Config& c, const std::string& name) {
  for (const auto& id : c.identities) {
    if (id.name == name) return &id;
  }
  return nullptr;
}

void read_target(Reader& r, const YAML::Node& n, const std::string& w, const Config& c, TargetConfig& t) {
  Problems& p = r.problems();
  r.only(n, w, {"name", "identity", "region", "model", "weight", "bedrock_endpoint"});
  if (!n.IsMap()) return;
  t.identity = r.str(n, w, "identity").value_or("default");
  std::string identity_region = c.aws.region;
  if (t.identity != "default") {
    if (const IdentityConfig* id = find_identity(c, t.identity)) {
      identity_region = id->region;
    } else {
      std::string known = "default";
      for (const auto& i : c.identities) {
        if (i.name != "default") known += ", " + i.name;
      }
      p.add(w + ".identity", "'" + t.identity + "' is not defined under identities: (known: " + known + ")");
    }
  }
  t.region = r.str(n, w, "region").value_or(identity_region);
  if (!valid_region(t.region)) p.add(w + ".region", "must be an AWS region like eu-west-1, not '" + t.region + "'");
  t.model = r.str(n, w, "model").value_or("");
  if (!t.model.empty() && !aws::valid_model_id(t.model)) {
    p.add(w + ".model", "'" + t.model + "' is not a Bedrock model ID, inference profile or ARN");
  } else if (!t.model.empty() && !profile_serves(t.model, t.region)) {
    p.add(w + ".model", "'" + t.model + "' is a cross-region profile of another geography than " + t.region +
                            " (Bedrock refuses it there); use the profile of " + t.region + "'s geography");
  }
  if (auto weight = r.str(n, w, "weight")) {
    long long v = 0;
    std::size_t used = 0;
    try {
      v = std::stoll(*weight, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != weight->size() || v <= 0 || v > 1'000'000) {
      p.add(w + ".weight", "must be a whole number from 1 to 1000000, not '" + *weight +
                               "' (to take a target out, remove it or list it last under strategy: priority)");
    } else {
      t.weight = static_cast<std::uint32_t>(v);
    }
  }
  const auto endpoint = r.str(n, w, "bedrock_endpoint");
  r.url(endpoint, w + ".bedrock_endpoint");
  t.bedrock_endpoint = endpoint.value_or("");
  t.name = t.identity + "/" + t.region + (t.model.empty() ? "" : "/" + t.model);
  if (auto name = r.str(n, w, "name")) t.name = *name;
  if (!label_safe(t.name)) p.add(w + ".name", "must be 1 to 128 printable characters without spaces or quotes");
}

void read_route(Reader& r, const YAML::Node& n, const std::string& w, Config& c, RouteConfig& route) {
  Problems& p = r.problems();
  r.only(n, w, {"name", "match", "strategy", "sticky", "targets", "fail_over_on", "eject", "deadline_ms"});
  if (!n.IsMap()) return;
  if (n["match"] && n["match"].IsScalar()) {
    route.match = {r.str(n, w, "match").value_or("")};
  } else {
    route.match = r.list(n, w, "match");
  }
  if (route.match.empty()) p.add(w + ".match", "is required: the aliases or model-ID globs this route serves");
  for (std::size_t m = 0; m < route.match.size(); ++m) {
    if (c.models.count(route.match[m]) != 0) continue;  // an alias from models:
    if (auto bad = model_pattern_problem(route.match[m])) p.add(w + ".match[" + std::to_string(m) + "]", *bad);
  }
  route.name = route.match.empty() ? std::string() : route.match.front();
  if (auto name = r.str(n, w, "name")) route.name = *name;
  if (!label_safe(route.name)) p.add(w + ".name", "must be 1 to 128 printable characters without spaces or quotes");

  const std::string strategy = r.str(n, w, "strategy").value_or("priority");
  if (strategy == "weighted") {
    route.strategy = Strategy::kWeighted;
  } else if (strategy != "priority") {
    p.add(w + ".strategy", "must be priority or weighted, not '" + strategy + "'");
  }
  const std::string sticky = r.str(n, w, "sticky").value_or("none");
  if (sticky == "client") {
    route.sticky = Sticky::kClient;
  } else if (sticky == "prefix") {
    route.sticky = Sticky::kPrefix;
  } else if (sticky != "none") {
    p.add(w + ".sticky", "must be none, client or prefix, not '" + sticky + "'");
  }

  const YAML::Node targets = n["targets"];
  if (!targets || targets.IsNull() || (targets.IsSequence() && targets.size() == 0)) {
    p.add(w + ".targets", "is empty: a route needs at least one target");
  } else if (!targets.IsSequence()) {
    p.add(w + ".targets", "must be a list of {identity, region, model, weight}");
  } else if (targets.size() > 16) {
    p.add(w + ".targets", "may list at most 16 targets");
  } else {
    std::set<std::string> names, places;
    for (std::size_t i = 0; i < targets.size(); ++i) {
      const std::string tw = w + ".targets[" + std::to_string(i) + "]";
      TargetConfig t;
      read_target(r, targets[i], tw, c, t);
      // A target sending the model as asked, when every name the route matches is a profile
      // of another geography: every call reaching it would be refused.
      if (t.model.empty() && !route.match.empty() &&
          std::none_of(route.match.begin(), route.match.end(), [&](const std::string& m) {
            const auto alias = c.models.find(m);
            return profile_serves(alias != c.models.end() ? alias->second : m, t.region);
          })) {
        p.add(tw + ".region", t.region +
                                  " is outside the geography of every profile this route matches; give the "
                                  "target a model: of its own geography");
      }
      // A target is (identity, region, model as sent): the same one twice would be tried twice.
      if (!places.insert(t.identity + '\n' + t.region + '\n' + t.model).second) {
        p.add(tw, "duplicates an earlier target (the same identity, region and model)");
      } else if (!names.insert(t.name).second) {
        p.add(tw + ".name", "'" + t.name + "' names another target of this route");
      }
      route.targets.push_back(std::move(t));
    }
  }

  if (n["fail_over_on"]) {
    route.fail_over_on = 0;
    const auto kinds = r.list(n, w, "fail_over_on");
    for (std::size_t k = 0; k < kinds.size(); ++k) {
      if (auto kind = fail_kind_from_name(kinds[k])) {
        route.fail_over_on |= *kind;
      } else {
        p.add(w + ".fail_over_on[" + std::to_string(k) + "]",
              "'" + kinds[k] +
                  "' is not a failure kind (throttled, unavailable, timeout, server_error, model_error, "
                  "denied); a 4xx like ValidationException never fails over");
      }
    }
  }
  if (const YAML::Node e = n["eject"]; e && !e.IsNull()) {
    r.only(e, w + ".eject", {"after", "for_seconds"});
    if (auto v = r.integer(e, w + ".eject", "after", 1, 1000)) route.eject_after = static_cast<int>(*v);
    if (auto v = r.integer(e, w + ".eject", "for_seconds", 1, 3600)) route.eject_for = std::chrono::seconds(*v);
  }
  if (auto v = r.integer(n, w, "deadline_ms", 100, 3'600'000)) route.deadline = std::chrono::milliseconds(*v);
}

}  // namespace

void read_routes(Reader& r, const YAML::Node& root, Config& c) {
  Problems& p = r.problems();
  if (const YAML::Node ids = root["identities"]; ids && !ids.IsNull()) read_identities(r, ids, c);
  const YAML::Node routes = root["routes"];
  if (!routes || routes.IsNull()) return;
  if (!routes.IsSequence()) {
    p.add("routes", "must be a list of routes ({match, targets, ...})");
    return;
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const std::string w = "routes[" + std::to_string(i) + "]";
    RouteConfig route;
    read_route(r, routes[i], w, c, route);
    if (!route.name.empty() && !names.insert(route.name).second) {
      p.add(w + ".name", "'" + route.name + "' names another route (name: tells them apart)");
    }
    c.routes.push_back(std::move(route));
  }
}

}  // namespace detail
}  // namespace signgate::config
