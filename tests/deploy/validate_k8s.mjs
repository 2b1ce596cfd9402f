#!/usr/bin/env node
// Validates Kubernetes manifests offline, strictly, as an API server would before admitting them.
//
//   node tests/deploy/validate_k8s.mjs [--emit-json FILE] [--no-policy] PATH...
//
// PATH is a kustomization directory (rendered here: resources, images, JSON 6902 patches) or a
// YAML file of one or more documents. Every object is checked against the OpenAPI schema of its
// apiVersion and kind (the `kubernetes-models` package's validators, generated from
// Kubernetes' OpenAPI document): types, formats, enums and required fields, plus what those
// validators leave out, unknown fields, as `kubectl apply --validate=strict` refuses them. An
// unknown apiVersion/kind fails. Then signgate's own rules (--no-policy skips them): the
// "restricted" Pod Security Standard, read-only root, resources, probes on declared ports, and
// references that resolve (Secrets, ConfigMaps, the ServiceAccount, selectors, targets).
// Exit 0 when everything passes, 1 otherwise, each problem on its own line.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import YAML from "yaml";
import Ajv from "ajv";

const require = createRequire(import.meta.url);
const modelsDir = path.dirname(require.resolve("kubernetes-models/package.json"));

const problems = [];
const problem = (where, message) => problems.push(`${where}: ${message}`);
const idOf = (o) =>
  `${o?.kind ?? "?"}/${o?.metadata?.namespace ? o.metadata.namespace + "/" : ""}${o?.metadata?.name ?? "?"}`;

// ---------- YAML ----------

// Kubernetes reads YAML 1.1 (sigs.k8s.io/yaml): `on` is true and 0444 is octal there, so read it
// the same way. Duplicate keys, and anything the parser warns about, are errors.
function parseDocuments(file, text = fs.readFileSync(file, "utf8")) {
  const out = [];
  for (const doc of YAML.parseAllDocuments(text, { version: "1.1", uniqueKeys: true, prettyErrors: true })) {
    for (const e of [...doc.errors, ...doc.warnings]) problem(file, `YAML: ${e.message.split("\n")[0]}`);
    if (doc.errors.length) continue;
    const value = doc.toJS({ maxAliasCount: 0 });
    if (value === null || value === undefined) continue; // an empty document (a trailing ---)
    out.push(value);
  }
  return out;
}

// ---------- kustomize, the part these manifests use ----------

const kustomizationSchema = {
  type: "object",
  additionalProperties: false,
  required: ["apiVersion", "kind"],
  properties: {
    apiVersion: { const: "kustomize.config.k8s.io/v1beta1" },
    kind: { const: "Kustomization" },
    resources: { type: "array", items: { type: "string", minLength: 1 } },
    images: {
      type: "array",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["name"],
        properties: {
          name: { type: "string" },
          newName: { type: "string" },
          newTag: { type: "string" },
          digest: { type: "string" },
        },
      },
    },
    patches: {
      type: "array",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["target"],
        oneOf: [{ required: ["path"] }, { required: ["patch"] }],
        properties: {
          path: { type: "string" },
          patch: { type: "string" },
          target: {
            type: "object",
            additionalProperties: false,
            minProperties: 1,
            properties: {
              group: { type: "string" },
              version: { type: "string" },
              kind: { type: "string" },
              name: { type: "string" },
              namespace: { type: "string" },
            },
          },
        },
      },
    },
  },
};
const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
const validateKustomization = ajv.compile(kustomizationSchema);

function pointer(pathText) {
  if (!pathText.startsWith("/")) throw new Error(`JSON pointer '${pathText}' must start with /`);
  return pathText
    .slice(1)
    .split("/")
    .map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"));
}

