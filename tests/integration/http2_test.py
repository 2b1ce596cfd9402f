#!/usr/bin/python3
"""HTTP/2 on signgate's listener, spoken frame by frame (hpack for the header blocks, the
frames written by hand), so the test can send what no polite client would: many streams on
one connection, the known attacks (rapid reset, CONTINUATION and PING floods, empty DATA
frames, header blocks that expand past the head limit), a body over the limit, a refused key
before the body. After each attack the gateway must still answer, over HTTP/2 and HTTP/1.1.
curl and nghttp, two other HTTP/2 implementations, are used for the plain requests."""
import json
import re
import signal
import socket
import struct
import subprocess
import time
import unittest
import urllib.parse

import hpack

from common import ROOT, eventually, wait_for  # noqa: F401  (ROOT puts tests/fakes on the path)
import aws_fake
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
SECRET = "sgk_http2_TEST_secret_0123456789abcdef"
CLIENTS = [{"name": "h2", "secret": SECRET, "models": '["anthropic.*"]'}]
CONVERSE = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}).encode()
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
ENHANCE_YOUR_CALM = 0xB


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


class Connection:
    """A raw HTTP/2 client connection."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=10)
        self.authority = "%s:%d" % (u.hostname, u.port)
        self.encoder, self.decoder = hpack.Encoder(), hpack.Decoder()
        self.buffer = b""
        self.status = {}
        self.closed = False  # the server closed the connection (not merely a timeout)
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0))

    def block(self, method, path, headers=()):
        fields = [(":method", method), (":scheme", "http"), (":path", path), (":authority", self.authority)]
        return self.encoder.encode(fields + list(headers))

    def request(self, stream, method, path, headers=(), body=None):
        block = self.block(method, path, headers)
        out = frame(HEADERS, END_HEADERS | (0 if body else END_STREAM), stream, block)
        if body:
            out += frame(DATA, END_STREAM, stream, body)
        return out

    def send(self, data):
        self.sock.sendall(data)

    def frames(self, until, seconds=15):
        """Reads frames, calling until(kind, flags, stream, payload) on each, until it returns
        True; returns False when the connection closed first."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            while len(self.buffer) >= 9:
                length = int.from_bytes(self.buffer[:3], "big")
                if len(self.buffer) < 9 + length:
                    break
                kind, flags = self.buffer[3], self.buffer[4]
                stream = int.from_bytes(self.buffer[5:9], "big") & 0x7FFFFFFF
                payload = self.buffer[9:9 + length]
                self.buffer = self.buffer[9 + length:]
                if kind == SETTINGS and not flags & ACK:
                    try:
                        self.sock.sendall(frame(SETTINGS, ACK, 0))
                    except OSError:
                        return False  # the server already closed: the caller reads that as "closed"

                if kind == HEADERS:  # always decoded: HPACK's table is the connection's state
                    self.status[stream] = next((int(v) for n, v in self.decoder.decode(payload) if n == ":status"),
                                               self.status.get(stream))
                if until(kind, flags, stream, payload):
                    return True
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                self.closed = True
                return False
            if not chunk:
                self.closed = True
                return False
            self.buffer += chunk
        return False

    def responses(self, streams, seconds=15):
        """{stream: (status, body)} once each of `streams` ended."""
        out = {s: [None, b""] for s in streams}
        done = set()

        def collect(kind, flags, stream, payload):
            if stream in out:
                if kind == HEADERS:
                    out[stream][0] = self.status.get(stream)
                elif kind == DATA:
                    out[stream][1] += payload
                    if payload:  # give the window back, as a reading client does
                        self.sock.sendall(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", len(payload))) +
                                          frame(WINDOW_UPDATE, 0, stream, struct.pack(">I", len(payload))))
                elif kind == RST_STREAM:
                    out[stream][0] = out[stream][0] or "reset"
                    done.add(stream)
                if flags & END_STREAM and kind in (HEADERS, DATA):
                    done.add(stream)
            return done == set(streams)

        self.frames(collect, seconds)
        return {s: tuple(v) for s, v in out.items()}

    def goaway(self, seconds=15):
        """The GOAWAY error code the server sent, or "closed" when it just closed."""
        found = []

        def watch(kind, flags, stream, payload):
            if kind == GOAWAY:
                found.append(int.from_bytes(payload[4:8], "big"))
                return True
            return False

        self.frames(watch, seconds)
        return found[0] if found else "closed"

    def close(self):
        self.sock.close()


