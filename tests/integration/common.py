"""Helpers shared by the integration tests: the binary, its output, a throw-away CA."""
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))

BIN = os.environ.get("SIGNGATE_BIN", os.path.join(ROOT, "build", "signgate"))


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


def wait_for(predicate, seconds=15):
    """Polls `predicate` every 0.1 s until it is true or `seconds` passed; returns its last value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()
