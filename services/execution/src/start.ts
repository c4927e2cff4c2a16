import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { BuiltinExecutor } from "@cloister/executor-builtin";
import { JavascriptExecutor } from "@cloister/executor-javascript";
import { createNodeLibosExecutor } from "@cloister/executor-libos";
import { PythonExecutor } from "@cloister/executor-python";
import { WasmExecutor } from "@cloister/executor-wasm";
import { FileAgent } from "@cloister/file-agent";
import { auditorFiles, type RunningService, type ServiceContext } from "@cloister/host";
import { type EnclaveBudget, epcBudgetFromEnvironment } from "@cloister/libos";
import { taskResultToProto } from "@cloister/model";
import { extensions } from "@cloister/proto";
import { callUnary, createClient } from "@cloister/rpc";
import type { Executor } from "@cloister/runtime";
import { checkSandbox, configureSandboxUids } from "@cloister/sandbox";
import { loadReleaseSigner, SimAttestationService } from "@cloister/tee";
import { cryptoCodec } from "./codec.js";
import { feedPoolMetrics, feedRefillMetrics, instrumentExecutor } from "./instrument.js";
import { ExecutionNode, type LeasedTask, type SchedulerLink } from "./node.js";
import { ExecutorRegistry } from "./registry.js";
import { claimExecutorIds } from "./seats.js";
import { TaskLogRelay } from "./task-log.js";

/** A hand-over as the scheduler answers it (a poll, or a result report's next task). */
function leasedTaskOf(r: extensions.PullTaskWaitResponse): LeasedTask | undefined {
  return r.found
    ? { stagedTask: Buffer.from(r.stagedTask), generation: r.leaseGeneration, running: r.running }
    : undefined;
}

/** The scheduler as an execution node uses it: Cloister's long polls and lease-fenced updates. */
function schedulerLink(
  ctx: ServiceContext,
  node: extensions.ExecutionNodeInfo,
): SchedulerLink & {
  close(): void;
  recordEvidence(taskUuid: string, evidence: Buffer): Promise<void>;
  appendTaskLog(taskUuid: string, generation: number, lines: string[], truncated: boolean): Promise<void>;
} {
  const address = ctx.peerAddress("scheduler");
  const credentials = ctx.peerCredentials("scheduler");
  const ext = createClient(extensions.CloisterSchedulerClient, address, credentials);
  return {
    async heartbeat(executorId, status, { waitMs, runningTask, generation }) {
      const r = await callUnary(
        ext,
        "heartbeatWait",
        {
          executorId,
          status,
          waitMs,
          runningTaskId: runningTask ?? "",
          leaseGeneration: generation ?? 0,
          node,
        },
        { deadlineMs: waitMs + 10_000, waitForReady: true },
      );
      return r.command;
    },
    async pullTask(executorId, waitMs, signal) {
      // On shutdown the poll is abandoned; closing the channel then cancels the call, and the
      // scheduler puts a task it dequeued for a cancelled call back on the queue.
      const stopped = new Promise<undefined>((resolve) => {
        if (signal.aborted) resolve(undefined);
        signal.addEventListener("abort", () => resolve(undefined), { once: true });
      });
      const call = callUnary(
        ext,
        "pullTaskWait",
        { executorId, waitMs, node },
        { deadlineMs: waitMs + 10_000, waitForReady: true },
      );
      const r = await Promise.race([call, stopped]);
      if (!r) {
        call.catch(() => undefined);
        return undefined;
      }
      return leasedTaskOf(r);
    },
    async recordEvidence(taskUuid, evidence) {
      await callUnary(
        ext,
        "recordTaskEvidence",
        { taskId: taskUuid, evidence },
        { deadlineMs: 30_000, waitForReady: true },
      );
    },
    async appendTaskLog(taskUuid, generation, lines, truncated) {
      await callUnary(
        ext,
        "appendTaskLog",
        { taskId: taskUuid, leaseGeneration: generation, lines, truncated },
        { deadlineMs: 10_000, waitForReady: true },
      );
    },
    async updateTaskStatus(taskUuid, generation) {
      await callUnary(
        ext,
        "updateTaskStatusLeased",
        { taskId: taskUuid, leaseGeneration: generation },
        { deadlineMs: 10_000, waitForReady: true },
      );
    },
    async updateTaskResult(taskUuid, generation, result, nextFor) {
      const r = await callUnary(
        ext,
        "updateTaskResultLeased",
        {
          taskId: taskUuid,
          leaseGeneration: generation,
          result: taskResultToProto(result),
          next: nextFor === undefined ? undefined : { executorId: nextFor, waitMs: 0, node },
        },
        { deadlineMs: 10_000, waitForReady: true },
      );
      return r.next ? leasedTaskOf(r.next) : undefined;
    },
    close() {
      ext.close();
    },
  };
}

