#!/usr/bin/python3
"""Claude Code itself (@anthropic-ai/claude-code, pinned in tests/e2e for Node.js 20), unchanged,
through signgate against the botocore-verifying emulator, in both of its modes:
- Anthropic mode (ANTHROPIC_BASE_URL + a token): a prompt, a tool round trip (Bash) and /context,
  whose count_tokens calls must be answered rather than fall back to billed max_tokens:1 calls;
- Bedrock mode (CLAUDE_CODE_USE_BEDROCK, ANTHROPIC_BEDROCK_BASE_URL, AWS_BEARER_TOKEN_BEDROCK):
  a prompt over the native surface, and /context, which asks discovery for the inference
  profile's model and then CountTokens.
The emulator refuses the betas Bedrock refuses, so the prompts pass only if signgate forwarded
Claude Code's accepted betas and dropped its first-party ones. The model aliases are the ones
examples/claude-code.yaml ships."""
import json
import os
import subprocess
import tempfile
import unittest
from urllib.request import urlopen

from common import ROOT  # noqa: F401  (puts tests/fakes on the path)
import aws_fake
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway

CLAUDE = os.path.join(ROOT, "tests", "e2e", "node_modules", ".bin", "claude")
SECRET = "sgk_claude_code_TEST_0123456789abcdefghijk"


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
                                         "models": '["us.anthropic.claude-*", "anthropic.claude-*"]',
                                         "operations": "[invoke, invoke-stream, count-tokens, discovery]"}],
                         extra=example_models() + "discovery: true\n",
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
        sent = json.loads(self.fake_stats()["last_invoke_body"])
        # Claude Code's accepted betas went on; claude-code-20250219 and the like did not.
        self.assertIn("interleaved-thinking-2025-05-14", sent["anthropic_beta"])
        self.assertNotIn("claude-code-20250219", sent["anthropic_beta"])
        dropped = 'signgate_anthropic_betas_dropped_total{client="claude-code",beta="claude-code-20250219"}'
        self.assertIn(dropped, self.gw.wait_metrics(dropped))

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
