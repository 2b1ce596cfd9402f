#!/usr/bin/python3
"""A caller that leaves a stream before Bedrock's closing usage still pays for it (issue 27).

Bedrock bills every token it produced, read or not. A client with a budget of 40 tokens a day
reads part of a 60-token answer, then leaves (HTTP/1.1: it closes the socket; HTTP/2: it resets
the stream), on every streamed surface. signgate reads on without relaying, charges the 72
tokens Bedrock reports, says so in the audit line, and the client's next call is over budget.
Where the usage cannot arrive within limits.abandoned_stream_seconds (a model that stalls),
the documented estimate is charged instead."""
import json
import socket
import struct
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from common import ROOT, wait_for  # noqa: F401  (ROOT puts tests/fakes on the path)
import aws_fake
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway
from http2_test import DATA, RST_STREAM, Connection, frame

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
STALL = "anthropic.stall-v1:0"  # two frames, then 30 s of silence
PROMPT = "count to 60"  # 60 words, one event each; Bedrock reports 12 input and 60 output tokens


def converse_body(text, model=MODEL):
    return json.dumps({"messages": [{"role": "user", "content": [{"text": text}]}]})


# Each streamed surface: (path for a model, body for a prompt and a model).
SURFACES = {
    "converse-stream": (lambda m: "/model/%s/converse-stream" % m, converse_body),
    "invoke-stream": (lambda m: "/model/%s/invoke-with-response-stream" % m,
                      lambda t, m: json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
                                               "messages": [{"role": "user", "content": t}]})),
    "chat": (lambda m: "/v1/chat/completions",
             lambda t, m: json.dumps({"model": m, "stream": True, "messages": [{"role": "user", "content": t}]})),
    "responses": (lambda m: "/v1/responses", lambda t, m: json.dumps({"model": m, "stream": True, "input": t})),
    "messages": (lambda m: "/v1/messages",
                 lambda t, m: json.dumps({"model": m, "max_tokens": 100, "stream": True,
                                          "messages": [{"role": "user", "content": t}]})),
}
PROTOCOLS = ("h1", "h2")


def secret(name):
    return "sgk_abandoned_%s_0123456789abcdef" % name.replace("-", "_")


CLIENTS = [{"name": "%s-%s" % (s, p), "secret": secret("%s-%s" % (s, p)), "models": '["anthropic.*"]',
            "budget": "{ tokens_per_day: 40 }"} for s in SURFACES for p in PROTOCOLS]
CLIENTS += [{"name": "stall-%s" % s, "secret": secret("stall-" + s), "models": '["anthropic.*"]'}
            for s in ("converse-stream", "messages")]


def headers(client):
    return [("authorization", "Bearer " + secret(client)), ("content-type", "application/json")]


def ready(url):
    """Every client's role session holds credentials (each is fetched on its own)."""
    return ready_for(url, len(CLIENTS))


def ready_for(url, sessions):
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
            lines = [l for l in r.read().decode().splitlines()
                     if l.startswith("signgate_credential_seconds_to_expiry{")]
    except (urllib.error.URLError, OSError):
        return False
    return len(lines) == sessions and all(float(l.rsplit(" ", 1)[1]) > 0 for l in lines)


