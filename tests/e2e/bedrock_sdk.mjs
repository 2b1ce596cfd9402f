// AWS's own JS SDK, configured the way a Bedrock API-key user configures it (a bearer token),
// pointed at signgate. Prints one JSON line per call; the Python test checks them.
import {
  BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand, CountTokensCommand, InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
} from "@aws-sdk/client-bedrock-runtime";
import { NodeHttpHandler } from "@smithy/node-http-handler";

const endpoint = process.env.SIGNGATE_URL;
const model = process.env.MODEL;
const useHttp1 = process.env.HTTP1 === "1";
// The signgate secret is the bearer token, as a Bedrock API key would be.
const client = new BedrockRuntimeClient({
  region: "us-east-1",
  endpoint,
  maxAttempts: 1,
  token: { token: process.env.SIGNGATE_SECRET },
  authSchemePreference: ["httpBearerAuth"],
  ...(useHttp1 ? { requestHandler: new NodeHttpHandler() } : {}),
});

async function run(name, fn) {
  try {
    const out = await fn();
    console.log(JSON.stringify({ name, ok: true, ...out }));
  } catch (e) {
    console.log(JSON.stringify({ name, ok: false, error: e.name, status: e.$metadata?.httpStatusCode, message: e.message }));
  }
}

const messages = [{ role: "user", content: [{ text: "Hello" }] }];
await run("converse", async () => {
  const r = await client.send(new ConverseCommand({ modelId: model, messages }));
  return { text: r.output.message.content[0].text, stopReason: r.stopReason, usage: r.usage };
});
await run("converse-stream", async () => {
  const r = await client.send(new ConverseStreamCommand({ modelId: model, messages }));
  let text = "";
  let usage = null;
  let events = 0;
  for await (const event of r.stream) {
    events += 1;
    if (event.contentBlockDelta) text += event.contentBlockDelta.delta.text;
    if (event.metadata) usage = event.metadata.usage;
  }
  return { text, usage, events };
});
await run("invoke", async () => {
  const body = JSON.stringify({ anthropic_version: "bedrock-2023-05-31", max_tokens: 10, messages: [{ role: "user", content: "Hi" }] });
  const r = await client.send(new InvokeModelCommand({ modelId: model, body, contentType: "application/json" }));
  return { answer: JSON.parse(new TextDecoder().decode(r.body)).type };
});
await run("invoke-stream", async () => {
  const body = JSON.stringify({ anthropic_version: "bedrock-2023-05-31", max_tokens: 10, messages: [{ role: "user", content: "Hi" }] });
  const r = await client.send(new InvokeModelWithResponseStreamCommand({ modelId: model, body, contentType: "application/json" }));
  let text = "";
  let events = 0;
  for await (const event of r.body) {
    if (!event.chunk) continue;
    events += 1;
    const e = JSON.parse(new TextDecoder().decode(event.chunk.bytes));
    if (e.type === "content_block_delta") text += e.delta.text;
  }
  return { text, events };
});
await run("count-tokens", async () => {
  const r = await client.send(new CountTokensCommand({ modelId: model, input: { converse: { messages } } }));
  return { inputTokens: r.inputTokens };
});
await run("broken-stream", async () => {
  const r = await client.send(new ConverseStreamCommand({ modelId: "anthropic.reset-v1:0", messages }));
  let events = 0;
  for await (const event of r.stream) events += 1;
  return { events };
});
await run("denied-model", async () => {
  await client.send(new ConverseCommand({ modelId: "meta.llama3-8b-instruct-v1:0", messages }));
  return {};
});
