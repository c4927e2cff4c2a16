// Runs inside the sandbox (@cloister/sandbox): loads pyodide once at pool fill, then runs one
// Teaclave payload. May import only node: builtins, this directory and pyodide's own files.
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { SandboxReply, WorkerJob } from "@cloister/sandbox";
import { SHIM_SOURCE } from "./shim.js";

/** What the host sends to `init` (workerOptions). */
export interface PythonWorkerOptions {
  /** Directory holding pyodide.mjs, pyodide.asm.wasm and python_stdlib.zip. */
  indexURL: string;
  /** Take and return a memory snapshot instead of serving a payload (see executor). */
  makeSnapshot?: boolean;
}

/** job.data for a payload run. */
export interface PythonJobData {
  dialect: "mesapy" | "python";
  argv: string[];
  /** Input names; blob `i<k>` holds input k, absent when the input could not be opened. */
  inputs: string[];
  outputs: string[];
}

interface PyCallable {
  (arg: string): string;
  destroy?(): void;
}

interface Pyodide {
  runPython(code: string, options?: { globals?: unknown }): unknown;
  unregisterJsModule(name: string): void;
  FS: {
    mkdirTree(path: string): void;
    writeFile(path: string, data: Uint8Array): void;
    readFile(path: string): Uint8Array;
  };
  globals: { get(name: string): (() => unknown) | undefined };
  makeMemorySnapshot?(): Uint8Array;
}

interface PyodideModule {
  loadPyodide(config: Record<string, unknown>): Promise<Pyodide>;
}

let runPayload: PyCallable | null = null;
let snapshot: Uint8Array | null = null;

const writeOut = (s: string) => process.stdout.write(`${s}\n`);
const writeErr = (s: string) => process.stderr.write(`${s}\n`);

export async function init(options: unknown, blobs?: Map<string, Buffer>): Promise<void> {
  const opts = options as PythonWorkerOptions;
  const { loadPyodide } = (await import(
    pathToFileURL(join(opts.indexURL, "pyodide.mjs")).href
  )) as PyodideModule;
  const preloaded = blobs?.get("snapshot");
  const pyodide = await loadPyodide({
    indexURL: `${opts.indexURL}/`,
    // A `js` module backed by an object without a prototype: no `.constructor` to climb to the
    // JS Function constructor. (Omitting the key would expose globalThis.)
    jsglobals: Object.create(null),
    env: { HOME: "/home/pyodide" },
    stdout: writeOut,
    stderr: writeErr,
    checkAPIVersion: true,
    ...(opts.makeSnapshot ? { _makeSnapshot: true } : {}),
    ...(preloaded ? { _loadSnapshot: preloaded } : {}),
  });
  if (opts.makeSnapshot) {
    // Warm the modules every payload run needs, so a snapshot start has them loaded.
    pyodide.runPython("import io, json, os, sys, types, functools");
    snapshot = pyodide.makeMemorySnapshot!();
    return;
  }
  pyodide.unregisterJsModule("js");
  pyodide.unregisterJsModule("pyodide_js");
  const freshDict = pyodide.globals.get("dict")!;
  runPayload = pyodide.runPython(SHIM_SOURCE, { globals: freshDict() }) as PyCallable;
  pyodide.FS.mkdirTree("/cloister/in");
  pyodide.FS.mkdirTree("/cloister/out");
  fs = pyodide.FS;
}

let fs: Pyodide["FS"] | null = null;

export async function run(job: WorkerJob): Promise<SandboxReply> {
  if (snapshot) return { data: { snapshot: true }, blobs: new Map([["snapshot", snapshot]]) };
  if (!runPayload || !fs) throw new Error("python worker not initialised");
  const data = job.data as PythonJobData;
  const payload = job.blobs.get("payload");
  if (!payload) throw new Error("no payload");
  fs.writeFile("/cloister/payload.py", payload);
  const inputs: Array<[string, string | null]> = data.inputs.map((name, k) => {
    const blob = job.blobs.get(`i${k}`);
    if (!blob) return [name, null];
    const path = `/cloister/in/${k}`;
    fs!.writeFile(path, blob);
    return [name, path];
  });
  const reply = JSON.parse(
    runPayload(
      JSON.stringify({
        dialect: data.dialect,
        argv: data.argv,
        payload: "/cloister/payload.py",
        inputs,
        outputs: data.outputs,
        outputDir: "/cloister/out",
      }),
    ),
  ) as { value: string; outputs: Array<[string, string]> };
  const blobs = new Map<string, Uint8Array>();
  const written: string[] = [];
  reply.outputs.forEach(([name, path], k) => {
    blobs.set(`o${k}`, fs!.readFile(path));
    written.push(name);
  });
  return { data: { value: reply.value, outputs: written }, blobs };
}
