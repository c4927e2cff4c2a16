export { flattenArguments } from "@cloister/executor-wasm";
export * from "./executor.js";
export * from "./guest.js";
export { PRELUDE } from "./prelude.js";
