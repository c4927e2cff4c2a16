import { createHash } from "node:crypto";
import { isAbsolute, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { FileAgentError } from "./errors.js";

const KEPT = /[A-Za-z0-9_.-]/;
const MAX_NAME = 200;

/**
 * The exchange sub-directory of a user: the id with every byte outside `[A-Za-z0-9_.-]` (and a
 * leading `.`) written as `~hh`, so no id can name `.`, `..`, a hidden or nested directory, and
 * two ids never share a directory. An id whose encoding is longer than 200 characters is named
 * `~h` followed by its SHA-256 (a name no shorter id encodes to, since `h` is not a hex digit).
 */
export function userDirName(userId: string): string {
  let out = "";
  for (const byte of Buffer.from(userId, "utf8")) {
    const c = String.fromCharCode(byte);
    out +=
      byte < 0x80 && KEPT.test(c) && !(out === "" && c === ".")
        ? c
        : `~${byte.toString(16).padStart(2, "0")}`;
  }
  if (out === "") return "~";
  if (out.length > MAX_NAME) return `~h${createHash("sha256").update(userId, "utf8").digest("hex")}`;
  return out;
}

/** Where a `file:` URL points inside an exchange: the owner's directory name and the path below it. */
export interface ExchangePath {
  userDir: string;
  /** Path segments below the user's directory (at least one). */
  segments: string[];
}

/**
 * Lexical check of a `file:` URL against the exchange root: it must name a file below
 * `<root>/<userDirName(owner)>/` for one of `owners`. Symlinks are the node's concern (it
 * refuses any below the root); this is what the platform can check before a node sees the URL.
 */
export function exchangePath(url: string, root: string | undefined, owners: Iterable<string>): ExchangePath {
  if (root === undefined) throw new FileAgentError("FILE_URLS_DISABLED", "file URLs are disabled");
  let path: string;
  try {
    const u = new URL(url);
    if (u.protocol !== "file:") throw new Error("not a file URL");
    // fileURLToPath refuses a remote host and an encoded `/`; a NUL would end the path in C.
    path = fileURLToPath(u);
  } catch (e) {
    throw new FileAgentError("INVALID_URL", "invalid file URL", { cause: e });
  }
  if (path.includes("\0") || !isAbsolute(path)) throw new FileAgentError("INVALID_URL", "invalid file URL");
  const base = normalize(root).replace(/\/+$/, "");
  const target = normalize(path);
  if (!target.startsWith(base + sep))
    throw new FileAgentError("PATH_NOT_ALLOWED", "file URL outside the file exchange");
  const [userDir, ...segments] = target.slice(base.length + 1).split(sep);
  if (segments.length === 0 || segments.some((s) => s === "" || s === "." || s === ".."))
    throw new FileAgentError("PATH_NOT_ALLOWED", "file URL must name a file inside a user's directory");
  const mine = new Set([...owners].map(userDirName));
  if (!mine.has(userDir!)) throw new FileAgentError("NOT_OWNER", "file URL outside its owner's directory");
  return { userDir: userDir!, segments };
}
