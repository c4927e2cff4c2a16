export * from "./colocated.js";
export * from "./context.js";
export * from "./platform.js";
export * from "./running.js";
export * from "./services.js";
export * from "./store.js";
export * from "./trust.js";
