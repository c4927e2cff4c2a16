export { BWRAP_PATH, NODE_SANDBOX_FLAGS, PRLIMIT_PATH } from "./command.js";
export * from "./errors.js";
export { type SandboxEvents, sandboxEvents } from "./events.js";
export { checkSandbox } from "./probe.js";
export type { OutputLineLimits } from "./process.js";
export {
  decodeFrames,
  type RecyclingPoolOptions,
  type RecyclingPoolStats,
  type RecyclingRunOptions,
  RecyclingSandboxPool,
  type SandboxProgram,
} from "./reusable.js";
export { DENIED_SYSCALLS, seccompProgram, syscallNumbers } from "./seccomp.js";
export * from "./types.js";
export {
  allocateSandboxUid,
  configureSandboxUids,
  releaseSandboxUid,
  sandboxUidBlock,
  UID_BLOCK_SIZE,
} from "./uid-range.js";
