// The sandboxed side of the host channel (reusable-entry.ts runs it): talks to the host over
// fd 3 with frames (frame.ts), loads the worker module and runs its init once. Imports nothing
// but node: builtins and frame.ts — only this directory is bound into the sandbox.
import { Socket } from "node:net";
import { pathToFileURL } from "node:url";
import type { SandboxReply, SandboxWorkerModule } from "../types.js";
import { encodeFrame, type Frame, FrameDecoder } from "./frame.js";

// bubblewrap sets PWD after clearing the environment; user code must see an empty one.
for (const key of Object.keys(process.env)) delete process.env[key];

const MAX_HOST_FRAME = 2 ** 31;
const channel = new Socket({ fd: 3, readable: true, writable: true });
const decoder = new FrameDecoder(MAX_HOST_FRAME);
const pending: Frame[] = [];
let waiter: ((f: Frame) => void) | null = null;

channel.on("data", (chunk: Buffer) => {
  for (const frame of decoder.push(chunk)) {
    if (waiter) {
      const w = waiter;
      waiter = null;
      w(frame);
    } else pending.push(frame);
  }
});
// The host closing the channel means the sandbox is being torn down.
channel.on("close", () => process.exit(0));

const nextFrame = (): Promise<Frame> =>
  new Promise((resolve) => {
    const f = pending.shift();
    if (f) resolve(f);
    else waiter = resolve;
  });

const send = (header: Record<string, unknown>, blobs?: ReadonlyMap<string, Uint8Array>): Promise<void> =>
  new Promise((resolve, reject) =>
    channel.write(encodeFrame(header, blobs), (e) => (e ? reject(e) : resolve())),
  );

const describe = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

/**
 * Serves the host: init once, then jobs one after another until the host kills the process (it
 * decides how many jobs one sandbox may serve; reusable.ts).
 */
export async function serve(): Promise<void> {
  const init = await nextFrame();
  if (init.header.t !== "init" || typeof init.header.script !== "string") throw new Error("expected init");
  const mod = (await import(pathToFileURL(init.header.script).href)) as Partial<SandboxWorkerModule> & {
    default?: Partial<SandboxWorkerModule>;
  };
  const worker: Partial<SandboxWorkerModule> = typeof mod.run === "function" ? mod : (mod.default ?? {});
  if (typeof worker.run !== "function") throw new Error("worker module exports no run()");
  try {
    await worker.init?.(init.header.options, init.blobs);
  } catch (e) {
    await send({ t: "init-error", message: describe(e) });
    return;
  }
  await send({ t: "ready" });

  for (;;) {
    const job = await nextFrame();
    if (job.header.t !== "job") throw new Error("expected job");
    let reply: SandboxReply;
    try {
      reply = await worker.run({
        data: job.header.data,
        blobs: job.blobs,
        // Written at once, even from synchronous guest code: the socket writes straight to the
        // channel while nothing is queued.
        log: (line: string) => void send({ t: "log", line: String(line) }).catch(() => undefined),
      });
    } catch (e) {
      await send({ t: "error", message: describe(e) });
      continue;
    }
    await send({ t: "result", data: reply?.data ?? null }, reply?.blobs);
  }
}

/** Runs `serve` as the process's whole life; a protocol error ends it with status 70. */
export function run(): void {
  serve().catch((e) => {
    process.stderr.write(`sandbox worker: ${describe(e)}\n`);
    process.exit(70);
  });
}
