#!/usr/bin/python3
"""`build/signgate sign` output, verified by botocore: Bedrock, STS and generic requests with
':' in model IDs, ARNs, unicode and reserved characters, repeated query keys, odd spacing.
Also: every bad flag, URL or time is a one-line error with exit code 2."""
import json
import os
import unittest

from common import tempdir, ROOT, parse_printed_request, run
import botocore_sigv4

VECTORS = json.load(open(os.path.join(ROOT, "tests", "data", "bedrock-sigv4-vectors.json"), encoding="utf-8"))
CREDS = ["--access-key", "AKIDEXAMPLE", "--secret-key", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"]


def sign_args(case):
    args = ["sign", "-X", case["method"], "--region", case["region"], "--service", case["service"],
            "--access-key", case["access_key"], "--secret-key", case["secret_key"], "--time", case["time"]]
    if case["session_token"]:
        args += ["--session-token", case["session_token"]]
    for name, value in case["headers"]:
        args += ["-H", "%s: %s" % (name, value)]
    if case["body"]:
        args += ["--data", case["body"]]
    return args + [case["url"]]


class SignVerifiedByBotocore(unittest.TestCase):
    def test_every_vector_verifies(self):
        """botocore, given only what signgate printed, computes the same signature."""
        for case in VECTORS["cases"]:
            with self.subTest(case["name"]):
                p = run(*sign_args(case))
                self.assertEqual(p.returncode, 0, p.stderr.decode())
                method, target, headers = parse_printed_request(p.stdout.decode())
                host = dict((n.lower(), v) for n, v in headers)["host"]
                scheme = case["url"].split("://", 1)[0]
                url = "%s://%s%s" % (scheme, host, target)
                creds = {case["access_key"]: (case["secret_key"], case["session_token"] or None)}
                ok, reason, _ = botocore_sigv4.verify(method, url, headers, case["body"].encode(), creds)
                self.assertTrue(ok, reason)
                auth = dict(headers)["Authorization"]
                # A -H value is trimmed at both ends before sending, as curl does; botocore's
                # vector was computed on the untrimmed value and both canonicalise alike.
                self.assertEqual(auth, case["expected"]["authorization"])

    def test_printed_form(self):
        """Request line exactly as given; Host, X-Amz-Date, token and Authorization follow -H."""
        p = run("sign", "--region", "us-east-1", "--service", "bedrock", *CREDS, "--session-token", "TOKEN",
                "--time", "2015-08-30T12:36:00Z", "-H", "Content-Type: application/json", "-H", "X-A: 1",
                "-H", "x-a: 2", "--data", "{}",
                "https://bedrock-runtime.us-east-1.amazonaws.com/model/m%3A0/converse?z=1&a=2")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.decode().splitlines()
        self.assertEqual(lines[0], "POST /model/m%3A0/converse?z=1&a=2 HTTP/1.1")
        names = [line.split(":", 1)[0] for line in lines[1:]]
        self.assertEqual(names, ["Content-Type", "X-A", "x-a", "Host", "Content-Length", "X-Amz-Date",
                                 "X-Amz-Security-Token", "Authorization"])
        self.assertIn("SignedHeaders=content-type;host;x-a;x-amz-date;x-amz-security-token,", lines[-1])

    def test_time_pins_the_signature(self):
        """Same inputs and --time give the same signature; another second gives another."""
        base = ["sign", "--region", "us-east-1", "--service", "sts", *CREDS, "https://sts.amazonaws.com/"]
        a = run(*base, "--time", "2015-08-30T12:36:00Z").stdout
        b = run(*base, "--time", "2015-08-30T12:36:00Z").stdout
        c = run(*base, "--time", "2015-08-30T12:36:01Z").stdout
        self.assertEqual(a, b)
        self.assertNotEqual(a, c)

    def test_data_file(self):
        """--data-file signs the file's bytes."""
        path = os.path.join(ROOT, "tests", "data", "bedrock-sigv4-vectors.json")
        p = run("sign", "--region", "us-east-1", "--service", "bedrock", *CREDS, "--time", "2015-08-30T12:36:00Z",
                "--data-file", path, "https://bedrock-runtime.us-east-1.amazonaws.com/model/x/invoke")
        self.assertEqual(p.returncode, 0, p.stderr)
        method, target, headers = parse_printed_request(p.stdout.decode())
        body = open(path, "rb").read()
        ok, reason, _ = botocore_sigv4.verify(method, "https://bedrock-runtime.us-east-1.amazonaws.com" + target,
                                              headers, body, {"AKIDEXAMPLE": (CREDS[3], None)})
        self.assertTrue(ok, reason)


class BadInput(unittest.TestCase):
    def assert_usage_error(self, args, needle):
        p = run(*args)
        err = p.stderr.decode()
        self.assertEqual(p.returncode, 2, err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn(needle, err)
        self.assertEqual(p.stdout, b"")
        self.assertNotIn("wJalrXUtnFEMI", err)

    def test_bad_flag(self):
        self.assert_usage_error(["sign", "--region", "r", "--service", "s", "--bogus", "https://x/"], "--bogus")

    def test_missing_region(self):
        self.assert_usage_error(["sign", "--service", "s", *CREDS, "https://x/"], "--region")

    def test_bad_url(self):
        self.assert_usage_error(["sign", "--region", "r", "--service", "s", *CREDS, "not a url"], "bad URL")

    def test_bad_scheme(self):
        self.assert_usage_error(["sign", "--region", "r", "--service", "s", *CREDS, "ftp://x/"], "bad URL")

    def test_bad_time(self):
        self.assert_usage_error(["sign", "--region", "r", "--service", "s", *CREDS, "--time", "noon", "https://x/"],
                                "bad --time")

    def test_half_a_key_pair(self):
        self.assert_usage_error(["sign", "--region", "r", "--service", "s", "--access-key", "AKID", "https://x/"],
                                "--access-key and --secret-key go together")

    def test_no_credentials_anywhere(self):
        """Without flags the chain is asked; when nothing answers, one line tells each provider's story."""
        with tempdir() as home:
            p = run("sign", "--region", "r", "--service", "s", "https://x/", clear_aws=True,
                    env={"HOME": home, "AWS_EC2_METADATA_DISABLED": "true"})
        err = p.stderr.decode()
        self.assertEqual(p.returncode, 1, err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        for needle in ("no AWS credentials found", "environment:", "profile:", "web identity:", "ECS:",
                       "IMDS: AWS_EC2_METADATA_DISABLED=true"):
            self.assertIn(needle, err)

    def test_unknown_command(self):
        self.assert_usage_error(["frobnicate"], "frobnicate")

    def test_help_is_not_an_error(self):
        p = run("sign", "--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("--access-key", p.stdout.decode())


if __name__ == "__main__":
    unittest.main(verbosity=2)
