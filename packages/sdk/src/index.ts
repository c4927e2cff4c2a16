export * from "./client.js";
export * from "./trust.js";
