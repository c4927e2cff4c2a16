/**
 * Throughput of every schema, encrypting and decrypting a stream of 1 MiB chunks through the
 * public streaming API. Encryption writes into a sink that only counts bytes and decryption reads
 * from memory, so neither disk speed nor buffer growth enters the numbers.
 */
import { performance } from "node:perf_hooks";
import {
  BufferSink,
  decryptStream,
  encryptToSink,
  FILE_CRYPTO_SCHEMAS,
  generateFileCryptoInfo,
  type PositionalSink,
} from "../src/index.js";

const MIB = 1024 * 1024;

function* chunks(data: Buffer): Generator<Buffer> {
  for (let i = 0; i < data.length; i += MIB) yield data.subarray(i, i + MIB);
}

const discard: PositionalSink = { write() {} };

function* repeated(chunk: Buffer, times: number): Generator<Buffer> {
  for (let i = 0; i < times; i++) yield chunk;
}

/**
 * Returns MiB/s keyed `<schema>.encrypt` / `<schema>.decrypt`, for a `mib`-MiB stream
 * (64 MiB by default).
 */
export async function benchCrypto(mib = 64): Promise<Record<string, number>> {
  const chunk = Buffer.alloc(MIB);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 2654435761) >>> 24;
  const result: Record<string, number> = {};
  for (const schema of FILE_CRYPTO_SCHEMAS) {
    const info = generateFileCryptoInfo(schema);
    const opts = { fileName: "bench.bin" };
    await encryptToSink(repeated(chunk, 1), discard, info, opts); // warm-up
    let t = performance.now();
    await encryptToSink(repeated(chunk, mib), discard, info, opts);
    result[`${schema}.encrypt`] = mib / ((performance.now() - t) / 1000);

    const sink = new BufferSink();
    const { cmac } = await encryptToSink(repeated(chunk, mib), sink, info, opts);
    const file = sink.contents;
    let bytes = 0;
    t = performance.now();
    for await (const out of decryptStream(chunks(file), info, { expectedCmac: cmac })) bytes += out.length;
    result[`${schema}.decrypt`] = mib / ((performance.now() - t) / 1000);
    if (bytes !== mib * MIB) throw new Error(`${schema}: decrypted ${bytes} bytes, expected ${mib * MIB}`);
  }
  for (const k of Object.keys(result)) result[k] = Math.round(result[k]! * 10) / 10;
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchCrypto(Number(process.argv[2] ?? 64)));
}
