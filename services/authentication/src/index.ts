export * from "./service.js";
export type { Kv } from "./kv.js";
export { type Claims, TOKEN_ISSUER, TOKEN_LIFETIME_SECS } from "./tokens.js";
export * from "./start.js";
