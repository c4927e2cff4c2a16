import assert from "node:assert/strict";
import { existsSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { discoverTee } from "../src/discovery.js";
import { ENV, EpcResource, HEALTHY, UNHEALTHY } from "../src/epc.js";
import type {
  AllocateResponse,
  DevicePluginOptions,
  PreferredAllocationResponse,
} from "../src/gen/kubelet_deviceplugin_v1beta1.js";
import { API_VERSION, CloisterDevicePlugin } from "../src/plugin.js";
import { DeviceStream, FakeKubelet, unary } from "./fake-kubelet.js";
import { fakeSgxHost } from "./fake-sgx-host.js";

const MIB = 1024 * 1024;

describe("device plugin against a kubelet", () => {
  const { root, pluginDir, devRoot, inventory } = fakeSgxHost({
    prefix: "cdp-",
    epcBytes: 16 * MIB,
    provision: true,
  });
  let kubelet: FakeKubelet;
  let plugin: CloisterDevicePlugin;

  before(async () => {
    plugin = new CloisterDevicePlugin({
      resourceName: "cloister.io/epc-mib",
      resource: new EpcResource({ inventory, chunkMib: 1, devRoot, provision: true }),
      pluginDir,
      // Polling backs up the directory watch; short so a missed event costs the test little.
      watchIntervalMs: 100,
      healthIntervalMs: 3_600_000,
    });
    // The plugin comes up before the kubelet, as after a node reboot.
    await plugin.start();
    kubelet = new FakeKubelet(pluginDir);
  });

  after(async () => {
    await plugin.stop();
    kubelet.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it("registers once a kubelet appears, with the v1beta1 version, its endpoint and resource", async () => {
    const registered = kubelet.nextRegistration();
    await kubelet.start();
    const req = await registered;
    assert.equal(req.version, API_VERSION);
    assert.equal(req.resourceName, "cloister.io/epc-mib");
    assert.equal(req.endpoint, plugin.socketName);
    assert.ok(!req.endpoint.includes("/"), "endpoint is a file name relative to the plugin dir");
    assert.deepEqual(req.options, { preStartRequired: false, getPreferredAllocationAvailable: true });
    assert.ok(existsSync(join(pluginDir, req.endpoint)));
  });

  it("lists one healthy device per MiB and answers the options call", async () => {
    const client = kubelet.dial(plugin.socketName);
    const options = await unary<DevicePluginOptions>((cb) => client.getDevicePluginOptions({}, cb));
    assert.equal(options.getPreferredAllocationAvailable, true);
    const stream = new DeviceStream(client);
    const first = await stream.next();
    assert.equal(first.devices.length, 16);
    assert.ok(first.devices.every((d) => d.health === HEALTHY));
    stream.close();
    client.close();
  });

  it("allocates the SGX device nodes and the EPC share per container", async () => {
    const client = kubelet.dial(plugin.socketName);
    const r = await unary<AllocateResponse>((cb) =>
      client.allocate(
        {
          containerRequests: [
            { devicesIds: ["epc-n0-0", "epc-n0-1", "epc-n0-2"] },
            { devicesIds: ["epc-n0-7"] },
          ],
        },
        cb,
      ),
    );
    assert.equal(r.containerResponses.length, 2);
    const [a, b] = r.containerResponses;
    assert.equal(a?.envs[ENV.epcMib], "3");
    assert.equal(b?.envs[ENV.epcMib], "1");
    assert.equal(a?.envs[ENV.simulated], "false");
    assert.equal(a?.envs[ENV.provider], "sgx");
    assert.deepEqual(a?.devices, [
      { containerPath: "/dev/sgx_enclave", hostPath: "/dev/sgx_enclave", permissions: "rw" },
      { containerPath: "/dev/sgx_provision", hostPath: "/dev/sgx_provision", permissions: "rw" },
    ]);
    await assert.rejects(
      unary((cb) => client.allocate({ containerRequests: [{ devicesIds: ["epc-n0-99"] }] }, cb)),
      (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /unknown device/.test(e.details),
    );
    const pref = await unary<PreferredAllocationResponse>((cb) =>
      client.getPreferredAllocation(
        {
          containerRequests: [
            {
              availableDeviceIDs: ["epc-n0-4", "epc-n0-5", "epc-n0-6"],
              mustIncludeDeviceIDs: ["epc-n0-6"],
              allocationSize: 2,
            },
          ],
        },
        cb,
      ),
    );
    assert.equal(pref.containerResponses[0]?.deviceIDs.length, 2);
    assert.equal(pref.containerResponses[0]?.deviceIDs[0], "epc-n0-6");
    await unary((cb) => client.preStartContainer({ devicesIds: ["epc-n0-0"] }, cb));
    client.close();
  });

  it("streams a health change when the SGX device disappears and comes back", async () => {
    const client = kubelet.dial(plugin.socketName);
    const stream = new DeviceStream(client);
    assert.ok((await stream.next()).devices.every((d) => d.health === HEALTHY));
    unlinkSync(join(devRoot, "sgx_enclave"));
    assert.equal(plugin.checkHealth(), true);
    const down = await stream.next();
    assert.equal(down.devices.length, 16);
    assert.ok(down.devices.every((d) => d.health === UNHEALTHY));
    await assert.rejects(
      unary((cb) => client.allocate({ containerRequests: [{ devicesIds: ["epc-n0-0"] }] }, cb)),
      (e: grpc.ServiceError) => e.code === grpc.status.FAILED_PRECONDITION,
    );
    assert.equal(plugin.checkHealth(), false, "no change, no update");
    writeFileSync(join(devRoot, "sgx_enclave"), "");
    assert.equal(plugin.checkHealth(), true);
    assert.ok((await stream.next()).devices.every((d) => d.health === HEALTHY));
    stream.close();
    client.close();
  });

  it("serves again and re-registers after the kubelet restarts and wipes the directory", async () => {
    await kubelet.crash([plugin.socketName]);
    assert.equal(existsSync(plugin.socketPath), false);
    kubelet = new FakeKubelet(pluginDir);
    const registered = kubelet.nextRegistration();
    await kubelet.start();
    const req = await registered;
    assert.equal(req.resourceName, "cloister.io/epc-mib");
    assert.ok(existsSync(plugin.socketPath));
    const client = kubelet.dial(req.endpoint);
    const stream = new DeviceStream(client);
    assert.equal((await stream.next()).devices.length, 16);
    stream.close();
    client.close();
  });

  it("re-registers when only kubelet.sock is replaced", async () => {
    kubelet.stop();
    rmSync(kubelet.socketPath, { force: true });
    kubelet = new FakeKubelet(pluginDir);
    const registered = kubelet.nextRegistration();
    await kubelet.start();
    assert.equal((await registered).endpoint, plugin.socketName);
  });

  it("rejects resource names the kubelet would refuse", () => {
    const resource = new EpcResource({
      inventory: discoverTee({ mode: "simulated", simulatedEpcMib: 1 }),
      chunkMib: 1,
    });
    for (const bad of ["epc-mib", "cloister.io/", "Cloister.IO/epc", "cloister.io/epc/mib"]) {
      assert.throws(
        () => new CloisterDevicePlugin({ resourceName: bad, resource, pluginDir }),
        /invalid extended resource name/,
      );
    }
  });
});
