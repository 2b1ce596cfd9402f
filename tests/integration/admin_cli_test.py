#!/usr/bin/python3
"""The operator commands around `serve`: `keys new`, `check-config`, and `serve` refusing a
bad config or a taken port with a clear line and the right exit code."""
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import unittest

from common import BIN, ROOT, run, tempdir


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
        self.assertIn("(see signgate keys new --help)", p.stderr.decode())

    def test_keys_alone_points_at_its_own_help(self):
        p = run("keys")
        self.assertEqual(p.returncode, 2)
        self.assertIn("A subcommand is required (see signgate keys --help)", p.stderr.decode())


CLIENT = ("clients:\n  - name: a\n    secret_sha256: %s\n    models: ['anthropic.*']\n"
          % hashlib.sha256(b"a").hexdigest())


class IamPolicy(unittest.TestCase):
    CONFIG = ("aws:\n  region: us-east-1\n  role_arn: arn:aws:iam::111122223333:role/bedrock\n  external_id: ext-1\n"
              "  source_identity: signgate\n  tags: { team: ai }\nclients:\n"
              "  - { name: a, secret_sha256: %s, models: ['us.anthropic.*'] }\n"
              "  - name: b\n    secret_sha256: %s\n    models: ['*']\n"
              "    aws: { role_arn: 'arn:aws:iam::444455556666:role/other', external_id: ext-2 }\n"
              % (hashlib.sha256(b"a").hexdigest(), hashlib.sha256(b"b").hexdigest()))
    A = "arn:aws:iam::111122223333:role/bedrock"

    def iam(self, *extra):
        with tempdir() as d:
            path = os.path.join(d, "signgate.yaml")
            with open(path, "w") as f:
                f.write(self.CONFIG)
            p = run("iam-policy", "--config", path, *extra)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def test_one_pasteable_document_per_kind(self):
        rc, out, err = self.iam("--role", self.A, "--kind", "trust", "--principal", "arn:aws:iam::9:role/base")
        self.assertEqual(rc, 0, err)
        trust = json.loads(out)  # nothing but the document
        self.assertEqual(trust["Statement"][0]["Action"], ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"])
        self.assertEqual(trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"], "ext-1")
        rc, out, err = self.iam("--role", self.A, "--kind", "permissions")
        self.assertEqual(rc, 0, err)
        statements = {s["Sid"]: s for s in json.loads(out)["Statement"]}
        through = statements["SigngateInvokeModelsOnlyThroughProfiles"]
        self.assertEqual(through["Resource"], ["arn:aws:bedrock:*::foundation-model/anthropic.*"])
        self.assertEqual(through["Condition"]["StringLike"]["bedrock:InferenceProfileArn"],
                         ["arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.*"])
        self.assertNotIn("SigngateInvokeAllowedModels", statements, "no foundation model is callable directly")
        self.assertEqual(err, "", "client b's '*' is another role's warning")

    def test_every_model_is_warned_and_several_roles_need_a_choice(self):
        rc, out, err = self.iam("--kind", "permissions")
        self.assertEqual(rc, 2)
        self.assertEqual(out, "")
        self.assertIn("name one with --role ARN", err)
        self.assertIn("client b may call every model", err)
        rc, out, err = self.iam("--role", "arn:aws:iam::1:role/none", "--kind", "permissions")
        self.assertEqual(rc, 2)
        self.assertIn("no client uses the role", err)
        rc, out, err = self.iam("--role", self.A, "--kind", "trust")
        self.assertEqual(rc, 2)
        self.assertIn("needs --principal", err)


class Install(unittest.TestCase):
    def test_install_puts_the_binary_unit_and_example_config_under_the_prefix(self):
        build = os.path.dirname(os.path.abspath(BIN))
        with tempdir() as d:
            prefix = os.path.join(d, "opt", "signgate")
            p = subprocess.run(["cmake", "--install", build, "--prefix", prefix], capture_output=True, timeout=60,
                               env=dict(os.environ, DESTDIR=os.path.join(d, "stage")))
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            root = os.path.join(d, "stage") + prefix
            self.assertEqual(run_binary(os.path.join(root, "bin", "signgate"), "--version").returncode, 0)
            with open(os.path.join(root, "lib", "systemd", "system", "signgate.service")) as f:
                unit = f.read()
            self.assertIn("ExecStart=%s/bin/signgate serve" % prefix, unit, "the unit names the installed binary")
            for path in ("etc/signgate/signgate.yaml.example", "share/doc/signgate/LICENSE",
                         "share/doc/signgate/CHANGELOG.md"):
                self.assertTrue(os.path.isfile(os.path.join(root, path)), path)
            with open(os.path.join(root, "share/doc/signgate/LICENSE")) as f:
                self.assertIn("Apache License", f.read())


def run_binary(path, *args):
    return subprocess.run([path, *args], capture_output=True, timeout=30)


class Help(unittest.TestCase):
    def test_defaults_are_shown(self):
        out = run("serve", "--help").stdout.decode()
        self.assertRegex(out, r"--shutdown-grace[^\n]*=30")
        self.assertRegex(out, r"--log-format[^\n]*=text")


class CheckConfigAndServe(unittest.TestCase):
    def write(self, d, text):
        path = os.path.join(d, "signgate.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_check_config_valid_and_invalid(self):
        with tempdir() as d:
            ok = run("check-config", "--config", self.write(d, "aws: { region: us-east-1 }\n" + CLIENT))
            self.assertEqual(ok.returncode, 0, ok.stderr)
            self.assertIn("valid", ok.stdout.decode())
            bad = run("check-config", "--config", self.write(d, "listen: nowhere\naws: { regoin: x }\n"))
            self.assertEqual(bad.returncode, 2)
            err = bad.stderr.decode()
            self.assertIn("signgate.yaml:1: listen: must be IP:PORT", err)
            self.assertIn("signgate.yaml:2: aws.regoin: unknown key", err)
            missing = run("check-config", "--config", os.path.join(d, "absent.yaml"))
            self.assertEqual(missing.returncode, 2)
            self.assertIn("absent.yaml: cannot be read", missing.stderr.decode())

    def test_a_pattern_that_can_never_match_is_refused_with_what_it_meant(self):
        """`arn:aws:bedrock:*` looks right but has four of an ARN's six fields: check-config and
        serve refuse it with its line and the pattern it probably meant."""
        text = ("aws: { region: us-east-1 }\nclients:\n  - name: a\n    secret_sha256: %s\n"
                "    models: [\"arn:aws:bedrock:*\", \"anthropic.claude-*\"]\n" % hashlib.sha256(b"a").hexdigest())
        with tempdir() as d:
            path = self.write(d, text)
            for command in ("check-config", "serve"):
                p = run(command, "--config", path, timeout=30)
                self.assertEqual(p.returncode, 2, command)
                err = p.stderr.decode()
                self.assertIn("signgate.yaml:5: clients[0].models[0]: 'arn:aws:bedrock:*' has 4 of an ARN's six", err)
                self.assertIn("did you mean 'arn:aws:bedrock:*:*:*'?", err)

    def test_explain_says_which_client_may_call_a_model_and_by_which_pattern(self):
        """The question an operator asks when a caller gets 403."""
        text = ("aws: { region: us-east-1 }\nmodels:\n  sonnet: us.anthropic.claude-sonnet-4-5-20250929-v1:0\n"
                "clients:\n"
                "  - name: app\n    secret_sha256: %s\n    models: ['anthropic.*', 'us.anthropic.*']\n"
                "  - name: ci\n    secret_sha256: %s\n    models: ['amazon.nova-*']\n"
                % (hashlib.sha256(b"a").hexdigest(), hashlib.sha256(b"b").hexdigest()))
        with tempdir() as d:
            p = run("check-config", "--config", self.write(d, text), "--explain", "sonnet")
            self.assertEqual(p.returncode, 0, p.stderr)
            out = p.stdout.decode()
            self.assertIn("sonnet is an alias of us.anthropic.claude-sonnet-4-5-20250929-v1:0", out)
            self.assertIn("  app: admitted by 'us.anthropic.*'", out)
            self.assertIn("  ci: refused (403): none of 'amazon.nova-*' matches", out)
            arn = "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.x"
            p = run("check-config", "--config", self.write(d, text), "--explain", arn)
            self.assertIn("  app: refused (403): none of 'anthropic.*', 'us.anthropic.*' matches", p.stdout.decode())

    def test_the_shipped_examples_are_valid(self):
        env = {"SIGNGATE_ROLE_ARN": "arn:aws:iam::111122223333:role/claude-code", "SIGNGATE_EXTERNAL_ID": "ext-1",
               "CLAUDE_CODE_SECRET_SHA256": hashlib.sha256(b"s").hexdigest(),
               "FLASHBACK_SECRET_SHA256": hashlib.sha256(b"f").hexdigest(),
               "DATA_SCIENCE_SECRET_SHA256": hashlib.sha256(b"d").hexdigest(), "DATA_SCIENCE_EXTERNAL_ID": "ext-2"}
        examples = os.path.join(ROOT, "examples")
        with tempdir() as d:
            env["SIGNGATE_AUDIT_PATH"] = os.path.join(d, "audit.jsonl")
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
                p = run("serve", "--config",
                        self.write(d, "listen: 127.0.0.1:%d\naws: { region: us-east-1 }\n%s" % (port, CLIENT)),
                        env={"HOME": d, "AWS_EC2_METADATA_DISABLED": "true"}, clear_aws=True, timeout=20)
            finally:
                taken.close()
            self.assertEqual(p.returncode, 1)
            self.assertIn("listen on 127.0.0.1:%d" % port, p.stderr.decode())

    def test_check_config_refuses_what_serve_would(self):
        """Each config parses, yet serve could not run it: check-config and serve refuse it
        alike, with the file, the key and the reason."""
        with tempdir() as d:
            head = "listen: 127.0.0.1:0\naws: { region: us-east-1 }\n"
            cert, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
            other_key = os.path.join(d, "k2.pem")
            for c, k in ((cert, key), (os.path.join(d, "c2.pem"), other_key)):
                subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", k, "-out", c,
                                "-subj", "/CN=localhost", "-days", "1"], check=True, capture_output=True)
            cases = [
                (head, "clients: none are configured"),
                (head + CLIENT + "audit: { path: %s/no/such/dir/audit.jsonl }\n" % d,
                 "audit.path: the directory %s/no/such/dir does not exist" % d),
                (head + CLIENT + "audit: { path: %s }\n" % d, "audit.path: %s is a directory; name a file in it" % d),
                (head + CLIENT + "tls: { cert: %s/absent.pem, key: %s }\n" % (d, key),
                 "tls.cert: %s/absent.pem cannot be read" % d),
                (head + CLIENT + "tls: { cert: %s, key: %s }\n" % (cert, other_key),
                 "tls.key: %s does not belong to the certificate in %s" % (other_key, cert)),
                (head + CLIENT + "tls: { cert: %s, key: %s }\n" % (key, key), "tls.cert: %s is not a PEM" % key),
                (head + CLIENT + "models: { nova: amazon.nova-pro-v1:0 }\n",
                 "models.nova: no client may call amazon.nova-pro-v1:0"),
            ]
            for text, reason in cases:
                path = self.write(d, text)
                for command in ("check-config", "serve"):
                    p = run(command, "--config", path, env={"HOME": d, "AWS_EC2_METADATA_DISABLED": "true"},
                            clear_aws=True, timeout=20)
                    self.assertEqual(p.returncode, 2, command + ": " + text + p.stderr.decode())
                    self.assertIn("signgate.yaml: " + reason, p.stderr.decode(), command)
            ok = self.write(d, head + CLIENT + "tls: { cert: %s, key: %s }\naudit: { path: %s/a.jsonl }\n"
                            "models: { haiku: anthropic.claude-3-haiku-20240307-v1:0 }\n" % (cert, key, d))
            p = run("check-config", "--config", ok)
            self.assertEqual(p.returncode, 0, p.stderr.decode())

    def test_keys_new_prints_yaml_that_check_config_accepts(self):
        with tempdir() as d:
            for name in ("prod: eu", "flashback-prod", "yes", "NULL", "a$b", "${HOME}", "a \"quoted\" # name", "-dash"):
                out = run("keys", "new", "--name", name).stdout.decode()
                entry = out.split("config entry:\n", 1)[1]
                p = run("check-config", "--config", self.write(d, "aws: { region: us-east-1 }\nclients:\n" + entry))
                self.assertEqual(p.returncode, 0, name + ": " + entry + p.stderr.decode())
                self.assertIn("1 client", p.stdout.decode())

    def test_json_logs_and_the_log_level(self):
        """No base credentials at all: the warning says so, as one JSON object per line."""
        with tempdir() as d:
            path = self.write(d, "listen: 127.0.0.1:0\naws: { region: us-east-1, sts_endpoint: 'http://127.0.0.1:9' }\n"
                              + CLIENT)
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            env.update({"HOME": d, "AWS_EC2_METADATA_DISABLED": "true"})
            for level in ("info", "error"):
                proc = subprocess.Popen([BIN, "serve", "--config", path, "--log-format", "json", "--log-level", level],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
                self.assertTrue(proc.stdout.readline().startswith(b"signgate listening on "))
                time.sleep(0.5)
                proc.send_signal(signal.SIGTERM)
                _, err = proc.communicate(timeout=20)
                lines = [json.loads(line) for line in err.decode().splitlines()]
                levels = {line["level"] for line in lines}
                for line in lines:
                    self.assertRegex(line["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
                if level == "info":
                    self.assertIn("info", levels)
                    warnings = [line["msg"] for line in lines if line["level"] == "warning"]
                    self.assertTrue(any("credentials for base credentials" in w and "no AWS credentials found" in w
                                        for w in warnings), lines)
                else:
                    self.assertEqual(levels - {"error", "critical"}, set(), lines)


if __name__ == "__main__":
    unittest.main(verbosity=2)
