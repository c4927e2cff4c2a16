import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { test } from "node:test";
import {
  BufferSink,
  computeCmac,
  decryptBuffer,
  decryptStream,
  deriveMetadataKey,
  encryptBuffer,
  encryptToSink,
  FileCryptoError,
  type FileCryptoFailure,
  ProtectedFileDecoder,
  ProtectedFileWriter,
  readProtectedFile,
  type TeaclaveFile128Info,
  verifyCmac,
} from "../src/index.js";
import { FIXTURES, refCmac, refDecode, refEncode } from "./reference.js";

const F = `${FIXTURES}functions/`;
const ZERO: TeaclaveFile128Info = { schema: "teaclave-file-128", key: Buffer.alloc(16) };

/** Every teaclave-file-128 fixture, its plaintext twin and (where the spec lists it) its cmac. */
const FIXTURE_FILES: [string, string, string | null][] = [
  [
    "ordered_set_intersect/psi0.txt.enc",
    "ordered_set_intersect/psi0.txt",
    "92f686d4ac2ba6b4ffd93bc7ac5dbf58",
  ],
  [
    "ordered_set_intersect/psi1.txt.enc",
    "ordered_set_intersect/psi1.txt",
    "8b3104972a6f0de949315e0b45d5dd66",
  ],
  ["py_logistic_reg/train.enc", "py_logistic_reg/train.txt", "00780510adc603725ec240ab979681f0"],
  ["py_logistic_reg/predict.enc", "py_logistic_reg/predict.txt", null],
  ["gbdt_training/train.enc", "gbdt_training/train.txt", "860030495909b84864b991865e9ad94f"],
  ["rsa_sign/rsakey.enc", "rsa_sign/key.der", "620c16ab588ca638f3b0a2692ab078cf"],
  [
    "private_join_and_compute/three_party_data/bank_a.enc",
    "private_join_and_compute/three_party_data/bank_a.txt",
    "f6a4585a4903f8dea0ee90ac84a50dba",
  ],
  [
    "private_join_and_compute/three_party_data/bank_b.enc",
    "private_join_and_compute/three_party_data/bank_b.txt",
    "ab6065314fcbacd6971ff55d3821b51e",
  ],
  [
    "private_join_and_compute/three_party_data/bank_c.enc",
    "private_join_and_compute/three_party_data/bank_c.txt",
    "9d7dbe465806731a43008ab094c97688",
  ],
  [
    "password_check/exposed_passwords.txt.enc",
    "password_check/exposed_passwords.txt",
    "a31dd0b7de0b6cc7e0dec1dcf7a46479",
  ],
  ["ordered_set_join/join0.csv.enc", "ordered_set_join/join0.csv", "3f91d2744763445d265ea469debb74f0"],
  ["ordered_set_join/join1.csv.enc", "ordered_set_join/join1.csv", "d1e5a520489c93d0254c8c22cdefab89"],
  ["wamr_rust_psi/psi0.txt.enc", "wamr_rust_psi/psi0.txt", null],
  ["wamr_rust_psi/psi1.txt.enc", "wamr_rust_psi/psi1.txt", null],
  ["wamr_tvm_mnist/img_10.jpg.enc", "wamr_tvm_mnist/img_10.jpg", null],
];

async function rejectsWith(p: Promise<unknown>, reason: FileCryptoFailure) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof FileCryptoError, String(e));
    assert.equal(e.reason, reason);
    return true;
  });
}

const content = (n: number, seed = 1) => {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
};

test("metadata key derivation matches the reference CMAC construction", () => {
  const key = randomBytes(16);
  const id = randomBytes(32);
  const block = Buffer.alloc(120);
  block.writeUInt32LE(1, 0);
  block.write("SGX-PROTECTED-FS-METADATA-KEY", 4);
  id.copy(block, 80);
  block.writeUInt32LE(0x80, 112);
  assert.deepEqual(deriveMetadataKey(key, id), refCmac(key, block));
});

