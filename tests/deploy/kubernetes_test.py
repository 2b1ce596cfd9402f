#!/usr/bin/python3
"""deploy/kubernetes: the base (IRSA) and the Pod Identity overlay rendered and validated offline
against Kubernetes' OpenAPI schemas, strictly (tests/deploy/validate_k8s.mjs), with broken copies
that must be refused; the ConfigMap's signgate.yaml run through `signgate check-config` with the
environment the Deployment gives it from the Secret; the manifests' numbers agreeing with the
config and with each other; and, where kubectl is installed, its kustomize rendering the same
objects as the validator's."""
import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from deploy_common import BIN, DEPLOY, HERE, main, node, require_node_modules

K8S = os.path.join(DEPLOY, "kubernetes")
BASE = os.path.join(K8S, "base")
POD_IDENTITY = os.path.join(K8S, "overlays", "pod-identity")
VALIDATE = os.path.join(HERE, "validate_k8s.mjs")
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"


def render(path):
    """(returncode, output, objects) of the validator on a kustomization directory or file."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        r = node(VALIDATE, "--emit-json", out.name, path)
        objects = []
        if os.path.getsize(out.name):
            with open(out.name) as f:
                objects = json.load(f)
    return r.returncode, r.stdout + r.stderr, objects


def one(objects, kind, name=None):
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, "%d %s %s" % (len(found), kind, name or "")
    return found[0]


def container(objects):
    (c,) = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return c


def secret_values(secret):
    values = dict(secret.get("stringData", {}))
    values.update({k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()})
    return values


def container_env(objects):
    """The environment the Deployment's container gets, as the kubelet would build it."""
    env = {}
    for e in container(objects).get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        elif "secretKeyRef" in e.get("valueFrom", {}):
            ref = e["valueFrom"]["secretKeyRef"]
            env[e["name"]] = secret_values(one(objects, "Secret", ref["name"]))[ref["key"]]
        elif "resourceFieldRef" in e.get("valueFrom", {}):
            ref = e["valueFrom"]["resourceFieldRef"]
            limit = container(objects)["resources"]["limits"][ref["resource"].split(".", 1)[1]]
            env[e["name"]] = str(limit)
    return env


