#!/usr/bin/python3
"""Routes (SPEC §7, issue 28): a caller's model is served by one of several targets, in other
regions and accounts. Three emulators stand in for them, each verifying SigV4 with botocore and
refusing a signature scoped to another region: east (the gateway's own account, us-east-1),
west (a second account, us-west-2, whose STS issues the credentials only it accepts) and eu
(east's account in eu-west-1). Each has its own failure switch (aws_fake's `fail`), so a test
can throttle one region and watch the caller be served by another."""
import http.client
import json
import os
import re
import socket
import struct
import sys
import threading
import time
import unittest
import urllib.parse

from common import SLOWDOWN, run, tempdir, wait_for
import aws_fake
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway, sha256
from redis_server import RedisServer

SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
EU_SONNET = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
OVERFLOW_ROLE = "arn:aws:iam::444455556666:role/signgate-bedrock"
OVERFLOW_EXTERNAL_ID = "ext-overflow-1"
SECRET = "sgk_routes_TEST_secret_0123456789abcdef"
CLIENTS = [{"name": "routes", "secret": SECRET, "models": '["anthropic.*"]'}]
AUTH = {"Authorization": "Bearer " + SECRET, "Content-Type": "application/json"}
THROTTLED = {"type": "ThrottlingException"}  # every call, until switched off

# Targets by name; %(east)s and the like become the emulators' URLs.
EAST = '{ name: east, identity: default, region: us-east-1, bedrock_endpoint: "%(east)s" }'
WEST = '{ name: west, identity: overflow, bedrock_endpoint: "%(west)s" }'


def route(targets, name="sonnet", match='["anthropic.claude-sonnet-*"]', **fields):
    """One entry of routes:, its fields in flow style."""
    text = "  - name: %s\n    match: %s\n" % (name, match) if name else "  - match: %s\n" % match
    for key, value in fields.items():
        text += "    %s: %s\n" % (key, value)
    return text + "    targets:\n" + "".join("      - %s\n" % t for t in targets)


def converse(text="hi", system=None, turns=()):
    body = {"messages": [{"role": "user", "content": [{"text": text}]}]}
    for i, turn in enumerate(turns):
        body["messages"].append({"role": "assistant" if i % 2 == 0 else "user", "content": [{"text": turn}]})
    if system:
        body["system"] = [{"text": system}]
    return json.dumps(body)


