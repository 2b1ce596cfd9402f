#!/usr/bin/python3
"""Fails when a file under src/ includes a module above its own (../shared/DESIGN.md, Layering):
    cli, main  ->  gateway  ->  api, auth, config, store, spend  ->  aws, http  ->  common
with aws above http (credential providers use the HTTP client; http never includes aws),
config below auth, and store (the Redis client) on http's TLS alone. Run by the build (CMake's `layering` target) and by `make lint`."""
import os
import re
import sys

ALLOWED = {
    "common": set(),
    "http": {"common"},
    "aws": {"common", "http"},
    "config": {"common", "aws", "http"},
    "api": {"common", "aws"},
    "auth": {"common", "aws", "config"},
    "store": {"common", "http"},
    "spend": {"common", "aws", "config"},
    "gateway": {"common", "aws", "http", "config", "api", "auth", "store", "spend"},
    "cli": {"common", "aws", "http", "config", "api", "auth", "gateway", "store", "spend"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/')


def main(src):
    problems = []
    for root, _, files in os.walk(src):
        rel = os.path.relpath(root, src)
        module = rel.split(os.sep)[0]
        if module not in ALLOWED:
            continue  # main.cc sits at the top and may include anything
        for name in files:
            path = os.path.join(root, name)
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if m and m.group(1) != module and m.group(1) not in ALLOWED[module]:
                        problems.append("%s:%d: %s may not include %s/ (allowed: %s)" % (
                            os.path.relpath(path, os.path.dirname(src)), number, module, m.group(1),
                            ", ".join(sorted(ALLOWED[module])) or "nothing"))
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "src")))
