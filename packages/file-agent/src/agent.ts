import { constants } from "node:fs";
import { mkdir, open, realpath } from "node:fs/promises";
import { dirname, isAbsolute, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";

export interface FileAgentOptions {
  /** Where `fusion:///TEACLAVE_FUSION_BASE/...` URLs live. */
  fusionBaseDir: string;
  /**
   * Directories `file:` URLs may point into. A `file:` URL reads or writes the execution host's
   * disk, so it is confined; an empty list disables the scheme.
   */
  fileRoots: string[];
  /** Directories `file:` and `fusion:` URLs must never reach, even inside a root (e.g. the data dir). */
  forbiddenDirs?: string[];
  /** Per transfer. */
  timeoutMs?: number;
  /** Largest file accepted, in bytes. */
  maxBytes?: number;
}

/** A download or upload that failed; the message becomes the task's failure reason. */
export class FileAgentError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FileAgentError";
  }
}

const FUSION_PREFIX = "fusion:///TEACLAVE_FUSION_BASE/";

/**
 * Moves task files (ciphertext) between their URLs and the execution node's memory. Plaintext
 * never passes through here: decryption happens in memory after download, encryption before upload.
 */
export class FileAgent {
  private readonly timeoutMs: number;
  private readonly maxBytes: number;

  constructor(private readonly options: FileAgentOptions) {
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.maxBytes = options.maxBytes ?? 1 << 30;
  }

  async download(url: string, signal?: AbortSignal): Promise<Buffer> {
    const u = parse(url);
    switch (u.protocol) {
      case "http:":
      case "https:":
        return this.httpGet(u, signal);
      case "file:":
        return this.readLocal(await this.confine(fileURLToPath(u), this.options.fileRoots, url));
      case "fusion:":
        return this.readLocal(await this.fusionPath(url));
      case "data:":
        return this.decodeData(url);
      default:
        throw new FileAgentError("Scheme not supported");
    }
  }

  async upload(url: string, data: Buffer, signal?: AbortSignal): Promise<void> {
    const u = parse(url);
    switch (u.protocol) {
      case "http:":
      case "https:":
        return this.httpPut(u, data, signal);
      case "file:":
        return this.writeLocal(await this.confine(fileURLToPath(u), this.options.fileRoots, url), data);
      case "fusion:":
        return this.writeLocal(await this.fusionPath(url), data);
      default:
        throw new FileAgentError("Scheme not supported");
    }
  }

  private async httpGet(u: URL, signal?: AbortSignal): Promise<Buffer> {
    const res = await fetch(u, { redirect: "follow", signal: this.signal(signal) }).catch((e: Error) => {
      throw new FileAgentError(`download failed: ${e.message}`, { cause: e });
    });
    if (res.status < 200 || res.status > 299) {
      await res.body?.cancel();
      throw new FileAgentError(`download failed: HTTP status ${res.status}`);
    }
    const declared = Number(res.headers.get("content-length") ?? "0");
    if (declared > this.maxBytes) {
      await res.body?.cancel();
      throw new FileAgentError(`download failed: file larger than ${this.maxBytes} bytes`);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    if (res.body) {
      for await (const chunk of res.body) {
        total += chunk.byteLength;
        if (total > this.maxBytes)
          throw new FileAgentError(`download failed: file larger than ${this.maxBytes} bytes`);
        chunks.push(Buffer.from(chunk));
      }
    }
    return Buffer.concat(chunks, total);
  }

  private async httpPut(u: URL, data: Buffer, signal?: AbortSignal): Promise<void> {
    const res = await fetch(u, {
      method: "PUT",
      headers: { "Content-Type": "application/x-binary", "Content-Length": String(data.length) },
      body: new Uint8Array(data),
      signal: this.signal(signal),
    }).catch((e: Error) => {
      throw new FileAgentError(`upload failed: ${e.message}`, { cause: e });
    });
    await res.body?.cancel();
    // Only 200 counts, as in the legacy agent: 201/204 are failures.
    if (res.status !== 200) throw new FileAgentError(`upload failed: HTTP status ${res.status}`);
  }

  private decodeData(url: string): Buffer {
    const comma = url.indexOf(",");
    if (comma < 0 || url.indexOf(",", comma + 1) >= 0 || url.slice(5, comma) !== "text/plain;base64") {
      throw new FileAgentError("Scheme not supported");
    }
    const b64 = url.slice(comma + 1);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
      throw new FileAgentError("download failed: invalid base64 in data URL");
    }
    return Buffer.from(b64, "base64");
  }

  private async fusionPath(url: string): Promise<string> {
    if (!url.startsWith(FUSION_PREFIX)) throw new FileAgentError(`invalid fusion URL: ${url}`);
    const rel = decodeURIComponent(url.slice(FUSION_PREFIX.length));
    return this.confine(join(this.options.fusionBaseDir, rel), [this.options.fusionBaseDir], url);
  }

  /** Resolve symlinks and refuse anything outside the allowed roots or inside a forbidden dir. */
  private async confine(path: string, roots: string[], url: string): Promise<string> {
    if (!isAbsolute(path)) throw new FileAgentError(`path not allowed: ${url}`);
    const target = normalize(path);
    let real = target;
    try {
      real = join(await realpath(dirname(target)), target.slice(dirname(target).length));
    } catch {
      // The directory may not exist yet for an upload; the normalised path is checked instead.
    }
    const inside = (dir: string) => real === dir || real.startsWith(dir.endsWith(sep) ? dir : dir + sep);
    const resolvedRoots = await Promise.all(roots.map((r) => realpath(r).catch(() => normalize(r))));
    const forbidden = await Promise.all(
      (this.options.forbiddenDirs ?? []).map((r) => realpath(r).catch(() => normalize(r))),
    );
    if (!resolvedRoots.some(inside) || forbidden.some(inside))
      throw new FileAgentError(`path not allowed: ${url}`);
    return real;
  }

  private async readLocal(path: string): Promise<Buffer> {
    // O_NOFOLLOW: the last component must not be a symlink planted after the confinement check.
    const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW).catch((e: Error) => {
      throw new FileAgentError(`download failed: ${(e as NodeJS.ErrnoException).code ?? e.message}`, {
        cause: e,
      });
    });
    try {
      const { size } = await fh.stat();
      if (size > this.maxBytes)
        throw new FileAgentError(`download failed: file larger than ${this.maxBytes} bytes`);
      return await fh.readFile();
    } finally {
      await fh.close();
    }
  }

  private async writeLocal(path: string, data: Buffer): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    // The target must not exist (legacy rule): O_EXCL makes that check and the create one step.
    const fh = await open(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    ).catch((e: Error) => {
      throw new FileAgentError(`upload failed: ${(e as NodeJS.ErrnoException).code ?? e.message}`, {
        cause: e,
      });
    });
    try {
      await fh.writeFile(data);
    } finally {
      await fh.close();
    }
  }

  private signal(outer?: AbortSignal): AbortSignal {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    return outer ? AbortSignal.any([outer, timeout]) : timeout;
  }
}

function parse(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new FileAgentError(`invalid URL: ${url}`);
  }
}

/** Last segment of the URL path (query excluded, percent-encoding kept), as the legacy agent names files. */
export function urlBasename(url: string): string {
  const u = parse(url);
  const segment = u.pathname.split("/").pop();
  if (!segment) throw new FileAgentError(`Cannot get filename from url: ${url}`);
  return segment;
}
