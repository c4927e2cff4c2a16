export * from "./client.js";
export * from "./errors.js";
export * from "./files.js";
export * from "./libos.js";
export * from "./trust.js";
