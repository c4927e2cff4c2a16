import type { TLSSocket } from "node:tls";
import type { ServerUnaryCall } from "@grpc/grpc-js";
import type { VerifiedPeerInfo } from "./types.js";

const VERIFIED_PEER = Symbol("cloister.verifiedPeer");

/** The attested peer of each admitted socket (read by our own HTTP/2 server per call). */
const verifiedSockets = new WeakMap<TLSSocket, VerifiedPeerInfo>();

/** The attested peer of an admitted socket, or undefined (API endpoints). */
export function socketPeer(socket: TLSSocket): VerifiedPeerInfo | undefined {
  return verifiedSockets.get(socket);
}

/**
 * Records the attestation result on an accepted socket so handlers can read it.
 *
 * grpc-js exposes the peer certificate through `call.getAuthContext()` only when
 * `socket.authorized` is true, which OpenSSL never sets for a self-signed certificate. Here the
 * attestation check is what authorises the peer, so the flag is set, and the certificate object
 * grpc-js hands to the handler carries the verified info under a private symbol.
 */
export function markVerified(socket: TLSSocket, info: VerifiedPeerInfo): void {
  const frozen = Object.freeze({ ...info });
  verifiedSockets.set(socket, frozen);
  const original = socket.getPeerCertificate;
  socket.authorized = true;
  // A connection's peer certificate never changes, and grpc-js asks for it at every call
  // (getAuthContext): it is decoded once per connection, not once per call.
  const decoded = new Map<boolean, ReturnType<TLSSocket["getPeerCertificate"]>>();
  const patched = function (this: TLSSocket, detailed?: boolean) {
    const key = detailed === true;
    const known = decoded.get(key);
    if (known) return known;
    const cert = original.call(this, key);
    if (cert && typeof cert === "object") {
      Object.defineProperty(cert, VERIFIED_PEER, { value: frozen, enumerable: false });
      decoded.set(key, cert);
    }
    return cert;
  };
  socket.getPeerCertificate = patched as TLSSocket["getPeerCertificate"];
}

/** Anything with grpc-js's `getAuthContext()` (every server call object has it). */
export type CallWithAuthContext = Pick<ServerUnaryCall<unknown, unknown>, "getAuthContext">;

/**
 * The attested peer of a call on an internal endpoint, or undefined on an API endpoint (no
 * client certificate is requested there).
 */
export function peerOf(call: CallWithAuthContext): VerifiedPeerInfo | undefined {
  const cert = call.getAuthContext().sslPeerCertificate as unknown as Record<symbol, unknown> | undefined;
  return cert ? (cert[VERIFIED_PEER] as VerifiedPeerInfo | undefined) : undefined;
}
