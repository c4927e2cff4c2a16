export * from "./scheduler.js";
export * from "./start.js";
