#!/usr/bin/python3
"""Hardening against `signgate serve` and the botocore-verifying emulator, as an attacker on
loopback would try it: hostile nesting from callers and from the model, unauthenticated
callers choosing metrics or memory, bodies read before the key check, unbounded chunk lines
and trailers, request smuggling, descriptor exhaustion and connection caps, dot-segment model
IDs, a second gateway on the same address, chatty ops endpoints, caller-chosen upstream
headers, limiter resets on reload and loose Authorization rules. Each test failed on main
before the fix. The checks every test must pass afterwards (still serving, nothing left open,
one audit line per request, a clean exit; under ASan no leak) are the fault tests' tearDown."""
import base64
import json
import os
import resource
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

from common import BIN, eventually
from faults_test import AUTH, CHAT, CLIENTS, MODEL, SECRET, SLOWDOWN, Faults, call, raw, wait_for
from gateway import Gateway

DEEP = lambda n: "[" * n + "]" * n  # noqa: E731
NO_KEY = {"Content-Type": "application/json"}


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def connect(url):
    host, port = url.rsplit("/", 1)[-1].split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def head(path, extra, length=None):
    lines = ["POST %s HTTP/1.1" % path, "Host: signgate"] + list(extra)
    if length is not None:
        lines.append("Content-Length: %d" % length)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_until_close(s, limit=1 << 20):
    out = b""
    try:
        while len(out) < limit:
            piece = s.recv(65536)
            if not piece:
                break
            out += piece
    except (socket.timeout, ConnectionResetError):
        pass
    return out


