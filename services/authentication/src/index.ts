export * from "./service.js";
export * from "./start.js";
export { type Claims, TOKEN_ISSUER, TOKEN_LIFETIME_SECS } from "./tokens.js";
