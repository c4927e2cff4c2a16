/**
 * The two trust-layer contracts this package consumes. They are declared here (not imported from
 * the tee package) so the channel has no dependency on how certificates are produced or verified.
 */

/** The local attested identity: the current key + self-signed certificate, renewed over time. */
export interface CertificateSource {
  current(): { privateKeyPem: string; certificatePem: string; certificateDer: Buffer };
  /** Emitted after re-attestation; the new certificate is used for connections made afterwards. */
  on(event: "renewed", listener: () => void): unknown;
}

/** What a successful attestation check proved about the peer. */
export interface VerifiedPeerInfo {
  name: string;
  mrEnclave: string;
  mrSigner: string;
  simulated: boolean;
}

/**
 * Verifies a peer's raw leaf certificate (DER). Synchronous because it runs inside the TLS
 * connection set-up; throws (typically an AttestationError) to reject the peer.
 */
export type PeerVerifier = (certificateDer: Buffer) => VerifiedPeerInfo;