class Hardening(Faults):
    def test_hostile_nesting_from_callers_is_refused_and_never_crashes(self):
        self.start()
        messages = '{"model":"%s","max_tokens":5,"messages":[],"metadata":%s}' % (MODEL, DEEP(100000))
        chat = '{"model":"%s","messages":[{"role":"user","content":"hi"}],"stop":%s}' % (MODEL, DEEP(300000))
        # Without a key: refused from the head, the body is never parsed.
        status, _, body = self.send("/v1/messages", body=messages, headers=NO_KEY)
        self.assertEqual(status, 401, body)
        self.assertEqual(json.loads(body)["type"], "error")
        status, _, body = self.send("/v1/chat/completions", body=chat, headers=NO_KEY)
        self.assertEqual(status, 401, body)
        # With a key: a clear 400 in the caller's dialect.
        status, _, body = self.send("/v1/messages", body=messages, headers=AUTH)
        self.assertEqual(status, 400, body)
        self.assertIn("deeper than 128", json.loads(body)["error"]["message"])
        status, _, body = self.send("/v1/chat/completions", body=chat, headers=AUTH)
        self.assertEqual(status, 400, body)
        self.assertEqual(json.loads(body)["error"]["type"], "invalid_request_error")

    def test_hostile_nesting_from_the_model_is_an_error_in_the_callers_dialect(self):
        self.start()
        hostile = "hostile.model-v1:0"
        status, _, body = self.send("/v1/chat/completions", headers=AUTH,
                                    body=json.dumps({"model": hostile, "messages": [{"role": "user", "content": "x"}]}))
        self.assertEqual(status, 502, body)
        self.assertIn("could not be read", json.loads(body)["error"]["message"])
        # Anthropic stream: the nested event becomes an SSE error; the lookalike text passes.
        status, headers, body = self.send("/v1/messages", headers=AUTH, body=json.dumps(
            {"model": hostile, "max_tokens": 5, "stream": True, "messages": [{"role": "user", "content": "x"}]}))
        self.assertEqual(status, 200, body)
        self.assertIn(b"amazon-bedrock-invocationMetrics", body)
        self.assertIn(b"event: error", body)
        self.assertIn(b"deeper than", body)
        # Native stream: bytes pass through, usage reading must not read out of bounds (ASan).
        status, _, body = self.send("/model/%s/invoke-with-response-stream" % hostile, headers=AUTH, body="{}")
        self.assertEqual(status, 200)
        self.assertGreater(len(body), 600000)

    def test_unauthenticated_callers_choose_nothing_in_metrics_or_memory(self):
        gw = self.start()
        before = rss_kib(gw.proc.pid)
        for i in range(20):
            name = ("m%02d." % i) + "x" * (1 << 20)
            status, _, _ = self.send("/v1/chat/completions", headers=NO_KEY,
                                     body=json.dumps({"model": name, "messages": [{"role": "user", "content": "x"}]}))
            self.assertEqual(status, 401)
            status, _, _ = self.send("/model/m%02d.%s/converse" % (i, "y" * 2000), headers=NO_KEY)
            self.assertEqual(status, 401)
        # An authenticated caller naming models it may not use cannot grow /metrics either.
        status, _, _ = self.send("/v1/chat/completions", headers=AUTH,
                                 body=json.dumps({"model": "..", "messages": [{"role": "user", "content": "x"}]}))
        self.assertEqual(status, 400)
        counted = b'signgate_requests_total{client="",surface="openai",operation="",model="",status="401",' \
                  b'protocol="http/1.1"} 20'
        text = eventually(lambda: call(gw.url, "/metrics", method="GET", body=None, headers={})[2],
                          lambda text: counted in text)
        self.assertLess(len(text), 32 * 1024)
        self.assertNotIn(b"xxxxxxxx", text)
        self.assertNotIn(b"yyyyyyyy", text)
        self.assertIn(counted, text)
        text.decode("utf-8")  # valid UTF-8
        self.assertLess(rss_kib(gw.proc.pid) - before, 16 * 1024, "memory grew with what unauthenticated callers sent")

    def test_no_body_byte_is_read_before_the_key_is_checked(self):
        gw = self.start()
        # A 20 MB body announced, none sent: the 401 comes at once, from the head alone.
        s = connect(gw.url)
        s.sendall(head("/v1/chat/completions", ["Content-Type: application/json"], 20000000))
        s.settimeout(5 * SLOWDOWN)
        answer = read_until_close(s)
        s.close()
        self.requests += 1
        self.assertTrue(answer.startswith(b"HTTP/1.1 401"), answer[:200])
        # Expect: 100-continue without a key gets no 100 Continue, only the 401.
        s = connect(gw.url)
        s.sendall(head("/model/%s/converse" % MODEL, ["Expect: 100-continue"], 1000))
        s.settimeout(5 * SLOWDOWN)
        answer = read_until_close(s)
        s.close()
        self.requests += 1
        self.assertNotIn(b"100 Continue", answer)
        self.assertTrue(answer.startswith(b"HTTP/1.1 401"), answer[:200])
        # With the key, 100 Continue comes, then the answer to the body.
        body = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}).encode()
        s = connect(gw.url)
        s.sendall(head("/model/%s/converse" % MODEL, ["Expect: 100-continue", "Authorization: Bearer " + SECRET,
                                                        "Content-Type: application/json"], len(body)))
        s.settimeout(5 * SLOWDOWN)
        self.assertTrue(s.recv(1024).startswith(b"HTTP/1.1 100 Continue"))
        s.sendall(body)
        self.assertTrue(s.recv(65536).startswith(b"HTTP/1.1 200"))
        s.close()
        self.requests += 1
        # Validation comes after authentication: bad JSON without a key is a 401, not a 400.
        self.assertEqual(self.send("/v1/chat/completions", body="{not json", headers=NO_KEY)[0], 401)
        # Eight callers pushing 4 MB each without a key: nothing of it is kept.
        before = rss_kib(gw.proc.pid)
        socks = []
        for _ in range(8):
            s = connect(gw.url)
            s.sendall(head("/v1/messages", ["Content-Type: application/json"], 20000000))
            socks.append(s)
        for s in socks:
            try:
                s.sendall(b"x" * (4 << 20))
            except OSError:
                pass  # the gateway answered and closed: that is the point
        self.requests += 8
        self.assertLess(rss_kib(gw.proc.pid) - before, 16 * 1024)
        for s in socks:
            s.close()

    def chunked_flood(self, gw, prefix, size):
        s = connect(gw.url)
        s.sendall(head("/model/%s/converse" % MODEL, ["Authorization: Bearer " + SECRET,
                                                        "Transfer-Encoding: chunked"]) + prefix)
        sent = threading.Event()

        def flood():
            try:
                for _ in range(size // (1 << 20)):
                    s.sendall(b"a" * (1 << 20))
            except OSError:
                pass
            sent.set()
        t = threading.Thread(target=flood)
        t.start()
        s.settimeout(10 * SLOWDOWN)
        answer = read_until_close(s)
        t.join()
        s.close()
        self.requests += 1
        return answer

    def test_chunk_extensions_and_trailers_are_capped(self):
        gw = self.start()
        before = rss_kib(gw.proc.pid)
        answer = self.chunked_flood(gw, b"5;x=", 48 << 20)
        self.assertTrue(answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer[:200])
        answer = self.chunked_flood(gw, b"0\r\nX-Trailer: ", 48 << 20)
        self.assertTrue(answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer[:200])
        self.assertLess(rss_kib(gw.proc.pid) - before, 16 * 1024, "chunk lines or trailers were buffered")

    def test_transfer_codings_other_than_chunked_cannot_smuggle_a_request(self):
        gw = self.start()
        smuggled = b"GET /metrics HTTP/1.1\r\nHost: signgate\r\n\r\n"
        for coding, status in (("chunked, identity", b"400"), ("identity", b"400"), ("xchunked", b"400"),
                               ("gzip", b"400"), ("gzip, chunked", b"501"), (";x, chunked", b"400")):
            answer = raw(gw.url, head("/model/%s/converse" % MODEL, ["Authorization: Bearer " + SECRET,
                                                                      "Transfer-Encoding: " + coding]) + smuggled)
            self.requests += 1
            self.assertTrue(answer.startswith(b"HTTP/1.1 " + status), (coding, answer[:200]))
            self.assertEqual(answer.count(b"HTTP/1.1 "), 1, coding)
            self.assertNotIn(b"signgate_requests_total", answer)

    def test_chunked_bodies_are_framed_one_way_only(self):
        gw = self.start()
        auth = "Authorization: Bearer " + SECRET
        # Chunked in HTTP/1.0, or chunked beside a Content-Length: refused, never read on.
        for request in (head("/model/%s/converse" % MODEL, [auth, "Transfer-Encoding: chunked"]).replace(
                            b"HTTP/1.1", b"HTTP/1.0", 1) + b"0\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n",
                        head("/model/%s/converse" % MODEL, [auth, "Transfer-Encoding: chunked", "Content-Length: 5"]) +
                        b"0\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n"):
            answer = raw(gw.url, request)
            self.requests += 1
            self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer[:200])
            self.assertEqual(answer.count(b"HTTP/1.1 "), 1)
        # Trailers would be merged into the head the caller was judged by: refused.
        answer = raw(gw.url, head("/model/%s/converse" % MODEL, [auth, "Transfer-Encoding: chunked"]) +
                     b"2\r\n{}\r\n0\r\nX-Amzn-Bedrock-Trace: ENABLED\r\n\r\n")
        self.requests += 1
        self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer[:200])

    def test_a_head_answer_carries_no_body(self):
        gw = self.start()
        # Read to the close the second request asks for (raw() stops after the first head).
        s = connect(gw.url)
        s.sendall(b"HEAD /nowhere HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n"
                  b"Connection: close\r\n\r\n")
        s.settimeout(10 * SLOWDOWN)
        answer = read_until_close(s)
        s.close()
        self.requests += 1  # the HEAD is audited; /healthz is not
        first, _, rest = answer.partition(b"\r\n\r\n")
        self.assertTrue(first.startswith(b"HTTP/1.1 404"), answer[:300])
        self.assertTrue(rest.startswith(b"HTTP/1.1 200"), answer[:300])

    def test_descriptor_exhaustion_backs_off_and_recovers(self):
        gw = self.start()
        old = resource.prlimit(gw.proc.pid, resource.RLIMIT_NOFILE)
        resource.prlimit(gw.proc.pid, resource.RLIMIT_NOFILE, (self.baseline_fds + 8, old[1]))
        socks = [connect(gw.url) for _ in range(24)]
        time.sleep(0.5)
        spent = cpu_seconds(gw.proc.pid)
        time.sleep(2)
        spent = cpu_seconds(gw.proc.pid) - spent
        self.assertLess(spent, 0.5, "the accept loop spins while descriptors are exhausted")
        for s in socks:
            s.close()
        resource.prlimit(gw.proc.pid, resource.RLIMIT_NOFILE, old)
        self.assertTrue(wait_for(lambda: self.send("/model/%s/converse" % MODEL)[0] == 200, 10))
        self.requests += 0

    def test_connections_are_capped(self):
        gw = self.start("limits:\n  max_connections: 4\n")
        idle = [connect(gw.url) for _ in range(4)]
        time.sleep(0.3)
        waiting = connect(gw.url)
        waiting.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        waiting.settimeout(1.5)
        with self.assertRaises(socket.timeout):
            waiting.recv(1024)
        idle.pop().close()
        waiting.settimeout(10 * SLOWDOWN)
        self.assertTrue(waiting.recv(1024).startswith(b"HTTP/1.1 200"), "served once a connection closed")
        waiting.close()
        for s in idle:
            s.close()

    def test_dot_segment_model_ids_never_reach_bedrock(self):
        self.start()
        seen = len(self.fake.seen_models)
        status, headers, body = self.send("/model/%2e%2e/converse")
        self.assertEqual(status, 404, body)
        self.assertIn("not a Bedrock model ID", json.loads(body)["message"])
        status, _, body = self.send("/model/./invoke", body="{}")
        self.assertEqual(status, 404, body)
        status, _, body = self.send("/v1/chat/completions",
                                    body=json.dumps({"model": "..", "messages": [{"role": "user", "content": "x"}]}))
        self.assertEqual(status, 400, body)
        self.assertEqual(json.loads(body)["error"]["param"], "model")
        self.assertEqual(len(self.fake.seen_models), seen, "a dot-segment model reached Bedrock")

    def test_a_second_gateway_cannot_bind_the_same_address(self):
        gw = self.start()
        port = gw.url.rsplit(":", 1)[1]
        with open(gw.config_path) as f:
            text = f.read().replace("listen: 127.0.0.1:0", "listen: 127.0.0.1:" + port)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "second.yaml")
            with open(path, "w") as f:
                f.write(text.replace(gw.audit_path, os.path.join(d, "audit.jsonl")))
            env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDX", AWS_SECRET_ACCESS_KEY="x", AWS_EC2_METADATA_DISABLED="true")
            second = subprocess.run([BIN, "serve", "--config", path], capture_output=True, timeout=30, env=env)
        self.assertNotEqual(second.returncode, 0, "a second gateway bound the address: " + second.stdout.decode())
        self.assertIn(b"in use", second.stderr)

    def test_only_the_operations_own_bedrock_headers_are_forwarded(self):
        self.start()
        extra = dict(AUTH, **{"X-Amzn-Bedrock-Trace": "ENABLED", "X-Amzn-Bedrock-Unheard-Of": "1"})

        def last_headers():
            return {n.lower() for n, _ in self.fake.requests[-1]["headers"]}
        self.assertEqual(self.send("/model/%s/converse" % MODEL, headers=extra)[0], 200)
        self.assertNotIn("x-amzn-bedrock-trace", last_headers())
        self.assertNotIn("x-amzn-bedrock-unheard-of", last_headers())
        self.assertEqual(self.send("/model/%s/invoke" % MODEL, body="{}", headers=extra)[0], 200)
        self.assertIn("x-amzn-bedrock-trace", last_headers())
        self.assertNotIn("x-amzn-bedrock-unheard-of", last_headers())

    def test_authorization_rules(self):
        self.start()
        twice = b"Authorization: Bearer " + SECRET.encode() + b"\r\n"
        answer = raw(self.gw.url, head("/model/%s/converse" % MODEL, []).replace(b"\r\n\r\n", b"\r\n" + twice + twice + b"Content-Length: 2\r\n\r\n{}"))
        self.requests += 1
        self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer[:200])
        status, _, body = self.send("/model/%s/converse" % MODEL,
                                    headers={"Authorization": "Basic " + base64.b64encode(b"u:p").decode(),
                                             "x-api-key": SECRET})
        self.assertEqual(status, 401, body)
        self.assertIn("scheme", json.loads(body)["message"])

    def test_a_replayed_client_request_token_does_not_make_anothers_invocation_yours(self):
        """Bob replays alice's StartAsyncInvoke body with her clientRequestToken: Bedrock gets a
        token of his own, so he starts his own invocation instead of being handed hers; her
        retry still gets hers. When Bedrock hands him her ARN anyway, it stays hers: a 404, with
        the reason in the audit line, and never in his reads or list. A token Bedrock would
        refuse is refused here; none stays none."""
        keys = {"alice": "sgk_hardening_alice_TEST_0123456789abcdef", "bob": "sgk_hardening_bob_TEST_0123456789abcdefgh"}
        clients = CLIENTS + [{"name": n, "secret": k, "models": '["amazon.*"]', "operations": "[async-invoke]"}
                             for n, k in keys.items()]
        self.gw = Gateway(self.fake_url, clients)
        wait_for(lambda: call(self.gw.url, "/readyz", method="GET", body=None, headers={})[0] == 200, 10)
        self.baseline()

        def send(who, path="/async-invoke", body=None, method="POST"):
            self.requests += 1
            headers = {"Authorization": "Bearer " + keys[who], "Content-Type": "application/json"}
            data = json.dumps(body) if body is not None else None
            status, _, out = call(self.gw.url, path, body=data, headers=headers, method=method)
            return status, json.loads(out) if out else None

        def listed(who):
            status, out = send(who, method="GET")
            self.assertEqual(status, 200, out)
            return [s["invocationArn"] for s in out["asyncInvokeSummaries"]]

        start = {"modelId": "amazon.nova-reel-v1:0", "modelInput": {"taskType": "TEXT_VIDEO"},
                 "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://alice/out"}},
                 "clientRequestToken": "alice-video-0001"}
        status, out = send("alice", body=start)
        self.assertEqual(status, 200, out)
        arn = out["invocationArn"]
        self.assertEqual(send("alice", body=start), (200, {"invocationArn": arn}), "her retry is idempotent")
        status, out = send("bob", body=start)
        self.assertEqual(status, 200, out)
        bobs = out["invocationArn"]
        self.assertNotEqual(bobs, arn, "bob's replay started his own invocation")
        self.assertRegex(self.fake.async_invocations[arn]["clientRequestToken"], "^[0-9a-f]{64}$")

        self.fake.next_async_arn = arn  # Bedrock hands bob her ARN
        del start["clientRequestToken"]
        status, out = send("bob", body=start)
        self.assertEqual(status, 404, out)
        self.assertNotIn(arn, json.dumps(out))
        self.assertTrue(wait_for(lambda: len(self.gw.audit()) >= self.requests, 5))
        line = self.gw.audit()[-1]
        self.assertEqual((line["client"], line["status"]), ("bob", 404), line)
        self.assertIn("which client alice started first", line["error"])
        quoted = "/async-invoke/" + urllib.parse.quote(arn, safe="")
        self.assertEqual(send("bob", quoted, method="GET")[0], 404)
        self.assertEqual(listed("bob"), [bobs])
        self.assertEqual(send("alice", quoted, method="GET")[0], 200)
        self.assertEqual(listed("alice"), [arn])

        # Without a token nothing is made up; a token Bedrock would refuse never reaches it.
        status, out = send("alice", body=start)
        self.assertEqual(status, 200, out)
        self.assertEqual(self.fake.async_invocations[out["invocationArn"]]["clientRequestToken"], "")
        known = len(self.fake.async_invocations)
        for bad in ("with space", "x" * 257, "", 7):
            status, out = send("alice", body=dict(start, clientRequestToken=bad))
            self.assertEqual(status, 400, (bad, out))
        self.assertEqual(len(self.fake.async_invocations), known)