// RFC 6902 add, remove, replace and test: what kustomize's JSON patches use here.
function applyJsonPatch(target, ops, where) {
  if (!Array.isArray(ops)) throw new Error(`${where}: a patch must be a list of JSON 6902 operations`);
  for (const op of ops) {
    const keys = pointer(op.path);
    const last = keys.pop();
    let parent = target;
    for (const k of keys) {
      if (parent === null || typeof parent !== "object" || !(k in parent)) {
        throw new Error(`${where}: ${op.op} ${op.path}: no such path`);
      }
      parent = parent[k];
    }
    const isArray = Array.isArray(parent);
    const index = isArray ? (last === "-" ? parent.length : Number(last)) : undefined;
    if (isArray && !(Number.isInteger(index) && index >= 0 && index <= parent.length)) {
      throw new Error(`${where}: ${op.op} ${op.path}: bad array index`);
    }
    const exists = isArray ? index < parent.length : Object.prototype.hasOwnProperty.call(parent, last);
    switch (op.op) {
      case "add":
        if (isArray) parent.splice(index, 0, structuredClone(op.value));
        else parent[last] = structuredClone(op.value);
        break;
      case "remove":
      case "replace":
        if (!exists) throw new Error(`${where}: ${op.op} ${op.path}: nothing there`);
        if (op.op === "remove") {
          if (isArray) parent.splice(index, 1);
          else delete parent[last];
        } else if (isArray) parent[index] = structuredClone(op.value);
        else parent[last] = structuredClone(op.value);
        break;
      case "test":
        if (!exists || JSON.stringify(isArray ? parent[index] : parent[last]) !== JSON.stringify(op.value)) {
          throw new Error(`${where}: test ${op.path} failed`);
        }
        break;
      default:
        throw new Error(`${where}: unsupported patch operation '${op.op}'`);
    }
  }
}

function splitImage(image) {
  const at = image.indexOf("@");
  const withoutDigest = at >= 0 ? image.slice(0, at) : image;
  const slash = withoutDigest.lastIndexOf("/");
  const colon = withoutDigest.lastIndexOf(":");
  return colon > slash ? withoutDigest.slice(0, colon) : withoutDigest;
}

function setImages(objects, images) {
  for (const o of objects) {
    const pod = podSpecOf(o);
    if (!pod) continue;
    for (const c of [...(pod.containers ?? []), ...(pod.initContainers ?? [])]) {
      for (const img of images) {
        if (typeof c.image !== "string" || splitImage(c.image) !== img.name) continue;
        let name = img.newName ?? img.name;
        if (img.digest) name += "@" + img.digest;
        else if (img.newTag) name += ":" + img.newTag;
        else if (c.image.length > img.name.length) name += c.image.slice(img.name.length);
        c.image = name;
      }
    }
  }
}

const matchesTarget = (o, t) =>
  (!t.kind || o.kind === t.kind) &&
  (!t.name || o.metadata?.name === t.name) &&
  (!t.namespace || o.metadata?.namespace === t.namespace) &&
  (!t.group || (o.apiVersion.includes("/") ? o.apiVersion.split("/")[0] : "") === t.group) &&
  (!t.version || o.apiVersion.split("/").pop() === t.version);

