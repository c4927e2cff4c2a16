export * from "./attestation-http.js";
export * from "./attestation-service.js";
export * from "./attested-cert.js";
export * from "./chain.js";
/** The strict DER reader, for other verifiers (evidence, CRLs, extensions). */
export * as der from "./der.js";
export { DerError } from "./der.js";
export * from "./enclave-info.js";
export * from "./gramine.js";
export * from "./hardware.js";
export * from "./identity.js";
export * from "./measure.js";
export * from "./provider.js";
export * from "./quote.js";
export * from "./report.js";
export * from "./tsm.js";
export * from "./verify.js";
export {
  type Extension,
  nameAttribute,
  OID,
  type ParsedCertificate,
  parseCertificate,
  pemDecodeAll,
  pemEncode,
  toCertificateDer,
} from "./x509.js";
