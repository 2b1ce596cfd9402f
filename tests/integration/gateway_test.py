#!/usr/bin/python3
"""`signgate serve` end to end on loopback: real sockets, a Bedrock/STS fake that verifies
every signature with botocore, the role assumed with an External ID. Covers the native
surface (IDs with ':' and ARNs, encoded or not), streaming as it arrives, refusals in
Bedrock's dialect, rate limits, retries, the body limit, audit lines, reload and revocation,
ops endpoints, graceful shutdown, and that no secret reaches Bedrock, the audit log or the log."""
import http.client
import json
import os
import re
import struct
import time
import unittest
import urllib.parse
import zlib

from common import ROOT, eventually, frames_of, wait_for  # noqa: F401  (ROOT puts tests/fakes on the path)
import aws_fake
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
PROFILE_ARN = "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0"
S1 = "sgk_flashback_TEST_secret_0123456789abcdef"
S2 = "sgk_limited_TEST_secret_0123456789abcdef"
CLIENTS = [
    {"name": "flashback", "secret": S1,
     "models": '["anthropic.*", "us.anthropic.*", "arn:aws:bedrock:us-east-1:111122223333:inference-profile/*"]'},
    {"name": "limited", "secret": S2, "models": '["anthropic.claude-3-haiku-*"]', "operations": "[converse]",
     "rate_limit": "{ requests_per_minute: 3 }"},
]
CONVERSE = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})


def call(url, path, body=CONVERSE, headers=None, method="POST"):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data



def converse_status(gw, secret):
    return call(gw.url, "/model/%s/converse" % MODEL, headers=bearer(secret))[0]


def bearer(secret):
    return {"Authorization": "Bearer " + secret, "Content-Type": "application/json"}


