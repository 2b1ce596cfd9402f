#!/usr/bin/python3
"""`make run`: a working gateway on loopback, no AWS account needed.

Starts the local Bedrock/STS emulator (aws_fake.py: it verifies every SigV4 signature with
botocore and checks the External ID on AssumeRole), writes a config with one dev client,
starts `signgate serve` with base keys in its environment, prints the dev secret and
ready-to-paste curl commands, and runs until Ctrl-C."""
import hashlib
import os
import secrets
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aws_fake  # noqa: E402

ROLE = "arn:aws:iam::111122223333:role/flashback-bedrock"
EXTERNAL_ID = "dev-external-id"
BASE_KEY, BASE_SECRET = "AKIDLOCALDEMO", secrets.token_urlsafe(30)
PORT = int(os.environ.get("SIGNGATE_PORT", "8080"))


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "build/signgate"
    workdir = os.path.abspath(os.path.join(os.path.dirname(binary), "run"))
    os.makedirs(workdir, exist_ok=True)
    fake, fake_url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID}, frame_delay=0.05)
    secret = "sgk_" + secrets.token_urlsafe(32)
    config = os.path.join(workdir, "signgate.yaml")
    with open(config, "w") as f:
        f.write("# Written by `make run`: the local emulator stands in for STS and Bedrock.\n"
                "listen: 127.0.0.1:%d\n"
                "aws:\n  region: us-east-1\n  role_arn: %s\n  external_id: %s\n"
                "  sts_endpoint: %s\n  bedrock_endpoint: %s\n"
                "clients:\n  - name: dev\n    secret_sha256: %s\n    models: [\"anthropic.*\", \"us.anthropic.*\"]\n"
                "models:\n  claude-haiku: anthropic.claude-3-haiku-20240307-v1:0\n"
                "audit:\n  path: %s\n"
                % (PORT, ROLE, EXTERNAL_ID, fake_url, fake_url, hashlib.sha256(secret.encode()).hexdigest(),
                   os.path.join(workdir, "audit.jsonl")))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": BASE_KEY, "AWS_SECRET_ACCESS_KEY": BASE_SECRET,
                "AWS_EC2_METADATA_DISABLED": "true"})
    proc = subprocess.Popen([binary, "serve", "--config", config], stdout=subprocess.PIPE, env=env)
    line = proc.stdout.readline().decode().strip()
    if not line.startswith("signgate listening on "):
        proc.wait()
        fake.shutdown()
        sys.exit("signgate did not start (is port %d free? set SIGNGATE_PORT)" % PORT)
    url = line.split(" on ", 1)[1]
    model = "anthropic.claude-3-haiku-20240307-v1:0"
    print("""
signgate is running at %(url)s  (config %(config)s, audit log %(workdir)s/audit.jsonl)
It assumed %(role)s with External ID %(ext)s from the local STS emulator.

dev secret (shown once): %(secret)s

  curl -s %(url)s/model/%(model)s/converse \\
    -H 'Authorization: Bearer %(secret)s' -H 'Content-Type: application/json' \\
    -d '{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}'

  curl -sN %(url)s/model/%(model)s/converse-stream \\
    -H 'Authorization: Bearer %(secret)s' -H 'Content-Type: application/json' \\
    -d '{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}' | od -c | head

  curl -s %(url)s/readyz ; curl -s %(url)s/metrics | head

Ctrl-C stops it.""" % {"url": url, "config": config, "workdir": workdir, "role": ROLE, "ext": EXTERNAL_ID,
                       "secret": secret, "model": model}, flush=True)
    try:
        proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
    finally:
        fake.shutdown()


if __name__ == "__main__":
    main()
