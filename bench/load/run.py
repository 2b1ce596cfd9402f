#!/usr/bin/python3
"""`make bench` load harness: a canned nginx upstream, nginx as a plain reverse proxy in front of
it (the reference: what a proxy costs here at the least), signgate (role + External ID) and the
Portkey gateway on 127.0.0.1, driven by wrk (and h2load for 10k slow streams), all in one run
so every figure is a ratio taken side by side on the same noisy machine.

Prints a markdown table; --out also writes it to a file."""
import argparse
import datetime
import hashlib
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import upstream as up  # noqa: E402

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
SECRET = "sk-bench-0123456789abcdef0123456789abcdef"
ROLE = "arn:aws:iam::111122223333:role/signgate-bench"
EXTERNAL_ID = "bench-ext-5c1d"
TICK = os.sysconf("SC_CLK_TCK")
CHAT_BODY = json.dumps({
    "model": "claude-haiku",
    "messages": [{"role": "system", "content": "You are a concise assistant for platform engineers."},
                 {"role": "user", "content": "In two sentences: why should a gateway sign Bedrock requests with "
                                             "short-lived credentials instead of handing out AWS keys?"}],
    "max_tokens": 256, "temperature": 0.2})
CONVERSE_BODY = json.dumps({
    "messages": [{"role": "user", "content": [{"text": "In two sentences: why should a gateway sign Bedrock "
                                                       "requests with short-lived credentials?"}]}],
    "system": [{"text": "You are a concise assistant for platform engineers."}],
    "inferenceConfig": {"maxTokens": 256, "temperature": 0.2}})

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = %s
%s
done = function(summary, latency, requests)
  io.write(string.format('WRKJSON {"requests":%%d,"duration_us":%%d,"bytes":%%d,"connect":%%d,"read":%%d,' ..
    '"write":%%d,"status":%%d,"timeout":%%d,"p50":%%d,"p99":%%d,"p999":%%d,"mean":%%.1f,"max":%%d}\\n',
    summary.requests, summary.duration, summary.bytes, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.mean, latency.max))
