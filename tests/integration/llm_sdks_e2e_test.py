#!/usr/bin/python3
"""The `openai` (6.x) and `@anthropic-ai/sdk` npm packages, unchanged, drive signgate's OpenAI
and Anthropic surfaces: models.list, chat completions (plain, streamed with usage, a tool
round trip, a streamed tool call), Anthropic messages.create and messages.stream, and
refusals in each dialect. Behind signgate, the fake verifies every signature with botocore."""
import json
import os
import subprocess
import unittest
from urllib.request import urlopen

from common import ROOT  # noqa: F401  (puts tests/fakes on the path)
import aws_fake
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway

E2E = os.path.join(ROOT, "tests", "e2e")
SECRET = "sgk_llm_sdks_TEST_0123456789abcdefghijkl"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


class OpenAiAndAnthropicClients(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        cls.gw = Gateway(url, [{"name": "flashback", "secret": SECRET, "models": '["anthropic.*"]'}],
                         extra="models:\n  claude-haiku: %s\n" % MODEL)
        env = dict(os.environ, SIGNGATE_URL=cls.gw.url, SIGNGATE_SECRET=SECRET, NODE_NO_WARNINGS="1")
        for k in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
            env.pop(k, None)
        p = subprocess.run(["node", "llm_sdks.mjs"], cwd=E2E, env=env, capture_output=True, timeout=90)
        cls.stderr = p.stderr.decode()
        cls.fake_stats = json.loads(urlopen(url + "/_fake/stats").read())
        cls.results = {r["name"]: r for r in map(json.loads, p.stdout.decode().splitlines())}
        cls.gw.stop()
        cls.audit = cls.gw.audit()
        cls.fake.shutdown()

    def result(self, name):
        self.assertIn(name, self.results, self.stderr)
        return self.results[name]

    def test_models_list_shows_the_alias(self):
        self.assertEqual(self.result("models.list")["ids"], ["claude-haiku"])

    def test_chat_completion(self):
        r = self.result("chat")
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["content"], "Hello from " + MODEL)
        self.assertEqual((r["finish"], r["model"]), ("stop", "claude-haiku"))
        self.assertEqual(r["usage"], {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17})

    def test_chat_stream_with_usage(self):
        r = self.result("chat.stream")
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["content"], "Hello from " + MODEL)
        self.assertEqual(r["finish"], "stop")
        self.assertEqual(r["usage"]["total_tokens"], 17)

    def test_tool_round_trip(self):
        r = self.result("chat.tools")
        self.assertTrue(r["ok"], r)
        self.assertEqual((r["finish"], r["tool"], r["args"]), ("tool_calls", "get_weather", {"city": "Paris"}))
        self.assertEqual(r["answer"], "The tool said: 18C and sunny")
        s = self.result("chat.tools.stream")
        self.assertTrue(s["ok"], s)
        self.assertEqual((s["finish"], s["tool"], s["args"]), ("tool_calls", "get_weather", {"city": "Paris"}))

    def test_refusals_in_openai_dialect(self):
        denied = self.result("chat.denied")
        self.assertEqual((denied["status"], denied["type"], denied["code"]), (403, "permission_error", "model_not_allowed"))
        bad = self.result("chat.bad-key")
        self.assertEqual((bad["status"], bad["type"], bad["code"]), (401, "authentication_error", "invalid_api_key"))

    def test_anthropic_messages(self):
        r = self.result("messages.create")
        self.assertTrue(r["ok"], r)
        self.assertEqual((r["type"], r["stop"]), ("message", "end_turn"))
        s = self.result("messages.stream")
        self.assertTrue(s["ok"], s)
        self.assertEqual(s["text"], "Hello from " + MODEL)
        self.assertEqual(s["output_tokens"], 5)
        d = self.result("messages.denied")
        self.assertEqual((d["status"], d["type"]), (403, "permission_error"))

    def test_anthropic_count_tokens(self):
        r = self.result("messages.countTokens")
        self.assertTrue(r["ok"], r)
        self.assertGreater(r["input_tokens"], 1)
        b = self.result("beta.messages.countTokens")
        self.assertTrue(b["ok"], b)
        self.assertLess(b["input_tokens"], r["input_tokens"])  # a shorter message counts fewer

    def test_anthropic_betas_bedrock_takes_are_sent_the_others_dropped(self):
        r = self.result("beta.messages.create")
        self.assertTrue(r["ok"], r)  # the emulator refuses claude-code-20250219 as Bedrock does
        self.assertEqual(r["type"], "message")
        sent = [json.loads(self.fake_stats["last_invoke_body"])]
        # Claude 3 Haiku takes none of the betas the SDK asked for (interleaved thinking is Claude 4's).
        self.assertNotIn("anthropic_beta", sent[0])

    def test_every_call_was_audited_with_its_surface(self):
        surfaces = [(l["surface"], l["operation"], l["status"]) for l in self.audit]
        self.assertIn(("openai", "converse", 200), surfaces)
        self.assertIn(("openai", "converse-stream", 200), surfaces)
        self.assertIn(("anthropic", "invoke-stream", 200), surfaces)
        self.assertIn(("openai", "converse", 403), surfaces)
        self.assertIn(("anthropic", "count-tokens", 200), surfaces)
        stream = [l for l in self.audit if l["surface"] == "anthropic" and l["operation"] == "invoke-stream"][-1]
        self.assertEqual((stream["input_tokens"], stream["output_tokens"]), (12, 5))


if __name__ == "__main__":
    unittest.main(verbosity=2)
