"""Bedrock's Converse API as the emulator answers it: the request checked as Bedrock checks it
(botocore's bedrock-runtime 2023-09-30 shapes, and what Claude adds on top: alternating roles,
tool results answering tool uses, thinking's budget and signed blocks, structured output only
on the models that have it; tool names `[a-zA-Z0-9_-]{1,64}` and unique; system tools only
nova_grounding, only on the Nova profiles that have web grounding; serviceTier's shape, enum
and the models that have priority and flex), then an answer built from what was asked:

  - thinking on (additionalModelRequestFields.thinking): a signed reasoning block first; a
    later turn must send it back unchanged before its tool use, or the call is refused;
  - outputConfig.textFormat json_schema: text that is a JSON instance of the schema;
  - toolChoice {"tool": NAME}: that tool, with an input made from its schema;
  - Codex's wait_agent on offer (any tool whose name ends in wait_agent, as a namespaced
    function flattened to e.g. multi_agent_v1__wait_agent) and "signgate-agents" in the prompt:
    a call of it with {"targets": ["signgate-no-such-agent"]};
  - Codex's exec_command on offer and "signgate-tool" in the prompt: a call of it;
  - other tools on offer: a call of the first, {"city": "Paris"}; tool results: echoed back;
  - the nova_grounding system tool on offer and "signgate-search" in the prompt: text, then a
    citationsContent block citing a web location {url, domain} (CITED_URL); streamed, the cited
    text's deltas are followed by a contentBlockDelta.delta.citation in the same block;
  - serviceTier {"type": T}: echoed in the stream's metadata event, and in the non-stream
    answer that response_body() builds (aws_fake.py's Converse answer); no serviceTier asked,
    none echoed;
  - cache points: the first request with a prefix writes it, later ones read it.

Every Converse body is also kept, with its model, in server.converse_requests (a list).
"""
import hashlib
import json
import re

SIGNING_KEY = b"emulator-thinking-key"
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
TOP_LEVEL = {"messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig",
             "additionalModelRequestFields", "promptVariables", "additionalModelResponseFieldPaths",
             "requestMetadata", "performanceConfig", "outputConfig", "serviceTier"}
CITED_URL = "https://docs.example.org/signgate/sigv4"
CITED_DOMAIN = "docs.example.org"
# Web grounding (toolConfig.tools[].systemTool.name = "nova_grounding"): "only available in US
# regions ... through the cross-region inference profile us.amazon.nova-premier-v1:0" (Nova v1
# user guide, grounding.html); Nova 2 Lite through us.amazon.nova-2-lite-v1:0 (Nova 2 user guide,
# web-grounding.html).
GROUNDING_MODELS = {"us.amazon.nova-premier-v1:0", "us.amazon.nova-2-lite-v1:0"}
SYSTEM_TOOLS = {"nova_grounding"}
# Service tiers (bedrock/latest/userguide/service-tiers-inference.html, as of 2026-02): priority
# and flex on these base models (a geography prefix such as us. or global. is allowed); reserved
# on Claude 4.5 and later profiles, only with a reservation, which the emulator never has. Claude
# models have only the default tier.
SERVICE_TIERS = ("priority", "default", "flex", "reserved")
PRIORITY_FLEX = ("amazon.nova-pro-", "amazon.nova-premier-", "amazon.nova-2-lite-", "amazon.nova-2-pro-",
                 "openai.gpt-oss-", "qwen.qwen3-", "deepseek.v3-", "google.gemma-3-", "minimax.minimax-m2",
                 "moonshot.kimi-k2")
BLOCKS = {"text", "image", "document", "video", "toolUse", "toolResult", "guardContent", "cachePoint",
          "reasoningContent", "citationsContent", "searchResult", "audio"}


class Invalid(Exception):
    pass


def signature(text):
    return "sig-" + hashlib.sha256(SIGNING_KEY + text.encode()).hexdigest()[:32]


def claude_version(model):
    m = re.search(r"claude-(?:(?:opus|sonnet|haiku|instant)-)?(\d{1,2})(?:-(\d{1,2}))?(?:-|$|:)", model)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2) or 0)


def structured_output_models(model):
    v = claude_version(model)
    return v is not None and v >= (4, 5)


