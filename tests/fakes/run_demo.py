#!/usr/bin/python3
"""`make run` until the gateway lands: starts the local AWS endpoint (signatures verified by
botocore), signs a Bedrock Converse and a ConverseStream call with `signgate sign --send`,
and shows the answers. No AWS account needed."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aws_fake  # noqa: E402

AK, SK = "AKIDLOCALDEMO", "local-demo-secret-key"


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "build/signgate"
    server, url = aws_fake.start({AK: (SK, None)}, frame_delay=0.2)
    model = "anthropic.claude-3-haiku-20240307-v1%3A0"
    body = '{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}'
    common = [binary, "sign", "--region", "us-east-1", "--service", "bedrock", "--access-key", AK,
              "--secret-key", SK, "-H", "Content-Type: application/json", "--data", body]
    print("Local AWS endpoint (SigV4 verified by botocore): " + url)
    for op in ("converse", "converse-stream"):
        cmd = common + ["--send", "--events", "%s/model/%s/%s" % (url, model, op)]
        print("\n$ " + " ".join(c if " " not in c and "{" not in c else "'%s'" % c for c in cmd))
        sys.stdout.flush()
        result = subprocess.run(cmd)
        print()
        if result.returncode != 0:
            server.shutdown()
            return result.returncode
    print("\nThe signed request alone (no --send):")
    sys.stdout.flush()
    subprocess.run(common + ["--time", "2015-08-30T12:36:00Z",
                             "https://bedrock-runtime.us-east-1.amazonaws.com/model/%s/converse" % model])
    verified = sum(1 for r in server.requests if r["ok"])
    print("\n%d of %d requests verified by botocore." % (verified, len(server.requests)))
    server.shutdown()
    return 0 if verified == len(server.requests) else 1


if __name__ == "__main__":
    sys.exit(main())
