import { type FileCrypto, fileCryptoFromJson, fileCryptoToJson } from "./file-crypto.js";
import { bytesToJson, type JsonValue, obj, stringifyJson } from "./json.js";
import { asObject, bytes, RecordFormatError, str, strings } from "./read.js";
import { decodeJsonRecord } from "./records/codec.js";
import { sortedSet } from "./sets.js";

/** A registered input file (`input-<uuid>`); the cmac is mandatory. */
export interface InputFileRecord {
  uuid: string;
  url: string;
  /** 16-byte authentication tag. */
  cmac: Buffer;
  crypto: FileCrypto;
  owners: Set<string>;
}

/** A registered output file (`output-<uuid>`); the cmac is set once a task produced it. */
export interface OutputFileRecord {
  uuid: string;
  url: string;
  cmac: Buffer | null;
  crypto: FileCrypto;
  owners: Set<string>;
}

export const CMAC_LENGTH = 16;

const tagJson = (t: Buffer): JsonValue => obj([["tag", bytesToJson(t)]]);

function tagFromJson(v: JsonValue | undefined): Buffer {
  const t = bytes(asObject(v, "cmac").get("tag"), "cmac.tag");
  if (t.length !== CMAC_LENGTH) throw new RecordFormatError("cmac.tag: expected 16 bytes");
  return t;
}

function fileJson(f: InputFileRecord | OutputFileRecord): JsonValue {
  return obj([
    ["url", f.url],
    ["cmac", f.cmac === null ? null : tagJson(f.cmac)],
    ["crypto_info", fileCryptoToJson(f.crypto)],
    ["owner", obj([["uids", sortedSet(f.owners)]])],
    ["uuid", f.uuid],
  ]);
}

export const inputFileToJsonValue = (f: InputFileRecord): JsonValue => fileJson(f);
export const outputFileToJsonValue = (f: OutputFileRecord): JsonValue => fileJson(f);

function common(v: JsonValue | undefined) {
  const o = asObject(v, "file");
  return {
    o,
    uuid: str(o, "uuid"),
    url: str(o, "url"),
    crypto: fileCryptoFromJson(o.get("crypto_info")),
    owners: new Set(strings(asObject(o.get("owner"), "owner").get("uids"), "owner.uids")),
  };
}

export function inputFileFromJsonValue(v: JsonValue | undefined): InputFileRecord {
  const { o, uuid, url, crypto, owners } = common(v);
  return { uuid, url, cmac: tagFromJson(o.get("cmac")), crypto, owners };
}

export function outputFileFromJsonValue(v: JsonValue | undefined): OutputFileRecord {
  const { o, uuid, url, crypto, owners } = common(v);
  const c = o.get("cmac");
  return { uuid, url, cmac: c === null || c === undefined ? null : tagFromJson(c), crypto, owners };
}

export const serializeInputFile = (f: InputFileRecord): string => stringifyJson(inputFileToJsonValue(f));
export const serializeOutputFile = (f: OutputFileRecord): string => stringifyJson(outputFileToJsonValue(f));
export const parseInputFile = (text: string): InputFileRecord =>
  decodeJsonRecord(inputFileFromJsonValue, text, "input");
export const parseOutputFile = (text: string): OutputFileRecord =>
  decodeJsonRecord(outputFileFromJsonValue, text, "output");
