import { mkdir, realpath } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { isAbsolute, normalize, relative, sep } from "node:path";
import { type EgressOptions, EgressPolicy } from "./egress.js";
import { FileAgentError } from "./errors.js";
import { exchangePath } from "./exchange.js";
import { type Resolver, send, systemResolver } from "./http.js";
import { createBelow, readBelow } from "./localfs.js";

export interface FileAgentOptions {
  /** Where `fusion:///TEACLAVE_FUSION_BASE/...` URLs live. */
  fusionBaseDir: string;
  /**
   * Root of the file exchange: a `file:` URL may name only `<exchangeDir>/<owner's directory>/…`
   * (see userDirName). Undefined disables `file:` URLs.
   */
  exchangeDir?: string | undefined;
  /** Directories no `file:` or `fusion:` URL may reach (the data directory); also refused as roots. */
  forbiddenDirs?: string[];
  /** Where http(s) URLs may go; the default reaches public addresses on ports 80 and 443 only. */
  egress?: EgressOptions | EgressPolicy;
  /** Host-name resolution (tests substitute one). */
  resolver?: Resolver;
  /** Per transfer, redirects included. */
  timeoutMs?: number;
  /** Largest file accepted, in bytes. */
  maxBytes?: number;
}

export interface TransferOptions {
  /** The file's owners (user ids): a `file:` URL must lie in one of their exchange directories. */
  owners?: Iterable<string>;
  signal?: AbortSignal | undefined;
}

const FUSION_PREFIX = "fusion:///TEACLAVE_FUSION_BASE/";
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

type Verb = "download" | "upload";

/**
 * Moves task files (ciphertext) between their URLs and the execution node's memory. Plaintext
 * never passes through here: decryption happens in memory after download, encryption before upload.
 */
export class FileAgent {
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly egress: EgressPolicy;
  private readonly resolver: Resolver;
  private roots?: Promise<{ exchange?: string; fusion: string }> | undefined;

  constructor(private readonly options: FileAgentOptions) {
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.maxBytes = options.maxBytes ?? 1 << 30;
    this.egress = options.egress instanceof EgressPolicy ? options.egress : new EgressPolicy(options.egress);
    this.resolver = options.resolver ?? systemResolver;
  }

  async download(url: string, options: TransferOptions = {}): Promise<Buffer> {
    const u = parse(url);
    switch (u.protocol) {
      case "http:":
      case "https:":
        return this.httpGet(u, options.signal);
      case "file:": {
        const { root, segments } = await this.filePath(url, options.owners);
        return readBelow(root, segments, this.maxBytes);
      }
      case "fusion:": {
        const { root, segments } = await this.fusionPath(url);
        return readBelow(root, segments, this.maxBytes);
      }
      case "data:":
        return this.decodeData(url);
      default:
        throw new FileAgentError("SCHEME_NOT_SUPPORTED", "Scheme not supported");
    }
  }

  async upload(url: string, data: Buffer, options: TransferOptions = {}): Promise<void> {
    const u = parse(url);
    switch (u.protocol) {
      case "http:":
      case "https:":
        return this.httpPut(u, data, options.signal);
      case "file:": {
        const { root, segments } = await this.filePath(url, options.owners);
        return createBelow(root, segments, data);
      }
      case "fusion:": {
        const { root, segments } = await this.fusionPath(url);
        return createBelow(root, segments, data);
      }
      default:
        throw new FileAgentError("SCHEME_NOT_SUPPORTED", "Scheme not supported");
    }
  }

