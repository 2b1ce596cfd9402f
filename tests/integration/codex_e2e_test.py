#!/usr/bin/python3
"""The Codex CLI itself (@openai/codex, pinned in tests/e2e), unchanged, in `codex exec` mode with
signgate as its model provider (examples/codex/config.toml, only base_url changed): a prompt,
and a tool round trip in which the model asks for exec_command, Codex runs it and sends the
output back. The model is Claude with extended thinking on (model_reasoning_effort = "low"),
so the tool loop passes only if the signed thinking went back to Bedrock in the next turn:
the emulator checks that, and every signature with botocore."""
import json
import os
import re
import subprocess
import tempfile
import unittest
from urllib.request import urlopen

from common import ROOT  # noqa: F401  (puts tests/fakes on the path)
import aws_fake
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway

CODEX = os.path.join(ROOT, "tests", "e2e", "node_modules", ".bin", "codex")
SECRET = "sgk_codex_TEST_0123456789abcdefghijklmnop"
SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


class Codex(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake, cls.fake_url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        cls.gw = Gateway(cls.fake_url, [{"name": "codex", "secret": SECRET, "models": '["us.anthropic.claude-*"]'}],
                         extra="models:\n  claude-sonnet: %s\n" % SONNET)
        cls.home = tempfile.TemporaryDirectory(prefix="signgate-codex-home-")
        cls.work = tempfile.TemporaryDirectory(prefix="signgate-codex-work-")
        with open(os.path.join(ROOT, "examples", "codex", "config.toml")) as f:
            config = f.read()
        config, n = re.subn(r'^base_url = "[^"]*"', 'base_url = "%s/v1"' % cls.gw.url, config, flags=re.M)
        assert n == 1
        with open(os.path.join(cls.home.name, "config.toml"), "w") as f:
            f.write(config)

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.fake.shutdown()
        cls.home.cleanup()
        cls.work.cleanup()

    def codex(self, prompt):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEX_"))}
        env.update(CODEX_HOME=self.home.name, SIGNGATE_API_KEY=SECRET, NO_COLOR="1")
        p = subprocess.run([CODEX, "exec", "--strict-config", "--skip-git-repo-check", "--ephemeral", "--json",
                            "--dangerously-bypass-approvals-and-sandbox", prompt],
                           cwd=self.work.name, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=180)
        events = []
        for line in p.stdout.decode().splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                pass
        return p.returncode, events, p.stderr.decode()

    @staticmethod
    def items(events, kind):
        return [e["item"] for e in events if e.get("type") == "item.completed" and e["item"].get("type") == kind]

    def test_a_prompt(self):
        rc, events, err = self.codex("Say hello")
        self.assertEqual(rc, 0, err[-2000:])
        messages = self.items(events, "agent_message")
        self.assertEqual([m["text"] for m in messages], ["Hello from " + SONNET], events)
        self.assertIn("turn.completed", [e["type"] for e in events])
        # Codex's system prompt (developer messages) reached Bedrock as the system prompt.
        body = json.loads(urlopen(self.fake_url + "/_fake/stats").read())["last_converse_body"]
        self.assertTrue(body["system"] and len(body["system"][0]["text"]) > 1000)
        self.assertEqual(body["additionalModelRequestFields"]["thinking"]["type"], "enabled")

    def test_a_tool_round_trip_with_thinking(self):
        rc, events, err = self.codex("Run the signgate-tool check")
        self.assertEqual(rc, 0, err[-2000:])
        commands = self.items(events, "command_execution")
        self.assertEqual(len(commands), 1, events)
        self.assertIn("echo signgate-tool-ok", commands[0]["command"])
        self.assertEqual(commands[0]["exit_code"], 0)
        final = self.items(events, "agent_message")[-1]["text"]
        self.assertTrue(final.startswith("The tool said: "), final)
        self.assertIn("signgate-tool-ok", final)
        reasoning = self.items(events, "reasoning")
        self.assertTrue(reasoning, events)
        # The second turn carried the first turn's signed thinking back, ahead of its tool use.
        body = json.loads(urlopen(self.fake_url + "/_fake/stats").read())["last_converse_body"]
        turn = [m for m in body["messages"] if m["role"] == "assistant"][-1]
        self.assertIn("reasoningContent", turn["content"][0])
        self.assertIn("toolUse", turn["content"][-1])

    def test_every_call_audited(self):
        self.codex("Say hello")
        lines = [l for l in self.gw.wait_audit_caught_up() if l["surface"] == "openai"]
        self.assertTrue(lines)
        for line in lines:
            self.assertEqual((line["client"], line["status"], line["operation"]), ("codex", 200, "converse-stream"))


if __name__ == "__main__":
    unittest.main()
