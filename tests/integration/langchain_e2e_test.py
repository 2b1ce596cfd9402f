#!/usr/bin/python3
"""LangChain's Bedrock classes (@langchain/aws, pinned in tests/e2e/package.json) work through
signgate unchanged, with the AWS SDK's default HTTP handler, which speaks HTTP/2 (prior
knowledge over http://, ALPN h2 over https://): ChatBedrockConverse's invoke (the fake's
answer and token usage) and stream (the chunks add up to the same answer and usage),
BedrockEmbeddings' embedQuery and embedDocuments (every vector exactly the one the model made
for that text, in order; the three documents go as concurrent streams on one connection), and
a model outside the client's allowlist refused with a 403 the caller sees as a typed error.
Configured as a user configures them: the signgate secret in AWS_BEARER_TOKEN_BEDROCK, the
address in AWS_ENDPOINT_URL_BEDROCK_RUNTIME (over http) or in the classes' own fields (over
https). signgate's audit log shows each call arrived over h2; behind it, the Bedrock/STS fake
verified every upstream signature (assumed-role credentials) with botocore."""
import json
import os
import subprocess
import unittest
from urllib.request import urlopen

from common import ROOT, make_ca, tempdir
import aws_fake
import embeddings_fake
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway

E2E = os.path.join(ROOT, "tests", "e2e")
SECRET = "sgk_langchain_TEST_0123456789abcdefghijkl"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
EMBED_MODEL = "amazon.titan-embed-text-v2:0"
DENIED = "meta.llama3-8b-instruct-v1:0"


class LangChainBedrockOverHttp2(unittest.TestCase):
    def test_over_http_configured_by_environment(self):
        self.check(tls=False, config="env")

    def test_over_https_configured_by_constructor_fields(self):
        self.check(tls=True, config="fields")

    def run_langchain(self, tls, config):
        """(the script's results by name, signgate's audit lines, the fake's stats and requests)."""
        fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        with tempdir() as d:
            extra = ""
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            if tls:
                ca = make_ca(d)
                extra = "tls: { cert: %s, key: %s }\n" % (ca["cert"], ca["key"])
                env["NODE_EXTRA_CA_CERTS"] = ca["ca"]
            gw = Gateway(url, [{"name": "langchain", "secret": SECRET,
                                "models": '["anthropic.*", "amazon.titan-embed-*"]'}], extra=extra)
            try:
                self.assertTrue(gw.url.startswith("https://" if tls else "http://"), gw.url)
                env.update(SIGNGATE_URL=gw.url, MODEL=MODEL, EMBED_MODEL=EMBED_MODEL, CONFIG=config,
                           AWS_BEARER_TOKEN_BEDROCK=SECRET, AWS_MAX_ATTEMPTS="1", AWS_EC2_METADATA_DISABLED="true",
                           HOME=d, NODE_NO_WARNINGS="1")
                if config == "env":
                    env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = gw.url
                p = subprocess.run(["node", "langchain_bedrock.mjs"], cwd=E2E, env=env, capture_output=True,
                                   timeout=60)
                self.assertEqual(p.returncode, 0, p.stderr.decode())
                results = {r["name"]: r for r in map(json.loads, p.stdout.decode().splitlines())}
                with urlopen(url + "/_fake/stats") as r:
                    stats = json.loads(r.read())
            finally:
                gw.stop()
                fake.shutdown()
                fake.server_close()
            return results, gw.audit(), stats, list(fake.requests)

    def check(self, tls, config):
        results, audit, stats, requests = self.run_langchain(tls, config)

        def ok(name):
            self.assertIn(name, results)
            self.assertTrue(results[name]["ok"], results[name])
            return results[name]

        # The SDK's default handler for Bedrock Runtime, left as it is: no fallback to HTTP/1.1.
        self.assertEqual(ok("handler"), {"name": "handler", "ok": True, "chat": "NodeHttp2Handler",
                                         "embeddings": "NodeHttp2Handler"})
        usage = {"input_tokens": 12, "output_tokens": 5, "total_tokens": 17}
        invoke = ok("invoke")
        self.assertEqual(invoke["text"], "Hello from " + MODEL)
        self.assertEqual(invoke["stopReason"], "end_turn")
        self.assertEqual({k: invoke["usage"][k] for k in usage}, usage)
        stream = ok("stream")
        self.assertEqual(stream["text"], "Hello from " + MODEL)
        self.assertGreater(stream["chunks"], 2, "the answer arrived as a stream of chunks")
        self.assertEqual({k: stream["usage"][k] for k in usage}, usage)
        # Titan's answer is relayed as Bedrock sent it: the vectors are exactly the fake's.
        self.assertEqual(ok("embedQuery")["vector"], embeddings_fake.vector("hello world", 1024))
        self.assertEqual(ok("embedDocuments")["vectors"],
                         [embeddings_fake.vector(t, 1024) for t in ("one", "two", "three")])
        denied = results["denied-model"]
        self.assertFalse(denied["ok"], denied)
        self.assertEqual((denied["error"], denied["status"]), ("AccessDeniedException", 403), denied)

        # signgate: every call arrived over HTTP/2, the refused one refused by signgate itself.
        lines = [(l["client"], l["model"], l["operation"], l["status"], l["protocol"]) for l in audit]
        expected = [("langchain", MODEL, "converse", 200, "h2"), ("langchain", MODEL, "converse-stream", 200, "h2")] \
            + [("langchain", EMBED_MODEL, "invoke", 200, "h2")] * 4 + [("langchain", DENIED, "converse", 403, "h2")]
        self.assertEqual(sorted(lines), sorted(expected), audit)

        # The fake: six signed Bedrock calls (four of them Titan embeddings), none rejected, none
        # for the refused model, each signed with temporary (assumed-role) credentials.
        self.assertEqual(stats["counts"].get("bedrock"), 6, stats["counts"])
        self.assertEqual(stats["counts"].get("embeddings"), 4, stats["counts"])
        self.assertNotIn("rejected", stats["counts"])
        signed = [r for r in requests if r["path"].startswith("/model/")]
        self.assertEqual(len(signed), 6)
        self.assertFalse([r for r in signed if "meta." in r["path"]])
        for r in signed:
            self.assertTrue(r["ok"], r["reason"])
            tokens = [v for n, v in r["headers"] if n.lower() == "x-amz-security-token"]
            self.assertEqual(len(tokens), 1, "signed with temporary (assumed-role) credentials")


if __name__ == "__main__":
    unittest.main(verbosity=2)
