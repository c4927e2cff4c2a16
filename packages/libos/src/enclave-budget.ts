// EPC budget of an execution node. The kubelet gives the node's container a share of the host's
// enclave page cache (the device plugin's Allocate sets CLOISTER_TEE_EPC_MIB; with Intel's model,
// which has no Allocate for EPC, the chart sets the same variable to the pod's `sgx.intel.com/epc`
// request, and CLOISTER_TEE_EPC_BYTES is read for deployments that pass bytes), but nothing in
// SGX stops one container from building enclaves beyond it. This budget does: every enclave
// reserves its declared size (`sgx.enclave_size`) before it is built and gives it back when it is
// gone. An enclave larger than the whole allocation can never run and is refused at once; one that
// does not fit beside the enclaves already running waits (first come, first served) until enough
// is released, or until its task is cancelled or times out.
import type { Instance, InstanceLimits, LibosBackend, PreparedRuntime } from "./backend.js";
import { LibosError } from "./errors.js";

const MIB = 1024 * 1024;

/** Environment variables that carry a node's EPC allocation. */
export const EPC_ENV = { mib: "CLOISTER_TEE_EPC_MIB", bytes: "CLOISTER_TEE_EPC_BYTES" } as const;

/** An enclave that can never fit this node's EPC allocation (stable code `epc`). */
export class EpcBudgetError extends LibosError {
  constructor(
    readonly requestedBytes: number,
    readonly allocatedBytes: number,
  ) {
    super(
      "epc",
      `the enclave needs ${Math.ceil(requestedBytes / MIB)} MiB of EPC but this node was allocated ${Math.floor(allocatedBytes / MIB)} MiB`,
    );
    this.name = "EpcBudgetError";
  }
}

export interface EnclaveBudget {
  readonly totalBytes: number;
  readonly freeBytes: number;
  /**
   * Reserves `bytes`; resolves with the release. Throws EpcBudgetError when `bytes` exceeds the
   * whole budget, and the signal's reason when it aborts while waiting.
   */
  reserve(bytes: number, signal?: AbortSignal): Promise<() => void>;
}

interface Waiter {
  bytes: number;
  grant(): void;
}

export class EpcBudget implements EnclaveBudget {
  private used = 0;
  private readonly waiters: Waiter[] = [];

  constructor(readonly totalBytes: number) {
    if (!Number.isSafeInteger(totalBytes) || totalBytes < 0)
      throw new RangeError(`bad EPC budget: ${totalBytes}`);
  }

  get freeBytes(): number {
    return this.totalBytes - this.used;
  }

  async reserve(bytes: number, signal?: AbortSignal): Promise<() => void> {
    if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new RangeError(`bad enclave size: ${bytes}`);
    if (bytes > this.totalBytes) throw new EpcBudgetError(bytes, this.totalBytes);
    signal?.throwIfAborted();
    if (this.waiters.length > 0 || bytes > this.freeBytes) {
      await new Promise<void>((resolve, reject) => {
        const waiter: Waiter = {
          bytes,
          grant: () => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
          },
        };
        const onAbort = () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          this.dispatch();
          reject(signal?.reason);
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        this.waiters.push(waiter);
      });
    } else this.used += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= bytes;
      this.dispatch();
    };
  }

  /** Grants waiters in order while the first one fits. */
  private dispatch(): void {
    while (this.waiters.length > 0 && this.waiters[0]!.bytes <= this.freeBytes) {
      const w = this.waiters.shift()!;
      this.used += w.bytes;
      w.grant();
    }
  }
}

/**
 * The node's allocation from its environment; undefined when none was given (no TEE resource
 * requested: enclaves are then not budgeted here). A malformed value is a configuration error.
 */
export function epcBudgetFromEnvironment(env: NodeJS.ProcessEnv = process.env): EpcBudget | undefined {
  const parse = (name: string, unit: number) => {
    const raw = env[name];
    if (raw === undefined || raw === "") return undefined;
    if (!/^\d{1,15}$/.test(raw.trim()))
      throw new RangeError(`${name} must be a whole number, not ${JSON.stringify(raw)}`);
    return Number(raw.trim()) * unit;
  };
  const mib = parse(EPC_ENV.mib, MIB);
  const bytes = parse(EPC_ENV.bytes, 1);
  if (mib === undefined && bytes === undefined) return undefined;
  // Both given: the smaller share binds.
  return new EpcBudget(Math.min(mib ?? Number.MAX_SAFE_INTEGER, bytes ?? Number.MAX_SAFE_INTEGER));
}

/**
 * `backend` with every instance it launches charged to `budget` for its declared enclave size
 * (`enclaveBytes`; backends without enclaves pass through untouched). The reservation is held
 * until the instance has exited, pooled instances included.
 */
export function withEnclaveBudget(backend: LibosBackend, budget: EnclaveBudget): LibosBackend {
  const bytes = backend.enclaveBytes;
  if (!bytes) return backend;
  return {
    kind: backend.kind,
    simulated: backend.simulated,
    enclaveBytes: bytes,
    probe: (image) => backend.probe(image),
    prepare: (image, policyPath) => backend.prepare(image, policyPath),
    async launch(runtime: PreparedRuntime, limits: InstanceLimits, signal?: AbortSignal): Promise<Instance> {
      const release = await budget.reserve(bytes, signal);
      let instance: Instance;
      try {
        instance = await backend.launch(runtime, limits, signal);
      } catch (e) {
        release();
        throw e;
      }
      void instance.exited.finally(release);
      return instance;
    },
    close: () => backend.close(),
  };
}