for (const [enc, plain, cmac] of FIXTURE_FILES) {
  test(`fixture ${enc} decrypts to ${basename(plain)} with the all-zero user key`, async () => {
    const file = readFileSync(F + enc);
    const expected = readFileSync(F + plain);
    const claimed = file.subarray(80, 96);
    if (cmac !== null) assert.equal(claimed.toString("hex"), cmac);
    const r = await decryptBuffer(file, ZERO, { fileName: basename(enc), expectedCmac: claimed });
    assert.deepEqual(r.plaintext, expected);
    assert.deepEqual(r.cmac, claimed);
    // the independent decoder agrees
    const ref = refDecode(file, Buffer.alloc(16));
    assert.deepEqual(ref.plaintext, expected);
    assert.equal(ref.name, basename(enc));
  });
}

test("py_logistic_reg/train.enc has the documented shape: 9 nodes, size 27 929", async () => {
  const file = readFileSync(`${F}py_logistic_reg/train.enc`);
  assert.equal(file.length, 9 * 4096);
  const d = new ProtectedFileDecoder(ZERO.key);
  for (let i = 0; i < file.length; i += 4096) d.pushNode(file.subarray(i, i + 4096));
  const info = d.finish();
  assert.equal(info.size, 27_929);
  assert.equal(info.fileName, "train.enc");
});

test("fixtures: wrong name, wrong key and wrong cmac are refused", async () => {
  const file = readFileSync(`${F}ordered_set_intersect/psi0.txt.enc`);
  await rejectsWith(decryptBuffer(file, ZERO, { fileName: "psi0.txt" }), "name-mismatch");
  await rejectsWith(
    decryptBuffer(file, { schema: "teaclave-file-128", key: Buffer.alloc(16, 1) }),
    "metadata-auth",
  );
  await assert.rejects(
    decryptBuffer(file, ZERO, { expectedCmac: Buffer.alloc(16), path: "/x/psi0.txt.enc" }),
    {
      message: 'Corrupted input file: "/x/psi0.txt.enc"',
    },
  );
});

// Sizes around every boundary: empty, inside the metadata, first data node, a full first tree
// node, the second tree node, and (last) three tree levels (tree node 33's parent is node 1).
const SIZES = [
  0,
  1,
  3071,
  3072,
  3073,
  7168,
  7169,
  3072 + 96 * 4096,
  3072 + 96 * 4096 + 1,
  3072 + 200 * 4096 + 5,
];
const DEEP = 3072 + (33 * 96 + 3) * 4096 + 17;

for (const size of [...SIZES, DEEP]) {
  test(`interop at ${size} bytes: ours → independent decoder, independent encoder → ours`, async () => {
    const key = randomBytes(16);
    const info: TeaclaveFile128Info = { schema: "teaclave-file-128", key };
    const plain = content(size, size + 1);
    const ours = await encryptBuffer(plain, info, { fileName: "out.bin" });
    const ref = refDecode(ours.file, key);
    assert.deepEqual(ref.plaintext, plain);
    assert.equal(ref.name, "out.bin");
    assert.deepEqual(ref.cmac, ours.cmac);
    assert.deepEqual(ours.file.subarray(80, 96), ours.cmac);

    const theirs = refEncode(plain, key, "in.data");
    const back = await decryptBuffer(theirs.file, info, { fileName: "in.data", expectedCmac: theirs.cmac });
    assert.deepEqual(back.plaintext, plain);
    assert.deepEqual(back.cmac, theirs.cmac);
    assert.equal(theirs.file.length, ours.file.length);
  });
}

