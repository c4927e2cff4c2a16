// A fake SGX machine for tests only: the device nodes under a private /dev, the EPC size in a
// private sysfs, the kubelet's plugin directory, and what discovery finds there.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { discoverTee } from "../src/discovery.js";

export interface FakeSgxHost {
  /** Everything lives below it (remove it when done). */
  root: string;
  pluginDir: string;
  devRoot: string;
  inventory: ReturnType<typeof discoverTee>;
}

export function fakeSgxHost(options: { prefix: string; epcBytes: number; provision?: boolean }): FakeSgxHost {
  const root = mkdtempSync(join(tmpdir(), options.prefix));
  const pluginDir = join(root, "device-plugins");
  const devRoot = join(root, "dev");
  const sysfsRoot = join(root, "sys");
  mkdirSync(pluginDir);
  mkdirSync(devRoot);
  writeFileSync(join(devRoot, "sgx_enclave"), "");
  if (options.provision) writeFileSync(join(devRoot, "sgx_provision"), "");
  const x86 = join(sysfsRoot, "devices/system/node/node0/x86");
  mkdirSync(x86, { recursive: true });
  writeFileSync(join(x86, "sgx_total_bytes"), String(options.epcBytes));
  const inventory = discoverTee({ mode: "auto", sysfsRoot, devRoot, procRoot: join(root, "none") });
  return { root, pluginDir, devRoot, inventory };
}
