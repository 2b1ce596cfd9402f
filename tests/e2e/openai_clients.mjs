// The clients that speak OpenAI's Responses API, unchanged, pointed at signgate: `openai` v6
// (responses.create, stream, a tool loop through previous_response_id and through items,
// reasoning carried in encrypted_content, structured output), the Vercel AI SDK's default
// OpenAI provider (generateText, streamText, a tool round trip, generateObject), the OpenAI
// Agents SDK's default model with a tool, and LangChain's ChatOpenAI on the Responses API.
// One JSON line per check.
import OpenAI from "openai";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText, generateObject, tool, stepCountIs } from "ai";
import { Agent, run as runAgent, tool as agentTool, setDefaultOpenAIClient, setTracingDisabled } from "@openai/agents";
import { ChatOpenAI } from "@langchain/openai";
import { z } from "zod";

const base = process.env.SIGNGATE_URL + "/v1";
const secret = process.env.SIGNGATE_SECRET;
const openai = new OpenAI({ baseURL: base, apiKey: secret, maxRetries: 0 });

async function run(name, fn) {
  try {
    console.log(JSON.stringify({ name, ok: true, ...(await fn()) }));
  } catch (e) {
    console.log(JSON.stringify({ name, ok: false, status: e.status, type: e.error?.type ?? e.type, param: e.error?.param ?? e.param,
      code: e.code, message: String(e.message ?? e) }));
  }
}

const text = (r) => r.output.filter((i) => i.type === "message").flatMap((i) => i.content).map((c) => c.text).join("");
const weather = { type: "function", name: "get_weather", description: "Weather for a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false },
  strict: true };

await run("responses.create", async () => {
  const r = await openai.responses.create({ model: "claude-haiku", input: "Hi", instructions: "Be brief.", max_output_tokens: 50 });
  return { id: r.id, status: r.status, text: text(r), output_text: r.output_text, usage: r.usage, model: r.model };
});
await run("responses.stream", async () => {
  const stream = await openai.responses.create({ model: "claude-haiku", input: "Hi", stream: true });
  const types = [];
  let deltas = "", completed = null;
  for await (const e of stream) {
    types.push(e.type);
    if (e.type === "response.output_text.delta") deltas += e.delta;
    if (e.type === "response.completed") completed = e.response;
  }
  return { types, deltas, status: completed.status, text: text(completed), usage: completed.usage };
});
await run("responses.stream-helper", async () => {
  const stream = openai.responses.stream({ model: "claude-haiku", input: "Hi" });
  let deltas = "";
  stream.on("response.output_text.delta", (e) => { deltas += e.delta; });
  const final = await stream.finalResponse();
  return { deltas, text: text(final), status: final.status };
});
await run("responses.tools.previous_response_id", async () => {
  const first = await openai.responses.create({ model: "claude-haiku", input: "Weather in Paris?", tools: [weather] });
  const call = first.output.find((i) => i.type === "function_call");
  const second = await openai.responses.create({ model: "claude-haiku", previous_response_id: first.id, tools: [weather],
    input: [{ type: "function_call_output", call_id: call.call_id, output: "18C and sunny" }] });
  return { tool: call.name, args: JSON.parse(call.arguments), answer: text(second), previous: second.previous_response_id };
});
await run("responses.tools.stream-items", async () => {
  const stream = openai.responses.stream({ model: "claude-haiku", input: "Weather in Paris?", tools: [weather], store: false });
  const argDeltas = [];
  stream.on("response.function_call_arguments.delta", (e) => argDeltas.push(e.delta));
  const first = await stream.finalResponse();
  const call = first.output.find((i) => i.type === "function_call");
  const second = await openai.responses.create({ model: "claude-haiku", tools: [weather], store: false, input: [
    { role: "user", content: "Weather in Paris?" }, ...first.output,
    { type: "function_call_output", call_id: call.call_id, output: "18C and sunny" }] });
  return { argDeltas: argDeltas.length, args: JSON.parse(call.arguments), answer: text(second) };
});
await run("responses.reasoning", async () => {
  const input = [{ role: "user", content: "Weather in Paris?" }];
  const first = await openai.responses.create({ model: "claude-sonnet", input, tools: [weather], store: false,
    reasoning: { effort: "low" }, include: ["reasoning.encrypted_content"] });
  const reasoning = first.output.find((i) => i.type === "reasoning");
  const call = first.output.find((i) => i.type === "function_call");
  const second = await openai.responses.create({ model: "claude-sonnet", tools: [weather], store: false,
    reasoning: { effort: "low" }, include: ["reasoning.encrypted_content"],
    input: [...input, ...first.output, { type: "function_call_output", call_id: call.call_id, output: "18C" }] });
  return { summary: reasoning.summary[0]?.text, sealed: typeof reasoning.encrypted_content, answer: text(second),
           kinds: second.output.map((i) => i.type) };
});
await run("responses.json_schema", async () => {
  const schema = { type: "object", properties: { city: { type: "string" }, population: { type: "integer" } },
    required: ["city", "population"], additionalProperties: false };
  const native = await openai.responses.create({ model: "claude-sonnet", input: "Largest city of France?",
    text: { format: { type: "json_schema", name: "city", schema, strict: true } } });
  const viaTool = await openai.responses.create({ model: "claude-haiku", input: "Largest city of France?",
    text: { format: { type: "json_schema", name: "city", schema, strict: true } } });
  return { native: JSON.parse(text(native)), viaTool: JSON.parse(text(viaTool)) };
});
await run("responses.unknown-previous", async () => {
  await openai.responses.create({ model: "claude-haiku", input: "Hi", previous_response_id: "resp_nope" });
  return {};
});
await run("responses.web_search", async () => {
  // A built-in tool Bedrock cannot run is dropped (named in x-signgate-dropped-tools), not refused.
  const { data, response } = await openai.responses
    .create({ model: "claude-haiku", input: "Hi", tools: [{ type: "web_search" }] })
    .withResponse();
  return { text: data.output_text, dropped: response.headers.get("x-signgate-dropped-tools") };
});
await run("responses.background", async () => {
  await openai.responses.create({ model: "claude-haiku", input: "Hi", background: true });
  return {};
});

// The Vercel AI SDK: its default OpenAI provider speaks the Responses API.
const provider = createOpenAI({ baseURL: base, apiKey: secret });
await run("ai.generateText", async () => {
  const r = await generateText({ model: provider("claude-haiku"), system: "Be brief.", prompt: "Hi", maxRetries: 0 });
  return { text: r.text, finish: r.finishReason, usage: r.usage };
});
await run("ai.streamText", async () => {
  const r = streamText({ model: provider("claude-haiku"), prompt: "Hi", maxRetries: 0 });
  let streamed = "";
  for await (const t of r.textStream) streamed += t;
  return { streamed, finish: await r.finishReason };
});
await run("ai.tools", async () => {
  const r = await generateText({ model: provider("claude-haiku"), prompt: "Weather in Paris?", maxRetries: 0,
    stopWhen: stepCountIs(3),
    tools: { get_weather: tool({ description: "Weather for a city", inputSchema: z.object({ city: z.string() }),
      execute: async ({ city }) => `18C in ${city}` }) } });
  return { text: r.text, steps: r.steps.length, calls: r.steps[0].toolCalls.map((c) => [c.toolName, c.input]) };
});
await run("ai.generateObject", async () => {
  const r = await generateObject({ model: provider("claude-sonnet"), prompt: "Largest city of France?", maxRetries: 0,
    schema: z.object({ city: z.string(), population: z.number().int() }) });
  return { object: r.object };
});

