export * from "./audit.js";
export * from "./gate.js";
export * from "./start.js";