test("streaming reader: any chunking gives the same content, yielded node by node", async () => {
  const key = randomBytes(16);
  const plain = content(3072 + 100 * 4096 + 333, 9);
  const { file } = refEncode(plain, key, "s");
  for (const chunk of [1000, 4096, 4097, 65536]) {
    const chunks = (function* () {
      for (let i = 0; i < file.length; i += chunk) yield file.subarray(i, i + chunk);
    })();
    const parts: Buffer[] = [];
    for await (const p of readProtectedFile(chunks, key)) {
      assert.ok(p.length <= 4096);
      parts.push(Buffer.from(p));
    }
    assert.deepEqual(Buffer.concat(parts), plain);
  }
});

test("streaming writer: data written in odd chunks; writes land at node boundaries", async () => {
  const key = randomBytes(16);
  const plain = content(3072 + 97 * 4096 + 10, 3);
  const writes: [number, number][] = [];
  const sink = new BufferSink();
  const w = new ProtectedFileWriter(
    {
      write(data, position) {
        writes.push([position, data.length]);
        sink.write(data, position);
      },
    },
    key,
    { fileName: "chunky" },
  );
  for (let i = 0; i < plain.length; i += 777) await w.write(plain.subarray(i, i + 777));
  const { cmac, size } = await w.close();
  assert.equal(size, plain.length);
  for (const [pos, len] of writes) assert.ok(pos % 4096 === 0 && len % 4096 === 0);
  assert.deepEqual(refDecode(sink.contents, key).plaintext, plain);
  assert.deepEqual(refDecode(sink.contents, key).cmac, cmac);
  await assert.rejects(w.write(Buffer.alloc(1)));
});

test("two writes of the same content never reuse keys (ciphertexts differ)", async () => {
  const plain = content(20_000);
  const a = await encryptBuffer(plain, ZERO, { fileName: "f" });
  const b = await encryptBuffer(plain, ZERO, { fileName: "f" });
  for (let p = 0; p < a.file.length / 4096; p++) {
    const pa = a.file.subarray(p * 4096 + 16, p * 4096 + 96);
    const pb = b.file.subarray(p * 4096 + 16, p * 4096 + 96);
    assert.notDeepEqual(pa, pb);
  }
});

test("writer refuses names the format cannot hold and bad keys", async () => {
  await rejectsWith(encryptBuffer(Buffer.alloc(1), ZERO, { fileName: "x".repeat(259) }), "invalid-argument");
  await rejectsWith(encryptBuffer(Buffer.alloc(1), ZERO, { fileName: "" }), "invalid-argument");
  await rejectsWith(encryptBuffer(Buffer.alloc(1), ZERO, { fileName: "a\0b" }), "invalid-argument");
  await rejectsWith(encryptBuffer(Buffer.alloc(1), ZERO), "invalid-argument");
  const ok = await encryptBuffer(Buffer.alloc(1), ZERO, { fileName: "é".repeat(129) });
  assert.equal(refDecode(ok.file, ZERO.key).name, "é".repeat(129));
  assert.throws(
    () => new ProtectedFileWriter(new BufferSink(), Buffer.alloc(15), { fileName: "a" }),
    FileCryptoError,
  );
});

test("single-byte flips: every byte of a one-node file is protected", async () => {
  const { file } = await encryptBuffer(content(500), ZERO, { fileName: "small" });
  for (let i = 0; i < file.length; i++) {
    const bad = Buffer.from(file);
    bad[i] = bad[i]! ^ 0x40;
    await assert.rejects(decryptBuffer(bad, ZERO), FileCryptoError, `flip at ${i}`);
  }
});

test("single-byte flips sampled across header, metadata, tree and data nodes", async () => {
  const { file } = await encryptBuffer(content(3072 + 98 * 4096 + 100, 5), ZERO, { fileName: "multi" });
  const nodes = file.length / 4096;
  const positions = new Set<number>([0, 7, 8, 10, 11, 16, 47, 80, 95, 96, 3467, 3468, 4095]);
  for (let p = 1; p < nodes; p++) for (const off of [0, 1, 2048, 4095]) positions.add(p * 4096 + off);
  for (let i = 0; i < 200; i++) positions.add(Math.floor(Math.random() * file.length));
  for (const i of positions) {
    const bad = Buffer.from(file);
    bad[i] = bad[i]! ^ 0x01;
    await assert.rejects(decryptBuffer(bad, ZERO), FileCryptoError, `flip at ${i}`);
  }
});