// Renders a kustomization directory; every YAML file beside kustomization.yaml must be used.
function renderKustomization(dir, seen = new Set()) {
  const real = fs.realpathSync(dir);
  if (seen.has(real)) throw new Error(`${dir}: kustomization cycle`);
  seen.add(real);
  const kfile = path.join(dir, "kustomization.yaml");
  const docs = parseDocuments(kfile);
  if (docs.length !== 1) throw new Error(`${kfile}: must hold exactly one document`);
  const k = docs[0];
  if (!validateKustomization(k)) {
    for (const e of validateKustomization.errors) {
      const extra = e.params?.additionalProperty ? ` '${e.params.additionalProperty}'` : "";
      problem(kfile, `${e.instancePath || "/"} ${e.message}${extra} (only what this renderer implements)`);
    }
    return [];
  }
  const used = new Set([path.resolve(kfile)]);
  const objects = [];
  for (const r of k.resources ?? []) {
    const p = path.resolve(dir, r);
    if (!fs.existsSync(p)) {
      problem(kfile, `resource '${r}' does not exist`);
      continue;
    }
    if (fs.statSync(p).isDirectory()) {
      if (!fs.existsSync(path.join(p, "kustomization.yaml"))) {
        problem(kfile, `resource directory '${r}' has no kustomization.yaml`);
        continue;
      }
      objects.push(...renderKustomization(p, seen));
    } else {
      used.add(p);
      objects.push(...parseDocuments(p).map((o) => ({ ...o, __file: p })));
    }
  }
  for (const [i, pt] of (k.patches ?? []).entries()) {
    const where = `${kfile}: patches[${i}]`;
    let ops;
    if (pt.path) {
      const p = path.resolve(dir, pt.path);
      used.add(p);
      ops = parseDocuments(p)[0];
    } else {
      ops = YAML.parse(pt.patch, { version: "1.1", uniqueKeys: true });
    }
    const targets = objects.filter((o) => matchesTarget(o, pt.target));
    if (targets.length === 0) problem(where, `target ${JSON.stringify(pt.target)} matches no resource`);
    for (const o of targets) {
      try {
        applyJsonPatch(o, ops, where);
      } catch (e) {
        problem(where, e.message);
      }
    }
  }
  if (k.images) setImages(objects, k.images);
  const ids = new Set();
  for (const o of objects) {
    const id = `${o.apiVersion}|${idOf(o)}`;
    if (ids.has(id)) problem(kfile, `${idOf(o)} is defined twice`);
    ids.add(id);
  }
  for (const f of fs.readdirSync(dir)) {
    const p = path.resolve(dir, f);
    if (/\.ya?ml$/.test(f) && !used.has(p)) problem(kfile, `${f} is in the directory but not in resources or patches`);
  }
  return objects;
}

// ---------- schemas, strictly ----------

// The generated validator of apiVersion/kind, or null for a kind Kubernetes does not have.
const validators = new Map();
function validatorFor(apiVersion, kind) {
  const key = `${apiVersion}|${kind}`;
  if (validators.has(key)) return validators.get(key);
  let fn = null;
  if (/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion) && /^[A-Z][A-Za-z0-9]*$/.test(kind)) {
    try {
      const mod = require(`kubernetes-models/${apiVersion}/${kind}`);
      const model = mod[kind];
      const schemaName = Object.keys(mod).find((n) => n.startsWith("IoK8s") && mod[n] === model);
      if (model && model.kind === kind && model.apiVersion === apiVersion && schemaName) {
        fn = require(path.join(modelsDir, "_schemas", `${schemaName}.js`)).validate;
      }
    } catch (e) {
      if (e.code !== "MODULE_NOT_FOUND" && e.code !== "ERR_PACKAGE_PATH_NOT_EXPORTED") throw e;
    }
  }
  validators.set(key, fn);
  return fn;
}

// The generated validators check the properties a schema declares and ignore the rest. To find
// the rest, the object is wrapped in proxies that record which properties the validator looked
// at: an own key it never read is a field the schema does not have. A map (labels, data,
// resources.limits) is enumerated by the validator instead, and then every key is known.
function tracked(value, at, records) {
  if (value === null || typeof value !== "object") return value;
  const record = { value, at, read: new Set(), enumerated: false };
  records.push(record);
  const copy = Array.isArray(value)
    ? value.map((v, i) => tracked(v, `${at}/${i}`, records))
    : Object.fromEntries(Object.entries(value).map(([k, v]) => [k, tracked(v, `${at}/${k}`, records)]));
  return new Proxy(copy, {
    get(t, p, r) {
      if (typeof p === "string") record.read.add(p);
      return Reflect.get(t, p, r);
    },
    has(t, p) {
      if (typeof p === "string") record.read.add(p);
      return Reflect.has(t, p);
    },
    getOwnPropertyDescriptor(t, p) {
      if (typeof p === "string") record.read.add(p);
      return Reflect.getOwnPropertyDescriptor(t, p);
    },
    ownKeys(t) {
      record.enumerated = true;
      return Reflect.ownKeys(t);
    },
  });
}

