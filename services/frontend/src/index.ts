export * from "./audit.js";
export * from "./gate.js";
