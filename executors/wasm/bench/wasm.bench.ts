// Benchmarks of the WebAssembly executor through its sandbox pool: cold start (a new pool until
// its first result), warm call latency and calls per second for a trivial function.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_LIMITS, type ExecutionRequest, MemoryTaskRuntime, measureExecutor } from "@cloister/runtime";
import { WasmExecutor } from "../src/executor.js";

const TRIVIAL_C = "int entrypoint(int argc, char **argv) { return argc; }\n";

function compileTrivial(): Buffer {
  const dir = mkdtempSync(join(tmpdir(), "cloister-bench-"));
  try {
    writeFileSync(join(dir, "f.c"), TRIVIAL_C);
    execFileSync("clang", [
      "--target=wasm32",
      "-O2",
      "-nostdlib",
      "-Wl,--no-entry",
      "-Wl,--export=entrypoint",
      "-o",
      join(dir, "f.wasm"),
      join(dir, "f.c"),
    ]);
    return readFileSync(join(dir, "f.wasm"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const runtime = new MemoryTaskRuntime();

export async function benchWasm(): Promise<Record<string, number>> {
  const payload = compileTrivial();
  const req = (): ExecutionRequest => ({
    taskId: "bench",
    functionName: "f",
    payload,
    executorType: "wamr",
    executor: "wamr",
    arguments: { a: "1" },
    runtime,
    limits: DEFAULT_LIMITS,
    signal: new AbortController().signal,
  });
  return { ...(await measureExecutor((poolSize) => new WasmExecutor({ poolSize }), req)) };
}
