export * from "./platform.js";
