// OpenAI embeddings through signgate with the clients people use, unchanged: `openai` v6
// (whose default encoding is base64, decoded by the SDK), the AI SDK's embed and embedMany,
// LangChain's OpenAIEmbeddings. One JSON line per check: each vector's length and first values.
import OpenAI from "openai";
import { createOpenAI } from "@ai-sdk/openai";
import { embed, embedMany } from "ai";
import { OpenAIEmbeddings } from "@langchain/openai";

const base = process.env.SIGNGATE_URL + "/v1";
const secret = process.env.SIGNGATE_SECRET;
const openai = new OpenAI({ baseURL: base, apiKey: secret, maxRetries: 0 });

async function run(name, fn) {
  try {
    console.log(JSON.stringify({ name, ok: true, ...(await fn()) }));
  } catch (e) {
    console.log(JSON.stringify({ name, ok: false, status: e.status, param: e.error?.param ?? e.param,
      message: String(e.message ?? e) }));
  }
}
const head = (v) => ({ length: v.length, first: Array.from(v.slice(0, 3)) });

await run("openai.base64", async () => {
  const r = await openai.embeddings.create({ model: "titan-v2", input: "hello world" });
  return { vectors: r.data.map((d) => head(d.embedding)), usage: r.usage, model: r.model };
});
await run("openai.float.dimensions", async () => {
  const r = await openai.embeddings.create({ model: "titan-v2", input: ["one", "two", "three"], dimensions: 256,
    encoding_format: "float" });
  return { vectors: r.data.map((d) => head(d.embedding)), indexes: r.data.map((d) => d.index), usage: r.usage };
});
await run("openai.cohere", async () => {
  const input = Array.from({ length: 100 }, (_, i) => `text ${i}`);
  const r = await openai.embeddings.create({ model: "cohere", input, encoding_format: "float" });
  return { count: r.data.length, last: head(r.data[99].embedding), usage: r.usage };
});
await run("openai.nova", async () => {
  const r = await openai.embeddings.create({ model: "nova-embed", input: "hello world", dimensions: 1024 });
  return { vectors: r.data.map((d) => head(d.embedding)) };
});
await run("openai.tokens", async () => {
  await openai.embeddings.create({ model: "titan-v2", input: [[1, 2, 3]] });
  return {};
});
await run("openai.not-an-embedder", async () => {
  await openai.embeddings.create({ model: "anthropic.claude-3-haiku-20240307-v1:0", input: "x" });
  return {};
});

const provider = createOpenAI({ baseURL: base, apiKey: secret });
await run("ai.embed", async () => {
  const r = await embed({ model: provider.embedding("titan-v2"), value: "hello world", maxRetries: 0 });
  return { vector: head(r.embedding), usage: r.usage };
});
await run("ai.embedMany", async () => {
  const r = await embedMany({ model: provider.embedding("titan-v2"), values: ["one", "two", "three"], maxRetries: 0 });
  return { vectors: r.embeddings.map(head) };
});

const lc = new OpenAIEmbeddings({ model: "titan-v2", apiKey: secret, configuration: { baseURL: base } });
await run("langchain.query", async () => ({ vector: head(await lc.embedQuery("hello world")) }));
await run("langchain.documents", async () => ({ vectors: (await lc.embedDocuments(["one", "two", "three"])).map(head) }));
