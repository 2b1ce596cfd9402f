#!/usr/bin/python3
"""`make run` and `make emulator`: signgate on loopback with no AWS account.

`run_demo.py BINARY` starts the local Bedrock/STS emulator (aws_fake.py: it verifies every
SigV4 signature with botocore and checks the External ID on AssumeRole), writes a config with
one dev client, starts `signgate serve` with base keys in its environment, prints the dev
secret and ready-to-paste curl commands (native, OpenAI, Anthropic), and runs until stopped.

`run_demo.py --emulator-only` starts only the emulator on a fixed port and prints the
environment and config lines that point a signgate of your own at it.

However it is stopped — Ctrl-C in the terminal, SIGTERM or SIGINT to `make` alone, SIGTERM
to this script — signgate and the emulator stop with it: nothing is left listening. A
signgate that an earlier run left behind (killed with SIGKILL, say) is stopped first."""
import hashlib
import os
import secrets
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aws_fake  # noqa: E402

ROLE = "arn:aws:iam::111122223333:role/flashback-bedrock"
EXTERNAL_ID = "dev-external-id"
PORT = int(os.environ.get("SIGNGATE_PORT", "8080"))
EMULATOR_PORT = int(os.environ.get("SIGNGATE_EMULATOR_PORT", "4566"))
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def parent_is_stopping(parent):
    """Whether `parent` (make) is gone, or is inside its handler for SIGINT, SIGTERM or SIGHUP:
    GNU make then waits for its children to end by themselves, so a SIGINT sent to make alone
    would otherwise hang. A signal being handled is blocked, so it shows in SigBlk."""
    if os.getppid() != parent:
        return True
    try:
        with open("/proc/%d/status" % parent) as f:
            status = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
    except OSError:
        return True
    blocked = int(status.get("SigBlk", "0").strip(), 16)
    return any(blocked & (1 << (s - 1)) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))


def wait_until_stopped(done):
    """Blocks until a signal reaches this script, make is stopping, or `done` (a child ended)."""
    stop = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, lambda *_: stop.set())
    parent = os.getppid()
    watch_parent = os.path.basename(os.readlink("/proc/%d/exe" % parent)).startswith("make")
    while not stop.wait(0.25):
        if done() or (watch_parent and parent_is_stopping(parent)):
            break


def stop_leftover(pid_file, binary):
    """Stops the signgate an earlier run wrote into `pid_file`, if that process still runs this
    binary (a pid reused by another program is left alone)."""
    try:
        with open(pid_file) as f:
            pid = int(f.read().strip())
        if os.path.realpath("/proc/%d/exe" % pid) != os.path.realpath(binary):
            return
    except (OSError, ValueError):
        return
    print("stopping the signgate an earlier run left behind (pid %d)" % pid, flush=True)
    os.kill(pid, signal.SIGTERM)
    for _ in range(40):
        if not os.path.exists("/proc/%d" % pid):
            return
        threading.Event().wait(0.25)
    os.kill(pid, signal.SIGKILL)


def emulator_only():
    key, secret = "AKIDLOCALEMULATOR", "local-emulator-secret"
    fake, url = aws_fake.start({key: (secret, None)}, port=EMULATOR_PORT, roles={ROLE: EXTERNAL_ID},
                               frame_delay=0.05)
    print("""
The local Bedrock/STS emulator is listening at %(url)s (every signature is checked with botocore).

Point signgate at it with these lines in its config:

  aws:
    region: us-east-1
    role_arn: %(role)s
    external_id: %(ext)s
    sts_endpoint: %(url)s
    bedrock_endpoint: %(url)s

and these base credentials in its environment:

  export AWS_ACCESS_KEY_ID=%(key)s AWS_SECRET_ACCESS_KEY=%(secret)s AWS_EC2_METADATA_DISABLED=true

Ctrl-C stops it.""" % {"url": url, "role": ROLE, "ext": EXTERNAL_ID, "key": key, "secret": secret}, flush=True)
    wait_until_stopped(lambda: False)
    fake.shutdown()