type Startable = Executor & { start(): Promise<void> };

/** The executors this node runs and the ones it had to switch off, with why. */
export interface LoadedExecutors {
  executors: Executor[];
  disabled: Array<{ name: string; reason: string }>;
}

/** Ports of every endpoint the platform itself serves (listen, advertised and operations addresses). */
function platformPorts(config: ServiceContext["config"]): number[] {
  const addresses = [
    ...Object.values(config.listen),
    ...Object.values(config.ops.listen),
    ...Object.values(config.advertised).map((u) => u.replace(/\/$/, "")),
  ];
  return addresses.flatMap((a) => {
    const m = /:(\d{1,5})$/.exec(a);
    return m ? [Number(m[1])] : [];
  });
}

/**
 * The executors this node offers (`execution.executors`). If a sandboxed one is enabled, the node
 * proves bubblewrap works here (while the pools boot their first workers); where it does not, the sandboxed executors are switched
 * off and named (untrusted code never runs unsandboxed), or with `require_all_executors` the
 * node refuses to start. Warm pools then fill in the background (Python's takes seconds); a
 * task that arrives first waits for its pool.
 */
export async function loadExecutors(ctx: ServiceContext, epc?: EnclaveBudget): Promise<LoadedExecutors> {
  const { execution } = ctx.config;
  const memoryBytes = execution.task_memory_mb * 1024 * 1024;
  // Recyclable workers: as many as tasks run at once, plus warm spares not yet bound to a function.
  const spare = execution.sandbox_pool_size;
  const poolSize = Math.max(execution.concurrency, spare);
  const factories: Record<string, () => Executor | Startable> = {
    builtin: () => new BuiltinExecutor(),
    wamr: () => new WasmExecutor({ poolSize, spare, memoryBytes }),
    javascript: () => new JavascriptExecutor({ poolSize, spare, memoryBytes }),
    python: () => new PythonExecutor({ poolSize, spare, limits: { memoryBytes } }),
  };
  if (execution.sandbox_uids) configureSandboxUids(execution.sandbox_uids);
  const sandboxed = execution.executors.filter((name) => name !== "builtin");
  // The probe runs while the pools boot their first workers (as RecyclingSandboxPool.start() does
  // with its own, cached, probe): no job can reach a worker before it passed, since every pool
  // awaits the probe before it hands out a worker, and the node offers its executors to the
  // scheduler only once this function returned.
  const probe = sandboxed.length > 0 ? checkSandbox() : Promise.resolve();
  probe.catch(() => {}); // awaited below, after the pools were started
  const loaded: Array<{ name: string; executor: Executor }> = [];
  const disabled: LoadedExecutors["disabled"] = [];
  for (const name of execution.executors) {
    let executor: Executor | Startable;
    try {
      executor =
        name === "libos" ? await libosExecutor(ctx, epc) : factories[name as keyof typeof factories]!();
    } catch (e) {
      // LibOS: its backend (gVisor runsc) or an audited runtime is missing. A pool checks its
      // binaries when it is built (bwrap, node or python3 missing). Either way off, and said so
      // (or, when the sandbox probe fails too, reported with it below).
      if (execution.require_all_executors) {
        await probe.catch(() => {});
        await closeAll(loaded);
        throw e;
      }
      disabled.push({ name, reason: (e as Error).message });
      continue;
    }
    loaded.push({ name, executor });
    if ("start" in executor && typeof executor.start === "function") {
      (executor as Startable).start().catch((e: unknown) =>
        // A failed probe is reported once, below, not once per pool.
        probe.then(
          () => ctx.log.error({ err: e, executor: name }, "warm pool failed to start"),
          () => {},
        ),
      );
    }
  }
  let sandboxFailure: string | undefined;
  try {
    await probe;
  } catch (e) {
    if (execution.require_all_executors) {
      await closeAll(loaded);
      throw e;
    }
    sandboxFailure = (e as Error).message;
    // Untrusted code never runs unsandboxed: every sandboxed executor goes, builtin stays.
    const off = loaded.filter((l) => l.name !== "builtin");
    await closeAll(off);
    disabled.length = 0;
    for (const name of sandboxed) disabled.push({ name, reason: sandboxFailure });
  }
  const executors = loaded.filter((l) => !sandboxFailure || l.name === "builtin").map((l) => l.executor);
  if (disabled.length > 0) {
    ctx.log.warn(
      { disabled: disabled.map((d) => d.name), reason: sandboxFailure },
      "executors switched off: their sandbox cannot run on this machine",
    );
  }
  ctx.log.info({ executors: executors.flatMap((e) => e.accepts.map((p) => p.join("/"))) }, "executors ready");
  return { executors, disabled };
}

