export * from "./errors.js";
export * from "./intel/collateral.js";
export * from "./intel/pck.js";
export * from "./intel/quote.js";
export * from "./intel/tcb.js";
export * from "./intel/verify.js";
export * from "./snp/report.js";
export * from "./snp/verify.js";
export { type Cert, type Crl, loadCert, loadCerts, parseCrl } from "./x509.js";