class Manifests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_node_modules()
        cls.base = render(BASE)
        cls.pod_identity = render(POD_IDENTITY)

    def broken(self, edit, file="deployment.yaml"):
        """The validator's verdict on a copy of the base with one file edited."""
        with tempfile.TemporaryDirectory() as d:
            copy = os.path.join(d, "base")
            shutil.copytree(BASE, copy)
            path = os.path.join(copy, file)
            with open(path) as f:
                text = f.read()
            changed = edit(text)
            self.assertNotEqual(changed, text, "the edit changed nothing")
            with open(path, "w") as f:
                f.write(changed)
            r = node(VALIDATE, copy)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        return r.stdout

    def test_base_is_valid(self):
        rc, out, objects = self.base
        self.assertEqual(rc, 0, out)
        kinds = sorted(o["kind"] for o in objects)
        self.assertEqual(kinds, sorted(["Namespace", "ServiceAccount", "ConfigMap", "Secret", "Deployment", "Service",
                                        "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler",
                                        "NetworkPolicy"]))
        self.assertEqual(one(objects, "HorizontalPodAutoscaler")["apiVersion"], "autoscaling/v2")
        self.assertEqual(one(objects, "PodDisruptionBudget")["apiVersion"], "policy/v1")

    def test_the_image_is_the_release(self):
        from deploy_common import ROOT
        with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
            version = re.search(r"project\(signgate VERSION ([0-9.]+)", f.read()).group(1)
        image = container(self.base[2])["image"]
        self.assertRegex(image, r"/signgate:%s$" % re.escape(version), "the tag follows CMakeLists.txt")

    def test_pod_identity_overlay_is_valid(self):
        rc, out, objects = self.pod_identity
        self.assertEqual(rc, 0, out)
        self.assertEqual(len(objects), len(self.base[2]))
        self.assertIn(IRSA_ANNOTATION, one(self.base[2], "ServiceAccount")["metadata"]["annotations"])
        self.assertNotIn("annotations", one(objects, "ServiceAccount")["metadata"])
        egress = one(objects, "NetworkPolicy")["spec"]["egress"]
        agent = [rule for rule in egress if any(t.get("ipBlock", {}).get("cidr") == "169.254.170.23/32"
                                                for t in rule.get("to", []))]
        self.assertEqual(len(agent), 1, "egress to the Pod Identity agent")
        self.assertEqual(agent[0]["ports"], [{"port": 80, "protocol": "TCP"}])
        # Everything else is the base's.
        strip = lambda objs: [o for o in objs if o["kind"] not in ("ServiceAccount", "NetworkPolicy")]
        self.assertEqual(strip(objects), strip(self.base[2]))

    def test_a_misspelt_field_is_refused(self):
        out = self.broken(lambda t: t.replace("  replicas: 2", "  replica: 2", 1))
        self.assertIn("/spec/replica: unknown field 'replica'", out)

    def test_a_misspelt_nested_field_is_refused(self):
        out = self.broken(lambda t: t.replace("readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true"))
        self.assertIn("unknown field 'readOnlyRootFileSystem'", out)

    def test_a_wrong_type_is_refused(self):
        out = self.broken(lambda t: t.replace("containerPort: 8080", 'containerPort: "8080"'))
        self.assertIn("/spec/template/spec/containers/0/ports/0/containerPort: type: must be integer", out)

    def test_a_missing_required_field_is_refused(self):
        out = self.broken(lambda t: t.replace("        - name: signgate\n          image:", "        - image:"))
        self.assertIn("required field 'name' is missing", out)

    def test_an_unknown_kind_is_refused(self):
        out = self.broken(lambda t: t.replace("kind: PodDisruptionBudget", "kind: PodDisruptionBudjet"), "pdb.yaml")
        self.assertIn("unknown kind: no PodDisruptionBudjet in policy/v1", out)
        out = self.broken(lambda t: t.replace("apiVersion: autoscaling/v2", "apiVersion: autoscaling/v3"), "hpa.yaml")
        self.assertIn("unknown kind: no HorizontalPodAutoscaler in autoscaling/v3", out)

    def test_a_duplicate_key_is_refused(self):
        out = self.broken(lambda t: t.replace("  revisionHistoryLimit: 5", "  revisionHistoryLimit: 5\n  replicas: 3"))
        self.assertIn("YAML", out)

    def test_an_unlisted_file_is_refused(self):
        with tempfile.TemporaryDirectory() as d:
            copy = os.path.join(d, "base")
            shutil.copytree(BASE, copy)
            open(os.path.join(copy, "stray.yaml"), "w").close()
            r = node(VALIDATE, copy)
        self.assertEqual(r.returncode, 1)
        self.assertIn("stray.yaml is in the directory but not in resources or patches", r.stdout)

    def test_policy_refusals(self):
        out = self.broken(lambda t: t.replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"))
        self.assertIn("readOnlyRootFilesystem must be true", out)
        out = self.broken(lambda t: t.replace('drop: ["ALL"]', 'drop: ["NET_RAW"]'))
        self.assertIn("capabilities.drop must hold ALL", out)
        out = self.broken(lambda t: t.replace("port: ops\n", "port: metrics\n", 1))
        self.assertIn("port metrics is not a declared container port", out)
        out = self.broken(lambda t: t.replace("key: SIGNGATE_EXTERNAL_ID", "key: SIGNGATE_EXTERNALID"))
        self.assertIn("Secret signgate-secrets has no key SIGNGATE_EXTERNALID", out)
        out = self.broken(lambda t: t.replace("targetPort: http", "targetPort: api"), "service.yaml")
        self.assertIn("targetPort api is not a container port", out)

    def test_kubectl_kustomize_renders_the_same(self):
        kubectl = shutil.which("kubectl")
        if not kubectl:
            self.skipTest("kubectl is not installed; the validator's own rendering was checked above")
        for path, (rc, out, objects) in ((BASE, self.base), (POD_IDENTITY, self.pod_identity)):
            self.assertEqual(rc, 0, out)
            r = subprocess.run([kubectl, "kustomize", path], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
                f.write(r.stdout)
                f.flush()
                rc2, out2, theirs = render(f.name)
            self.assertEqual(rc2, 0, out2)
            key = lambda o: (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])
            self.assertEqual(sorted(theirs, key=key), sorted(objects, key=key))


class SigngateConfig(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_node_modules()
        rc, out, cls.objects = render(BASE)
        assert rc == 0, out
        cls.config_text = one(cls.objects, "ConfigMap", "signgate-config")["data"]["signgate.yaml"]
        cls.dir = tempfile.TemporaryDirectory()
        cls.config = os.path.join(cls.dir.name, "signgate.yaml")
        with open(cls.config, "w") as f:
            f.write(cls.config_text)

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def check_config(self, env):
        return subprocess.run([BIN, "check-config", "--config", self.config], capture_output=True, text=True,
                              timeout=30, env=dict(env, PATH="/usr/bin:/bin"))

    def test_valid_with_the_environment_the_secret_gives(self):
        r = self.check_config(container_env(self.objects))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("valid (listen 0.0.0.0:8080", r.stdout)

    def test_the_hashes_and_external_id_come_from_the_secret(self):
        """Without the Secret's variables the config is refused: the values are not in it."""
        env = {k: v for k, v in container_env(self.objects).items() if not k.startswith("SIGNGATE_")}
        r = self.check_config(env)
        self.assertNotEqual(r.returncode, 0)
        refs = set(re.findall(r"\$\{([A-Z0-9_]+)\}", self.config_text))
        self.assertEqual(refs, {"SIGNGATE_EXTERNAL_ID", "SIGNGATE_CLIENT_FLASHBACK_PROD_SHA256",
                                "SIGNGATE_CLIENT_CLAUDE_CODE_SHA256"})
        for name in refs:
            self.assertIn(name, r.stderr)
        self.assertNotRegex(self.config_text, r"\b[0-9a-f]{64}\b", "no hash in the ConfigMap itself")

    def test_placeholders_let_nobody_in(self):
        values = secret_values(one(self.objects, "Secret"))
        hashes = [v for k, v in values.items() if k.endswith("_SHA256")]
        self.assertTrue(hashes)
        for h in hashes:
            self.assertRegex(h, r"^0{63}[0-9a-f]$", "a placeholder with no known secret")
        with open(os.path.join(BASE, "secret.yaml")) as f:
            marked = re.findall(r"(?m)^  (\w+): .*# PLACEHOLDER$", f.read())
        self.assertEqual(sorted(marked), sorted(values), "every value marked as a placeholder")

    def test_ports_probes_and_mounts_agree_with_the_config(self):
        listen = re.search(r"(?m)^listen: 0\.0\.0\.0:(\d+)$", self.config_text)
        ops = re.search(r"(?m)^ops_listen: 0\.0\.0\.0:(\d+)$", self.config_text)
        c = container(self.objects)
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        self.assertEqual(ports, {"http": int(listen.group(1)), "ops": int(ops.group(1))})
        self.assertEqual((c["readinessProbe"]["httpGet"]["path"], c["readinessProbe"]["httpGet"]["port"]),
                         ("/readyz", "ops"))
        self.assertEqual((c["livenessProbe"]["httpGet"]["path"], c["livenessProbe"]["httpGet"]["port"]),
                         ("/healthz", "ops"))
        args = c["args"]
        config_path = args[args.index("--config") + 1]
        (mount,) = c["volumeMounts"]
        self.assertTrue(mount["readOnly"])
        self.assertNotIn("subPath", mount, "a subPath mount never sees the ConfigMap change (no reload)")
        self.assertEqual(config_path, os.path.join(mount["mountPath"], "signgate.yaml"))
        pod = one(self.objects, "Deployment")["spec"]["template"]["spec"]
        (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        self.assertEqual(volume["configMap"]["name"], "signgate-config")
        # The image's user, which runAsNonRoot checks.
        self.assertEqual((pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]), (10001, 10001))
        services = {s["metadata"]["name"]: s for s in self.objects if s["kind"] == "Service"}
        self.assertEqual([p["targetPort"] for p in services["signgate"]["spec"]["ports"]], ["http"])
        self.assertEqual([p["targetPort"] for p in services["signgate-ops"]["spec"]["ports"]], ["ops"])

    def test_the_arguments_are_what_serve_accepts(self):
        """The Deployment's args, with $(SIGNGATE_THREADS) expanded as the kubelet does, parse
        (--help stops after parsing), and the grace fits the termination period."""
        c = container(self.objects)
        env = container_env(self.objects)
        args = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in c["args"]]
        self.assertEqual(args[args.index("--threads") + 1], "2")
        r = subprocess.run([BIN, *args, "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        grace = int(args[args.index("--shutdown-grace") + 1])
        pre_stop = int(c["lifecycle"]["preStop"]["exec"]["command"][-1])
        period = one(self.objects, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        self.assertGreater(period, grace + pre_stop)

    def test_network_policy_keeps_ops_private_and_imds_out(self):
        policy = one(self.objects, "NetworkPolicy")["spec"]
        self.assertEqual(sorted(policy["policyTypes"]), ["Egress", "Ingress"])
        by_port = {r["ports"][0]["port"]: r for r in policy["ingress"]}
        self.assertNotIn("from", by_port["http"], "the API port is open to callers")
        self.assertEqual(by_port["ops"]["from"][0]["namespaceSelector"]["matchLabels"],
                         {"kubernetes.io/metadata.name": "monitoring"})
        # HTTPS (STS, Bedrock) and the fleet's Redis, never to the instance metadata service.
        https = [r for r in policy["egress"] if {"port": 443, "protocol": "TCP"} in r["ports"]]
        self.assertEqual(len(https), 1)
        self.assertEqual(https[0]["ports"], [{"port": 443, "protocol": "TCP"}, {"port": 6379, "protocol": "TCP"}])
        excepted = {e for t in https[0]["to"] for e in t["ipBlock"].get("except", [])}
        self.assertIn("169.254.169.254/32", excepted)


if __name__ == "__main__":
    main()
