#!/usr/bin/python3
"""Fault injection against `signgate serve` and the botocore-verifying emulator: STS down at
start and during refresh, 429 storms, a slow first byte, a reset mid-stream, a client that
leaves, 1,000 connections sending their headers slowly, bodies over the limit and malformed
HTTP. After each: the gateway still answers, its descriptors and open streams are back where
they were, every request that reached it has its audit line, and it exits 0 on SIGTERM. In
the ASan build (`make test` runs this file there too) a leak makes that exit code non-zero."""
import http.client
import json
import os
import socket
import threading
import time
import unittest
import urllib.parse

from common import ROOT, SLOWDOWN, eventually, wait_for  # noqa: F401  (ROOT puts tests/fakes on the path)
import aws_fake
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
SECRET = "sgk_faults_TEST_secret_0123456789abcdef"
CLIENTS = [{"name": "faults", "secret": SECRET, "models": '["*"]'}]
CONVERSE = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})
CHAT = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
AUTH = {"Authorization": "Bearer " + SECRET, "Content-Type": "application/json"}


def call(url, path, body=CONVERSE, headers=None, method="POST", timeout=30):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    conn.request(method, path, body=body, headers=AUTH if headers is None else headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def raw(url, data, read=True, timeout=10):
    """Sends bytes as they are; returns what came back before the server closed or went quiet."""
    u = urllib.parse.urlsplit(url)
    s = socket.create_connection((u.hostname, u.port), timeout=timeout)
    try:
        s.sendall(data)
        if not read:
            return b""
        out = b""
        while True:
            try:
                piece = s.recv(65536)
            except socket.timeout:
                break
            if not piece:
                break
            out += piece
            if b"\r\n\r\n" in out and out.startswith(b"HTTP/1.1 ") and b"connection: close" not in out.lower():
                break
        return out
    finally:
        s.close()


def metric(gw, name):
    text = call(gw.url, "/metrics", method="GET", body=None, headers={})[2].decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def fds(gw):
    return len(os.listdir("/proc/%d/fd" % gw.proc.pid))


def sockets(gw, fake_port):
    """(caller connections, upstream connections) the gateway holds, from /proc/net/tcp."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % gw.proc.pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (gw.proc.pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    gw_port = urllib.parse.urlsplit(gw.url).port
    callers = upstream = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[9] not in inodes or fields[3] == "0A":  # 0A: listening
                    continue
                if int(fields[1].rsplit(":", 1)[1], 16) == gw_port:
                    callers += 1
                elif int(fields[2].rsplit(":", 1)[1], 16) == fake_port:
                    upstream += 1
    return callers, upstream


class Faults(unittest.TestCase):
    """One gateway and one emulator per test; the checks every fault must pass are in tearDown."""

    fake_options = {}
    gateway_extra = ""

    def setUp(self):
        self.fake, self.fake_url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID},
                                                  **self.fake_options)
        self.requests = 0  # requests that reached the gateway's router: each owes an audit line
        self.gw = None

    def start(self, extra=""):
        self.gw = Gateway(self.fake_url, CLIENTS, extra=self.gateway_extra + extra)
        wait_for(lambda: call(self.gw.url, "/readyz", method="GET", body=None, headers={})[0] == 200, 10)
        self.baseline()
        return self.gw

    def baseline(self):
        self.baseline_fds = fds(self.gw)
        self.baseline_upstream = sockets(self.gw, self.fake.server_address[1])[1]

    def send(self, path, body=CONVERSE, headers=None, timeout=30):
        self.requests += 1
        return call(self.gw.url, path, body=body, headers=headers, timeout=timeout)

    def tearDown(self):
        try:
            if self.gw is None:
                return
            # Still serving, nothing left open, every request accounted for.
            self.assertEqual(self.send("/model/%s/converse" % MODEL)[0], 200, "the gateway answers after the fault")
            self.assertTrue(wait_for(lambda: metric(self.gw, "signgate_open_streams") == 0, 5), "a stream was left open")
            # No caller connection is left behind; upstream ones may stay pooled (at most 512 idle per loop),
            # and nothing else grows.
            fake_port = self.fake.server_address[1]
            self.assertTrue(wait_for(lambda: sockets(self.gw, fake_port)[0] == 0, 10 + 5 * SLOWDOWN),
                            "caller connections left open: %d" % sockets(self.gw, fake_port)[0])
            upstream = sockets(self.gw, fake_port)[1]
            self.assertLessEqual(upstream, 2 * 512)
            self.assertLessEqual(fds(self.gw) - upstream, self.baseline_fds - self.baseline_upstream + 1,
                                 "descriptors leaked")
            self.assertEqual(len(self.gw.wait_audit(self.requests, 5)), self.requests, "one audit line per request")
            code = self.gw.stop()
            self.assertEqual(code, 0, "signgate exited %s (under ASan: a leak or an error)\n%s" % (code, self.gw.logs()[-3000:]))
        finally:
            if self.gw is not None:
                self.gw.stop()
            self.fake.shutdown()


class StsFaults(Faults):
    fake_options = {"sts_lifetime": 45}

    def test_sts_down_at_start_is_a_clear_503_and_readiness_recovers(self):
        self.fake.sts_down = True
        self.gw = Gateway(self.fake_url, CLIENTS)
        self.assertTrue(wait_for(lambda: metric(self.gw, "signgate_credential_failures_total") >= 1, 10))
        status, _, body = call(self.gw.url, "/readyz", method="GET", body=None, headers={})
        self.assertEqual(status, 503)
        self.assertIn("no identity holds valid AWS credentials", json.loads(body)["reason"])
        self.assertNotIn(ROLE, body.decode(), "the role is for the log, not for anyone asking")
        status, _, body = self.send("/model/%s/converse" % MODEL)
        self.assertEqual(status, 503)
        self.assertIn("holds no valid AWS credentials", json.loads(body)["message"])
        status, _, body = self.send("/v1/chat/completions", body=CHAT)
        self.assertEqual(status, 503)
        self.assertIn("error", json.loads(body))
        self.fake.sts_down = False
        self.assertTrue(wait_for(lambda: call(self.gw.url, "/readyz", method="GET", body=None, headers={})[0] == 200,
                                 30), "readiness turned green once STS answered")
        self.baseline()

    def test_sts_down_during_refresh_keeps_serving_on_the_held_credentials(self):
        # Credentials live 45 s (35 s usable after the 10 s safety margin); the first refresh
        # is due 2 s after they are fetched, and STS is down by then.
        gw = self.gw = Gateway(self.fake_url, CLIENTS, aws_extra="  refresh_before_expiry_seconds: 43\n")
        self.assertTrue(wait_for(lambda: call(gw.url, "/readyz", method="GET", body=None, headers={})[0] == 200, 10))
        self.fake.sts_down = True
        self.baseline()
        refreshes = metric(gw, "signgate_credential_refreshes_total")
        self.assertTrue(wait_for(lambda: metric(gw, "signgate_credential_failures_total") >= 2, 15),
                        "refreshes were attempted, and retried, while STS was down")
        for _ in range(5):
            self.assertEqual(self.send("/model/%s/converse" % MODEL)[0], 200, "still serving on the held credentials")
        self.assertEqual(call(gw.url, "/readyz", method="GET", body=None, headers={})[0], 200)
        self.fake.sts_down = False
        self.assertTrue(wait_for(lambda: metric(gw, "signgate_credential_refreshes_total") > refreshes, 30),
                        "the refresh succeeded once STS came back")


class UpstreamFaults(Faults):
    fake_options = {"frame_delay": 0.1}

    def test_a_429_storm_gets_bounded_retries_then_429_with_retry_after(self):
        self.start("upstream: { max_retries: 2 }\n")
        self.fake.throttle_next = 10**6
        results = []

        def one(path, body):
            results.append(self.send(path, body=body))
        threads = [threading.Thread(target=one, args=("/model/%s/converse" % MODEL, CONVERSE)) for _ in range(12)]
        threads += [threading.Thread(target=one, args=("/v1/chat/completions", CHAT)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.fake.throttle_next = 0
        self.assertEqual([r[0] for r in results], [429] * 20)
        for status, headers, body in results:
            self.assertIn("retry-after", headers)
        self.assertEqual(self.fake.counts.get("throttled", 0), 20 * 3, "one try and two retries each, no more")
        self.assertEqual(eventually(lambda: metric(self.gw, "signgate_upstream_retries_total"), lambda n: n >= 40), 40)

    def test_a_slow_first_byte_is_a_504_in_each_dialect(self):
        self.start("upstream: { first_byte_timeout_ms: 300 }\n")
        status, headers, _ = self.send("/model/anthropic.slow-v1:0/converse")
        self.assertEqual((status, headers.get("x-amzn-errortype")), (504, "ModelTimeoutException"))
        status, _, body = self.send("/v1/chat/completions", body=CHAT.replace(MODEL, "anthropic.slow-v1:0"))
        self.assertEqual(status, 504)
        self.assertIn("message", json.loads(body)["error"])
        status, _, body = self.send("/v1/messages", body=json.dumps({"model": "anthropic.slow-v1:0", "max_tokens": 5,
                                                                     "messages": [{"role": "user", "content": "x"}]}))
        self.assertEqual(status, 504)
        self.assertEqual(json.loads(body)["type"], "error")
        time.sleep(2.2)  # let the emulator's slow handlers finish before the descriptor check

    def test_a_reset_mid_stream_ends_with_an_error_event_and_is_audited(self):
        self.start()
        status, _, body = self.send("/model/anthropic.reset-v1:0/converse-stream")
        self.assertEqual(status, 200)
        self.assertIn(b"internalServerException", body)
        status, _, body = self.send("/v1/chat/completions",
                                    body=json.dumps({"model": "anthropic.reset-v1:0", "stream": True,
                                                     "messages": [{"role": "user", "content": "hi"}]}))
        self.assertEqual(status, 200)
        text = body.decode()
        self.assertIn('"error"', text)
        self.assertTrue(text.endswith("\n\n"), "a clean end of the event stream")
        errors = [line.get("error", "") for line in self.gw.wait_audit(2, 5)[-2:]]
        self.assertTrue(all("upstream stream broke" in e for e in errors), errors)

    def test_a_client_that_leaves_mid_stream_releases_the_upstream(self):
        self.start()
        for path, body in (("/model/%s/converse-stream" % MODEL, CONVERSE),
                           ("/v1/chat/completions", json.dumps({"model": MODEL, "stream": True,
                                                                "messages": [{"role": "user", "content": "hi"}]}))):
            for _ in range(5):
                self.requests += 1
                u = urllib.parse.urlsplit(self.gw.url)
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
                conn.request("POST", path, body=body, headers=AUTH)
                r = conn.getresponse()
                self.assertTrue(r.read1(65536))
                conn.sock.shutdown(socket.SHUT_RDWR)
                conn.close()
        self.assertTrue(wait_for(lambda: metric(self.gw, "signgate_open_streams") == 0, 10))
        self.gw.wait_audit(10, 5)
        self.assertEqual(sum(1 for line in self.gw.audit()
                             if (line.get("error") or "").startswith("client went away mid-stream")), 10)


class ListenerFaults(Faults):
    gateway_extra = "limits: { max_body_bytes: 65536 }\n"

    def test_a_thousand_slow_header_connections_do_not_starve_others(self):
        self.start()
        slow = []
        for _ in range(1000):
            u = urllib.parse.urlsplit(self.gw.url)
            s = socket.create_connection((u.hostname, u.port), timeout=10)
            s.sendall(b"POST /model/%s/converse HTTP/1.1\r\nHost: x\r\n" % MODEL.encode())
            slow.append(s)
        try:
            for i in range(3):  # a trickle: one more header line each
                for s in slow:
                    s.sendall(b"X-Slow-%d: y\r\n" % i)
                started = time.monotonic()
                status = self.send("/model/%s/converse" % MODEL)[0]
                self.assertEqual(status, 200)
                self.assertLess(time.monotonic() - started, 5.0 * SLOWDOWN, "others are answered promptly")
                self.assertEqual(call(self.gw.url, "/healthz", method="GET", body=None, headers={})[0], 200)
        finally:
            for s in slow:
                s.close()

    def test_bodies_over_the_limit_are_413_with_or_without_a_length(self):
        self.start()
        big = json.dumps({"messages": [{"role": "user", "content": [{"text": "x" * 70000}]}]})
        status, _, body = self.send("/model/%s/converse" % MODEL, body=big)
        self.assertEqual(status, 413, body)
        reply = raw(self.gw.url, b"POST /model/%s/converse HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n" % (MODEL.encode(), SECRET.encode())
                    + b"".join(b"4000\r\n" + b"y" * 0x4000 + b"\r\n" for _ in range(6)) + b"0\r\n\r\n")
        self.requests += 1
        self.assertTrue(reply.startswith(b"HTTP/1.1 413"), reply[:200])
        status, _, body = self.send("/v1/chat/completions", body=json.dumps({"model": MODEL, "messages": [
            {"role": "user", "content": "x" * 70000}]}))
        self.assertEqual(status, 413)

    def test_malformed_http_gets_a_400_or_a_close_and_nothing_breaks(self):
        self.start()
        cases = [
            b"GARBAGE\r\n\r\n",
            b"POST /model/x/converse HTTP/1.1\r\nHost x\r\n\r\n",
            b"POST /model/x/converse HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
            b"POST /model/x/converse HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
            b"POST /model/x/converse HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
            b"POST /model/x/converse HTTP/9.9\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),  # a TLS hello on the plain port
            b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n",
            b"POST /model/x/converse HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort",  # then the client goes
        ]
        for data in cases:
            reply = raw(self.gw.url, data, timeout=3)
            if reply:
                self.requests += 1  # answered, so audited; a silent close is not a request
            self.assertTrue(reply == b"" or reply.startswith(b"HTTP/1.1 4"), (data[:60], reply[:200]))
            self.assertEqual(call(self.gw.url, "/healthz", method="GET", body=None, headers={})[0], 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