class Reloads(Faults):
    def test_rate_limit_buckets_survive_a_reload_and_cover_model_listing(self):
        limited = [{"name": "faults", "secret": SECRET, "models": '["*"]',
                    "rate_limit": "{requests_per_minute: 3}"}]
        self.gw = Gateway(self.fake_url, limited)
        wait_for(lambda: call(self.gw.url, "/readyz", method="GET", body=None, headers={})[0] == 200, 10)
        self.baseline()
        self.assertEqual(self.send("/model/%s/converse" % MODEL)[0], 200)
        self.requests += 1
        self.assertEqual(call(self.gw.url, "/v1/models", method="GET", body=None, headers=AUTH)[0], 200)
        self.gw.reload()
        self.assertTrue(wait_for(lambda: "reloaded" in self.gw.logs(), 10))
        self.assertEqual(self.send("/v1/chat/completions", body=CHAT)[0], 200)
        status, headers, _ = self.send("/model/%s/converse" % MODEL)
        self.assertEqual(status, 429, "the reload refilled the bucket")
        self.assertIn("retry-after", headers)

    def tearDown(self):
        # The bucket is empty: the shared check's request would be refused. Wait it out briefly.
        if self.gw is not None:
            time.sleep(21 * 1.0)
        super().tearDown()


class OpsListener(unittest.TestCase):
    def test_ops_endpoints_live_on_their_own_port_and_say_little(self):
        import aws_fake
        from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE
        fake, fake_url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        fake.sts_down = True
        ops_port = free_port()
        gw = Gateway(fake_url, [{"name": "c", "secret": SECRET}], extra="ops_listen: 127.0.0.1:%d\n" % ops_port)
        try:
            ops_url = "http://127.0.0.1:%d" % ops_port
            self.assertEqual(call(gw.url, "/metrics", method="GET", body=None, headers={})[0], 404)
            status, _, text = call(ops_url, "/metrics", method="GET", body=None, headers={})
            self.assertEqual(status, 200)
            self.assertIn(b"signgate_requests_total", text)
            self.assertEqual(call(ops_url, "/v1/models", method="GET", body=None, headers=AUTH)[0], 404)
            # Not ready: no role, account or STS message for whoever asks; the log has them.
            self.assertTrue(wait_for(lambda: call(ops_url, "/readyz", method="GET", body=None, headers={})[0] == 503, 10))
            _, _, body = call(ops_url, "/readyz", method="GET", body=None, headers={})
            self.assertNotIn(b"111122223333", body)
            self.assertNotIn(b"ServiceUnavailable", body)
            status, _, body = call(gw.url, "/model/%s/converse" % MODEL, body="{}", headers=AUTH)
            self.assertEqual(status, 503)
            self.assertNotIn(b"111122223333", body)
            self.assertIn(b"request ", body)
            self.assertTrue(wait_for(lambda: "111122223333" in gw.logs() or "ServiceUnavailable" in gw.logs(), 5))
        finally:
            self.assertEqual(gw.stop(), 0)
            fake.shutdown()


if __name__ == "__main__":
    unittest.main(verbosity=2)
