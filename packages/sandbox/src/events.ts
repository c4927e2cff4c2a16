// Process-wide events of the sandbox pools, for metrics: the host subscribes without every
// executor having to pass a callback through its options.
import { EventEmitter } from "node:events";

export interface SandboxEvents {
  /** A pooled sandbox finished starting (spawn to ready): `pool` names its pool. */
  "worker-started": [{ pool: string; seconds: number }];
}

export const sandboxEvents = new EventEmitter<SandboxEvents>();