end
"""


def lua_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def proc_cpu_ticks(pid, kernel_only=False):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    if kernel_only:
        return int(fields[12])  # stime
    return int(fields[11]) + int(fields[12])  # utime + stime of every thread


def proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB
    return 0


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class Target:
    """Something wrk drives: a URL, headers, a body, and the pids whose CPU it costs."""

    def __init__(self, name, url, body, headers, pids):
        self.name, self.url, self.body, self.headers, self.pids = name, url, body, headers, pids


def run_wrk(target, connections, seconds, workdir):
    script = os.path.join(workdir, "wrk-%s.lua" % target.name.replace(" ", "_").replace("/", "_"))
    headers = "\n".join('wrk.headers[%s] = %s' % (lua_string(k), lua_string(v)) for k, v in target.headers.items())
    with open(script, "w") as f:
        f.write(WRK_SCRIPT % (lua_string(target.body), headers))
    threads = 1 if connections < 2 else 2
    before = {pid: proc_cpu_ticks(pid) for pid in target.pids}
    before_sys = {pid: proc_cpu_ticks(pid, True) for pid in target.pids}
    out = subprocess.run(["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % seconds, "--timeout", "10s",
                          "-s", script, target.url], capture_output=True, text=True, timeout=seconds + 60)
    cpu = sum(proc_cpu_ticks(pid) - before[pid] for pid in target.pids) / TICK
    cpu_sys = sum(proc_cpu_ticks(pid, True) - before_sys[pid] for pid in target.pids) / TICK
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError("wrk gave no summary:\n%s\n%s" % (out.stdout, out.stderr))
    r = json.loads(line[len("WRKJSON "):])
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["errors"] = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    r["cpu_us_per_req"] = cpu * 1e6 / r["requests"] if r["requests"] else float("nan")
    r["kernel_share"] = cpu_sys / cpu * 100 if cpu else float("nan")
    return r


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p / 100.0))]


def run_paced(target, connections, rate_per_connection, seconds, workdir):
    """h2load at a fixed request rate well under capacity, so latency is service time, not
    queueing: the fair measure of what a hop adds. Percentiles come from h2load's per-request log."""
    tag = target.name.replace(" ", "_").replace("/", "_")
    body = os.path.join(workdir, "paced-%s.body" % tag)
    log = os.path.join(workdir, "paced-%s.log" % tag)
    with open(body, "w") as f:
        f.write(target.body)
    cmd = ["h2load", "--h1", "-c", str(connections), "-t", "1", "--rps", str(rate_per_connection), "-D", str(seconds),
           "--warm-up-time", "1", "-d", body, "--log-file", log]
    for k, v in target.headers.items():
        cmd += ["-H", "%s: %s" % (k, v)]
    subprocess.run(cmd + [target.url], capture_output=True, text=True, timeout=seconds + 60)
    latencies, failed = [], 0
    with open(log) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                if parts[1].startswith("2"):
                    latencies.append(int(parts[2]))
                else:
                    failed += 1
    latencies.sort()
    return {"requests": len(latencies), "failed": failed, "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99), "p999": percentile(latencies, 99.9)}


def run_h2load(target, connections, streams, seconds, workdir, h1):
    """h2load flat out over HTTP/1.1 (--h1, one request at a time per connection) or HTTP/2 with
    prior knowledge (`streams` concurrent streams per connection): requests/s and what each cost
    the target in CPU, the same tool both ways."""
    tag = target.name.replace(" ", "_").replace("/", "_")
    body = os.path.join(workdir, "h2load-%s.body" % tag)
    with open(body, "w") as f:
        f.write(target.body)
    cmd = ["h2load", "-c", str(connections), "-m", str(streams), "-t", "1", "-D", str(seconds), "-d", body]
    if h1:
        cmd.append("--h1")
    for k, v in target.headers.items():
        cmd += ["-H", "%s: %s" % (k, v)]
    before = {pid: proc_cpu_ticks(pid) for pid in target.pids}
    before_sys = {pid: proc_cpu_ticks(pid, True) for pid in target.pids}
    out = subprocess.run(cmd + [target.url], capture_output=True, text=True, timeout=seconds + 60)
    cpu = sum(proc_cpu_ticks(pid) - before[pid] for pid in target.pids) / TICK
    cpu_sys = sum(proc_cpu_ticks(pid, True) - before_sys[pid] for pid in target.pids) / TICK
    lines = out.stdout.splitlines()
    summary = next((ln for ln in lines if ln.startswith("requests:")), None)
    finished = next((ln for ln in lines if ln.startswith("finished in")), None)
    latency = next((ln.split() for ln in lines if ln.startswith("time for request:")), None)
    if summary is None or finished is None:
        raise RuntimeError("h2load gave no summary:\n%s\n%s" % (out.stdout, out.stderr))
    nums = [int(tok) for tok in summary.replace(",", " ").split() if tok.isdigit()]
    succeeded, failed = nums[3], nums[4]
    rps = float(finished.split(",")[1].split()[0])

    def to_ms(tok):
        for unit, scale in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
            if tok.endswith(unit):
                return float(tok[:-len(unit)]) * scale
        return float("nan")

    return {"requests": succeeded, "failed": failed, "rps": rps,
            "mean_ms": to_ms(latency[5]) if latency else float("nan"),
            "cpu_us_per_req": cpu * 1e6 / succeeded if succeeded else float("nan"),
            "kernel_share": cpu_sys / cpu * 100 if cpu else float("nan")}


class Signgate:
    def __init__(self, binary, workdir, upstream_url, threads, name="signgate", extra_client="", extra=""):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.audit_path = os.path.join(self.dir, "audit.jsonl")
        config = os.path.join(self.dir, "signgate.yaml")
        with open(config, "w") as f:
            f.write("listen: 127.0.0.1:0\naws:\n  region: us-east-1\n  role_arn: %s\n  external_id: %s\n"
                    "  sts_endpoint: %s\n  bedrock_endpoint: %s\n"
                    "clients:\n  - name: bench\n    secret_sha256: %s\n    models: [\"*\"]\n%s"
                    "models:\n  claude-haiku: %s\naudit:\n  path: %s\n%s"
                    % (ROLE, EXTERNAL_ID, upstream_url, upstream_url, hashlib.sha256(SECRET.encode()).hexdigest(),
                       extra_client, MODEL, self.audit_path, extra))
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"HOME": self.dir, "AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "AKIDBENCHBASE",
                    "AWS_SECRET_ACCESS_KEY": "bench/base/secret"})
        self.log = open(os.path.join(self.dir, "signgate.log"), "wb")
        self.proc = subprocess.Popen([binary, "serve", "--config", config, "--threads", str(threads)],
                                     stdout=subprocess.PIPE, stderr=self.log, env=env)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("signgate listening on "):
            raise RuntimeError("signgate did not start: %r" % line)
        self.url = line.split(" on ", 1)[1].strip()
        self.pid = self.proc.pid

    def metric(self, name):
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    return float(line.rsplit(" ", 1)[1])
        return 0.0

    def audit_lines(self):
        if not os.path.exists(self.audit_path):
            return 0
        with open(self.audit_path, "rb") as f:
            return sum(1 for _ in f)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Portkey:
    def __init__(self, workdir):
        entry = os.path.join(HERE, "node_modules", "@portkey-ai", "gateway", "build", "start-server.js")
        if not os.path.exists(entry):
            raise RuntimeError("Portkey is not installed: run `make bench` (it runs npm ci in bench/load)")
        self.port = up.free_port()
        env = dict(os.environ, NODE_ENV="production", NODE_NO_WARNINGS="1")
        self.log = open(os.path.join(workdir, "portkey.log"), "wb")
        self.proc = subprocess.Popen(["node", entry, "--port=%d" % self.port, "--headless"], stdout=self.log,
                                     stderr=self.log, env=env)
        self.url = "http://127.0.0.1:%d" % self.port
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(self.url + "/", timeout=1).read()
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("Portkey did not start")
                time.sleep(0.2)
        self.pid = self.proc.pid

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def check_answer(url, body, headers, want):
    req = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        data = r.read()
    if want.encode() not in data:
        raise RuntimeError("%s answered without %r: %r" % (url, want, data[:300]))


