#!/usr/bin/python3
"""`make run` and `make emulator` as an operator meets them. The demo runs under a GNU make
exactly as the Makefile's `run` target starts it (`@exec python3 run_demo.py BINARY`), from a
makefile of its own so the test does not rebuild the tree. Checked: the three printed curl
commands work; SIGTERM to make, SIGINT to make alone, and SIGTERM to the demo each leave
nothing listening; a signgate an earlier run left behind is stopped; the real `run` target
builds the gateway only."""
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import unittest

from common import BIN, ROOT, wait_for

DEMO = os.path.join(ROOT, "tests", "fakes", "run_demo.py")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def gone(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            return "State:\tZ" in f.read()
    except OSError:
        return True


class MakeRun(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="signgate-make-run-")
        self.addCleanup(self.dir.cleanup)
        # The demo keeps its config, audit log and pid file beside the binary (build/run/).
        bindir = os.path.join(self.dir.name, "build")
        os.makedirs(bindir)
        self.binary = os.path.join(bindir, "signgate")
        os.symlink(os.path.abspath(BIN), self.binary)
        self.makefile = os.path.join(self.dir.name, "run.mk")
        with open(self.makefile, "w") as f:
            f.write(".PHONY: run emulator\nrun:\n\t@exec /usr/bin/python3 %s %s\n"
                    "emulator:\n\t@exec /usr/bin/python3 %s --emulator-only\n" % (DEMO, self.binary, DEMO))

    def start(self, target="run"):
        self.port = free_port()
        env = dict(os.environ, SIGNGATE_PORT=str(self.port), SIGNGATE_EMULATOR_PORT=str(self.port))
        # As from a terminal: make in a process group of its own, SIGINT not ignored.
        make = subprocess.Popen(["make", "--no-print-directory", "-f", self.makefile, target], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.addCleanup(lambda: make.poll() is None and os.killpg(make.pid, signal.SIGKILL))
        out = b""
        while b"Ctrl-C stops it." not in out:
            line = make.stdout.readline()
            if not line:
                self.fail("the demo did not start:\n" + out.decode())
            out += line
        return make, out.decode()

    def signgate_pid(self):
        with open(os.path.join(self.dir.name, "build", "run", "signgate.pid")) as f:
            return int(f.read())

    def curl(self, text, pattern):
        """Runs the printed curl command that matches `pattern`, as a user would paste it."""
        command = next(c for c in re.findall(r"\n  (curl .*?)(?=\n\n|\n[A-Z])", text, re.S) if pattern in c)
        p = subprocess.run(["bash", "-c", command], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, command)
        return p.stdout.decode()

    def test_the_printed_commands_work_and_sigterm_to_make_stops_everything(self):
        make, out = self.start()
        pid = self.signgate_pid()
        self.assertTrue(listening(self.port))
        native = json.loads(self.curl(out, "/converse"))
        self.assertIn("output", native)
        chat = json.loads(self.curl(out, "/v1/chat/completions"))
        self.assertEqual(chat["object"], "chat.completion")
        stream = self.curl(out, "/v1/messages")
        self.assertIn("event: message_stop", stream)
        os.kill(make.pid, signal.SIGTERM)
        make.wait(timeout=30)
        self.assertTrue(wait_for(lambda: gone(pid)), "signgate outlived make")
        self.assertFalse(listening(self.port))

    def test_sigint_to_make_alone_does_not_hang(self):
        make, _ = self.start()
        pid = self.signgate_pid()
        os.kill(make.pid, signal.SIGINT)  # make alone, not its process group
        make.wait(timeout=30)
        self.assertTrue(wait_for(lambda: gone(pid)))
        self.assertFalse(listening(self.port))

    def test_a_signgate_left_behind_is_stopped_by_the_next_run(self):
        make, _ = self.start()
        pid = self.signgate_pid()
        # The demo dies without cleaning up (SIGKILL); signgate goes with it (parent-death
        # signal), and if it had not, the next run stops the one named in the pid file.
        demo = int(subprocess.run(["pgrep", "-P", str(make.pid)], capture_output=True).stdout.split()[0])
        os.kill(demo, signal.SIGKILL)
        make.wait(timeout=30)
        self.assertTrue(wait_for(lambda: gone(pid)), "signgate outlived the demo")
        left = subprocess.Popen([BIN, "serve", "--config", os.path.join(self.dir.name, "build", "run", "signgate.yaml")],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                env=dict(os.environ, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y"))
        self.addCleanup(lambda: left.poll() is None and left.kill())
        self.assertTrue(left.stdout.readline().startswith(b"signgate listening on "))
        with open(os.path.join(self.dir.name, "build", "run", "signgate.pid"), "w") as f:
            f.write("%d\n" % left.pid)
        make, out = self.start()  # the port the leftover holds is a different one: only the pid matters
        self.assertIn("stopping the signgate an earlier run left behind (pid %d)" % left.pid, out)
        left.wait(timeout=15)
        os.kill(make.pid, signal.SIGTERM)
        make.wait(timeout=30)

    def test_the_emulator_alone(self):
        make, out = self.start("emulator")
        self.assertIn("bedrock_endpoint: http://127.0.0.1:%d" % self.port, out)
        self.assertIn("export AWS_ACCESS_KEY_ID=", out)
        self.assertTrue(listening(self.port))
        os.kill(make.pid, signal.SIGINT)
        make.wait(timeout=30)
        self.assertFalse(listening(self.port))

    def test_the_run_target_builds_the_gateway_only(self):
        p = subprocess.run(["make", "-n", "-C", ROOT, "run"], capture_output=True, timeout=60)
        dry = p.stdout.decode()
        self.assertIn("--target signgate", dry)
        self.assertNotRegex(dry, r"cmake --build \S+ -j \d+\s*$", "no build of every target")
        self.assertIn("exec /usr/bin/python3 tests/fakes/run_demo.py", dry)


if __name__ == "__main__":
    unittest.main(verbosity=2)