def _check_block(block, where, role):
    if not isinstance(block, dict) or len(block) != 1 or next(iter(block)) not in BLOCKS:
        raise Invalid("%s: a content block has exactly one member of the ContentBlock union" % where)
    kind, value = next(iter(block.items()))
    if kind == "text":
        if not isinstance(value, str) or not value.strip():
            raise Invalid("%s: The text field in the ContentBlock object is blank. Add text to the text field, "
                          "and try again." % where)
    elif kind == "image":
        if value.get("format") not in ("png", "jpeg", "gif", "webp") or "bytes" not in value.get("source", {}):
            raise Invalid("%s: image needs format and source.bytes" % where)
    elif kind == "document":
        if value.get("format") not in ("pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"):
            raise Invalid("%s: document format" % where)
        if not re.match(r"^[A-Za-z0-9\-()\[\] ]+$", value.get("name", "")) or "  " in value.get("name", ""):
            raise Invalid("%s: document name" % where)
    elif kind == "toolUse":
        if role != "assistant" or not isinstance(value.get("input"), dict) or not value.get("toolUseId") \
                or not TOOL_NAME.match(value.get("name", "")):
            raise Invalid("%s: toolUse needs toolUseId, name and an object input, in an assistant turn" % where)
    elif kind == "toolResult":
        content = value.get("content")
        if role != "user" or not value.get("toolUseId") or not isinstance(content, list):
            raise Invalid("%s: toolResult needs toolUseId and content, in a user turn" % where)
        for c in content:
            if not isinstance(c, dict) or len(c) != 1 or next(iter(c)) not in ("text", "image", "json", "document",
                                                                                 "video", "searchResult"):
                raise Invalid("%s: toolResult content" % where)
    elif kind == "reasoningContent":
        if role != "assistant":
            raise Invalid("%s: reasoning content only in assistant turns" % where)
        if "reasoningText" in value:
            rt = value["reasoningText"]
            if not isinstance(rt.get("text"), str):
                raise Invalid("%s: reasoningText needs text" % where)
        elif "redactedContent" not in value:
            raise Invalid("%s: reasoningContent is reasoningText or redactedContent" % where)
    elif kind == "cachePoint":
        if value.get("type") != "default" or value.get("ttl", "5m") not in ("5m", "1h") or len(value) > 2:
            raise Invalid("%s: cachePoint is {type: default, ttl?}" % where)


def _check_tool_name(name, where):
    """ToolName: [a-zA-Z0-9_-]+, 1 to 64 characters, in the words of Bedrock's validation layer."""
    if not isinstance(name, str) or not name:
        raise Invalid("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must "
                      "not be null" % where)
    if len(name) > 64:
        raise Invalid("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must "
                      "have length less than or equal to 64" % (name, where))
    if not TOOL_NAME.match(name):
        raise Invalid("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must "
                      "satisfy regular expression pattern: [a-zA-Z0-9_-]+" % (name, where))


def _check_system_tool(spec, model):
    if set(spec) != {"name"}:
        raise Invalid("toolConfig.tools: systemTool has only a name")
    if spec["name"] not in SYSTEM_TOOLS:
        raise Invalid("The system tool %s is not supported. Check the tool name and try again." % spec["name"])
    if model not in GROUNDING_MODELS:
        raise Invalid("The model %s does not support the system tool %s. Check the model and the tool and try "
                      "again." % (model, spec["name"]))


def _base_model(model):
    """The model without a cross-region profile's geography prefix."""
    head, _, rest = model.partition(".")
    return rest if head in ("us", "eu", "apac", "jp", "au", "ca", "us-gov", "global") and rest else model


def service_tier(request):
    """The tier asked for ("priority", "default", ...), or None."""
    tier = request.get("serviceTier")
    return tier.get("type") if isinstance(tier, dict) else None


def _check_service_tier(request, model):
    if "serviceTier" not in request:
        return
    tier = request["serviceTier"]
    # ServiceTier is a structure {"type": ServiceTierType}; a bare string is botocore's
    # ParamValidationError before it ever leaves the client, and Bedrock's refusal on the wire.
    if not isinstance(tier, dict) or set(tier) != {"type"} or tier["type"] not in SERVICE_TIERS:
        raise Invalid("service tier provided is invalid")
    kind = tier["type"]
    if kind == "default":
        return
    base = _base_model(model)
    if kind == "reserved":
        v = claude_version(model)
        if v is not None and v >= (4, 5) and base != model:
            raise Invalid("Reservation not found.")
        raise Invalid("The provided service tier is not supported for this model.")
    if not base.startswith(PRIORITY_FLEX):
        raise Invalid("The provided service tier is not supported for this model.")


