#!/usr/bin/python3
"""`make soak`: mixed traffic through `signgate serve` for --seconds (default 600) against the
botocore-verifying emulator, with the role's credentials rotating every few seconds. Then
checks: no failed request that the upstream answered, RSS flat (growth under 5 % after
warm-up), descriptors flat, and as many audit lines as requests. Exit 0 when all hold.

With --replicas N (N > 1), a fleet: N replicas share one redis-server, the client has a
request limit, a token limit and a daily budget (set high enough never to refuse), so every
request is admitted and charged through Redis; Responses conversations hop from replica to
replica (each turn continues the last on the next replica). Also checked then, per replica
and for the fleet: the tokens Redis counted for the day equal those the audit lines say, to
the token (no charge lost), and Redis answered every admission (no local fallback)."""
import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import common  # noqa: E402  (sets up paths; eventually)
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway  # noqa: E402
from redis_server import RedisServer  # noqa: E402

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
SECRET = "sgk_soak_TEST_secret_0123456789abcdef"
AUTH = {"Authorization": "Bearer " + SECRET, "Content-Type": "application/json"}
CONVERSE = json.dumps({"messages": [{"role": "user", "content": [{"text": "soak"}]}]})
MIX = [
    ("/model/%s/converse" % MODEL, CONVERSE),
    ("/model/%s/converse-stream" % MODEL, CONVERSE),
    ("/model/%s/invoke" % MODEL, json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
                                             "messages": [{"role": "user", "content": "soak"}]})),
    ("/model/%s/count-tokens" % MODEL, json.dumps({"input": {"converse": json.loads(CONVERSE)}})),
    ("/v1/chat/completions", json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "soak"}]})),
    ("/v1/chat/completions", json.dumps({"model": MODEL, "stream": True, "stream_options": {"include_usage": True},
                                         "messages": [{"role": "user", "content": "soak"}]})),
    ("/v1/messages", json.dumps({"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "soak"}]})),
    ("/v1/messages", json.dumps({"model": MODEL, "max_tokens": 10, "stream": True,
                                 "messages": [{"role": "user", "content": "soak"}]})),
    ("/v1/responses", None),  # a turn of the worker's conversation (see Worker.responses_body)
]
TURNS = 6  # a conversation's turns before the worker starts another


def status_of(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    out["fds"] = len(os.listdir("/proc/%d/fd" % pid))
    return out


class Worker(threading.Thread):
    """Sends the mix in turn, each request to the next replica (one connection to each)."""

    def __init__(self, urls, index, stop):
        super().__init__(daemon=True)
        self.urls, self.index, self.stop = [urllib.parse.urlsplit(u) for u in urls], index, stop
        self.sent = self.failed = 0
        self.failures = []
        self.previous, self.turn = None, 0

    def responses_body(self):
        body = {"model": MODEL, "input": "soak turn %d" % self.turn}
        if self.previous and self.turn % TURNS:
            body["previous_response_id"] = self.previous
        return json.dumps(body)

    def run(self):
        conns = [None] * len(self.urls)
        i = self.index
        while not self.stop.is_set():
            path, body = MIX[i % len(MIX)]
            at = (i + i // len(MIX)) % len(self.urls)  # each entry of the mix visits every replica
            i += 1
            if body is None:
                body = self.responses_body()
            conn = conns[at]
            if conn is None or i % 50 == 0:  # new connections now and then, as real callers do
                if conn is not None:
                    conn.close()
                conn = conns[at] = http.client.HTTPConnection(self.urls[at].hostname, self.urls[at].port, timeout=30)
            self.sent += 1
            try:
                conn.request("POST", path, body=body, headers=AUTH)
                r = conn.getresponse()
                data = r.read()
                ok = r.status == 200 and (b"error" not in data[-400:] or path.startswith("/model/"))
                if ok and path == "/v1/responses":
                    answer = json.loads(data)
                    ok = answer["status"] == "completed"
                    self.previous, self.turn = answer["id"], self.turn + 1
            except (OSError, http.client.HTTPException, ValueError, KeyError) as e:
                ok, data = False, str(e).encode()
                conn.close()
                conns[at] = None
            if not ok:
                self.failed += 1
                self.previous, self.turn = None, 0
                if len(self.failures) < 5:
                    self.failures.append((path, data[:300]))
        for conn in conns:
            if conn is not None:
                conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--signgate", default=os.path.join(ROOT, "build", "signgate"))
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--sts-lifetime", type=int, default=20,
                    help="seconds the role's credentials live; they are refreshed 4 s after issue")
    ap.add_argument("--replicas", type=int, default=1, help="more than 1: a fleet sharing one redis-server")
    args = ap.parse_args()
    os.environ["SIGNGATE_BIN"] = args.signgate
    common.BIN = args.signgate
    import gateway
    gateway.BIN = args.signgate

    fake = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "fakes", "aws_fake.py"), "--credentials",
                             "%s:%s" % (BASE_KEY, BASE_SECRET), "--role", "%s=%s" % (ROLE, EXTERNAL_ID),
                             "--sts-lifetime", str(args.sts_lifetime), "--frame-delay", "0"],
                            stdout=subprocess.PIPE, text=True)
    fake_url = fake.stdout.readline().split(" on ", 1)[1].strip()
    lead = max(args.sts_lifetime - 4, 1)
    client = {"name": "soak", "secret": SECRET, "models": '["*"]'}
    # Stored responses live 10 s: the store stays bounded, so RSS can stay flat.
    extra = "responses: { ttl_seconds: 10 }\n"
    fleet = []
    try:
        return soak(args, fake_url, lead, client, extra, fleet)
    finally:
        for g in fleet:
            g.stop()
        fake.terminate()
        fake.wait()


