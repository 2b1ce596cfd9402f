#!/usr/bin/python3
"""`signgate doctor` against the local STS/Bedrock fake (signatures verified by botocore):
it names the base provider, the assumed role and the expiry, explains each failure in one
line, and never prints a secret — neither the base keys nor any credentials STS issued."""
import os
import unittest

from common import run, tempdir
import aws_fake

ROLE = "arn:aws:iam::111122223333:role/flashback-bedrock"
EXTERNAL_ID = "ext-7f3a9c2e"
BASE_KEY, BASE_SECRET = "AKIDDOCTOREXAMPLE", "doctor/base/SECRET+never-printed"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


class Doctor(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server, cls.url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()

    def doctor(self, *extra, external_id=EXTERNAL_ID, role=ROLE, keys=True, config_text=None):
        with tempdir() as home:
            path = os.path.join(home, "signgate.yaml")
            with open(path, "w") as f:
                f.write(config_text or
                        "aws:\n  region: us-east-1\n  role_arn: %s\n  external_id: ${EXT}\n"
                        "  session_name: signgate-doctor\n  sts_endpoint: %s\n  bedrock_endpoint: %s\n"
                        % (role, self.url, self.url))
            env = {"HOME": home, "AWS_EC2_METADATA_DISABLED": "true", "EXT": external_id}
            if keys:
                env.update({"AWS_ACCESS_KEY_ID": BASE_KEY, "AWS_SECRET_ACCESS_KEY": BASE_SECRET})
            p = run("doctor", "--config", path, *extra, env=env, clear_aws=True, timeout=60)
        out, err = p.stdout.decode(), p.stderr.decode()
        self.assert_no_secret(out + err)
        return p.returncode, out, err

    def assert_no_secret(self, text):
        self.assertNotIn(BASE_SECRET, text)
        with self.server._lock:
            issued = list(self.server.issued.values())
        for secret, token, _ in issued:
            self.assertNotIn(secret, text)
            self.assertNotIn(token, text)

    def one_line(self, err):
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        return err

    def test_all_good_with_a_model_call(self):
        """Base provider, assumed role, session, expiry, then one Converse that botocore verified."""
        rc, out, err = self.doctor("--model", MODEL)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("from environment (AWS_ACCESS_KEY_ID)", out)
        self.assertIn("assumed arn:aws:sts::111122223333:assumed-role/flashback-bedrock/signgate-doctor", out)
        self.assertIn("expires", out)
        self.assertIn("Converse %s answered 200" % MODEL, out)
        self.assertEqual(err, "")

    def test_wrong_external_id(self):
        rc, out, err = self.doctor(external_id="ext-wrong")
        self.assertEqual(rc, 1)
        self.assertIn("AccessDenied", self.one_line(err))
        self.assertIn("most likely the External ID does not match", err)
        self.assertNotIn("ext-wrong", err)

    def test_missing_role(self):
        rc, out, err = self.doctor(role="arn:aws:iam::111122223333:role/does-not-exist")
        self.assertEqual(rc, 1)
        self.assertIn("role/does-not-exist", self.one_line(err))
        self.assertIn("or the role does not exist", err)

    def test_missing_credentials(self):
        rc, out, err = self.doctor(keys=False)
        self.assertEqual(rc, 1)
        self.assertIn("no AWS credentials found", self.one_line(err))
        self.assertIn("give signgate base credentials", err)

    def test_model_not_allowed_by_the_role(self):
        rc, out, err = self.doctor("--model", "denied.model-v1:0")
        self.assertEqual(rc, 1)
        self.assertIn("AccessDeniedException", self.one_line(err))
        self.assertIn("lacks bedrock:InvokeModel", err)

    def test_unknown_model(self):
        rc, out, err = self.doctor("--model", "missing.model-v1:0")
        self.assertEqual(rc, 1)
        self.assertIn("no model missing.model-v1:0 in us-east-1", self.one_line(err))

    def test_bad_config_exits_two_naming_file_and_key(self):
        rc, out, err = self.doctor(config_text="aws:\n  role_arn: nope\n")
        self.assertEqual(rc, 2)
        self.assertRegex(err, r"signgate.yaml:2: aws.region: is required")
        self.assertRegex(err, r"signgate.yaml:2: aws.role_arn: must be an IAM role ARN")

    def clients_config(self, b_external_id):
        secret = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0%d"
        return ("aws:\n  region: us-east-1\n  role_arn: %s\n  external_id: ${EXT}\n"
                "  session_name: signgate\n  sts_endpoint: %s\n  bedrock_endpoint: %s\n"
                "clients:\n"
                "  - { name: team-a, secret_sha256: %s, models: ['%s'] }\n"
                "  - { name: team-c, secret_sha256: %s, models: ['*'] }\n"
                "  - name: team-b\n    secret_sha256: %s\n    models: ['*']\n"
                "    aws: { role_arn: '%s', external_id: '%s', session_name: signgate-b }\n"
                % (ROLE, self.url, self.url, secret % 1, MODEL, secret % 3, secret % 2, ROLE, b_external_id))

    def test_every_identity_the_clients_use_is_checked(self):
        """Clients a and c share aws:'s role (each its own signgate-CLIENT session, as serve
        assumes them); b has its own External ID. A wrong one for b fails naming b, while a's
        and c's identities are still reported; no unused default session is assumed."""
        rc, out, err = self.doctor(config_text=self.clients_config("ext-wrong-for-b"))
        self.assertEqual(rc, 1, out + err)
        self.assertIn("assumed-role/flashback-bedrock/signgate-team-a, session signgate-team-a (client team-a)", out)
        self.assertIn("assumed-role/flashback-bedrock/signgate-team-c, session signgate-team-c (client team-c)", out)
        self.assertNotIn("assumed-role/flashback-bedrock/signgate,", out)
        line = self.one_line(err)
        self.assertIn("AccessDenied", line)
        self.assertIn("signgate-b", line)
        self.assertIn("(client team-b)", line)
        self.assertNotIn("ext-wrong-for-b", line)

        rc, out, err = self.doctor("--model", MODEL, config_text=self.clients_config("${EXT}"))
        self.assertEqual(rc, 0, out + err)
        # A model no client may call is not "ok".
        rc, out2, err = self.doctor("--model", "meta.llama3-8b-instruct-v1:0",
                                    config_text=self.clients_config("${EXT}").replace("models: ['*']", "models: ['x.*']"))
        self.assertEqual(rc, 1, out2 + err)
        self.assertIn("no client may call meta.llama3-8b-instruct-v1:0", err)
        self.assertIn("(client team-b)", out)
        self.assertEqual(out.count("Converse %s answered 200" % MODEL), 3, out)


SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
US_SONNET = "us." + SONNET
OVERFLOW_ROLE = "arn:aws:iam::444455556666:role/signgate-bedrock"
OVERFLOW_EXTERNAL_ID = "ext-overflow-1"


class DoctorRoutes(unittest.TestCase):
    """Two emulators as two accounts (routes_test.py's east and west): doctor assumes every
    identity a route names at its own STS and probes each target of the route serving --model,
    signed for the target's region by the target's identity."""

    @classmethod
    def setUpClass(cls):
        base = {BASE_KEY: (BASE_SECRET, None)}
        cls.east, cls.east_url = aws_fake.start(base, roles={ROLE: EXTERNAL_ID}, region="us-east-1")
        cls.west, cls.west_url = aws_fake.start(base, roles={OVERFLOW_ROLE: OVERFLOW_EXTERNAL_ID}, region="us-west-2")

    @classmethod
    def tearDownClass(cls):
        for server in (cls.east, cls.west):
            server.shutdown()
            server.server_close()

    def config(self, spare_external_id):
        return ("aws:\n  region: us-east-1\n  role_arn: %(role)s\n  external_id: %(ext)s\n"
                "  sts_endpoint: %(east)s\n  bedrock_endpoint: %(east)s\n"
                "identities:\n"
                "  overflow: { role_arn: '%(overflow)s', external_id: '%(overflow_ext)s', region: us-west-2,"
                " sts_endpoint: '%(west)s' }\n"
                "  spare: { role_arn: '%(overflow)s', external_id: '%(spare_ext)s', region: us-west-2,"
                " sts_endpoint: '%(west)s' }\n"
                "models:\n  sonnet: %(sonnet)s\n"
                "clients:\n  - { name: app, secret_sha256: %(hash)s, models: ['anthropic.claude-sonnet-*'] }\n"
                "routes:\n  - name: sonnet\n    match: [sonnet]\n    targets:\n"
                "      - { name: east, identity: default, region: us-east-1, bedrock_endpoint: '%(east)s' }\n"
                "      - { name: east-profile, region: us-east-1, model: '%(us_sonnet)s', bedrock_endpoint: '%(east)s' }\n"
                "      - { name: west, identity: overflow, bedrock_endpoint: '%(west)s' }\n"
                "      - { name: spare, identity: spare, bedrock_endpoint: '%(west)s' }\n"
                % {"role": ROLE, "ext": EXTERNAL_ID, "east": self.east_url, "west": self.west_url,
                   "overflow": OVERFLOW_ROLE, "overflow_ext": OVERFLOW_EXTERNAL_ID, "spare_ext": spare_external_id,
                   "sonnet": SONNET, "us_sonnet": US_SONNET, "hash": "ab" * 32})

    def doctor(self, config_text, *extra):
        with tempdir() as home:
            path = os.path.join(home, "signgate.yaml")
            with open(path, "w") as f:
                f.write(config_text)
            env = {"HOME": home, "AWS_EC2_METADATA_DISABLED": "true",
                   "AWS_ACCESS_KEY_ID": BASE_KEY, "AWS_SECRET_ACCESS_KEY": BASE_SECRET}
            p = run("doctor", "--config", path, *extra, env=env, clear_aws=True, timeout=60)
        out, err = p.stdout.decode(), p.stderr.decode()
        text = out + err
        self.assertNotIn(BASE_SECRET, text)
        for server in (self.east, self.west):
            with server._lock:
                issued = list(server.issued.values())
            for secret, token, _ in issued:
                self.assertNotIn(secret, text)
                self.assertNotIn(token, text)
        return p.returncode, out, err

    def test_each_identity_and_each_target_is_reported_on_its_own(self):
        """An identity that cannot be assumed (wrong External ID) fails itself and its target,
        named in one line each; the other identity and targets are still checked and pass."""
        before_east, before_west = len(self.east.requests_to("converse")), len(self.west.requests_to("converse"))
        rc, out, err = self.doctor(self.config("ext-wrong-for-spare"), "--model", "sonnet")
        self.assertEqual(rc, 1, out + err)
        self.assertIn("identity    overflow: assumed arn:aws:sts::444455556666:assumed-role/signgate-bedrock/"
                      "signgate-app, session signgate-app in us-west-2 (routes sonnet)", out)
        self.assertIn("route       sonnet serves %s with 4 targets" % SONNET, out)
        self.assertIn("target      east (default, us-east-1): Converse %s answered 200" % SONNET, out)
        self.assertIn("target      east-profile (default, us-east-1): Converse %s answered 200" % US_SONNET, out)
        self.assertIn("target      west (overflow, us-west-2): Converse %s answered 200" % SONNET, out)
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 2, err)
        self.assertTrue(lines[0].startswith("doctor: identity spare: "), err)
        self.assertIn("AccessDenied", lines[0])
        self.assertEqual(lines[1], "doctor: target spare (spare, us-west-2): not probed: identity spare could not "
                                   "be assumed")
        self.assertNotIn("ext-wrong-for-spare", err)
        # Each probe went to its target's emulator, signed for its region by its own account.
        east = self.east.requests_to("converse")[before_east:]
        self.assertEqual(sorted(r["model"] for r in east), sorted([SONNET, US_SONNET]))
        self.assertEqual({r["region"] for r in east}, {"us-east-1"})
        [west] = self.west.requests_to("converse")[before_west:]
        self.assertEqual((west["region"], west["model"], west["outcome"]), ("us-west-2", SONNET, "served"))
        self.assertIn(west["access_key"], self.west.issued)
        self.assertNotIn(west["access_key"], self.east.issued)

    def test_a_throttled_target_fails_alone(self):
        """Every identity assumed; east throttles once: its line says so, the others answer."""
        self.east.fail = {"type": "ThrottlingException", "count": 1}
        try:
            rc, out, err = self.doctor(self.config(OVERFLOW_EXTERNAL_ID), "--model", "sonnet")
        finally:
            self.east.fail = None
        self.assertEqual(rc, 1, out + err)
        self.assertIn("identity    spare: assumed", out)
        line = err.strip()
        self.assertEqual(len(line.splitlines()), 1, err)
        self.assertTrue(line.startswith("doctor: target east (default, us-east-1): Bedrock answered 429 "
                                        "ThrottlingException"), err)
        self.assertIn("a route fails over from it", line)
        for target in ("east-profile (default, us-east-1)", "west (overflow, us-west-2)", "spare (spare, us-west-2)"):
            self.assertIn("target      %s: Converse" % target, out)

        rc, out, err = self.doctor(self.config(OVERFLOW_EXTERNAL_ID))
        self.assertEqual(rc, 0, out + err)
        self.assertNotIn("target ", out, "no --model: identities only")
        self.assertIn("identity    overflow: assumed", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