def call(url, path, body, headers=AUTH, method="POST", timeout=60):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def metric(text, name, **labels):
    """The sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(r"^%s(?:\{(.*)\})? (\S+)$" % re.escape(name), line)
        if m and all('%s="%s"' % kv in (m.group(1) or "") for kv in labels.items()):
            total += float(m.group(2))
    return total


def event_stream(data):
    """Event-stream frames as (message type, event or exception type, payload)."""
    out = []
    while len(data) >= 16:
        total, header_length = struct.unpack(">II", data[:8])
        message, data = data[:total], data[total:]
        headers, i, raw = {}, 0, message[12:12 + header_length]
        while i < len(raw):
            n = raw[i]
            name = raw[i + 1:i + 1 + n].decode()
            length = struct.unpack(">H", raw[i + 2 + n:i + 4 + n])[0]
            headers[name] = raw[i + 4 + n:i + 4 + n + length].decode()
            i += 4 + n + length
        out.append((headers.get(":message-type"), headers.get(":event-type") or headers.get(":exception-type"),
                    json.loads(message[12 + header_length:-4] or b"{}")))
    return out


def sse(data):
    """Server-sent events as (event name or None, data as text)."""
    events = []
    for block in data.decode().split("\n\n"):
        name = None
        lines = [l for l in block.split("\n") if l]
        for line in lines:
            if line.startswith("event: "):
                name = line[7:]
        payload = "\n".join(l[6:] for l in lines if l.startswith("data: "))
        if lines:
            events.append((name, payload))
    return events


class Routes(unittest.TestCase):
    """Three emulators and, once a test says its routes, one gateway."""

    def setUp(self):
        self.fakes = []
        self.gw = None
        self.east, east = self.fake(region="us-east-1", roles={ROLE: EXTERNAL_ID})
        self.west, west = self.fake(region="us-west-2", roles={OVERFLOW_ROLE: OVERFLOW_EXTERNAL_ID})
        self.eu, eu = self.fake(region="eu-west-1", same_account_as=self.east)
        self.urls = {"east": east, "west": west, "eu": eu}
        self.by_name = {"east": self.east, "west": self.west, "eu": self.eu}

    def fake(self, **options):
        server, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, **options)
        report = server.handle_error

        def quiet(request, address):  # signgate dropping a pooled connection is no error
            if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
                report(request, address)
        server.handle_error = quiet
        self.fakes.append(server)
        return server, url

    def tearDown(self):
        rc = self.gw.stop() if self.gw else 0
        for f in self.fakes:
            f.shutdown()
            f.server_close()
        self.assertEqual(rc, 0, "signgate exited %s:\n%s" % (rc, self.gw.logs()[-3000:] if self.gw else ""))

    def config(self, routes, extra=""):
        return ("identities:\n  overflow:\n    role_arn: %s\n    external_id: %s\n    region: us-west-2\n"
                "    sts_endpoint: \"%s\"\nroutes:\n%s%s" % (OVERFLOW_ROLE, OVERFLOW_EXTERNAL_ID, self.urls["west"],
                                                         "".join(routes) % self.urls, extra))

    def start(self, routes, extra="", clients=CLIENTS):
        self.gw = Gateway(self.urls["east"], clients, extra=self.config(routes, extra))
        wait_for(lambda: call(self.gw.url, "/readyz", None, {}, "GET")[0] == 200, 10)
        # Each identity a route names is assumed at start (west's STS is the overflow account's).
        wait_for(lambda: self.west.counts.get("issued_AssumeRole", 0) >= 1, 10)
        return self.gw

    def send(self, path="/model/%s/converse" % SONNET, body=None):
        """(status, headers, body, audit line) of one call."""
        status, headers, data = call(self.gw.url, path, converse() if body is None else body)
        line = self.gw.audit_line_of(headers.get("x-request-id"))
        self.assertIsNotNone(line, "no audit line for %s" % headers.get("x-request-id"))
        return status, headers, data, line

    def assertLine(self, line, **expected):
        self.assertEqual({k: line.get(k) for k in expected}, expected, line)

    def tried(self, fake, operation=None, model=None):
        return sum(1 for r in fake.requests_to(operation) if model in (None, r["model"]))

    def metrics(self, expected=lambda text: True):
        return self.gw.wait_metrics(expected)


class Failover(Routes):
    # A throttled region no longer means a 429: the caller is served by another account's region.
    def test_a_throttled_target_fails_over_to_another_account_and_region(self):
        self.east.fail = dict(THROTTLED)
        self.start([route([EAST, WEST])])
        self.assertGreaterEqual(self.west.counts.get("issued_AssumeRole", 0), 1, "overflow assumed at start")
        self.assertEqual((self.west.last_assume_role["RoleArn"], self.west.last_assume_role["ExternalId"]),
                         (OVERFLOW_ROLE, OVERFLOW_EXTERNAL_ID))
        status, _, body, line = self.send()
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["output"]["message"]["content"][0]["text"], "Hello from " + SONNET)
        self.assertLine(line, status=200, route="sonnet", target="west", identity="overflow", region="us-west-2",
                        attempts=2, model=SONNET)
        self.assertIsNone(line.get("target_model"))
        # Each attempt signed for its own region, by its own account's credentials.
        [east] = self.east.requests_to("converse")
        self.assertEqual((east["region"], east["outcome"]), ("us-east-1", "failed_ThrottlingException"))
        self.assertIn(east["access_key"], self.east.issued)
        [west] = self.west.requests_to("converse")
        self.assertEqual((west["region"], west["outcome"], west["model"]), ("us-west-2", "served", SONNET))
        self.assertIn(west["access_key"], self.west.issued)
        self.assertNotIn(west["access_key"], self.east.issued)
        text = self.metrics(lambda t: metric(t, "signgate_route_failovers_total", route="sonnet", target="east") >= 1)
        self.assertEqual(metric(text, "signgate_route_attempts_total", route="sonnet", target="east",
                                outcome="throttled"), 1)
        self.assertEqual(metric(text, "signgate_route_attempts_total", route="sonnet", target="west", outcome="ok"), 1)
        self.assertEqual(metric(text, "signgate_route_failovers_total", route="sonnet", target="west"), 0)

    # Unavailable, unreachable and silent regions are failed over too, each attempt at once.
    def test_unavailable_unreachable_and_silent_targets_fail_over(self):
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        dead = "http://127.0.0.1:%d" % closed.getsockname()[1]
        closed.close()  # nothing listens there: connection refused
        self.start([route([EAST, WEST], eject="{ after: 50, for_seconds: 30 }"),
                    route(['{ name: closed, region: us-east-1, bedrock_endpoint: "%s" }' % dead, WEST],
                          name="haiku", match='["anthropic.claude-3-haiku-*"]')],
                   extra="upstream:\n  first_byte_timeout_ms: 1500\n")
        self.east.fail = {"type": "ServiceUnavailableException"}
        status, _, body, line = self.send()
        self.assertEqual(status, 200, body)
        self.assertLine(line, target="west", attempts=2)
        self.east.fail = {"mode": "hang"}
        status, _, body, line = self.send()
        self.assertEqual(status, 200, body)
        self.assertLine(line, target="west", attempts=2)
        self.assertTrue(wait_for(lambda: self.east.counts.get("caller_gone", 0) == 1, 10), "the silent call was left")
        status, _, body, line = self.send("/model/%s/converse" % HAIKU)
        self.assertEqual(status, 200, body)
        self.assertLine(line, route="haiku", target="west", attempts=2, model=HAIKU)
        self.assertEqual(self.tried(self.east), 2, "one attempt each on east, no retries before failing over")
        text = self.metrics(lambda t: metric(t, "signgate_route_attempts_total", route="haiku", target="closed") >= 1)
        for target, outcome, n in (("east", "unavailable", 1), ("east", "timeout", 1), ("west", "ok", 2)):
            self.assertEqual(metric(text, "signgate_route_attempts_total", route="sonnet", target=target,
                                    outcome=outcome), n, (target, outcome))
        self.assertEqual(metric(text, "signgate_route_attempts_total", route="haiku", target="closed",
                                outcome="unavailable"), 1)

    # A request Bedrock calls wrong is wrong in every region: relayed as it is, tried once.
    def test_a_validation_error_is_relayed_from_the_first_target(self):
        self.start([route([EAST, WEST])])
        self.east.fail = {"type": "ValidationException", "message": "messages: text field is blank"}
        status, headers, body, line = self.send()
        self.assertEqual((status, headers.get("x-amzn-errortype")), (400, "ValidationException"), body)
        self.assertEqual(json.loads(body)["message"], "messages: text field is blank")
        self.assertLine(line, status=400, target="east", attempts=1)
        self.assertEqual((self.tried(self.east), self.tried(self.west)), (1, 0))

    # ServiceQuotaExceededException is a 400 but means throttling: it fails over.
    def test_a_service_quota_error_fails_over_as_throttling(self):
        self.start([route([EAST, WEST])])
        self.east.fail = {"type": "ServiceQuotaExceededException"}
        status, _, body, line = self.send()
        self.assertEqual(status, 200, body)
        self.assertLine(line, target="west", attempts=2)
        text = self.metrics(lambda t: metric(t, "signgate_route_attempts_total", target="west") >= 1)
        self.assertEqual(metric(text, "signgate_route_attempts_total", route="sonnet", target="east",
                                outcome="throttled"), 1)

    # Only the kinds a route lists fail over: model_error does on the route that asks for it.
    def test_only_the_listed_kinds_fail_over(self):
        self.start([route([EAST, WEST]),
                    route([EAST, WEST], name="haiku", match='["anthropic.claude-3-haiku-*"]',
                          fail_over_on="[throttled, model_error]")])
        self.east.fail = {"type": "ModelErrorException"}
        status, _, _, line = self.send()
        self.assertEqual(status, 424)
        self.assertLine(line, target="east", attempts=1)
        status, _, body, line = self.send("/model/%s/converse" % HAIKU)
        self.assertEqual(status, 200, body)
        self.assertLine(line, route="haiku", target="west", attempts=2)

    # Every region throttling: one try each, the last one's retries, then a 429 the caller can wait out.
    def test_when_every_target_throttles_the_caller_gets_429_with_retry_after(self):
        self.start([route([EAST, WEST]),
                    route([EAST, WEST], name="haiku", match='["anthropic.claude-3-haiku-*"]',
                          eject="{ after: 1, for_seconds: 30 }")], extra="upstream:\n  max_retries: 1\n")
        # The last target's Retry-After reaches a native caller as Bedrock said it.
        self.east.fail, self.west.fail = dict(THROTTLED), dict(THROTTLED, retry_after="7")
        status, headers, body, line = self.send()
        self.assertEqual((status, headers.get("x-amzn-errortype")), (429, "ThrottlingException"), body)
        self.assertEqual(headers.get("retry-after"), "7")
        self.assertEqual((self.tried(self.east), self.tried(self.west)), (1, 2), "retries only on the last target")
        self.assertGreaterEqual(line["attempts"], 2, line)  # one per target; the last one's retries may count
        status, headers, body = call(self.gw.url, "/v1/chat/completions", json.dumps(
            {"model": SONNET, "messages": [{"role": "user", "content": "hi"}]}))
        self.assertEqual((status, json.loads(body)["error"]["type"]), (429, "rate_limit_error"))
        self.assertIn("retry-after", headers)
        status, headers, body = call(self.gw.url, "/v1/messages", json.dumps(
            {"model": SONNET, "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}))
        self.assertEqual((status, json.loads(body)["error"]["type"]), (429, "rate_limit_error"))
        self.assertIn("retry-after", headers)
        # On haiku's route one failure ejects: after one call both targets are out, and the one
        # that failed least recently (east, tried first) is still tried rather than nothing.
        status, _, body, line = self.send("/model/%s/converse" % HAIKU)
        self.assertEqual(status, 429, body)
        text = self.metrics(lambda t: metric(t, "signgate_route_target_ejected", route="haiku") == 2)
        self.assertEqual(metric(text, "signgate_route_target_ejected", route="haiku"), 2, text)
        self.east.fail = None
        status, _, body, line = self.send("/model/%s/converse" % HAIKU)
        self.assertEqual(status, 200, body)
        self.assertLine(line, route="haiku", target="east")
        self.assertEqual(self.tried(self.west, model=HAIKU), 2, "west, the more recently failed, was left alone")


class Readiness(Routes):
    # An identity STS refuses (here: the wrong External ID) is named in /readyz's detail, its
    # targets are passed over, and the replica stays ready while another target serves.
    def test_an_identity_sts_refuses_is_reported_and_passed_over(self):
        self.west.roles = {OVERFLOW_ROLE: "ext-not-the-right-one"}
        self.gw = Gateway(self.urls["east"], CLIENTS, extra=self.config([route([WEST, EAST])]))
        self.assertTrue(wait_for(lambda: self.west.counts.get("assume_role_denied", 0) >= 1, 10))

        def detail():
            status, _, body = call(self.gw.url, "/readyz", None, {}, "GET")
            return status, json.loads(body)
        self.assertTrue(wait_for(lambda: detail()[1].get("routes", {}).get("identities_unavailable") == ["overflow"],
                                 10), detail())
        status, body = detail()
        self.assertEqual((status, body["status"]), (200, "ready"))
        self.assertEqual(body["routes"]["ejected_targets"], [])
        status, _, data, line = self.send()
        self.assertEqual(status, 200, data)
        self.assertLine(line, target="east", attempts=1)
        self.assertEqual(self.tried(self.west), 0)
        self.assertNotIn("ext-not-the-right-one", self.gw.logs())  # no External ID in the log


class Streams(Routes):
    def stream_paths(self):
        return [("/model/%s/converse-stream" % SONNET, converse()),
                ("/v1/chat/completions", json.dumps({"model": SONNET, "stream": True,
                                                     "messages": [{"role": "user", "content": "hi"}]})),
                ("/v1/messages", json.dumps({"model": SONNET, "max_tokens": 20, "stream": True,
                                             "messages": [{"role": "user", "content": "hi"}]}))]

    def text_of(self, path, body):
        """The answer's text and whether the stream carried an error."""
        if path.startswith("/model/"):
            frames = event_stream(body)
            return ("".join(p.get("delta", {}).get("text", "") for _, _, p in frames),
                    any(kind != "event" for kind, _, _ in frames))
        text, error = "", False
        for name, data in sse(body):
            if name == "error" or '"error"' in data:
                error = True
            if data in ("", "[DONE]") or data.startswith("[DONE]"):
                continue
            event = json.loads(data)
            if path == "/v1/chat/completions":
                text += "".join((c.get("delta") or {}).get("content") or "" for c in event.get("choices") or [])
            elif event.get("type") == "content_block_delta":
                text += event["delta"].get("text", "")
        return text, error

    # Bedrock throttles inside a 200 stream before any content: that is still a failover, and
    # the caller sees one clean stream from the next region.
    def test_a_stream_throttled_before_content_fails_over_cleanly(self):
        self.start([route([EAST, WEST], eject="{ after: 50, for_seconds: 30 }")])
        self.east.fail = {"mode": "stream_throttle_first"}
        for path, body in self.stream_paths():
            with self.subTest(path=path):
                status, _, data, line = self.send(path, body)
                self.assertEqual(status, 200, data)
                self.assertEqual(self.text_of(path, data), ("Hello from " + SONNET, False), data)
                self.assertLine(line, target="west", attempts=2, region="us-west-2")
        self.assertEqual(self.east.counts.get("failed_stream_throttle_first"), 3)

    # Once content has reached the caller a stream is never retried: it ends with the error.
    def test_a_stream_throttled_after_content_is_not_retried(self):
        self.start([route([EAST, WEST], eject="{ after: 50, for_seconds: 30 }")])
        self.east.fail = {"mode": "stream_throttle_after"}
        for path, body in self.stream_paths():
            with self.subTest(path=path):
                status, _, data, line = self.send(path, body)
                self.assertEqual(status, 200, data)
                text, error = self.text_of(path, data)
                self.assertTrue(error, data)
                self.assertEqual(text, "Hello", data)
                self.assertLine(line, target="east", attempts=1)
        self.assertEqual(self.tried(self.west), 0)


