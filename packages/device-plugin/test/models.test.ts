// The two resource models: Aliyun's (EPC per MiB, every SGX device node of the host) and Intel's
// (enclave and provision as separate counted devices, EPC as node capacity in bytes).
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { discoverTee } from "../src/discovery.js";
import { EpcResource, SharedDeviceResource } from "../src/epc.js";
import type { RegisterRequest } from "../src/gen/kubelet_deviceplugin_v1beta1.js";
import { publishNodeCapacity } from "../src/node-capacity.js";
import { CloisterDevicePlugin, RESOURCE_NAMES } from "../src/plugin.js";
import { FakeKubelet } from "./fake-kubelet.js";

const MIB = 1024 * 1024;

/** A fake host with every SGX device node a driver generation may create. */
function sgxHost(nodes: string[]) {
  const root = mkdtempSync(join(tmpdir(), "cdp-models-"));
  const devRoot = join(root, "dev");
  mkdirSync(join(devRoot, "sgx"), { recursive: true });
  for (const n of nodes) writeFileSync(join(devRoot, n), "");
  const sysfsRoot = join(root, "sys");
  mkdirSync(join(sysfsRoot, "devices/system/node/node0/x86"), { recursive: true });
  writeFileSync(join(sysfsRoot, "devices/system/node/node0/x86/sgx_total_bytes"), String(8 * MIB));
  const inventory = discoverTee({ mode: "auto", sysfsRoot, devRoot, procRoot: join(root, "none") });
  return { root, devRoot, inventory };
}

const ALL = ["sgx_enclave", "sgx_provision", "sgx/enclave", "sgx/provision", "isgx"];
const paths = (r: { devices: { hostPath: string }[] }) => r.devices.map((d) => d.hostPath).sort();

describe("aliyun model", () => {
  const host = sgxHost(ALL);
  after(() => rmSync(host.root, { recursive: true, force: true }));

  it("maps every enclave device node generation, and provisioning only when asked", () => {
    const plain = new EpcResource({ inventory: host.inventory, chunkMib: 1, devRoot: host.devRoot });
    assert.equal(plain.devices().length, 8);
    assert.deepEqual(paths(plain.allocate(["epc-n0-0"])), [
      "/dev/isgx",
      "/dev/sgx/enclave",
      "/dev/sgx_enclave",
    ]);
    const withProvision = new EpcResource({
      inventory: host.inventory,
      chunkMib: 1,
      devRoot: host.devRoot,
      provision: true,
    });
    assert.deepEqual(paths(withProvision.allocate(["epc-n0-0", "epc-n0-1"])), [
      "/dev/isgx",
      "/dev/sgx/enclave",
      "/dev/sgx/provision",
      "/dev/sgx_enclave",
      "/dev/sgx_provision",
    ]);
    assert.equal(withProvision.allocate(["epc-n0-0", "epc-n0-1"]).envs.CLOISTER_TEE_EPC_MIB, "2");
  });

  it("treats a host with only the legacy isgx driver as SGX hardware", () => {
    const legacy = sgxHost(["isgx"]);
    try {
      assert.equal(legacy.inventory.kind, "sgx");
      const r = new EpcResource({ inventory: legacy.inventory, chunkMib: 1, devRoot: legacy.devRoot });
      assert.deepEqual(paths(r.allocate(["epc-n0-3"])), ["/dev/isgx"]);
    } finally {
      rmSync(legacy.root, { recursive: true, force: true });
    }
  });
});

