export {
  AttestationError,
  CloisterError,
  ConfigError,
  isCloisterError,
  Status,
  type StatusCode,
} from "@cloister/core";
export * from "./client.js";
export * from "./errors.js";
export * from "./executors.js";
export * from "./files.js";
export * from "./libos.js";
export * from "./progress.js";
export * from "./trust.js";
