import {
  type FileCrypto,
  fileCryptoFromJson,
  fileCryptoText,
  fileCryptoToJson,
  readFileCrypto,
} from "./file-crypto.js";
import { bytesToJson, type JsonValue, obj } from "./json.js";
import { bytesText, quote, uidsText } from "./json-text.js";
import { asObject, bytes, RecordFormatError, str, strings } from "./read.js";
import { K, keyBytes, type RecordReader } from "./record-reader.js";
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

export const serializeInputFile = (f: InputFileRecord): string => fileText(f, false);
export const serializeOutputFile = (f: OutputFileRecord): string => fileText(f, false);
export const parseInputFile = (text: string): InputFileRecord =>
  decodeJsonRecord(inputFileFromJsonValue, text, "input");
export const parseOutputFile = (text: string): OutputFileRecord =>
  decodeJsonRecord(outputFileFromJsonValue, text, "output");

/** The text `stringifyJson(inputFileToJsonValue(f))` gives (or the output's), written directly. */
export const fileText = (f: InputFileRecord | OutputFileRecord, base64: boolean): string =>
  `{"url":${quote(f.url)},"cmac":${f.cmac === null ? "null" : `{"tag":${bytesText(f.cmac, base64)}}`},` +
  `"crypto_info":${fileCryptoText(f.crypto, base64)},"owner":${uidsText(f.owners)},"uuid":${quote(f.uuid)}}`;

const URL = keyBytes("url");
const CMAC = keyBytes("cmac");
const CRYPTO_INFO = keyBytes("crypto_info");
const OWNER = keyBytes("owner");
const UUID = keyBytes("uuid");

/** `{"tag":<16 bytes>}` */
export function readTag(r: RecordReader): Buffer {
  r.open();
  r.key(K.tag);
  const t = r.bytes();
  r.close();
  return t.length === CMAC_LENGTH ? t : r.off();
}

/**
 * A version 2 file record's fields in the writer's exact shape, after its opening brace and up to
 * its closing one (see record-reader.ts).
 */
function readFileFields(r: RecordReader, input: boolean): InputFileRecord | OutputFileRecord {
  r.key(URL);
  const url = r.str();
  r.next(CMAC);
  const cmac = !input && r.isNull() ? null : readTag(r);
  r.next(CRYPTO_INFO);
  const crypto = readFileCrypto(r);
  r.next(OWNER);
  const owners = new Set(r.uids());
  r.next(UUID);
  const uuid = r.str();
  return { uuid, url, cmac, crypto, owners };
}

export const readInputFileFields = (r: RecordReader): InputFileRecord =>
  readFileFields(r, true) as InputFileRecord;
export const readOutputFileFields = (r: RecordReader): OutputFileRecord => readFileFields(r, false);

/** A file record nested in another (a task's assigned files). */
export function readInputFile(r: RecordReader): InputFileRecord {
  r.open();
  const f = readInputFileFields(r);
  r.close();
  return f;
}

export function readOutputFile(r: RecordReader): OutputFileRecord {
  r.open();
  const f = readOutputFileFields(r);
  r.close();
  return f;
}
