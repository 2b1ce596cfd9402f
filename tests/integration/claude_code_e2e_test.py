#!/usr/bin/python3
"""Claude Code itself (@anthropic-ai/claude-code, pinned in tests/e2e for Node.js 20), unchanged,
through signgate against the botocore-verifying emulator, in both of its modes:
- Anthropic mode (ANTHROPIC_BASE_URL + a token): a prompt, a tool round trip (Bash) and /context,
  whose count_tokens calls must be answered rather than fall back to billed max_tokens:1 calls;
- Bedrock mode (CLAUDE_CODE_USE_BEDROCK, ANTHROPIC_BEDROCK_BASE_URL, AWS_BEARER_TOKEN_BEDROCK):
  a prompt over the native surface, and /context, which asks discovery for the inference
  profile's model and then CountTokens.
The emulator refuses the betas Bedrock refuses for each model, so the prompts pass only if signgate
forwarded the betas that model takes and dropped the rest; one model's betas are restricted further
by an anthropic.betas rule. count_tokens for a model CountTokens refuses (Claude Code's default,
Opus 4.8) is answered with an estimate that errs high, marked as one. Anthropic's service_tier on
/v1/messages over plain HTTP. The model aliases are the ones examples/claude-code.yaml ships."""
import json
import math
import os
import subprocess
import tempfile
import unittest
from urllib.request import urlopen

from common import ROOT  # noqa: F401  (puts tests/fakes on the path)
import aws_fake
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway
from gateway_test import call

CLAUDE = os.path.join(ROOT, "tests", "e2e", "node_modules", ".bin", "claude")
SECRET = "sgk_claude_code_TEST_0123456789abcdefghijk"
AUTH = {"x-api-key": SECRET, "Content-Type": "application/json", "anthropic-version": "2023-06-01"}
SONNET_45 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
# Sonnet 4.5 takes context-management on Bedrock; this operator allows it interleaved thinking only.
BETAS = 'anthropic:\n  betas:\n    "us.anthropic.claude-sonnet-4-5-*": [interleaved-thinking-2025-05-14]\n'


def example_models():
    """The models: block of examples/claude-code.yaml, as the gateway's config text."""
    with open(os.path.join(ROOT, "examples", "claude-code.yaml")) as f:
        lines = f.read().split("\n")
    start = lines.index("models:")
    block = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        block.append(line)
    return "\n".join(block) + "\n"


