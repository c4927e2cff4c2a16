// Builds the test payloads from source at test time with the Debian toolchains (clang/lld for C,
// rustc + libstd-rust-dev-wasm32 for Rust). A missing tool fails the test and names the package.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const PAYLOADS = new URL("../../test/payloads/", import.meta.url).pathname;
/** The Teaclave test vectors, kept in the repository under `fixtures/teaclave`. */
export const FIXTURES = new URL("../../../../fixtures/teaclave/", import.meta.url).pathname;

const cache = new Map<string, Uint8Array>();

function run(tool: string, args: string[], pkg: string): void {
  try {
    execFileSync(tool, args, { stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    if (err.code === "ENOENT") throw new Error(`${tool} not found: install the Debian package ${pkg}`);
    throw new Error(`${tool} failed (Debian package ${pkg}):\n${err.stderr?.toString() ?? err.message}`);
  }
}

function build(key: string, make: (dir: string, out: string) => void): Uint8Array {
  const hit = cache.get(key);
  if (hit) return hit;
  const dir = mkdtempSync(join(tmpdir(), "cloister-wasm-"));
  try {
    const out = join(dir, "payload.wasm");
    make(dir, out);
    const bytes = new Uint8Array(readFileSync(out));
    cache.set(key, bytes);
    return bytes;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A freestanding C payload. */
export function compileC(file: string): Uint8Array {
  return build(`c:${file}`, (_dir, out) => {
    if (!existsSync("/usr/bin/wasm-ld") && !existsSync("/usr/lib/llvm-14/bin/wasm-ld")) {
      throw new Error("wasm-ld not found: install the Debian package lld");
    }
    run(
      "clang",
      [
        "--target=wasm32",
        "-O2",
        "-nostdlib",
        "-Wl,--no-entry",
        "-Wl,--allow-undefined",
        "-Wl,--export=entrypoint",
        "-o",
        out,
        join(PAYLOADS, file),
      ],
      "clang (and lld)",
    );
  });
}

/**
 * A Rust cdylib payload. Debian's rustc (/usr/bin/rustc) matches libstd-rust-dev-wasm32; a
 * rustup toolchain earlier on PATH usually lacks the wasm32 standard library.
 */
export function compileRust(file: string): Uint8Array {
  const rustc = process.env.RUSTC ?? (existsSync("/usr/bin/rustc") ? "/usr/bin/rustc" : "rustc");
  return build(`rs:${file}`, (_dir, out) => {
    run(
      rustc,
      [
        "--target",
        "wasm32-unknown-unknown",
        "--crate-type",
        "cdylib",
        "-O",
        "-C",
        "debuginfo=0",
        "-o",
        out,
        join(PAYLOADS, file),
      ],
      "rustc and libstd-rust-dev-wasm32",
    );
  });
}

export function fixture(path: string): Buffer {
  return readFileSync(join(FIXTURES, path));
}