async function closeAll(loaded: Array<{ executor: Executor }>): Promise<void> {
  await Promise.all(loaded.map((l) => l.executor.close?.().catch(() => {})));
}

/** The LibOS executor: refuses to start if its backend cannot run or a runtime is not the audited one. */
async function libosExecutor(ctx: ServiceContext, epc?: EnclaveBudget): Promise<Startable> {
  const { execution, data_dir } = ctx.config;
  return createNodeLibosExecutor(
    {
      dataDir: data_dir,
      backend: execution.libos.backend,
      runtimes: execution.libos.runtimes,
      imageCache: execution.libos.image_cache,
      gvisorPlatform: execution.libos.gvisor_platform,
    },
    {
      attestation: await SimAttestationService.loadOrCreate(data_dir),
      asRootCaPem: ctx.trust.asRootCaPem,
      mrSigner: await loadReleaseSigner(data_dir),
      credentials: () => ctx.identity.current(),
      poolSize: execution.libos.pool_size,
      memoryBytes: execution.task_memory_mb * 1024 * 1024,
      log: ctx.log,
      auditorPublicKeysPem: auditorFiles(ctx.config).publicKeys.map((p) => readFileSync(p, "utf8")),
      ...(epc ? { enclaveBudget: epc } : {}),
      onInstanceBooted: (runtime, seconds) =>
        ctx.metrics.poolRefill.observe({ pool: `libos-${runtime}` }, seconds),
    },
  );
}

