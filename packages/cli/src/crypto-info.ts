import { readFileSync, writeFileSync } from "node:fs";
import { generateFileCryptoInfo, toWireFileCryptoInfo } from "@cloister/crypto";
import { hex, schema as parseSchema, UsageError } from "./args.js";

/**
 * A file's crypto description as the CLI shows and stores it (`file encrypt --json`,
 * `--save-info`): hex strings, so it can be passed back with `--info <file>`.
 */
export interface CryptoInfoFile {
  schema: string;
  key: string;
  iv: string;
  cmac?: string;
}

export interface CryptoFlags {
  info?: string;
  schema?: string;
  key?: string;
  iv?: string;
  cmac?: string;
}

export interface ResolvedCrypto {
  cryptoInfo: { schema: string; key: Buffer; iv: Buffer };
  cmac: Buffer | undefined;
  /** True when the key was generated here; the user must be shown (or save) it. */
  generated: boolean;
}

/**
 * Crypto info from `--info <file>` or `--schema/--key/--iv/--cmac` (flags override the file).
 * With `generate`, a schema without a key gets a fresh random key, as a new output needs.
 */
export function resolveCrypto(o: CryptoFlags, options: { generate?: boolean } = {}): ResolvedCrypto {
  let file: Partial<CryptoInfoFile> = {};
  if (o.info) {
    try {
      file = JSON.parse(readFileSync(o.info, "utf8")) as Partial<CryptoInfoFile>;
    } catch (e) {
      throw new UsageError(`--info: cannot read ${o.info} (${(e as Error).message})`);
    }
  }
  const schemaText = o.schema ?? file.schema;
  if (!schemaText) throw new UsageError("give --schema (and --key/--iv) or --info <file>");
  const schema = parseSchema(schemaText);
  const keyHex = o.key ?? file.key;
  const ivHex = o.iv ?? file.iv;
  const cmacHex = o.cmac ?? file.cmac;
  const cmac = cmacHex ? hex(cmacHex, "cmac") : undefined;
  if (!keyHex && schema !== "raw" && options.generate) {
    return { cryptoInfo: toWireFileCryptoInfo(generateFileCryptoInfo(schema)), cmac, generated: true };
  }
  return { cryptoInfo: { schema, key: hex(keyHex, "key"), iv: hex(ivHex, "iv") }, cmac, generated: false };
}

export function cryptoInfoFile(
  info: { schema: string; key?: Uint8Array; iv?: Uint8Array },
  cmac?: Uint8Array,
): CryptoInfoFile {
  return {
    schema: info.schema,
    key: Buffer.from(info.key ?? []).toString("hex"),
    iv: Buffer.from(info.iv ?? []).toString("hex"),
    ...(cmac ? { cmac: Buffer.from(cmac).toString("hex") } : {}),
  };
}

/** Writes key material owner-readable only. */
export function saveCryptoInfo(path: string, info: CryptoInfoFile): void {
  writeFileSync(path, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
}
