#!/usr/bin/python3
"""OpenAI's own models on Bedrock: `models:` entries with `api: openai` are served by Bedrock
Mantle's OpenAI-compatible API (bedrock-mantle.{region}.api.aws/openai/v1), the request passed on
as OpenAI's, signed with SigV4 for the service `bedrock-mantle` with the STS credentials of the
assumed role. Behind signgate: aws_fake.py (STS) and mantle_fake.py (Mantle), which verifies every
signature with botocore against the credentials that STS issued, refuses what Mantle refuses (an
unknown model, GPT-5.x on chat completions) and what signgate must never send
(previous_response_id, item_reference, store other than false), and checks that reasoning comes
back verbatim before its function call.

In front: the `openai` v6 client (tests/e2e/openai_upstream.mjs): chat completions for gpt-oss
whole and streamed (the usage chunk only when asked), Responses for GPT-5.5 whole and streamed, a
function tool round trip through previous_response_id (Mantle receives the earlier items in
`input`), through items and through item_reference; another client cannot continue the first
client's response; a model outside the allowlist is 403 before Mantle sees anything; Mantle's 429
is the caller's 429 in OpenAI's shape; the model field is the caller's name in every answer and
event; the audit line has Mantle's token counts. And the Codex CLI (`codex exec`) with
`model = "gpt-5"` aliased to openai.gpt-5.5: a prompt and an exec_command round trip."""
import json
import os
import re
import subprocess
import unittest
from urllib.request import urlopen  # noqa: F401

from common import ROOT  # noqa: F401  (puts tests/fakes on the path)
import aws_fake
import mantle_fake
import codex_cli
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway

E2E = os.path.join(ROOT, "tests", "e2e")
SECRET = "sgk_mantle_TEST_0123456789abcdefghijklmno"
OTHER_SECRET = "sgk_mantle_OTHER_0123456789abcdefghijklm"
CODEX_SECRET = "sgk_mantle_CODEX_0123456789abcdefghijklm"
GPT55 = "openai.gpt-5.5"
OSS = "openai.gpt-oss-120b-1:0"
MODELS = ("models:\n"
          "  gpt-5.5: {id: openai.gpt-5.5, api: openai}\n"
          "  gpt-5: {id: openai.gpt-5.5, api: openai, endpoint: mantle}\n"
          "  gpt-oss: {id: openai.gpt-oss-120b-1:0, api: openai}\n"
          "  gpt-9: {id: openai.gpt-9, api: openai}\n"
          "  kimi: {id: moonshotai.kimi-k2.5, api: openai}\n")


def start_stack(clients, models=MODELS):
    # signgate refuses an alias no client may call: one that may call kimi, never used.
    clients = clients + [{"name": "kimi-only", "secret": "sgk_mantle_KIMI_0123456789abcdefghijklmn",
                          "models": '["moonshotai.*"]'}]
    fake, fake_url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
    mantle, mantle_url = mantle_fake.start(fake, region="us-east-1")
    gw = Gateway(fake_url, clients, extra=models, aws_extra="  mantle_endpoint: %s\n" % mantle_url)
    return fake, mantle, mantle_url, gw