class ClaudeCode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake, cls.fake_url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        cls.gw = Gateway(cls.fake_url, [{"name": "claude-code", "secret": SECRET,
                                         "models": '["us.anthropic.claude-*", "anthropic.claude-*", '
                                                   '"amazon.nova-pro-v1:0"]',
                                         "operations": "[invoke, invoke-stream, count-tokens, discovery]"}],
                         extra=example_models() + "discovery: true\n" + BETAS,
                         aws_extra="  bedrock_control_endpoint: %s\n" % cls.fake_url)
        cls.home = tempfile.TemporaryDirectory(prefix="signgate-claude-home-")
        cls.work = tempfile.TemporaryDirectory(prefix="signgate-claude-work-")

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.fake.shutdown()
        cls.home.cleanup()
        cls.work.cleanup()

    def claude(self, *args, bedrock=False, timeout=120):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ANTHROPIC_", "AWS_", "CLAUDE_", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy",
                                    "https_proxy"))}
        env.update({"HOME": self.home.name, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_TELEMETRY": "1",
                    "DISABLE_AUTOUPDATER": "1", "NO_PROXY": "127.0.0.1"})
        if bedrock:
            env.update({"CLAUDE_CODE_USE_BEDROCK": "1", "ANTHROPIC_BEDROCK_BASE_URL": self.gw.url,
                        "AWS_BEARER_TOKEN_BEDROCK": SECRET, "AWS_REGION": "us-east-1",
                        # Pinned tiers: no availability probes at start-up.
                        "ANTHROPIC_DEFAULT_SONNET_MODEL": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                        "ANTHROPIC_DEFAULT_OPUS_MODEL": "us.anthropic.claude-opus-4-6-v1",
                        "ANTHROPIC_DEFAULT_HAIKU_MODEL": "us.anthropic.claude-haiku-4-5-20251001-v1:0"})
        else:
            env.update({"ANTHROPIC_BASE_URL": self.gw.url, "ANTHROPIC_AUTH_TOKEN": SECRET})
        before = len(self.gw.wait_audit_caught_up())
        p = subprocess.run([CLAUDE, *args], cwd=self.work.name, env=env, capture_output=True, timeout=timeout)
        out = p.stdout.decode(errors="replace")
        self.assertEqual(p.returncode, 0, "claude %s failed:\n%s\n%s\n%s" % (
            args, out[-2000:], p.stderr.decode(errors="replace")[-2000:], self.gw.logs()[-2000:]))
        return out, self.gw.wait_audit_caught_up()[before:]

    def fake_stats(self):
        return json.loads(urlopen(self.fake_url + "/_fake/stats").read())

    def test_anthropic_mode_prompt(self):
        out, audit = self.claude("-p", "Say hi", "--output-format", "json", "--max-turns", "1")
        result = json.loads(out)
        # Its default model name reached Bedrock through the example's alias.
        self.assertIn("Hello from us.anthropic.claude-", result["result"])
        streams = [l for l in audit if l["operation"] == "invoke-stream"]
        self.assertTrue(streams, audit)
        self.assertTrue(all(l["status"] == 200 and l["surface"] == "anthropic" for l in streams), streams)
        # Its default model is Opus 4.8, which takes no beta on Bedrock: none went on, and
        # claude-code-20250219 and the like were counted as dropped.
        sent = [r for r in self.fake.requests_to("invoke-with-response-stream") if r["model"] == "us.anthropic.claude-opus-4-8"]
        self.assertTrue(sent)
        self.assertEqual([r.get("anthropic_beta") for r in sent], [None] * len(sent))
        dropped = 'signgate_anthropic_betas_dropped_total{client="claude-code",beta="claude-code-20250219"}'
        self.assertIn(dropped, self.gw.wait_metrics(dropped))

    # anthropic.betas restricts Sonnet 4.5 to interleaved thinking: Claude Code still works, and
    # context-management, which it asks for and Bedrock would take, never reaches Bedrock.
    def test_anthropic_mode_betas_restricted_per_model(self):
        out, audit = self.claude("-p", "Say hi", "--output-format", "json", "--max-turns", "1",
                                 "--model", "claude-sonnet-4-5-20250929")
        self.assertIn("Hello from " + SONNET_45, json.loads(out)["result"])
        sent = [r for r in self.fake.requests_to("invoke-with-response-stream") if r["model"] == SONNET_45]
        self.assertTrue(sent and all(r.get("outcome") == "served" for r in sent), sent)
        self.assertEqual({tuple(r.get("anthropic_beta") or ()) for r in sent}, {("interleaved-thinking-2025-05-14",)})
        dropped = 'signgate_anthropic_betas_dropped_total{client="claude-code",beta="context-management-2025-06-27"}'
        self.assertIn(dropped, self.gw.wait_metrics(dropped))

    # Claude Code's default, Opus 4.8, is a model Bedrock's CountTokens refuses: /context is
    # answered with estimates, marked so in the audit line, and no billed max_tokens:1 calls.
    def test_anthropic_mode_context_for_a_model_counttokens_refuses(self):
        before = self.fake.counts.get("count_tokens_refused", 0)
        out, audit = self.claude("-p", "/context", "--output-format", "text")
        self.assertIn("Context Usage", out)
        counts = [l for l in audit if l["operation"] == "count-tokens"]
        self.assertTrue(counts and all(l["status"] == 200 for l in counts), counts)
        self.assertIn("estimated", {l.get("token_count") for l in counts})
        self.assertGreater(self.fake.counts.get("count_tokens_refused", 0), before)
        self.assertEqual([l for l in audit if l["operation"] in ("invoke", "invoke-stream")], [])

    def count_tokens(self, model, body):
        status, headers, data = call(self.gw.url, "/v1/messages/count_tokens", json.dumps(dict(body, model=model)), AUTH)
        self.assertEqual(status, 200, data)
        return json.loads(data)["input_tokens"], headers

    # The estimate is never below the count: here against the emulator's count of the same body
    # for a model CountTokens counts, and against a count of ~1 token per 4 bytes of text.
    def test_count_tokens_estimate_errs_high(self):
        text = "Please refactor the function below so it streams its output.\n" + "def f(x):\n    return x * 2\n" * 200
        body = {"system": "You are a careful coding assistant.",
                "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "Sure."},
                             {"role": "user", "content": [{"type": "text", "text": "Go on."}]}],
                "tools": [{"name": "Bash", "description": "Run a shell command",
                           "input_schema": {"type": "object", "properties": {"command": {"type": "string"}},
                                            "required": ["command"]}}]}
        counted, headers = self.count_tokens("claude-sonnet-4-5-20250929", body)
        self.assertNotIn("x-signgate-token-count", headers)
        # The profile went to CountTokens as its model (Bedrock counts those, not profiles).
        self.assertIn("anthropic.claude-sonnet-4-5-20250929-v1:0",
                      [r["model"] for r in self.fake.requests_to("count-tokens")][-1:])
        estimated, headers = self.count_tokens("claude-opus-4-8", body)
        self.assertEqual(headers.get("x-signgate-token-count"), "estimated")
        self.assertGreaterEqual(estimated, counted)
        self.assertGreaterEqual(estimated, math.ceil(len(json.dumps(body)) / 4))
        line = self.gw.wait_audit_caught_up()[-1]
        self.assertEqual((line["operation"], line["status"], line.get("token_count")), ("count-tokens", 200, "estimated"))
        # Other errors stay errors: Bedrock refusing the body itself.
        self.fake.fail = {"type": "ValidationException", "count": 1}
        status, headers, data = call(self.gw.url, "/v1/messages/count_tokens",
                                     json.dumps(dict(body, model="claude-opus-4-8")), AUTH)
        self.assertEqual((status, json.loads(data)["error"]["type"]), (400, "invalid_request_error"), data)
        self.assertNotIn("x-signgate-token-count", headers)

    def messages(self, model, tier, stream=False):
        body = {"model": model, "max_tokens": 20, "messages": [{"role": "user", "content": "Hi"}], "stream": stream}
        if tier is not None:
            body["service_tier"] = tier
        return call(self.gw.url, "/v1/messages", json.dumps(body), AUTH)

    # Anthropic's service_tier never reaches the InvokeModel body: auto and standard_only are
    # Bedrock's default (no header), priority and flex its header where the model has them (else
    # the default tier, as on the OpenAI surfaces); usage and the audit say which served.
    def test_service_tier_on_messages(self):
        for tier in (None, "auto", "standard_only", "priority", "flex"):
            status, _, data = self.messages("claude-sonnet-4-5-20250929", tier)
            self.assertEqual(status, 200, data)
            self.assertEqual(json.loads(data)["usage"]["service_tier"], "standard")
            self.assertIsNone(self.fake.requests_to("invoke")[-1].get("service_tier"))
            self.assertEqual(self.gw.wait_audit_caught_up()[-1]["service_tier"], "default")
        # A model that has it: the header goes, and the tier served comes back, whole and streamed.
        for stream in (False, True):
            status, _, data = self.messages("amazon.nova-pro-v1:0", "flex", stream)
            self.assertEqual(status, 200, data)
            self.assertEqual(self.fake.requests[-1].get("service_tier"), "flex")
            if stream:
                start = next(json.loads(l[6:]) for l in data.decode().splitlines() if '"message_start"' in l)
                self.assertEqual(start["message"]["usage"]["service_tier"], "flex")
            else:
                self.assertEqual(json.loads(data)["usage"]["service_tier"], "flex")
            self.assertEqual(self.gw.wait_audit_caught_up()[-1]["service_tier"], "flex")
        status, _, data = self.messages("claude-sonnet-4-5-20250929", "bogus")
        self.assertEqual(status, 400, data)
        self.assertIn("service_tier", json.loads(data)["error"]["message"])

    def test_anthropic_mode_tool_round_trip(self):
        out, audit = self.claude("-p", "Please run the signgate-tool check", "--output-format", "json",
                                 "--max-turns", "3", "--allowedTools", "Bash(echo:*)")
        result = json.loads(out)
        self.assertIn("The tool said: signgate-tool-ok", result["result"])
        self.assertGreaterEqual(len([l for l in audit if l["operation"] == "invoke-stream"]), 2, audit)

    def test_anthropic_mode_context_counts_tokens(self):
        out, audit = self.claude("-p", "/context", "--output-format", "text")
        self.assertIn("Context Usage", out)
        counts = [l for l in audit if l["operation"] == "count-tokens"]
        self.assertTrue(counts, audit)
        self.assertTrue(all(l["status"] == 200 for l in counts), counts)
        # Answered: no fallback to billed max_tokens:1 calls.
        self.assertEqual([l for l in audit if l["operation"] in ("invoke", "invoke-stream")], [])

    def bedrock_context(self):
        if not hasattr(ClaudeCode, "_bedrock_context"):
            ClaudeCode._bedrock_context = self.claude("-p", "/context", "--output-format", "text", bedrock=True)
        return ClaudeCode._bedrock_context

    def test_bedrock_mode_context_asks_discovery_for_the_profiles_model(self):
        out, audit = self.bedrock_context()
        self.assertIn("Context Usage", out)
        found = [l for l in audit if l["operation"] == "discovery"]
        self.assertTrue(found and all(l["status"] == 200 and l["client"] == "claude-code" for l in found), audit)

    # Claude Code sends CountTokens through @aws-sdk/client-bedrock-runtime, whose default handler
    # speaks HTTP/2 with prior knowledge: the listener speaks it, so /context counts tokens
    # instead of falling back to billed max_tokens:1 invokes.
    def test_bedrock_mode_context_counts_tokens(self):
        _, audit = self.bedrock_context()
        counts = [l for l in audit if l["operation"] == "count-tokens"]
        self.assertTrue(counts and all(l["status"] == 200 for l in counts), audit[:3])
        self.assertTrue(all(l["model"].startswith("anthropic.claude-") for l in counts), counts)
        self.assertEqual([l for l in audit if l["operation"] in ("invoke", "invoke-stream")], [])

    def test_bedrock_mode_prompt(self):
        out, audit = self.claude("-p", "Say hi", "--output-format", "json", "--max-turns", "1", bedrock=True)
        result = json.loads(out)
        self.assertIn("Hello from us.anthropic.claude-", result["result"])
        streams = [l for l in audit if l["operation"] == "invoke-stream"]
        self.assertTrue(streams and all(l["status"] == 200 and l["surface"] == "bedrock" for l in streams), audit)


if __name__ == "__main__":
    unittest.main(verbosity=2)
