#!/usr/bin/python3
"""The Codex CLI itself (@openai/codex, pinned in tests/e2e), unchanged, in `codex exec` mode with
signgate as its model provider and its plain config (examples/codex/config.toml, only base_url
changed: the provider, and switches that only keep Codex off OpenAI's and GitHub's servers; no
feature turned off). Codex then offers its default tools: functions, the `multi_agent_v1`
namespace of functions and a hosted web_search tool. Shown: a prompt; a tool round trip in
which the model asks for exec_command, Codex runs it and sends the output back; a turn in which
the model calls the namespaced wait_agent, Codex runs it (an unknown agent id: Codex answers
with an error, which is a tool output like any other) and the next Converse request carries the
call under its flattened name and Codex's output as its result; web_search dropped (Bedrock
never sees it, the audit line names it). The model is Claude with extended thinking on
(model_reasoning_effort = "low"), so a tool loop passes only if the signed thinking went back to
Bedrock in the next turn: the emulator checks that, and every signature with botocore."""
import json
import unittest
from urllib.request import urlopen

from common import ROOT  # noqa: F401  (puts tests/fakes on the path)
import aws_fake
import codex_cli
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway

SECRET = "sgk_codex_TEST_0123456789abcdefghijklmnop"
SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


class Codex(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake, cls.fake_url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        cls.gw = Gateway(cls.fake_url, [{"name": "codex", "secret": SECRET, "models": '["us.anthropic.claude-*"]'}],
                         extra="models:\n  claude-sonnet: %s\n" % SONNET)
        cls.codex_home = codex_cli.CodexHome(cls.gw.url, SECRET)

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.fake.shutdown()
        cls.codex_home.cleanup()

    def codex(self, prompt):
        return self.codex_home.run(prompt)

    @staticmethod
    def items(events, kind):
        return codex_cli.items(events, kind)

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

    def converse_bodies(self, since=0):
        with self.fake._lock:
            return [r["body"] for r in getattr(self.fake, "converse_requests", [])[since:]]

    def test_a_namespaced_tool_round_trip(self):
        since = len(self.converse_bodies())
        rc, events, err = self.codex("Ask the signgate-agents how they are doing")
        self.assertEqual(rc, 0, err[-2000:])
        bodies = self.converse_bodies(since)
        self.assertEqual(len(bodies), 2, bodies)
        # The namespace's functions reached Bedrock as tools of their own, under flattened names,
        # with the namespace's description kept for the model.
        specs = {t["toolSpec"]["name"]: t["toolSpec"] for t in bodies[0]["toolConfig"]["tools"] if "toolSpec" in t}
        for name in ("close_agent", "resume_agent", "send_input", "spawn_agent", "wait_agent"):
            self.assertIn("multi_agent_v1__" + name, specs, sorted(specs))
        self.assertIn("Tools for spawning and managing sub-agents.", specs["multi_agent_v1__wait_agent"]["description"])
        self.assertIn("exec_command", specs)
        # Codex ran the call (it knows no such agent and says so) and the next turn carried the
        # call under the same flattened name, after its signed thinking, and Codex's output.
        second = bodies[1]["messages"]
        turn = [m for m in second if m["role"] == "assistant"][-1]
        self.assertIn("reasoningContent", turn["content"][0])
        use = turn["content"][-1]["toolUse"]
        self.assertEqual((use["name"], use["input"]), ("multi_agent_v1__wait_agent",
                                                       {"targets": ["signgate-no-such-agent"]}))
        result = second[-1]["content"][0]["toolResult"]
        self.assertEqual(result["toolUseId"], use["toolUseId"])
        said = json.dumps(result["content"])
        self.assertIn("signgate-no-such-agent", said)
        final = self.items(events, "agent_message")[-1]["text"]
        self.assertTrue(final.startswith("The tool said: "), final)
        self.assertIn("signgate-no-such-agent", final)

    def test_web_search_dropped(self):
        since = len(self.converse_bodies())
        start = len(self.gw.audit())
        rc, events, err = self.codex("Say hello")
        self.assertEqual(rc, 0, err[-2000:])
        bodies = self.converse_bodies(since)
        self.assertTrue(bodies)
        for body in bodies:
            tools = body["toolConfig"]["tools"]
            self.assertFalse([t for t in tools if "systemTool" in t], tools)  # Claude: no grounding
            names = [t["toolSpec"]["name"] for t in tools if "toolSpec" in t]
            self.assertFalse([n for n in names if "web_search" in n], names)
        lines = [l for l in self.gw.wait_audit_caught_up()[start:] if l["surface"] == "openai"]
        self.assertTrue(lines)
        for line in lines:
            self.assertEqual(line.get("dropped_tools"), ["web_search"], line)

    def test_every_call_audited(self):
        self.codex("Say hello")
        lines = [l for l in self.gw.wait_audit_caught_up() if l["surface"] == "openai"]
        self.assertTrue(lines)
        for line in lines:
            self.assertEqual((line["client"], line["status"], line["operation"]), ("codex", 200, "converse-stream"))


if __name__ == "__main__":
    unittest.main()