describe("intel model", () => {
  const host = sgxHost(ALL);
  const pluginDir = join(host.root, "device-plugins");
  mkdirSync(pluginDir);
  const kubelet = new FakeKubelet(pluginDir);
  const plugins: CloisterDevicePlugin[] = [];
  after(async () => {
    for (const p of plugins) await p.stop();
    kubelet.stop();
    rmSync(host.root, { recursive: true, force: true });
  });

  it("counts enclave and provision separately, each mapping only its own device nodes", () => {
    const enclave = new SharedDeviceResource({
      inventory: host.inventory,
      nodes: "enclave",
      limit: 3,
      devRoot: host.devRoot,
    });
    const provision = new SharedDeviceResource({
      inventory: host.inventory,
      nodes: "provision",
      limit: 2,
      devRoot: host.devRoot,
    });
    assert.deepEqual(
      enclave.devices().map((d) => d.ID),
      ["enclave-0", "enclave-1", "enclave-2"],
    );
    assert.equal(provision.devices().length, 2);
    assert.deepEqual(paths(enclave.allocate(["enclave-1"])), [
      "/dev/isgx",
      "/dev/sgx/enclave",
      "/dev/sgx_enclave",
    ]);
    assert.deepEqual(paths(provision.allocate(["provision-0"])), [
      "/dev/sgx/provision",
      "/dev/sgx_provision",
    ]);
    assert.throws(() => provision.allocate(["enclave-0"]), /unknown device/);
  });

  it("offers nothing on a node without SGX", () => {
    const none = discoverTee({
      mode: "auto",
      sysfsRoot: "/nonexistent",
      devRoot: "/nonexistent",
      procRoot: "/nonexistent",
    });
    assert.equal(
      new SharedDeviceResource({ inventory: none, nodes: "enclave", limit: 4 }).devices().length,
      0,
    );
  });

  it("registers both resources with the kubelet", async () => {
    await kubelet.start();
    const seen: RegisterRequest[] = [];
    for (const [name, nodes] of [
      [RESOURCE_NAMES.intelEnclave, "enclave"],
      [RESOURCE_NAMES.intelProvision, "provision"],
    ] as const) {
      const registered = kubelet.nextRegistration();
      const p = new CloisterDevicePlugin({
        resourceName: name,
        resource: new SharedDeviceResource({
          inventory: host.inventory,
          nodes,
          limit: 4,
          devRoot: host.devRoot,
        }),
        pluginDir,
        watchIntervalMs: 100,
        healthIntervalMs: 3_600_000,
      });
      plugins.push(p);
      await p.start();
      seen.push(await registered);
    }
    assert.deepEqual(
      seen.map((r) => r.resourceName),
      ["sgx.intel.com/enclave", "sgx.intel.com/provision"],
    );
    assert.notEqual(seen[0]?.endpoint, seen[1]?.endpoint);
  });

  it("publishes EPC in bytes on the node's status capacity with the service-account token", async () => {
    const requests: { method?: string; url?: string; auth?: string; type?: string; body: string }[] = [];
    const api = createServer((req: IncomingMessage, res) => {
      let body = "";
      req.on("data", (c) => {
        body += c;
      });
      req.on("end", () => {
        requests.push({
          method: req.method,
          url: req.url,
          auth: req.headers.authorization,
          type: req.headers["content-type"],
          body,
        });
        res.writeHead(req.url?.includes("forbidden") ? 403 : 200, { "content-type": "application/json" });
        res.end("{}");
      });
    });
    await new Promise<void>((r) => api.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    try {
      await publishNodeCapacity({ url, token: "tok" }, "node-1", RESOURCE_NAMES.intelEpc, String(8 * MIB));
      assert.deepEqual(requests[0], {
        method: "PATCH",
        url: "/api/v1/nodes/node-1/status",
        auth: "Bearer tok",
        type: "application/json-patch+json",
        body: JSON.stringify([
          { op: "add", path: "/status/capacity/sgx.intel.com~1epc", value: String(8 * MIB) },
        ]),
      });
      await assert.rejects(
        publishNodeCapacity({ url, token: "tok" }, "forbidden", "sgx.intel.com/epc", "1"),
        /HTTP 403/,
      );
      assert.throws(
        () => publishNodeCapacity({ url, token: "t" }, "../etc", "sgx.intel.com/epc", "1"),
        /invalid node name/,
      );
    } finally {
      api.close();
    }
  });
});
