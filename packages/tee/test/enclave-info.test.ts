import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AttestationError } from "@cloister/core";
import {
  acceptedFromEnclaveInfo,
  generateAuditorKey,
  parseEnclaveInfo,
  renderEnclaveInfo,
  signEnclaveInfo,
  verifyEnclaveInfoSignatures,
} from "../src/index.js";
import { fixture } from "./helpers.js";

const A = "a".repeat(64);
const B = "0123456789abcdef".repeat(4);

describe("enclave_info.toml", () => {
  test("renders the shape: sorted tables, lowercase hex, legacy key alignment", () => {
    const text = renderEnclaveInfo({
      teaclave_scheduler_service: { mrEnclave: Buffer.from(B, "hex"), mrSigner: A.toUpperCase() },
      teaclave_authentication_service: { mrEnclave: A, mrSigner: B },
    });
    assert.equal(
      text,
      `[teaclave_authentication_service]\nmr_enclave = "${A}"\nmr_signer  = "${B}"\n\n` +
        `[teaclave_scheduler_service]\nmr_enclave = "${B}"\nmr_signer  = "${A}"\n`,
    );
    assert.deepEqual(parseEnclaveInfo(text), {
      teaclave_authentication_service: { mrEnclave: A, mrSigner: B },
      teaclave_scheduler_service: { mrEnclave: B, mrSigner: A },
    });
  });

  test("a single table has exactly the fixture's line layout", () => {
    const fx = fixture("enclave_info.toml").toString("utf8");
    const rendered = renderEnclaveInfo({ teaclave_authentication_service: { mrEnclave: A, mrSigner: B } });
    const shape = (s: string) => s.replace(/"[^"]*"/g, '"…"');
    assert.equal(shape(rendered), shape(fx));
  });

  test("parse rejects what legacy clients could not use", () => {
    // The fixture holds placeholder strings, not hex.
    assert.throws(() => parseEnclaveInfo(fixture("enclave_info.toml")), {
      name: "ConfigError",
      message: /hex/,
    });
    assert.throws(() => parseEnclaveInfo(`[x]\nmr_enclave = "${A.toUpperCase()}"\nmr_signer = "${A}"\n`), {
      name: "ConfigError",
    });
    assert.throws(() => parseEnclaveInfo(`[x]\nmr_enclave = "${A}"\n`), { name: "ConfigError" });
    assert.throws(() => parseEnclaveInfo(`[x]\nmr_enclave = "${A}"\nmr_signer = "${A}"\nextra = 1\n`), {
      name: "ConfigError",
    });
    assert.throws(() => parseEnclaveInfo("[x"), { name: "ConfigError" });
    assert.throws(() => renderEnclaveInfo({ "bad name": { mrEnclave: A, mrSigner: A } }), {
      name: "ConfigError",
    });
    assert.throws(() => renderEnclaveInfo({ x: { mrEnclave: "abc", mrSigner: A } }), { name: "ConfigError" });
  });

  test("acceptedFromEnclaveInfo picks named tables", () => {
    const info = parseEnclaveInfo(
      renderEnclaveInfo({ a: { mrEnclave: A, mrSigner: B }, b: { mrEnclave: B, mrSigner: A } }),
    );
    assert.deepEqual(acceptedFromEnclaveInfo(info, ["b"]), [{ name: "b", mrEnclave: B, mrSigner: A }]);
    assert.throws(() => acceptedFromEnclaveInfo(info, ["c"]), { name: "ConfigError" });
  });
});

describe("auditor signatures", () => {
  test("sign and verify", async () => {
    // 2048-bit keys keep the test fast; the default (4096, as the legacy demo auditors) is
    // checked once below.
    const [k1, k2, k3] = await Promise.all([1, 2, 3].map(() => generateAuditorKey({ modulusLength: 2048 })));
    assert.match(k1!.publicKeyPem, /^-----BEGIN RSA PUBLIC KEY-----/);
    const info = Buffer.from(renderEnclaveInfo({ teaclave_frontend_service: { mrEnclave: A, mrSigner: B } }));
    const s1 = signEnclaveInfo(info, k1!.privateKeyPem);
    const s2 = signEnclaveInfo(info, k2!.privateKeyPem);
    assert.equal(s1.length, 256);

    verifyEnclaveInfoSignatures(info, [s1, s2], [k1!.publicKeyPem, k2!.publicKeyPem, k3!.publicKeyPem]);
    verifyEnclaveInfoSignatures(info, [s2], [k1!.publicKeyPem, k2!.publicKeyPem]);
    verifyEnclaveInfoSignatures(info, [], [k1!.publicKeyPem]); // vacuous, as in the legacy rule
    assert.throws(
      () => verifyEnclaveInfoSignatures(info, [], [k1!.publicKeyPem], { minSignatures: 1 }),
      AttestationError,
    );

    // More signatures than keys.
    assert.throws(
      () => verifyEnclaveInfoSignatures(info, [s1, s1], [k1!.publicKeyPem]),
      /only 1 auditor keys/,
    );
    // A signature by a key that is not an auditor.
    assert.throws(
      () => verifyEnclaveInfoSignatures(info, [s1], [k2!.publicKeyPem, k3!.publicKeyPem]),
      AttestationError,
    );
    // Any change to the file.
    const changed = Buffer.from(info);
    changed[changed.length - 2] = changed[changed.length - 2]! ^ 1;
    assert.throws(() => verifyEnclaveInfoSignatures(changed, [s1], [k1!.publicKeyPem]), AttestationError);
    // A non-RSA key is refused as an auditor key.
    const { generateKeyPairSync } = await import("node:crypto");
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({
      format: "pem",
      type: "spki",
    }) as string;
    assert.throws(() => verifyEnclaveInfoSignatures(info, [s1], [ec]), { name: "ConfigError" });
  });

  test("default auditor key is RSA 4096 with 512-byte signatures", async () => {
    const k = await generateAuditorKey();
    const sig = signEnclaveInfo("x", k.privateKeyPem);
    assert.equal(sig.length, 512);
    verifyEnclaveInfoSignatures("x", [sig], [k.publicKeyPem]);
  });

  test("fixture auditor signatures do not verify under an unrelated key", async () => {
    const info = fixture("enclave_info.toml");
    const k = await generateAuditorKey({ modulusLength: 2048 });
    for (const name of ["albus_dumbledore", "godzilla", "optimus_prime"]) {
      const sig = fixture(`auditors/${name}.sign.sha256`);
      // The shipped files are placeholders (their own file name), not 512-byte signatures.
      assert.equal(sig.toString("utf8"), `${name}.sign.sha256`);
      assert.throws(() => verifyEnclaveInfoSignatures(info, [sig], [k.publicKeyPem]), AttestationError);
    }
  });
});
