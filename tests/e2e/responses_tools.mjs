// The tools coding agents and SDKs send on the Responses API, through signgate, with the
// clients as they are: `openai` v6 and the Vercel AI SDK's OpenAI provider. Namespace tools
// (a call comes back with name + namespace; sent back as items and through
// previous_response_id; tool_choice naming a namespaced function; names too long or colliding
// once flattened), hosted tools (dropped with a header, refused under hosted_tools: refuse,
// web_search on a Nova model with web grounding giving url_citation annotations), and
// service_tier on /v1/responses and /v1/chat/completions. One JSON line per check; the Python
// side (tests/integration/responses_tools_test.py) looks at what Bedrock received and at the
// audit lines, by x-request-id.
import OpenAI from "openai";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText, tool, stepCountIs } from "ai";
import { z } from "zod";

const base = process.env.SIGNGATE_URL + "/v1";
const secret = process.env.SIGNGATE_SECRET;
const openai = new OpenAI({ baseURL: base, apiKey: secret, maxRetries: 0 });
const refusing = new OpenAI({ baseURL: process.env.SIGNGATE_REFUSE_URL + "/v1", apiKey: secret, maxRetries: 0 });

const HAIKU = "claude-haiku";
const GROUNDED = "us.amazon.nova-2-lite-v1:0";
const GROUNDED_PREMIER = "us.amazon.nova-premier-v1:0";
const NOVA_PRO = "us.amazon.nova-pro-v1:0";

async function run(name, fn) {
  try {
    console.log(JSON.stringify({ name, ok: true, ...(await fn()) }));
  } catch (e) {
    console.log(JSON.stringify({ name, ok: false, status: e.status, type: e.error?.type ?? e.type,
      param: e.error?.param ?? e.param, code: e.code ?? e.error?.code, message: String(e.message ?? e),
      requestId: e.headers?.get?.("x-request-id") ?? e.headers?.["x-request-id"] ?? null }));
  }
}

const text = (r) => r.output.filter((i) => i.type === "message").flatMap((i) => i.content).map((c) => c.text).join("");
const annotations = (r) => r.output.filter((i) => i.type === "message").flatMap((i) => i.content)
  .flatMap((c) => c.annotations ?? []);
const parts = (r) => r.output.filter((i) => i.type === "message").flatMap((i) => i.content)
  .map((c) => ({ type: c.type, text: c.text, annotations: c.annotations ?? [] }));
const headers = (response) => ({ requestId: response.headers.get("x-request-id"),
  dropped: response.headers.get("x-signgate-dropped-tools") });
const city = { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false };
const weatherNs = { type: "namespace", name: "weather", description: "Weather tools for any city.", tools: [
  { type: "function", name: "get_forecast", description: "Tomorrow's forecast for a city", parameters: city, strict: true },
  { type: "function", name: "get_alerts", description: "Weather alerts for a city", parameters: city, strict: true }] };
const plainFn = { type: "function", name: "get_time", description: "The time in a city", parameters: city, strict: true };
const call = (r) => r.output.find((i) => i.type === "function_call");
const callView = (c) => ({ name: c.name, namespace: c.namespace ?? null, args: JSON.parse(c.arguments), callId: c.call_id });

