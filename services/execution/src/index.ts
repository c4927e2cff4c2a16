export * from "./node.js";
export * from "./pipeline.js";
export * from "./registry.js";
export * from "./task-runtime.js";
export * from "./codec.js";
export * from "./start.js";
