export * from "./catalog.js";
export * from "./errors.js";
export * from "./ids.js";
export * from "./log.js";
export * from "./mutex.js";
export * from "./roles.js";
