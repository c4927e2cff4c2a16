import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ConfigError } from "@cloister/core";
import { cpuinfoHasSgx, discoverTee, readSysfsEpc } from "../src/discovery.js";
import { ENV, EpcResource, HEALTHY, MAX_DEVICES } from "../src/epc.js";

const MIB = 1024 * 1024;
const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** A host tree as the plugin sees it: sys, proc and dev under one temporary folder. */
function host(o: { epcBytes?: number[]; devices?: string[]; sgxFlag?: boolean }) {
  const root = mkdtempSync(join(tmpdir(), "cdp-host-"));
  roots.push(root);
  const sys = join(root, "sys");
  (o.epcBytes ?? []).forEach((bytes, n) => {
    mkdirSync(join(sys, "devices/system/node", `node${n}`, "x86"), { recursive: true });
    writeFileSync(join(sys, "devices/system/node", `node${n}`, "x86", "sgx_total_bytes"), `${bytes}\n`);
  });
  mkdirSync(join(root, "proc"));
  writeFileSync(
    join(root, "proc", "cpuinfo"),
    `processor\t: 0\nflags\t\t: fpu vme ${o.sgxFlag ? "sgx sgx_lc " : ""}avx2\n`,
  );
  mkdirSync(join(root, "dev"));
  for (const d of o.devices ?? []) writeFileSync(join(root, "dev", d), "");
  return { sysfsRoot: sys, procRoot: join(root, "proc"), devRoot: join(root, "dev") };
}

describe("TEE discovery", () => {
  it("reads the sgx CPU flag only from flags lines", () => {
    assert.equal(cpuinfoHasSgx("flags\t: fpu sgx avx\n"), true);
    assert.equal(cpuinfoHasSgx("flags\t: fpu sgx_lc avx\nmodel name: sgx\n"), false);
  });

  it("finds SGX hardware and its EPC per NUMA node from sysfs", () => {
    const h = host({
      epcBytes: [64 * MIB, 32 * MIB + 5],
      devices: ["sgx_enclave", "sgx_provision"],
      sgxFlag: true,
    });
    const inv = discoverTee({ mode: "auto", ...h });
    assert.equal(inv.kind, "sgx");
    assert.equal(inv.simulated, false);
    assert.equal(inv.cpuSgxFlag, true);
    assert.deepEqual(inv.deviceNodes, ["sgx_enclave", "sgx_provision"]);
    assert.deepEqual(inv.epc, [
      { numaNode: 0, mib: 64 },
      { numaNode: 1, mib: 32 },
    ]);
    assert.deepEqual(readSysfsEpc(h.sysfsRoot), inv.epc);
  });

  it("lets a configured EPC size override sysfs on hardware", () => {
    const h = host({ epcBytes: [64 * MIB], devices: ["sgx_enclave"] });
    const inv = discoverTee({ mode: "sgx", epcMib: 16, ...h });
    assert.deepEqual(inv.epc, [{ numaNode: undefined, mib: 16 }]);
    assert.equal(inv.source, "--epc-mib");
  });

  it("refuses hardware mode without the device, and hardware without a known size", () => {
    assert.throws(() => discoverTee({ mode: "sgx", ...host({ epcBytes: [64 * MIB] }) }), ConfigError);
    assert.throws(() => discoverTee({ mode: "auto", ...host({ devices: ["sgx_enclave"] }) }), /--epc-mib/);
  });

  it("simulates only when asked, and says so", () => {
    const h = host({});
    const sim = discoverTee({ mode: "auto", simulatedEpcMib: 128, ...h });
    assert.equal(sim.kind, "simulated");
    assert.equal(sim.simulated, true);
    assert.match(sim.source, /SIMULATED/);
    assert.equal(discoverTee({ mode: "auto", ...h }).kind, "none");
    assert.throws(() => discoverTee({ mode: "simulated", ...h }), /--simulated-epc-mib/);
    assert.throws(() => discoverTee({ mode: "simulated", simulatedEpcMib: 0, ...h }), ConfigError);
    // Hardware wins over a simulated size in auto mode.
    const hw = host({ epcBytes: [8 * MIB], devices: ["sgx_enclave"] });
    assert.equal(discoverTee({ mode: "auto", simulatedEpcMib: 128, ...hw }).kind, "sgx");
  });
});

describe("EPC resource", () => {
  it("advertises one device per chunk with NUMA topology", () => {
    const h = host({ epcBytes: [64 * MIB, 32 * MIB], devices: ["sgx_enclave"] });
    const r = new EpcResource({
      inventory: discoverTee({ mode: "auto", ...h }),
      chunkMib: 4,
      devRoot: h.devRoot,
    });
    const devices = r.devices();
    assert.equal(devices.length, 16 + 8);
    assert.equal(r.totalMib, 96);
    assert.ok(devices.every((d) => d.health === HEALTHY && /^epc-n[01]-\d+$/.test(d.ID)));
    assert.deepEqual(devices[0]?.topology, { nodes: [{ ID: 0 }] });
    assert.deepEqual(devices.at(-1)?.topology, { nodes: [{ ID: 1 }] });
    assert.equal(new Set(devices.map((d) => d.ID)).size, devices.length);
  });

  it("labels simulated devices and hands out no device nodes for them", () => {
    const h = host({});
    const r = new EpcResource({
      inventory: discoverTee({ mode: "simulated", simulatedEpcMib: 8, ...h }),
      chunkMib: 1,
      devRoot: h.devRoot,
    });
    const ids = r.devices().map((d) => d.ID);
    assert.ok(ids.every((id) => id.startsWith("sim-epc-")));
    const a = r.allocate(ids.slice(0, 3));
    assert.deepEqual(a.devices, []);
    assert.equal(a.envs[ENV.epcMib], "3");
    assert.equal(a.envs[ENV.simulated], "true");
    assert.equal(a.envs[ENV.provider], "simulated");
  });

  it("refuses absurd device counts", () => {
    const inventory = discoverTee({ mode: "simulated", simulatedEpcMib: MAX_DEVICES + 1, ...host({}) });
    assert.throws(() => new EpcResource({ inventory, chunkMib: 1 }), /--chunk-mib/);
    assert.equal(
      new EpcResource({ inventory, chunkMib: 2 }).devices().length,
      Math.floor((MAX_DEVICES + 1) / 2),
    );
    assert.throws(() => new EpcResource({ inventory, chunkMib: 0 }), ConfigError);
  });

  it("prefers keeping a container's EPC on one NUMA node", () => {
    const h = host({ epcBytes: [4 * MIB, 8 * MIB], devices: ["sgx_enclave"] });
    const r = new EpcResource({
      inventory: discoverTee({ mode: "auto", ...h }),
      chunkMib: 1,
      devRoot: h.devRoot,
    });
    const all = r.devices().map((d) => d.ID);
    // Node 1 has the most free: a 6-device request fits there entirely.
    const pick = r.preferred({ availableDeviceIDs: all, mustIncludeDeviceIDs: [], allocationSize: 6 });
    assert.equal(pick.length, 6);
    assert.ok(pick.every((id) => id.startsWith("epc-n1-")));
    // A required device on node 0 pulls the rest of the allocation there first.
    const withRequired = r.preferred({
      availableDeviceIDs: all,
      mustIncludeDeviceIDs: ["epc-n0-2"],
      allocationSize: 3,
    });
    assert.equal(withRequired[0], "epc-n0-2");
    assert.ok(withRequired.every((id) => id.startsWith("epc-n0-")));
    assert.equal(new Set(withRequired).size, 3);
  });
});