def main():
    if sys.argv[1:] == ["--emulator-only"]:
        return emulator_only()
    binary = sys.argv[1] if len(sys.argv) > 1 else "build/signgate"
    workdir = os.path.abspath(os.path.join(os.path.dirname(binary), "run"))
    os.makedirs(workdir, exist_ok=True)
    pid_file = os.path.join(workdir, "signgate.pid")
    stop_leftover(pid_file, binary)
    base_key, base_secret = "AKIDLOCALDEMO", secrets.token_urlsafe(30)
    fake, fake_url = aws_fake.start({base_key: (base_secret, None)}, roles={ROLE: EXTERNAL_ID}, frame_delay=0.05)
    secret = "sgk_" + secrets.token_urlsafe(32)
    config = os.path.join(workdir, "signgate.yaml")
    with open(config, "w") as f:
        f.write("# Written by `make run`: the local emulator stands in for STS and Bedrock.\n"
                "listen: 127.0.0.1:%d\n"
                "aws:\n  region: us-east-1\n  role_arn: %s\n  external_id: %s\n"
                "  sts_endpoint: %s\n  bedrock_endpoint: %s\n"
                "clients:\n  - name: dev\n    secret_sha256: %s\n    models: [\"anthropic.*\", \"us.anthropic.*\"]\n"
                "models:\n  claude-haiku: %s\n"
                "audit:\n  path: %s\n"
                % (PORT, ROLE, EXTERNAL_ID, fake_url, fake_url, hashlib.sha256(secret.encode()).hexdigest(), MODEL,
                   os.path.join(workdir, "audit.jsonl")))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": base_key, "AWS_SECRET_ACCESS_KEY": base_secret,
                "AWS_EC2_METADATA_DISABLED": "true"})
    # setpriv --pdeathsig: signgate gets SIGTERM when this script dies, however it dies.
    proc = subprocess.Popen(["setpriv", "--pdeathsig", "TERM", "--", binary, "serve", "--config", config],
                            stdout=subprocess.PIPE, env=env)
    line = proc.stdout.readline().decode().strip()
    if not line.startswith("signgate listening on "):
        proc.wait()
        fake.shutdown()
        sys.exit("signgate did not start (is port %d free? set SIGNGATE_PORT)" % PORT)
    with open(pid_file, "w") as f:
        f.write("%d\n" % proc.pid)
    url = line.split(" on ", 1)[1]
    print("""
signgate is running at %(url)s  (config %(config)s, audit log %(workdir)s/audit.jsonl)
It assumed %(role)s with External ID %(ext)s from the local STS emulator.

dev secret (shown once): %(secret)s

Bedrock's own API (what the AWS SDKs call):
  curl -s %(url)s/model/%(model)s/converse \\
    -H 'Authorization: Bearer %(secret)s' -H 'Content-Type: application/json' \\
    -d '{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}'

OpenAI's chat completions (the openai SDKs, LangChain, the AI SDK; "claude-haiku" is an alias):
  curl -s %(url)s/v1/chat/completions \\
    -H 'Authorization: Bearer %(secret)s' -H 'Content-Type: application/json' \\
    -d '{"model":"claude-haiku","messages":[{"role":"user","content":"Hello"}]}'

Anthropic's Messages API (Claude Code, @anthropic-ai/sdk), streamed:
  curl -sN %(url)s/v1/messages \\
    -H 'x-api-key: %(secret)s' -H 'anthropic-version: 2023-06-01' -H 'Content-Type: application/json' \\
    -d '{"model":"%(model)s","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hello"}]}'

  curl -s %(url)s/readyz ; curl -s %(url)s/metrics | head

Ctrl-C stops it.""" % {"url": url, "config": config, "workdir": workdir, "role": ROLE, "ext": EXTERNAL_ID,
                       "secret": secret, "model": MODEL}, flush=True)
    try:
        wait_until_stopped(lambda: proc.poll() is not None)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
        fake.shutdown()
        try:
            os.unlink(pid_file)
        except OSError:
            pass
    print("signgate stopped", flush=True)


if __name__ == "__main__":
    main()
