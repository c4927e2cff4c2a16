export { dialTarget, type HostPort, parseHostPort } from "./address.js";
export {
  AttestedChannelCredentials,
  type AttestedChannelOptions,
  attestedChannelCredentials,
} from "./channel.js";
export {
  type CallOptions,
  type ClientConstructor,
  type ClientOptions,
  callUnary,
  createClient,
  type RequestOf,
  type ResponseOf,
  RpcError,
  toRpcError,
  type UnaryMethodName,
} from "./client.js";
export { INTERNAL_ERROR_MESSAGE, toServiceError, type UnaryHandler, unary } from "./errors.js";
export { type IdentityMetadata, identityMetadata, metadataValue, readIdentityMetadata } from "./metadata.js";
export { type CallWithAuthContext, peerOf } from "./peer.js";
export { AttestedServer, type AttestedServerOptions, createAttestedServer } from "./server.js";
export { DEFAULT_MAX_MESSAGE_BYTES, INTERNAL_MAX_MESSAGE_BYTES, TLS12_CIPHERS } from "./tls-params.js";
export type { CertificateSource, PeerVerifier, VerifiedPeerInfo } from "./types.js";
