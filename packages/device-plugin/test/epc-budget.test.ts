// The EPC budget end to end, as far as it can run without SGX: a fake SGX device tree, the plugin
// registered with a fake kubelet, Allocate → the container's environment → the execution node's
// budget (what @cloister/libos reads at node start) → enclaves of the Gramine driver's declared
// size admitted, queued or refused. The enclaves themselves are fake instances; nothing ran on SGX.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import {
  EpcBudgetError,
  epcBudgetFromEnvironment,
  GramineBackend,
  gramineManifest,
  type Instance,
  isLibosError,
  type LibosBackend,
  withEnclaveBudget,
} from "@cloister/libos";
import { EpcResource } from "../src/epc.js";
import type { AllocateResponse } from "../src/gen/kubelet_deviceplugin_v1beta1.js";
import { CloisterDevicePlugin } from "../src/plugin.js";
import { FakeKubelet, unary } from "./fake-kubelet.js";
import { fakeSgxHost } from "./fake-sgx-host.js";

const MIB = 1024 * 1024;

/** A backend declaring the Gramine driver's enclave size; its instances live until `exit()`. */
function fakeEnclaveBackend(enclaveBytes: number) {
  const live: Array<() => void> = [];
  const backend: LibosBackend = {
    kind: "gramine-sgx",
    simulated: false,
    enclaveBytes,
    probe: async () => undefined,
    prepare: async () => {
      throw new Error("not used");
    },
    async launch() {
      let exit!: () => void;
      const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
        exit = () => resolve({ code: 0, signal: null });
      });
      live.push(exit);
      return { id: `fake-${live.length}`, exited, kill: async () => exit() } as unknown as Instance;
    },
    close: async () => undefined,
  };
  return { backend, exitOldest: () => live.shift()?.() };
}

const launch = (b: LibosBackend, signal?: AbortSignal) =>
  b.launch({} as never, { memoryBytes: 0, tmpfsBytes: 0, processes: 0 }, signal);

describe("EPC budget from the device plugin's allocation", () => {
  const { root, pluginDir, devRoot, inventory } = fakeSgxHost({ prefix: "cdp-epc-", epcBytes: 4096 * MIB });
  let kubelet: FakeKubelet;
  let plugin: CloisterDevicePlugin;

  before(async () => {
    // One device per 256 MiB of EPC.
    plugin = new CloisterDevicePlugin({
      resourceName: "alibabacloud.com/sgx_epc_MiB",
      resource: new EpcResource({ inventory, chunkMib: 256, devRoot }),
      pluginDir,
      watchIntervalMs: 100,
      healthIntervalMs: 3_600_000,
    });
    kubelet = new FakeKubelet(pluginDir);
    const registered = kubelet.nextRegistration();
    await kubelet.start();
    await plugin.start();
    await registered;
  });

  after(async () => {
    await plugin.stop();
    kubelet.stop();
    rmSync(root, { recursive: true, force: true });
  });

  /** The environment the kubelet would give a container holding `ids`. */
  async function allocate(ids: string[]): Promise<NodeJS.ProcessEnv> {
    const client = kubelet.dial(plugin.socketName);
    try {
      const r = await unary<AllocateResponse>((cb) =>
        client.allocate({ containerRequests: [{ devicesIds: ids }] }, cb),
      );
      return { ...r.containerResponses[0]!.envs };
    } finally {
      client.close();
    }
  }

  it("admits enclaves while they fit, queues the next, refuses one larger than the allocation", async () => {
    // Two chunks: 512 MiB for this execution node.
    const env = await allocate(["epc-n0-0", "epc-n0-1"]);
    assert.equal(env.CLOISTER_TEE_EPC_MIB, "512");
    const budget = epcBudgetFromEnvironment(env);
    assert.ok(budget);
    assert.equal(budget.totalBytes, 512 * MIB);

    // The size the Gramine driver writes into the manifest is the size it declares.
    const gramine = new GramineBackend({ mode: "sgx", stateDir: root, enclaveSizeMib: 256 });
    assert.equal(gramine.enclaveBytes, 256 * MIB);
    assert.equal(new GramineBackend({ mode: "direct", stateDir: root }).enclaveBytes, undefined);
    const manifest = gramineManifest(
      { runtime: "python", digest: "0".repeat(64), root: root } as never,
      "/p.json",
      { mode: "sgx", stateDir: root, enclaveSizeMib: 256 },
    );
    assert.match(manifest, /^sgx\.enclave_size = "256M"$/m);

    const fake = fakeEnclaveBackend(gramine.enclaveBytes!);
    const node = withEnclaveBudget(fake.backend, budget);
    await launch(node);
    await launch(node);
    assert.equal(budget.freeBytes, 0);
    // A third waits until one of the first two has exited...
    let third = false;
    const waiting = launch(node).then(() => {
      third = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(third, false, "no enclave beyond the budget runs");
    fake.exitOldest();
    await waiting;
    assert.equal(third, true);
    assert.equal(budget.freeBytes, 0);
    // ...and one whose task is cancelled while it waits gives up its place.
    const cancel = new AbortController();
    const cancelled = launch(node, cancel.signal);
    cancel.abort(new Error("task canceled"));
    await assert.rejects(cancelled, /task canceled/);

    // An enclave larger than the whole allocation can never run: refused at once, typed.
    const huge = withEnclaveBudget(fakeEnclaveBackend(1024 * MIB).backend, budget);
    await assert.rejects(launch(huge), (e: unknown) => e instanceof EpcBudgetError && isLibosError(e, "epc"));
    fake.exitOldest();
    fake.exitOldest();
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(budget.freeBytes, 512 * MIB, "every reservation was released");
  });

  it("reads Intel's byte count too, and no allocation means no budget", () => {
    assert.equal(
      epcBudgetFromEnvironment({ CLOISTER_TEE_EPC_BYTES: String(64 * MIB) })?.totalBytes,
      64 * MIB,
    );
    assert.equal(
      epcBudgetFromEnvironment({ CLOISTER_TEE_EPC_MIB: "32", CLOISTER_TEE_EPC_BYTES: String(64 * MIB) })
        ?.totalBytes,
      32 * MIB,
    );
    assert.equal(epcBudgetFromEnvironment({}), undefined);
    assert.throws(() => epcBudgetFromEnvironment({ CLOISTER_TEE_EPC_MIB: "lots" }), RangeError);
  });
});
