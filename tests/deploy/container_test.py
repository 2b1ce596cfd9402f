#!/usr/bin/python3
"""The container image, tested without a Docker engine: deploy/Dockerfile read statically (its
syntax with dockerfile-utils, and the rules below); deploy/build-release.sh staging the install
tree from the build under test, and configuring a build from exactly the files the Docker build
context holds (no .git); deploy/check-runtime-packages.sh against the binary, and catching a
missing and a needless package; and the staged binary run as the image runs it: UID 10001, every
mount of the root filesystem read-only but the audit volume, the image's own config, and the
Dockerfile's HEALTHCHECK command line run against it."""
import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import unittest

from deploy_common import (BIN, CONVERSE, DEPLOY, EXTERNAL_ID, HERE, MODEL, ROLE, ROOT, Process, base_env, call,
                           closed_port, main, node, require_node_modules, require_tool, start_fake, stop_fake,
                           url_port, wait_status)

DOCKERFILE = os.path.join(DEPLOY, "Dockerfile")
BUILD_SCRIPT = os.path.join(DEPLOY, "build-release.sh")
CHECK_SCRIPT = os.path.join(DEPLOY, "check-runtime-packages.sh")
PACKAGES = os.path.join(DEPLOY, "runtime-packages.txt")
UID = 10001


def dockerfile_stages(path=DOCKERFILE):
    """[(from_args, [(INSTRUCTION, args, line_number)])]: continuation lines joined, comments
    (also those inside a continued instruction) dropped, as the builder reads it."""
    stages, current, buf, start = [], None, "", 0
    with open(path) as f:
        lines = f.read().splitlines()
    for number, line in enumerate(lines, 1):
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if buf and line.lstrip().startswith("#"):
            continue
        if not buf:
            start = number
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, args = buf.strip().partition(" ")
        buf = ""
        if word.upper() == "FROM":
            current = []
            stages.append((args.strip(), current))
        elif current is None:
            if word.upper() != "ARG":
                raise AssertionError("line %d: %s before FROM" % (start, word))
        else:
            current.append((word.upper(), args.strip(), start))
    return stages


def instructions(stage, name):
    return [args for word, args, _ in stage[1] if word == name]


def healthcheck(stage):
    """The HEALTHCHECK's flags and its exec-form command, as Docker parses it (JSON)."""
    (text,) = instructions(stage, "HEALTHCHECK")
    flags, _, command = text.partition(" CMD ")
    options = dict(re.findall(r"--([a-z-]+)=(\S+)", flags))
    return options, json.loads(command)


def seconds(duration):
    m = re.fullmatch(r"(\d+)s", duration)
    assert m, duration
    return int(m.group(1))


def dockerignore_patterns():
    with open(DOCKERFILE + ".dockerignore") as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")]


def ignored(relpath, patterns):
    """Docker's matching, for the kinds of patterns the ignore file uses: a path is out when it
    or one of its parent directories matches (`**/` matches any depth)."""
    parts = relpath.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        for p in patterns:
            if fnmatch.fnmatchcase(prefix, p) or (p.startswith("**/") and fnmatch.fnmatchcase(parts[i - 1], p[3:])):
                return True
    return False


def copy_build_context(destination):
    """What the build stage's COPY lines take from the context, less Dockerfile.dockerignore."""
    patterns = dockerignore_patterns()
    build = dockerfile_stages()[0]
    copied = []
    for args in instructions(build, "COPY"):
        sources = [a for a in shlex.split(args)[:-1] if not a.startswith("--")]
        for source in sources:
            source = source.rstrip("/")
            path = os.path.join(ROOT, source)
            assert os.path.exists(path), "COPY %s: not in the repository" % source
            assert not ignored(source, patterns), "COPY %s: excluded by Dockerfile.dockerignore" % source
            if os.path.isdir(path):
                for dirpath, dirnames, filenames in os.walk(path):
                    rel = os.path.relpath(dirpath, ROOT)
                    dirnames[:] = [d for d in dirnames if not ignored(os.path.join(rel, d), patterns)]
                    for name in filenames:
                        if not ignored(os.path.join(rel, name), patterns):
                            os.makedirs(os.path.join(destination, rel), exist_ok=True)
                            shutil.copy2(os.path.join(dirpath, name), os.path.join(destination, rel, name))
            else:
                shutil.copy2(path, os.path.join(destination, source))
            copied.append(source)
    return copied