function validateSchema(o, where) {
  if (!o || typeof o !== "object" || Array.isArray(o)) return problem(where, "a document must be a mapping");
  if (typeof o.apiVersion !== "string" || typeof o.kind !== "string") {
    return problem(where, "apiVersion and kind are required");
  }
  const validate = validatorFor(o.apiVersion, o.kind);
  if (!validate) return problem(where, `unknown kind: no ${o.kind} in ${o.apiVersion}`);
  const records = [];
  const ok = validate(tracked(o, "", records));
  if (!ok) {
    for (const e of validate.errors) {
      const detail = e.params?.missingProperty
        ? `required field '${e.params.missingProperty}' is missing`
        : `${e.keyword}: must be ${e.params?.type ?? e.params?.format ?? JSON.stringify(e.params)}`;
      problem(where, `${e.instancePath || "/"}: ${detail}`);
    }
  }
  // Reported beside schema errors too: the validators carry on past an error, reading every
  // declared property of every object they reach.
  for (const r of records) {
    if (Array.isArray(r.value) || r.enumerated) continue;
    for (const key of Object.keys(r.value)) {
      if (!r.read.has(key)) problem(where, `${r.at}/${key}: unknown field '${key}'`);
    }
  }
}

// ---------- signgate's rules ----------

function podSpecOf(o) {
  if (["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"].includes(o?.kind)) return o.spec?.template?.spec;
  if (o?.kind === "CronJob") return o.spec?.jobTemplate?.spec?.template?.spec;
  if (o?.kind === "Pod") return o.spec;
  return undefined;
}
const podLabelsOf = (o) => (o.kind === "Pod" ? o.metadata?.labels : o.spec?.template?.metadata?.labels) ?? {};
const selects = (matchLabels, labels) =>
  matchLabels && Object.keys(matchLabels).length > 0 && Object.entries(matchLabels).every(([k, v]) => labels[k] === v);
const clusterScoped = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding", "PriorityClass", "StorageClass"]);
const restrictedVolumes = new Set([
  "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
]);