class AbandonedStreams(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # 20 ms between frames: a 60-word answer takes more than a second, time to leave mid-way.
        cls.fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID}, frame_delay=0.02)
        cls.gw = Gateway(url, CLIENTS, extra="limits: { abandoned_stream_seconds: 2 }\n")
        assert wait_for(lambda: ready(cls.gw.url)), "signgate never held every client's credentials"

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        cls.fake.shutdown()
        assert rc == 0, "signgate exited %s:\n%s" % (rc, cls.gw.logs()[-4000:])

    def leave_h1(self, client, path, body):
        """Sends the request, reads the head and the first content, then closes the socket."""
        u = urllib.parse.urlsplit(self.gw.url)
        sock = socket.create_connection((u.hostname, u.port), timeout=10)
        head = "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n" % (path, u.netloc, len(body))
        head += "".join("%s: %s\r\n" % h for h in headers(client)) + "\r\n"
        sock.sendall(head.encode() + body.encode())
        got = b""
        while b"\r\n\r\n" not in got or len(got.split(b"\r\n\r\n", 1)[1]) == 0:
            chunk = sock.recv(65536)
            self.assertTrue(chunk, "the stream ended before it began: %r" % got)
            got += chunk
        self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:300])
        time.sleep(0.15)  # a few more events relayed, far from the end
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def leave_h2(self, client, path, body):
        """The same over HTTP/2: RST_STREAM CANCEL after the first content; the connection stays."""
        c = Connection(self.gw.url)
        c.send(c.request(1, "POST", path, headers(client), body.encode()))
        self.assertTrue(c.frames(lambda kind, flags, stream, payload: kind == DATA and stream == 1 and payload))
        self.assertEqual(c.status.get(1), 200)
        time.sleep(0.15)
        c.send(frame(RST_STREAM, 0, 1, struct.pack(">I", 8)))  # CANCEL
        return c

    def line_of(self, client):
        lines = [l for l in self.gw.audit() if l["client"] == client]
        return lines[0] if lines else None

    def over_budget(self, client):
        req = urllib.request.Request(self.gw.url + "/model/%s/converse" % MODEL, data=converse_body("hi").encode(),
                                     headers=dict(headers(client)), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def abandon(self, surface, protocol, model=MODEL, client=None, prompt=PROMPT):
        client = client or "%s-%s" % (surface, protocol)
        path, body = SURFACES[surface]
        conn = None
        if protocol == "h1":
            self.leave_h1(client, path(model), body(prompt, model))
        else:
            conn = self.leave_h2(client, path(model), body(prompt, model))
        self.assertTrue(wait_for(lambda: self.line_of(client) is not None, seconds=20), "no audit line")
        if conn:
            conn.close()
        return self.line_of(client)

    def check_drained(self, surface, protocol):
        line = self.abandon(surface, protocol)
        self.assertEqual(line["status"], 200, line)
        self.assertTrue(line["caller_left"], line)
        self.assertEqual(line["tokens_from"], "drained", line)
        self.assertEqual((line["input_tokens"], line["output_tokens"]), (12, 60), line)
        self.assertIn("read unrelayed: read to its end", line["error"])
        # 72 tokens charged against a budget of 40: the next call is refused.
        self.assertEqual(self.over_budget(line["client"]), 429)


def add_case(surface, protocol):
    def test(self):
        self.check_drained(surface, protocol)
    test.__doc__ = "%s over %s: left mid-stream, charged Bedrock's usage, then over budget" % (surface, protocol)
    setattr(AbandonedStreams, "test_%s_%s" % (surface.replace("-", "_"), protocol), test)


for _surface in SURFACES:
    for _protocol in PROTOCOLS:
        add_case(_surface, _protocol)


class AbandonedStreamsEstimated(AbandonedStreams):
    """Bedrock stalls after two frames: past limits.abandoned_stream_seconds (2 s) signgate
    stops reading (the fake sees its caller go) and charges the estimate."""

    def fake_count(self, name):
        with self.fake._lock:
            return self.fake.counts.get(name, 0)

    def test_anthropic_input_from_message_start(self):
        gone = self.fake_count("caller_gone")
        line = self.abandon("messages", "h2", model=STALL, client="stall-messages", prompt="hi")
        self.assertTrue(wait_for(lambda: self.fake_count("caller_gone") > gone, seconds=5), (line, self.fake.counts))
        self.assertEqual(line["tokens_from"], "estimate", line)
        self.assertTrue(line["caller_left"], line)
        self.assertEqual(line["input_tokens"], 12, "message_start says the input")
        self.assertGreaterEqual(line["output_tokens"], 1, line)
        self.assertIn("past limits.abandoned_stream_seconds", line["error"])

    def test_converse_input_estimated_from_the_body(self):
        line = self.abandon("converse-stream", "h2", model=STALL, client="stall-converse-stream", prompt="hi")
        self.assertEqual(line["tokens_from"], "estimate", line)
        self.assertEqual(line["input_tokens"], 2, "the body's text, \"user\" and \"hi\", / 4: %s" % line)
        self.assertGreaterEqual(line["output_tokens"], 1, line)
        metrics = urllib.request.urlopen(self.gw.url + "/metrics", timeout=10).read().decode()
        self.assertIn('signgate_abandoned_streams_total{tokens_from="estimate"}', metrics)


class AbandonedAtShutdown(unittest.TestCase):
    """A stream its caller left is being read when signgate is told to stop: the reading ends
    at once with the estimate charged and audited, and signgate exits well within its grace."""

    def test_sigterm_settles_the_stream_it_reads_unrelayed(self):
        fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        gw = Gateway(url, [c for c in CLIENTS if c["name"] == "stall-messages"],
                     extra="limits: { abandoned_stream_seconds: 600 }\n", shutdown_grace=60)
        try:
            self.assertTrue(wait_for(lambda: ready_for(gw.url, 1)))
            c = Connection(gw.url)
            path, body = SURFACES["messages"]
            c.send(c.request(1, "POST", path(STALL), headers("stall-messages"), body("hi", STALL).encode()))
            self.assertTrue(c.frames(lambda kind, flags, stream, payload: kind == DATA and stream == 1 and payload))
            c.send(frame(RST_STREAM, 0, 1, struct.pack(">I", 8)))  # CANCEL; Bedrock is silent for 30 s
            time.sleep(0.5)
            started = time.monotonic()
            rc = gw.stop()
            took = time.monotonic() - started
            c.close()
        finally:
            gw.stop()
            fake.shutdown()
        self.assertEqual(rc, 0, gw.logs()[-2000:])
        self.assertLess(took, 10, "signgate waited for the stream nobody reads (grace 60 s, Bedrock silent 30 s)")
        lines = [l for l in gw.audit() if l["client"] == "stall-messages"]
        self.assertEqual(len(lines), 1, lines)
        self.assertEqual(lines[0]["tokens_from"], "estimate", lines[0])
        self.assertEqual(lines[0]["input_tokens"], 12, lines[0])
        self.assertIn("signgate is stopping", lines[0]["error"])


# The drained cases run once, in AbandonedStreams.
for _name in [n for n in dir(AbandonedStreams) if n.startswith("test_")]:
    setattr(AbandonedStreamsEstimated, _name, None)


if __name__ == "__main__":
    unittest.main()
