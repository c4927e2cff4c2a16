export * from "./handlers.js";
export * from "./open.js";
