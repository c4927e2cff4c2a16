import { constants } from "node:crypto";
import type { SecureVersion } from "node:tls";

/**
 * TLS 1.2 suites usable with the ECDSA P-256 attested certificate that the Python SDK
 * (ECDHE+AESGCM / ECDHE+CHACHA20) and rustls clients offer (wire.md §2, attestation.md §7.2).
 * TLS 1.3 suites keep OpenSSL's defaults, which every client accepts.
 */
export const TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
].join(":");

export const MIN_TLS_VERSION: SecureVersion = "TLSv1.2";
export const MAX_TLS_VERSION: SecureVersion = "TLSv1.3";

/**
 * No session tickets: a resumed session skips the certificate exchange, so the attestation check
 * would be bypassed. Node keeps no server-side session-id cache unless asked to, so disabling
 * tickets disables resumption altogether (asserted by the tests).
 */
export const NO_RESUMPTION = constants.SSL_OP_NO_TICKET;

/** What the API endpoints (frontend, authentication) accept from clients. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * Internal hops carry what the API accepted in a larger form: records and staged tasks hold
 * payloads and keys as JSON arrays of numbers (legacy format), up to 4 bytes per byte ("255,"),
 * plus sealing and framing. 5× the API limit lets everything the API accepts reach the node.
 * Internal peers are attested services, not the public.
 */
export const INTERNAL_MAX_MESSAGE_BYTES = 5 * DEFAULT_MAX_MESSAGE_BYTES;
