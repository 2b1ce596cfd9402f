#!/usr/bin/python3
"""EKS Pod Identity as a pod sees it: AWS_CONTAINER_CREDENTIALS_FULL_URI at the agent's
link-local address http://169.254.170.23/v1/credentials and the token in
AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE. The test runs in a network namespace of its own
(`unshare -n`), where 169.254.170.23 is put on the loopback interface, so the real address
is used without touching the machine's network. `signgate doctor --model` then takes those
credentials and makes one Converse call that botocore verifies."""
import os
import subprocess
import sys
import unittest

AGENT = "169.254.170.23"
TOKEN = "eks-pod-identity-token-0123456789"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def in_namespace():
    return os.environ.get("SIGNGATE_POD_IDENTITY_NETNS") == "1"


if not in_namespace():
    # Re-run this file in a fresh network namespace; its result is this test's result.
    if __name__ == "__main__":
        probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
        if probe.returncode != 0:
            print("pod_identity_test: `unshare -n` is not permitted here (needs root or CAP_SYS_ADMIN): %s"
                  % probe.stderr.decode().strip(), file=sys.stderr)
            sys.exit(1)
        env = dict(os.environ, SIGNGATE_POD_IDENTITY_NETNS="1")
        sys.exit(subprocess.run(["unshare", "-n", sys.executable, "-W", "ignore", os.path.abspath(__file__)],
                                env=env).returncode)
else:
    from common import run, tempdir  # noqa: E402
    import aws_fake  # noqa: E402

    class PodIdentity(unittest.TestCase):
        @classmethod
        def setUpClass(cls):
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
            subprocess.run(["ip", "addr", "add", AGENT + "/32", "dev", "lo"], check=True)
            # Bedrock (and STS) on loopback; the Pod Identity agent on its own address, port 80.
            cls.bedrock, cls.bedrock_url = aws_fake.start({})
            cls.agent, _ = aws_fake.start({}, host=AGENT, port=80, ecs_token=TOKEN)
            cls.agent.issued = cls.bedrock.issued  # credentials the agent issues are good at Bedrock
            cls.agent._lock = cls.bedrock._lock

        @classmethod
        def tearDownClass(cls):
            cls.bedrock.shutdown()
            cls.agent.shutdown()

        def doctor(self, token):
            with tempdir() as d:
                token_file = os.path.join(d, "eks-pod-identity-token")
                with open(token_file, "w") as f:
                    f.write(token + "\n")
                config = os.path.join(d, "signgate.yaml")
                with open(config, "w") as f:
                    f.write("aws:\n  region: us-east-1\n  bedrock_endpoint: %s\n" % self.bedrock_url)
                env = {"HOME": d, "AWS_EC2_METADATA_DISABLED": "true",
                       "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://%s/v1/credentials" % AGENT,
                       "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": token_file}
                p = run("doctor", "--config", config, "--model", MODEL, env=env, clear_aws=True, timeout=60)
            return p.returncode, p.stdout.decode(), p.stderr.decode()

        def test_credentials_from_the_pod_identity_agent_sign_a_call(self):
            rc, out, err = self.doctor(TOKEN)
            self.assertEqual(rc, 0, out + err)
            self.assertIn("ECS", out)
            self.assertIn("Converse %s answered 200" % MODEL, out)
            self.assertNotIn(TOKEN, out + err)
            self.assertGreaterEqual(self.agent.counts.get("ecs", 0), 1)

        def test_a_wrong_token_is_refused_by_the_agent(self):
            rc, out, err = self.doctor("not-the-token")
            self.assertEqual(rc, 1, out + err)
            self.assertIn("the authorization token was refused", err)
            self.assertNotIn("not-the-token", out + err)

    if __name__ == "__main__":
        unittest.main(verbosity=2)