// Namespace tools: the call, then the tool's output sent back through previous_response_id.
await run("ns.previous_response_id", async () => {
  const { data: first, response } = await openai.responses.create({ model: HAIKU, tools: [weatherNs],
    input: "Forecast for Paris? (ns-previous)" }).withResponse();
  const c = call(first);
  const second = await openai.responses.create({ model: HAIKU, previous_response_id: first.id, tools: [weatherNs],
    input: [{ type: "function_call_output", call_id: c.call_id, output: "18C and sunny" }] });
  return { call: callView(c), answer: text(second), ...headers(response) };
});
// ... and as input items (store: false), the call item sent back as the SDK returned it.
await run("ns.items", async () => {
  const input = [{ role: "user", content: "Forecast for Paris? (ns-items)" }];
  const first = await openai.responses.create({ model: HAIKU, tools: [weatherNs], store: false, input });
  const c = call(first);
  const second = await openai.responses.create({ model: HAIKU, tools: [weatherNs], store: false,
    input: [...input, ...first.output, { type: "function_call_output", call_id: c.call_id, output: "18C and sunny" }] });
  return { call: callView(c), answer: text(second) };
});
// Streamed: the function_call items of output_item.added/done and of response.completed.
await run("ns.stream", async () => {
  const stream = await openai.responses.create({ model: HAIKU, tools: [weatherNs], stream: true,
    input: "Forecast for Paris? (ns-stream)" });
  const added = [], done = [];
  let completed = null, argDeltas = "";
  for await (const e of stream) {
    if (e.type === "response.output_item.added" && e.item.type === "function_call") added.push(e.item);
    if (e.type === "response.output_item.done" && e.item.type === "function_call") done.push(e.item);
    if (e.type === "response.function_call_arguments.delta") argDeltas += e.delta;
    if (e.type === "response.completed") completed = e.response;
  }
  return { added: added.map((i) => [i.name, i.namespace ?? null]), done: done.map((i) => [i.name, i.namespace ?? null]),
    completed: callView(call(completed)), argDeltas: JSON.parse(argDeltas) };
});
// tool_choice naming a function of a namespace (OpenAI's ToolChoiceFunction: its name).
await run("ns.tool_choice", async () => {
  const r = await openai.responses.create({ model: HAIKU, tools: [plainFn, weatherNs],
    tool_choice: { type: "function", name: "get_alerts" }, input: "Anything to worry about in Paris? (ns-choice)" });
  return { call: callView(call(r)) };
});
// ... and naming its namespace too.
await run("ns.tool_choice.namespace", async () => {
  const r = await openai.responses.create({ model: HAIKU, tools: [plainFn, weatherNs],
    tool_choice: { type: "function", name: "get_alerts", namespace: "weather" },
    input: "Anything to worry about in Paris? (ns-choice-ns)" });
  return { call: callView(call(r)) };
});
// A flattened name Bedrock cannot take (over 64 characters) and one colliding with a function of
// that name: each still comes back as the function the caller defined.
await run("ns.long", async () => {
  const long = { type: "namespace", name: "customer_relationship_management_tools_v2",
    description: "CRM tools.", tools: [{ type: "function", name: "lookup_customer_by_email_address",
      description: "Find a customer", parameters: city, strict: true }] };
  const first = await openai.responses.create({ model: HAIKU, tools: [long], input: "Who is it? (ns-long)" });
  const c = call(first);
  const second = await openai.responses.create({ model: HAIKU, previous_response_id: first.id, tools: [long],
    input: [{ type: "function_call_output", call_id: c.call_id, output: "Ada" }] });
  return { call: callView(c), answer: text(second) };
});
await run("ns.collision", async () => {
  const crm = { type: "namespace", name: "crm", description: "CRM tools.", tools: [
    { type: "function", name: "lookup", description: "Find a customer", parameters: city, strict: true }] };
  const flat = { type: "function", name: "crm__lookup", description: "Another lookup", parameters: city, strict: true };
  const r = await openai.responses.create({ model: HAIKU, tools: [crm, flat], input: "Who is it? (ns-collision)" });
  const forced = await openai.responses.create({ model: HAIKU, tools: [crm, flat],
    tool_choice: { type: "function", name: "crm__lookup" }, input: "Who is it? (ns-collision-forced)" });
  return { call: callView(call(r)), forced: callView(call(forced)) };
});

// The AI SDK: tools grouped with providerOptions.openai.namespace, run by the SDK over two steps.
const provider = createOpenAI({ baseURL: base, apiKey: secret });
const nsTools = (log) => ({
  get_forecast: tool({ description: "Tomorrow's forecast for a city", inputSchema: z.object({ city: z.string() }),
    providerOptions: { openai: { namespace: { name: "weather", description: "Weather tools for any city." } } },
    execute: async ({ city }) => { log.push(city); return `18C in ${city}`; } }) });
