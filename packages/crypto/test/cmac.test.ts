import assert from "node:assert/strict";
import { test } from "node:test";
import { aesCmac, cmacSubkeys, macEquals } from "../src/index.js";
import { refCmac } from "./reference.js";

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

// RFC 4493 §4 test vectors.
const KEY = h("2b7e1516 28aed2a6 abf71588 09cf4f3c");
const M64 = h(`6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51
               30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710`);
const VECTORS: [number, string][] = [
  [0, "bb1d6929 e9593728 7fa37d12 9b756746"],
  [16, "070a16b4 6b4d4144 f79bdd9d d04a287c"],
  [40, "dfa66747 de9ae630 30ca3261 1497c827"],
  [64, "51f0bebf 7e3b9d92 fc497417 79363cfe"],
];

test("RFC 4493 subkeys", () => {
  const { k1, k2 } = cmacSubkeys(KEY);
  assert.equal(k1.toString("hex"), "fbeed618357133667c85e08f7236a8de");
  assert.equal(k2.toString("hex"), "f7ddac306ae266ccf90bc11ee46d513b");
});

for (const [len, mac] of VECTORS) {
  test(`RFC 4493 example, message length ${len}`, () => {
    assert.deepEqual(aesCmac(KEY, M64.subarray(0, len)), h(mac));
    assert.deepEqual(refCmac(KEY, M64.subarray(0, len)), h(mac));
  });
}

test("AES-CMAC agrees with the reference for every length 0..80", () => {
  const key = h("000102030405060708090a0b0c0d0e0f");
  const msg = Buffer.from(Array.from({ length: 80 }, (_, i) => (i * 37 + 11) & 0xff));
  for (let n = 0; n <= 80; n++)
    assert.deepEqual(aesCmac(key, msg.subarray(0, n)), refCmac(key, msg.subarray(0, n)));
});

test("AES-CMAC rejects non-128-bit keys", () => {
  assert.throws(() => aesCmac(Buffer.alloc(32), Buffer.alloc(0)), RangeError);
});

test("macEquals: equal, different, different length", () => {
  assert.equal(macEquals(h("00112233"), h("00112233")), true);
  assert.equal(macEquals(h("00112233"), h("00112234")), false);
  assert.equal(macEquals(h("00112233"), h("001122")), false);
  assert.equal(macEquals(Buffer.alloc(0), Buffer.alloc(0)), true);
});