class OpenAIClient(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake, cls.mantle, cls.mantle_url, cls.gw = start_stack([
            {"name": "flashback", "secret": SECRET, "models": '["openai.gpt-*"]'},
            {"name": "other", "secret": OTHER_SECRET, "models": '["openai.gpt-*"]'}])
        env = dict(os.environ, SIGNGATE_URL=cls.gw.url, SIGNGATE_SECRET=SECRET, SIGNGATE_OTHER_SECRET=OTHER_SECRET,
                   MANTLE_URL=cls.mantle_url, NODE_NO_WARNINGS="1")
        for k in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
            env.pop(k, None)
        p = subprocess.run(["node", "openai_upstream.mjs"], cwd=E2E, env=env, capture_output=True, timeout=180)
        cls.stderr = p.stderr.decode()
        cls.results = {r["name"]: r for r in map(json.loads, p.stdout.decode().splitlines())}
        cls.audit = cls.gw.wait_audit_caught_up()
        cls.logs = cls.gw.logs()
        cls.gw.stop()
        cls.fake.shutdown()
        cls.mantle.shutdown()

    def result(self, name):
        self.assertIn(name, self.results, self.stderr[-3000:])
        return self.results[name]

    def ok(self, name):
        r = self.result(name)
        self.assertTrue(r["ok"], r)
        return r

    def refused(self, name):
        r = self.result(name)
        self.assertFalse(r["ok"], r)
        return r

    def sent(self, path_end, model=None):
        """What Mantle received on this path (for this Bedrock model), in order."""
        return [r for r in self.mantle.requests_to(path_end) if model is None or r["model"] == model]

    def audit_of(self, request_id):
        return next((l for l in self.audit if l["request_id"] == request_id), None)

    # -- every call --------------------------------------------------------------------------

    def test_every_call_signed_for_bedrock_mantle_with_the_assumed_role(self):
        self.assertEqual(self.mantle.rejected, [])
        requests = self.mantle.requests_to()
        self.assertGreater(len(requests), 15)
        for r in requests:
            self.assertEqual((r["service"], r["region"], r["session_token"], r["method"], r["content_type"]),
                             ("bedrock-mantle", "us-east-1", True, "POST", "application/json"), r)
            self.assertIn(r["access_key"], self.fake.issued, r)  # issued by the emulated STS (AssumeRole)
            self.assertIn(r["path"], ("/openai/v1/chat/completions", "/openai/v1/responses"))
        self.assertGreaterEqual(self.fake.counts.get("issued_AssumeRole", 0), 1, self.fake.counts)

    def test_no_responses_call_continues_on_mantle(self):
        for r in self.sent("/responses"):
            body = r["body"]
            self.assertNotIn("previous_response_id", body)
            self.assertIs(body["store"], False)
            self.assertIn("reasoning.encrypted_content", body["include"])
            self.assertFalse([i for i in body["input"] if i.get("type") == "item_reference"], body)

    # -- chat completions --------------------------------------------------------------------

    def test_chat(self):
        r = self.ok("chat.create")
        self.assertEqual((r["model"], r["text"], r["finish"]), ("gpt-oss", "Hello from " + OSS, "stop"))
        self.assertEqual(r["usage"]["completion_tokens"], 5)
        line = self.audit_of(r["request_id"])
        self.assertIsNotNone(line, r)
        self.assertEqual((line["client"], line["status"], line["operation"], line["surface"]),
                         ("flashback", 200, "converse", "openai"), line)
        self.assertEqual((line["input_tokens"], line["output_tokens"]),
                         (r["usage"]["prompt_tokens"], r["usage"]["completion_tokens"]), line)
        self.assertEqual(self.sent("/chat/completions", OSS)[0]["body"]["model"], OSS)

    def test_chat_stream_without_usage(self):
        r = self.ok("chat.stream")
        self.assertEqual((r["models"], r["text"], r["finish"]), (["gpt-oss"], "Hello from " + OSS, ["stop"]))
        self.assertEqual(r["usage_chunks"], [], "the caller did not ask for the usage chunk")
        # signgate asked Mantle for usage all the same, and audited it.
        streamed = [x for x in self.sent("/chat/completions", OSS) if x["body"].get("stream")]
        self.assertTrue(streamed)
        for x in streamed:
            self.assertIs(x["body"]["stream_options"]["include_usage"], True)
        line = self.audit_of(r["request_id"])
        self.assertIsNotNone(line, r)
        self.assertEqual(line["operation"], "converse-stream")
        self.assertEqual(line["output_tokens"], 5, line)
        self.assertGreater(line["input_tokens"], 0, line)

    def test_chat_stream_with_usage(self):
        r = self.ok("chat.stream.usage")
        self.assertEqual((r["models"], r["text"]), (["gpt-oss"], "Hello from " + OSS))
        self.assertEqual(len(r["usage_chunks"]), 1, r)
        chunk = r["usage_chunks"][0]
        self.assertEqual(chunk["choices"], 0)
        self.assertEqual(chunk["usage"]["completion_tokens"], 5)
        line = self.audit_of(r["request_id"])
        self.assertEqual((line["input_tokens"], line["output_tokens"]),
                         (chunk["usage"]["prompt_tokens"], chunk["usage"]["completion_tokens"]), line)

    def test_chat_tool_round_trip(self):
        r = self.ok("chat.tools")
        self.assertEqual((r["tool"], r["args"], r["finish"]), ("get_weather", {"city": "Paris"}, "tool_calls"))
        self.assertEqual(r["answer"], "The tool said: 18C and sunny")
        self.assertEqual(r["models"], ["gpt-oss", "gpt-oss"])

    def test_gpt5_on_chat_refused_by_mantle(self):
        r = self.refused("chat.gpt5-refused-by-mantle")
        self.assertEqual((r["status"], r["type"], r["param"]), (400, "invalid_request_error", "model"), r)
        self.assertIn("Responses API", r["message"])

    # -- responses ---------------------------------------------------------------------------

    def test_responses_create(self):
        r = self.ok("responses.create")
        self.assertTrue(r["id"].startswith("resp_"))
        self.assertEqual((r["status"], r["text"], r["output_text"], r["model"]),
                         ("completed", "Hello from " + GPT55, "Hello from " + GPT55, "gpt-5.5"))
        self.assertEqual(r["types"], ["reasoning", "message"])
        line = self.audit_of(r["request_id"])
        self.assertIsNotNone(line, r)
        self.assertEqual((line["operation"], line["status"]), ("converse", 200))
        self.assertEqual((line["input_tokens"], line["output_tokens"]),
                         (r["usage"]["input_tokens"], r["usage"]["output_tokens"]), line)
        body = [x for x in self.sent("/responses", GPT55) if x["body"].get("instructions") == "Be brief."][0]["body"]
        self.assertEqual(body["input"], [{"type": "message", "role": "user", "content": "Hi"}])

    def test_responses_stream(self):
        r = self.ok("responses.stream")
        self.assertEqual(r["types"][:2], ["response.created", "response.in_progress"])
        self.assertEqual(r["types"][-1], "response.completed")
        for t in ("response.output_item.added", "response.content_part.added", "response.output_text.delta",
                  "response.output_text.done", "response.content_part.done", "response.output_item.done"):
            self.assertIn(t, r["types"])
        self.assertEqual(r["seqs"], list(range(len(r["types"]))))
        self.assertEqual(set(r["models"]), {"gpt-5.5"})
        self.assertEqual((r["deltas"], r["text"], r["status"]), ("Hello from " + GPT55,) * 2 + ("completed",))
        line = self.audit_of(r["request_id"])
        self.assertIsNotNone(line, r)
        self.assertEqual(line["operation"], "converse-stream")
        self.assertEqual((line["input_tokens"], line["output_tokens"]),
                         (r["usage"]["input_tokens"], r["usage"]["output_tokens"]), line)
        helper = self.ok("responses.stream-helper")
        self.assertEqual((helper["deltas"], helper["status"], helper["model"]),
                         ("Hello from " + GPT55, "completed", "gpt-5.5"))

    def test_tool_round_trip_through_previous_response_id(self):
        r = self.ok("responses.tools.previous_response_id")
        self.assertEqual((r["tool"], r["args"]), ("get_weather", {"city": "Paris"}))
        self.assertEqual(r["first_types"], ["reasoning", "function_call"])
        self.assertEqual(r["answer"], "The tool said: 18C and sunny")
        self.assertEqual(r["models"], ["gpt-5.5", "gpt-5.5"])
        # Mantle got the whole conversation in input: the question, the first turn's reasoning
        # (its encrypted_content verbatim, or the emulator would have refused it), the call and
        # its output; no previous_response_id, store false.
        second = [x["body"] for x in self.sent("/responses", GPT55)
                  if any(i.get("call_id") == r["call_id"] and i.get("type") == "function_call_output"
                         for i in x["body"]["input"])]
        self.assertEqual(len(second), 1)
        body = second[0]
        self.assertEqual([i.get("type") for i in body["input"]],
                         ["message", "reasoning", "function_call", "function_call_output"], body["input"])
        self.assertEqual(body["input"][0]["content"], "signgate-tool: weather in Paris?")
        self.assertTrue(body["input"][1]["encrypted_content"])
        self.assertNotIn("previous_response_id", body)
        self.assertIs(body["store"], False)

    def test_answer_says_what_the_caller_asked(self):
        # Mantle saw neither previous_response_id nor the caller's store: the Response object the
        # caller reads says what it asked for, as OpenAI's does (store defaults to true).
        r = self.ok("responses.tools.previous_response_id")
        self.assertEqual(r["previous"], r["first"])
        r = self.ok("responses.create")
        self.assertEqual((r["store"], r["previous_response_id"]), (True, None))

    def test_store_false_is_not_kept(self):
        r = self.refused("responses.store-false-not-kept")
        self.assertEqual((r["status"], r["param"]), (400, "previous_response_id"), r)

    def test_three_turns(self):
        r = self.ok("responses.three-turns")
        self.assertEqual(r["answer"], "Hello from " + GPT55)
        body = [x["body"] for x in self.sent("/responses", GPT55)
                if any(i.get("content") == "Once more?" for i in x["body"]["input"])][0]
        said = [(i.get("type"), i.get("role")) for i in body["input"]]
        self.assertEqual(said, [("message", "user"), ("reasoning", None), ("message", "assistant"),
                                ("message", "user"), ("reasoning", None), ("message", "assistant"),
                                ("message", "user")], body["input"])

    def test_tool_round_trip_through_items_streamed(self):
        r = self.ok("responses.tools.stream-items")
        self.assertEqual((r["args"], r["answer"], r["encrypted"]), ({"city": "Paris"}, "The tool said: 18C and sunny",
                                                                    True))
        self.assertEqual(r["argDeltas"], 2)
        self.assertEqual(set(r["models"]), {"gpt-5.5"})

    def test_stream_then_previous_response_id(self):
        r = self.ok("responses.stream-then-previous_response_id")
        self.assertEqual((r["answer"], r["model"]), ("The tool said: 19C", "gpt-5.5"))

    def test_item_reference(self):
        r = self.ok("responses.item_reference")
        self.assertEqual(r["answer"], "The tool said: 21C")
        body = [x["body"] for x in self.sent("/responses", GPT55)
                if any(i.get("output") == "21C" for i in x["body"]["input"])][0]
        self.assertEqual([i.get("type", "message") for i in body["input"]],
                         ["message", "reasoning", "function_call", "function_call_output"])
        self.assertEqual([i["id"] for i in body["input"][1:3]], r["references"])

    def test_another_client_cannot_continue(self):
        r = self.refused("responses.other-client-cannot-continue")
        self.assertEqual((r["status"], r["param"]), (400, "previous_response_id"), r)
        self.assertIn("previous_response_id", r["message"] + str(r["param"]))

    def test_model_outside_the_allowlist(self):
        for name in ("responses.not-allowed", "chat.not-allowed"):
            r = self.refused(name)
            self.assertEqual(r["status"], 403, r)
        self.assertEqual(self.sent("", "moonshotai.kimi-k2.5"), [], "nothing reached Mantle")

    def test_unknown_model_at_mantle(self):
        r = self.refused("responses.unknown-model")
        self.assertEqual((r["status"], r["code"]), (404, "model_not_found"), r)
        self.assertIn("openai.gpt-9", r["message"])

    def test_background_refused(self):
        r = self.refused("responses.background-refused")
        self.assertEqual((r["status"], r["param"]), (400, "background"), r)

    def test_mantle_throttling(self):
        for name in ("responses.throttled", "chat.throttled", "responses.stream.throttled"):
            r = self.refused(name)
            self.assertEqual((r["status"], r["type"]), (429, "rate_limit_error"), r)
        throttled = [l for l in self.audit if l["status"] == 429]
        self.assertEqual(len(throttled), 3, [(l["status"], l.get("error")) for l in self.audit])
        # Three 429s each (a first try, signgate's two retries), then one retried away.
        self.assertEqual(self.mantle.counts.get("throttled"), 10)
        self.assertEqual(self.ok("responses.throttled-once")["text"], "Hello from " + GPT55)


def http(url, path, secret, body):
    """A POST to signgate: (status, headers, text)."""
    from urllib.error import HTTPError
    from urllib.request import Request
    request = Request(url + path, json.dumps(body).encode(),
                      {"Authorization": "Bearer " + secret, "Content-Type": "application/json"})
    try:
        with urlopen(request, timeout=30) as r:
            return r.status, dict(r.headers), r.read().decode()
    except HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


class RuntimeEndpoint(unittest.TestCase):
    """endpoint: runtime: the same requests go to bedrock-runtime's /openai/v1, signed for
    `bedrock`; aws_fake.py answers them with mantle_fake.OpenAIAPI(runtime=True) as server.openai."""

    @classmethod
    def setUpClass(cls):
        cls.fake, cls.mantle, _, cls.gw = start_stack(
            [{"name": "rt", "secret": SECRET, "models": '["openai.gpt-*"]'}],
            models=MODELS + "  gpt-5-rt: {id: openai.gpt-5.4, api: openai, endpoint: runtime}\n"
                            "  oss-rt: {id: openai.gpt-oss-20b-1:0, api: openai, endpoint: runtime}\n")

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.fake.shutdown()
        cls.mantle.shutdown()

    def test_chat_and_responses_on_runtime(self):
        status, _, text = http(self.gw.url, "/v1/chat/completions", SECRET,
                               {"model": "oss-rt", "messages": [{"role": "user", "content": "Hi"}]})
        self.assertEqual(status, 200, text)
        answer = json.loads(text)
        self.assertEqual((answer["model"], answer["choices"][0]["message"]["content"]),
                         ("oss-rt", "Hello from openai.gpt-oss-20b-1:0"))
        status, _, text = http(self.gw.url, "/v1/responses", SECRET, {"model": "gpt-5-rt", "input": "Hi", "stream": True})
        self.assertEqual(status, 200, text)
        self.assertIn('"delta":" openai.gpt-5.4"', text)
        self.assertIn('"model":"gpt-5-rt"', text)
        # gpt-oss has no Responses API on bedrock-runtime: Bedrock's 400 reaches the caller.
        status, _, text = http(self.gw.url, "/v1/responses", SECRET, {"model": "oss-rt", "input": "Hi"})
        self.assertEqual(status, 400, text)
        sent = self.fake.openai.requests_to()
        self.assertEqual([(r["path"], r["service"], r["region"], r["session_token"]) for r in sent],
                         [("/openai/v1/chat/completions", "bedrock", "us-east-1", True),
                          ("/openai/v1/responses", "bedrock", "us-east-1", True),
                          ("/openai/v1/responses", "bedrock", "us-east-1", True)])
        self.assertEqual(self.mantle.requests_to(), [], "nothing went to Mantle")


class Emulator(unittest.TestCase):
    """The emulator's own checks bite (so the tests above would fail if signgate sent what Mantle or
    this test refuses): requests signed here with botocore, with credentials its STS issued."""

    @classmethod
    def setUpClass(cls):
        cls.fake, _ = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        cls.mantle, cls.url = mantle_fake.start(cls.fake, region="us-east-1")
        cls.creds = cls.fake.issue("test")

    @classmethod
    def tearDownClass(cls):
        cls.mantle.shutdown()
        cls.fake.shutdown()

    def call(self, path, body, service="bedrock-mantle", region="us-east-1", secret=None):
        import datetime
        from urllib.error import HTTPError
        from urllib.request import Request
        import botocore_sigv4
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        host = self.url.split("//", 1)[1]
        amz_date = datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%SZ")
        headers = [("Host", host), ("Content-Type", "application/json"), ("X-Amz-Date", amz_date),
                   ("X-Amz-Security-Token", self.creds["Token"])]
        signed = botocore_sigv4.sign("POST", self.url + path, headers, data, region, service,
                                     self.creds["AccessKeyId"], secret or self.creds["SecretAccessKey"],
                                     self.creds["Token"], amz_date)
        request = Request(self.url + path, data, dict(headers[1:], Authorization=signed["authorization"]))
        try:
            with urlopen(request, timeout=10) as r:
                return r.status, json.loads(r.read())
        except HTTPError as e:
            return e.code, json.loads(e.read())

    def turn(self, body):
        return self.call("/openai/v1/responses", dict({"model": GPT55, "store": False,
                                                      "include": ["reasoning.encrypted_content"]}, **body))

    def test_signatures(self):
        self.assertEqual(self.turn({"input": "Hi"})[0], 200)
        for kwargs in ({"service": "bedrock"}, {"region": "us-west-2"}, {"secret": "wrong"}):
            status, body = self.call("/openai/v1/responses", {"model": GPT55, "input": "Hi", "store": False}, **kwargs)
            self.assertEqual(status, 403, (kwargs, body))

    def test_what_mantle_refuses(self):
        status, body = self.call("/openai/v1/responses", b"{not json")
        self.assertEqual(status, 400, body)
        status, body = self.turn({"model": "openai.gpt-7", "input": "Hi"})
        self.assertEqual((status, body["error"]["code"], body["error"]["type"]),
                         (404, "model_not_found", "invalid_request_error"))
        self.assertIn("does not exist", body["error"]["message"])
        status, body = self.call("/openai/v1/chat/completions",
                                 {"model": GPT55, "messages": [{"role": "user", "content": "Hi"}]})
        self.assertEqual(status, 400, body)
        for extra in ({"previous_response_id": "resp_1"}, {"store": True}, {"input": [{"type": "item_reference",
                                                                                     "id": "msg_1"}]}):
            status, body = self.turn(dict({"input": "Hi"}, **extra))
            self.assertEqual(status, 400, (extra, body))

    def test_reasoning_must_come_back_before_its_call(self):
        question = {"role": "user", "content": "signgate-tool: weather?"}
        tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
        status, first = self.turn({"input": [question], "tools": tools})
        self.assertEqual(status, 200, first)
        reasoning, call = first["output"]
        self.assertEqual((reasoning["type"], call["type"], call["arguments"]),
                         ("reasoning", "function_call", '{"city":"Paris"}'))
        output = {"type": "function_call_output", "call_id": call["call_id"], "output": "18C"}
        status, body = self.turn({"input": [question, reasoning, call, output], "tools": tools})
        self.assertEqual((status, body["output"][-1]["content"][0]["text"]), (200, "The tool said: 18C"))
        status, body = self.turn({"input": [question, call, output], "tools": tools})
        self.assertEqual(status, 400, body)
        self.assertIn("without its required 'reasoning' item", body["error"]["message"])
        tampered = dict(reasoning, encrypted_content=reasoning["encrypted_content"][:-4] + "AAAA")
        status, body = self.turn({"input": [question, tampered, call, output], "tools": tools})
        self.assertEqual(status, 400, body)
        status, body = self.turn({"input": [question, output], "tools": tools})
        self.assertEqual(status, 400, body)
        self.assertIn("No tool call found", body["error"]["message"])


class Codex(unittest.TestCase):
    """The Codex CLI with its plain provider config and model = "gpt-5", an alias of openai.gpt-5.5
    with api: openai: Codex's Responses requests go to Mantle as they are."""

    @classmethod
    def setUpClass(cls):
        cls.fake, cls.mantle, cls.mantle_url, cls.gw = start_stack(
            [{"name": "codex", "secret": CODEX_SECRET, "models": '["openai.gpt-*"]'}])
        cls.codex_home = codex_cli.CodexHome(cls.gw.url, CODEX_SECRET, model="gpt-5")

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.fake.shutdown()
        cls.mantle.shutdown()
        cls.codex_home.cleanup()

    def codex(self, prompt):
        return self.codex_home.run(prompt)

    @staticmethod
    def items(events, kind):
        return codex_cli.items(events, kind)

    def bodies(self, since=0):
        return [r["body"] for r in self.mantle.requests_to("/responses")[since:]]

    def test_a_prompt(self):
        since = len(self.bodies())
        rc, events, err = self.codex("Say hello")
        self.assertEqual(rc, 0, err[-3000:])
        self.assertEqual([m["text"] for m in self.items(events, "agent_message")], ["Hello from " + GPT55], events)
        self.assertIn("turn.completed", [e["type"] for e in events])
        bodies = self.bodies(since)
        self.assertTrue(bodies)
        for body in bodies:
            self.assertEqual(body["model"], GPT55)
            self.assertIs(body["stream"], True)
            self.assertIs(body["store"], False)
            # Codex's tools reach Mantle as Codex offered them: functions, the multi_agent_v1
            # namespace and the hosted web_search (Mantle has server-side tools; nothing dropped).
            kinds = {(t["type"], t.get("name")) for t in body["tools"]}
            for tool in (("function", "exec_command"), ("namespace", "multi_agent_v1"), ("web_search", None)):
                self.assertIn(tool, kinds)
        self.assertEqual(self.mantle.rejected, [])

    def test_a_tool_round_trip(self):
        since = len(self.bodies())
        rc, events, err = self.codex("Run the signgate-tool check")
        self.assertEqual(rc, 0, err[-3000:])
        commands = self.items(events, "command_execution")
        self.assertEqual(len(commands), 1, events)
        self.assertIn("echo signgate-tool-ok", commands[0]["command"])
        self.assertEqual(commands[0]["exit_code"], 0)
        final = self.items(events, "agent_message")[-1]["text"]
        self.assertTrue(final.startswith("The tool said: "), final)
        self.assertIn("signgate-tool-ok", final)
        self.assertTrue(self.items(events, "reasoning"), events)  # the summary Codex asked for
        bodies = self.bodies(since)
        self.assertEqual(len(bodies), 2, [b["input"][-1] for b in bodies])
        # The second turn carried the first turn's reasoning (verbatim: the emulator checked its
        # encrypted_content) ahead of the call, and Codex's output of it.
        kinds = [i.get("type") for i in bodies[1]["input"]]
        self.assertEqual(kinds[-3:], ["reasoning", "function_call", "function_call_output"], kinds)

    def test_every_call_audited(self):
        self.codex("Say hello")
        lines = [l for l in self.gw.wait_audit_caught_up() if l["surface"] == "openai"]
        self.assertTrue(lines)
        for line in lines:
            self.assertEqual((line["client"], line["status"], line["operation"]), ("codex", 200, "converse-stream"))
            self.assertGreater(line["output_tokens"], 0, line)



class Edges(unittest.TestCase):
    """What the review of the OpenAI-API path found: a client held to a guardrail is refused these
    models (Bedrock's OpenAI API takes none) before anything reaches Mantle; a caller that leaves
    a stream is still charged Bedrock's usage; a conversation may change models between Converse
    and Mantle through previous_response_id, each side leaving out the other's sealed reasoning."""
    SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"

    @classmethod
    def setUpClass(cls):
        cls.fake, cls.mantle, cls.mantle_url, cls.gw = start_stack(
            [{"name": "mixed", "secret": SECRET, "models": '["openai.gpt-*", "us.anthropic.*"]'},
             {"name": "guarded", "secret": OTHER_SECRET, "models": '["openai.gpt-*"]',
              "guardrail": '{id: gr0abc123, version: "1"}'}],
            models=MODELS + "  sonnet: %s\n" % cls.SONNET)

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.fake.shutdown()
        cls.mantle.shutdown()

    def post(self, path, body, secret=SECRET):
        import http.client
        from urllib.parse import urlsplit
        u = urlsplit(self.gw.url)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        c.request("POST", path, json.dumps(body), {"Authorization": "Bearer " + secret,
                                                   "Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict(r.getheaders()), data

    def test_a_guarded_client_is_refused_these_models(self):
        before = len(self.mantle.requests_to())
        status, headers, data = self.post("/v1/chat/completions",
                                          {"model": "gpt-oss", "messages": [{"role": "user", "content": "hi"}]},
                                          OTHER_SECRET)
        self.assertEqual(status, 403, data)
        self.assertIn("guardrail", json.loads(data)["error"]["message"])
        self.assertEqual(len(self.mantle.requests_to()), before)  # nothing reached Mantle

    def test_a_caller_that_leaves_a_stream_is_charged(self):
        import socket
        from urllib.parse import urlsplit
        self.mantle.frame_delay = 0.2  # the stream outlasts the caller
        try:
            u = urlsplit(self.gw.url)
            body = json.dumps({"model": "gpt-5.5", "input": "Hi", "stream": True})
            s = socket.create_connection((u.hostname, u.port), timeout=30)
            s.sendall(("POST /v1/responses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                       "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                       % (SECRET, len(body), body)).encode())
            got = b""
            while b"response.output_text.delta" not in got:
                chunk = s.recv(4096)
                self.assertTrue(chunk, got)
                got += chunk
            request_id = re.search(rb"x-request-id: ([0-9a-f]+)", got, re.I).group(1).decode()
            s.close()  # gone before response.completed, which carries the usage
            line = self.gw.audit_line_of(request_id, seconds=30)
        finally:
            self.mantle.frame_delay = 0.005
        self.assertIsNotNone(line)
        usage = self.mantle.requests_to("/responses")[-1]
        self.assertTrue(line["caller_left"], line)
        self.assertEqual(line["tokens_from"], "drained", line)
        self.assertGreater(line["input_tokens"], 0, line)
        self.assertGreater(line["output_tokens"], 0, line)
        self.assertEqual(usage["model"], GPT55)

    def test_a_conversation_changes_models_both_ways(self):
        # Claude (thinking, its reasoning sealed by signgate) → GPT-5.5 on Mantle.
        status, _, data = self.post("/v1/responses", {"model": "sonnet", "input": "Hi",
                                                      "reasoning": {"effort": "low"}})
        self.assertEqual(status, 200, data)
        first = json.loads(data)
        self.assertIn("reasoning", [i["type"] for i in first["output"]])
        status, _, data = self.post("/v1/responses", {"model": "gpt-5.5", "input": "And now?",
                                                      "previous_response_id": first["id"]})
        self.assertEqual(status, 200, data)
        sent = self.mantle.requests_to("/responses")[-1]["body"]["input"]
        self.assertFalse([i for i in sent if i.get("type") == "reasoning"], sent)  # Claude's not sent
        self.assertEqual(sent[-1]["content"], "And now?")
        # GPT-5.5 (its reasoning sealed by OpenAI) → Claude.
        second = json.loads(data)
        status, _, data = self.post("/v1/responses", {"model": "sonnet", "input": "Back to you",
                                                      "reasoning": {"effort": "low"},
                                                      "previous_response_id": second["id"]})
        self.assertEqual(status, 200, data)

if __name__ == "__main__":
    unittest.main()