  /**
   * Real paths of the roots (made if missing), resolved once; a root that contains a forbidden
   * directory is refused.
   */
  private resolvedRoots() {
    this.roots ??= (async () => {
      const real = (p: string) => realpath(p).catch(() => normalize(p));
      const made = async (p: string) => {
        await mkdir(p, { recursive: true, mode: 0o700 });
        return realpath(p);
      };
      const forbidden = await Promise.all((this.options.forbiddenDirs ?? []).map(real));
      const check = (root: string, what: string) => {
        for (const f of forbidden) {
          const rel = relative(root, f);
          if (rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel)))
            throw new FileAgentError("PATH_NOT_ALLOWED", `${what} contains a directory it must not reach`);
        }
        return root;
      };
      const exchange =
        this.options.exchangeDir === undefined
          ? undefined
          : check(await made(this.options.exchangeDir), "the file exchange");
      const fusion = check(await made(this.options.fusionBaseDir), "the fusion directory");
      return { ...(exchange === undefined ? {} : { exchange }), fusion };
    })();
    // A failure (say, a root that cannot be made yet) is not remembered: the next transfer retries.
    this.roots.catch(() => {
      this.roots = undefined;
    });
    return this.roots;
  }

  private async filePath(url: string, owners: Iterable<string> = []) {
    const { userDir, segments } = exchangePath(url, this.options.exchangeDir, owners);
    const { exchange } = await this.resolvedRoots();
    if (exchange === undefined) throw new FileAgentError("FILE_URLS_DISABLED", "file URLs are disabled");
    // No symlink is followed below the root (localfs.ts), so a root that holds no forbidden
    // directory cannot lead into one.
    return { root: exchange, segments: [userDir, ...segments] };
  }

  private async fusionPath(url: string) {
    if (!url.startsWith(FUSION_PREFIX)) throw new FileAgentError("INVALID_URL", "invalid fusion URL");
    let rel: string;
    try {
      rel = decodeURIComponent(url.slice(FUSION_PREFIX.length).split(/[?#]/)[0]!);
    } catch {
      throw new FileAgentError("INVALID_URL", "invalid fusion URL");
    }
    const segments = rel.split("/");
    if (segments.some((s) => s === "" || s === "." || s === ".." || s.includes("\0")))
      throw new FileAgentError("PATH_NOT_ALLOWED", "path not allowed");
    return { root: (await this.resolvedRoots()).fusion, segments };
  }

  private async httpGet(start: URL, outer?: AbortSignal): Promise<Buffer> {
    const { signal, timedOut } = this.signal(outer);
    let url = start;
    for (let hop = 0; ; hop++) {
      const res = await this.request("download", url, { method: "GET", signal }, outer, timedOut);
      const location = res.headers.location;
      if (REDIRECTS.has(res.statusCode ?? 0) && location !== undefined) {
        res.resume();
        if (hop >= this.egress.maxRedirects)
          throw new FileAgentError("TOO_MANY_REDIRECTS", "download failed: too many redirects");
        try {
          url = new URL(location, url);
        } catch {
          throw new FileAgentError("INVALID_URL", "download failed: invalid redirect location");
        }
        continue;
      }
      return this.readBody(res, outer, timedOut);
    }
  }

  private async readBody(res: IncomingMessage, outer: AbortSignal | undefined, timedOut: () => boolean) {
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) {
      res.resume();
      throw new FileAgentError("HTTP_STATUS", `download failed: HTTP status ${status}`);
    }
    const tooLarge = () =>
      new FileAgentError("TOO_LARGE", `download failed: file larger than ${this.maxBytes} bytes`);
    if (Number(res.headers["content-length"] ?? "0") > this.maxBytes) {
      res.destroy();
      throw tooLarge();
    }
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        total += chunk.length;
        if (total > this.maxBytes) {
          res.destroy();
          throw tooLarge();
        }
        chunks.push(chunk);
      }
    } catch (e) {
      throw this.failure("download", e, outer, timedOut);
    }
    return Buffer.concat(chunks, total);
  }

  private async httpPut(u: URL, data: Buffer, outer?: AbortSignal): Promise<void> {
    const { signal, timedOut } = this.signal(outer);
    const res = await this.request(
      "upload",
      u,
      {
        method: "PUT",
        headers: { "Content-Type": "application/x-binary", "Content-Length": String(data.length) },
        body: data,
        signal,
      },
      outer,
      timedOut,
    );
    res.resume();
    // Only 200 counts, as in the legacy agent: 201/204 are failures (spec/executors-and-files.md §8);
    // a redirect is not followed, so a PUT never lands anywhere the policy did not check.
    if (res.statusCode !== 200)
      throw new FileAgentError("HTTP_STATUS", `upload failed: HTTP status ${res.statusCode}`);
  }

  private async request(
    verb: Verb,
    url: URL,
    init: Parameters<typeof send>[1],
    outer: AbortSignal | undefined,
    timedOut: () => boolean,
  ): Promise<IncomingMessage> {
    try {
      return await send(url, init, this.egress, this.resolver);
    } catch (e) {
      throw this.failure(verb, e, outer, timedOut);
    }
  }

  /** The caller's cancellation passes through unchanged; everything else becomes a FileAgentError. */
  private failure(verb: Verb, e: unknown, outer: AbortSignal | undefined, timedOut: () => boolean): unknown {
    if (outer?.aborted) return outer.reason ?? e;
    if (timedOut()) return new FileAgentError("TIMEOUT", `${verb} failed: timed out`, { cause: e });
    if (e instanceof FileAgentError)
      return e.message.startsWith(verb)
        ? e
        : new FileAgentError(e.code, `${verb} failed: ${e.message}`, { cause: e });
    const code = (e as NodeJS.ErrnoException).code;
    return new FileAgentError("NETWORK", `${verb} failed: ${code ?? "network error"}`, { cause: e });
  }

  private decodeData(url: string): Buffer {
    const comma = url.indexOf(",");
    if (comma < 0 || url.indexOf(",", comma + 1) >= 0 || url.slice(5, comma) !== "text/plain;base64") {
      throw new FileAgentError("SCHEME_NOT_SUPPORTED", "Scheme not supported");
    }
    const b64 = url.slice(comma + 1);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
      throw new FileAgentError("INVALID_URL", "download failed: invalid base64 in data URL");
    }
    const data = Buffer.from(b64, "base64");
    if (data.length > this.maxBytes)
      throw new FileAgentError("TOO_LARGE", `download failed: file larger than ${this.maxBytes} bytes`);
    return data;
  }

  private signal(outer?: AbortSignal) {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    return {
      signal: outer ? AbortSignal.any([outer, timeout]) : timeout,
      timedOut: () => timeout.aborted,
    };
  }
}

function parse(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new FileAgentError("INVALID_URL", "invalid URL");
  }
}

/** Last segment of the URL path (query excluded, percent-encoding kept), as the legacy agent names files. */
export function urlBasename(url: string): string {
  const u = parse(url);
  const segment = u.pathname.split("/").pop();
  if (!segment) throw new FileAgentError("INVALID_URL", `Cannot get filename from url: ${url}`);
  return segment;
}