/** An execution node: no server, a client of the scheduler only (docs/architecture.md). */
export async function start(ctx: ServiceContext): Promise<RunningService> {
  const { execution } = ctx.config;
  // The EPC share the device plugin's Allocate gave this container (none: enclaves unbudgeted).
  const epc = epcBudgetFromEnvironment();
  const stopRefillMetrics = feedRefillMetrics(ctx.metrics);
  const loaded = await loadExecutors(ctx, epc);
  const executorIds = claimExecutorIds(join(ctx.config.data_dir, "execution-seats"), execution.concurrency);
  const nodeInfo: extensions.ExecutionNodeInfo = {
    nodeId: `${hostname()}:${executorIds[0]?.slice(0, 8) ?? process.pid}`,
    executors: loaded.executors.flatMap((e) => e.accepts.map((p) => p.join("/"))),
    epcMib: epc ? Math.floor(epc.totalBytes / (1024 * 1024)) : 0,
  };
  const rawLink = schedulerLink(ctx, nodeInfo);
  const relay = new TaskLogRelay(
    (uuid, generation, lines, truncated) => rawLink.appendTaskLog(uuid, generation, lines, truncated),
    ctx.log,
  );
  // The log is flushed before the result is reported: a follower that sees the end saw every line.
  const link: SchedulerLink = {
    heartbeat: (...a) => rawLink.heartbeat(...a),
    pullTask: (...a) => rawLink.pullTask(...a),
    updateTaskStatus: (...a) => rawLink.updateTaskStatus(...a),
    updateTaskResult: async (uuid, generation, result, nextFor) => {
      await relay.finish(uuid);
      return rawLink.updateTaskResult(uuid, generation, result, nextFor);
    },
  };
  const stopPoolMetrics = feedPoolMetrics(
    loaded.executors.map((executor) => ({ name: executor.accepts[0]?.[0] ?? "executor", executor })),
    ctx.metrics,
  );
  const executors = new ExecutorRegistry(
    loaded.executors.map((e) => instrumentExecutor(e, { metrics: ctx.metrics, relay })),
  );
  // Probed at start (sandboxes and LibOS backends proven to run); a node with none is not ready.
  ctx.health.addCheck("executors", async () => {
    if (loaded.executors.length === 0) throw new Error("no executor can run on this node");
  });
  const node = new ExecutionNode({
    link,
    slots: execution.concurrency,
    executorIds,
    leaseTimeoutMs: execution.heartbeat_timeout_secs * 1000,
    // An idle slot shows up well within the node timeout, so the scheduler's table stays accurate.
    pullWaitMs: Math.min(20_000, (execution.heartbeat_timeout_secs * 1000) / 2),
    log: ctx.log,
    onTaskLeased: (uuid, generation) => relay.leased(uuid, generation),
    deps: {
      agent: new FileAgent({
        fusionBaseDir: execution.fusion_base_dir,
        exchangeDir: execution.file_exchange_dir,
        forbiddenDirs: [ctx.config.data_dir],
        egress: {
          schemes: execution.egress.schemes,
          ports: execution.egress.ports,
          allowAddresses: execution.egress.allow_addresses,
          maxRedirects: execution.egress.max_redirects,
          ownPorts: platformPorts(ctx.config),
        },
        maxBytes: execution.max_file_mb * 1024 * 1024,
      }),
      codec: cryptoCodec,
      executors,
      limits: {
        timeoutMs: execution.task_timeout_secs * 1000,
        memoryBytes: execution.task_memory_mb * 1024 * 1024,
        maxReturnBytes: 1024 * 1024,
      },
      log: ctx.log,
      recordEvidence: (taskUuid, evidence) => rawLink.recordEvidence(taskUuid, evidence),
    },
  });
  node.start();
  ctx.log.info({ executorIds: node.executorIds }, "execution node pulling tasks");
  ctx.log.info(
    {
      fileExchange: execution.file_exchange_dir ?? "disabled",
      egressAllowedAddresses: execution.egress.allow_addresses,
      egressPorts: execution.egress.ports,
    },
    "file agent policy",
  );
  return {
    endpoints: [
      {
        name: "execution node",
        address: `${execution.concurrency} slots → scheduler ${ctx.peerAddress("scheduler")}`,
      },
      // Printed by `cloister up` beside the endpoints, so a missing sandbox tool is seen at start.
      {
        name: "executors",
        address: execution.executors.filter((n) => !loaded.disabled.some((d) => d.name === n)).join(", "),
      },
      // One line per reason: the executors it switched off, then why.
      ...[...new Set(loaded.disabled.map((d) => d.reason))].map((reason) => ({
        name: "executors off",
        address: `${loaded.disabled
          .filter((d) => d.reason === reason)
          .map((d) => d.name)
          .join(", ")}: ${reason}`,
      })),
    ],
    async close() {
      await node.close();
      stopPoolMetrics();
      stopRefillMetrics();
      await executors.close();
      rawLink.close();
    },
  };
}