class Usage(dict):
    """Converse's usage object; carries the tier that served the call to stream_events and
    response_body (an attribute, so it is never serialised with the usage)."""
    service_tier = None


def response_body(content, stop, usage):
    """Converse's (non-stream) answer: output, stopReason, usage, metrics, and serviceTier when
    the call asked for one."""
    body = {"output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop, "usage": usage, "metrics": {"latencyMs": 1}}
    if getattr(usage, "service_tier", None):
        body["serviceTier"] = {"type": usage.service_tier}
    return body


def check(request, model):
    """Raises Invalid with Bedrock's kind of message for what Bedrock would refuse."""
    if not isinstance(request, dict):
        raise Invalid("the body is not a JSON object")
    unknown = set(request) - TOP_LEVEL
    if unknown:
        raise Invalid("Unknown parameter(s) in the request: %s" % ", ".join(sorted(unknown)))
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Invalid("messages must be a non-empty list")
    if messages[0].get("role") != "user":
        raise Invalid("A conversation must start with a user message. Try again with a conversation that starts "
                      "with a user message.")
    points = 0
    for i, m in enumerate(messages):
        where = "messages.%d" % i
        if m.get("role") not in ("user", "assistant") or set(m) - {"role", "content"}:
            raise Invalid("%s: role must be user or assistant" % where)
        if i and messages[i - 1]["role"] == m["role"]:
            raise Invalid("A conversation must alternate between user and assistant roles. Make sure the "
                          "conversation alternates between user and assistant roles and try again.")
        content = m.get("content")
        if not isinstance(content, list) or not content:
            raise Invalid("%s: content must be a non-empty list" % where)
        for j, b in enumerate(content):
            _check_block(b, "%s.content.%d" % (where, j), m["role"])
            points += "cachePoint" in b
        uses = [b["toolUse"]["toolUseId"] for b in content if "toolUse" in b]
        if uses:
            after = messages[i + 1]["content"] if i + 1 < len(messages) else None
            if after is None:
                continue
            results = [b["toolResult"]["toolUseId"] for b in after if "toolResult" in b]
            if sorted(results) != sorted(uses):
                raise Invalid("Expected toolResult blocks at messages.%d.content for the following Ids: %s"
                              % (i + 1, ", ".join(uses)))
        results = [b["toolResult"]["toolUseId"] for b in content if "toolResult" in b]
        if results:
            before = messages[i - 1]["content"] if i else []
            if sorted(results) != sorted(b["toolUse"]["toolUseId"] for b in before if "toolUse" in b):
                raise Invalid("%s: toolResult blocks do not match the toolUse blocks of the previous turn" % where)
    for j, b in enumerate(request.get("system") or []):
        if not isinstance(b, dict) or len(b) != 1 or next(iter(b)) not in ("text", "guardContent", "cachePoint"):
            raise Invalid("system.%d: a system block is text, guardContent or cachePoint" % j)
        if "text" in b and not b["text"].strip():
            raise Invalid("system.%d: blank text" % j)
        points += "cachePoint" in b
    inference = request.get("inferenceConfig") or {}
    if set(inference) - {"maxTokens", "temperature", "topP", "stopSequences"}:
        raise Invalid("inferenceConfig has unknown members")
    tools = (request.get("toolConfig") or {}).get("tools") or []
    names, system_tools = [], []
    for n, t in enumerate(tools, 1):
        if not isinstance(t, dict) or len(t) != 1 or next(iter(t)) not in ("toolSpec", "systemTool", "cachePoint"):
            raise Invalid("toolConfig.tools: a tool has exactly one member of the Tool union (toolSpec, systemTool, "
                          "cachePoint)")
        if "cachePoint" in t:
            points += 1
            continue
        kind = next(iter(t))
        spec = t[kind] if isinstance(t[kind], dict) else {}
        _check_tool_name(spec.get("name"), "toolConfig.tools.%d.member.%s.name" % (n, kind))
        if kind == "systemTool":
            _check_system_tool(spec, model)
            system_tools.append(spec["name"])
            continue
        if not isinstance((spec.get("inputSchema") or {}).get("json"), dict):
            raise Invalid("toolConfig.tools: toolSpec needs a name and inputSchema.json")
        if spec["name"] in names:
            raise Invalid("The model returned the following errors: tools: Tool names must be unique."
                          if claude_version(model) else
                          "The toolConfig field contains duplicate tool names: %s. Tool names must be unique."
                          % spec["name"])
        names.append(spec["name"])
    choice = (request.get("toolConfig") or {}).get("toolChoice")
    if choice is not None:
        if len(choice) != 1 or next(iter(choice)) not in ("auto", "any", "tool"):
            raise Invalid("toolChoice is auto, any or tool")
        if "tool" in choice and choice["tool"].get("name") not in names:
            raise Invalid("toolChoice names a tool that is not in toolConfig.tools")
    if request.get("toolConfig") is not None and not names and not system_tools:
        raise Invalid("toolConfig.tools must not be empty")
    if points > 4:
        raise Invalid("A maximum of 4 cache points is allowed")
    if any("toolUse" in b or "toolResult" in b for m in messages for b in m["content"]) and not names:
        raise Invalid("The toolConfig field must be defined when using toolUse and toolResult content blocks.")

    _check_service_tier(request, model)

    output_config = request.get("outputConfig")
    if output_config is not None:
        fmt = output_config.get("textFormat")
        if fmt is not None:
            if not structured_output_models(model):
                raise Invalid("This model doesn't support the outputConfig.textFormat field. Remove "
                              "outputConfig.textFormat and try again.")
            schema = ((fmt.get("structure") or {}).get("jsonSchema") or {}).get("schema")
            if fmt.get("type") != "json_schema" or not isinstance(schema, str):
                raise Invalid("outputConfig.textFormat: type json_schema with structure.jsonSchema.schema (a string)")
            json.loads(schema)
        if "effort" in output_config and output_config["effort"] not in ("low", "medium", "high", "xhigh", "max"):
            raise Invalid("outputConfig.effort")

    extra = request.get("additionalModelRequestFields") or {}
    thinking = extra.get("thinking")
    version = claude_version(model)
    if thinking is not None:
        if version is None or version < (3, 7):
            raise Invalid("The model returned the following errors: thinking: Extra inputs are not permitted")
        if thinking.get("type") == "enabled":
            budget, max_tokens = thinking.get("budget_tokens"), inference.get("maxTokens")
            if not isinstance(budget, int) or budget < 1024:
                raise Invalid("The model returned the following errors: thinking.enabled.budget_tokens: Input "
                              "should be greater than or equal to 1024")
            if not isinstance(max_tokens, int) or budget >= max_tokens:
                raise Invalid("The model returned the following errors: `max_tokens` must be greater than "
                              "`thinking.budget_tokens`")
        elif thinking.get("type") == "adaptive":
            if version < (4, 6):
                raise Invalid("The model returned the following errors: adaptive thinking is not supported on "
                              "this model")
        else:
            raise Invalid("thinking.type is enabled or adaptive")
        if "temperature" in inference and inference["temperature"] != 1:
            raise Invalid("The model returned the following errors: temperature may only be set to 1 when "
                          "thinking is enabled")
        if choice is not None and "auto" not in choice:
            raise Invalid("The model returned the following errors: Thinking may not be enabled when tool_choice "
                          "forces tool use.")
        # The assistant turn whose tool use is being answered must open with its signed thinking.
        last_assistant = next((m for m in reversed(messages) if m["role"] == "assistant"), None)
        if last_assistant and any("toolUse" in b for b in last_assistant["content"]):
            first = last_assistant["content"][0]
            if "reasoningContent" not in first:
                raise Invalid("The model returned the following errors: messages.%d.content.0.type: Expected "
                              "`thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` is enabled, "
                              "a final `assistant` message must start with a thinking block."
                              % messages.index(last_assistant))
    for m in messages:
        for b in m["content"]:
            rt = (b.get("reasoningContent") or {}).get("reasoningText")
            if rt is not None and rt.get("signature") != signature(rt.get("text", "")):
                raise Invalid("The model returned the following errors: Invalid `signature` in `thinking` block")
    return thinking is not None


def sample(schema, depth=0):
    """A JSON instance of a (simple) JSON schema."""
    t = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "null")
    if "enum" in (schema or {}):
        return schema["enum"][0]
    if t == "object" or (t is None and "properties" in (schema or {})):
        props = schema.get("properties") or {}
        return {k: sample(v, depth + 1) for k, v in props.items()} if depth < 8 else {}
    if t == "array":
        return [sample(schema.get("items") or {}, depth + 1)] if depth < 8 else []
    if t == "string":
        return "Paris"
    if t == "integer":
        return 42
    if t == "number":
        return 21.5
    if t == "boolean":
        return True
    if t == "null":
        return None
    return "Paris"


