#!/usr/bin/python3
"""AWS's own JS SDK (@aws-sdk/client-bedrock-runtime, pinned in tests/e2e/package.json)
configured with a bearer token — the way Bedrock API keys are used — calls signgate's native
surface: Converse, ConverseStream, InvokeModel, InvokeModelWithResponseStream, CountTokens,
an upstream that breaks mid-stream (a typed InternalServerException, not a hang), and a
refused model as a typed SDK error. Every upstream request was signed with assumed-role
credentials, which the fake checks.
Behind signgate, the Bedrock/STS fake verifies every signature with botocore."""
import json
import os
import subprocess
import unittest
from urllib.request import urlopen

from common import ROOT  # noqa: F401  (puts tests/fakes on the path)
import aws_fake
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway

E2E = os.path.join(ROOT, "tests", "e2e")
SECRET = "sgk_sdk_e2e_TEST_0123456789abcdefghijkl"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


class AwsSdkWithBearerToken(unittest.TestCase):
    """The SDK's default handler speaks HTTP/2 (NodeHttp2Handler: prior knowledge over http://,
    ALPN h2 over https://); an HTTP/1.1 handler is the other case."""

    def test_the_default_http2_handler_over_http(self):
        self.check_sdk(http1=False, tls=False)

    def test_the_default_http2_handler_over_https(self):
        self.check_sdk(http1=False, tls=True)

    def test_an_http1_handler(self):
        self.check_sdk(http1=True, tls=False)

    def check_sdk(self, http1, tls):
        from common import make_ca, tempdir
        fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        with tempdir() as d:
            extra, env = "", dict(os.environ)
            if tls:
                ca = make_ca(d)
                extra = "tls: { cert: %s, key: %s }\n" % (ca["cert"], ca["key"])
                env["NODE_EXTRA_CA_CERTS"] = ca["ca"]
            gw = Gateway(url, [{"name": "sdk", "secret": SECRET, "models": '["anthropic.*"]'}], extra=extra)
            try:
                env.update(SIGNGATE_URL=gw.url, MODEL=MODEL,
                           SIGNGATE_SECRET=SECRET, HTTP1="1" if http1 else "0", NODE_NO_WARNINGS="1")
                for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
                    env.pop(k, None)
                p = subprocess.run(["node", "bedrock_sdk.mjs"], cwd=E2E, env=env, capture_output=True, timeout=60)
                self.assertEqual(p.returncode, 0, p.stderr.decode())
                results = {r["name"]: r for r in map(json.loads, p.stdout.decode().splitlines())}
            finally:
                gw.stop()
                fake.shutdown()
        self.assertTrue(results["converse"]["ok"], results["converse"])
        self.assertEqual(results["converse"]["text"], "Hello from " + MODEL)
        self.assertEqual(results["converse"]["usage"]["inputTokens"], 12)
        stream = results["converse-stream"]
        self.assertTrue(stream["ok"], stream)
        self.assertEqual(stream["text"], "Hello from " + MODEL)
        self.assertEqual(stream["events"], 7)
        self.assertEqual(stream["usage"]["outputTokens"], 5)
        self.assertTrue(results["invoke"]["ok"], results["invoke"])
        invoke_stream = results["invoke-stream"]
        self.assertTrue(invoke_stream["ok"], invoke_stream)
        self.assertEqual(invoke_stream["text"], "Hello from " + MODEL)
        self.assertEqual(invoke_stream["events"], 8)
        # The emulator counts the messages' JSON over four: the body arrived whole, as sent.
        messages = [{"role": "user", "content": [{"text": "Hello"}]}]
        self.assertEqual(results["count-tokens"],
                         {"name": "count-tokens", "ok": True, "inputTokens": len(json.dumps(messages)) // 4 + 1})
        broken = results["broken-stream"]
        self.assertFalse(broken["ok"], "an upstream reset mid-stream is an error for the caller, not a silent end")
        self.assertEqual(broken["error"], "InternalServerException", broken)
        self.assertIn("upstream stream broke", broken["message"])
        denied = results["denied-model"]
        self.assertFalse(denied["ok"])
        self.assertEqual((denied["error"], denied["status"]), ("AccessDeniedException", 403))
        signed = [r for r in fake.requests if r["path"].startswith("/model/")]
        self.assertGreaterEqual(len(signed), 6)
        for r in signed:
            self.assertTrue(r["ok"], r["reason"])
            tokens = [v for n, v in r["headers"] if n.lower() == "x-amz-security-token"]
            self.assertEqual(len(tokens), 1, "signed with temporary (assumed-role) credentials")


class RestOfBedrockRuntime(unittest.TestCase):
    """ApplyGuardrail and the asynchronous invocations with the same SDK; a client sees only its
    own invocations, and one held to a guardrail applies only it and cannot go around it."""

    def test_guardrails_and_async_invocations(self):
        fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        ops_secret, guarded_secret = SECRET + "-ops", SECRET + "-guarded"
        gw = Gateway(url, [{"name": "ops", "secret": ops_secret, "models": '["anthropic.*", "amazon.nova-*"]',
                            "operations": "[converse, async-invoke]"},
                           {"name": "guarded", "secret": guarded_secret, "models": '["anthropic.*", "amazon.nova-*"]',
                            "operations": "[converse, apply-guardrail, async-invoke]",
                            "guardrail": '{id: gr0abc123, version: "1"}'},
                           {"name": "default-ops", "secret": SECRET + "-default", "models": '["amazon.nova-*"]'}])
        try:
            env = dict(os.environ, SIGNGATE_URL=gw.url, OPS_SECRET=ops_secret, GUARDED_SECRET=guarded_secret,
                       DEFAULT_SECRET=SECRET + "-default", NODE_NO_WARNINGS="1")
            for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
                env.pop(k, None)
            p = subprocess.run(["node", "bedrock_runtime_rest.mjs"], cwd=E2E, env=env, capture_output=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            r = {x["name"]: x for x in map(json.loads, p.stdout.decode().splitlines())}
            stats = json.loads(urlopen(url + "/_fake/stats").read())
            audit = gw.wait_audit_caught_up()
        finally:
            gw.stop()
            fake.shutdown()
        arn = r["start"]["arn"]
        self.assertTrue(r["start"]["ok"] and arn.startswith("arn:aws:bedrock:us-east-1:111122223333:async-invoke/"), r)
        self.assertEqual((r["get"]["arn"], r["get"]["status"]), (arn, "InProgress"))
        self.assertEqual(r["list"]["arns"], [arn])  # not the emulator's other invocation
        self.assertEqual((r["start-denied-model"]["error"], r["start-denied-model"]["status"]),
                         ("AccessDeniedException", 403))
        self.assertEqual((r["guarded-get-others"]["error"], r["guarded-get-others"]["status"]),
                         ("ResourceNotFoundException", 404))
        self.assertEqual(r["guarded-list"]["arns"], [])
        self.assertEqual((r["guarded-start"]["error"], r["guarded-start"]["status"]), ("AccessDeniedException", 403))
        self.assertEqual(r["guarded-apply"]["action"], "GUARDRAIL_INTERVENED", r["guarded-apply"])
        self.assertEqual(r["guarded-apply-other-version"]["status"], 403)
        self.assertTrue(r["guarded-converse"]["ok"], r["guarded-converse"])
        self.assertEqual(stats["last_guardrail"], {"id": "gr0abc123", "version": "1"})
        # async-invoke is opt-in: a client without an operations list does not have it.
        self.assertEqual((r["default-start"]["error"], r["default-start"]["status"]), ("AccessDeniedException", 403))
        ops = [(l["client"], l["operation"], l["status"]) for l in audit]
        self.assertIn(("ops", "async-invoke", 200), ops)
        self.assertIn(("guarded", "apply-guardrail", 200), ops)


if __name__ == "__main__":
    unittest.main(verbosity=2)