def soak(args, fake_url, lead, client, extra, fleet):
    redis = None
    if args.replicas > 1:
        redis = RedisServer()
        client.update(rate_limit="{ requests_per_minute: 10000000, tokens_per_minute: 1000000000000 }",
                      budget="{ tokens_per_day: 1000000000000 }")
        extra += "redis: { url: \"%s\", command_timeout_ms: 2000 }\n" % redis.url
    for _ in range(args.replicas):
        fleet.append(Gateway(fake_url, [client], extra=extra,
                             aws_extra="  refresh_before_expiry_seconds: %d\n" % lead))
    gw = fleet[0]
    stop = threading.Event()
    workers = [Worker([g.url for g in fleet], i, stop) for i in range(args.workers)]
    samples = []
    started = time.time()
    try:
        for w in workers:
            w.start()
        warmup = min(60, max(5, args.seconds // 10))
        while time.time() - started < args.seconds:
            time.sleep(min(5, max(0.5, args.seconds / 20)))
            s = [status_of(g.proc.pid) for g in fleet]
            t, sent_now = time.time() - started, sum(w.sent for w in workers)
            for one in s:
                one["t"] = t
            samples.append(s)
            print("  t=%4.0fs requests=%7d rss=%s KiB fds=%s" % (t, sent_now, "/".join(str(o["VmRSS"]) for o in s),
                                                               "/".join(str(o["fds"]) for o in s)), flush=True)
        stop.set()
        for w in workers:
            w.join(timeout=60)
        time.sleep(1)
        sent = sum(w.sent for w in workers)
        failed = sum(w.failed for w in workers)
        lines = common.eventually(lambda: [line for g in fleet for line in g.audit()], lambda lines: len(lines) >= sent)
        audited = len(lines)
        conn = http.client.HTTPConnection("127.0.0.1", urllib.parse.urlsplit(fake_url).port, timeout=10)
        conn.request("GET", "/_fake/stats")
        stats = json.loads(conn.getresponse().read())["counts"]
        conn.close()
        elapsed = time.time() - started
        print()
        print("soak: %.0f s, %d replica(s), %d requests (%.0f/s) over %d workers, %d AssumeRole calls (rotations), "
              "%d throttled" % (elapsed, len(fleet), sent, sent / elapsed, args.workers, stats.get("assume_role", 0),
                                stats.get("throttled", 0)))
        print("  failed requests: %d" % failed)
        for w in workers:
            for path, data in w.failures:
                print("    %s: %r" % (path, data))
        problems = []
        for r, g in enumerate(fleet):
            after = [s[r] for s in samples if s[r]["t"] >= warmup] or [s[r] for s in samples]
            base_rss = after[0]["VmRSS"]
            end_rss = sorted(s["VmRSS"] for s in after[-3:])[len(after[-3:]) // 2]
            growth = (end_rss - base_rss) / base_rss * 100
            final = status_of(g.proc.pid)
            fd_growth = final["fds"] - after[0]["fds"]
            print("  replica %d: RSS after warm-up %d KiB -> end %d KiB: %+.2f %% (peak %d KiB); descriptors %d -> %d "
                  "(%+d)" % (r, base_rss, end_rss, growth, final["VmHWM"], after[0]["fds"], final["fds"], fd_growth))
            if growth >= 5:
                problems.append("replica %d: RSS grew %.1f %%" % (r, growth))
            # Each worker holds a connection to each replica, and one more to Redis per loop.
            if fd_growth > args.workers + 2:
                problems.append("replica %d: descriptors grew by %d" % (r, fd_growth))
        print("  audit lines %d for %d requests" % (audited, sent))
        if failed:
            problems.append("%d requests failed" % failed)
        if audited != sent:
            problems.append("%d audit lines for %d requests" % (audited, sent))
        if redis is not None:
            audited_tokens = sum((line.get("input_tokens") or 0) + (line.get("output_tokens") or 0) for line in lines)
            deadline = time.time() + 15  # charges go out once each answer has ended
            counted = 0
            while time.time() < deadline:
                # Every day's key: a run across midnight (UTC) charges two.
                day_keys = redis.cli("--scan", "--pattern", "signgate:{soak}:day:*").split()
                counted = sum(int(redis.cli("GET", k) or 0) for k in day_keys)
                if counted == audited_tokens:
                    break
                time.sleep(0.2)
            fallbacks = 0
            for g in fleet:
                m = http.client.HTTPConnection(urllib.parse.urlsplit(g.url).hostname, urllib.parse.urlsplit(g.url).port,
                                               timeout=10)
                m.request("GET", "/metrics")
                text = m.getresponse().read().decode()
                m.close()
                fallbacks += sum(int(l.split()[-1]) for l in text.splitlines()
                                 if l.startswith("signgate_redis_local_fallbacks_total "))
            print("  tokens: %d in the audit lines, %d counted by Redis; %d local fallbacks"
                  % (audited_tokens, counted, fallbacks))
            if counted != audited_tokens:
                problems.append("Redis counted %d tokens for %d audited" % (counted, audited_tokens))
            if fallbacks:
                problems.append("%d admissions fell back to a replica's own limits" % fallbacks)
        if stats.get("assume_role", 0) < max(2, args.seconds // (args.sts_lifetime * 2)):
            problems.append("credentials did not rotate (%d AssumeRole calls)" % stats.get("assume_role", 0))
        for g in fleet:
            code = g.stop()
            if code != 0:
                problems.append("signgate exited %s" % code)
        print("soak: " + ("PASS" if not problems else "FAIL: " + "; ".join(problems)))
        return 1 if problems else 0
    finally:
        stop.set()
        for g in fleet:
            g.stop()
        if redis is not None:
            redis.stop()


if __name__ == "__main__":
    sys.exit(main())