test("tampering classification: header, metadata, tree, data", async () => {
  const { file } = await encryptBuffer(content(3072 + 2 * 4096, 5), ZERO, { fileName: "t" });
  const flip = (i: number) => {
    const b = Buffer.from(file);
    b[i] = b[i]! ^ 1;
    return b;
  };
  await rejectsWith(decryptBuffer(flip(0), ZERO), "bad-header");
  await rejectsWith(decryptBuffer(flip(11), ZERO), "bad-header");
  await rejectsWith(decryptBuffer(flip(20), ZERO), "metadata-auth");
  await rejectsWith(decryptBuffer(flip(85), ZERO), "metadata-auth");
  await rejectsWith(decryptBuffer(flip(1000), ZERO), "metadata-auth");
  await rejectsWith(decryptBuffer(flip(4096 + 5), ZERO), "node-auth");
  await rejectsWith(decryptBuffer(flip(2 * 4096 + 5), ZERO), "node-auth");
  // swapping two data nodes is caught too (each tag is bound to its slot)
  const swapped = Buffer.from(file);
  file.copy(swapped, 2 * 4096, 3 * 4096, 4 * 4096);
  file.copy(swapped, 3 * 4096, 2 * 4096, 3 * 4096);
  await rejectsWith(decryptBuffer(swapped, ZERO), "node-auth");
});

test("truncation and trailing data are refused", async () => {
  const { file } = await encryptBuffer(content(3072 + 5 * 4096 + 1, 5), ZERO, { fileName: "t" });
  for (const len of [0, 1, 4095, 4096, 4097, 2 * 4096, file.length - 4096, file.length - 1]) {
    await rejectsWith(decryptBuffer(file.subarray(0, len), ZERO), "truncated");
  }
  await rejectsWith(decryptBuffer(Buffer.concat([file, Buffer.alloc(1)]), ZERO), "trailing-data");
  await rejectsWith(decryptBuffer(Buffer.concat([file, Buffer.alloc(4096)]), ZERO), "trailing-data");
  const small = await encryptBuffer(Buffer.from("x"), ZERO, { fileName: "t" });
  await rejectsWith(decryptBuffer(Buffer.concat([small.file, Buffer.alloc(4096)]), ZERO), "trailing-data");
});

test("nothing unauthenticated is yielded before a corrupt node", async () => {
  const plain = content(3072 + 3 * 4096, 2);
  const { file } = await encryptBuffer(plain, ZERO, { fileName: "t" });
  const bad = Buffer.from(file);
  bad[3 * 4096 + 10] = bad[3 * 4096 + 10]! ^ 1; // data node 1
  const got: Buffer[] = [];
  await rejectsWith(
    (async () => {
      for await (const c of decryptStream([bad], ZERO)) got.push(c);
    })(),
    "node-auth",
  );
  assert.deepEqual(Buffer.concat(got), plain.subarray(0, 3072 + 4096));
});

test("cmac helpers: computeCmac / verifyCmac", async () => {
  const key = randomBytes(16);
  const info: TeaclaveFile128Info = { schema: "teaclave-file-128", key };
  const sink = new BufferSink();
  const { cmac } = await encryptToSink([content(9000)], sink, info, { fileName: "c" });
  assert.deepEqual(await computeCmac([sink.contents], info), cmac);
  assert.equal(await verifyCmac([sink.contents], info, cmac), true);
  const other = Buffer.from(cmac);
  other[3] = other[3]! ^ 1;
  assert.equal(await verifyCmac([sink.contents], info, other), false);
  const bad = Buffer.from(sink.contents);
  bad[5000] = bad[5000]! ^ 1;
  assert.equal(await verifyCmac([bad], info, cmac), false);
});