class Ejection(Routes):
    def until(self, predicate, seconds=20):
        """Sends calls until `predicate(line)` holds for one's audit line; that line, or None."""
        deadline = time.monotonic() + seconds * SLOWDOWN
        while time.monotonic() < deadline:
            status, _, body, line = self.send()
            self.assertEqual(status, 200, body)
            if predicate(line):
                return line
            time.sleep(0.1)
        return None

    # A region that keeps failing gets no traffic for a while, then one probe, then its share back.
    def test_a_failing_target_is_ejected_probed_once_and_restored(self):
        self.start([route([EAST, WEST], eject="{ after: 2, for_seconds: 4 }")])
        self.east.fail = dict(THROTTLED)
        for _ in range(2):
            self.assertLine(self.send()[3], target="west", attempts=2)
        for _ in range(4):
            self.assertLine(self.send()[3], target="west", attempts=1)
        self.assertEqual(self.tried(self.east), 2, "no traffic while ejected")
        text = self.metrics(lambda t: metric(t, "signgate_route_target_ejected", route="sonnet", target="east") == 1)
        self.assertEqual(metric(text, "signgate_route_target_ejected", route="sonnet", target="east"), 1)
        self.assertGreaterEqual(metric(text, "signgate_route_ejections_total", route="sonnet", target="east"), 1)
        self.assertEqual(metric(text, "signgate_route_target_ejected", route="sonnet", target="west"), 0)
        status, _, body = call(self.gw.url, "/readyz", None, {}, "GET")
        self.assertEqual(status, 200, "an ejected target does not turn readiness red while another serves")
        self.assertIn(b"ejected", body, "readiness names the ejected target")
        self.assertIn(b"east", body, "readiness names the ejected target")
        # Past for_seconds, eight calls at once: one of them is the probe, the others skip east.
        time.sleep(4.5)
        results = []
        threads = [threading.Thread(target=lambda: results.append(call(self.gw.url, "/model/%s/converse" % SONNET,
                                                                        converse())[0])) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [200] * 8)
        self.assertEqual(self.tried(self.east), 3, "exactly one half-open probe")
        self.assertLine(self.send()[3], target="west", attempts=1)  # the failed probe ejected it again
        self.east.fail = None
        line = self.until(lambda l: l["target"] == "east")
        self.assertIsNotNone(line, "east was never probed again once healthy")
        self.assertLine(line, attempts=1, region="us-east-1", identity="default")
        for _ in range(3):
            self.assertLine(self.send()[3], target="east", attempts=1)
        text = self.metrics(lambda t: metric(t, "signgate_route_target_ejected", route="sonnet", target="east") == 0)
        self.assertEqual(metric(text, "signgate_route_target_ejected", route="sonnet", target="east"), 0)


