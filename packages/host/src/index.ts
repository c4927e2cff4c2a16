export * from "./context.js";
export * from "./platform.js";
export * from "./services.js";
export * from "./trust.js";
export * from "./running.js";
export * from "./store.js";
