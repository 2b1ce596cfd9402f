#!/usr/bin/python3
"""The OpenAI and Anthropic surfaces over plain HTTP, for what the SDK tests cannot provoke:
Bedrock's own errors mapped into each dialect (404 unknown model, 429 throttling with
Retry-After, 400 meaning-changing fields), a stream that breaks upstream (an SSE error event,
then a clean end), and bad JSON."""
import json
import time
import unittest

from common import ROOT, eventually  # noqa: F401  (ROOT puts tests/fakes on the path)
import aws_fake
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway
from gateway_test import call

SECRET = "sgk_dialects_TEST_0123456789abcdefghij"
AUTH = {"Authorization": "Bearer " + SECRET, "Content-Type": "application/json"}


def chat(model, **extra):
    return json.dumps(dict({"model": model, "messages": [{"role": "user", "content": "Hi"}]}, **extra))


class Dialects(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        cls.gw = Gateway(url, [{"name": "c", "secret": SECRET, "models": '["*"]'}])

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.fake.shutdown()

    def test_unknown_model_is_404_not_found_in_both_dialects(self):
        status, _, body = call(self.gw.url, "/v1/chat/completions", chat("missing.model-v1:0"), AUTH)
        self.assertEqual(status, 404)
        err = json.loads(body)["error"]
        self.assertEqual((err["type"], err["code"], err["param"]), ("not_found_error", "model_not_found", "model"))
        status, _, body = call(self.gw.url, "/v1/messages",
                               json.dumps({"model": "missing.m", "max_tokens": 5, "messages": []}), AUTH)
        self.assertEqual(status, 404)
        self.assertEqual(json.loads(body), {"type": "error", "error": {
            "type": "not_found_error", "message": "Could not resolve the foundation model from the provided model identifier."}})

    def test_bedrock_throttling_after_retries_is_429_with_retry_after(self):
        self.fake.throttle_next = 10
        try:
            status, headers, body = call(self.gw.url, "/v1/chat/completions", chat("anthropic.m"), AUTH)
        finally:
            self.fake.throttle_next = 0
        self.assertEqual(status, 429)
        self.assertEqual(json.loads(body)["error"]["type"], "rate_limit_error")
        self.assertIn("retry-after", headers)

    def test_meaning_changing_fields_and_bad_json_are_400(self):
        status, _, body = call(self.gw.url, "/v1/chat/completions", chat("anthropic.m", n=3), AUTH)
        self.assertEqual((status, json.loads(body)["error"]["param"]), (400, "n"))
        status, _, body = call(self.gw.url, "/v1/chat/completions", "{oops", AUTH)
        self.assertEqual((status, json.loads(body)["error"]["type"]), (400, "invalid_request_error"))
        status, _, body = call(self.gw.url, "/v1/messages", "{oops", AUTH)
        self.assertEqual((status, json.loads(body)["type"]), (400, "error"))

    def test_a_stream_that_breaks_upstream_ends_with_an_error_event(self):
        status, headers, body = call(self.gw.url, "/v1/chat/completions", chat("anthropic.reset-v1:0", stream=True), AUTH)
        self.assertEqual(status, 200)
        events = [l[6:] for l in body.decode().split("\n") if l.startswith("data: ")]
        self.assertEqual(json.loads(events[0])["choices"][0]["delta"]["role"], "assistant")
        self.assertEqual(events[-1], "[DONE]", "a clean end after the error event")
        self.assertIn("upstream stream broke", json.loads(events[-2])["error"]["message"])
        line = self.gw.audit_line_of(headers["x-request-id"])
        self.assertIn("upstream stream broke", line["error"])

    # Bedrock's AccessDenied names the account, role and session signgate signs as: a caller of
    # a translated surface reads a short message with the request ID, the operator the rest.
    def test_access_denied_names_no_aws_identity_on_translated_surfaces(self):
        denied = "denied.model-v1:0"
        messages = [{"role": "user", "content": "Hi"}]
        for stream in (False, True):
            for path, body in (
                    ("/v1/chat/completions", chat(denied, stream=stream)),
                    ("/v1/responses", json.dumps({"model": denied, "input": "Hi", "stream": stream})),
                    ("/v1/messages", json.dumps({"model": denied, "max_tokens": 5, "messages": messages,
                                                 "stream": stream})),
                    ("/v1/messages/count_tokens", json.dumps({"model": denied, "messages": messages}))):
                with self.subTest(path=path, stream=stream):
                    status, headers, answer = call(self.gw.url, path, body, AUTH)
                    self.assertEqual(status, 403, answer)
                    for secret in (b"111122223333", b"arn:", b"flashback-bedrock", b"signgate-c "):
                        self.assertNotIn(secret, answer)
                    error = json.loads(answer)["error"]
                    self.assertEqual(error["type"], "permission_error")
                    request_id = headers["x-request-id"]
                    self.assertIn("(request %s)" % request_id, error["message"])
                    # The operator's log and audit line under that ID keep Bedrock's words.
                    logged = "request %s: Bedrock's 403 AccessDeniedException, not shown to the caller: User: " \
                             "arn:aws:sts::111122223333:assumed-role/flashback-bedrock/signgate-c" % request_id
                    self.assertIn(logged, eventually(self.gw.logs, lambda text: logged in text, 5))
                    line = self.gw.audit_line_of(request_id)
                    self.assertTrue(line["error"].startswith("AccessDeniedException: User: arn:aws:sts::111122223333"),
                                    line)
        # The native surface relays Bedrock's answer as Bedrock gave it, as documented.
        status, headers, answer = call(self.gw.url, "/model/%s/converse" % denied,
                                       json.dumps({"messages": [{"role": "user", "content": [{"text": "Hi"}]}]}),
                                       AUTH)
        self.assertEqual((status, headers["x-amzn-errortype"]), (403, "AccessDeniedException"))
        self.assertIn(b"arn:aws:sts::111122223333:assumed-role/", answer)

    # An exception Bedrock sends mid-stream may quote ARNs too: the SSE error event does not.
    def test_a_mid_stream_exception_names_no_aws_identity(self):
        model = "anthropic.streamfault-v1:0"
        messages = [{"role": "user", "content": "Hi"}]
        for path, body in (("/v1/chat/completions", chat(model, stream=True)),
                           ("/v1/responses", json.dumps({"model": model, "input": "Hi", "stream": True})),
                           ("/v1/messages", json.dumps({"model": model, "max_tokens": 5, "messages": messages,
                                                        "stream": True}))):
            with self.subTest(path=path):
                status, _, answer = call(self.gw.url, path, body, AUTH)
                self.assertEqual(status, 200)
                self.assertIn(b"validationException: The inference profile <bedrock inference-profile ARN>", answer)
                for secret in (b"111122223333", b"arn:", b"flashback-bedrock", b"signgate-c "):
                    self.assertNotIn(secret, answer)


if __name__ == "__main__":
    unittest.main(verbosity=2)