def auth():
    return [("authorization", "Bearer " + SECRET), ("content-type", "application/json")]


class Http2(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        cls.gw = Gateway(url, CLIENTS, extra="limits: { max_body_bytes: 100000, abandoned_stream_seconds: 2 }\n")

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        cls.fake.shutdown()
        # A clean exit on SIGTERM after every attack (under ASan+LSan, no error and no leak).
        assert rc == 0, "signgate exited %s:\n%s" % (rc, cls.gw.logs()[-4000:])

    def assert_still_serving(self):
        c = Connection(self.gw.url)
        c.send(c.request(1, "POST", "/model/%s/converse" % MODEL, auth(), CONVERSE))
        status, body = c.responses([1])[1]
        c.close()
        self.assertEqual(status, 200, body)
        p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
                            self.gw.url + "/healthz"], capture_output=True, timeout=30)
        self.assertEqual(p.stdout.decode(), "200 1.1")

    def test_curl_and_nghttp_with_prior_knowledge(self):
        p = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-w", "\n%{http_code} %{http_version}",
                            "-H", "Authorization: Bearer " + SECRET, "-H", "Content-Type: application/json",
                            "--data-binary", CONVERSE, self.gw.url + "/model/%s/converse" % MODEL],
                           capture_output=True, timeout=30)
        body, _, status = p.stdout.decode().rpartition("\n")
        self.assertEqual(status, "200 2")
        self.assertEqual(json.loads(body)["output"]["message"]["content"][0]["text"], "Hello from " + MODEL)
        p = subprocess.run(["nghttp", "-n", "-s", self.gw.url + "/healthz", self.gw.url + "/readyz"],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_many_streams_on_one_connection(self):
        c = Connection(self.gw.url)
        streams = list(range(1, 80, 2))  # 40 at once, below SETTINGS_MAX_CONCURRENT_STREAMS
        c.send(b"".join(c.request(s, "POST", "/model/%s/converse" % MODEL, auth(), CONVERSE) for s in streams))
        answers = c.responses(streams)
        c.close()
        for s in streams:
            self.assertEqual(answers[s][0], 200, (s, answers[s]))
            self.assertIn(b"Hello from", answers[s][1])

    def test_a_refused_key_is_answered_before_the_body(self):
        c = Connection(self.gw.url)
        # The head alone, a 401 comes back; the body never has to be sent.
        c.send(frame(HEADERS, END_HEADERS, 1, c.block("POST", "/model/%s/converse" % MODEL,
                                                      [("authorization", "Bearer wrong")])))
        status, body = c.responses([1])[1]
        self.assertEqual(status, 401, body)
        c.close()

    def test_a_body_over_the_limit_is_413(self):
        c = Connection(self.gw.url)
        big = b"x" * 60000
        c.send(frame(HEADERS, END_HEADERS, 1, c.block("POST", "/model/%s/converse" % MODEL, auth())))
        # Within the 64 KiB window the server grants each stream, then more as it reads.
        c.send(frame(DATA, 0, 1, big[:16000]) + frame(DATA, 0, 1, big[16000:32000]))
        c.send(frame(DATA, 0, 1, big[32000:48000]) + frame(DATA, 0, 1, big[48000:]))
        time.sleep(0.2)
        c.send(frame(DATA, 0, 1, big[:16000]) + frame(DATA, 0, 1, big[16000:32000]) +
               frame(DATA, END_STREAM, 1, big[32000:48000]))
        status, body = c.responses([1])[1]
        self.assertEqual(status, 413, body)
        c.close()

    def test_a_header_block_past_the_head_limit_is_431(self):
        c = Connection(self.gw.url)
        fields = auth() + [("x-filler-%d" % i, "v") for i in range(150)]  # past the 100-field cap
        c.send(c.request(1, "GET", "/healthz", fields))
        status, _ = c.responses([1])[1]
        self.assertEqual(status, 431)
        c.close()
        self.assert_still_serving()

    def test_hpack_bomb_is_bounded_by_the_decoded_size(self):
        """One 4 KiB value in the dynamic table, then referenced over and over: a few bytes on
        the wire, megabytes decoded. The decoded size is what counts: the stream is answered 431
        or reset, and nothing past the head limit is kept."""
        c = Connection(self.gw.url)
        encoder = hpack.Encoder()
        first = encoder.encode([(":method", "GET"), (":scheme", "http"), (":path", "/healthz"),
                                (":authority", c.authority), ("x-big", "b" * 4000)])
        c.encoder = encoder
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, first))
        # Indexed references to the x-big entry (dynamic index 62): one byte each.
        bomb = encoder.encode([(":method", "GET"), (":scheme", "http"), (":path", "/healthz"),
                               (":authority", c.authority)]) + bytes([0x80 | 62]) * 1000
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 3, bomb))
        answers = c.responses([1, 3])
        self.assertEqual(answers[1][0], 200)
        self.assertIn(answers[3][0], (431, "reset"))
        c.close()
        self.assert_still_serving()

    def test_rapid_reset_runs_no_unbounded_work(self):
        before = len(self.gw.audit())
        c = Connection(self.gw.url)
        burst = b""
        for i in range(2000):
            stream = 1 + 2 * i
            burst += frame(HEADERS, END_HEADERS, stream, c.block("POST", "/model/%s/converse" % MODEL, auth()))
            burst += frame(RST_STREAM, 0, stream, struct.pack(">I", 8))  # CANCEL
        try:
            c.send(burst)
        except OSError:
            pass  # the server may have closed the connection mid-burst: that is a right answer too
        code = c.goaway(seconds=10)
        c.close()
        time.sleep(1)
        handled = len(self.gw.audit()) - before
        self.assertLess(handled, 200, "reset streams must not each become a request (%s)" % code)
        self.assert_still_serving()

    def test_continuation_flood_is_cut_off(self):
        c = Connection(self.gw.url)
        block = c.block("GET", "/healthz")
        flood = frame(HEADERS, 0, 1, block)
        one = hpack.Encoder().encode([("x-a", "b")])
        flood += b"".join(frame(CONTINUATION, 0, 1, one) for _ in range(5000))
        try:
            c.send(flood)
        except OSError:
            pass
        code = c.goaway(seconds=10)
        self.assertIn(code, (1, 11, "closed"), "a protocol error or enhance-your-calm, not a hang")
        c.close()
        self.assert_still_serving()

    def test_ping_flood_is_cut_off(self):
        c = Connection(self.gw.url)
        try:
            c.send(b"".join(frame(PING, 0, 0, struct.pack(">Q", i)) for i in range(5000)))
        except OSError:
            pass
        self.assertIn(c.goaway(seconds=10), (ENHANCE_YOUR_CALM, "closed"))
        c.close()
        self.assert_still_serving()

    def test_empty_data_flood_is_cut_off(self):
        c = Connection(self.gw.url)
        c.send(frame(HEADERS, END_HEADERS, 1, c.block("POST", "/model/%s/converse" % MODEL, auth())))
        try:
            c.send(b"".join(frame(DATA, 0, 1) for _ in range(5000)))
        except OSError:
            pass
        self.assertIn(c.goaway(seconds=10), (ENHANCE_YOUR_CALM, "closed"))
        c.close()
        self.assert_still_serving()

    def test_streams_past_the_concurrency_limit_are_refused_not_queued(self):
        c = Connection(self.gw.url)
        # 150 requests whose bodies never come: 100 are open at once, the rest refused.
        c.send(b"".join(frame(HEADERS, END_HEADERS, 1 + 2 * i, c.block("POST", "/model/%s/converse" % MODEL, auth()))
                        for i in range(150)))
        refused = []

        def watch(kind, flags, stream, payload):
            if kind == RST_STREAM and int.from_bytes(payload, "big") == 7:  # REFUSED_STREAM
                refused.append(stream)
            return len(refused) >= 50

        self.assertTrue(c.frames(watch, seconds=10), refused)
        c.close()
        self.assert_still_serving()

    def test_a_stream_past_the_acknowledged_limit_is_refused_and_the_rest_go_on(self):
        """SETTINGS acknowledged (100 concurrent streams), the client opens 103: the 3 past the
        limit get RST_STREAM REFUSED_STREAM, which clients retry, not a GOAWAY; the 100 are then
        answered on the same connection, and so is a stream opened after them."""
        c = Connection(self.gw.url)
        advertised = {}

        def settings(kind, flags, stream, payload):
            if kind == SETTINGS and not flags & ACK:  # frames() acknowledges it before this sees it
                advertised.update(struct.unpack(">HI", payload[i:i + 6]) for i in range(0, len(payload), 6))
            return bool(advertised) and kind == SETTINGS and bool(flags & ACK)

        self.assertTrue(c.frames(settings, seconds=10))
        self.assertEqual(advertised.get(3), 100)  # SETTINGS_MAX_CONCURRENT_STREAMS
        # Answered by signgate itself, not 100 calls to the emulator; each stream stays open until
        # its (empty) body ends.
        opened = [1 + 2 * i for i in range(100)]
        c.send(b"".join(frame(HEADERS, END_HEADERS, 1 + 2 * i, c.block("GET", "/v1/models", auth()))
                        for i in range(103)))
        resets, goaway = {}, []

        def watch(kind, flags, stream, payload):
            if kind == RST_STREAM:
                resets[stream] = int.from_bytes(payload, "big")
            elif kind == GOAWAY:
                goaway.append(int.from_bytes(payload[4:8], "big"))
            return len(resets) >= 3 or bool(goaway)

        self.assertTrue(c.frames(watch, seconds=10), (resets, c.closed))
        self.assertEqual(goaway, [])
        self.assertEqual(resets, {201: 7, 203: 7, 205: 7})  # REFUSED_STREAM
        c.send(b"".join(frame(DATA, END_STREAM, s) for s in opened))
        answers = c.responses(opened, seconds=30)
        self.assertEqual({s: a[0] for s, a in answers.items()}, {s: 200 for s in opened})
        c.send(c.request(207, "POST", "/model/%s/converse" % MODEL, auth(), CONVERSE))
        self.assertEqual(c.responses([207])[207][0], 200, "the connection takes new streams")
        c.close()

    def stream_request(self, c, stream, text, model=MODEL):
        body = json.dumps({"messages": [{"role": "user", "content": [{"text": text}]}]}).encode()
        return c.request(stream, "POST", "/model/%s/converse-stream" % model, auth(), body)

    def test_a_slow_reader_stalls_only_its_own_stream(self):
        """Stream 1 asks for a long answer and never opens its window; stream 3, on the same
        connection, is answered meanwhile. Opened later, stream 1 gets every byte."""
        c = Connection(self.gw.url)
        c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 100 << 20)))  # the connection's window: wide open
        c.send(self.stream_request(c, 1, "long answer please"))
        first = []
        c.frames(lambda kind, flags, stream, payload: kind == DATA and stream == 1 and not first.append(payload)
                 and sum(map(len, first)) >= 60000, seconds=15)
        received = sum(map(len, first))
        self.assertGreater(received, 0)
        self.assertLessEqual(received, 65535, "no more than the stream's window before the reader reads")
        c.send(c.request(3, "POST", "/model/%s/converse" % MODEL, auth(), CONVERSE))
        answers = {}

        def fast(kind, flags, stream, payload):
            if stream == 3 and kind == DATA:
                answers.setdefault(3, b"")
                answers[3] += payload
            if stream == 1 and kind == DATA:
                first.append(payload)
            return stream == 3 and flags & END_STREAM

        self.assertTrue(c.frames(fast, seconds=15), "stream 3 was held up by stream 1")
        self.assertIn(b"Hello from", answers[3])
        self.assertLessEqual(sum(map(len, first)), 65535, "stream 1 still stalled")
        c.send(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", sum(map(len, first)))))  # now it reads
        rest = c.responses([1], seconds=30)[1]
        total = sum(map(len, first)) + len(rest[1])
        self.assertGreater(total, 500000, "the whole long answer arrived once its window opened: %r %r" %
                           (rest[0], rest[1][-300:]))
        c.close()

    def test_a_reset_stream_ends_its_request_only(self):
        c = Connection(self.gw.url)
        c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 100 << 20)))
        c.send(self.stream_request(c, 1, "long answer please"))
        c.frames(lambda kind, flags, stream, payload: kind == DATA and stream == 1, seconds=15)
        c.send(frame(RST_STREAM, 0, 1, struct.pack(">I", 8)))  # CANCEL, mid-answer
        c.send(c.request(3, "POST", "/model/%s/converse" % MODEL, auth(), CONVERSE))
        status, body = c.responses([3])[3]
        self.assertEqual(status, 200, body)
        c.close()
        metrics = self.gw.wait_metrics("signgate_open_streams 0")
        self.assertIn("signgate_open_streams 0", metrics, "the reset stream's relay ended")

    def fake_count(self, name):
        with self.fake._lock:
            return self.fake.counts.get(name, 0)

    def audit_line(self, model):
        lines = [l for l in self.gw.audit() if l["model"] == model]
        return lines[-1] if lines else None

    def test_a_reset_stops_the_upstream_call_waiting_for_its_answer(self):
        """Bedrock takes 30 s to answer; the client resets after the call went out. The upstream
        connection is closed at once (the fake sees its caller go), and the audit line says
        499, long before Bedrock would have answered."""
        model = "anthropic.hang-v1:0"
        waiting, gone = self.fake_count("waiting"), self.fake_count("caller_gone")
        c = Connection(self.gw.url)
        c.send(c.request(1, "POST", "/model/%s/converse" % model, auth(), CONVERSE))
        self.assertTrue(wait_for(lambda: self.fake_count("waiting") > waiting), "the call never reached Bedrock")
        c.send(frame(RST_STREAM, 0, 1, struct.pack(">I", 8)))  # CANCEL
        self.assertTrue(wait_for(lambda: self.fake_count("caller_gone") > gone, seconds=10),
                        "the upstream connection stayed open after the client reset its stream")
        self.assertTrue(wait_for(lambda: self.audit_line(model) is not None, seconds=10))
        line = self.audit_line(model)
        self.assertEqual((line["status"], line["protocol"]), (499, "h2"), line)
        self.assertIn("the client reset the stream before the answer ended", line["error"])
        c.send(c.request(3, "POST", "/model/%s/converse" % MODEL, auth(), CONVERSE))
        self.assertEqual(c.responses([3])[3][0], 200, "the connection's other streams go on")
        c.close()

    def test_a_reset_mid_stream_stops_the_upstream_read(self):
        """The stream's first frames arrive, then Bedrock is silent for 30 s: after a reset the
        upstream is read on for its usage (Bedrock bills the answer) for at most
        limits.abandoned_stream_seconds (2 s here), then let go, not when Bedrock next sends."""
        model = "anthropic.stall-v1:0"
        gone = self.fake_count("caller_gone")
        c = Connection(self.gw.url)
        c.send(self.stream_request(c, 1, "hi", model))
        self.assertTrue(c.frames(lambda kind, flags, stream, payload: kind == DATA and stream == 1, seconds=15))
        c.send(frame(RST_STREAM, 0, 1, struct.pack(">I", 8)))
        self.assertTrue(wait_for(lambda: self.fake_count("caller_gone") > gone, seconds=10),
                        "the upstream read went on after the client reset its stream")
        self.assertTrue(wait_for(lambda: self.audit_line(model) is not None, seconds=10))
        line = self.audit_line(model)
        self.assertEqual((line["status"], line["protocol"]), (200, "h2"), line)  # the answer had begun
        self.assertIn("the client reset the stream before the answer ended", line["error"])
        self.assertEqual(line["tokens_from"], "estimate", line)
        c.close()

    def test_audit_and_metrics_name_the_protocol(self):
        c = Connection(self.gw.url)
        c.send(c.request(1, "POST", "/model/%s/converse" % MODEL, auth(), CONVERSE))
        self.assertEqual(c.responses([1])[1][0], 200)
        c.close()
        p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-H", "Authorization: Bearer " + SECRET,
                            "-H", "Content-Type: application/json", "--data-binary", CONVERSE,
                            self.gw.url + "/model/%s/converse" % MODEL], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0)

        def protocols(lines):
            return {l["protocol"] for l in lines if l["model"] == MODEL and l["status"] == 200}
        lines = self.gw.wait_audit(lambda lines: protocols(lines) >= {"h2", "http/1.1"})
        self.assertEqual(protocols(lines), {"h2", "http/1.1"})
        counted = r'signgate_requests_total\{client="h2",surface="bedrock",operation="converse",' \
                  r'model="%s",status="200",protocol="%%s"\} \d+' % MODEL.replace(".", r"\.")
        metrics = eventually(lambda: subprocess.run(["curl", "-s", "--http2-prior-knowledge", self.gw.url + "/metrics"],
                                                    capture_output=True, timeout=30).stdout.decode(),
                             lambda text: all(re.search(counted % p, text) for p in ("h2", "http/1.1")))
        for protocol in ("h2", "http/1.1"):
            self.assertRegex(metrics, counted % protocol)
        # HTTP/2.0 spelt in an HTTP/1 request line is not HTTP/2: refused, never counted as h2.
        u = urllib.parse.urlsplit(self.gw.url)
        with socket.create_connection((u.hostname, u.port), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n")
            self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 400 "))
        self.assertTrue(wait_for(lambda: any("version" in (l["error"] or "") for l in self.gw.audit())))
        line = [l for l in self.gw.audit() if "version" in (l["error"] or "")][-1]
        self.assertEqual((line["status"], line["protocol"]), (400, "http/1.1"), line)


class Http2Shutdown(unittest.TestCase):
    """SIGTERM with HTTP/2 connections open: each gets GOAWAY at once (not at its watchdog's next
    tick), a stream in flight still gets its whole answer, a stream begun after the GOAWAY is
    not served, and signgate exits 0 as soon as the last connection is done."""

    def setUp(self):
        self.fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        # A long grace: signgate must exit because its connections are done, not because the
        # grace ran out (the waits below are far shorter than 30 s).
        self.gw = Gateway(url, CLIENTS, shutdown_grace=30)

    def tearDown(self):
        self.gw.stop()
        self.fake.shutdown()
        self.fake.server_close()

    def goaway_and_exit(self, c):
        """Sends SIGTERM; returns (the GOAWAY's last stream ID and error code, whether the
        connection then closed)."""
        found = []

        def watch(kind, flags, stream, payload):
            if kind == GOAWAY:
                found.append((int.from_bytes(payload[:4], "big") & 0x7FFFFFFF, int.from_bytes(payload[4:8], "big")))
            return False

        self.gw.proc.send_signal(signal.SIGTERM)
        c.frames(watch, seconds=10)
        return (found[0] if found else None), c.closed

    def test_an_idle_connection_gets_goaway_then_signgate_exits(self):
        c = Connection(self.gw.url)
        c.send(c.request(1, "GET", "/healthz"))
        self.assertEqual(c.responses([1])[1][0], 200)
        goaway, closed = self.goaway_and_exit(c)
        c.close()
        self.assertEqual(goaway, (1, 0), "GOAWAY NO_ERROR naming the last stream served")
        self.assertTrue(closed, "signgate closed the connection after its GOAWAY")
        self.assertEqual(self.gw.proc.wait(timeout=10), 0, "exited once its connections closed, not after the grace")

    def test_a_stream_in_flight_finishes_and_a_later_one_is_not_served(self):
        model = "anthropic.slow-v1:0"  # Bedrock answers after 2 s
        c = Connection(self.gw.url)
        c.send(c.request(1, "POST", "/model/%s/converse" % model, auth(), CONVERSE))
        self.assertTrue(wait_for(lambda: any(m == model for m in self.fake.seen_models)))
        events = []

        def watch(kind, flags, stream, payload):
            if kind == GOAWAY:
                events.append("goaway")
                c.send(c.request(3, "POST", "/model/%s/converse" % MODEL, auth(), CONVERSE))  # too late
            elif kind == HEADERS:
                events.append((stream, c.status.get(stream)))
            elif kind == DATA and flags & END_STREAM:
                events.append((stream, "end"))
            elif kind == RST_STREAM:
                events.append((stream, "reset"))
            return False

        self.gw.proc.send_signal(signal.SIGTERM)
        c.frames(watch, seconds=15)  # until signgate closes the connection
        self.assertTrue(c.closed)
        c.close()
        self.assertEqual(events[0], "goaway", events)
        self.assertIn((1, 200), events)
        self.assertIn((1, "end"), events)
        self.assertNotIn((3, 200), events, "a stream begun after GOAWAY was served")
        self.assertEqual(self.gw.proc.wait(timeout=10), 0, "exited once the stream was answered")
        line = [l for l in self.gw.audit() if l["model"] == model][-1]
        self.assertEqual((line["status"], line["protocol"]), (200, "h2"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
