import type { Readable, Writable } from "node:stream";
import type { RuntimeImage } from "./image.js";

export type BackendKind = "gvisor" | "bwrap" | "gramine-sgx" | "gramine-direct";

/** Limits fixed when an instance starts (pools start instances before their task is known). */
export interface InstanceLimits {
  /** Memory of the whole instance (agent, runtime and payload), in bytes. */
  memoryBytes: number;
  /** Size of each writable tmpfs (`/tmp`, `/task`, `/app`), in bytes. */
  tmpfsBytes: number;
  /** Processes and threads of the instance. */
  processes: number;
}

/** A runtime image made ready for one backend, with the measurement it will attest. */
export interface PreparedRuntime {
  backend: BackendKind;
  image: RuntimeImage;
  /** Host path of the deployment's agent policy (bound read-only at /cloister/policy.json). */
  policyPath: string;
  /** MRENCLAVE-like measurement (hex): image, policy and the backend's fixed configuration. */
  measurement: string;
  /** Backend-specific material (Gramine: manifest and signature paths). */
  extra?: Record<string, string>;
}

export interface InstanceExit {
  code: number | null;
  signal: string | null;
}

/** One single-use sandbox running the guest agent. */
export interface Instance {
  readonly id: string;
  /** The agent's stdin and stdout: raw frames, then TLS. */
  readonly input: Writable;
  readonly output: Readable;
  /** The agent's diagnostics (bounded by the reader). */
  readonly diagnostics: Readable;
  readonly exited: Promise<InstanceExit>;
  /** SIGKILL every process of the instance; resolves when nothing of it is left. */
  kill(): Promise<void>;
}

export interface LibosBackend {
  readonly kind: BackendKind;
  /** Whether this backend's evidence is simulated (no hardware measured anything). */
  readonly simulated: boolean;
  /** EPC each instance's enclave declares (`sgx.enclave_size`), in bytes; absent without enclaves. */
  readonly enclaveBytes?: number | undefined;
  /** Proves the backend runs here; throws LibosUnavailableError otherwise. */
  probe(image: RuntimeImage): Promise<void>;
  /** Readies an image (bundle, manifest, signature) and predicts its measurement offline. */
  prepare(image: RuntimeImage, policyPath: string): Promise<PreparedRuntime>;
  /** Starts one instance; it is killed when `signal` aborts. */
  launch(runtime: PreparedRuntime, limits: InstanceLimits, signal?: AbortSignal): Promise<Instance>;
  /** Kills what is left and removes the backend's state. */
  close(): Promise<void>;
}
