"""Helpers shared by the deployment tests: the binary, the local Bedrock/STS emulator, a signgate
process whose output lines are collected as they come, and plain HTTP calls."""
import http.client
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEPLOY = os.path.join(ROOT, "deploy")
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))

BIN = os.path.abspath(os.environ.get("SIGNGATE_BIN", os.path.join(ROOT, "build", "signgate")))
NODE_MODULES = os.path.join(HERE, "node_modules")

ROLE = "arn:aws:iam::111122223333:role/flashback-bedrock"
EXTERNAL_ID = "ext-deploy-7f3a9c2e"
BASE_KEY, BASE_SECRET = "AKIDDEPLOYEXAMPLE", "deploy/base/SECRET+never-logged"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
CONVERSE = b'{"messages":[{"role":"user","content":[{"text":"hi"}]}]}'


def start_fake():
    """The Bedrock/STS emulator on loopback (it checks every signature with botocore and the
    External ID on AssumeRole); returns (server, url)."""
    import aws_fake
    return aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})


def stop_fake(server):
    server.shutdown()
    server.server_close()


def read(path):
    with open(path) as f:
        return f.read()


def base_env(**extra):
    """An environment with none of this machine's AWS settings: base credentials the emulator
    accepts, no instance metadata, no home directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("SIGNGATE_")}
    env.update({"AWS_ACCESS_KEY_ID": BASE_KEY, "AWS_SECRET_ACCESS_KEY": BASE_SECRET,
                "AWS_EC2_METADATA_DISABLED": "true", "HOME": "/nonexistent"})
    env.update(extra)
    return env


def require_tool(*tools):
    """Fails (not skips) without a tool: `make deps` installs each of them."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise AssertionError("not installed: %s (make deps installs it)" % ", ".join(missing))


def require_node_modules():
    if not os.path.isdir(os.path.join(NODE_MODULES, "kubernetes-models")):
        raise AssertionError("tests/deploy/node_modules is missing: run `cd tests/deploy && npm ci` "
                             "(make npm-deps)")


def node(*args, timeout=60):
    return subprocess.run(["node", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


class Process:
    """A process whose stdout lines are queued as they arrive (signgate prints "listening on",
    and with an audit path of "-", the audit lines there too)."""

    def __init__(self, argv, env, cwd=None):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
        self.lines = queue.Queue()
        self.stdout = []
        self.stderr = []
        self.pumps = [threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout, True), daemon=True),
                      threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr, False), daemon=True)]
        for t in self.pumps:
            t.start()

    def _pump(self, stream, keep, to_queue):
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            keep.append(line)
            if to_queue:
                self.lines.put(line)
        if to_queue:
            self.lines.put(None)

    def expect_line(self, prefix, timeout=15):
        """The next stdout line starting with prefix (others are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(left, 0.01))
            except queue.Empty:
                line = ""
            if line is None or left <= 0:
                raise AssertionError("no line starting %r; stdout %r, stderr:\n%s"
                                     % (prefix, self.stdout, "\n".join(self.stderr)))
            if line.startswith(prefix):
                return line

    def wait(self, timeout):
        """The exit status, once the process ended and its output was read to the end."""
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            for t in self.pumps:
                t.join(timeout=5)
            self.proc.stdout.close()
            self.proc.stderr.close()
        return self.proc.returncode

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("did not stop within %d s of %s" % (timeout, sig)) from None


def url_port(line):
    """"signgate listening on http://127.0.0.1:PORT" -> PORT."""
    return int(line.rsplit(":", 1)[1])


def call(port, path, method="GET", body=None, headers=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def wait_status(port, path, want, timeout=10):
    """Polls until GET path answers `want` (readiness needs the role assumed first)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = call(port, path)[0]
            if last == want:
                return
        except OSError as e:
            last = e
        time.sleep(0.1)
    raise AssertionError("%s answered %r, not %d, for %d s" % (path, last, want, timeout))


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    unittest.main(verbosity=2)
