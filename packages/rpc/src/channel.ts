import { isIP, type Socket } from "node:net";
import * as tls from "node:tls";
import { AttestationError } from "@cloister/core";
import * as grpc from "@grpc/grpc-js";
import { MAX_TLS_VERSION, MIN_TLS_VERSION, TLS12_CIPHERS } from "./tls-params.js";
import type { CertificateSource, PeerVerifier, VerifiedPeerInfo } from "./types.js";

export interface AttestedChannelOptions {
  /** Decides whether the server's certificate is acceptable; runs before any HTTP/2 byte. */
  verifyServer: PeerVerifier;
  /** Presented as the TLS client certificate (internal endpoints require one). */
  identity?: CertificateSource;
  /** Highest TLS version offered (default TLSv1.3); legacy internal clients use TLSv1.2. */
  maxVersion?: tls.SecureVersion;
  /** Called with each server's verified identity (e.g. for logs). */
  onVerified?: (peer: VerifiedPeerInfo) => void;
}

/**
 * grpc-js channel credentials for self-signed attested servers.
 *
 * Node only runs `checkServerIdentity` after OpenSSL's chain check has passed, which never
 * happens for a self-signed certificate, so the usual `rejectUnauthorized:false` +
 * `checkServerIdentity` recipe would connect to anyone. Instead this implements grpc-js's
 * secure-connector hook: it does the TLS handshake itself and hands the socket to grpc-js only
 * after `verifyServer` accepted the raw leaf certificate. A refusal surfaces to callers as
 * UNAVAILABLE whose details carry the attestation error text.
 */
export class AttestedChannelCredentials extends grpc.ChannelCredentials {
  private cached: { pem: string; context: tls.SecureContext } | undefined;

  constructor(private readonly opts: AttestedChannelOptions) {
    super();
  }

  override _isSecure(): boolean {
    return true;
  }

  override _equals(other: grpc.ChannelCredentials): boolean {
    return other === this;
  }

  override _createSecureConnector(
    channelTarget: grpc.experimental.GrpcUri,
    _options: grpc.ChannelOptions,
    callCredentials?: grpc.CallCredentials,
  ): grpc.experimental.SecureConnector {
    const servername = sniName(channelTarget);
    const perCall = callCredentials ?? grpc.credentials.createEmpty();
    return {
      connect: (socket: Socket) =>
        this.handshake(socket, servername).then((tlsSocket) => ({ socket: tlsSocket, secure: true })),
      waitForReady: () => Promise.resolve(),
      getCallCredentials: () => perCall,
      destroy: () => {},
    };
  }

  /**
   * The attested TLS handshake over a connected socket: resolves with the TLS socket only after
   * ALPN selected h2 and `verifyServer` accepted the server's certificate (grpc-js's connector and
   * the node:http2 transport both start HTTP/2 only then); rejects and destroys the socket
   * otherwise (an attestation refusal is an AttestationError).
   */
  handshake(socket: Socket, servername: string | undefined): Promise<tls.TLSSocket> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        tlsSocket.destroy();
        reject(err);
      };
      const tlsSocket = tls.connect(
        {
          socket,
          secureContext: this.secureContext(),
          ALPNProtocols: ["h2"],
          // Trust comes from verifyServer below, not from a CA chain; see the class comment.
          rejectUnauthorized: false,
          ...(servername ? { servername } : {}),
        },
        () => {
          if (settled) return;
          if (tlsSocket.alpnProtocol !== "h2") return fail(new Error("server did not select ALPN h2"));
          const cert = tlsSocket.getPeerCertificate(true);
          if (!cert?.raw) return fail(new AttestationError("server presented no certificate"));
          let peer: VerifiedPeerInfo;
          try {
            peer = this.opts.verifyServer(cert.raw);
          } catch (err) {
            const text = err instanceof Error ? err.message : String(err);
            return fail(new AttestationError(`server attestation rejected: ${text}`, { cause: err }));
          }
          settled = true;
          tlsSocket.removeListener("close", onClose);
          this.opts.onVerified?.(peer);
          resolve(tlsSocket);
        },
      );
      const onClose = () => fail(new Error("connection closed during the TLS handshake"));
      tlsSocket.on("error", (err) => fail(err));
      tlsSocket.once("close", onClose);
    });
  }

  /** One context per client certificate; rebuilt when the identity has been renewed. */
  private secureContext(): tls.SecureContext {
    const identity = this.opts.identity?.current();
    const pem = identity?.certificatePem ?? "";
    if (this.cached?.pem !== pem) {
      this.cached = {
        pem,
        context: tls.createSecureContext({
          ...(identity ? { key: identity.privateKeyPem, cert: identity.certificatePem } : {}),
          ciphers: TLS12_CIPHERS,
          minVersion: MIN_TLS_VERSION,
          maxVersion: this.opts.maxVersion ?? MAX_TLS_VERSION,
        }),
      };
    }
    return this.cached.context;
  }
}

/** SNI carries a host name only; servers ignore it, and Node refuses IP literals there. */
function sniName(target: grpc.experimental.GrpcUri): string | undefined {
  const authority = target.path.replace(/^\/+/, "");
  const split = grpc.experimental.splitHostPort(authority);
  return serverName(split?.host ?? authority);
}

/** The SNI name for a host: the host itself, or undefined for an IP literal. */
export function serverName(host: string): string | undefined {
  return host && isIP(host) === 0 ? host : undefined;
}

export function attestedChannelCredentials(opts: AttestedChannelOptions): grpc.ChannelCredentials {
  return new AttestedChannelCredentials(opts);
}
