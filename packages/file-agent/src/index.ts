export * from "./address.js";
export * from "./agent.js";
export * from "./egress.js";
export * from "./errors.js";
export * from "./exchange.js";
export type { Resolver } from "./http.js";
