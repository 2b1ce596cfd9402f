"""The canned upstream for the load harness: nginx from Debian on 127.0.0.1, answering
Converse, ConverseStream (50 frames), a slow ConverseStream (one frame a second) and STS
AssumeRole from files, so the upstream costs next to nothing and is never the bottleneck.
It checks no signature: signing correctness is proven by the botocore tests, not here."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "tests", "fakes"))
from aws_fake import event_frame  # noqa: E402  (encoded independently of signgate, as in the tests)

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# What both nginx configurations start with: the process, its files, keep-alive.
NGINX_HEAD = """
daemon off;
master_process on;
worker_processes {workers};
worker_rlimit_nofile {nofile};
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections {connections}; multi_accept on; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  client_max_body_size 8m;
  client_body_buffer_size 1m;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  server_tokens off;
"""
STREAM_FRAMES = 50
SLOW_FRAMES = 10


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def converse_stream(frames):
    """messageStart, text deltas, contentBlockStop, messageStop, metadata: `frames` in all."""
    deltas = frames - 4
    out = event_frame("messageStart", {"role": "assistant", "p": "abcd"})
    for i in range(deltas):
        out += event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " token%02d" % i},
                                                 "p": "abcdefgh"})
    out += event_frame("contentBlockStop", {"contentBlockIndex": 0, "p": "ab"})
    out += event_frame("messageStop", {"stopReason": "end_turn", "p": "abcdef"})
    out += event_frame("metadata", {"usage": {"inputTokens": 25, "outputTokens": deltas, "totalTokens": 25 + deltas},
                                    "metrics": {"latencyMs": 120}, "p": "abc"})
    return out


CONVERSE_ANSWER = {
    "output": {"message": {"role": "assistant", "content": [
        {"text": "Signing gateways keep long-lived AWS keys away from the callers; each request is "
                 "signed with short-lived credentials from STS, and every call is audited."}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 25, "outputTokens": 31, "totalTokens": 56},
    "metrics": {"latencyMs": 120},
}


def sts_answer():
    expiration = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 12 * 3600))
    return ("<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>"
            "<Credentials><AccessKeyId>ASIALOADTESTEXAMPLE</AccessKeyId>"
            "<SecretAccessKey>load/test/secret/key/EXAMPLEKEYEXAMPLEKEY</SecretAccessKey>"
            "<SessionToken>FwoGZXIvYXdzEXAMPLELOADTESTSESSIONTOKEN</SessionToken>"
            "<Expiration>%s</Expiration></Credentials><AssumedRoleUser>"
            "<AssumedRoleId>AROALOADTEST:signgate-bench</AssumedRoleId>"
            "<Arn>arn:aws:sts::111122223333:assumed-role/bench/signgate-bench</Arn></AssumedRoleUser>"
            "</AssumeRoleResult><ResponseMetadata><RequestId>bench</RequestId></ResponseMetadata>"
            "</AssumeRoleResponse>" % expiration)


NGINX_CONF = NGINX_HEAD.replace("{workers}", "1") + """  sendfile on;
  tcp_nodelay on;
  server {{
    listen 127.0.0.1:{port} reuseport backlog=16384;
    root {dir}/canned;
    # Static files answer POST with 405; the error page turns that into the canned file.
    location ~ ^/model/[^/]*slow[^/]*/converse-stream$ {{
      limit_rate {slow_rate};
      error_page 405 =200 /slow.bin;
      return 405;
    }}
    # A model named *throttled* is Bedrock throttling (routes' failover, bench/load/routes.py).
    location ~ ^/model/[^/]*throttled[^/]*/converse$ {{
      add_header x-amzn-ErrorType "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/" always;
      default_type application/json;
      return 429 '{{"message":"Too many requests, please wait before trying again."}}';
    }}
    location ~ ^/model/[^/]+/converse-stream$ {{ error_page 405 =200 /stream.bin; return 405; }}
    location ~ ^/model/[^/]+/converse$ {{ error_page 405 =200 /converse.json; return 405; }}
    location = / {{ error_page 405 =200 /sts.xml; return 405; }}
    location = /slow.bin {{ internal; limit_rate {slow_rate}; types {{ }} default_type application/vnd.amazon.eventstream; }}
    location = /stream.bin {{ internal; types {{ }} default_type application/vnd.amazon.eventstream; }}
    location = /converse.json {{ internal; types {{ }} default_type application/json; }}
    location = /sts.xml {{ internal; types {{ }} default_type text/xml; }}
  }}
}}
"""


class Upstream:
    """nginx serving the canned answers; `url` once started."""

    def __init__(self, workdir, connections=22000):
        self.dir = os.path.join(workdir, "nginx")
        canned = os.path.join(self.dir, "canned")
        os.makedirs(canned, exist_ok=True)
        os.chmod(workdir, 0o755)
        os.chmod(self.dir, 0o755)
        os.chmod(canned, 0o755)
        slow = converse_stream(SLOW_FRAMES)
        files = {"converse.json": json.dumps(CONVERSE_ANSWER).encode(), "stream.bin": converse_stream(STREAM_FRAMES),
                 "slow.bin": slow, "sts.xml": sts_answer().encode()}
        for name, data in files.items():
            path = os.path.join(canned, name)
            with open(path, "wb") as f:
                f.write(data)
            os.chmod(path, 0o644)
        self.slow_frame_bytes = len(slow) // SLOW_FRAMES
        self.port = free_port()
        import resource
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        conf = NGINX_CONF.format(dir=self.dir, port=self.port, connections=min(connections, nofile - 100),
                                 nofile=nofile, slow_rate=self.slow_frame_bytes)
        self._start(conf)

    def _start(self, conf):
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen([NGINX, "-p", self.dir, "-c", self.conf], stderr=subprocess.DEVNULL)
        self.url = "http://127.0.0.1:%d" % self.port
        self._wait()

    def _wait(self):
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        with open(os.path.join(self.dir, "nginx-error.log")) as f:
            raise RuntimeError("nginx did not start:\n" + f.read())

    def worker_pids(self):
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


PROXY_CONF = NGINX_HEAD + """  tcp_nodelay on;
  upstream bedrock {{
    server 127.0.0.1:{upstream_port};
    keepalive 256;
    keepalive_requests 100000000;
  }}
  server {{
    listen 127.0.0.1:{port} reuseport backlog=16384;
    location / {{
      proxy_pass http://bedrock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering on;
    }}
  }}
}}
"""


class ReverseProxy(Upstream):
    """nginx as a plain reverse proxy in front of the canned upstream: no authentication, no
    signing, no JSON; keep-alive to the upstream, unbuffered answers (as signgate streams), as
    many workers as signgate has event loops. What a proxy costs on this machine at the least."""

    def __init__(self, workdir, upstream_port, workers, connections=22000):  # noqa: super().__init__ not wanted
        self.dir = os.path.join(workdir, "nginx-proxy")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        import resource
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        conf = PROXY_CONF.format(dir=self.dir, port=self.port, workers=workers, upstream_port=upstream_port,
                                 connections=min(connections, nofile - 100), nofile=nofile)
        self._start(conf)
