// The `openai` and `@anthropic-ai/sdk` packages, unchanged, pointed at signgate (base URL +
// secret, as Flashback's OPENAI and ANTHROPIC types configure them). One JSON line per call.
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";

const base = process.env.SIGNGATE_URL;
const secret = process.env.SIGNGATE_SECRET;
const openai = new OpenAI({ baseURL: base + "/v1", apiKey: secret, maxRetries: 0 });
const anthropic = new Anthropic({ baseURL: base, apiKey: secret, maxRetries: 0 });

async function run(name, fn) {
  try {
    console.log(JSON.stringify({ name, ok: true, ...(await fn()) }));
  } catch (e) {
    console.log(JSON.stringify({ name, ok: false, status: e.status, type: e.error?.error?.type ?? e.error?.type ?? e.type, code: e.code, message: e.message }));
  }
}

const tools = [{ type: "function", function: { name: "get_weather", description: "Weather for a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }];

await run("models.list", async () => {
  const ids = [];
  for await (const m of openai.models.list()) ids.push(m.id);
  return { ids };
});
await run("chat", async () => {
  const r = await openai.chat.completions.create({ model: "claude-haiku", messages: [{ role: "user", content: "Hi" }] });
  return { content: r.choices[0].message.content, finish: r.choices[0].finish_reason, usage: r.usage, model: r.model };
});
await run("chat.stream", async () => {
  const stream = await openai.chat.completions.create({ model: "claude-haiku", stream: true,
    stream_options: { include_usage: true }, messages: [{ role: "user", content: "Hi" }] });
  let content = "", finish = null, usage = null, chunks = 0;
  for await (const c of stream) {
    chunks += 1;
    if (c.usage) usage = c.usage;
    if (c.choices[0]?.delta?.content) content += c.choices[0].delta.content;
    if (c.choices[0]?.finish_reason) finish = c.choices[0].finish_reason;
  }
  return { content, finish, usage, chunks };
});
await run("chat.tools", async () => {
  const first = await openai.chat.completions.create({ model: "claude-haiku", tools,
    messages: [{ role: "user", content: "Weather in Paris?" }] });
  const call = first.choices[0].message.tool_calls[0];
  const second = await openai.chat.completions.create({ model: "claude-haiku", tools, messages: [
    { role: "user", content: "Weather in Paris?" }, first.choices[0].message,
    { role: "tool", tool_call_id: call.id, content: "18C and sunny" }] });
  return { finish: first.choices[0].finish_reason, tool: call.function.name, args: JSON.parse(call.function.arguments),
           answer: second.choices[0].message.content };
});
await run("chat.tools.stream", async () => {
  const stream = openai.chat.completions.stream({ model: "claude-haiku", tools,
    messages: [{ role: "user", content: "Weather in Paris?" }] });
  const final = await stream.finalChatCompletion();
  const call = final.choices[0].message.tool_calls[0];
  return { finish: final.choices[0].finish_reason, tool: call.function.name, args: JSON.parse(call.function.arguments) };
});
await run("chat.denied", async () => {
  await openai.chat.completions.create({ model: "meta.llama3-8b-instruct-v1:0", messages: [{ role: "user", content: "Hi" }] });
  return {};
});
await run("chat.bad-key", async () => {
  const other = new OpenAI({ baseURL: base + "/v1", apiKey: "sgk_not_a_key", maxRetries: 0 });
  await other.chat.completions.create({ model: "claude-haiku", messages: [{ role: "user", content: "Hi" }] });
  return {};
});
await run("messages.create", async () => {
  const m = await anthropic.messages.create({ model: "claude-haiku", max_tokens: 20, messages: [{ role: "user", content: "Hi" }] });
  return { type: m.type, text: m.content[0].text, stop: m.stop_reason };
});
await run("messages.stream", async () => {
  const stream = anthropic.messages.stream({ model: "claude-haiku", max_tokens: 20, messages: [{ role: "user", content: "Hi" }] });
  let text = "";
  stream.on("text", (t) => { text += t; });
  const final = await stream.finalMessage();
  return { text, stop: final.stop_reason, output_tokens: final.usage.output_tokens };
});
await run("messages.denied", async () => {
  await anthropic.messages.create({ model: "meta.llama3-8b-instruct-v1:0", max_tokens: 5, messages: [{ role: "user", content: "Hi" }] });
  return {};
});
await run("messages.countTokens", async () => {
  const r = await anthropic.messages.countTokens({ model: "claude-haiku", system: "Be brief",
    messages: [{ role: "user", content: "How many tokens is this?" }] });
  return { input_tokens: r.input_tokens };
});
await run("beta.messages.create", async () => {
  // A first-party beta next to one Bedrock takes: answered, with only the latter sent on.
  const m = await anthropic.beta.messages.create({ model: "claude-haiku", max_tokens: 20,
    betas: ["claude-code-20250219", "interleaved-thinking-2025-05-14"], messages: [{ role: "user", content: "Hi" }] });
  return { type: m.type, stop: m.stop_reason };
});
await run("beta.messages.countTokens", async () => {
  const r = await anthropic.beta.messages.countTokens({ model: "claude-haiku", betas: ["claude-code-20250219"],
    messages: [{ role: "user", content: "Hi" }] });
  return { input_tokens: r.input_tokens };
});
