export * from "./clients.js";
export * from "./platform.js";
