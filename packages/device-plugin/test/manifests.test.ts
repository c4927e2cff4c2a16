// Invariants of deploy/: the kustomize manifests (rendered here by a small kustomize subset:
// resources + JSON 6902 patches, and by `kubectl kustomize` when it is installed), the Helm
// chart's values and templates, and the Dockerfile, checked against the configuration schema and
// this plugin's own defaults so the three cannot drift apart silently.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { configSchema, loadConfig, SERVICE_NAMES, type ServiceName } from "@cloister/config";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { DEFAULT_DEVICE_PLUGIN_DIR, DEFAULT_RESOURCE_NAME } from "../src/plugin.js";

const here = dirname(fileURLToPath(import.meta.url));
// dist/test → package → packages → repository root
const repo = resolve(here, "..", "..", "..", "..");
const deploy = join(repo, "deploy");
const k8s = join(deploy, "k8s");
const chart = join(deploy, "helm", "cloister");

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are free-form here
type Obj = any;

// ---------------------------------------------------------------------------------------------
// A small kustomize: enough for the features deploy/k8s uses, and it refuses anything else.

function loadDocs(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  for (const d of docs) if (d.errors.length) throw new Error(`${file}: ${d.errors[0]?.message}`);
  return docs.map((d) => d.toJS()).filter((d) => d !== null);
}

const pointer = (path: string) =>
  path
    .split("/")
    .slice(1)
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));

function applyOp(doc: Obj, op: { op: string; path: string; value?: unknown }): void {
  const parts = pointer(op.path);
  const last = parts.pop()!;
  let parent = doc;
  for (const p of parts) {
    parent = Array.isArray(parent) ? parent[Number(p)] : parent?.[p];
    if (parent === undefined) throw new Error(`patch path ${op.path} does not exist`);
  }
  const isArray = Array.isArray(parent);
  switch (op.op) {
    case "add":
      if (isArray) {
        if (last === "-") parent.push(op.value);
        else parent.splice(Number(last), 0, op.value);
      } else parent[last] = op.value;
      return;
    case "replace":
      if (!(isArray ? Number(last) < parent.length : last in parent))
        throw new Error(`replace of missing ${op.path}`);
      parent[isArray ? Number(last) : last] = op.value;
      return;
    case "remove":
      if (!(isArray ? Number(last) < parent.length : last in parent))
        throw new Error(`remove of missing ${op.path}`);
      if (isArray) parent.splice(Number(last), 1);
      else delete parent[last];
      return;
    case "test":
      assert.deepEqual(parent[isArray ? Number(last) : last], op.value, `patch test failed at ${op.path}`);
      return;
    default:
      throw new Error(`unsupported patch op ${op.op}`);
  }
}