def _last_user_text(messages):
    return " ".join(b.get("text", "") for b in messages[-1]["content"] if "text" in b) if messages else ""


# Application inference profiles this emulator's account has, and the model each serves: Bedrock
# answers for an ARN as its model would (thinking, structured output, tiers).
APPLICATION_PROFILES = {
    "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/sg0sonnet45":
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
}


def answer(request, model, server):
    """The answer's content blocks, stopReason and usage."""
    with server._lock:
        if not hasattr(server, "converse_requests"):
            server.converse_requests = []
        server.converse_requests.append({"model": model, "body": request})
    model = APPLICATION_PROFILES.get(model, model)
    thinking = check(request, model)
    messages = request["messages"]
    tools = [t["toolSpec"] for t in (request.get("toolConfig") or {}).get("tools") or [] if "toolSpec" in t]
    grounding = any((t.get("systemTool") or {}).get("name") == "nova_grounding"
                    for t in (request.get("toolConfig") or {}).get("tools") or [])
    choice = (request.get("toolConfig") or {}).get("toolChoice") or {}
    results = [b["toolResult"] for b in messages[-1]["content"] if "toolResult" in b]
    text = _last_user_text(messages)
    content = []
    if thinking:
        thought = "Thinking about %s." % ("the tool's result" if results else "the question")
        content.append({"reasoningContent": {"reasoningText": {"text": thought, "signature": signature(thought)}}})
    stop = "end_turn"
    forced = choice.get("tool", {}).get("name")
    names = [t["name"] for t in tools]
    fmt = (request.get("outputConfig") or {}).get("textFormat")
    if forced:
        spec = next(t for t in tools if t["name"] == forced)
        content.append({"toolUse": {"toolUseId": "tooluse_forced", "name": forced,
                                    "input": sample(spec["inputSchema"]["json"])}})
        stop = "tool_use"
    elif results:
        first = results[0]["content"][0] if results[0]["content"] else {}
        said = first.get("text", json.dumps(first.get("json")) if "json" in first else "")
        content.append({"text": "The tool said: " + said})
    elif fmt:
        content.append({"text": json.dumps(sample(json.loads(fmt["structure"]["jsonSchema"]["schema"])))})
    elif "signgate-agents" in text and any(n.endswith("wait_agent") for n in names):
        content += [{"text": "Let me wait for it."},
                    {"toolUse": {"toolUseId": "tooluse_wait_1", "name": next(n for n in names if n.endswith("wait_agent")),
                                 "input": {"targets": ["signgate-no-such-agent"]}}}]
        stop = "tool_use"
    elif grounding and "signgate-search" in text:
        content += [{"text": "Here is what I found."},
                    {"citationsContent": {
                        "content": [{"text": " signgate signs every Bedrock call with SigV4."}],
                        "citations": [{"title": "signgate and SigV4", "source": CITED_URL,
                                       "sourceContent": [{"text": "Each call is signed with SigV4."}],
                                       "location": {"web": {"url": CITED_URL, "domain": CITED_DOMAIN}}}]}}]
    elif "exec_command" in names:
        if "signgate-tool" in text:
            content += [{"text": "Let me run it."},
                        {"toolUse": {"toolUseId": "tooluse_exec_1", "name": "exec_command",
                                     "input": {"cmd": "echo signgate-tool-ok"}}}]
            stop = "tool_use"
        else:
            content.append({"text": "Hello from " + model})
    elif tools and "any" in choice and "json_response" in names:
        spec = next(t for t in tools if t["name"] == "json_response")
        content.append({"toolUse": {"toolUseId": "tooluse_json", "name": "json_response",
                                    "input": sample(spec["inputSchema"]["json"])}})
        stop = "tool_use"
    elif tools:
        content += [{"text": "Let me check."},
                    {"toolUse": {"toolUseId": "tooluse_1", "name": tools[0]["name"], "input": {"city": "Paris"}}}]
        stop = "tool_use"
    elif text.startswith("count to "):
        # N words, one event each, and N output tokens: a stream long enough to leave mid-way.
        content.append({"text": " ".join(str(i) for i in range(1, int(text.split()[2]) + 1))})
    elif text.startswith("long answer"):
        # About 1 MB of stream: for tests of flow control and back-pressure.
        content.append({"text": " ".join("w%06d" % i for i in range(8000))})
    else:
        content.append({"text": "Hello from " + model})
    usage = Usage(inputTokens=12, outputTokens=5, totalTokens=17)
    usage.service_tier = service_tier(request)
    if text.startswith("count to "):
        usage["outputTokens"] = int(text.split()[2])
        usage["totalTokens"] = 12 + usage["outputTokens"]
    prefix = _cached_prefix(request)
    if prefix is not None:
        with server._lock:
            seen = prefix in server.cache_prefixes
            server.cache_prefixes.add(prefix)
        usage["cacheReadInputTokens" if seen else "cacheWriteInputTokens"] = 1024
        usage["totalTokens"] += 1024
    max_tokens = (request.get("inferenceConfig") or {}).get("maxTokens")
    if isinstance(max_tokens, int) and max_tokens < 5 and stop == "end_turn":
        stop = "max_tokens"
    return content, stop, usage


