#!/usr/bin/python3
"""`make soak`: mixed traffic through `signgate serve` for --seconds (default 600) against the
botocore-verifying emulator, with the role's credentials rotating every few seconds. Then
checks: no failed request that the upstream answered, RSS flat (growth under 5 % after
warm-up), descriptors flat, and as many audit lines as requests. Exit 0 when all hold."""
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
import common  # noqa: E402,F401  (sets up paths)
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway  # noqa: E402

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
]


def status_of(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    out["fds"] = len(os.listdir("/proc/%d/fd" % pid))
    return out


class Worker(threading.Thread):
    def __init__(self, url, index, stop):
        super().__init__(daemon=True)
        self.url, self.index, self.stop = urllib.parse.urlsplit(url), index, stop
        self.sent = self.failed = 0
        self.failures = []

    def run(self):
        conn = None
        i = self.index
        while not self.stop.is_set():
            path, body = MIX[i % len(MIX)]
            i += 1
            if conn is None or i % 50 == 0:  # new connections now and then, as real callers do
                if conn is not None:
                    conn.close()
                conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=30)
            self.sent += 1
            try:
                conn.request("POST", path, body=body, headers=AUTH)
                r = conn.getresponse()
                data = r.read()
                ok = r.status == 200 and (b"error" not in data[-400:] or path.startswith("/model/"))
            except (OSError, http.client.HTTPException) as e:
                ok, data = False, str(e).encode()
                conn.close()
                conn = None
            if not ok:
                self.failed += 1
                if len(self.failures) < 5:
                    self.failures.append((path, data[:300]))
        if conn is not None:
            conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--signgate", default=os.path.join(ROOT, "build", "signgate"))
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--sts-lifetime", type=int, default=20,
                    help="seconds the role's credentials live; they are refreshed 4 s after issue")
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
    gw = Gateway(fake_url, [{"name": "soak", "secret": SECRET, "models": '["*"]'}],
                 aws_extra="  refresh_before_expiry_seconds: %d\n" % lead)
    stop = threading.Event()
    workers = [Worker(gw.url, i, stop) for i in range(args.workers)]
    samples = []
    started = time.time()
    try:
        for w in workers:
            w.start()
        warmup = min(60, max(5, args.seconds // 10))
        while time.time() - started < args.seconds:
            time.sleep(min(5, max(0.5, args.seconds / 20)))
            s = status_of(gw.proc.pid)
            s["t"] = time.time() - started
            s["sent"] = sum(w.sent for w in workers)
            samples.append(s)
            print("  t=%4.0fs requests=%7d rss=%6d KiB fds=%d" % (s["t"], s["sent"], s["VmRSS"], s["fds"]), flush=True)
        stop.set()
        for w in workers:
            w.join(timeout=60)
        time.sleep(1)
        sent = sum(w.sent for w in workers)
        failed = sum(w.failed for w in workers)
        deadline = time.time() + 15
        while len(gw.audit()) < sent and time.time() < deadline:
            time.sleep(0.2)
        audited = len(gw.audit())
        conn = http.client.HTTPConnection("127.0.0.1", urllib.parse.urlsplit(fake_url).port, timeout=10)
        conn.request("GET", "/_fake/stats")
        stats = json.loads(conn.getresponse().read())["counts"]
        conn.close()
        after = [s for s in samples if s["t"] >= warmup] or samples
        base_rss = after[0]["VmRSS"]
        end_rss = sorted(s["VmRSS"] for s in after[-3:])[len(after[-3:]) // 2]
        growth = (end_rss - base_rss) / base_rss * 100
        final = status_of(gw.proc.pid)
        fd_growth = final["fds"] - after[0]["fds"]
        elapsed = time.time() - started
        print()
        print("soak: %.0f s, %d requests (%.0f/s) over %d workers, %d AssumeRole calls (rotations), "
              "%d throttled" % (elapsed, sent, sent / elapsed, args.workers, stats.get("assume_role", 0),
                                stats.get("throttled", 0)))
        print("  failed requests: %d" % failed)
        for w in workers:
            for path, data in w.failures:
                print("    %s: %r" % (path, data))
        print("  RSS after warm-up %d KiB -> end %d KiB: %+.2f %% (peak %d KiB)" % (base_rss, end_rss, growth,
                                                                                  final["VmHWM"]))
        print("  descriptors after warm-up %d -> end %d (%+d)" % (after[0]["fds"], final["fds"], fd_growth))
        print("  audit lines %d for %d requests" % (audited, sent))
        problems = []
        if failed:
            problems.append("%d requests failed" % failed)
        if growth >= 5:
            problems.append("RSS grew %.1f %%" % growth)
        if fd_growth > args.workers + 2:
            problems.append("descriptors grew by %d" % fd_growth)
        if audited != sent:
            problems.append("%d audit lines for %d requests" % (audited, sent))
        if stats.get("assume_role", 0) < max(2, args.seconds // (args.sts_lifetime * 2)):
            problems.append("credentials did not rotate (%d AssumeRole calls)" % stats.get("assume_role", 0))
        code = gw.stop()
        if code != 0:
            problems.append("signgate exited %s" % code)
        print("soak: " + ("PASS" if not problems else "FAIL: " + "; ".join(problems)))
        return 1 if problems else 0
    finally:
        stop.set()
        gw.stop()
        fake.terminate()
        fake.wait()


if __name__ == "__main__":
    sys.exit(main())
