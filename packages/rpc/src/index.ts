export { dialTarget, type HostPort, parseHostPort, peerHost } from "./address.js";
export {
  AttestedChannelCredentials,
  type AttestedChannelOptions,
  attestedChannelCredentials,
} from "./channel.js";
export {
  type CallOptions,
  type ClientConstructor,
  type ClientOptions,
  type ClientTransport,
  callUnary,
  createClient,
  type RequestOf,
  type ResponseOf,
  RpcError,
  toRpcError,
  type UnaryMethodName,
} from "./client.js";
export { type ConnectionLimits, DEFAULT_CONNECTION_LIMITS } from "./connections.js";
export {
  INTERNAL_ERROR_MESSAGE,
  MAX_STATUS_MESSAGE_BYTES,
  statusError,
  toServiceError,
  type UnaryHandler,
  unary,
} from "./errors.js";
export { checkFields, RejectedRequest } from "./guard.js";
export type { CallObserver } from "./http2-server.js";
export {
  authorisation,
  deadline,
  type Handlers,
  type Layer,
  logging,
  type Next,
  type Policy,
  type RpcContext,
  type Rule,
  type ServeOptions,
  serve,
  snakeCase,
  uniformPolicy,
} from "./interceptors.js";
export * from "./limits.js";
export {
  IN_PROCESS_ADDRESS,
  type LocalClientConstructor,
  type LocalClientOptions,
  localClient,
} from "./local-client.js";
export type { LocalMethod, LocalRoute, StreamSink } from "./local-route.js";
export {
  GET_TASK_WAIT_METADATA,
  type IdentityMetadata,
  identityMetadata,
  metadataValue,
  readIdentityMetadata,
} from "./metadata.js";
export { type CallWithAuthContext, peerOf } from "./peer.js";
export { forLog, QueueFullError, RateLimiter, WorkQueue } from "./rate.js";
export {
  type Admission,
  AttestedServer,
  type AttestedServerOptions,
  createAttestedServer,
  defaultServerTransport,
  type LocalCallStart,
  observedInterceptor,
  type ServerTransport,
  type ServiceOptions,
} from "./server.js";
export { DEFAULT_MAX_MESSAGE_BYTES, INTERNAL_MAX_MESSAGE_BYTES, TLS12_CIPHERS } from "./tls-params.js";
export type { CertificateSource, PeerVerifier, VerifiedPeerInfo } from "./types.js";
