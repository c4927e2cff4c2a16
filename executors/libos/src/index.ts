export * from "./deployment.js";
export * from "./executor.js";
export * from "./pool.js";
