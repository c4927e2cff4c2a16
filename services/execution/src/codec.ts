import { decryptBuffer, encryptBuffer } from "@cloister/crypto";
import { urlBasename } from "@cloister/file-agent";
import type { FileCrypto } from "@cloister/model";
import { TaskFailure } from "@cloister/runtime";
import type { FileCodec } from "./pipeline.js";

/** Task files in the formats of @cloister/crypto, entirely in memory. */
export const cryptoCodec: FileCodec = {
  async open(ciphertext: Buffer, crypto: FileCrypto, cmac: Buffer, url: string): Promise<Buffer> {
    try {
      // A raw input has no integrity check to make. A
      // teaclave-file-128 input must carry its URL's basename as its stored name, as the legacy
      // platform (which saved it under that name before opening it) required.
      const name = urlBasename(url);
      const opts =
        crypto.schema === "raw"
          ? { path: url }
          : crypto.schema === "teaclave-file-128"
            ? { expectedCmac: cmac, path: name, fileName: name }
            : { expectedCmac: cmac, path: name };
      return (await decryptBuffer(ciphertext, crypto, opts)).plaintext;
    } catch (e) {
      throw new TaskFailure((e as Error).message, { cause: e });
    }
  },
  async seal(plaintext: Buffer, crypto: FileCrypto, url: string): Promise<{ data: Buffer; tag: Buffer }> {
    // teaclave-file-128 stores a file name: the legacy platform uses the URL's basename.
    const { file, cmac } = await encryptBuffer(plaintext, crypto, { fileName: urlBasename(url) });
    return { data: file, tag: cmac };
  },
};
