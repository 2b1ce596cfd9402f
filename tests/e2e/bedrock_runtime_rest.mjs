// The rest of bedrock-runtime through signgate with AWS's own JS SDK (bearer token): ApplyGuardrail,
// StartAsyncInvoke, GetAsyncInvoke, ListAsyncInvokes, for two clients — "ops" and "guarded" (held
// to a guardrail). One JSON line per call; the Python test checks them.
import {
  ApplyGuardrailCommand, BedrockRuntimeClient, ConverseCommand, GetAsyncInvokeCommand, ListAsyncInvokesCommand,
  StartAsyncInvokeCommand,
} from "@aws-sdk/client-bedrock-runtime";
import { NodeHttpHandler } from "@smithy/node-http-handler";

const clientFor = (secret) => new BedrockRuntimeClient({
  region: "us-east-1", endpoint: process.env.SIGNGATE_URL, maxAttempts: 1, token: { token: secret },
  authSchemePreference: ["httpBearerAuth"], requestHandler: new NodeHttpHandler(),
});
const ops = clientFor(process.env.OPS_SECRET);
const guarded = clientFor(process.env.GUARDED_SECRET);
const byDefault = clientFor(process.env.DEFAULT_SECRET);

async function run(name, fn) {
  try {
    console.log(JSON.stringify({ name, ok: true, ...(await fn()) }));
  } catch (e) {
    console.log(JSON.stringify({ name, ok: false, error: e.name, status: e.$metadata?.httpStatusCode, message: e.message }));
  }
}

const start = (client, modelId) => client.send(new StartAsyncInvokeCommand({
  modelId, modelInput: { taskType: "TEXT_VIDEO", textToVideoParams: { text: "a cat" } },
  outputDataConfig: { s3OutputDataConfig: { s3Uri: "s3://bucket/out/" } },
}));
let arn = "";
await run("start", async () => {
  arn = (await start(ops, "amazon.nova-reel-v1:0")).invocationArn;
  return { arn };
});
await run("get", async () => {
  const r = await ops.send(new GetAsyncInvokeCommand({ invocationArn: arn }));
  return { arn: r.invocationArn, status: r.status };
});
await run("list", async () => {
  const r = await ops.send(new ListAsyncInvokesCommand({ maxResults: 10, sortOrder: "Descending" }));
  return { arns: r.asyncInvokeSummaries.map((s) => s.invocationArn) };
});
await run("start-denied-model", async () => start(ops, "meta.llama3-8b-instruct-v1:0"));
await run("guarded-get-others", async () => guarded.send(new GetAsyncInvokeCommand({ invocationArn: arn })));
await run("guarded-list", async () => {
  const r = await guarded.send(new ListAsyncInvokesCommand({}));
  return { arns: r.asyncInvokeSummaries.map((s) => s.invocationArn) };
});
await run("guarded-start", async () => start(guarded, "amazon.nova-reel-v1:0"));
await run("guarded-apply", async () => {
  const r = await guarded.send(new ApplyGuardrailCommand({ guardrailIdentifier: "gr0abc123", guardrailVersion: "1",
    source: "INPUT", content: [{ text: { text: "something forbidden" } }] }));
  return { action: r.action, outputs: r.outputs };
});
await run("guarded-apply-other-version", async () => guarded.send(new ApplyGuardrailCommand({
  guardrailIdentifier: "gr0abc123", guardrailVersion: "2", source: "INPUT", content: [{ text: { text: "hi" } }] })));
await run("guarded-converse", async () => {
  const r = await guarded.send(new ConverseCommand({ modelId: "anthropic.claude-3-haiku-20240307-v1:0",
    messages: [{ role: "user", content: [{ text: "Hi" }] }],
    guardrailConfig: { guardrailIdentifier: "somebody-elses", guardrailVersion: "DRAFT" } }));
  return { text: r.output.message.content[0].text };
});
await run("default-start", async () => start(byDefault, "amazon.nova-reel-v1:0"));