class NativeSurface(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake, cls.fake_url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID},
                                                frame_delay=0.15)
        cls.gw = Gateway(cls.fake_url, CLIENTS, extra="limits: { max_body_bytes: 65536 }\n")

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.fake.shutdown()

    def test_converse_with_a_model_id_containing_a_colon(self):
        """Raw ':' on the wire; Bedrock (botocore) verifies the re-signed call."""
        status, headers, body = call(self.gw.url, "/model/%s/converse" % MODEL, headers=bearer(S1))
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["output"]["message"]["content"][0]["text"], "Hello from " + MODEL)
        self.assertEqual(headers["x-amzn-bedrock-input-token-count"], "12")
        self.assertTrue(headers["x-amzn-requestid"].startswith("fake-"))

    def test_x_api_key_works_too(self):
        status, _, body = call(self.gw.url, "/model/%s/converse" % urllib.parse.quote(MODEL, safe=""),
                               headers={"x-api-key": S1, "Content-Type": "application/json"})
        self.assertEqual(status, 200, body)

    def test_arn_model_ids_encoded_or_raw(self):
        for path_id in (urllib.parse.quote(PROFILE_ARN, safe=""), PROFILE_ARN):
            status, _, body = call(self.gw.url, "/model/%s/converse" % path_id, headers=bearer(S1))
            self.assertEqual(status, 200, body)
            self.assertEqual(self.fake.seen_models[-1], PROFILE_ARN)

    def test_the_client_secret_never_reaches_bedrock(self):
        call(self.gw.url, "/model/%s/invoke" % MODEL,
             headers={"Authorization": "Bearer " + S1, "x-api-key": S1, "X-Amz-Security-Token": "client-token",
                      "Content-Type": "application/json", "X-Amzn-Bedrock-Trace": "ENABLED"})
        sent = self.fake.requests[-1]
        self.assertTrue(sent["ok"], sent["reason"])
        flat = json.dumps(sent["headers"])
        self.assertNotIn(S1, flat)
        self.assertNotIn("client-token", flat)
        self.assertIn("X-Amzn-Bedrock-Trace", flat, "InvokeModel's own headers are forwarded")

    def test_stream_arrives_frame_by_frame(self):
        """The first frame reaches the client long before the last one is sent (150 ms apart)."""
        u = urllib.parse.urlsplit(self.gw.url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        started = time.monotonic()
        conn.request("POST", "/model/%s/converse-stream" % urllib.parse.quote(MODEL, safe=""), body=CONVERSE,
                     headers=bearer(S1))
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Type"), "application/vnd.amazon.eventstream")
        first = r.read1(65536)
        first_at = time.monotonic() - started
        rest = r.read()
        total = time.monotonic() - started
        conn.close()
        frames = frames_of(first + rest)
        self.assertEqual(len(frames), 7)
        self.assertEqual(frames[0], {"role": "assistant"})
        self.assertLess(first_at, total / 2, "first frame at %.2fs of %.2fs" % (first_at, total))

    def test_refusals_in_bedrocks_dialect(self):
        before = len(self.fake.requests)
        cases = [
            ({}, "/model/%s/converse" % MODEL, 401, "UnauthorizedException", "missing API key"),
            (bearer("sgk_wrong"), "/model/%s/converse" % MODEL, 401, "UnauthorizedException", "invalid API key"),
            (bearer(S1), "/model/meta.llama3-8b-instruct-v1:0/converse", 403, "AccessDeniedException", "not allowed"),
            (bearer(S2), "/model/%s/converse-stream" % MODEL, 403, "AccessDeniedException",
             "operation converse-stream is not allowed"),
            (bearer(S1), "/model/%s/chat" % MODEL, 404, "UnknownOperationException", "unknown operation"),
        ]
        for headers, path, status, error_type, needle in cases:
            got, h, body = call(self.gw.url, path, headers=headers)
            self.assertEqual(got, status, (path, body))
            self.assertEqual(h["x-amzn-errortype"], error_type)
            self.assertIn(needle, json.loads(body)["message"])
        self.assertEqual(len(self.fake.requests), before, "refused requests never reach Bedrock")

    def test_body_over_the_limit_is_413(self):
        status, _, body = call(self.gw.url, "/model/%s/converse" % MODEL, body="x" * 70000, headers=bearer(S1))
        self.assertEqual(status, 413, body)

    def test_throttling_is_retried_then_passed_through(self):
        self.fake.throttle_next = 2
        status, _, body = call(self.gw.url, "/model/%s/converse" % MODEL, headers=bearer(S1))
        self.assertEqual(status, 200, body)
        self.fake.throttle_next = 5
        status, headers, body = call(self.gw.url, "/model/%s/converse" % MODEL, headers=bearer(S1))
        self.assertEqual(status, 429)
        self.assertEqual(headers["x-amzn-errortype"], "ThrottlingException")
        self.fake.throttle_next = 0

    def test_ops_endpoints(self):
        self.assertEqual(call(self.gw.url, "/healthz", method="GET", body=None)[0], 200)
        status, _, body = call(self.gw.url, "/readyz", method="GET", body=None)
        self.assertEqual(status, 200, body)
        status, headers, body = eventually(lambda: call(self.gw.url, "/metrics", method="GET", body=None),
                                           lambda answer: b"signgate_requests_total{" in answer[2])
        self.assertEqual(status, 200)
        text = body.decode()
        self.assertIn("signgate_requests_total{", text)
        self.assertIn("signgate_credential_seconds_to_expiry{", text)
        self.assertIn('role_session="%s/signgate-flashback"' % ROLE, text)

    def test_zz_audit_lines_and_no_secret_anywhere(self):
        request_id = call(self.gw.url, "/model/%s/converse" % MODEL, headers=bearer(S1))[1]["x-request-id"]
        lines = self.gw.wait_audit(lambda lines: any(l["request_id"] == request_id for l in lines))
        self.assertGreater(len(lines), 5)
        fields = {"ts", "request_id", "client", "surface", "operation", "model", "status", "upstream_status",
                  "aws_request_id", "latency_ms", "first_byte_ms", "input_tokens", "output_tokens", "bytes_in",
                  "bytes_out", "role_session", "error", "user", "protocol", "tokens_from", "caller_left",
                  "route", "target", "region", "identity", "target_model", "attempts", "service_tier",
                  "cache_read_tokens", "cache_write_tokens", "cost_usd"}
        for line in lines:
            self.assertEqual(set(line), fields)
            self.assertEqual(line["protocol"], "http/1.1")  # urllib speaks HTTP/1.1
        ok = [l for l in lines if l["status"] == 200 and l["operation"] == "converse"][-1]
        self.assertEqual(ok["client"], "flashback")
        self.assertEqual(ok["input_tokens"], 12)
        self.assertEqual(ok["role_session"], ROLE + "/signgate-flashback")
        self.assertEqual((ok["route"], ok["region"], ok["identity"], ok["attempts"]), (None, "us-east-1", "default", 1))
        stream = [l for l in lines if l["operation"] == "converse-stream" and l["status"] == 200][-1]
        self.assertEqual((stream["input_tokens"], stream["output_tokens"]), (12, 5), "from the stream's metadata")
        # Priced from the shipped table (Claude 3 Haiku: $0.25 and $1.25 a million): 12 * 0.25 + 5 * 1.25
        # = 9.25 micro-dollars; a refused request costs nothing known.
        if ok["model"] == MODEL and ok["output_tokens"] == 5:
            self.assertAlmostEqual(ok["cost_usd"], 0.00000925, places=12)
        self.assertAlmostEqual(stream["cost_usd"], 0.00000925, places=12)
        self.assertTrue(all(l["cost_usd"] is None for l in lines if l["upstream_status"] is None))
        everything = open(self.gw.audit_path).read() + self.gw.logs()
        for secret in [S1, S2, BASE_SECRET] + [v[0] for v in self.fake.issued.values()] + \
                      [v[1] for v in self.fake.issued.values()]:
            self.assertNotIn(secret, everything)
        self.assertNotIn('"hi"', open(self.gw.audit_path).read(), "no prompt text in the audit log")


class RateLimit(unittest.TestCase):
    def test_429_with_retry_after(self):
        fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        gw = Gateway(url, CLIENTS)
        try:
            statuses = [call(gw.url, "/model/%s/converse" % MODEL, headers=bearer(S2))[0] for _ in range(3)]
            self.assertEqual(statuses, [200, 200, 200])
            status, headers, body = call(gw.url, "/model/%s/converse" % MODEL, headers=bearer(S2))
            self.assertEqual(status, 429, body)
            self.assertEqual(headers["x-amzn-errortype"], "ThrottlingException")
            self.assertGreaterEqual(int(headers["retry-after"]), 1)
        finally:
            gw.stop()
            fake.shutdown()


class ReloadAndRevocation(unittest.TestCase):
    def setUp(self):
        self.fake, self.url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        self.gw = Gateway(self.url, CLIENTS)

    def tearDown(self):
        self.gw.stop()
        self.fake.shutdown()

    def status(self, secret):
        try:
            return call(self.gw.url, "/model/%s/converse" % MODEL, headers=bearer(secret))[0]
        except OSError as e:
            self.fail("%s; signgate exit status %s; log:\n%s" % (e, self.gw.proc.poll(), self.gw.logs()))

    def wait_for(self, secret, want, seconds=5):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.status(secret) == want:
                return True
            time.sleep(0.1)
        return False

    def test_sighup_revokes_a_removed_client(self):
        self.assertEqual(self.status(S1), 200)
        self.gw.write_config([CLIENTS[1]])
        self.gw.reload()
        self.assertTrue(self.wait_for(S1, 401), self.gw.logs())

    def test_a_key_rotates_without_downtime(self):
        # The new secret is added beside the old one, callers move over, the old one is removed.
        old, new = S1, "sgk_rotated_TEST_0123456789abcdef"
        self.gw.write_config([dict(CLIENTS[0], secrets=[old, new], secret=None)] + CLIENTS[1:])
        self.gw.reload()
        self.assertTrue(self.wait_for(new, 200), self.gw.logs())
        self.assertEqual(self.status(old), 200)
        self.gw.write_config([dict(CLIENTS[0], secrets=[new], secret=None)] + CLIENTS[1:])
        self.gw.reload()
        self.assertTrue(self.wait_for(old, 401), self.gw.logs())
        self.assertEqual(self.status(new), 200)
        lines = [l for l in self.gw.wait_audit_caught_up() if l["status"] == 200]
        self.assertEqual(lines[-1]["client"], CLIENTS[0]["name"])

    def test_a_file_change_alone_reloads(self):
        new = {"name": "newcomer", "secret": "sgk_newcomer_TEST_0123456789"}
        self.assertEqual(self.status(new["secret"]), 401)
        time.sleep(1.1)  # a different mtime
        self.gw.write_config(CLIENTS + [new])
        self.assertTrue(self.wait_for(new["secret"], 200), self.gw.logs())

    def test_a_bad_config_is_refused_and_the_running_one_stays(self):
        with open(self.gw.config_path, "w") as f:
            f.write("aws:\n  region: [broken\n")
        self.gw.reload()
        time.sleep(0.5)
        self.assertEqual(self.status(S1), 200)
        self.assertIn("reload (SIGHUP) refused, keeping the running config", self.gw.logs())
        self.assertIn("signgate.yaml: line", self.gw.logs())

    def test_a_reload_with_a_pattern_that_can_never_match_keeps_the_running_config(self):
        self.gw.write_config([dict(CLIENTS[0], models='["arn:aws:bedrock:*"]')] + CLIENTS[1:])
        self.gw.reload()
        logs = eventually(self.gw.logs, lambda text: "did you mean 'arn:aws:bedrock:*:*:*'?" in text)
        self.assertIn("models[0]: 'arn:aws:bedrock:*' has 4 of an ARN's six", logs)
        self.assertIn("reload (SIGHUP) refused, keeping the running config", logs)
        self.assertEqual(self.status(S1), 200)
        self.gw.write_config(CLIENTS)
        self.gw.reload()

    def test_an_expired_key_is_refused(self):
        self.gw.write_config([dict(CLIENTS[0], expires_at="2020-01-01T00:00:00Z")])
        self.gw.reload()
        self.assertTrue(self.wait_for(S1, 401))
        body = json.loads(call(self.gw.url, "/model/%s/converse" % MODEL, headers=bearer(S1))[2])
        self.assertIn("expired", body["message"])


class MidStream(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake, cls.fake_url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID},
                                                frame_delay=0.2)
        cls.gw = Gateway(cls.fake_url, CLIENTS)

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.fake.shutdown()

    def open_streams(self):
        text = call(self.gw.url, "/metrics", method="GET", body=None)[2].decode()
        return int(text.split("\nsigngate_open_streams ", 1)[1].split("\n", 1)[0])

    def test_upstream_reset_becomes_an_exception_frame_and_a_clean_end(self):
        status, headers, body = call(self.gw.url, "/model/anthropic.reset-v1:0/converse-stream", headers=bearer(S1))
        self.assertEqual(status, 200)
        total, hlen = struct.unpack(">II", body[:8])
        frames = []
        data = body
        while data:
            total, hlen = struct.unpack(">II", data[:8])
            assert zlib.crc32(data[:total - 4]) == struct.unpack(">I", data[total - 4:total])[0]
            frames.append((data[12:12 + hlen], json.loads(data[12 + hlen:total - 4])))
            data = data[total:]
        self.assertEqual(len(frames), 3, "two whole frames, then the exception frame; never half a frame")
        self.assertIn(b"exception", frames[-1][0])
        self.assertIn(b"internalServerException", frames[-1][0])
        self.assertIn("upstream stream broke", frames[-1][1]["message"])
        line = self.gw.audit_line_of(headers["x-request-id"])
        self.assertEqual((line["operation"], line["status"]), ("converse-stream", 200))
        self.assertIn("upstream stream broke", line["error"])
        self.assertEqual(eventually(self.open_streams, lambda n: n == 0), 0)

    def test_a_client_that_leaves_mid_stream_is_let_go(self):
        u = urllib.parse.urlsplit(self.gw.url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        conn.request("POST", "/model/%s/converse-stream" % MODEL, body=CONVERSE, headers=bearer(S1))
        r = conn.getresponse()
        self.assertTrue(r.read1(65536))
        conn.sock.shutdown(2)
        conn.close()
        self.assertEqual(eventually(self.open_streams, lambda n: n == 0, 5), 0,
                         "the relay stopped and let the upstream go")
        line = self.gw.audit_line_of(r.getheader("x-request-id"))
        self.assertTrue(line["error"].startswith("client went away mid-stream"), line)
        self.assertTrue(line["caller_left"], line)


class UpstreamTrouble(unittest.TestCase):
    def test_bedrock_unreachable_is_502_and_a_slow_first_byte_is_504(self):
        fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        closed = Gateway(url, CLIENTS, bedrock_url="http://127.0.0.1:9")
        slow = Gateway(url, CLIENTS, extra="upstream: { first_byte_timeout_ms: 300 }\n")
        try:
            status, headers, body = call(closed.url, "/model/%s/converse" % MODEL, headers=bearer(S1))
            self.assertEqual(status, 502, body)
            self.assertIn("Bedrock could not be reached (request ", json.loads(body)["message"])
            self.assertIn("Bedrock unreachable", closed.logs(), "the detail is in the log")
            status, headers, body = call(slow.url, "/model/anthropic.slow-v1:0/converse", headers=bearer(S1))
            self.assertEqual(status, 504, body)
            self.assertEqual(headers["x-amzn-errortype"], "ModelTimeoutException")
            self.assertEqual(slow.wait_audit(1)[-1]["status"], 504)
        finally:
            closed.stop()
            slow.stop()
            fake.shutdown()


class TlsListener(unittest.TestCase):
    def test_https_with_the_configured_certificate(self):
        import ssl
        from common import make_ca, tempdir
        fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        with tempdir() as d:
            ca = make_ca(d)
            gw = Gateway(url, CLIENTS, extra="tls: { cert: %s, key: %s }\n" % (ca["cert"], ca["key"]))
            try:
                self.assertTrue(gw.url.startswith("https://"), gw.url)
                u = urllib.parse.urlsplit(gw.url)
                ctx = ssl.create_default_context(cafile=ca["ca"])
                conn = http.client.HTTPSConnection("127.0.0.1", u.port, context=ctx, timeout=10)
                conn.request("POST", "/model/%s/converse" % MODEL, body=CONVERSE, headers=bearer(S1))
                r = conn.getresponse()
                self.assertEqual(r.status, 200, r.read())
                r.read()
                conn.close()
                with self.assertRaises(ssl.SSLError):  # an unknown CA is refused by the client, as it should be
                    plain = http.client.HTTPSConnection("127.0.0.1", u.port, context=ssl.create_default_context(),
                                                        timeout=10)
                    plain.request("GET", "/healthz")
            finally:
                gw.stop()
                fake.shutdown()


class Lifecycle(unittest.TestCase):
    def test_sigterm_lets_a_stream_in_flight_finish(self):
        fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID}, frame_delay=0.2)
        gw = Gateway(url, CLIENTS)
        try:
            u = urllib.parse.urlsplit(gw.url)
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            conn.request("POST", "/model/%s/converse-stream" % MODEL, body=CONVERSE, headers=bearer(S1))
            r = conn.getresponse()
            first = r.read1(65536)
            self.assertTrue(first)
            self.assertIsNone(gw.proc.poll())
            gw.proc.send_signal(15)
            rest = r.read()
            self.assertEqual(len(frames_of(first + rest)), 7, "the stream in flight completed")
            self.assertEqual(gw.proc.wait(timeout=10), 0)
            with self.assertRaises(OSError):
                call(gw.url, "/healthz", method="GET", body=None)
        finally:
            gw.stop()
            fake.shutdown()

    def test_sts_down_at_start_then_recovers(self):
        fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        fake.sts_down = True
        gw = Gateway(url, CLIENTS)
        try:
            time.sleep(0.5)
            status, _, body = call(gw.url, "/readyz", method="GET", body=None)
            self.assertEqual(status, 503)
            self.assertIn("no identity holds valid AWS credentials", json.loads(body)["reason"])
            self.assertNotIn(ROLE, body.decode(), "the role is for the log, not for anyone asking")
            status, headers, body = call(gw.url, "/model/%s/converse" % MODEL, headers=bearer(S1))
            self.assertEqual(status, 503)
            self.assertIn("holds no valid AWS credentials", json.loads(body)["message"])
            fake.sts_down = False
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and call(gw.url, "/readyz", method="GET", body=None)[0] != 200:
                time.sleep(0.2)
            # Ready once some identity signs; each client's own identity retries on its own backoff.
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline and \
                    call(gw.url, "/model/%s/converse" % MODEL, headers=bearer(S1))[0] != 200:
                time.sleep(0.2)
            self.assertEqual(call(gw.url, "/model/%s/converse" % MODEL, headers=bearer(S1))[0], 200)
        finally:
            gw.stop()
            fake.shutdown()

    def test_one_clients_broken_role_leaves_the_others_served(self):
        """A client whose role cannot be assumed (a wrong External ID) gets 503s; the gateway
        stays ready for the others, the failure is logged with role and session (never the
        External ID), and a reload that fixes it says what changed and serves the client."""
        fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        broken = dict(name="broken", secret=S2, aws="{ external_id: ext-WRONG-value }")
        gw = Gateway(url, [CLIENTS[0], broken])
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and "credentials for" not in gw.logs():
                time.sleep(0.1)
            self.assertEqual(call(gw.url, "/readyz", method="GET", body=None)[0], 200)
            self.assertEqual(call(gw.url, "/model/%s/converse" % MODEL, headers=bearer(S1))[0], 200)
            self.assertEqual(call(gw.url, "/model/%s/converse" % MODEL, headers=bearer(S2))[0], 503)
            logs = gw.logs()
            warning = [line for line in logs.splitlines() if "credentials for" in line][0]
            self.assertIn(" warning ", warning)
            self.assertIn(ROLE + " as signgate-broken", warning)
            self.assertIn("AccessDenied", warning)
            self.assertNotIn("ext-WRONG-value", logs)
            self.assertNotIn(BASE_SECRET, logs)
            self.assertNotIn("signgate-flashback", warning)
            failed = r'signgate_credential_failures_total\{role_session="%s/signgate-broken"\} [1-9]' % ROLE
            metrics = gw.wait_metrics(lambda text: re.search(failed, text))
            self.assertRegex(metrics, failed)
            self.assertNotIn('role_session="%s/signgate"}' % ROLE, metrics, "no session that no client uses")

            broken["aws"] = "{ external_id: %s }" % EXTERNAL_ID
            gw.write_config([CLIENTS[0], broken])
            gw.reload()
            wait_for(lambda: converse_status(gw, S2) == 200, 10)
            self.assertEqual(converse_status(gw, S2), 200)
            self.assertIn("2 clients; clients changed broken (aws)", gw.logs())
        finally:
            gw.stop()
            fake.shutdown()

    def test_a_reload_that_removes_every_client_is_applied(self):
        """check-config refuses a config with no clients, but a reload must never be refused for
        taking access away: the last client's key stops working."""
        fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        gw = Gateway(url, [CLIENTS[0]])
        try:
            self.assertEqual(call(gw.url, "/model/%s/converse" % MODEL, headers=bearer(S1))[0], 200)
            gw.write_config([])
            gw.reload()
            wait_for(lambda: converse_status(gw, S1) == 401, 10)
            self.assertEqual(converse_status(gw, S1), 401)
            self.assertIn("clients: none are configured", gw.logs())
            self.assertIn("0 clients; clients removed", gw.logs())
        finally:
            gw.stop()
            fake.shutdown()

    def test_not_ready_only_when_no_identity_can_sign(self):
        fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        gw = Gateway(url, [dict(CLIENTS[0], aws="{ external_id: ext-WRONG-1 }"),
                           dict(name="other", secret=S2, aws="{ external_id: ext-WRONG-2 }")])
        try:
            time.sleep(0.5)
            status, _, body = call(gw.url, "/readyz", method="GET", body=None)
            self.assertEqual(status, 503)
            self.assertTrue(body.endswith(b"\n"), "a JSON body of signgate's own ends its line")
        finally:
            gw.stop()
            fake.shutdown()


if __name__ == "__main__":
    unittest.main(verbosity=2)