await run("ai.namespace", async () => {
  const log = [];
  const r = await generateText({ model: provider(HAIKU), prompt: "Forecast for Paris? (ai-ns)", maxRetries: 0,
    stopWhen: stepCountIs(3), tools: nsTools(log) });
  const calls = r.steps[0].toolCalls.map((c) => [c.toolName, c.input, c.providerMetadata?.openai?.namespace ?? null]);
  return { calls, ran: log, text: r.text, steps: r.steps.length };
});
await run("ai.namespace.stream", async () => {
  const log = [];
  const r = streamText({ model: provider(HAIKU), prompt: "Forecast for Paris? (ai-ns-stream)", maxRetries: 0,
    stopWhen: stepCountIs(3), tools: nsTools(log) });
  const calls = [];
  for await (const part of r.fullStream) {
    if (part.type === "tool-call") calls.push([part.toolName, part.providerMetadata?.openai?.namespace ?? null]);
  }
  return { calls, ran: log, text: await r.text };
});
await run("ai.namespace.tool_choice", async () => {
  const log = [];
  const r = await generateText({ model: provider(HAIKU), prompt: "Forecast? (ai-ns-choice)", maxRetries: 0,
    toolChoice: { type: "tool", toolName: "get_forecast" }, tools: nsTools(log) });
  return { calls: r.steps[0].toolCalls.map((c) => [c.toolName, c.providerMetadata?.openai?.namespace ?? null]) };
});

// Hosted tools Bedrock cannot run on a Claude model: dropped, named in a header.
const hosted = [{ type: "web_search" }, { type: "image_generation" },
  { type: "file_search", vector_store_ids: ["vs_signgate"] }, { type: "code_interpreter", container: { type: "auto" } },
  { type: "mcp", server_label: "docs", server_url: "https://mcp.example.com/sse", require_approval: "never" }];
const weather = { type: "function", name: "get_weather", description: "Weather for a city", parameters: city, strict: true };
await run("hosted.drop", async () => {
  const { data, response } = await openai.responses.create({ model: HAIKU, tools: [...hosted, weather],
    input: "Weather in Paris? (hosted-drop)" }).withResponse();
  return { call: callView(call(data)), status: data.status, ...headers(response) };
});
await run("hosted.drop.stream", async () => {
  const { data: stream, response } = await openai.responses.create({ model: HAIKU, stream: true,
    tools: [{ type: "web_search", external_web_access: true }], input: "Hi (hosted-drop-stream)" }).withResponse();
  let completed = null;
  for await (const e of stream) if (e.type === "response.completed") completed = e.response;
  return { text: text(completed), ...headers(response) };
});
await run("hosted.drop.web_search_only", async () => {
  // Every tool dropped: the request goes to Bedrock with no toolConfig at all.
  const { data, response } = await openai.responses.create({ model: HAIKU, tools: [{ type: "web_search" }],
    tool_choice: "auto", input: "Hi (hosted-only)" }).withResponse();
  return { text: text(data), ...headers(response) };
});
await run("hosted.refuse", async () => {
  await refusing.responses.create({ model: HAIKU, tools: [weather, { type: "web_search" }], input: "Hi (hosted-refuse)" });
  return {};
});
await run("hosted.refuse.image_generation", async () => {
  await refusing.responses.create({ model: HAIKU, tools: [{ type: "image_generation" }], input: "Hi (hosted-refuse-img)" });
  return {};
});
await run("hosted.refuse.grounded", async () => {
  // web_search has an equivalent on this model: nothing to refuse.
  const r = await refusing.responses.create({ model: GROUNDED, tools: [{ type: "web_search" }],
    input: "What does signgate do? signgate-search (refuse-grounded)" });
  return { text: text(r), annotations: annotations(r), parts: parts(r) };
});