class Balancing(Routes):
    WEIGHTED = ['{ name: east, region: us-east-1, bedrock_endpoint: "%(east)s", weight: 1 }',
                '{ name: west, identity: overflow, bedrock_endpoint: "%(west)s", weight: 3 }']

    # Weights spread load over accounts: 1:3 gives the heavy one about three quarters.
    def test_weighted_targets_share_calls_by_weight(self):
        self.start([route(self.WEIGHTED, strategy="weighted", sticky="none")])
        statuses = []

        def worker(n):
            for i in range(n):
                statuses.append(call(self.gw.url, "/model/%s/converse" % SONNET, converse("question %d" % i))[0])
        threads = [threading.Thread(target=worker, args=(50,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(statuses, [200] * 200)
        east, west = self.tried(self.east), self.tried(self.west)
        self.assertEqual(east + west, 200, "no call failed over or was retried")
        self.assertTrue(0.6 <= west / 200 <= 0.9, "west (weight 3) served %d of 200" % west)
        lines = self.gw.wait_audit(200)
        self.assertEqual(sum(1 for l in lines if l.get("target") == "west"), west)

    # Calls sharing a prompt prefix stay where Bedrock's prompt cache for it lives, even under
    # weights; after a failover they stay where the cache now is.
    def test_a_prompt_prefix_sticks_to_its_target_and_moves_only_on_failure(self):
        equal = [t.replace("weight: 3", "weight: 1") for t in self.WEIGHTED]
        self.start([route(equal, strategy="weighted", sticky="prefix"),
                    route(equal, name="haiku", match='["anthropic.claude-3-haiku-*"]', strategy="weighted",
                          sticky="client")], extra="limits:\n  sticky_entries: 1000\n")
        system = "You are the billing assistant of Example Corp. Answer briefly."

        def ask(i, system=system, model=SONNET, first="Summarise my last invoice."):
            status, _, body, line = self.send("/model/%s/converse" % model,
                                              converse(first, system, turns=("Which month?", "Month %d." % i)))
            self.assertEqual(status, 200, body)
            return line
        # sticky: client — one client's calls, whatever their prompts, go to one target.
        self.assertEqual(len({ask(i, "prompt %d" % i, HAIKU)["target"] for i in range(10)}), 1)
        # sticky: prefix — the same system prompt and first message, twelve times: one target.
        targets = {ask(i)["target"] for i in range(12)}
        self.assertEqual(len(targets), 1, targets)
        home = targets.pop()
        other = "west" if home == "east" else "east"
        # Other prefixes are spread by weight (all sixteen on one target: 1 in 32,768).
        spread = {ask(0, "Assistant number %d." % i)["target"] for i in range(16)}
        self.assertEqual(spread, {"east", "west"})
        # Its target throttles: the key fails over once, then stays on the new target even when
        # the old one is healthy again (its cache now lives there).
        before = self.tried(self.by_name[home], "converse")
        self.by_name[home].fail = dict(THROTTLED)
        self.assertLine(ask(100), target=other, attempts=2)
        self.by_name[home].fail = None
        for i in range(10):
            self.assertLine(ask(200 + i), target=other, attempts=1)
        self.assertEqual(self.tried(self.by_name[home], "converse"), before + 1)


class Surfaces(Routes):
    # OpenAI and Anthropic callers name an alias: they follow the same route and see their alias.
    def test_translated_surfaces_follow_the_route_and_name_the_model_as_asked(self):
        self.start([route([EAST, WEST], match='["claude-sonnet"]', eject="{ after: 50, for_seconds: 30 }")],
                   extra="models:\n  claude-sonnet: %s\n" % SONNET)
        self.east.fail = dict(THROTTLED)
        # /v1/messages relays Bedrock's Messages body as Bedrock wrote it (its "model" included);
        # the translated surfaces name the model as the caller did.
        for path, body, said, named in (
                ("/v1/chat/completions", {"model": "claude-sonnet", "messages": [{"role": "user", "content": "hi"}]},
                 "Hello from " + SONNET, "claude-sonnet"),
                ("/v1/messages", {"model": "claude-sonnet", "max_tokens": 20,
                                  "messages": [{"role": "user", "content": "hi"}]}, "echo", None),
                ("/v1/messages/count_tokens", {"model": "claude-sonnet", "messages": [{"role": "user", "content": "hi"}]},
                 "input_tokens", None),
                ("/v1/responses", {"model": "claude-sonnet", "input": "hi"}, "Hello from " + SONNET, "claude-sonnet")):
            with self.subTest(path=path):
                status, _, data, line = self.send(path, json.dumps(body))
                self.assertEqual(status, 200, data)
                if named:
                    self.assertEqual(json.loads(data)["model"], named)
                self.assertIn(said, data.decode())
                self.assertLine(line, route="sonnet", target="west", identity="overflow", attempts=2)
                self.assertIn(line["model"], ("claude-sonnet", SONNET), line)
        self.assertEqual({r["model"] for r in self.west.requests_to()}, {SONNET})

    # A target may send another model (a profile of its region); the caller's allowlist is judged
    # on what it asked, and it still sees its own model. Unnamed routes and targets get default names.
    def test_a_target_overriding_the_model_and_default_names(self):
        eu = '{ region: eu-west-1, model: "%s", bedrock_endpoint: "%%(eu)s" }' % EU_SONNET
        east = '{ region: us-east-1, bedrock_endpoint: "%(east)s" }'
        self.start([route([east, eu], name=None)])
        self.east.fail = dict(THROTTLED)
        status, _, body, line = self.send()
        self.assertEqual(status, 200, body)
        self.assertLine(line, route="anthropic.claude-sonnet-*", target="default/eu-west-1/" + EU_SONNET,
                        identity="default", region="eu-west-1", attempts=2, model=SONNET, target_model=EU_SONNET)
        [sent] = self.eu.requests_to("converse")
        self.assertEqual((sent["model"], sent["region"]), (EU_SONNET, "eu-west-1"))
        self.assertIn(sent["access_key"], self.east.issued, "the default identity, signing in another region")
        status, _, body, line = self.send("/v1/chat/completions", json.dumps(
            {"model": SONNET, "messages": [{"role": "user", "content": "hi"}]}))
        self.assertEqual((status, json.loads(body)["model"]), (200, SONNET))
        self.assertLine(line, target="default/eu-west-1/" + EU_SONNET, target_model=EU_SONNET)
        text = self.metrics(lambda t: metric(t, "signgate_route_failovers_total") >= 2)
        self.assertEqual(metric(text, "signgate_route_failovers_total", route="anthropic.claude-sonnet-*",
                                target="default/us-east-1"), 2)


class Config(Routes):
    def write(self, d, text):
        path = os.path.join(d, "signgate.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def full(self, routes):
        return ("listen: 127.0.0.1:0\naws:\n  region: us-east-1\n  role_arn: %s\n  external_id: %s\n"
                "clients:\n  - name: a\n    secret_sha256: %s\n    models: ['anthropic.*']\n%s"
                % (ROLE, EXTERNAL_ID, sha256("a"), self.config(routes)))

    # A route that could never serve, or serve as written, is refused with its file and line.
    def test_check_config_and_reload_refuse_broken_routes(self):
        with tempdir() as d:
            env = {"HOME": d, "AWS_EC2_METADATA_DISABLED": "true"}
            good = self.full([route([EAST, WEST])])
            p = run("check-config", "--config", self.write(d, good), env=env, clear_aws=True)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            first = good.splitlines().index("routes:") + 1
            cases = [
                ("unknown identity", [route([EAST, '{ identity: nosuch, bedrock_endpoint: "%(west)s" }'])], "nosuch"),
                ("empty targets", [route([]).replace("targets:\n", "targets: []\n")], "targets"),
                ("duplicate targets", [route([EAST, '{ name: east2, region: us-east-1, bedrock_endpoint: '
                                                    '"%(eu)s" }'])], "duplicate"),
                ("weight 0", [route([EAST, WEST.replace(" }", ", weight: 0 }")], strategy="weighted")], "weight"),
                ("negative weight", [route([EAST, WEST.replace(" }", ", weight: -1 }")], strategy="weighted")],
                 "weight"),
            ]
            for name, routes, word in cases:
                with self.subTest(case=name):
                    text = self.full(routes)
                    path = self.write(d, text)
                    for command in ("check-config", "serve"):
                        p = run(command, "--config", path, env=env, clear_aws=True, timeout=20)
                        err = p.stderr.decode()
                        self.assertEqual(p.returncode, 2, command + ": " + err)
                        m = re.search(r"signgate\.yaml:(\d+):", err)
                        self.assertTrue(m, err)
                        self.assertTrue(first <= int(m.group(1)) <= len(text.splitlines()), (m.group(0), text))
                        self.assertIn(word, err.lower(), err)
        # A running gateway keeps its routes when a reload brings a broken one.
        self.start([route([EAST, WEST])])
        self.gw.write_config(CLIENTS, self.config(cases[0][1]))
        self.gw.reload()
        self.assertTrue(wait_for(lambda: "reload (SIGHUP) refused" in self.gw.logs(), 10), self.gw.logs())
        self.east.fail = dict(THROTTLED)
        self.assertLine(self.send()[3], target="west", attempts=2)


class Fleet(Routes):
    """Two replicas on one Redis, as behind a load balancer."""

    def setUp(self):
        super().setUp()
        self.redis = RedisServer()
        self.other = None

    def tearDown(self):
        rc = self.other.stop() if self.other else 0
        try:
            super().tearDown()
        finally:
            self.redis.stop()
        self.assertEqual(rc, 0)

    def start_both(self, routes):
        extra = "redis:\n  url: \"%s\"\n" % self.redis.url
        self.start(routes, extra)
        self.other = Gateway(self.urls["east"], CLIENTS, extra=self.config(routes, extra))
        wait_for(lambda: call(self.other.url, "/readyz", None, {}, "GET")[0] == 200, 10)

    def send_to(self, gw, body=None):
        status, headers, data = call(gw.url, "/model/%s/converse" % SONNET, converse() if body is None else body)
        self.assertEqual(status, 200, data)
        return gw.audit_line_of(headers.get("x-request-id"))

    # A target one replica ejects is left alone by the others at once, without each of them
    # failing on it first.
    def test_an_ejection_is_shared_by_the_fleet(self):
        self.start_both([route([EAST, WEST], eject="{ after: 3, for_seconds: 30 }")])
        self.east.fail = dict(THROTTLED)
        for _ in range(3):
            self.assertLine(self.send_to(self.gw), target="west", attempts=2)
        # The other replica has not called east once, yet knows it is out.
        self.assertTrue(wait_for(lambda: metric(self.other.metrics(), "signgate_route_target_ejected",
                                                route="sonnet", target="east") == 1, 10),
                        "the ejection did not reach the other replica")
        tried = self.tried(self.east)
        for _ in range(3):
            self.assertLine(self.send_to(self.other), target="west", attempts=1)
        self.assertEqual(self.tried(self.east), tried)

    # Where a prompt prefix went is shared: calls spread over replicas keep one target's cache warm.
    def test_sticky_keys_are_shared_by_the_fleet(self):
        equal = ['{ name: east, region: us-east-1, bedrock_endpoint: "%(east)s" }',
                 '{ name: west, identity: overflow, bedrock_endpoint: "%(west)s" }']
        self.start_both([route(equal, strategy="weighted", sticky="prefix")])
        # Twelve prompts, each first sent to one replica: the other sends it to the same target
        # (by chance alone, for all twelve: 1 in 4,096).
        for i in range(12):
            body = converse("Summarise invoice %d." % i, "You are billing assistant number %d." % i)
            home = self.send_to(self.gw, body)["target"]
            places = {self.send_to(gw, body)["target"] for gw in (self.other, self.gw, self.other)}
            self.assertEqual(places, {home}, "prompt %d" % i)

if __name__ == "__main__":
    unittest.main(verbosity=2)