function checkPolicy(objects) {
  const byKind = (kind, ns) => objects.filter((o) => o.kind === kind && (ns === undefined || o.metadata?.namespace === ns));
  const names = (kind, ns) => new Set(byKind(kind, ns).map((o) => o.metadata?.name));
  const namespaces = names("Namespace");
  const workloads = objects.filter((o) => podSpecOf(o));

  for (const o of objects) {
    const where = `policy: ${idOf(o)}`;
    if (clusterScoped.has(o.kind)) continue;
    if (!o.metadata?.namespace) problem(where, "has no metadata.namespace");
    else if (namespaces.size && !namespaces.has(o.metadata.namespace)) {
      problem(where, `namespace ${o.metadata.namespace} is not among the manifests' Namespaces`);
    }
  }

  for (const w of workloads) {
    const where = `policy: ${idOf(w)}`;
    const ns = w.metadata?.namespace;
    const pod = podSpecOf(w);
    const psc = pod.securityContext ?? {};
    if (!selects(w.spec?.selector?.matchLabels, podLabelsOf(w)) && w.kind !== "Pod") {
      problem(where, "spec.selector.matchLabels does not select the pod template's labels");
    }
    for (const f of ["hostNetwork", "hostPID", "hostIPC"]) if (pod[f]) problem(where, `${f} is not allowed`);
    if (psc.runAsUser === 0) problem(where, "securityContext.runAsUser must not be 0");
    if (pod.serviceAccountName && !names("ServiceAccount", ns).has(pod.serviceAccountName)) {
      problem(where, `serviceAccountName ${pod.serviceAccountName} is not defined`);
    }
    const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
    for (const v of pod.volumes ?? []) {
      const type = Object.keys(v).find((k) => k !== "name");
      if (!restrictedVolumes.has(type)) problem(where, `volume ${v.name}: type ${type} is not allowed (restricted)`);
      if (v.configMap && !v.configMap.optional && !names("ConfigMap", ns).has(v.configMap.name)) {
        problem(where, `volume ${v.name}: ConfigMap ${v.configMap.name} is not defined`);
      }
      if (v.secret && !v.secret.optional && !names("Secret", ns).has(v.secret.secretName)) {
        problem(where, `volume ${v.name}: Secret ${v.secret.secretName} is not defined`);
      }
    }
    for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
      const cw = `${where}: container ${c.name}`;
      const sc = c.securityContext ?? {};
      if (!(sc.runAsNonRoot ?? psc.runAsNonRoot)) problem(cw, "runAsNonRoot must be true (pod or container)");
      if (sc.runAsUser === 0) problem(cw, "runAsUser must not be 0");
      if (sc.allowPrivilegeEscalation !== false) problem(cw, "securityContext.allowPrivilegeEscalation must be false");
      if (sc.privileged) problem(cw, "privileged is not allowed");
      if (sc.readOnlyRootFilesystem !== true) problem(cw, "securityContext.readOnlyRootFilesystem must be true");
      if (!(sc.capabilities?.drop ?? []).includes("ALL")) problem(cw, "securityContext.capabilities.drop must hold ALL");
      for (const cap of sc.capabilities?.add ?? []) {
        if (cap !== "NET_BIND_SERVICE") problem(cw, `capability ${cap} may not be added (restricted)`);
      }
      const seccomp = sc.seccompProfile?.type ?? psc.seccompProfile?.type;
      if (!["RuntimeDefault", "Localhost"].includes(seccomp)) problem(cw, "seccompProfile must be RuntimeDefault or Localhost");
      if (typeof c.image !== "string" || !/[:@]/.test(c.image.slice(c.image.lastIndexOf("/") + 1)) || c.image.endsWith(":latest")) {
        problem(cw, `image '${c.image}' must name a tag or digest other than latest`);
      }
      if ((c.ports ?? []).some((p) => p.hostPort)) problem(cw, "hostPort is not allowed");
      const r = c.resources ?? {};
      for (const k of ["cpu", "memory"]) if (!r.requests?.[k]) problem(cw, `resources.requests.${k} is not set`);
      if (!r.limits?.memory) problem(cw, "resources.limits.memory is not set");
      for (const m of c.volumeMounts ?? []) {
        if (!volumes.has(m.name)) problem(cw, `volumeMount ${m.name} names no volume`);
      }
      for (const e of c.env ?? []) {
        const s = e.valueFrom?.secretKeyRef;
        const cm = e.valueFrom?.configMapKeyRef;
        if (s && !s.optional) {
          const secret = byKind("Secret", ns).find((x) => x.metadata.name === s.name);
          if (!secret) problem(cw, `env ${e.name}: Secret ${s.name} is not defined`);
          else if (!(s.key in (secret.data ?? {})) && !(s.key in (secret.stringData ?? {}))) {
            problem(cw, `env ${e.name}: Secret ${s.name} has no key ${s.key}`);
          }
        }
        if (cm && !cm.optional) {
          const map = byKind("ConfigMap", ns).find((x) => x.metadata.name === cm.name);
          if (!map) problem(cw, `env ${e.name}: ConfigMap ${cm.name} is not defined`);
          else if (!(cm.key in (map.data ?? {}))) problem(cw, `env ${e.name}: ConfigMap ${cm.name} has no key ${cm.key}`);
        }
      }
      if (!(pod.initContainers ?? []).includes(c)) {
        const ports = new Set((c.ports ?? []).flatMap((p) => [p.name, p.containerPort]));
        for (const kind of ["readinessProbe", "livenessProbe"]) {
          if (!c[kind]) problem(cw, `${kind} is not set`);
        }
        for (const kind of ["readinessProbe", "livenessProbe", "startupProbe"]) {
          const port = c[kind]?.httpGet?.port ?? c[kind]?.tcpSocket?.port;
          if (port !== undefined && !ports.has(port)) problem(cw, `${kind} port ${port} is not a declared container port`);
        }
      }
    }
  }

  const podsIn = (ns) => workloads.filter((w) => w.metadata?.namespace === ns);
  for (const s of byKind("Service")) {
    const where = `policy: ${idOf(s)}`;
    const pods = podsIn(s.metadata.namespace).filter((w) => selects(s.spec?.selector, podLabelsOf(w)));
    if (pods.length === 0) {
      problem(where, "selects no workload's pods");
      continue;
    }
    for (const p of s.spec.ports ?? []) {
      const target = p.targetPort ?? p.port;
      const declared = pods.some((w) =>
        podSpecOf(w).containers.some((c) => (c.ports ?? []).some((cp) => cp.name === target || cp.containerPort === target)),
      );
      if (!declared) problem(where, `targetPort ${target} is not a container port of the pods it selects`);
    }
  }
  for (const kind of ["PodDisruptionBudget", "NetworkPolicy"]) {
    for (const o of byKind(kind)) {
      const sel = kind === "NetworkPolicy" ? o.spec?.podSelector?.matchLabels : o.spec?.selector?.matchLabels;
      if (!podsIn(o.metadata.namespace).some((w) => selects(sel, podLabelsOf(w)))) {
        problem(`policy: ${idOf(o)}`, "its selector matches no workload's pods");
      }
    }
  }
  for (const h of byKind("HorizontalPodAutoscaler")) {
    const t = h.spec?.scaleTargetRef ?? {};
    if (!byKind(t.kind, h.metadata.namespace).some((o) => o.metadata.name === t.name && o.apiVersion === t.apiVersion)) {
      problem(`policy: ${idOf(h)}`, `scaleTargetRef ${t.apiVersion} ${t.kind}/${t.name} is not defined`);
    }
  }
}

