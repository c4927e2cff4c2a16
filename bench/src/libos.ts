// The LibOS executor per backend and runtime: cold start (no pool: launch, attest, run), pooled
// task latency (an attested instance already waiting), tasks/s of a concurrent burst (each task
// needs a fresh instance, so this includes boots), and how long a cancel takes to end a task.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LibosExecutor } from "@cloister/executor-libos";
import {
  AGENT_PATH,
  type BackendKind,
  BwrapBackend,
  buildImage,
  GvisorBackend,
  type RuntimeName,
  SimEvidenceIssuer,
} from "@cloister/libos";
import { type ExecutionRequest, MemoryTaskRuntime } from "@cloister/runtime";
import { AttestedIdentity, loadReleaseSigner, SimAttestationService, SimTeeProvider } from "@cloister/tee";
import { percentile } from "./stats.js";

const work = mkdtempSync(join(tmpdir(), "cloister-bench-libos-"));
const cache = join(tmpdir(), "cloister-libos-test-images");
const goEnv = { ...process.env, CGO_ENABLED: "0", GO111MODULE: "off", GOCACHE: join(work, "go-cache") };

function goBinary(name: string, body: string): Buffer {
  writeFileSync(join(work, `${name}.go`), `package main\n${body}\n`);
  execFileSync("go", ["build", "-o", join(work, name), join(work, `${name}.go`)], { env: goEnv });
  return readFileSync(join(work, name));
}

function payloads(): Record<RuntimeName, Buffer> {
  writeFileSync(
    join(work, "Main.java"),
    'public class Main { public static void main(String[] a) { System.out.print("hello"); } }\n',
  );
  execFileSync("javac", ["-d", work, join(work, "Main.java")]);
  writeFileSync(join(work, "manifest.txt"), "Main-Class: Main\n");
  execFileSync("jar", ["cfm", join(work, "hello.jar"), join(work, "manifest.txt"), "-C", work, "Main.class"]);
  return {
    static: goBinary("hello", 'import "fmt"\nfunc main() { fmt.Print("hello") }'),
    python3: Buffer.from("import numpy as np\nprint(float(np.arange(4).sum()))\n"),
    java: readFileSync(join(work, "hello.jar")),
  };
}

async function nodeTrust() {
  const dataDir = mkdtempSync(join(work, "node-"));
  const attestation = await SimAttestationService.loadOrCreate(dataDir);
  const mrSigner = await loadReleaseSigner(dataDir);
  const provider = await SimTeeProvider.create({ dataDir, mrEnclave: Buffer.alloc(32, 3) });
  const identity = await AttestedIdentity.create({ provider, attestationService: attestation });
  return {
    dataDir,
    attestation,
    mrSigner,
    identity,
    asRootCa: readFileSync(join(dataDir, "as_root_ca.pem"), "utf8"),
  };
}
type Trust = Awaited<ReturnType<typeof nodeTrust>>;

let executors = 0;
async function executorFor(
  t: Trust,
  kind: BackendKind,
  runtime: RuntimeName,
  poolSize: number,
): Promise<LibosExecutor> {
  const stateDir = join(t.dataDir, `state-${executors++}`);
  const backend = kind === "gvisor" ? new GvisorBackend({ stateDir }) : new BwrapBackend({ stateDir });
  const image = await buildImage(runtime, AGENT_PATH, cache);
  const policy = join(t.dataDir, `policy-${runtime}.json`);
  writeFileSync(
    policy,
    JSON.stringify({ runtime, asRootCa: t.asRootCa, nodeMrSigners: [t.mrSigner.toString("hex")] }),
  );
  const p = await backend.prepare(image, policy);
  const name = `libos_${kind}_${runtime}`;
  const issuer = new SimEvidenceIssuer(t.attestation, t.mrSigner);
  const session = () => ({
    runtime: p,
    runtimeName: name,
    issuer,
    trust: { asRootCa: t.asRootCa, accepted: [{ name, mrEnclave: p.measurement, mrSigner: t.mrSigner }] },
    credentials: t.identity.current(),
  });
  return new LibosExecutor({
    backend,
    runtimes: { [runtime]: { session } },
    poolSize,
    memoryBytes: 256 << 20,
  });
}

const request = (payload: Buffer, signal = new AbortController().signal): ExecutionRequest => ({
  taskId: `bench-${Math.random().toString(16).slice(2)}`,
  functionName: "bench",
  payload,
  executorType: "libos",
  executor: "libos",
  arguments: {},
  argv: [],
  runtime: new MemoryTaskRuntime(),
  limits: { timeoutMs: 60_000, memoryBytes: 256 << 20, maxReturnBytes: 1 << 20 },
  signal,
});

async function waitIdle(e: LibosExecutor, runtime: RuntimeName): Promise<void> {
  for (let i = 0; i < 600 && e.idle(runtime) < 1; i++) await new Promise((r) => setTimeout(r, 50));
}

export async function benchLibos(options: { backends?: BackendKind[]; warm?: number; burst?: number } = {}) {
  const t = await nodeTrust();
  const bin = payloads();
  const sleeper = goBinary("sleeper", 'import "time"\nfunc main() { time.Sleep(time.Hour) }');
  const out: Record<string, number> = {};
  try {
    for (const kind of options.backends ?? (["gvisor", "bwrap"] as const)) {
      for (const runtime of ["static", "python3", "java"] as const) {
        const cold = await executorFor(t, kind, runtime, 0);
        let t0 = performance.now();
        try {
          await cold.execute(request(bin[runtime]));
          out[`${kind} ${runtime}: cold start ms`] = performance.now() - t0;
        } finally {
          await cold.close();
        }

        const warm = await executorFor(t, kind, runtime, 2);
        await warm.start();
        try {
          const samples: number[] = [];
          for (let i = 0; i < (options.warm ?? 6); i++) {
            await waitIdle(warm, runtime);
            t0 = performance.now();
            await warm.execute(request(bin[runtime]));
            samples.push(performance.now() - t0);
          }
          out[`${kind} ${runtime}: pooled task p50 ms`] = percentile(samples, 50);
          const n = options.burst ?? 6;
          await waitIdle(warm, runtime);
          t0 = performance.now();
          await Promise.all(Array.from({ length: n }, () => warm.execute(request(bin[runtime]))));
          out[`${kind} ${runtime}: tasks/s (burst of ${n}, 2 pooled)`] =
            n / ((performance.now() - t0) / 1000);
        } finally {
          // Even when a figure fails, nothing of an instance may outlive the bench.
          await warm.close();
        }
      }
      const ex = await executorFor(t, kind, "static", 1);
      await ex.start();
      try {
        const samples: number[] = [];
        for (let i = 0; i < 4; i++) {
          const c = new AbortController();
          const run = ex.execute(request(sleeper, c.signal)).catch(() => undefined);
          await new Promise((r) => setTimeout(r, 1000));
          const t0 = performance.now();
          c.abort(new Error("cancel"));
          await run;
          samples.push(performance.now() - t0);
        }
        out[`${kind}: cancel → task failed p50 ms`] = percentile(samples, 50);
      } finally {
        await ex.close();
      }
    }
  } finally {
    t.identity.close();
  }
  return out;
}
