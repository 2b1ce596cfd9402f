"""Helpers shared by the integration tests: the binary, its output, a throw-away CA."""
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))

BIN = os.environ.get("SIGNGATE_BIN", os.path.join(ROOT, "build", "signgate"))
SLOWDOWN = float(os.environ.get("SIGNGATE_TEST_SLOWDOWN", "1"))  # the ASan build is slower


def run(*args, env=None, timeout=60, clear_aws=False):
    """Runs the binary; with clear_aws, none of this machine's AWS_* variables reach it."""
    full_env = {k: v for k, v in os.environ.items() if not (clear_aws and k.startswith("AWS_"))}
    full_env.update(env or {})
    return subprocess.run([BIN, *args], capture_output=True, timeout=timeout, env=full_env)


def parse_printed_request(text):
    """`signgate sign` output -> (method, target, [(name, value)])."""
    lines = text.split("\n")
    method, rest = lines[0].split(" ", 1)
    target = rest.rsplit(" HTTP/1.1", 1)[0]
    headers = []
    for line in lines[1:]:
        if not line:
            break
        name, value = line.split(": ", 1) if ": " in line else (line.rstrip(":"), "")
        headers.append((name, value))
    return method, target, headers


def make_ca(directory):
    """A CA and a server certificate for 127.0.0.1 / localhost, made with the openssl CLI."""
    def sh(*cmd):
        subprocess.run(cmd, check=True, capture_output=True, cwd=directory)
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=signgate test CA",
       "-keyout", "ca.key", "-out", "ca.pem")
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key",
       "-out", "server.csr")
    with open(os.path.join(directory, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    sh("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
       "-days", "2", "-extfile", "san.ext", "-out", "server.pem")
    return {k: os.path.join(directory, v) for k, v in
            (("ca", "ca.pem"), ("cert", "server.pem"), ("key", "server.key"))}


def tempdir():
    return tempfile.TemporaryDirectory(prefix="signgate-test-")


def eventually(read, expected, seconds=15):
    """What `read()` returns once `expected` holds for it, or its last value when `seconds` (times
    SIGNGATE_TEST_SLOWDOWN) have passed, for the caller to assert on. signgate counts a request in
    its metrics once the answer is out, and its audit line is written later still, by a thread of
    its own: a test reads those (Gateway.wait_audit, Gateway.wait_metrics), and whatever else
    lags behind an answer, only through this, never once."""
    deadline = time.monotonic() + seconds * SLOWDOWN
    while True:
        value = read()
        if expected(value) or time.monotonic() >= deadline:
            return value
        time.sleep(0.05)


def wait_for(predicate, seconds=15):
    """Whether `predicate` became true within `seconds` (times SIGNGATE_TEST_SLOWDOWN)."""
    return bool(eventually(predicate, bool, seconds))


def frames_of(data):
    """An AWS event stream's payloads as JSON, each frame's CRC checked."""
    out = []
    while data:
        total, hlen = struct.unpack(">II", data[:8])
        assert zlib.crc32(data[:total - 4]) == struct.unpack(">I", data[total - 4:total])[0]
        out.append(json.loads(data[12 + hlen:total - 4]))
        data = data[total:]
    return out
