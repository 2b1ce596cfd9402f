"""Debian's redis-server for the fleet tests: on 127.0.0.1, a free port, a password, nothing
saved to disk; paused, killed and started again on the same port as a test needs."""
import os
import signal
import socket
import subprocess
import tempfile
import time

PASSWORD = "fleet-TEST-pass"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="signgate-redis-")
        self.port = free_port()
        self.proc = None
        self.start()

    @property
    def url(self):
        return "redis://:%s@127.0.0.1:%d/0" % (PASSWORD, self.port)

    def start(self):
        self.proc = subprocess.Popen(
            ["setpriv", "--pdeathsig", "KILL", "redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--requirepass", PASSWORD,
             "--save", "", "--appendonly", "no", "--dir", self.dir.name],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.cli("PING") == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def cli(self, *args):
        """One command through redis-cli; its output, stripped ("" when it failed)."""
        p = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "--no-auth-warning", "-a", PASSWORD,
                            *args], capture_output=True, text=True, timeout=10)
        return p.stdout.strip() if p.returncode == 0 else ""

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        self.kill()
        self.dir.cleanup()
