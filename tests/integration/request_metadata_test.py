#!/usr/bin/python3
"""signgate's attribution inside AWS (SPEC §8): every call Bedrock keeps per-request metadata for
carries signgate_client, signgate_request_id (the audit line's request_id, the answer's
x-request-id) and the client's request_metadata pairs, on every surface: the native InvokeModel,
its stream, Converse and ConverseStream; OpenAI chat and Responses (Converse), Anthropic Messages
(InvokeModel), OpenAI embeddings (every InvokeModel of the fan-out). The emulator checks the
metadata as Bedrock does (request_metadata_fake.py: at most 16 pairs, Bedrock's characters and
lengths, a header that is a JSON object) and records it; botocore verifies every signature, the
stamped header included. A caller cannot forge signgate's keys in the header or the body; its
other pairs are kept, those Bedrock would refuse dropped with the request still answered; the
OpenAI and Anthropic `metadata` fields do not become pairs; CountTokens and Bedrock's OpenAI-
compatible API (bedrock-runtime's /openai/v1 and Mantle) get no stamp."""
import http.client
import json
import unittest
import urllib.parse

from common import ROOT  # noqa: F401  (puts tests/fakes on the path)
import aws_fake
import mantle_fake
import request_metadata_fake
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
EMBED = "amazon.titan-embed-text-v2:0"
SECRET = "sgk_attribution_TEST_0123456789abcdefghij"
OTHER_SECRET = "sgk_attribution_OTHER_0123456789abcdefgh"
CLIENTS = [
    {"name": "flashback", "secret": SECRET, "models": '["anthropic.*", "amazon.titan-embed-*", "openai.gpt-*"]',
     "request_metadata": "{ cost_center: cc-42, environment: ci }"},
    # A name with characters Bedrock's pattern refuses: stamped made valid, not left out.
    {"name": "équipe|data", "secret": OTHER_SECRET, "models": '["anthropic.*"]'},
]
ROUTED = "anthropic.claude-3-5-sonnet-20240620-v1:0"
MODELS = ("models:\n"
          "  gpt-oss: {id: openai.gpt-oss-120b-1:0, api: openai, endpoint: runtime}\n"
          "  gpt-5: {id: openai.gpt-5.5, api: openai, endpoint: mantle}\n"
          # A throttled first target fails over to the second: both attempts are stamped.
          "routes:\n"
          "  - name: sonnet\n    match: [\"%s\"]\n    targets:\n"
          "      - { name: first, identity: default, region: us-east-1, bedrock_endpoint: \"%%(url)s\" }\n"
          "      - { name: second, identity: default, region: us-east-1, bedrock_endpoint: \"%%(url)s\", "
          "model: %s }\n" % (ROUTED, MODEL))
MESSAGES = [{"role": "user", "content": [{"text": "hi"}]}]
ANTHROPIC = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 16,
             "messages": [{"role": "user", "content": "hi"}]}
HEADER = request_metadata_fake.HEADER


