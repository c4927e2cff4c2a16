export * from "./arguments.js";
export * from "./guest.js";
export * from "./module.js";
export * from "./task-files.js";
