"""The Codex CLI (@openai/codex, pinned in tests/e2e) as the end-to-end tests run it: a
CODEX_HOME holding examples/codex/config.toml with only base_url (and, if given, the model)
changed, and `codex exec --json` in a scratch directory, its events parsed."""
import json
import os
import re
import subprocess
import tempfile

from common import ROOT

CODEX = os.path.join(ROOT, "tests", "e2e", "node_modules", ".bin", "codex")


class CodexHome:
    def __init__(self, gateway_url, secret, model=None):
        self.secret = secret
        self.home = tempfile.TemporaryDirectory(prefix="signgate-codex-home-")
        self.work = tempfile.TemporaryDirectory(prefix="signgate-codex-work-")
        with open(os.path.join(ROOT, "examples", "codex", "config.toml")) as f:
            config = f.read()
        config, n = re.subn(r'^base_url = "[^"]*"', 'base_url = "%s/v1"' % gateway_url, config, flags=re.M)
        assert n == 1
        if model is not None:
            config, n = re.subn(r'^model = "[^"]*"', 'model = "%s"' % model, config, flags=re.M)
            assert n == 1
        with open(os.path.join(self.home.name, "config.toml"), "w") as f:
            f.write(config)

    def cleanup(self):
        self.home.cleanup()
        self.work.cleanup()

    def run(self, prompt):
        """`codex exec` of the prompt: its exit code, its JSON events and its stderr."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEX_"))}
        env.update(CODEX_HOME=self.home.name, SIGNGATE_API_KEY=self.secret, NO_COLOR="1")
        p = subprocess.run([CODEX, "exec", "--strict-config", "--skip-git-repo-check", "--ephemeral", "--json",
                            "--dangerously-bypass-approvals-and-sandbox", prompt],
                           cwd=self.work.name, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=180)
        events = []
        for line in p.stdout.decode().splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                pass
        return p.returncode, events, p.stderr.decode()


def items(events, kind):
    """The completed items of one kind (agent_message, command_execution, ...)."""
    return [e["item"] for e in events if e.get("type") == "item.completed" and e["item"].get("type") == kind]