// web_search on a Nova model with web grounding: nova_grounding, citations as url_citation.
await run("grounding.create", async () => {
  const { data, response } = await openai.responses.create({ model: GROUNDED, tools: [{ type: "web_search" }],
    input: "What does signgate do? signgate-search (grounding-create)" }).withResponse();
  return { text: text(data), output_text: data.output_text, annotations: annotations(data),
    kinds: data.output.map((i) => i.type), parts: parts(data), ...headers(response) };
});
await run("grounding.stream", async () => {
  const { data: stream, response } = await openai.responses.create({ model: GROUNDED_PREMIER, stream: true,
    tools: [{ type: "web_search" }], input: "What does signgate do? signgate-search (grounding-stream)" }).withResponse();
  let completed = null, deltas = "";
  const added = [];
  for await (const e of stream) {
    if (e.type === "response.output_text.delta") deltas += e.delta;
    if (e.type === "response.output_text.annotation.added") added.push(e.annotation);
    if (e.type === "response.completed") completed = e.response;
  }
  return { deltas, added, text: text(completed), annotations: annotations(completed), parts: parts(completed),
    ...headers(response) };
});
await run("grounding.stream-helper", async () => {
  const stream = openai.responses.stream({ model: GROUNDED, tools: [{ type: "web_search" }],
    input: "What does signgate do? signgate-search (grounding-helper)" });
  const final = await stream.finalResponse();
  return { text: text(final), annotations: annotations(final), parts: parts(final) };
});
await run("grounding.not-nova-grounding", async () => {
  // A Nova model without web grounding: dropped like on any other model.
  const { data, response } = await openai.responses.create({ model: NOVA_PRO, tools: [{ type: "web_search" }],
    input: "What does signgate do? signgate-search (grounding-nova-pro)" }).withResponse();
  return { text: text(data), annotations: annotations(data), ...headers(response) };
});
await run("ai.web_search", async () => {
  const r = await generateText({ model: provider(GROUNDED), prompt: "What does signgate do? signgate-search (ai-ws)",
    maxRetries: 0, tools: { web_search: provider.tools.webSearch({}) } });
  return { text: r.text, sources: r.sources.map((s) => [s.sourceType, s.url, s.title ?? null]) };
});
await run("ai.web_search.stream", async () => {
  const r = streamText({ model: provider(GROUNDED), prompt: "What does signgate do? signgate-search (ai-ws-stream)",
    maxRetries: 0, tools: { web_search: provider.tools.webSearch({}) } });
  let streamed = "";
  for await (const t of r.textStream) streamed += t;
  return { streamed, sources: (await r.sources).map((s) => [s.sourceType, s.url, s.title ?? null]) };
});

// service_tier: Responses and chat completions, plain and streamed.
await run("tier.responses.priority", async () => {
  const { data, response } = await openai.responses.create({ model: NOVA_PRO, service_tier: "priority",
    input: "Hi (tier-priority)" }).withResponse();
  return { tier: data.service_tier ?? null, text: text(data), ...headers(response) };
});
await run("tier.responses.flex.stream", async () => {
  const { data: stream, response } = await openai.responses.create({ model: NOVA_PRO, service_tier: "flex", stream: true,
    input: "Hi (tier-flex-stream)" }).withResponse();
  let completed = null;
  for await (const e of stream) if (e.type === "response.completed") completed = e.response;
  return { tier: completed.service_tier ?? null, text: text(completed), ...headers(response) };
});
await run("tier.responses.auto", async () => {
  const { data, response } = await openai.responses.create({ model: NOVA_PRO, service_tier: "auto",
    input: "Hi (tier-auto)" }).withResponse();
  return { tier: data.service_tier ?? null, ...headers(response) };
});
await run("tier.responses.claude-flex", async () => {
  const { data, response } = await openai.responses.create({ model: HAIKU, service_tier: "flex",
    input: "Hi (tier-claude-flex)" }).withResponse();
  return { tier: data.service_tier ?? null, text: text(data), ...headers(response) };
});
await run("tier.chat.priority", async () => {
  const { data, response } = await openai.chat.completions.create({ model: NOVA_PRO, service_tier: "priority",
    messages: [{ role: "user", content: "Hi (tier-chat-priority)" }] }).withResponse();
  return { tier: data.service_tier ?? null, text: data.choices[0].message.content, ...headers(response) };
});
await run("tier.chat.flex.stream", async () => {
  const { data: stream, response } = await openai.chat.completions.create({ model: NOVA_PRO, service_tier: "flex",
    stream: true, messages: [{ role: "user", content: "Hi (tier-chat-flex-stream)" }] }).withResponse();
  const tiers = new Set();
  let streamed = "";
  for await (const chunk of stream) {
    if (chunk.service_tier) tiers.add(chunk.service_tier);
    streamed += chunk.choices[0]?.delta?.content ?? "";
  }
  return { tiers: [...tiers], streamed, ...headers(response) };
});
await run("tier.chat.claude-flex", async () => {
  const { data, response } = await openai.chat.completions.create({ model: HAIKU, service_tier: "flex",
    messages: [{ role: "user", content: "Hi (tier-chat-claude-flex)" }] }).withResponse();
  return { tier: data.service_tier ?? null, text: data.choices[0].message.content, ...headers(response) };
});
