export * from "./handlers.js";
export * from "./start.js";
