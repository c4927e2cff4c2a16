// The Helm chart rendered by a real Helm, every object checked against the Kubernetes API
// schemas, and bad values refused at render time.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { SERVICE_NAMES } from "@cloister/config";
import { parseAllDocuments } from "yaml";
import { helmBinary } from "../src/helm.js";
import { type KubeObject, validateObject } from "../src/validate.js";

const chart = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "helm", "cloister");
const helm = helmBinary();

function run(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(helm, args, {
    encoding: "utf8",
    env: { ...process.env, HELM_CACHE_HOME: join(chart, "..", "..", "dist", ".helm") },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const setArgs = (values: Record<string, string>) =>
  Object.entries(values).flatMap(([k, v]) => ["--set", `${k}=${v}`]);

function render(values: Record<string, string> = {}): KubeObject[] {
  const r = run(["template", "cloister", chart, ...setArgs(values)]);
  assert.equal(r.code, 0, r.stderr);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((d): d is KubeObject => d !== null);
}

const find = (objs: KubeObject[], kind: string, name: string) => {
  const o = objs.find((x) => x.kind === kind && x.metadata?.name === name);
  assert.ok(o, `${kind} ${name} is rendered`);
  return o;
};
const podSpec = (o: KubeObject) => o.spec.template.spec;

const VALUE_SETS: Record<string, Record<string, string>> = {
  defaults: {},
  "tee, aliyun model, with the device plugin": { "tee.enabled": "true", "devicePlugin.enabled": "true" },
  "tee, intel model, cluster's own plugin": {
    "tee.enabled": "true",
    "tee.resourceModel": "intel",
    "tee.externalDevicePlugin": "true",
  },
  "tee, intel model, this chart's plugin": {
    "tee.enabled": "true",
    "tee.resourceModel": "intel",
    "devicePlugin.enabled": "true",
  },
  etcd: {
    "storage.backend": "etcd",
    "storage.etcd.endpoints[0]": "https://etcd:2379",
    "trust.sealingSecretName": "cloister-sealing",
    "services.storage.replicas": "3",
  },
};

describe("Helm chart with a real helm", () => {
  it("passes helm lint --strict for every supported value set", () => {
    for (const [name, values] of Object.entries(VALUE_SETS)) {
      const r = run(["lint", "--strict", chart, ...setArgs(values)]);
      assert.equal(r.code, 0, `${name}: ${r.stdout}${r.stderr}`);
    }
  });

  it("renders only objects valid against the Kubernetes schemas", async () => {
    for (const [name, values] of Object.entries(VALUE_SETS)) {
      const objs = render(values);
      assert.ok(objs.length > 10, name);
      for (const o of objs) await validateObject(o);
    }
    // The prometheus-operator CRD has no schema in the Kubernetes API; everything else still must.
    for (const o of render({ "metrics.podMonitor.enabled": "true" })) {
      if (o.kind !== "PodMonitor") await validateObject(o);
    }
  });

  it("refuses bad values with a message naming the value", () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ "storage.backend": "bogus" }, /storage\.backend/],
      [{ "tee.provider": "bogus" }, /tee\.provider/],
      [{ "services.frontend.replicas": "notanumber" }, /services\.frontend\.replicas/],
      [{ "services.frontend.replica": "3" }, /replica/],
      [{ "tee.resourceModel": "bogus" }, /tee\.resourceModel/],
      [{ "execution.concurrency": "0" }, /execution\.concurrency/],
      [{ "services.storage.ports.internal": "70000" }, /services\.storage\.ports\.internal/],
      [{ "image.pullPolicy": "Sometimes" }, /image\.pullPolicy/],
      [{ "tee.enabled": "true" }, /no node offers without a device plugin/],
      [{ "services.storage.replicas": "2" }, /use storage\.backend=etcd/],
      [{ "services.scheduler.replicas": "2" }, /services\.scheduler\.replicas/],
      [{ "services.management.replicas": "2" }, /services\.management\.replicas/],
      [{ "storage.backend": "etcd" }, /storage\.etcd\.endpoints/],
    ];
    for (const [values, message] of cases) {
      const r = run(["template", "cloister", chart, ...setArgs(values)]);
      assert.notEqual(r.code, 0, `${JSON.stringify(values)} must not render`);
      assert.match(r.stderr, message, JSON.stringify(values));
    }
  });

  it("gives every multi-replica service a disruption budget and single-replica ones none", () => {
    const objs = render();
    const pdbs = objs
      .filter((o) => o.kind === "PodDisruptionBudget")
      .map((o) => o.metadata.name)
      .sort();
    assert.deepEqual(pdbs, ["cloister-execution", "cloister-frontend"]);
    assert.equal(find(objs, "PodDisruptionBudget", "cloister-frontend").spec.maxUnavailable, 1);
  });

  it("runs pods under the chart's ServiceAccount without an API token", () => {
    const objs = render();
    const sa = find(objs, "ServiceAccount", "cloister");
    assert.equal(sa.automountServiceAccountToken, false);
    for (const w of objs.filter((o) => ["Deployment", "StatefulSet"].includes(o.kind))) {
      assert.equal(podSpec(w).serviceAccountName, "cloister", w.metadata.name);
      assert.equal(podSpec(w).automountServiceAccountToken, false, w.metadata.name);
    }
    assert.equal(objs.filter((o) => o.kind === "ClusterRole").length, 0, "the platform gets no RBAC");
  });

  it("lets internal ports be reached only by the services that call them", () => {
    const objs = render();
    const callers = (component: string, port: number) => {
      const np = find(objs, "NetworkPolicy", `cloister-${component}`);
      const rule = np.spec.ingress.find((r: KubeObject) => r.ports.some((p: KubeObject) => p.port === port));
      assert.ok(rule, `${component}:${port} has a rule`);
      if (!rule.from) return ["*"];
      return rule.from
        .map((f: KubeObject) => f.podSelector.matchLabels["app.kubernetes.io/component"])
        .sort();
    };
    assert.deepEqual(callers("storage", 17778), ["management", "scheduler"]);
    assert.deepEqual(callers("management", 17777), ["frontend"]);
    assert.deepEqual(callers("access-control", 17779), ["frontend", "management"]);
    assert.deepEqual(callers("scheduler", 17780), ["execution"]);
    assert.deepEqual(callers("authentication", 17776), ["frontend"]);
    assert.deepEqual(callers("authentication", 7776), ["*"]);
    assert.deepEqual(callers("frontend", 7777), ["*"]);
    const exec = find(objs, "NetworkPolicy", "cloister-execution");
    assert.deepEqual(exec.spec.policyTypes, ["Ingress", "Egress"]);
    assert.deepEqual(
      exec.spec.ingress,
      [{ ports: [{ protocol: "TCP", port: 9090 }] }],
      "only the operations port",
    );
    for (const np of objs.filter((o) => o.kind === "NetworkPolicy")) {
      for (const rule of np.spec.ingress ?? [])
        for (const p of rule.ports) assert.equal(typeof p.port, "number");
    }
    assert.equal(
      render({ "networkPolicy.enabled": "false" }).filter((o) => o.kind === "NetworkPolicy").length,
      0,
    );
  });

  it("probes every pod, execution included, on its operations endpoint and serves it on every service", () => {
    const objs = render();
    const workloads = objs.filter((o) => ["Deployment", "StatefulSet"].includes(o.kind));
    assert.equal(workloads.length, 7);
    for (const w of workloads) {
      const c = podSpec(w).containers[0];
      assert.deepEqual(c.readinessProbe.httpGet, { path: "/readyz", port: "metrics" }, w.metadata.name);
      assert.deepEqual(c.livenessProbe.httpGet, { path: "/livez", port: "metrics" }, w.metadata.name);
      assert.ok(c.ports.some((p: KubeObject) => p.name === "metrics" && p.containerPort === 9090));
    }
    const toml: string = find(objs, "ConfigMap", "cloister-config").data["cloister.toml"];
    for (const s of SERVICE_NAMES) assert.ok(toml.includes(`${s} = "0.0.0.0:9090"`), s);
    const pm = render({ "metrics.podMonitor.enabled": "true" }).find((o) => o.kind === "PodMonitor");
    assert.equal(pm?.spec.podMetricsEndpoints[0].port, "metrics");
  });

  it("asks for the aliyun model's EPC per MiB, with the plugin handing out provisioning", () => {
    const objs = render(VALUE_SETS["tee, aliyun model, with the device plugin"]);
    const exec = find(objs, "Deployment", "cloister-execution");
    assert.equal(podSpec(exec).containers[0].resources.limits["alibabacloud.com/sgx_epc_MiB"], "512");
    const ds = find(objs, "DaemonSet", "cloister-device-plugin");
    const args: string[] = podSpec(ds).containers[0].args;
    assert.ok(args.includes("--resource-model=aliyun"));
    assert.ok(args.includes("--provision=true"));
    assert.equal(podSpec(ds).automountServiceAccountToken, false);
  });

  it("asks for Intel's resources (EPC in bytes, enclave and provision counted) and tells pods their EPC budget", () => {
    const objs = render(VALUE_SETS["tee, intel model, this chart's plugin"]);
    const fe = find(objs, "Deployment", "cloister-frontend");
    const c = podSpec(fe).containers[0];
    assert.equal(c.resources.limits["sgx.intel.com/epc"], "64Mi");
    assert.equal(c.resources.limits["sgx.intel.com/enclave"], "1");
    assert.equal(c.resources.limits["sgx.intel.com/provision"], "1");
    assert.equal(c.env.find((e: KubeObject) => e.name === "CLOISTER_TEE_EPC_MIB")?.value, "64");
    const ds = find(objs, "DaemonSet", "cloister-device-plugin");
    assert.ok(podSpec(ds).containers[0].args.includes("--resource-model=intel"));
    assert.equal(podSpec(ds).serviceAccountName, "cloister-device-plugin");
    const role = find(objs, "ClusterRole", "cloister-device-plugin");
    assert.deepEqual(role.rules, [{ apiGroups: [""], resources: ["nodes/status"], verbs: ["patch"] }]);
  });
});

describe("Grafana dashboard", () => {
  it("queries only series the services export", async () => {
    const { readFileSync } = await import("node:fs");
    const { ServiceMetrics } = await import("@cloister/observability");
    const dash = JSON.parse(
      readFileSync(join(chart, "..", "..", "grafana", "cloister-dashboard.json"), "utf8"),
    );
    const text = await new ServiceMetrics("x").registry.getMetricsAsJSON();
    const exported = new Set(text.map((m) => m.name));
    const used = new Set<string>();
    for (const p of dash.panels)
      for (const t of p.targets)
        for (const m of t.expr.matchAll(/cloister_[a-z_]+/g))
          used.add(m[0].replace(/_(bucket|count|sum)$/, ""));
    assert.ok(used.size >= 8);
    for (const name of used) assert.ok(exported.has(name), `${name} is exported`);
  });
});
