export { flattenArguments } from "@cloister/runtime";
export * from "./executor.js";
export * from "./guest.js";
export { PRELUDE } from "./prelude.js";