function kustomize(dir: string): Obj[] {
  const k = parseYaml(readFileSync(join(dir, "kustomization.yaml"), "utf8"));
  const known = new Set(["apiVersion", "kind", "resources", "patches"]);
  for (const key of Object.keys(k))
    assert.ok(known.has(key), `${dir}: kustomization field ${key} is not covered by this test`);
  const out: Obj[] = [];
  for (const r of k.resources ?? []) {
    const p = join(dir, r);
    out.push(...(statSync(p).isDirectory() ? kustomize(p) : loadDocs(p)));
  }
  for (const patch of k.patches ?? []) {
    const ops = parseYaml(patch.patch);
    const name = new RegExp(`^(?:${patch.target.name})$`);
    const targets = out.filter((o) => o.kind === patch.target.kind && name.test(o.metadata.name));
    assert.ok(
      targets.length > 0,
      `${dir}: patch target ${patch.target.kind}/${patch.target.name} matches nothing`,
    );
    for (const t of targets) for (const op of ops) applyOp(t, op);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

const component = (s: ServiceName) => s.replace("_", "-");
const WORKLOAD_KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet"]);
const defaults = configSchema.parse({});
const portOf = (listen: string) => Number(listen.split(":").pop());

/** The listen keys each service serves, and which one is its internal (advertised) endpoint. */
const ENDPOINTS: Record<
  Exclude<ServiceName, "execution">,
  { listen: (keyof typeof defaults.listen)[]; internal?: keyof typeof defaults.listen }
> = {
  authentication: {
    listen: ["authentication_api", "authentication_internal"],
    internal: "authentication_internal",
  },
  frontend: { listen: ["frontend"] },
  management: { listen: ["management"], internal: "management" },
  storage: { listen: ["storage"], internal: "storage" },
  access_control: { listen: ["access_control"], internal: "access_control" },
  scheduler: { listen: ["scheduler"], internal: "scheduler" },
};
const STATEFUL: ServiceName[] = ["authentication", "storage"];

const find = (objs: Obj[], kind: string, name: string) =>
  objs.find((o) => o.kind === kind && o.metadata.name === name);
const workloads = (objs: Obj[]) => objs.filter((o) => WORKLOAD_KINDS.has(o.kind));

function configOf(objs: Obj[], env: NodeJS.ProcessEnv = {}) {
  const cm = find(objs, "ConfigMap", "cloister-config");
  assert.ok(cm, "ConfigMap cloister-config");
  const dir = mkdtempSync(join(tmpdir(), "cloister-toml-"));
  try {
    writeFileSync(join(dir, "cloister.toml"), cm.data["cloister.toml"]);
    return loadConfig({ file: join(dir, "cloister.toml"), env });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function checkPlatform(objs: Obj[]): void {
  const config = configOf(objs);
  for (const name of SERVICE_NAMES) {
    const kind = STATEFUL.includes(name) ? "StatefulSet" : "Deployment";
    const w = find(objs, kind, `cloister-${component(name)}`);
    assert.ok(w, `${kind} cloister-${component(name)}`);
    const pod = w.spec.template.spec;
    const c = pod.containers[0];
    assert.deepEqual(c.args.slice(0, 3), ["service", name, "--config"]);
    const dataDir = c.args[c.args.indexOf("--data-dir") + 1];
    assert.equal(dataDir, config.data_dir, `${name}: --data-dir matches data_dir in cloister.toml`);
    assert.ok(
      c.volumeMounts.some((m: Obj) => m.name === "data" && m.mountPath === dataDir),
      `${name}: data volume at the data dir`,
    );
    const configPath = c.args[c.args.indexOf("--config") + 1];
    const configMount = c.volumeMounts.find((m: Obj) => configPath.startsWith(`${m.mountPath}/`));
    assert.equal(
      pod.volumes.find((v: Obj) => v.name === configMount?.name)?.configMap?.name,
      "cloister-config",
    );
    assert.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory, `${name}: resource requests`);
    // Trust material comes from the Secret and ConfigMap through the init container.
    const trust = pod.volumes.find((v: Obj) => v.name === "trust");
    assert.equal(trust.secret.secretName, "cloister-trust");
    assert.deepEqual(trust.secret.items.map((i: Obj) => i.path).sort(), [
      "attestation/report-signing.key.pem",
      "attestation/root-ca.key.pem",
      "signer/release-signing-key.pem",
    ]);
    assert.equal(pod.volumes.find((v: Obj) => v.name === "platform").configMap.name, "cloister-platform");
    const init = pod.initContainers.find((i: Obj) => i.name === "install-trust");
    assert.ok(init.volumeMounts.some((m: Obj) => m.name === "data" && m.mountPath === dataDir));
    assert.equal(pod.securityContext.runAsNonRoot, true);

    if (name === "execution") {
      assert.equal(c.ports?.length ?? 0, 0, "execution serves nothing");
      assert.equal(
        objs.filter((o) => o.kind === "Service" && o.metadata.name === "cloister-execution").length,
        0,
      );
      continue;
    }
    const svc = find(objs, "Service", `cloister-${component(name)}`);
    assert.ok(svc, `Service cloister-${component(name)}`);
    for (const [k, v] of Object.entries(svc.spec.selector))
      assert.equal(w.spec.template.metadata.labels[k], v, `${name}: selector`);
    const ends = ENDPOINTS[name];
    const servicePorts = svc.spec.ports.map((p: Obj) => p.port).sort();
    const expected = ends.listen.map((l) => portOf(defaults.listen[l])).sort();
    assert.deepEqual(servicePorts, expected, `${name}: Service ports are the config defaults`);
    assert.deepEqual(
      ends.listen.map((l) => portOf(config.listen[l])).sort(),
      expected,
      `${name}: cloister.toml listens on the defaults`,
    );
    for (const p of svc.spec.ports) {
      const cp = c.ports.find((x: Obj) => x.name === p.targetPort);
      assert.equal(cp?.containerPort, p.port, `${name}: targetPort ${p.targetPort}`);
    }
    if (ends.internal) {
      const url = new URL(config.advertised[name as keyof typeof config.advertised]);
      assert.equal(url.hostname, svc.metadata.name, `${name}: advertised host is its Service`);
      assert.equal(
        Number(url.port),
        portOf(defaults.listen[ends.internal]),
        `${name}: advertised port is its internal port`,
      );
    }
  }
  for (const name of STATEFUL) {
    const w = find(objs, "StatefulSet", `cloister-${component(name)}`);
    const sealing = w.spec.template.spec.volumes.find((v: Obj) => v.name === "sealing");
    assert.equal(sealing.secret.items[0].key, `${name}.key`);
  }
}

function checkNoInlineSecrets(dir: string): void {
  for (const f of readdirSync(dir, { recursive: true }) as string[]) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) continue;
    const text = readFileSync(p, "utf8");
    assert.doesNotMatch(text, /-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)-----/, `${p} embeds key material`);
    assert.doesNotMatch(text, /^\s*(stringData|kind:\s*Secret)\b/m, `${p} defines a Secret inline`);
  }
}

