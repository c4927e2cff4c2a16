import { createDecipheriv, createPrivateKey, webcrypto } from "node:crypto";
import { TaskFailure } from "@cloister/runtime";
import { parseArgs, t } from "../args.js";
import { decodeBase64 } from "../base64.js";
import type { Builtin } from "../builtin.js";
import { lines, rustTrim, utf8 } from "../text.js";

const echoArgs = { message: t.string() };

export const echo: Builtin = {
  name: "builtin-echo",
  descriptor: { summary: "returns its message argument", arguments: echoArgs, inputs: [], outputs: [] },
  async run(raw) {
    return parseArgs(echoArgs, raw).message;
  },
};

export const passwordCheck: Builtin = {
  name: "builtin-password-check",
  descriptor: {
    summary: "whether the first line of password appears in exposed_passwords (true/false)",
    arguments: {},
    inputs: ["password", "exposed_passwords"],
    outputs: [],
  },
  async run(_args, { runtime }) {
    const first = lines(utf8(await runtime.readInput("password")))[0];
    if (first === undefined) throw new TaskFailure("Empty password file");
    const candidate = rustTrim(first);
    const exposed = new Set(lines(utf8(await runtime.readInput("exposed_passwords"))).map(rustTrim));
    return exposed.has(candidate) ? "true" : "false";
  },
};

const rsaSignArgs = { data: t.string() };

function rsaKey(der: Buffer) {
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey({ key: der, format: "der", type: "pkcs1" });
  } catch {
    throw new TaskFailure("RSA key rejected: InvalidEncoding");
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048) throw new TaskFailure("RSA key rejected: TooSmall");
  if (bits > 4096) throw new TaskFailure("RSA key rejected: TooLarge");
  return key;
}

export const rsaSign: Builtin = {
  name: "builtin-rsa-sign",
  descriptor: {
    summary: "RSA PKCS#1 v1.5 SHA-256 signature (base64) of data with the PKCS#1 DER key rsa_key",
    arguments: rsaSignArgs,
    inputs: ["rsa_key"],
    outputs: [],
  },
  async run(raw, { runtime }) {
    const { data } = parseArgs(rsaSignArgs, raw);
    const key = rsaKey(await runtime.readInput("rsa_key"));
    // WebCrypto signs on libuv's thread pool, keeping a 4096-bit signature off the event loop.
    const pkcs8 = key.export({ format: "der", type: "pkcs8" });
    const algorithm = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    const cryptoKey = await webcrypto.subtle.importKey("pkcs8", pkcs8, algorithm, false, ["sign"]);
    const signature = await webcrypto.subtle.sign(algorithm.name, cryptoKey, Buffer.from(data, "utf8"));
    return Buffer.from(signature).toString("base64");
  },
};

const decryptArgs = { key: t.string(), nonce: t.string(), encrypted_data: t.string(), algorithm: t.string() };
const GCM_KEY_BYTES: Record<string, number> = { aes128gcm: 16, aes256gcm: 32 };

export const onlineDecrypt: Builtin = {
  name: "builtin_online_decrypt",
  descriptor: {
    summary:
      "AES-GCM decryption of base64 arguments (algorithm aes128gcm or aes256gcm); returns the UTF-8 plaintext",
    arguments: decryptArgs,
    inputs: [],
    outputs: [],
  },
  async run(raw) {
    const args = parseArgs(decryptArgs, raw);
    const key = decodeBase64(args.key);
    const nonce = decodeBase64(args.nonce);
    const sealed = decodeBase64(args.encrypted_data);
    const keyBytes = Object.hasOwn(GCM_KEY_BYTES, args.algorithm) ? GCM_KEY_BYTES[args.algorithm] : undefined;
    if (keyBytes === undefined) throw new TaskFailure("Invalid algorithm");
    if (key.length !== keyBytes || nonce.length < 12 || sealed.length < 16)
      throw new TaskFailure("decryption error");
    let plain: Buffer;
    try {
      const decipher = createDecipheriv(
        keyBytes === 16 ? "aes-128-gcm" : "aes-256-gcm",
        key,
        nonce.subarray(0, 12),
        {
          authTagLength: 16,
        },
      );
      decipher.setAuthTag(sealed.subarray(sealed.length - 16));
      plain = Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
    } catch {
      throw new TaskFailure("decryption error");
    }
    try {
      return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(plain);
    } catch {
      throw new TaskFailure("base64 decoded error");
    }
  },
};
