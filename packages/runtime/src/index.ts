export * from "./executor.js";
export * from "./memory-runtime.js";
