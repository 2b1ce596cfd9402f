// OpenAI's own models on Bedrock (api: openai models, served by Bedrock Mantle's OpenAI API)
// through signgate, with the `openai` v6 client unchanged: chat completions (gpt-oss) whole and
// streamed, with and without the usage chunk; the Responses API (GPT-5.5) whole and streamed; a
// function tool round trip through previous_response_id, one through items, one through
// item_reference; another client's response id refused; a model outside the allowlist; Mantle's
// own refusals (429, unknown model, GPT-5 on chat). One JSON line per check; the Python side
// (tests/integration/openai_upstream_test.py) asserts on them and on what Mantle received.
import OpenAI from "openai";

const base = process.env.SIGNGATE_URL + "/v1";
const openai = new OpenAI({ baseURL: base, apiKey: process.env.SIGNGATE_SECRET, maxRetries: 0 });
const other = new OpenAI({ baseURL: base, apiKey: process.env.SIGNGATE_OTHER_SECRET, maxRetries: 0 });
const mantle = process.env.MANTLE_URL;

async function run(name, fn) {
  try {
    console.log(JSON.stringify({ name, ok: true, ...(await fn()) }));
  } catch (e) {
    console.log(JSON.stringify({ name, ok: false, status: e.status, type: e.error?.type ?? e.type,
      param: e.error?.param ?? e.param, code: e.code ?? e.error?.code, message: String(e.message ?? e),
      request_id: e.requestID ?? e.headers?.get?.("x-request-id") }));
  }
}

const text = (r) => r.output.filter((i) => i.type === "message").flatMap((i) => i.content).map((c) => c.text).join("");
const weather = { type: "function", name: "get_weather", description: "Weather for a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false },
  strict: true };
