#!/usr/bin/python3
"""The OpenAI surface as its clients use it, unchanged: the Responses API through `openai` v6
(create, stream, a tool loop by previous_response_id and by items, reasoning sent back in
encrypted_content, structured output), the Vercel AI SDK's default OpenAI provider, the OpenAI
Agents SDK and LangChain's ChatOpenAI; and chat completions' structured output, reasoning and
prompt caching. Behind signgate, the emulator verifies every
signature with botocore and checks every Converse body as Bedrock does."""
import json
import os
import subprocess
import unittest
from urllib.request import urlopen

from common import ROOT  # noqa: F401  (puts tests/fakes on the path)
import aws_fake
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway

E2E = os.path.join(ROOT, "tests", "e2e")
SECRET = "sgk_responses_TEST_0123456789abcdefghijkl"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


class ResponsesClients(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        cls.gw = Gateway(url, [{"name": "flashback", "secret": SECRET, "models": '["anthropic.*", "us.anthropic.*"]'}],
                         extra="models:\n  claude-haiku: %s\n  claude-sonnet: %s\n" % (HAIKU, SONNET))
        env = dict(os.environ, SIGNGATE_URL=cls.gw.url, SIGNGATE_SECRET=SECRET, NODE_NO_WARNINGS="1")
        for k in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
            env.pop(k, None)
        p = subprocess.run(["node", "openai_clients.mjs"], cwd=E2E, env=env, capture_output=True, timeout=180)
        cls.stderr = p.stderr.decode()
        cls.fake_stats = json.loads(urlopen(url + "/_fake/stats").read())
        cls.results = {r["name"]: r for r in map(json.loads, p.stdout.decode().splitlines())}
        cls.gw.stop()
        cls.audit = cls.gw.audit()
        cls.fake.shutdown()

    def result(self, name):
        self.assertIn(name, self.results, self.stderr)
        r = self.results[name]
        return r

    def ok(self, name):
        r = self.result(name)
        self.assertTrue(r["ok"], r)
        return r

    def test_create(self):
        r = self.ok("responses.create")
        self.assertTrue(r["id"].startswith("resp_"))
        self.assertEqual((r["status"], r["text"], r["model"]), ("completed", "Hello from " + HAIKU, "claude-haiku"))
        self.assertEqual(r["output_text"], "Hello from " + HAIKU)  # the SDK's own convenience, from our items
        self.assertEqual(r["usage"]["input_tokens"], 12)
        self.assertEqual(r["usage"]["output_tokens"], 5)
        self.assertEqual(r["usage"]["input_tokens_details"]["cached_tokens"], 0)

    def test_stream_events_in_order(self):
        r = self.ok("responses.stream")
        self.assertEqual(r["types"][:2], ["response.created", "response.in_progress"])
        self.assertEqual(r["types"][-1], "response.completed")
        for t in ("response.output_item.added", "response.content_part.added", "response.output_text.delta",
                  "response.output_text.done", "response.content_part.done", "response.output_item.done"):
            self.assertIn(t, r["types"])
        self.assertEqual(r["deltas"], "Hello from " + HAIKU)
        self.assertEqual(r["text"], "Hello from " + HAIKU)
        self.assertEqual(r["usage"]["total_tokens"], 17)
        helper = self.ok("responses.stream-helper")  # the SDK's strict event accumulator
        self.assertEqual((helper["deltas"], helper["status"]), ("Hello from " + HAIKU, "completed"))

    def test_tool_loop_through_previous_response_id(self):
        r = self.ok("responses.tools.previous_response_id")
        self.assertEqual((r["tool"], r["args"]), ("get_weather", {"city": "Paris"}))
        self.assertEqual(r["answer"], "The tool said: 18C and sunny")
        self.assertTrue(r["previous"].startswith("resp_"))

    def test_tool_loop_through_items_streamed(self):
        r = self.ok("responses.tools.stream-items")
        self.assertEqual(r["args"], {"city": "Paris"})
        self.assertGreaterEqual(r["argDeltas"], 2)
        self.assertEqual(r["answer"], "The tool said: 18C and sunny")

    def test_reasoning_goes_back_signed(self):
        # The emulator refuses a tool result whose assistant turn lacks its signed thinking.
        r = self.ok("responses.reasoning")
        self.assertEqual(r["summary"], "Thinking about the question.")
        self.assertEqual(r["sealed"], "string")
        self.assertEqual(r["answer"], "The tool said: 18C")
        self.assertEqual(r["kinds"], ["reasoning", "message"])

    def test_structured_output_native_and_through_a_tool(self):
        r = self.ok("responses.json_schema")
        self.assertEqual(r["native"], {"city": "Paris", "population": 42})
        self.assertEqual(r["viaTool"], {"city": "Paris", "population": 42})

    def test_refusals_name_the_field(self):
        r = self.result("responses.unknown-previous")
        self.assertEqual((r["ok"], r["status"], r["param"]), (False, 400, "previous_response_id"))
        r = self.result("responses.background")
        self.assertEqual((r["ok"], r["status"], r["param"]), (False, 400, "background"))
        r = self.ok("responses.web_search")
        self.assertEqual((r["text"], r["dropped"]), ("Hello from " + HAIKU, "web_search"))

    def test_ai_sdk(self):
        self.assertEqual(self.ok("ai.generateText")["text"], "Hello from " + HAIKU)
        self.assertEqual(self.ok("ai.streamText")["streamed"], "Hello from " + HAIKU)
        tools = self.ok("ai.tools")
        self.assertEqual(tools["calls"], [["get_weather", {"city": "Paris"}]])
        self.assertEqual(tools["text"], "The tool said: 18C in Paris")
        self.assertEqual(self.ok("ai.generateObject")["object"], {"city": "Paris", "population": 42})

    def test_agents_sdk(self):
        self.assertEqual(self.ok("agents.run")["output"], "The tool said: 18C in Paris")
        r = self.ok("agents.stream")
        self.assertEqual((r["streamed"], r["output"]), ("Hello from " + HAIKU, "Hello from " + HAIKU))

    def test_langchain(self):
        self.assertEqual(self.ok("langchain.responses")["text"], "Hello from " + HAIKU)

    def test_chat_structured_output(self):
        r = self.ok("chat.json_schema")
        self.assertEqual(r["native"], {"city": "Paris", "population": 42})
        self.assertEqual(r["viaTool"], {"city": "Paris", "population": 42})
        self.assertEqual((r["finish"], r["toolCalls"]), ("stop", None))  # the forced tool is not shown
        s = self.ok("chat.json_schema.stream")
        self.assertEqual((s["object"], s["finish"]), ({"city": "Paris", "population": 42}, "stop"))
        self.assertEqual(self.ok("ai.chat.generateObject")["object"], {"city": "Paris", "population": 42})

    def test_chat_reasoning(self):
        r = self.ok("chat.reasoning")
        self.assertEqual(r["reasoning"], "Thinking about the question.")
        self.assertEqual(r["content"], "Hello from " + SONNET)
        self.assertEqual(r["streamedReasoning"], "Thinking about the question.")
        self.assertEqual(r["streamedContent"], "Hello from " + SONNET)

    def test_chat_prompt_caching_and_user(self):
        r = self.ok("chat.cache")
        # The first call writes the cached prefix, the second reads it; OpenAI counts it in prompt_tokens.
        self.assertEqual(r["first"]["cache_creation_input_tokens"], 1024)
        self.assertEqual(r["first"]["prompt_tokens_details"]["cached_tokens"], 0)
        self.assertEqual(r["second"]["prompt_tokens_details"]["cached_tokens"], 1024)
        self.assertEqual(r["second"]["prompt_tokens"], 12 + 1024)
        users = [l["user"] for l in self.audit if l.get("user")]
        self.assertEqual(users.count("end-user-42"), 2)

    def test_every_call_audited_and_signed(self):
        lines = [l for l in self.audit if l["surface"] == "openai"]
        self.assertGreater(len(lines), 15)
        for line in lines:
            self.assertIn(line["status"], (200, 400), line)
        # Every call that reached Bedrock was signed as botocore checks it: none was rejected.
        upstream = [l for l in lines if l["upstream_status"] is not None]
        self.assertEqual(self.fake_stats["counts"].get("bedrock"), len(upstream))
        self.assertNotIn("rejected", self.fake_stats["counts"])
        self.assertNotIn(SECRET, json.dumps(self.audit))


if __name__ == "__main__":
    unittest.main()