class DockerfileRules(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stages = dockerfile_stages()
        cls.build, cls.runtime = cls.stages[0], cls.stages[-1]

    def test_syntax(self):
        require_node_modules()
        r = node(os.path.join(HERE, "lint_dockerfile.mjs"), DOCKERFILE)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_two_stages_bookworm_build_and_slim_runtime(self):
        self.assertEqual(len(self.stages), 2)
        self.assertRegex(self.build[0], r"^debian:bookworm(@sha256:[0-9a-f]{64})? AS build$")
        self.assertRegex(self.runtime[0], r"^debian:bookworm-slim(@sha256:[0-9a-f]{64})? AS runtime$")
        for stage in self.stages:
            for word, args, line in stage[1]:
                self.assertNotEqual(word, "ADD", "line %d: COPY, not ADD (no URLs, no archives)" % line)

    def test_build_stage_runs_the_release_script_with_the_commit(self):
        self.assertIn("SIGNGATE_COMMIT", instructions(self.build, "ARG")[0])
        runs = " ".join(instructions(self.build, "RUN"))
        self.assertRegex(runs, r'SIGNGATE_COMMIT="\$\{SIGNGATE_COMMIT\}" bash deploy/build-release\.sh .*--stage /stage')

    def test_build_packages_are_the_projects_own(self):
        """Every package the build stage installs is in the Makefile's DEB_PACKAGES (a name
        that exists and is what `make` builds with), and every -dev package there that CMake's
        find_package() needs is installed."""
        with open(os.path.join(ROOT, "Makefile")) as f:
            m = re.search(r"^DEB_PACKAGES :=((?:.*\\\n)*.*)$", f.read(), re.M)
        project = set(m.group(1).replace("\\\n", " ").split())
        install = re.search(r"apt-get install (.*?)(&&|$)", " ".join(instructions(self.build, "RUN")))
        packages = {w for w in install.group(1).split() if not w.startswith("-")}
        self.assertLessEqual(packages, project)
        needed = {"g++", "cmake", "ninja-build", "python3", "libboost-dev", "libssl-dev", "libdeflate-dev",
                  "libcli11-dev", "nlohmann-json3-dev", "libyaml-cpp-dev", "libpugixml-dev", "libspdlog-dev",
                  "libsimdjson-dev", "libnghttp2-dev", "libgoogle-perftools-dev"}
        self.assertLessEqual(needed, packages)
        self.assertNotIn("libgtest-dev", packages, "SIGNGATE_TESTS=OFF: the image builds no tests")

    def test_apt_is_lean(self):
        for stage in self.stages:
            for args in instructions(stage, "RUN"):
                if "apt-get install" in args:
                    self.assertIn("--no-install-recommends", args)
                    self.assertIn("rm -rf /var/lib/apt/lists/*", args)

    def test_runtime_installs_the_checked_package_list(self):
        self.assertIn("deploy/runtime-packages.txt", " ".join(instructions(self.runtime, "COPY")))
        self.assertIn("$(sed 's/#.*//' /tmp/runtime-packages.txt)", " ".join(instructions(self.runtime, "RUN")))

    def test_runs_as_a_numeric_non_root_user(self):
        users = instructions(self.runtime, "USER")
        self.assertEqual(users, ["%d:%d" % (UID, UID)], "numeric, so runAsNonRoot can verify it")
        run = " ".join(instructions(self.runtime, "RUN"))
        self.assertIn("useradd --uid %d" % UID, run)
        self.assertIn("install -d -o %d -g %d -m 0750 /var/log/signgate" % (UID, UID), run)
        words = [w for w, _, _ in self.runtime[1]]
        self.assertGreater(words.index("USER"), max(i for i, w in enumerate(words) if w in ("RUN", "COPY")),
                           "USER must come after every RUN and COPY")

    def test_entrypoint_cmd_signal_ports(self):
        self.assertEqual([json.loads(a) for a in instructions(self.runtime, "ENTRYPOINT")], [["signgate"]])
        self.assertEqual([json.loads(a) for a in instructions(self.runtime, "CMD")],
                         [["serve", "--config", "/etc/signgate/signgate.yaml"]])
        self.assertEqual(instructions(self.runtime, "STOPSIGNAL"), ["SIGTERM"])
        exposed = {int(p) for a in instructions(self.runtime, "EXPOSE") for p in a.split()}
        with open(os.path.join(DEPLOY, "signgate.example.yaml")) as f:
            config = f.read()
        ports = {int(p) for p in re.findall(r"^(?:listen|ops_listen): 0\.0\.0\.0:(\d+)$", config, re.M)}
        self.assertEqual(len(ports), 2)
        self.assertEqual(exposed, ports)
        (ops,) = re.findall(r"^ops_listen: 0\.0\.0\.0:(\d+)$", config, re.M)
        self.assertIn("SIGNGATE_HEALTH_PORT=%s" % ops, instructions(self.runtime, "ENV"))

    def test_labels_name_the_release(self):
        with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
            version = re.search(r"project\(signgate VERSION ([0-9.]+)", f.read()).group(1)
        labels = " ".join(instructions(self.runtime, "LABEL"))
        self.assertIn('org.opencontainers.image.version="%s"' % version, labels, "the label follows CMakeLists.txt")
        self.assertIn('org.opencontainers.image.revision="${SIGNGATE_COMMIT}"', labels)
        self.assertIn("SIGNGATE_COMMIT", " ".join(instructions(self.runtime, "ARG")))

    def test_healthcheck_uses_only_what_slim_has(self):
        options, command = healthcheck(self.runtime)
        self.assertEqual(command[:2], ["bash", "-c"], "exec form with bash, which bookworm-slim has")
        self.assertNotRegex(command[2], r"\b(curl|wget|nc|python)\b")
        self.assertGreater(seconds(options["timeout"]), 5, "its read waits up to 5 s")
        for key in ("interval", "start-period", "retries"):
            self.assertIn(key, options)


class ReleaseScript(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory(prefix="signgate-stage-")
        cls.stage = os.path.join(cls.dir.name, "stage")
        cls.result = subprocess.run(["bash", BUILD_SCRIPT, "--prebuilt", os.path.dirname(BIN), "--stage", cls.stage],
                                    capture_output=True, text=True, timeout=120)

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def test_stages_the_install_tree(self):
        self.assertEqual(self.result.returncode, 0, self.result.stdout + self.result.stderr)
        self.assertIn("runtime packages: ok", self.result.stdout)
        files = sorted(os.path.relpath(os.path.join(d, f), self.stage)
                       for d, _, fs in os.walk(self.stage) for f in fs)
        self.assertEqual(files, ["etc/signgate/signgate.yaml", "usr/local/bin/signgate",
                                 "usr/local/share/doc/signgate/CHANGELOG.md",
                                 "usr/local/share/doc/signgate/LICENSE",
                                 "usr/local/share/doc/signgate/README.md",
                                 "usr/local/share/doc/signgate/signgate.example.yaml",
                                 "usr/local/share/doc/signgate/signgate.service"])
        self.assertTrue(os.path.isdir(os.path.join(self.stage, "var/log/signgate")))
        with open(os.path.join(self.stage, "etc/signgate/signgate.yaml")) as a, \
                open(os.path.join(DEPLOY, "signgate.example.yaml")) as b:
            self.assertEqual(a.read(), b.read())

    def test_binary_is_the_build_stripped(self):
        staged = os.path.join(self.stage, "usr/local/bin/signgate")
        version = lambda b: subprocess.run([b, "--version"], capture_output=True, text=True).stdout
        self.assertEqual(version(staged), version(BIN))
        self.assertTrue(os.access(staged, os.X_OK))
        sections = subprocess.run(["readelf", "-S", staged], capture_output=True, text=True).stdout
        self.assertNotIn(".symtab", sections)
        self.assertLess(os.path.getsize(staged), os.path.getsize(BIN))

    def test_refuses_a_build_tree_that_is_not_release(self):
        with tempfile.TemporaryDirectory() as d:
            shutil.copy(BIN, os.path.join(d, "signgate"))
            with open(os.path.join(d, "CMakeCache.txt"), "w") as f:
                f.write("CMAKE_BUILD_TYPE:STRING=Debug\nSIGNGATE_SANITIZE:BOOL=ON\n")
            r = subprocess.run(["bash", BUILD_SCRIPT, "--prebuilt", d, "--stage", os.path.join(d, "s")],
                               capture_output=True, text=True, timeout=60)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("not a Release build tree", r.stderr)
            self.assertFalse(os.path.exists(os.path.join(d, "s")))

    def test_configures_from_the_docker_build_context(self):
        """The files the build stage's COPY lines take (less Dockerfile.dockerignore, so no
        .git and no build trees) configure a Release build of `signgate` alone, reporting the
        commit given as SIGNGATE_COMMIT, and "unknown" without it."""
        require_tool("cmake", "ninja")
        with tempfile.TemporaryDirectory() as d:
            context = os.path.join(d, "context")
            os.mkdir(context)
            copied = copy_build_context(context)
            self.assertEqual(sorted(copied), ["CHANGELOG.md", "CMakeLists.txt", "LICENSE", "README.md", "deploy", "src",
                                              "tests/tools"], "of the tests, only the layering check the build runs")
            self.assertFalse(os.path.exists(os.path.join(context, ".git")))
            script = os.path.join(context, "deploy", "build-release.sh")
            for commit, expected in (("0123456789abcdef", "0123456789ab"), (None, "unknown")):
                build = os.path.join(d, "build-%s" % expected)
                env = {k: v for k, v in os.environ.items() if k != "SIGNGATE_COMMIT"}
                if commit:
                    env["SIGNGATE_COMMIT"] = commit
                r = subprocess.run(["bash", script, "--configure-only", "--build-dir", build], capture_output=True,
                                   text=True, timeout=120, env=env, cwd=context)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                with open(os.path.join(build, "build.ninja")) as f:
                    self.assertIn('SIGNGATE_COMMIT=\\"%s\\"' % expected, f.read())
                with open(os.path.join(build, "CMakeCache.txt")) as f:
                    cache = f.read()
                self.assertIn("CMAKE_BUILD_TYPE:STRING=Release", cache)
                self.assertIn("SIGNGATE_BENCH:BOOL=OFF", cache)
                self.assertIn("SIGNGATE_TESTS:BOOL=OFF", cache)
                self.assertNotIn("GTest_DIR", cache, "GoogleTest is not looked for")
            # What `cmake --build --target signgate` would compile: the sources, no test.
            plan = subprocess.run(["ninja", "-C", build, "-n", "signgate"], capture_output=True, text=True,
                                  timeout=60).stdout
            self.assertIn("Linking CXX executable signgate", plan)
            self.assertNotIn("unit_tests", plan)
            self.assertNotIn("integration_tests", plan)


class RuntimePackages(unittest.TestCase):
    def check(self, listing):
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
            f.write(listing)
            f.flush()
            return subprocess.run(["bash", CHECK_SCRIPT, BIN, f.name], capture_output=True, text=True, timeout=60)

    def test_the_list_is_exactly_what_the_binary_links(self):
        r = subprocess.run(["bash", CHECK_SCRIPT, BIN, PACKAGES], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_a_missing_package_fails(self):
        with open(PACKAGES) as f:
            listing = "".join(l for l in f if l.strip() != "libsimdjson14")
        r = self.check(listing)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("missing from", r.stdout)
        self.assertIn("libsimdjson14 (ships libsimdjson.so.14)", r.stdout)

    def test_a_needless_package_fails(self):
        with open(PACKAGES) as f:
            r = self.check(f.read() + "libcurl4\n")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("not needed, remove from", r.stdout)
        self.assertIn("libcurl4", r.stdout)

    def test_the_ca_store_is_there_for_tls(self):
        with open(PACKAGES) as f:
            self.assertRegex(f.read(), r"(?m)^ca-certificates +# not-a-library:")


class StagedImage(unittest.TestCase):
    """The staged tree run as the image runs it. Docker's --read-only is a read-only bind of
    every mount in a private mount namespace; the audit volume a writable bind; USER 10001:10001
    with setpriv. Loopback ports stand in for 8080 and 9090."""

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root for a mount namespace and UID %d" % UID)
        require_tool("unshare", "setpriv", "mount", "findmnt")
        cls.dir = tempfile.TemporaryDirectory(prefix="signgate-image-")
        d = cls.dir.name
        os.chmod(d, 0o755)
        cls.stage = os.path.join(d, "stage")
        r = subprocess.run(["bash", BUILD_SCRIPT, "--prebuilt", os.path.dirname(BIN), "--stage", cls.stage,
                            "--no-package-check"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        cls.volume = os.path.join(d, "audit-volume")  # mounted at /var/log/signgate in the image
        os.mkdir(cls.volume, 0o750)
        os.chown(cls.volume, UID, UID)
        cls.fake, cls.fake_url = start_fake()
        cls.secret = "sgk_image_TEST_secret_0123456789abcdef"
        import hashlib
        cls.env = base_env(AWS_REGION="us-east-1", SIGNGATE_ROLE_ARN=ROLE, SIGNGATE_EXTERNAL_ID=EXTERNAL_ID,
                           SIGNGATE_CLIENT_SHA256=hashlib.sha256(cls.secret.encode()).hexdigest(),
                           SIGNGATE_HEALTH_PORT="9090", PATH=os.path.join(cls.stage, "usr/local/bin") + ":/usr/bin:/bin")
        cls.stages = dockerfile_stages()

    @classmethod
    def tearDownClass(cls):
        stop_fake(cls.fake)
        cls.dir.cleanup()

    def image_config(self, audit=None):
        """The image's /etc/signgate/signgate.yaml, on loopback ports and the emulator's endpoints."""
        with open(os.path.join(self.stage, "etc/signgate/signgate.yaml")) as f:
            text = f.read()
        for key, value in (("listen", "127.0.0.1:0"), ("ops_listen", "127.0.0.1:0")):
            text, n = re.subn(r"(?m)^%s: 0\.0\.0\.0:\d+$" % key, "%s: %s" % (key, value), text)
            self.assertEqual(n, 1, key)
        text, n = re.subn(r"(?m)^(  region: .*)$", r"\1\n  sts_endpoint: %s\n  bedrock_endpoint: %s"
                          % (self.fake_url, self.fake_url), text)
        self.assertEqual(n, 1)
        if audit:
            text, n = re.subn(r'(?m)^  path: "-"$', "  path: %s" % audit, text)
            self.assertEqual(n, 1)
        conf = tempfile.mkdtemp(prefix="etc-signgate-", dir=self.dir.name)
        with open(os.path.join(conf, "signgate.yaml"), "w") as f:
            f.write(text)
        os.chmod(os.path.join(conf, "signgate.yaml"), 0o444)
        os.chmod(conf, 0o555)
        return os.path.join(conf, "signgate.yaml")

    def contained(self, argv, env):
        """argv as the image would run it: read-only mounts, the volume writable, UID 10001."""
        script = ("set -e; mount --make-rprivate /; mount --bind \"$VOLUME\" \"$VOLUME\"; "
                  "for m in $(findmnt -rn -o TARGET | grep -v -e '^/proc' -e '^/sys' -e '^/dev'); do "
                  "  [ \"$m\" = \"$VOLUME\" ] || mount -o remount,bind,ro \"$m\" 2>/dev/null || true; done; "
                  "exec setpriv --reuid=%d --regid=%d --clear-groups --no-new-privs -- \"$@\"" % (UID, UID))
        env = dict(env, VOLUME=self.volume)
        return Process(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", *argv],
                       env)

    def serve(self, config):
        (cmd,) = [json.loads(a) for a in instructions(self.stages[-1], "CMD")]
        (entry,) = [json.loads(a) for a in instructions(self.stages[-1], "ENTRYPOINT")]
        argv = entry + cmd
        argv[argv.index("--config") + 1] = config
        return self.contained(argv, self.env)

    def health(self, port):
        options, command = healthcheck(self.stages[-1])
        env = {"PATH": "/usr/bin:/bin", "SIGNGATE_HEALTH_PORT": str(port)}
        p = self.contained(command, env)
        try:
            return p.wait(timeout=seconds(options["timeout"]))
        except subprocess.TimeoutExpired:
            return "timed out"

    def test_serves_read_only_as_uid_10001_and_the_healthcheck_agrees(self):
        gw = self.serve(self.image_config())
        try:
            port = url_port(gw.expect_line("signgate listening on "))
            ops = url_port(gw.expect_line("signgate ops listening on "))
            with open("/proc/%d/status" % gw.proc.pid) as f:
                status = f.read()
            self.assertRegex(status, r"\nUid:\s+%d\s+%d\s+%d\s+%d\n" % ((UID,) * 4))
            self.assertRegex(status, r"\nNoNewPrivs:\s+1\n")
            self.assertEqual(call(ops, "/healthz")[0], 200)
            wait_status(ops, "/readyz", 200)
            self.assertEqual(call(port, "/healthz")[0], 404, "the ops endpoints are on their own port")
            status, body = call(port, "/model/%s/converse" % MODEL, "POST", CONVERSE,
                                {"Authorization": "Bearer " + self.secret, "Content-Type": "application/json"})
            self.assertEqual(status, 200, body)
            # Audit lines on stdout ("-"): the main port's 404 for /healthz, then the call.
            self.assertEqual(json.loads(gw.expect_line("{"))["status"], 404)
            audit = json.loads(gw.expect_line("{"))
            self.assertEqual((audit["client"], audit["status"], audit["model"]), ("default", 200, MODEL))
            # The image's HEALTHCHECK, parsed out of the Dockerfile and run as the image's user.
            self.assertEqual(self.health(ops), 0)
            self.assertNotEqual(self.health(port), 0, "a 404 is not healthy")
            self.assertNotEqual(self.health(closed_port()), 0, "nothing listening is not healthy")
        finally:
            self.assertEqual(gw.stop(signal.SIGTERM), 0, "\n".join(gw.stderr))

    def test_audit_file_on_the_volume(self):
        audit = os.path.join(self.volume, "audit.jsonl")
        gw = self.serve(self.image_config(audit=audit))
        try:
            port = url_port(gw.expect_line("signgate listening on "))
            self.assertEqual(call(port, "/model/%s/converse" % MODEL, "POST", CONVERSE,
                                  {"Authorization": "Bearer wrong"})[0], 401)
        finally:
            self.assertEqual(gw.stop(), 0, "\n".join(gw.stderr))
        with open(audit) as f:
            self.assertEqual(json.loads(f.readline())["status"], 401)
        self.assertEqual(os.stat(audit).st_uid, UID)

    def test_nothing_else_is_writable(self):
        """The read-only root is real: an audit path off the volume is refused at start."""
        gw = self.serve(self.image_config(audit=os.path.join(self.dir.name, "audit.jsonl")))
        self.assertEqual(gw.wait(timeout=15), 2)
        self.assertRegex("\n".join(gw.stderr), r"audit|Read-only|read-only")


if __name__ == "__main__":
    main()
