// Where the console puts a user's encrypted files so the platform can fetch them through a
// `file:` URL: the platform's exchange directory, one sub-directory per owner, named the way the
// execution node checks it.
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { userDirName } from "@cloister/file-agent";

/** A fresh file name under the user's directory; the user's label is kept readable but sanitised. */
export async function newExchangePath(
  exchangeDir: string,
  userId: string,
  label: string,
): Promise<{ path: string; url: string }> {
  const dir = join(exchangeDir, userDirName(userId));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const clean =
    label
      .replace(/[^A-Za-z0-9_.-]/g, "_")
      .replace(/^\.+/, "")
      .slice(0, 64) || "file";
  const path = join(dir, `${randomBytes(6).toString("hex")}-${clean}`);
  return { path, url: pathToFileURL(path).href };
}

export async function writeExchangeFile(path: string, bytes: Uint8Array): Promise<void> {
  await writeFile(path, bytes, { flag: "wx", mode: 0o600 });
}
