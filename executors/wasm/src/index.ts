export { compactJson, flattenArguments } from "@cloister/runtime";
export * from "./executor.js";
export * from "./guest.js";
export * from "./module.js";
export * from "./sandboxed.js";
export * from "./task-files.js";
