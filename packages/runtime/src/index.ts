export * from "./arguments.js";
export * from "./executor.js";
export * from "./measure.js";
export * from "./memory-runtime.js";
