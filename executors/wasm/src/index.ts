export * from "./arguments.js";
export * from "./executor.js";
export * from "./guest.js";
export * from "./module.js";
export * from "./sandboxed.js";
export * from "./task-files.js";
