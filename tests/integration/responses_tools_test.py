#!/usr/bin/python3
"""The tools coding agents and SDKs send on /v1/responses, and service tiers, through signgate
with `openai` v6 and the Vercel AI SDK as they are (tests/e2e/responses_tools.mjs), against the
emulator, which checks every Converse body as Bedrock does (tool names [a-zA-Z0-9_-]{1,64} and
unique, nova_grounding only on the Nova profiles that have it, serviceTier only where the model
has it):

  - namespace tools: their functions reach Bedrock as tools named {namespace}__{name} (or a name
    ending in _ and 8 hex digits when that is too long or taken), described with the namespace's
    description; the model's call comes back with name and namespace, plain and streamed; sent
    back as items or through previous_response_id it maps to the same Bedrock tool; tool_choice
    naming a namespaced function forces that tool;
  - hosted tools Bedrock cannot run: dropped (x-signgate-dropped-tools, audit dropped_tools), or
    refused with a 400 naming the tool under responses.hosted_tools: refuse; web_search on a Nova
    model with web grounding becomes the nova_grounding system tool and its citations
    url_citation annotations, plain and streamed;
  - service_tier priority and flex on /v1/responses and /v1/chat/completions: Converse's
    serviceTier, the answer's service_tier and the audit line's; a model without the tier is
    served in the default tier and the answer says so."""
import json
import os
import re
import subprocess
import unittest

from common import ROOT  # noqa: F401  (puts tests/fakes on the path)
import aws_fake
import converse_fake
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway

E2E = os.path.join(ROOT, "tests", "e2e")
SECRET = "sgk_tools_TEST_0123456789abcdefghijklmnopq"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
GROUNDED = "us.amazon.nova-2-lite-v1:0"
GROUNDED_PREMIER = "us.amazon.nova-premier-v1:0"
NOVA_PRO = "us.amazon.nova-pro-v1:0"
HASHED = re.compile(r"^[a-zA-Z0-9_-]{1,55}_[0-9a-f]{8}$")
CITED = "signgate signs every Bedrock call with SigV4."


