export * from "./codec.js";
export * from "./node.js";
export * from "./pipeline.js";
export * from "./registry.js";
export * from "./start.js";