def _cached_prefix(request):
    """What the request's last cache point covers, as a hash; None without cache points."""
    parts = []
    found = False
    for section in ("toolConfig", "system", "messages"):
        value = request.get(section)
        if section == "toolConfig":
            value = (value or {}).get("tools")
        for item in value or []:
            blocks = item.get("content", [item]) if section == "messages" else [item]
            for b in blocks:
                if "cachePoint" in b:
                    found = True
                    prefix = json.dumps(parts, sort_keys=True)
                parts.append(b)
    return hashlib.sha256(prefix.encode()).hexdigest() if found else None


def stream_events(content, stop, usage):
    """ConverseStream's events for an answer, in Bedrock's order."""
    events = [("messageStart", {"role": "assistant"})]
    for i, block in enumerate(content):
        if "reasoningContent" in block:
            rt = block["reasoningContent"]["reasoningText"]
            events.append(("contentBlockDelta", {"contentBlockIndex": i,
                                                 "delta": {"reasoningContent": {"text": rt["text"]}}}))
            events.append(("contentBlockDelta", {"contentBlockIndex": i,
                                                 "delta": {"reasoningContent": {"signature": rt["signature"]}}}))
        elif "text" in block:
            for word in re.findall(r"\s*\S+", block["text"]) or [block["text"]]:
                events.append(("contentBlockDelta", {"contentBlockIndex": i, "delta": {"text": word}}))
        elif "citationsContent" in block:
            cited = block["citationsContent"]
            for part in cited.get("content") or []:
                for word in re.findall(r"\s*\S+", part.get("text", "")):
                    events.append(("contentBlockDelta", {"contentBlockIndex": i, "delta": {"text": word}}))
            for citation in cited.get("citations") or []:
                events.append(("contentBlockDelta", {"contentBlockIndex": i, "delta": {"citation": citation}}))
        elif "toolUse" in block:
            use = block["toolUse"]
            events.append(("contentBlockStart", {"contentBlockIndex": i, "start": {"toolUse": {
                "toolUseId": use["toolUseId"], "name": use["name"]}}}))
            raw = json.dumps(use["input"])
            half = len(raw) // 2
            for piece in (raw[:half], raw[half:]):
                events.append(("contentBlockDelta", {"contentBlockIndex": i, "delta": {"toolUse": {"input": piece}}}))
        events.append(("contentBlockStop", {"contentBlockIndex": i}))
    metadata = {"usage": usage, "metrics": {"latencyMs": 1}}
    if getattr(usage, "service_tier", None):
        metadata["serviceTier"] = {"type": usage.service_tier}
    events += [("messageStop", {"stopReason": stop}), ("metadata", metadata)]
    return events