// The OpenAI Agents SDK with its default (Responses) model.
setTracingDisabled(true);
setDefaultOpenAIClient(new OpenAI({ baseURL: base, apiKey: secret, maxRetries: 0 }));
await run("agents.run", async () => {
  const getWeather = agentTool({ name: "get_weather", description: "Weather for a city",
    parameters: z.object({ city: z.string() }), execute: async ({ city }) => `18C in ${city}` });
  const agent = new Agent({ name: "Weather", instructions: "Be brief.", model: "claude-haiku", tools: [getWeather] });
  const r = await runAgent(agent, "Weather in Paris?");
  return { output: r.finalOutput };
});
await run("agents.stream", async () => {
  const agent = new Agent({ name: "Plain", instructions: "Be brief.", model: "claude-haiku" });
  const r = await runAgent(agent, "Hi", { stream: true });
  let streamed = "";
  for await (const t of r.toTextStream()) streamed += t;
  await r.completed;
  return { streamed, output: r.finalOutput };
});

// LangChain's ChatOpenAI on the Responses API.
await run("langchain.responses", async () => {
  const model = new ChatOpenAI({ model: "claude-haiku", apiKey: secret, configuration: { baseURL: base },
    useResponsesApi: true, maxRetries: 0 });
  const r = await model.invoke("Hi");
  return { text: typeof r.content === "string" ? r.content : r.content.map((c) => c.text ?? "").join("") };
});

// Chat completions' newer fields: structured output (native and through a forced tool, also by
// the AI SDK's chat model), reasoning_effort with reasoning_content (whole and streamed), prompt
// caching with cache_control, and the end user named in `user`.
const cityFormat = { type: "json_schema", json_schema: { name: "city", strict: true, schema: {
  type: "object", properties: { city: { type: "string" }, population: { type: "integer" } },
  required: ["city", "population"], additionalProperties: false } } };
await run("chat.json_schema", async () => {
  const ask = (model) => openai.chat.completions.create({ model, response_format: cityFormat,
    messages: [{ role: "user", content: "Largest city of France?" }] });
  const native = await ask("claude-sonnet"), viaTool = await ask("claude-haiku");
  return { native: JSON.parse(native.choices[0].message.content), viaTool: JSON.parse(viaTool.choices[0].message.content),
           finish: viaTool.choices[0].finish_reason, toolCalls: viaTool.choices[0].message.tool_calls ?? null };
});
await run("chat.json_schema.stream", async () => {
  const stream = await openai.chat.completions.create({ model: "claude-haiku", response_format: cityFormat, stream: true,
    messages: [{ role: "user", content: "Largest city of France?" }] });
  let content = "", finish = null;
  for await (const c of stream) {
    content += c.choices[0]?.delta?.content ?? "";
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  return { object: JSON.parse(content), finish };
});
await run("chat.reasoning", async () => {
  const r = await openai.chat.completions.create({ model: "claude-sonnet", reasoning_effort: "low",
    messages: [{ role: "user", content: "Hi" }] });
  const stream = await openai.chat.completions.create({ model: "claude-sonnet", reasoning_effort: "low", stream: true,
    messages: [{ role: "user", content: "Hi" }] });
  let reasoning = "", content = "";
  for await (const c of stream) {
    reasoning += c.choices[0]?.delta?.reasoning_content ?? "";
    content += c.choices[0]?.delta?.content ?? "";
  }
  return { reasoning: r.choices[0].message.reasoning_content, content: r.choices[0].message.content,
           streamedReasoning: reasoning, streamedContent: content };
});
await run("chat.cache", async () => {
  const ask = () => openai.chat.completions.create({ model: "claude-haiku", user: "end-user-42", messages: [
    { role: "system", content: [{ type: "text", text: "A long shared preamble.", cache_control: { type: "ephemeral" } }] },
    { role: "user", content: "Hi" }] });
  const first = await ask(), second = await ask();
  return { first: first.usage, second: second.usage };
});
await run("ai.chat.generateObject", async () => {
  const r = await generateObject({ model: provider.chat("claude-haiku"), prompt: "Largest city of France?", maxRetries: 0,
    schema: z.object({ city: z.string(), population: z.number().int() }) });
  return { object: r.object };
});