const chatWeather = { type: "function", function: { name: "get_weather", description: "Weather for a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } };

await run("chat.create", async () => {
  const r = await openai.chat.completions.create({ model: "gpt-oss", messages: [{ role: "user", content: "Hi" }] })
    .withResponse();
  return { model: r.data.model, text: r.data.choices[0].message.content, usage: r.data.usage,
    finish: r.data.choices[0].finish_reason, request_id: r.response.headers.get("x-request-id") };
});
for (const includeUsage of [false, true]) {
  await run("chat.stream" + (includeUsage ? ".usage" : ""), async () => {
    const { data: stream, response } = await openai.chat.completions.create({ model: "gpt-oss", stream: true,
      messages: [{ role: "user", content: "Hi" }], ...(includeUsage ? { stream_options: { include_usage: true } } : {}) })
      .withResponse();
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    return { models: [...new Set(chunks.map((c) => c.model))], text: chunks.map((c) => c.choices[0]?.delta?.content ?? "").join(""),
      usage_chunks: chunks.filter((c) => c.usage).map((c) => ({ choices: c.choices.length, usage: c.usage })),
      finish: chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean), count: chunks.length,
      request_id: response.headers.get("x-request-id") };
  });
}
await run("chat.tools", async () => {
  const messages = [{ role: "user", content: "signgate-tool: weather in Paris?" }];
  const first = await openai.chat.completions.create({ model: "gpt-oss", messages, tools: [chatWeather] });
  const call = first.choices[0].message.tool_calls[0];
  const second = await openai.chat.completions.create({ model: "gpt-oss", tools: [chatWeather], messages: [...messages,
    first.choices[0].message, { role: "tool", tool_call_id: call.id, content: "18C and sunny" }] });
  return { tool: call.function.name, args: JSON.parse(call.function.arguments), finish: first.choices[0].finish_reason,
    answer: second.choices[0].message.content, models: [first.model, second.model] };
});
await run("chat.gpt5-refused-by-mantle", async () => {
  await openai.chat.completions.create({ model: "gpt-5.5", messages: [{ role: "user", content: "Hi" }] });
  return { unexpected: "answered" };
});

await run("responses.create", async () => {
  const r = await openai.responses.create({ model: "gpt-5.5", input: "Hi", instructions: "Be brief." }).withResponse();
  const d = r.data;
  return { id: d.id, status: d.status, text: text(d), output_text: d.output_text, usage: d.usage, model: d.model,
    types: d.output.map((i) => i.type), store: d.store, previous_response_id: d.previous_response_id, request_id: r.response.headers.get("x-request-id") };
});
await run("responses.stream", async () => {
  const { data: stream, response } = await openai.responses.create({ model: "gpt-5.5", input: "Hi", stream: true })
    .withResponse();
  const types = [], seqs = [], models = [];
  let deltas = "", completed = null;
  for await (const e of stream) {
    types.push(e.type);
    seqs.push(e.sequence_number);
    if (e.response) models.push(e.response.model);
    if (e.type === "response.output_text.delta") deltas += e.delta;
    if (e.type === "response.completed") completed = e.response;
  }
  return { types, seqs, models, deltas, status: completed.status, text: text(completed), usage: completed.usage,
    id: completed.id, request_id: response.headers.get("x-request-id") };
});
await run("responses.stream-helper", async () => {
  const stream = openai.responses.stream({ model: "gpt-5.5", input: "Hi" });
  let deltas = "";
  stream.on("response.output_text.delta", (e) => { deltas += e.delta; });
  const final = await stream.finalResponse();
  return { deltas, text: text(final), status: final.status, model: final.model };
});

let firstOfClient = null;
await run("responses.tools.previous_response_id", async () => {
  const first = await openai.responses.create({ model: "gpt-5.5", input: "signgate-tool: weather in Paris?", tools: [weather] });
  firstOfClient = first.id;
  const call = first.output.find((i) => i.type === "function_call");
  const second = await openai.responses.create({ model: "gpt-5.5", previous_response_id: first.id, tools: [weather],
    input: [{ type: "function_call_output", call_id: call.call_id, output: "18C and sunny" }] });
  return { tool: call.name, args: JSON.parse(call.arguments), call_id: call.call_id, answer: text(second),
    first: first.id, previous: second.previous_response_id, models: [first.model, second.model],
    first_types: first.output.map((i) => i.type), second_id: second.id };
});
await run("responses.three-turns", async () => {
  // A turn on top of a continued one: the whole conversation again, in order.
  const first = await openai.responses.create({ model: "gpt-5.5", input: "Hi" });
  const second = await openai.responses.create({ model: "gpt-5.5", previous_response_id: first.id, input: "And again?" });
  const third = await openai.responses.create({ model: "gpt-5.5", previous_response_id: second.id, input: "Once more?" });
  return { answer: text(third), ids: [first.id, second.id, third.id] };
});
await run("responses.tools.stream-items", async () => {
  const input = [{ role: "user", content: "signgate-tool: weather in Paris?" }];
  const stream = openai.responses.stream({ model: "gpt-5.5", input, tools: [weather], store: false,
    include: ["reasoning.encrypted_content"] });
  const argDeltas = [];
  const models = [];
  stream.on("response.function_call_arguments.delta", (e) => argDeltas.push(e.delta));
  stream.on("event", (e) => { if (e.response) models.push(e.response.model); });
  const first = await stream.finalResponse();
  const call = first.output.find((i) => i.type === "function_call");
  const reasoning = first.output.find((i) => i.type === "reasoning");
  const second = await openai.responses.create({ model: "gpt-5.5", tools: [weather], store: false, stream: false,
    input: [...input, ...first.output, { type: "function_call_output", call_id: call.call_id, output: "18C and sunny" }] });
  return { argDeltas: argDeltas.length, args: JSON.parse(call.arguments), answer: text(second), models,
    encrypted: Boolean(reasoning?.encrypted_content) };
});
await run("responses.stream-then-previous_response_id", async () => {
  // A streamed turn is kept as soon as it completed: the next turn continues it at once.
  const stream = openai.responses.stream({ model: "gpt-5.5", input: "signgate-tool: weather in Paris?", tools: [weather] });
  const first = await stream.finalResponse();
  const call = first.output.find((i) => i.type === "function_call");
  const second = openai.responses.stream({ model: "gpt-5.5", previous_response_id: first.id, tools: [weather],
    input: [{ type: "function_call_output", call_id: call.call_id, output: "19C" }] });
  const final = await second.finalResponse();
  return { answer: text(final), model: final.model };
});
await run("responses.item_reference", async () => {
  const first = await openai.responses.create({ model: "gpt-5.5", input: "signgate-tool: weather in Paris?", tools: [weather] });
  const call = first.output.find((i) => i.type === "function_call");
  const second = await openai.responses.create({ model: "gpt-5.5", tools: [weather], input: [
    { role: "user", content: "signgate-tool: weather in Paris?" },
    ...first.output.map((i) => ({ type: "item_reference", id: i.id })),
    { type: "function_call_output", call_id: call.call_id, output: "21C" }] });
  return { answer: text(second), references: first.output.map((i) => i.id) };
});
await run("responses.store-false-not-kept", async () => {
  const first = await openai.responses.create({ model: "gpt-5.5", input: "Hi", store: false });
  await openai.responses.create({ model: "gpt-5.5", previous_response_id: first.id, input: "Go on" });
  return { unexpected: "answered", store: first.store };
});
await run("responses.other-client-cannot-continue", async () => {
  await other.responses.create({ model: "gpt-5.5", previous_response_id: firstOfClient, input: "Go on" });
  return { unexpected: "answered" };
});
await run("responses.not-allowed", async () => {
  await openai.responses.create({ model: "kimi", input: "Hi" });
  return { unexpected: "answered" };
});
await run("chat.not-allowed", async () => {
  await openai.chat.completions.create({ model: "kimi", messages: [{ role: "user", content: "Hi" }] });
  return { unexpected: "answered" };
});
await run("responses.unknown-model", async () => {
  await openai.responses.create({ model: "gpt-9", input: "Hi" });
  return { unexpected: "answered" };
});
await run("responses.background-refused", async () => {
  await openai.responses.create({ model: "gpt-5.5", input: "Hi", background: true });
  return { unexpected: "answered" };
});
// signgate retries Bedrock's 429 (upstream.max_retries, 2): three in a row reach the caller, one
// is retried away.
async function throttle(n) {
  const r = await fetch(mantle + "/_fake/control", { method: "POST", body: JSON.stringify({ throttle_next: n }) });
  if (!r.ok) throw new Error("control: " + r.status);
}
for (const api of ["responses", "chat"]) {
  await run(api + ".throttled", async () => {
    await throttle(3);
    if (api === "responses") await openai.responses.create({ model: "gpt-5.5", input: "Hi" });
    else await openai.chat.completions.create({ model: "gpt-oss", messages: [{ role: "user", content: "Hi" }] });
    return { unexpected: "answered" };
  });
}
await run("responses.stream.throttled", async () => {
  await throttle(3);
  const stream = await openai.responses.create({ model: "gpt-5.5", input: "Hi", stream: true });
  for await (const e of stream) void e;
  return { unexpected: "answered" };
});
await run("responses.throttled-once", async () => {
  await throttle(1);
  const r = await openai.responses.create({ model: "gpt-5.5", input: "Hi" });
  await throttle(0);
  return { text: text(r) };
});
