// LibOS functions (Cloister extension, executor_type "libos"): packing a function folder and
// verifying a finished task's evidence, for function and data owners.
export {
  isLibosError,
  LibosError,
  MANIFEST_FILE,
  manifestOf,
  packFunctionDirectory,
  parseManifest,
  type RuntimeTrust,
  runtimeTrustFromDataDir,
  type TaskEvidence,
  type VerifiedTaskEvidence,
  verifyTaskEvidence,
} from "@cloister/libos";
