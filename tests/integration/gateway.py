"""Runs `signgate serve` for a test: writes its config, starts it on a free loopback port,
waits for "signgate listening on URL", and stops it with SIGTERM."""
import hashlib
import os
import signal
import subprocess
import tempfile

from common import BIN, eventually

ROLE = "arn:aws:iam::111122223333:role/flashback-bedrock"
EXTERNAL_ID = "ext-7f3a9c2e"
BASE_KEY, BASE_SECRET = "AKIDGATEWAYEXAMPLE", "gateway/base/SECRET+never-logged"


def sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()


class Gateway:
    def __init__(self, fake_url, clients, extra="", env=None, threads=2, bedrock_url=None, aws_extra="",
                 shutdown_grace=5):
        self.dir = tempfile.TemporaryDirectory(prefix="signgate-gw-")
        self.config_path = os.path.join(self.dir.name, "signgate.yaml")
        self.audit_path = os.path.join(self.dir.name, "audit.jsonl")
        self.fake_url = fake_url
        self.bedrock_url = bedrock_url or fake_url
        self.aws_extra = aws_extra  # more lines of the aws: block
        self.write_config(clients, extra)
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        full_env.update({"HOME": self.dir.name, "AWS_EC2_METADATA_DISABLED": "true",
                         "AWS_ACCESS_KEY_ID": BASE_KEY, "AWS_SECRET_ACCESS_KEY": BASE_SECRET})
        full_env.update(env or {})
        self.log_path = os.path.join(self.dir.name, "signgate.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([BIN, "serve", "--config", self.config_path, "--threads", str(threads),
                                      "--shutdown-grace", str(shutdown_grace)],
                                     stdout=subprocess.PIPE, stderr=self.log, env=full_env)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("signgate listening on "):
            logs = self.logs()
            self.stop()
            raise RuntimeError("signgate did not start: %r\n%s" % (line, logs))
        self.url = line.split(" on ", 1)[1].strip()

    def write_config(self, clients, extra=""):
        text = ("listen: 127.0.0.1:0\naws:\n  region: us-east-1\n  role_arn: %s\n  external_id: %s\n"
                "  sts_endpoint: %s\n  bedrock_endpoint: %s\n%saudit:\n  path: %s\n"
                % (ROLE, EXTERNAL_ID, self.fake_url, self.bedrock_url, self.aws_extra, self.audit_path))
        if clients:
            text += "clients:\n"
            for c in clients:
                # "secret" is one secret, "secrets" several (a key being rotated).
                hashes = sha256(c["secret"]) if c.get("secret") else \
                    "[%s]" % ", ".join(sha256(x) for x in c["secrets"])
                text += "  - name: %s\n    secret_sha256: %s\n    models: %s\n" % (
                    c["name"], hashes, c.get("models", '["*"]'))
                for key in ("operations", "expires_at", "rate_limit", "budget", "guardrail", "aws", "request_metadata"):
                    if key in c:
                        text += "    %s: %s\n" % (key, c[key])
        text += extra
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.config_path)

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    def logs(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def audit(self):
        """The audit lines written so far: a line comes after its answer, so a running
        gateway's are read through wait_audit."""
        import json
        if not os.path.exists(self.audit_path):
            return []
        with open(self.audit_path) as f:
            text = f.read()
        # The writer appends whole lines, but a read may meet one half written: only what ends
        # in a newline is a line yet.
        return [json.loads(line) for line in text[:text.rfind("\n") + 1].splitlines() if line.strip()]

    def wait_audit(self, expected, seconds=10):
        """The audit lines once `expected(lines)` holds (a number: once there are that many), or
        as they are after `seconds`."""
        if isinstance(expected, int):
            count = expected
            expected = lambda lines: len(lines) >= count  # noqa: E731
        return eventually(self.audit, expected, seconds)

    def audit_line_of(self, request_id, seconds=10):
        """The audit line of the request answered with this x-request-id, once it is written
        (None after `seconds`)."""
        lines = self.wait_audit(lambda lines: any(l["request_id"] == request_id for l in lines), seconds)
        return next((l for l in lines if l["request_id"] == request_id), None)

    def wait_audit_caught_up(self, seconds=10):
        """The audit lines once there is one for each request /metrics counts (both are written
        when a request ends, the line later, by its own thread): for a test that cannot know
        how many requests a client made."""
        counted = sum(int(float(line.rsplit(" ", 1)[1])) for line in self.metrics().splitlines()
                      if line.startswith("signgate_requests_total{"))
        return self.wait_audit(counted, seconds)

    def metrics(self, url=None):
        """/metrics as text, from the listener or from `url` (an ops listener of its own)."""
        import urllib.request
        with urllib.request.urlopen((url or self.url) + "/metrics", timeout=30) as r:
            return r.read().decode()

    def wait_metrics(self, expected, seconds=10, url=None):
        """/metrics once `expected(text)` holds (a string: once it is in the text), or as it is
        after `seconds`: a request is counted after its answer."""
        if isinstance(expected, str):
            needle = expected
            expected = lambda text: needle in text  # noqa: E731
        return eventually(lambda: self.metrics(url), expected, seconds)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode
