export * from "./service.js";
export * from "./start.js";