// ---------- main ----------

const args = process.argv.slice(2);
let emit = null;
let policy = true;
const inputs = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--emit-json") emit = args[++i];
  else if (args[i] === "--no-policy") policy = false;
  else if (args[i].startsWith("-")) {
    console.error(`validate_k8s: unknown option ${args[i]}`);
    process.exit(2);
  } else inputs.push(args[i]);
}
if (inputs.length === 0 || (emit !== null && !emit)) {
  console.error("usage: node validate_k8s.mjs [--emit-json FILE] [--no-policy] KUSTOMIZATION_DIR|FILE.yaml...");
  process.exit(2);
}

const all = [];
for (const input of inputs) {
  try {
    const objects = fs.statSync(input).isDirectory()
      ? renderKustomization(input)
      : parseDocuments(input).map((o) => ({ ...o, __file: path.resolve(input) }));
    all.push(...objects);
  } catch (e) {
    problem(input, e.message);
  }
}
for (const o of all) {
  const file = o.__file;
  delete o.__file;
  validateSchema(o, `${file ? path.relative(process.cwd(), file) : "?"}: ${idOf(o)}`);
}
if (policy) checkPolicy(all);
if (emit) fs.writeFileSync(emit, JSON.stringify(all, null, 2));
for (const p of problems) console.log(p);
if (problems.length) {
  console.log(`${problems.length} problem${problems.length === 1 ? "" : "s"} in ${all.length} objects`);
  process.exit(1);
}
const kinds = {};
for (const o of all) kinds[o.kind] = (kinds[o.kind] ?? 0) + 1;
console.log(
  `${all.length} objects valid: ` + Object.entries(kinds).map(([k, n]) => `${n} ${k}`).join(", "),
);