def slow_streams(sg, count, workdir):
    """`count` simultaneous streams, one frame a second for 10 s, held open through signgate."""
    body_path = os.path.join(workdir, "slow-body.json")
    with open(body_path, "w") as f:
        f.write(CONVERSE_BODY)
    rss_before = proc_status(sg.pid, "VmRSS")
    audit_before = sg.audit_lines()
    peak = {"open": 0.0, "rss": rss_before, "fds": 0}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                open_now = sg.metric("signgate_open_streams")
                rss = proc_status(sg.pid, "VmRSS")
                if open_now >= peak["open"]:
                    peak.update(open=open_now, rss=max(peak["rss"], rss), fds=fd_count(sg.pid))
            except OSError:
                pass
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.time()
    out = subprocess.run(["h2load", "--h1", "-c", str(count), "-n", str(count), "-t", "2", "-d", body_path,
                          "-H", "authorization: Bearer " + SECRET, "-H", "content-type: application/json",
                          "-H", "accept: application/vnd.amazon.eventstream", "-T", "60", "-N", "60",
                          sg.url + "/model/%s-slow/converse-stream" % MODEL.replace(":", "%3A")],
                         capture_output=True, text=True, timeout=600)
    elapsed = time.time() - started
    stop.set()
    sampler.join()
    text = out.stdout
    summary = next((ln for ln in text.splitlines() if ln.startswith("requests:")), "")
    codes = next((ln for ln in text.splitlines() if ln.startswith("status codes:")), "")
    nums = [int(tok) for tok in summary.replace(",", " ").split() if tok.isdigit()]
    succeeded = nums[3] if len(nums) > 3 else 0
    failed = nums[4] if len(nums) > 4 else count
    deadline = time.time() + 10
    while sg.audit_lines() - audit_before < count and time.time() < deadline:
        time.sleep(0.2)
    per_stream = (peak["rss"] - rss_before) / peak["open"] if peak["open"] else float("nan")
    return {"count": count, "succeeded": succeeded, "failed": failed, "status": codes, "seconds": elapsed,
            "peak_open": int(peak["open"]), "rss_before_kib": rss_before, "rss_peak_kib": peak["rss"],
            "rss_per_stream_kib": per_stream, "fds_at_peak": peak["fds"],
            "audited": sg.audit_lines() - audit_before, "h2load": summary}