class ResponsesTools(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        clients = [{"name": "agents", "secret": SECRET, "models": '["anthropic.*", "us.amazon.*"]'}]
        aliases = "models:\n  claude-haiku: %s\n" % HAIKU
        cls.gw = Gateway(url, clients, extra=aliases)
        cls.refusing = Gateway(url, clients, extra=aliases + "responses:\n  hosted_tools: refuse\n")
        env = dict(os.environ, SIGNGATE_URL=cls.gw.url, SIGNGATE_REFUSE_URL=cls.refusing.url,
                   SIGNGATE_SECRET=SECRET, NODE_NO_WARNINGS="1")
        for k in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
            env.pop(k, None)
        p = subprocess.run(["node", "responses_tools.mjs"], cwd=E2E, env=env, capture_output=True, timeout=300)
        cls.stderr = p.stderr.decode()
        cls.results = {}
        for line in p.stdout.decode().splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                continue
            cls.results[r["name"]] = r
        with cls.fake._lock:
            cls.converse = list(getattr(cls.fake, "converse_requests", []))
        cls.gw.stop()
        cls.refusing.stop()
        cls.audit = cls.gw.audit()
        cls.refusing_audit = cls.refusing.audit()
        cls.fake.shutdown()

    # -- helpers ---------------------------------------------------------------------------------

    def result(self, name):
        self.assertIn(name, self.results, self.stderr[-3000:])
        return self.results[name]

    def ok(self, name):
        r = self.result(name)
        self.assertTrue(r["ok"], r)
        return r

    def bodies(self, marker):
        """The Converse bodies (in order) whose first user text carries `marker`, e.g. "(ns-items)"."""
        out = []
        for entry in self.converse:
            first = entry["body"]["messages"][0]["content"]
            if any(marker in b.get("text", "") for b in first):
                out.append(entry["body"])
        return out

    def body(self, marker):
        bodies = self.bodies(marker)
        self.assertEqual(len(bodies), 1, (marker, bodies))
        return bodies[0]

    @staticmethod
    def specs(body):
        return [t["toolSpec"] for t in (body.get("toolConfig") or {}).get("tools", []) if "toolSpec" in t]

    def audit_of(self, request_id, lines=None):
        self.assertTrue(request_id)
        line = next((l for l in (self.audit if lines is None else lines) if l["request_id"] == request_id), None)
        self.assertIsNotNone(line, request_id)
        return line

    def tool_use_sent_back(self, body):
        """The toolUse of the assistant turn a body answers, and the toolResult answering it."""
        turn = [m for m in body["messages"] if m["role"] == "assistant"][-1]
        use = next(b["toolUse"] for b in turn["content"] if "toolUse" in b)
        result = next(b["toolResult"] for b in body["messages"][-1]["content"] if "toolResult" in b)
        return use, result

    # -- namespace tools -------------------------------------------------------------------------

    def test_namespace_flattened_for_bedrock(self):
        bodies = self.bodies("(ns-previous)")
        self.assertTrue(bodies, "no Converse request for (ns-previous)")
        first = bodies[0]
        specs = {s["name"]: s for s in self.specs(first)}
        self.assertEqual(sorted(specs), ["weather__get_alerts", "weather__get_forecast"])
        spec = specs["weather__get_forecast"]
        self.assertTrue(spec["description"].startswith("Weather tools for any city."), spec["description"])
        self.assertIn("Tomorrow's forecast for a city", spec["description"])
        self.assertEqual(spec["inputSchema"]["json"]["properties"], {"city": {"type": "string"}})

    def test_namespaced_call_and_previous_response_id(self):
        r = self.ok("ns.previous_response_id")
        self.assertEqual((r["call"]["name"], r["call"]["namespace"], r["call"]["args"]),
                         ("get_forecast", "weather", {"city": "Paris"}))
        self.assertEqual(r["answer"], "The tool said: 18C and sunny")
        bodies = self.bodies("(ns-previous)")
        self.assertEqual(len(bodies), 2)
        use, result = self.tool_use_sent_back(bodies[1])
        self.assertEqual(use["name"], "weather__get_forecast")
        self.assertEqual(use["input"], {"city": "Paris"})
        self.assertEqual(result["toolUseId"], use["toolUseId"])

    def test_namespaced_call_sent_back_as_items(self):
        r = self.ok("ns.items")
        self.assertEqual((r["call"]["name"], r["call"]["namespace"]), ("get_forecast", "weather"))
        self.assertEqual(r["answer"], "The tool said: 18C and sunny")
        bodies = self.bodies("(ns-items)")
        self.assertEqual(len(bodies), 2)
        use, _ = self.tool_use_sent_back(bodies[1])
        self.assertEqual(use["name"], "weather__get_forecast")

    def test_namespaced_call_streamed(self):
        r = self.ok("ns.stream")
        self.assertEqual(r["added"], [["get_forecast", "weather"]])
        self.assertEqual(r["done"], [["get_forecast", "weather"]])
        self.assertEqual((r["completed"]["name"], r["completed"]["namespace"]), ("get_forecast", "weather"))
        self.assertEqual(r["argDeltas"], {"city": "Paris"})

    def test_tool_choice_names_a_namespaced_function(self):
        # OpenAI's ToolChoiceFunction is {type, name} (openai@6.49.0's types; the AI SDK sends no
        # more): a name only one namespace has is that namespace's function.
        r = self.ok("ns.tool_choice")
        self.assertEqual((r["call"]["name"], r["call"]["namespace"]), ("get_alerts", "weather"))
        body = self.body("(ns-choice)")
        self.assertEqual(body["toolConfig"]["toolChoice"], {"tool": {"name": "weather__get_alerts"}})
        self.assertIn("get_time", [s["name"] for s in self.specs(body)])

    def test_tool_choice_names_a_namespaced_function_and_its_namespace(self):
        r = self.ok("ns.tool_choice.namespace")
        self.assertEqual((r["call"]["name"], r["call"]["namespace"]), ("get_alerts", "weather"))
        self.assertEqual(self.body("(ns-choice-ns)")["toolConfig"]["toolChoice"], {"tool": {"name": "weather__get_alerts"}})

    def test_over_long_flattened_name(self):
        r = self.ok("ns.long")
        self.assertEqual((r["call"]["name"], r["call"]["namespace"]),
                         ("lookup_customer_by_email_address", "customer_relationship_management_tools_v2"))
        self.assertEqual(r["answer"], "The tool said: Ada")
        bodies = self.bodies("(ns-long)")
        self.assertEqual(len(bodies), 2)
        (spec,) = self.specs(bodies[0])
        self.assertRegex(spec["name"], HASHED)
        self.assertLessEqual(len(spec["name"]), 64)
        use, _ = self.tool_use_sent_back(bodies[1])
        self.assertEqual(use["name"], spec["name"])

    def test_colliding_flattened_name(self):
        r = self.ok("ns.collision")
        specs = self.specs(self.body("(ns-collision)"))
        names = [s["name"] for s in specs]
        self.assertEqual(len(set(names)), 2, names)  # the emulator refuses duplicates, as Bedrock does
        self.assertIn("crm__lookup", names)
        hashed = [n for n in names if n != "crm__lookup"]
        self.assertRegex(hashed[0], HASHED)
        # The model called the first tool Bedrock was offered: it comes back as the function the
        # caller defined under that name.
        first = specs[0]
        if "Find a customer" in first["description"]:
            self.assertEqual((r["call"]["name"], r["call"]["namespace"]), ("lookup", "crm"))
        else:
            self.assertEqual((r["call"]["name"], r["call"]["namespace"]), ("crm__lookup", None))
        self.assertEqual((r["forced"]["name"], r["forced"]["namespace"]), ("crm__lookup", None))
        forced = self.body("(ns-collision-forced)")
        chosen = forced["toolConfig"]["toolChoice"]["tool"]["name"]
        spec = next(s for s in self.specs(forced) if s["name"] == chosen)
        self.assertIn("Another lookup", spec["description"])

    def test_ai_sdk_namespace(self):
        r = self.ok("ai.namespace")
        self.assertEqual(r["calls"], [["get_forecast", {"city": "Paris"}, "weather"]])
        self.assertEqual(r["ran"], ["Paris"])
        self.assertEqual(r["text"], "The tool said: 18C in Paris")
        bodies = self.bodies("(ai-ns)")
        self.assertEqual(len(bodies), 2)
        self.assertEqual([s["name"] for s in self.specs(bodies[0])], ["weather__get_forecast"])
        use, _ = self.tool_use_sent_back(bodies[1])
        self.assertEqual(use["name"], "weather__get_forecast")
        s = self.ok("ai.namespace.stream")
        self.assertEqual(s["calls"], [["get_forecast", "weather"]])
        self.assertEqual((s["ran"], s["text"]), (["Paris"], "The tool said: 18C in Paris"))
        c = self.ok("ai.namespace.tool_choice")
        self.assertEqual(c["calls"], [["get_forecast", "weather"]])
        self.assertEqual(self.body("(ai-ns-choice)")["toolConfig"]["toolChoice"],
                         {"tool": {"name": "weather__get_forecast"}})

    # -- hosted tools ----------------------------------------------------------------------------

    @staticmethod
    def header_list(value):
        return sorted(x.strip() for x in (value or "").split(",") if x.strip())

    def test_hosted_tools_dropped(self):
        r = self.ok("hosted.drop")
        dropped = ["code_interpreter", "file_search", "image_generation", "mcp", "web_search"]
        self.assertEqual(self.header_list(r["dropped"]), dropped)
        self.assertEqual((r["call"]["name"], r["status"]), ("get_weather", "completed"))
        body = self.body("(hosted-drop)")
        self.assertEqual([s["name"] for s in self.specs(body)], ["get_weather"])
        self.assertEqual(sorted(self.audit_of(r["requestId"])["dropped_tools"]), dropped)

    def test_hosted_tools_dropped_streamed_and_alone(self):
        r = self.ok("hosted.drop.stream")
        self.assertEqual((r["dropped"], r["text"]), ("web_search", "Hello from " + HAIKU))
        self.assertEqual(self.audit_of(r["requestId"])["dropped_tools"], ["web_search"])
        self.assertNotIn("toolConfig", self.body("(hosted-drop-stream)"))
        r = self.ok("hosted.drop.web_search_only")
        self.assertEqual((r["dropped"], r["text"]), ("web_search", "Hello from " + HAIKU))
        self.assertNotIn("toolConfig", self.body("(hosted-only)"))

    def test_no_header_when_nothing_dropped(self):
        r = self.ok("ns.previous_response_id")
        self.assertIsNone(r["dropped"])
        self.assertNotIn("dropped_tools", self.audit_of(r["requestId"]))

    def test_hosted_tools_refused_when_configured(self):
        for name, tool in (("hosted.refuse", "web_search"), ("hosted.refuse.image_generation", "image_generation")):
            r = self.result(name)
            self.assertFalse(r["ok"], r)
            self.assertEqual((r["status"], r["type"]), (400, "invalid_request_error"), r)
            self.assertIn(tool, r["message"])
            self.assertTrue(r["param"] is None or r["param"].startswith("tools["), r)
        self.assertFalse(self.bodies("(hosted-refuse)"))  # never reached Bedrock
        # web_search where Bedrock has an equivalent is not refused.
        r = self.ok("hosted.refuse.grounded")
        self.assert_cited(r)

    # -- web grounding ---------------------------------------------------------------------------

    def assert_cited(self, r):
        """One url_citation, its indexes into the output_text part that carries it, covering the
        cited sentence (a leading space may be in or out of it)."""
        text = r["text"]
        self.assertTrue(text.startswith("Here is what I found."), text)
        self.assertIn(CITED, text)
        self.assertEqual(len(r["annotations"]), 1, r["annotations"])
        part = next(p for p in r["parts"] if p["annotations"])
        a = part["annotations"][0]
        self.assertEqual((a["type"], a["url"], a["title"]),
                         ("url_citation", converse_fake.CITED_URL, "signgate and SigV4"))
        self.assertEqual(part["text"][a["start_index"]:a["end_index"]].strip(), CITED, (a, part))

    def test_web_search_on_nova_becomes_grounding(self):
        r = self.ok("grounding.create")
        self.assertIsNone(r["dropped"])
        self.assert_cited(r)
        self.assertEqual(r["output_text"], r["text"])
        body = self.body("(grounding-create)")
        self.assertEqual(body["toolConfig"]["tools"], [{"systemTool": {"name": "nova_grounding"}}])
        self.assertNotIn("dropped_tools", self.audit_of(r["requestId"]))

    def test_web_search_on_nova_streamed(self):
        r = self.ok("grounding.stream")
        self.assertIsNone(r["dropped"])
        self.assertEqual(r["deltas"], r["text"])
        self.assert_cited(r)
        self.assertEqual(r["added"], r["annotations"])  # response.output_text.annotation.added
        self.assertEqual(self.body("(grounding-stream)")["toolConfig"]["tools"],
                         [{"systemTool": {"name": "nova_grounding"}}])
        helper = self.ok("grounding.stream-helper")  # the SDK's strict accumulator
        self.assert_cited(helper)

    def test_web_search_on_nova_without_grounding_is_dropped(self):
        r = self.ok("grounding.not-nova-grounding")
        self.assertEqual(r["dropped"], "web_search")
        self.assertEqual(r["annotations"], [])
        self.assertNotIn("toolConfig", self.body("(grounding-nova-pro)"))

    def test_ai_sdk_sources(self):
        for name, key in (("ai.web_search", "text"), ("ai.web_search.stream", "streamed")):
            r = self.ok(name)
            self.assertIn(CITED, r[key])
            self.assertEqual(r["sources"], [["url", converse_fake.CITED_URL, "signgate and SigV4"]])

    # -- service tiers ---------------------------------------------------------------------------

    def test_service_tier_responses(self):
        r = self.ok("tier.responses.priority")
        self.assertEqual(r["tier"], "priority")
        self.assertEqual(self.body("(tier-priority)")["serviceTier"], {"type": "priority"})
        self.assertEqual(self.audit_of(r["requestId"])["service_tier"], "priority")
        r = self.ok("tier.responses.flex.stream")
        self.assertEqual(r["tier"], "flex")
        self.assertEqual(self.body("(tier-flex-stream)")["serviceTier"], {"type": "flex"})
        self.assertEqual(self.audit_of(r["requestId"])["service_tier"], "flex")

    def test_service_tier_auto_is_the_default(self):
        r = self.ok("tier.responses.auto")
        self.assertEqual(r["tier"], "default")
        self.assertNotIn("serviceTier", self.body("(tier-auto)"))

    def test_service_tier_chat_completions(self):
        r = self.ok("tier.chat.priority")
        self.assertEqual(r["tier"], "priority")
        self.assertEqual(self.body("(tier-chat-priority)")["serviceTier"], {"type": "priority"})
        self.assertEqual(self.audit_of(r["requestId"])["service_tier"], "priority")
        r = self.ok("tier.chat.flex.stream")
        self.assertEqual((r["tiers"], r["streamed"]), (["flex"], "Hello from " + NOVA_PRO))
        self.assertEqual(self.body("(tier-chat-flex-stream)")["serviceTier"], {"type": "flex"})
        self.assertEqual(self.audit_of(r["requestId"])["service_tier"], "flex")

    def assert_served_in_default(self, name, marker):
        # Claude models have only the default tier: Bedrock refuses flex for them (the emulator
        # too), so signgate asks for none and the answer says the default tier served.
        r = self.ok(name)
        self.assertEqual((r["tier"], r["text"]), ("default", "Hello from " + HAIKU))
        self.assertIn(self.body(marker).get("serviceTier"), (None, {"type": "default"}))
        self.assertEqual(self.audit_of(r["requestId"])["service_tier"], "default")

    def test_service_tier_a_model_lacks_is_served_in_default(self):
        self.assert_served_in_default("tier.responses.claude-flex", "(tier-claude-flex)")

    def test_service_tier_a_model_lacks_is_served_in_default_chat(self):
        self.assert_served_in_default("tier.chat.claude-flex", "(tier-chat-claude-flex)")

    def test_every_call_signed_and_audited(self):
        lines = [l for l in self.audit + self.refusing_audit if l["surface"] == "openai"]
        self.assertGreater(len(lines), 25)
        for line in lines:
            self.assertIn(line["status"], (200, 400), line)
        self.assertNotIn(SECRET, json.dumps(self.audit))




class ApplicationProfiles(unittest.TestCase):
    """An application inference profile's ARN says nothing of its model: with the alias's
    `family`, thinking and structured output are chosen as for that family (the emulator, like
    Bedrock, answers for the ARN as its model would); without it, as for an unknown model."""
    ARN = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/sg0sonnet45"
    BARE = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/sg0unnamed"  # no family

    @classmethod
    def setUpClass(cls):
        cls.fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        clients = [{"name": "team", "secret": SECRET,
                    "models": '["arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/*"]'}]
        cls.gw = Gateway(url, clients, extra="models:\n  team-sonnet: {id: \"%s\", family: anthropic.claude-sonnet-4-5}\n"
                         "  bare-arn: \"%s\"\n" % (cls.ARN, cls.BARE))

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.fake.shutdown()

    def post(self, path, body):
        from urllib.request import Request, urlopen
        req = Request(self.gw.url + path, json.dumps(body).encode(), method="POST",
                      headers={"Authorization": "Bearer " + SECRET, "Content-Type": "application/json"})
        with urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def last_converse(self):
        with self.fake._lock:
            return self.fake.converse_requests[-1]

    def test_thinking_and_structured_output_as_the_family(self):
        r = self.post("/v1/responses", {"model": "team-sonnet", "input": "Hi", "reasoning": {"effort": "low"}})
        self.assertEqual(r["status"], "completed")
        self.assertEqual([i["type"] for i in r["output"]][:1], ["reasoning"])
        sent = self.last_converse()
        self.assertEqual(sent["model"], self.ARN)  # the call still goes to the profile
        self.assertEqual(sent["body"]["additionalModelRequestFields"]["thinking"]["type"], "enabled")
        schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                  "additionalProperties": False}
        self.post("/v1/chat/completions", {"model": "team-sonnet", "messages": [{"role": "user", "content": "x"}],
                                           "response_format": {"type": "json_schema", "json_schema": {
                                               "name": "c", "schema": schema, "strict": True}}})
        # Claude 4.5's native structured output, not a forced tool.
        self.assertIn("outputConfig", self.last_converse()["body"])
        self.assertNotIn("toolConfig", self.last_converse()["body"])

    def test_without_a_family_the_arn_is_an_unknown_model(self):
        self.post("/v1/responses", {"model": "bare-arn", "input": "Hi", "reasoning": {"effort": "low"}})
        self.assertNotIn("additionalModelRequestFields", self.last_converse()["body"])

if __name__ == "__main__":
    unittest.main()
