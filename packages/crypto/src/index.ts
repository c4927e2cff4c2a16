export {
  AES_GCM_TAG_LENGTH,
  type AesGcmDecryptOptions,
  AesGcmFileDecryptor,
  AesGcmFileEncryptor,
  decryptAesGcmBuffer,
  encryptAesGcmBuffer,
} from "./aes-gcm.js";
export { aesCmac, cmacSubkeys, macEquals } from "./cmac.js";
export { debugQuote, FileCryptoError, type FileCryptoFailure } from "./errors.js";
export {
  computeCmac,
  type DecryptFileOptions,
  decryptFile,
  type EncryptFileOptions,
  encryptFile,
  fileHandleSink,
  readClaimedCmac,
  verifyCmac,
} from "./files.js";
export {
  type AesGcm128Info,
  type AesGcm256Info,
  type AesGcmInfo,
  FILE_CRYPTO_SCHEMAS,
  type FileCryptoInfo,
  type FileCryptoSchema,
  fromLegacyFileCrypto,
  generateFileCryptoInfo,
  type LegacyFileCrypto,
  parseFileCryptoInfo,
  type RawInfo,
  type TeaclaveFile128Info,
  toLegacyFileCrypto,
  toWireFileCryptoInfo,
  type WireFileCryptoInfo,
} from "./info.js";
export {
  deriveMetadataKey,
  type PositionalSink,
  ProtectedFileDecoder,
  type ProtectedFileInfo,
  type ProtectedFileReadOptions,
  ProtectedFileWriter,
  type ProtectedFileWriterOptions,
  readProtectedFile,
} from "./protected-file.js";
export {
  BufferSink,
  type ByteSource,
  CryptoStream,
  type DecryptOptions,
  decryptBuffer,
  decryptStream,
  type EncryptOptions,
  encryptBuffer,
  encryptStream,
  encryptToSink,
  RAW_CMAC,
} from "./stream.js";
