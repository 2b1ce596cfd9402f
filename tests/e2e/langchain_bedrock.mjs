// LangChain's Bedrock classes (@langchain/aws) pointed at signgate, configured as a user with
// a Bedrock API key configures them; nothing of signgate's is in the code. What a user sets:
//
//   AWS_BEARER_TOKEN_BEDROCK=<their signgate secret>   (LangChain hands it to the AWS SDK as a
//                                                        bearer token; no AWS credentials needed)
//   and signgate's address, either
//     AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http(s)://host:port   (the AWS SDK's own setting; the only
//                                                             way to reach an http:// gateway)
//   or, in code (https only for the chat model, whose endpointHost always means https://),
//     new ChatBedrockConverse({ endpointHost: "host:port", ... })
//     new BedrockEmbeddings({ clientOptions: { endpoint: "https://host:port" }, ... })
//
// CONFIG=env uses the first, CONFIG=fields the second. The HTTP handler is the SDK's default
// for Bedrock Runtime (HTTP/2: prior knowledge over http://, ALPN over https://).
// maxRetries: 0 (and AWS_MAX_ATTEMPTS=1 from the test) so each call is one request: a failure
// shows instead of being retried away. Prints one JSON line per call; the Python test checks them.
import { BedrockEmbeddings, ChatBedrockConverse } from "@langchain/aws";

const url = process.env.SIGNGATE_URL;
const model = process.env.MODEL;
const embedModel = process.env.EMBED_MODEL;
const byFields = process.env.CONFIG === "fields";
const where = (kind) => (!byFields ? {} : kind === "chat" ? { endpointHost: new URL(url).host }
  : { clientOptions: { endpoint: url } });

const chat = (modelId) => new ChatBedrockConverse({ model: modelId, region: "us-east-1", maxRetries: 0,
  ...where("chat") });
const embeddings = new BedrockEmbeddings({ model: embedModel, region: "us-east-1", maxRetries: 0,
  ...where("embeddings") });

async function run(name, fn) {
  try {
    console.log(JSON.stringify({ name, ok: true, ...(await fn()) }));
  } catch (e) {
    console.log(JSON.stringify({ name, ok: false, error: e.name, status: e.$metadata?.httpStatusCode,
      message: String(e.message ?? e) }));
  }
}

const llm = chat(model);
await run("handler", async () => ({
  chat: (await llm.client.config.requestHandler)?.constructor?.name,
  embeddings: (await embeddings.client.config.requestHandler)?.constructor?.name,
}));
await run("invoke", async () => {
  const m = await llm.invoke("Hello");
  return { text: m.text, usage: m.usage_metadata, stopReason: m.response_metadata?.stopReason };
});
await run("stream", async () => {
  let whole;
  let chunks = 0;
  for await (const chunk of await llm.stream("Hello")) {
    chunks += 1;
    whole = whole === undefined ? chunk : whole.concat(chunk);
  }
  return { text: whole.text, chunks, usage: whole.usage_metadata };
});
await run("embedQuery", async () => ({ vector: await embeddings.embedQuery("hello world") }));
await run("embedDocuments", async () => ({ vectors: await embeddings.embedDocuments(["one", "two", "three"]) }));
await run("denied-model", async () => {
  await chat("meta.llama3-8b-instruct-v1:0").invoke("Hello");
  return {};
});
