#!/usr/bin/python3
"""The operator commands around `serve`: `keys new`, `check-config`, and `serve` refusing a
bad config or a taken port with a clear line and the right exit code."""
import hashlib
import os
import re
import socket
import unittest

from common import ROOT, run, tempdir


class Version(unittest.TestCase):
    def test_version_names_the_release_and_the_commit(self):
        p = run("--version")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout.decode().strip(), r"^signgate \d+\.\d+\.\d+ \((unknown|[0-9a-f]{7,40})\)$")


class KeysNew(unittest.TestCase):
    def test_prints_a_fresh_secret_once_and_its_hash(self):
        outs = [run("keys", "new", "--name", "flashback-prod").stdout.decode() for _ in range(2)]
        secrets = [re.search(r"\b(sgk_[A-Za-z0-9_-]{43})\b", o).group(1) for o in outs]
        self.assertNotEqual(secrets[0], secrets[1])
        for out, secret in zip(outs, secrets):
            self.assertIn("- name: flashback-prod", out)
            self.assertIn("secret_sha256: " + hashlib.sha256(secret.encode()).hexdigest(), out)

    def test_name_is_required(self):
        p = run("keys", "new")
        self.assertEqual(p.returncode, 2)
        self.assertIn("--name", p.stderr.decode())
        self.assertIn("(see signgate keys --help)", p.stderr.decode())

    def test_keys_alone_points_at_its_own_help(self):
        p = run("keys")
        self.assertEqual(p.returncode, 2)
        self.assertIn("A subcommand is required (see signgate keys --help)", p.stderr.decode())


class CheckConfigAndServe(unittest.TestCase):
    def write(self, d, text):
        path = os.path.join(d, "signgate.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_check_config_valid_and_invalid(self):
        with tempdir() as d:
            ok = run("check-config", "--config", self.write(d, "aws: { region: us-east-1 }\n"))
            self.assertEqual(ok.returncode, 0, ok.stderr)
            self.assertIn("valid", ok.stdout.decode())
            bad = run("check-config", "--config", self.write(d, "listen: nowhere\naws: { regoin: x }\n"))
            self.assertEqual(bad.returncode, 2)
            err = bad.stderr.decode()
            self.assertIn("signgate.yaml: listen: must be IP:PORT", err)
            self.assertIn("signgate.yaml: aws.regoin: unknown key", err)
            missing = run("check-config", "--config", os.path.join(d, "absent.yaml"))
            self.assertEqual(missing.returncode, 2)
            self.assertIn("absent.yaml: cannot be read", missing.stderr.decode())

    def test_the_shipped_examples_are_valid(self):
        env = {"SIGNGATE_ROLE_ARN": "arn:aws:iam::111122223333:role/claude-code", "SIGNGATE_EXTERNAL_ID": "ext-1",
               "CLAUDE_CODE_SECRET_SHA256": hashlib.sha256(b"s").hexdigest()}
        examples = os.path.join(ROOT, "examples")
        for name in sorted(n for n in os.listdir(examples) if n.endswith(".yaml")):
            p = run("check-config", "--config", os.path.join(examples, name), env=env)
            self.assertEqual(p.returncode, 0, name + ": " + p.stderr.decode())
        # examples/codex/ is Codex's config (checked by codex_e2e_test); a directory as the
        # config is refused with the reason, not a crash.
        p = run("check-config", "--config", os.path.join(examples, "codex"), env=env)
        self.assertEqual(p.returncode, 2, p.stderr.decode())
        self.assertIn("cannot be read", p.stderr.decode())

    def test_serve_refuses_a_bad_config_and_a_taken_port(self):
        with tempdir() as d:
            p = run("serve", "--config", self.write(d, "aws: { region: '' }\n"), timeout=20)
            self.assertEqual(p.returncode, 2)
            self.assertIn("aws.region: is required", p.stderr.decode())
            taken = socket.socket()
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            try:
                port = taken.getsockname()[1]
                p = run("serve", "--config", self.write(d, "listen: 127.0.0.1:%d\naws: { region: us-east-1 }\n" % port),
                        env={"HOME": d, "AWS_EC2_METADATA_DISABLED": "true"}, clear_aws=True, timeout=20)
            finally:
                taken.close()
            self.assertEqual(p.returncode, 1)
            self.assertIn("listen on 127.0.0.1:%d" % port, p.stderr.decode())


if __name__ == "__main__":
    unittest.main(verbosity=2)