const epcLimit = (w: Obj, resource: string) =>
  w.spec.template.spec.containers[0].resources?.limits?.[resource];
const argValue = (args: string[], flag: string) =>
  args.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);

describe("kustomize manifests", () => {
  const base = kustomize(join(k8s, "base"));

  it("parses every YAML file under deploy/k8s and deploy/helm (values and Chart)", () => {
    const files = (readdirSync(k8s, { recursive: true }) as string[])
      .filter((f) => f.endsWith(".yaml"))
      .map((f) => join(k8s, f));
    files.push(join(chart, "values.yaml"), join(chart, "Chart.yaml"));
    for (const f of files) assert.ok(loadDocs(f).length > 0, f);
  });

  it("base: every service, the config defaults, advertised URLs = Service names, trust from Secrets", () => {
    checkPlatform(base);
    assert.ok(
      workloads(base).every((o) => !epcLimit(o, DEFAULT_RESOURCE_NAME)),
      "no TEE resource in the base",
    );
    const hpa = find(base, "HorizontalPodAutoscaler", "cloister-execution");
    assert.equal(hpa.spec.scaleTargetRef.name, "cloister-execution");
    for (const name of STATEFUL) {
      assert.ok(
        find(base, "StatefulSet", `cloister-${component(name)}`).spec.volumeClaimTemplates?.length,
        `${name}: LevelDB volume`,
      );
    }
  });

  it("keeps key material and Secret objects out of deploy/", () => {
    checkNoInlineSecrets(deploy);
  });

  it("tee overlay: every pod asks for the plugin's resource; the DaemonSet matches the plugin's defaults", () => {
    const objs = kustomize(join(k8s, "overlays", "tee"));
    checkPlatform(objs);
    const ds = find(objs, "DaemonSet", "cloister-device-plugin");
    const c = ds.spec.template.spec.containers[0];
    assert.equal(argValue(c.args, "--resource-model"), "aliyun");
    const resource = DEFAULT_RESOURCE_NAME;
    const dir = argValue(c.args, "--device-plugin-dir");
    assert.equal(dir, DEFAULT_DEVICE_PLUGIN_DIR);
    assert.ok(c.volumeMounts.some((m: Obj) => m.mountPath === dir));
    assert.equal(
      ds.spec.template.spec.volumes.find((v: Obj) => v.name === "device-plugins").hostPath.path,
      DEFAULT_DEVICE_PLUGIN_DIR,
    );
    for (const [flag, mount] of [
      ["--sysfs-root", "/host/sys"],
      ["--dev-root", "/host/dev"],
    ] as const) {
      assert.equal(argValue(c.args, flag), mount);
      assert.ok(c.volumeMounts.some((m: Obj) => m.mountPath === mount && m.readOnly));
    }
    assert.equal(argValue(c.args, "--mode"), "auto");
    const pluginPkg = JSON.parse(
      readFileSync(join(repo, "packages", "device-plugin", "package.json"), "utf8"),
    );
    assert.equal(
      c.command[1],
      `/opt/cloister/packages/device-plugin/${pluginPkg.bin["cloister-device-plugin"].replace("./", "")}`,
    );
    for (const w of workloads(objs).filter((o) => o.kind !== "DaemonSet")) {
      const mib = Number(epcLimit(w, resource!));
      assert.ok(Number.isInteger(mib) && mib > 0, `${w.metadata.name} requests ${resource}`);
    }
  });

  it("tee-simulated overlay: the plugin is told to simulate, and says how much", () => {
    const objs = kustomize(join(k8s, "overlays", "tee-simulated"));
    const args: string[] = find(objs, "DaemonSet", "cloister-device-plugin").spec.template.spec.containers[0]
      .args;
    assert.equal(argValue(args, "--mode"), "simulated");
    assert.ok(Number(argValue(args, "--simulated-epc-mib")) > 0);
    assert.equal(args.filter((a) => a.startsWith("--mode=")).length, 1);
  });

  it("etcd overlay: stateful services switch to etcd with a shared, required sealing key", () => {
    const objs = kustomize(join(k8s, "overlays", "etcd"));
    for (const name of STATEFUL) {
      const w = find(objs, "StatefulSet", `cloister-${component(name)}`);
      const env = Object.fromEntries(
        w.spec.template.spec.containers[0].env.map((e: Obj) => [e.name, e.value]),
      );
      const config = configOf(objs, env);
      assert.equal(config.storage.backend, "etcd");
      assert.ok(config.storage.etcd_endpoints.length > 0);
      assert.equal(
        w.spec.template.spec.volumes.find((v: Obj) => v.name === "sealing").secret.optional,
        false,
      );
      assert.equal(w.spec.volumeClaimTemplates, undefined);
      assert.ok(w.spec.template.spec.volumes.some((v: Obj) => v.name === "data" && v.emptyDir));
    }
  });

  it("agrees with kubectl kustomize when kubectl is installed", (t) => {
    const probe = spawnSync("kubectl", ["version", "--client"], { encoding: "utf8" });
    if (probe.status !== 0) return t.skip("kubectl not installed");
    for (const dir of ["base", "overlays/tee", "overlays/tee-simulated", "overlays/etcd"]) {
      const r = spawnSync("kubectl", ["kustomize", join(k8s, dir)], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      const theirs = parseAllDocuments(r.stdout).map((d) => d.toJS());
      const ours = kustomize(join(k8s, dir));
      const key = (o: Obj) => `${o.kind}/${o.metadata.name}`;
      assert.deepEqual(theirs.map(key).sort(), ours.map(key).sort(), dir);
      for (const o of ours)
        assert.deepEqual(
          theirs.find((x) => key(x) === key(o)),
          o,
          `${dir}: ${key(o)}`,
        );
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("Helm chart", () => {
  const values = parseYaml(readFileSync(join(chart, "values.yaml"), "utf8"));
  const templatesDir = join(chart, "templates");
  const templates = Object.fromEntries(
    readdirSync(templatesDir).map((f) => [f, readFileSync(join(templatesDir, f), "utf8")]),
  );
  const all = Object.values(templates).join("\n");
  const valuesKey: Record<ServiceName, string> = {
    authentication: "authentication",
    frontend: "frontend",
    management: "management",
    storage: "storage",
    access_control: "accessControl",
    scheduler: "scheduler",
    execution: "execution",
  };

  const lookup = (path: string[]) =>
    path.reduce<Obj>((o, k) => (o && typeof o === "object" && k in o ? o[k] : undefined), values);

  it("references only values that exist in values.yaml", () => {
    // Variables bound to a values subtree: `$s := .Values.services`.
    const aliases = new Map<string, string>();
    for (const m of all.matchAll(/\$(\w+) := \.Values((?:\.\w+)+)/g)) aliases.set(m[1]!, m[2]!.slice(1));
    const refs = new Set<string>();
    for (const m of all.matchAll(/(?:\$root|\$)?\.Values((?:\.\w+)+)/g)) refs.add(m[1]!.slice(1));
    for (const [alias, target] of aliases) {
      for (const m of all.matchAll(new RegExp(`\\$${alias}((?:\\.\\w+)+)`, "g")))
        refs.add(`${target}${m[1]}`);
    }
    assert.ok(refs.size > 30);
    for (const r of refs)
      assert.notEqual(lookup(r.split(".")), undefined, `.Values.${r} is not in values.yaml`);
    // The per-service blocks handed to the workload/service helpers as `svc`.
    const svcFields = new Set([...all.matchAll(/(?:\$svc|\.svc)((?:\.\w+)+)/g)].map((m) => m[1]!.slice(1)));
    for (const name of SERVICE_NAMES) {
      for (const f of svcFields)
        assert.notEqual(
          lookup(["services", valuesKey[name], ...f.split(".")]),
          undefined,
          `services.${valuesKey[name]}.${f}`,
        );
    }
  });

  it("includes only templates it defines", () => {
    const defined = new Set([...all.matchAll(/define "([^"]+)"/g)].map((m) => m[1]));
    for (const m of all.matchAll(/include "([^"]+)"/g)) assert.ok(defined.has(m[1]), `include ${m[1]}`);
  });

  it("has a workload for every service and a Service for every server, with the config's ports", () => {
    for (const name of SERVICE_NAMES) {
      const file = templates[`${component(name)}.yaml`];
      assert.ok(file, `templates/${component(name)}.yaml`);
      assert.match(
        file,
        new RegExp(
          `"cloister.workload" \\(dict "root" \\$ "name" "${name}" "component" "${component(name)}" "svc" \\.Values\\.services\\.${valuesKey[name]} "stateful" ${STATEFUL.includes(name)}\\)`,
        ),
      );
      const ports = values.services[valuesKey[name]].ports;
      if (name === "execution") {
        assert.deepEqual(ports, {});
        assert.doesNotMatch(file, /cloister\.service/);
        continue;
      }
      assert.match(
        file,
        new RegExp(
          `"cloister.service" \\(dict "root" \\$ "component" "${component(name)}" "svc" \\.Values\\.services\\.${valuesKey[name]}\\)`,
        ),
      );
      const ends = ENDPOINTS[name];
      assert.deepEqual(
        (Object.values(ports) as number[]).sort(),
        ends.listen.map((l) => portOf(defaults.listen[l])).sort(),
        `${name}: values ports are the config defaults`,
      );
      if (ends.internal) assert.equal(ports.internal, portOf(defaults.listen[ends.internal]));
    }
  });

  it("advertises each peer at the Service the chart creates for it", () => {
    const cm = templates["configmap.yaml"]!;
    for (const name of SERVICE_NAMES) {
      if (name === "execution" || name === "frontend") continue;
      const line = cm.split("\n").find((l) => l.trim().startsWith(`${name} = {{ include "cloister.url"`));
      assert.ok(line, `advertised.${name}`);
      assert.ok(
        line.includes(`"component" "${component(name)}" "port" $s.${valuesKey[name]}.ports.internal`),
        `advertised.${name} points at ${component(name)}'s internal port: ${line}`,
      );
    }
    // The Service helper names Services exactly as cloister.url builds hosts.
    assert.match(
      all,
      /define "cloister.url" -}}\nhttps:\/\/\{\{ include "cloister.fullname" \.root }}-\{\{ \.component }}:\{\{ \.port }}/,
    );
    assert.match(
      all,
      /define "cloister.service" -}}[\s\S]*?name: \{\{ include "cloister.fullname" \.root }}-\{\{ \.component }}/,
    );
  });

  it("asks for the device plugin's resource when tee.enabled, and wires the plugin to the same name", () => {
    assert.equal(values.tee.enabled, false);
    assert.equal(values.tee.resourceModel, "aliyun");
    for (const name of SERVICE_NAMES)
      assert.ok(
        Number.isInteger(values.services[valuesKey[name]].epcMib) &&
          values.services[valuesKey[name]].epcMib > 0,
      );
    assert.match(all, /if \$root\.Values\.tee\.enabled }}\n\s+\{\{- include "cloister.teeResources"/);
    assert.ok(all.includes(`${DEFAULT_RESOURCE_NAME}: {{ .svc.epcMib | quote }}`));
    const dp = templates["device-plugin.yaml"]!;
    assert.match(dp, /--resource-model=\{\{ \.Values\.tee\.resourceModel }}/);
    assert.ok(dp.includes(`--device-plugin-dir=${DEFAULT_DEVICE_PLUGIN_DIR}`));
    assert.ok(dp.includes(`path: ${DEFAULT_DEVICE_PLUGIN_DIR}`));
  });

  it("uses the same trust install script as the kustomize base", () => {
    const helper = templates["_helpers.tpl"]!;
    const script = helper.split('define "cloister.installTrustScript" -}}\n')[1]!.split("{{- end -}}")[0]!;
    const base = find(kustomize(join(k8s, "base")), "Deployment", "cloister-frontend");
    assert.equal(base.spec.template.spec.initContainers[0].args[0], script);
  });
});

describe("container image", () => {
  const dockerfile = readFileSync(join(deploy, "Dockerfile"), "utf8");

  it("builds with npm ci and the repository build, and ships bubblewrap in a slim runtime", () => {
    assert.match(dockerfile, /npm ci/);
    assert.match(dockerfile, /node scripts\/build\.mjs/);
    assert.match(dockerfile, /FROM [^\n]*slim[^\n]* AS runtime/);
    assert.match(dockerfile, /apt-get install[^\n]*bubblewrap/);
    assert.match(dockerfile, /WORKDIR \/opt\/cloister/);
    assert.match(
      dockerfile,
      /ENTRYPOINT \[[^\]]*"node", "\/opt\/cloister\/packages\/cli\/dist\/src\/main\.js"\]/,
    );
    assert.ok(existsSync(join(deploy, "Dockerfile.dockerignore")));
  });
});