def call(url, path, body, headers):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("POST", path, body=body if isinstance(body, (bytes, str)) else json.dumps(body), headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def auth(secret=SECRET, **more):
    return dict({"Authorization": "Bearer " + secret, "Content-Type": "application/json"}, **more)


class Attribution(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake, fake_url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        cls.mantle, mantle_url = mantle_fake.start(cls.fake, region="us-east-1")
        cls.gw = Gateway(fake_url, CLIENTS, extra=MODELS % {"url": fake_url},
                         aws_extra="  mantle_endpoint: %s\n" % mantle_url)

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.mantle.shutdown()
        cls.fake.shutdown()

    def seq(self):
        log = request_metadata_fake.seen(self.fake)["log"]
        return log[-1]["seq"] if log else 0

    def calls_since(self, seq):
        return [e for e in request_metadata_fake.seen(self.fake)["log"] if e["seq"] > seq]

    def stamped(self, path, body, headers=None, calls=1, secret=SECRET):
        """Sends one request; the metadata each of its `calls` Bedrock calls carried, after checking
        that it was answered, that Bedrock accepted the metadata and that it names this request."""
        before = self.seq()
        status, got, data = call(self.gw.url, path, body, auth(secret, **(headers or {})))
        self.assertEqual(status, 200, data[:500])
        entries = self.calls_since(before)
        self.assertEqual(len(entries), calls, entries)
        for e in entries:
            self.assertNotIn("refused", e)
            self.assertIsNotNone(e["metadata"], e)
            self.assertEqual(e["metadata"]["signgate_request_id"], got["x-request-id"])
        self.audit_names(got["x-request-id"])
        return [e["metadata"] for e in entries], data

    def audit_names(self, request_id):
        line = self.gw.audit_line_of(request_id)
        self.assertIsNotNone(line)
        return line

    def assert_ours(self, metadata, client="flashback"):
        self.assertEqual(metadata["signgate_client"], client)
        if client == "flashback":
            self.assertEqual(metadata["cost_center"], "cc-42")
            self.assertEqual(metadata["environment"], "ci")

    def test_native_invoke_and_stream_carry_the_header(self):
        """InvokeModel and its stream: the stamp in X-Amzn-Bedrock-Request-Metadata, signed."""
        for op in ("invoke", "invoke-with-response-stream"):
            [m], _ = self.stamped("/model/%s/%s" % (MODEL, op), ANTHROPIC)
            self.assert_ours(m)
            self.assertEqual(len(m), 4, m)
            self.assertEqual(request_metadata_fake.seen(self.fake)["last"][op], m)

    def test_native_converse_and_stream_carry_request_metadata(self):
        for op in ("converse", "converse-stream"):
            [m], _ = self.stamped("/model/%s/%s" % (MODEL, op), {"messages": MESSAGES})
            self.assert_ours(m)
            self.assertEqual(len(m), 4, m)
        # The native body is changed only by the stamp.
        self.assertEqual(self.fake.last_converse_body["messages"], MESSAGES)
        self.assertEqual(set(self.fake.last_converse_body), {"messages", "requestMetadata"})

    def test_forgery_is_refused_and_the_callers_pairs_kept(self):
        """A caller's signgate_client=other (header, body) is replaced; its own pairs stay beside."""
        forged = {"signgate_client": "other", "signgate_request_id": "forged", "cost_center": "free",
                  "team": "search"}
        [m], _ = self.stamped("/model/%s/invoke" % MODEL, ANTHROPIC, {HEADER: json.dumps(forged)})
        self.assert_ours(m)
        self.assertEqual(m["team"], "search")
        self.assertEqual(len(m), 5, m)
        body = {"requestMetadata": forged, "messages": MESSAGES, "inferenceConfig": {"maxTokens": 16}}
        [m], _ = self.stamped("/model/%s/converse" % MODEL, body)
        self.assert_ours(m)
        self.assertEqual(m["team"], "search")
        self.assertEqual(len(m), 5, m)
        self.assertEqual(self.fake.last_converse_body["inferenceConfig"], {"maxTokens": 16})

    def test_a_body_the_stamp_cannot_enter_never_reaches_bedrock(self):
        """A UTF-16 Converse body (JSON some parsers read) would carry the caller's own
        signgate_client: refused with a 400 in Bedrock's dialect, and Bedrock never called.
        Lookalike keys ("Signgate_Client") are dropped, not kept beside signgate's."""
        forged = {"requestMetadata": {"signgate_client": "victim"}, "messages": MESSAGES}
        before = self.seq()
        status, _, data = call(self.gw.url, "/model/%s/converse" % MODEL, json.dumps(forged).encode("utf-16"), auth())
        self.assertEqual(status, 400, data)
        self.assertIn(b"UTF-8", data)
        self.assertEqual(self.calls_since(before), [])
        [m], _ = self.stamped("/model/%s/invoke" % MODEL, ANTHROPIC,
                              {HEADER: json.dumps({"Signgate_Client": "victim", "signgate_client ": "v", "env": "p"})})
        self.assert_ours(m)
        self.assertNotIn("Signgate_Client", m)
        self.assertNotIn("signgate_client ", m)
        self.assertEqual(m["env"], "p")

    def test_pairs_bedrock_would_refuse_are_dropped_not_the_request(self):
        """20 caller pairs, bad characters, too long, not strings: dropped; the request is 200."""
        many = {"k%02d" % i: "v" for i in range(20)}
        [m], _ = self.stamped("/model/%s/invoke-with-response-stream" % MODEL, ANTHROPIC, {HEADER: json.dumps(many)})
        self.assertEqual(len(m), 16)
        self.assert_ours(m)
        self.assertEqual(sorted(k for k in m if k.startswith("k")), ["k%02d" % i for i in range(12)])
        bad = {"ok": "fine", "bad!": "v", "semi": "a;b", "long": "x" * 257, "n": 1, "o": {"a": "b"},
               "é": "v", "": "empty key"}
        [m], _ = self.stamped("/model/%s/converse-stream" % MODEL, {"messages": MESSAGES, "requestMetadata": bad})
        self.assertEqual(set(m) - {"signgate_client", "signgate_request_id", "cost_center", "environment"}, {"ok"})
        # Not an object at all: the stamp alone.
        [m], _ = self.stamped("/model/%s/invoke" % MODEL, ANTHROPIC, {HEADER: "team=search"})
        self.assertEqual(len(m), 4)
        [m], _ = self.stamped("/model/%s/converse" % MODEL, {"messages": MESSAGES, "requestMetadata": ["a"]})
        self.assertEqual(len(m), 4)

    def test_a_client_name_bedrock_refuses_is_made_valid(self):
        [m], _ = self.stamped("/model/%s/converse" % MODEL, {"messages": MESSAGES}, secret=OTHER_SECRET)
        self.assertEqual(m["signgate_client"], "_quipe_data")
        self.assertEqual(len(m), 2)

    def test_openai_chat_and_responses(self):
        """Converse behind OpenAI's APIs; the caller's `metadata` is OpenAI's, not Bedrock's."""
        for stream in (False, True):
            chat = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": stream,
                    "metadata": {"team": "search"}}
            [m], _ = self.stamped("/v1/chat/completions", chat)
            self.assert_ours(m)
            self.assertEqual(len(m), 4, m)
            [m], _ = self.stamped("/v1/responses", {"model": MODEL, "input": "hi", "stream": stream,
                                                    "metadata": {"team": "search"}})
            self.assert_ours(m)
            self.assertEqual(len(m), 4, m)

    def test_anthropic_messages(self):
        for stream in (False, True):
            body = {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}],
                    "stream": stream, "metadata": {"user_id": "u-1"}}
            [m], _ = self.stamped("/v1/messages", body, {"anthropic-version": "2023-06-01"})
            self.assert_ours(m)
            self.assertEqual(len(m), 4, m)

    def test_embeddings_every_call_is_stamped(self):
        """Titan embeds one text a call: both calls of a two-text request carry the stamp."""
        ms, data = self.stamped("/v1/embeddings", {"model": EMBED, "input": ["first text", "second text"]}, calls=2)
        self.assertEqual(len(json.loads(data)["data"]), 2)
        for m in ms:
            self.assert_ours(m)
        self.assertEqual(ms[0], ms[1])

    def test_every_attempt_of_a_failover_is_stamped(self):
        for path, body in (("/model/%s/converse" % ROUTED, {"messages": MESSAGES}),
                           ("/v1/messages", {"model": ROUTED, "max_tokens": 16, "stream": True,
                                             "messages": [{"role": "user", "content": "hi"}]})):
            self.fake.fail = {"type": "ThrottlingException", "count": 1}
            before = self.seq()
            ms, _ = self.stamped(path, body, calls=2)
            self.assertEqual([e["model"] for e in self.calls_since(before)], [ROUTED, MODEL])
            self.assert_ours(ms[0])
            self.assertEqual(ms[0], ms[1])

    def test_count_tokens_and_the_openai_api_are_not_stamped(self):
        before = self.seq()
        status, _, data = call(self.gw.url, "/v1/messages/count_tokens",
                               {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
                               auth(**{"anthropic-version": "2023-06-01"}))
        self.assertEqual(status, 200, data)
        counted = [e for e in self.calls_since(before) if e["operation"] == "count-tokens"]
        self.assertEqual(len(counted), 1)
        self.assertIsNone(counted[0]["metadata"])
        self.assertNotIn("refused", counted[0])
        # bedrock-runtime's /openai/v1 and Mantle: neither header nor requestMetadata.
        chat = {"model": "gpt-oss", "messages": [{"role": "user", "content": "hi"}]}
        for path, body in (("/v1/chat/completions", chat), ("/v1/chat/completions", dict(chat, stream=True)),
                           ("/v1/responses", {"model": "gpt-5", "input": "hi"}),
                           ("/v1/responses", {"model": "gpt-5", "input": "hi", "stream": True})):
            runtime_before = len(self.fake.requests)
            mantle_before = len(self.mantle.requests)
            status, _, data = call(self.gw.url, path, body, auth())
            self.assertEqual(status, 200, data[:500])
            sent = [r for r in self.fake.requests[runtime_before:] if r["path"].startswith("/openai/")]
            to_mantle = self.mantle.requests[mantle_before:]
            self.assertEqual(len(sent) + len(to_mantle), 1)
            for r in sent:
                self.assertFalse([n for n, _ in r["headers"] if n.lower() == HEADER.lower()], r["headers"])
            for r in sent + to_mantle:
                if "body" in r:
                    self.assertNotIn("requestMetadata", r["body"] or {})

    def test_zz_every_signature_verified(self):
        """Every call above, the stamped header included, passed botocore's signature check."""
        self.assertEqual(self.fake.counts.get("rejected", 0), 0)
        self.assertEqual(self.fake.counts.get("metadata_refused", 0), 0)
        self.assertEqual(self.mantle.counts.get("rejected", 0), 0)
        self.assertGreater(self.fake.counts.get("bedrock", 0), 10)


class EmulatorRefusesWhatBedrockRefuses(unittest.TestCase):
    """The emulator's own checks, so that a stamp Bedrock would refuse cannot pass here."""

    def test_limits(self):
        ok = {"a": "b", "c d": "e:f_@$#=/+,-.", "x": ""}
        self.assertEqual(request_metadata_fake._pairs(request_metadata_fake._load(json.dumps(ok)), "m"), ok)
        for bad in ({"k%d" % i: "v" for i in range(17)}, {"a": 1}, {"a!": "b"}, {"a": "b;"}, {"": "b"},
                    {"a": "x" * 257}, {"k" * 257: "v"}, {"a": "é"}):
            with self.assertRaises(request_metadata_fake.Invalid, msg=bad):
                request_metadata_fake._pairs(request_metadata_fake._load(json.dumps(bad)), "m")
        with self.assertRaises(request_metadata_fake.Invalid):
            request_metadata_fake._pairs(request_metadata_fake._load('{"a":"b","a":"c"}'), "m")
        with self.assertRaises(request_metadata_fake.Invalid):
            request_metadata_fake.from_converse(b'{"requestMetadata":{},"requestMetadata":{}}')
        self.assertIsNone(request_metadata_fake.from_converse(b'{"messages":[]}'))


if __name__ == "__main__":
    unittest.main(verbosity=2)