class RedisClusterNodes:
    """A Redis Cluster of `count` primaries and no replicas (Debian's redis-server, loopback, a
    password, nothing saved), made by `redis-cli --cluster create`, for the cost of limits
    shared through a cluster. Each node gets a free port and a free cluster bus port; each is
    started with `setpriv --pdeathsig KILL` when setpriv is there, so none outlives the harness.
    stop() kills them all; a failure while starting kills what was started."""

    def __init__(self, workdir, password, count=3):
        self.password = password
        self.procs, self.ports = [], []
        while len(self.ports) < 2 * count:
            port = up.free_port()
            if port not in self.ports:
                self.ports.append(port)
        self.ports, bus_ports = self.ports[:count], self.ports[count:]
        prefix = ["setpriv", "--pdeathsig", "KILL"] if shutil.which("setpriv") else []
        base = tempfile.mkdtemp(prefix="redis-cluster-", dir=workdir)  # no nodes.conf of an earlier cluster
        try:
            for i, (port, bus) in enumerate(zip(self.ports, bus_ports)):
                d = os.path.join(base, "node%d" % i)
                os.makedirs(d, exist_ok=True)
                self.procs.append(subprocess.Popen(
                    prefix + ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--cluster-enabled", "yes",
                              "--cluster-port", str(bus), "--cluster-config-file", os.path.join(d, "nodes.conf"),
                              "--requirepass", password, "--masterauth", password, "--save", "",
                              "--appendonly", "no", "--dir", d, "--logfile", os.path.join(d, "redis.log")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            for port in self.ports:
                self._wait(lambda: self.cli(port, "PING") == "PONG", "127.0.0.1:%d does not answer" % port)
            p = subprocess.run(self._base() + ["--cluster", "create"] + ["127.0.0.1:%d" % q for q in self.ports]
                               + ["--cluster-replicas", "0", "--cluster-yes"], capture_output=True, text=True,
                               timeout=60)
            if p.returncode != 0:
                raise RuntimeError("redis-cli --cluster create failed:\n%s%s" % (p.stdout, p.stderr))

            def ok():
                for q in self.ports:
                    info = self.cli(q, "CLUSTER", "INFO")
                    if not all(w in info for w in ("cluster_state:ok", "cluster_slots_ok:16384",
                                                    "cluster_known_nodes:%d" % count)):
                        return False
                return True

            self._wait(ok, "the cluster is not ok")
        except BaseException:
            self.stop()
            raise
        self.pids = [proc.pid for proc in self.procs]  # setpriv execs redis-server: the same pid

    def _base(self):
        return ["redis-cli", "--no-auth-warning", "-a", self.password]

    def cli(self, port, *args):
        try:
            p = subprocess.run(self._base() + ["-h", "127.0.0.1", "-p", str(port)] + list(args),
                               capture_output=True, text=True, timeout=10)
        except subprocess.TimeoutExpired:
            return ""
        return p.stdout.replace("\r", "").strip() if p.returncode == 0 else ""

    def _wait(self, cond, what, seconds=30):
        deadline = time.monotonic() + seconds
        while not cond():
            if any(proc.poll() is not None for proc in self.procs):
                raise RuntimeError("a redis-server of the cluster exited (%s)" % what)
            if time.monotonic() > deadline:
                raise RuntimeError("%s after %d s" % (what, seconds))
            time.sleep(0.05)

    def url(self, index=0):
        return "redis://:%s@127.0.0.1:%d/0" % (self.password, self.ports[index])

    def keys_per_node(self):
        return [self.cli(q, "DBSIZE") or "?" for q in self.ports]

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def redis_rows(args, nginx, work, emit):
    """What limits cost per request: the same client with no limits, with per-replica limits,
    with limits shared through Redis (redis-server on loopback, a password), and, when
    redis-cli is there too, shared through a Redis Cluster of three primaries (no replicas,
    signgate given one node's URL): all admitting everything (the limits are far above the
    load), so only the checking is measured. Redis CPU is the sum over every redis-server of the
    row (the three nodes for the cluster). One client, one h2load: its keys share one hash tag,
    so they sit on one primary of the cluster by design; the other two carry only the cluster bus."""
    port = up.free_port()
    password = "bench-redis-pass"
    redis_dir = os.path.join(work, "redis")
    os.makedirs(redis_dir, exist_ok=True)
    redis = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--requirepass", password,
                              "--save", "", "--appendonly", "no", "--dir", redis_dir],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    limits = ("    rate_limit: { requests_per_minute: 10000000, tokens_per_minute: 100000000000 }\n"
              "    budget: { tokens_per_day: 1000000000000000 }\n")
    gates = []
    cluster = None
    try:
        if shutil.which("redis-cli"):
            cluster = RedisClusterNodes(work, password, 3)
        time.sleep(0.5)
        # One at a time, so that a signgate that fails to start leaves the others in `gates` to stop.
        for name, sg_name, client, extra, redis_pids in (
                ("no limits", "sg-nolimits", "", "", []),
                ("limits, per replica", "sg-local", limits, "", []),
                ("limits shared through Redis", "sg-redis", limits,
                 "redis: { url: \"redis://:%s@127.0.0.1:%d/0\" }\n" % (password, port), [redis.pid]),
                ("limits shared through a Redis Cluster (3 primaries)", "sg-cluster", limits,
                 "redis: { url: \"%s\" }\n" % cluster.url(0) if cluster else None, cluster.pids if cluster else [])):
            if extra is not None:
                gates.append((name, Signgate(args.signgate, work, nginx.url, args.threads, sg_name, client, extra),
                              redis_pids))
        auth = {"authorization": "Bearer " + SECRET, "content-type": "application/json"}
        encoded = MODEL.replace(":", "%3A")
        emit("Limits and what they cost (h2load --h1, 32 connections, native Converse, %d s each; the client's limits "
             "are far above the load, so every request is admitted and only the checking is measured; CPU of signgate "
             "and, for the Redis rows, of redis-server, summed over the cluster's three nodes):" % args.seconds)
        emit()
        emit("| limits | req/s | mean ms | CPU µs/req signgate | CPU µs/req redis-server | paced p50 / p99 ms |")
        emit("|---|---:|---:|---:|---:|---:|")
        base_rate = None
        per_node = None
        for name, sg, redis_pids in gates:
            target = Target(name, sg.url + "/model/%s/converse" % encoded, CONVERSE_BODY, auth, [sg.pid])
            before = {pid: proc_cpu_ticks(pid) for pid in redis_pids}
            r = run_h2load(target, 32, 1, args.seconds, work, True)
            node_us = [(proc_cpu_ticks(pid) - before[pid]) / TICK * 1e6 / max(r["requests"], 1) for pid in redis_pids]
            if len(redis_pids) > 1:
                per_node = node_us
            base_rate = base_rate or max(1, int(r["rps"] * 0.25 / 32))
            paced = run_paced(target, 32, base_rate, args.seconds, work)
            emit("| %s | %.0f | %.2f | %.1f | %s | %s / %s |" % (
                name, r["rps"], r["mean_ms"], r["cpu_us_per_req"],
                "%.1f" % sum(node_us) if redis_pids else "–", fmt_ms(paced["p50"]), fmt_ms(paced["p99"])))
        emit()
        if cluster and per_node:
            emit("- Redis Cluster: CPU µs/req per node %s; keys per node after the run %s (one client: one hash "
                 "tag, one primary)" % (" / ".join("%.1f" % us for us in per_node),
                                        " / ".join(cluster.keys_per_node())))
            emit()
    finally:
        for _, sg, _ in gates:
            sg.stop()
        if cluster:
            cluster.stop()
        redis.kill()
        redis.wait()


def fmt_ms(us):
    return "%.2f" % (us / 1000.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--signgate", default=os.path.join(ROOT, "build", "signgate"))
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("LOAD_SECONDS", "5")))
    ap.add_argument("--connections", default=os.environ.get("LOAD_CONNECTIONS", "1,32,256"))
    ap.add_argument("--streams", type=int, default=int(os.environ.get("LOAD_STREAMS", "10000")))
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="signgate event loops")
    ap.add_argument("--no-portkey", action="store_true")
    ap.add_argument("--redis", action=argparse.BooleanOptionalAction, default=True,
                    help="also measure limits per replica and shared through redis-server (and through a Redis "
                         "Cluster of three primaries when redis-cli is there)")
    ap.add_argument("--out")
    args = ap.parse_args()
    for tool in ("wrk", "h2load", "nginx" if shutil.which("nginx") else up.NGINX):
        if not shutil.which(tool) and not os.path.exists(tool):
            sys.exit("%s is missing: `make bench` installs it" % tool)
    conns = [int(c) for c in args.connections.split(",")]
    work = tempfile.mkdtemp(prefix="signgate-load-")
    nginx = up.Upstream(work)
    sg = portkey = proxy = None
    lines = []

    def emit(line=""):
        print(line, flush=True)
        lines.append(line)

    try:
        sg = Signgate(args.signgate, work, nginx.url, args.threads)
        auth = {"authorization": "Bearer " + SECRET, "content-type": "application/json"}
        encoded = MODEL.replace(":", "%3A")
        check_answer(sg.url + "/v1/chat/completions", CHAT_BODY, auth, "chat.completion")
        nginx_pids = nginx.worker_pids()
        direct_converse = Target("nginx converse", nginx.url + "/model/%s/converse" % encoded, CONVERSE_BODY,
                                 {"content-type": "application/json"}, nginx_pids)
        direct_stream = Target("nginx converse-stream", nginx.url + "/model/%s/converse-stream" % encoded,
                               CONVERSE_BODY, {"content-type": "application/json"}, nginx_pids)
        # The reference: nginx as a plain reverse proxy in front of the same upstream, in the same run.
        proxy = up.ReverseProxy(work, nginx.port, args.threads)
        proxy_pids = proxy.worker_pids()
        proxy_converse = Target("nginx-proxy converse", proxy.url + "/model/%s/converse" % encoded, CONVERSE_BODY,
                                {"content-type": "application/json"}, proxy_pids)
        proxy_stream = Target("nginx-proxy converse-stream", proxy.url + "/model/%s/converse-stream" % encoded,
                              CONVERSE_BODY, {"content-type": "application/json"}, proxy_pids)
        targets = [
            ("proxy", proxy_converse, direct_converse),
            ("proxy stream", proxy_stream, direct_stream),
            ("chat", Target("signgate chat", sg.url + "/v1/chat/completions", CHAT_BODY, auth, [sg.pid]), direct_converse),
            ("chat stream", Target("signgate chat-stream", sg.url + "/v1/chat/completions",
                                   CHAT_BODY[:-1] + ', "stream": true}', auth, [sg.pid]), direct_stream),
            ("converse", Target("signgate converse", sg.url + "/model/%s/converse" % encoded, CONVERSE_BODY, auth,
                                [sg.pid]), direct_converse),
            ("converse-stream", Target("signgate converse-stream", sg.url + "/model/%s/converse-stream" % encoded,
                                       CONVERSE_BODY, auth, [sg.pid]), direct_stream),
        ]
        if not args.no_portkey:
            portkey = Portkey(work)
            pk_headers = {"content-type": "application/json", "x-portkey-provider": "bedrock",
                          "x-portkey-aws-access-key-id": "AKIDBENCHBASE",
                          "x-portkey-aws-secret-access-key": "bench/base/secret",
                          "x-portkey-aws-region": "us-east-1", "x-portkey-custom-host": nginx.url}
            pk_body = CHAT_BODY.replace('"claude-haiku"', json.dumps(MODEL))
            check_answer(portkey.url + "/v1/chat/completions", pk_body, pk_headers, "chat.completion")
            targets.append(("chat", Target("portkey chat", portkey.url + "/v1/chat/completions", pk_body, pk_headers,
                                           [portkey.pid]), direct_converse))

        audit_before = sg.audit_lines()
        sg_requests = 0
        results = []
        direct_cache = {}
        for c in conns:
            for kind, target, direct in targets:
                key = (direct.name, c)
                if key not in direct_cache:
                    direct_cache[key] = run_wrk(direct, c, args.seconds, work)
                r = run_wrk(target, c, args.seconds, work)
                if target.pids == [sg.pid]:
                    sg_requests += r["requests"]
                    r["rss_kib"] = proc_status(sg.pid, "VmRSS")
                else:
                    r["rss_kib"] = sum(proc_status(p, "VmRSS") for p in target.pids)
                results.append((kind, target, c, r, direct_cache[key]))
                print("  %-26s c=%-4d %9.0f req/s  p99 %s ms  errors %d" % (target.name, c, r["rps"],
                      fmt_ms(r["p99"]), r["errors"]), file=sys.stderr, flush=True)

        emit("## Load run %s" % datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"))
        emit()
        emit("Machine: %s, %d vCPU, %s; wrk %ds per row; signgate %d event loops; the upstream nginx 1 worker; "
             "nginx as a reverse proxy %d workers. Command: `make bench` (`bench/load/run.py`)." % (
                 platform.machine(), os.cpu_count(), platform.release(), args.seconds, args.threads, args.threads))
        emit()
        emit("| path | conns | req/s | p50 ms | p99 ms | p99.9 ms | errors | CPU µs/req | in kernel | RSS MiB "
             "| added p50 ms | added p99 ms |")
        emit("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for (name, c), r in sorted(direct_cache.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            emit("| %s (upstream capacity) | %d | %.0f | %s | %s | %s | %d | %.1f | %.0f %% | – | – | – |" % (
                name, c, r["rps"], fmt_ms(r["p50"]), fmt_ms(r["p99"]), fmt_ms(r["p999"]), r["errors"],
                r["cpu_us_per_req"], r["kernel_share"]))
        for kind, target, c, r, d in results:
            emit("| %s | %d | %.0f | %s | %s | %s | %d | %.1f | %.0f %% | %.1f | %s | %s |" % (
                target.name, c, r["rps"], fmt_ms(r["p50"]), fmt_ms(r["p99"]), fmt_ms(r["p999"]), r["errors"],
                r["cpu_us_per_req"], r["kernel_share"], r["rss_kib"] / 1024.0, fmt_ms(r["p50"] - d["p50"]), fmt_ms(r["p99"] - d["p99"])))
        emit()
        # Each signgate path against nginx as a plain reverse proxy of the same kind of answer
        # (JSON or event stream), at each connection count: the ratios issue 17 targets.
        emit("Against nginx as a plain reverse proxy (the limit of a proxy here), same run: requests/s ratio "
             "(higher is better), CPU per request ratio (lower is better), p99:")
        emit()
        emit("| path | conns | req/s vs proxy | CPU/req vs proxy | p99 ms signgate / proxy |")
        emit("|---|---:|---:|---:|---:|")
        for kind, target, c, r, d in results:
            if not target.name.startswith("signgate"):
                continue
            ref_target = proxy_stream if "stream" in kind else proxy_converse
            ref = next((rr for _, t, cc, rr, _ in results if t is ref_target and cc == c), None)
            if ref is None:
                continue
            emit("| %s | %d | %.2f× | %.2f× | %s / %s |" % (
                target.name, c, r["rps"] / max(ref["rps"], 1e-9), r["cpu_us_per_req"] / max(ref["cpu_us_per_req"], 1e-9),
                fmt_ms(r["p99"]), fmt_ms(ref["p99"])))
        emit()
        # Each path at a quarter of the throughput it reached with 32 connections above, and the
        # upstream straight at the same rate: the difference is what signgate adds, not queueing.
        share = float(os.environ.get("LOAD_PACED_SHARE", "0.25"))
        emit("Added latency at a fixed rate (h2load --rps, 32 connections, each path at %d %% of the throughput it "
             "reached above, the upstream straight at the same rate; %d s each):" % (share * 100, args.seconds))
        emit()
        emit("| path | rate req/s | p50 ms | p99 ms | p99.9 ms | upstream straight p50 / p99 ms | added p50 ms "
             "| added p99 ms |")
        emit("|---|---:|---:|---:|---:|---:|---:|---:|")
        for kind, target, direct in targets:
            if target.name.startswith("portkey"):
                continue
            sat = [r for _, t, c, r, _ in results if t is target]
            sat_rps = next((r["rps"] for _, t, c, r, _ in results if t is target and c == 32), sat[-1]["rps"])
            rate = max(1, int(sat_rps * share / 32))
            d = run_paced(direct, 32, rate, args.seconds, work)
            r = run_paced(target, 32, rate, args.seconds, work)
            if target.pids == [sg.pid]:
                sg_requests += r["requests"] + r["failed"]
            emit("| %s | %d%s | %s | %s | %s | %s / %s | %s | %s |" % (
                target.name, rate * 32, " (%d failed)" % r["failed"] if r["failed"] else "", fmt_ms(r["p50"]),
                fmt_ms(r["p99"]), fmt_ms(r["p999"]), fmt_ms(d["p50"]), fmt_ms(d["p99"]),
                fmt_ms(r["p50"] - d["p50"]), fmt_ms(r["p99"] - d["p99"])))
        emit()
        # HTTP/2 next to HTTP/1.1, both driven by h2load: the SDKs' default (HTTP/2, many streams on
        # few connections) must not cost signgate more CPU per request than HTTP/1.1 does.
        emit("HTTP/2 next to HTTP/1.1 (h2load both ways, %d s each; HTTP/2 with prior knowledge; CPU is "
             "signgate's own):" % args.seconds)
        emit()
        emit("| path | protocol | connections × streams | req/s | mean ms | failed | CPU µs/req | in kernel |")
        emit("|---|---|---:|---:|---:|---:|---:|---:|")
        h2_rows = {}
        for kind, target, _ in targets:
            if target.name not in ("signgate chat", "signgate converse"):
                continue
            for h1, c, m in ((True, 32, 1), (True, 320, 1), (False, 32, 1), (False, 32, 10)):
                r = run_h2load(target, c, m, args.seconds, work, h1)
                sg_requests += r["requests"] + r["failed"]
                h2_rows[(target.name, h1, c, m)] = r
                emit("| %s | %s | %d × %d | %.0f | %.2f | %d | %.1f | %.0f %% |" % (
                    target.name, "HTTP/1.1" if h1 else "h2", c, m, r["rps"], r["mean_ms"], r["failed"],
                    r["cpu_us_per_req"], r["kernel_share"]))
        emit()
        for name in ("signgate chat", "signgate converse"):
            h1r, h2r = h2_rows.get((name, True, 320, 1)), h2_rows.get((name, False, 32, 10))
            if h1r and h2r:
                emit("- %s at 320 requests in flight: HTTP/2 (32 × 10) costs **%.2f×** the CPU per request of "
                     "HTTP/1.1 (320 connections), at %.2f× its requests/s" % (
                         name, h2r["cpu_us_per_req"] / h1r["cpu_us_per_req"], h2r["rps"] / h1r["rps"]))
        emit()
        if args.redis and shutil.which("redis-server"):
            redis_rows(args, nginx, work, emit)
        if portkey:
            for c in conns:
                sgr = next(r for _, t, cc, r, _ in results if t.name == "signgate chat" and cc == c)
                pkr = next(r for _, t, cc, r, _ in results if t.name == "portkey chat" and cc == c)
                emit("- chat completions at %d connections: signgate %.0f req/s vs Portkey %.0f req/s = **%.1f×**; "
                     "CPU per request %.1f µs vs %.1f µs" % (c, sgr["rps"], pkr["rps"], sgr["rps"] / max(pkr["rps"], 1e-9),
                                                            sgr["cpu_us_per_req"], pkr["cpu_us_per_req"]))
        deadline = time.time() + 10
        while sg.audit_lines() - audit_before < sg_requests and time.time() < deadline:
            time.sleep(0.2)
        emit("- audit lines written for the signgate rows: %d for %d completed requests (wrk counts only "
             "answers it read to the end; requests cut by wrk's stop are audited too)"
             % (sg.audit_lines() - audit_before, sg_requests))
        emit()

        if args.streams > 0:
            nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            count = min(args.streams, (nofile - 200) // 2)
            if count < args.streams:
                emit("- slow streams: %d asked for, %d run: each open stream holds two sockets in signgate "
                     "(caller and upstream) and this machine's RLIMIT_NOFILE hard limit is %d" % (args.streams, count, nofile))
            s = slow_streams(sg, count, work)
            emit("- **%d simultaneous slow streams** (1 frame/s, %d frames each): %d succeeded, %d failed, %s; "
                 "peak open streams %d; signgate RSS %.1f MiB → %.1f MiB = **%.1f KiB per open stream**; "
                 "%d fds at peak; %d audit lines; %.1f s"
                 % (s["count"], up.SLOW_FRAMES, s["succeeded"], s["failed"], s["status"] or "no status line",
                    s["peak_open"], s["rss_before_kib"] / 1024.0, s["rss_peak_kib"] / 1024.0, s["rss_per_stream_kib"],
                    s["fds_at_peak"], s["audited"], s["seconds"]))
    finally:
        for p in (portkey, sg, proxy):
            if p:
                p.stop()
        nginx.stop()
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
