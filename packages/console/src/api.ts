// The console's JSON API: one handler per page action, each calling the platform through the
// session's attested SDK client. Platform errors pass through with their gRPC code and text.
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { basename, dirname } from "node:path";
import { isCloisterError, type Logger } from "@cloister/core";
import {
  decryptBuffer,
  encryptBuffer,
  FILE_CRYPTO_SCHEMAS,
  type FileCryptoInfo,
  type FileCryptoSchema,
  generateFileCryptoInfo,
  toWireFileCryptoInfo,
} from "@cloister/crypto";
import {
  type CloisterClient,
  resolveTaskExecutor,
  runtimeTrustFromDataDir,
  type TaskEvidence,
  verifyTaskEvidence,
} from "@cloister/sdk";
import { ConsoleError } from "./errors.js";
import { newExchangePath, writeExchangeFile } from "./exchange.js";
import { readJson, sendJson } from "./http.js";
import type { ConsoleOptions, EndpointAttestation } from "./server.js";
import type { ConsoleSession } from "./session.js";
import { summarizeTask } from "./task-view.js";

export interface ApiContext {
  options: ConsoleOptions;
  log: Logger;
  attestations(): EndpointAttestation[];
  reattest(): Promise<EndpointAttestation[]>;
  auditors(): { verified: boolean; signatures: number; detail: string };
  newClient(): CloisterClient;
  endSession(s: ConsoleSession): void;
}

const MAX_BODY = 24 * 1024 * 1024;
const ID = /^[A-Za-z0-9_.:@-]{1,128}$/;

const str = (v: unknown, field: string, max = 1024): string => {
  if (typeof v !== "string" || v.length > max)
    throw new ConsoleError("bad_request", `${field} must be a string of at most ${max} characters`);
  return v;
};
const id = (v: unknown, field: string): string => {
  const s = str(v, field, 128);
  if (!ID.test(s)) throw new ConsoleError("bad_request", `${field} is not a valid id`);
  return s;
};
const names = (v: unknown, field: string): string[] => {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > 64) throw new ConsoleError("bad_request", `${field} must be a list`);
  return v.map((x, i) => str(x, `${field}[${i}]`, 128).trim()).filter(Boolean);
};
const schemaOf = (v: unknown): FileCryptoSchema => {
  const s = v ?? "teaclave-file-128";
  if (!(FILE_CRYPTO_SCHEMAS as readonly unknown[]).includes(s))
    throw new ConsoleError("bad_request", "unknown file crypto schema");
  return s as FileCryptoSchema;
};

function signedIn(s: ConsoleSession): { client: CloisterClient; user: string } {
  if (!s.client || !s.user) throw new ConsoleError("not_signed_in", "sign in first");
  return { client: s.client, user: s.user };
}

/** Platform errors keep their code and legacy text; the UI shows both. */
async function platform<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (isCloisterError(e)) throw new ConsoleError("platform", `${e.message} (gRPC ${e.code})`, { cause: e });
    throw e;
  }
}

type Handler = (
  ctx: ApiContext,
  s: ConsoleSession,
  req: IncomingMessage,
  params: string[],
  url: URL,
) => Promise<unknown>;

const routes: Array<[string, RegExp, Handler]> = [
  ["GET", /^\/api\/session$/, async (_ctx, s) => ({ user: s.user ?? null, csrf: s.csrf })],
  [
    "POST",
    /^\/api\/login$/,
    async (ctx, s, req) => {
      const b = await readJson(req, 16 * 1024);
      const user = id(b.user, "user");
      const password = str(b.password, "password", 512);
      const client = ctx.newClient();
      try {
        await platform(client.login(user, password));
      } catch (e) {
        client.close();
        throw e;
      }
      s.client?.close();
      s.client = client;
      s.user = user;
      s.tasks.clear();
      s.outputs.clear();
      return { user };
    },
  ],
  [
    "POST",
    /^\/api\/logout$/,
    async (ctx, s) => {
      ctx.endSession(s);
      return { user: null };
    },
  ],
  [
    "GET",
    /^\/api\/platform$/,
    async (ctx) => ({
      endpoints: ctx.attestations().map((a) => ({
        name: a.name,
        address: a.address,
        mrEnclave: a.peer.mrEnclave,
        mrSigner: a.peer.mrSigner,
        quoteStatus: a.peer.quoteStatus,
        simulated: a.peer.simulated,
        reportTime: a.peer.timestamp.toISOString(),
        verifiedAt: a.verifiedAt.toISOString(),
      })),
      simulated: ctx.attestations().some((a) => a.peer.simulated),
      measurements: Object.entries(ctx.options.trust.enclaveInfo).map(([name, m]) => ({ name, ...m })),
      auditors: ctx.auditors(),
      trustFiles: ctx.options.trustFiles ?? null,
      exchangeDir: ctx.options.exchangeDir ?? null,
    }),
  ],
  [
    "POST",
    /^\/api\/platform\/attest$/,
    async (ctx) => {
      await ctx.reattest();
      return { verifiedAt: new Date().toISOString() };
    },
  ],
  [
    "GET",
    /^\/api\/functions$/,
    async (_ctx, s) => {
      const { client } = signedIn(s);
      const list = await platform(client.listFunctions());
      const ids = [...new Set([...list.registeredFunctions, ...list.allowedFunctions])];
      const functions = await Promise.all(
        ids.map(async (functionId) => {
          const f = await platform(client.getFunction(functionId));
          return {
            functionId,
            name: f.name,
            description: f.description,
            executorType: f.executorType,
            owner: f.owner,
            public: f.public,
            mine: list.registeredFunctions.includes(functionId),
            arguments: f.arguments.map((a) => ({ key: a.key, defaultValue: a.defaultValue })),
            inputs: f.inputs.map((i) => i.name),
            outputs: f.outputs.map((o) => o.name),
            payloadBytes: f.payload.length,
          };
        }),
      );
      return { functions };
    },
  ],
  [
    "POST",
    /^\/api\/functions$/,
    async (_ctx, s, req) => {
      const { client } = signedIn(s);
      const b = await readJson(req, MAX_BODY);
      const payload =
        b.payloadBase64 === undefined
          ? undefined
          : Buffer.from(str(b.payloadBase64, "payload", MAX_BODY), "base64");
      const io = (list: string[]) => list.map((name) => ({ name, description: "", optional: false }));
      const functionId = await platform(
        client.registerFunction({
          name: str(b.name, "name", 256),
          description: str(b.description ?? "", "description", 4096),
          executorType: str(b.executorType ?? "builtin", "executorType", 64),
          public: b.public !== false,
          arguments: names(b.arguments, "arguments").map((key) => ({
            key,
            defaultValue: "",
            allowOverwrite: true,
          })),
          inputs: io(names(b.inputs, "inputs")),
          outputs: io(names(b.outputs, "outputs")),
          ...(payload ? { payload } : {}),
        }),
      );
      return { functionId };
    },
  ],
  [
    "POST",
    /^\/api\/data\/inputs$/,
    async (ctx, s, req) => {
      const { client, user } = signedIn(s);
      const dir = ctx.options.exchangeDir;
      if (!dir)
        throw new ConsoleError("bad_request", "the console was started without an exchange directory");
      const b = await readJson(req, MAX_BODY);
      const label = basename(str(b.fileName ?? "input", "fileName", 256));
      const plaintext = Buffer.from(str(b.contentBase64, "content", MAX_BODY), "base64");
      const info = generateFileCryptoInfo(schemaOf(b.schema));
      const { path, url } = await newExchangePath(dir, user, label);
      // Encrypted here, in the console process: the plaintext never leaves this machine.
      const { file, cmac } = await encryptBuffer(plaintext, info, { fileName: basename(path) });
      await writeExchangeFile(path, file);
      const dataId = await platform(client.registerInputFile(url, cmac, toWireFileCryptoInfo(info)));
      return { dataId, url, cmac: cmac.toString("hex") };
    },
  ],
  [
    "POST",
    /^\/api\/data\/outputs$/,
    async (ctx, s, req) => {
      const { client, user } = signedIn(s);
      const dir = ctx.options.exchangeDir;
      if (!dir)
        throw new ConsoleError("bad_request", "the console was started without an exchange directory");
      const b = await readJson(req, 16 * 1024);
      const label = basename(str(b.label ?? "output", "label", 256));
      const info = generateFileCryptoInfo(schemaOf(b.schema));
      const { path, url } = await newExchangePath(dir, user, `${label}.enc`);
      const dataId = await platform(client.registerOutputFile(url, toWireFileCryptoInfo(info)));
      s.outputs.set(dataId, { info, path, label });
      return { dataId, url };
    },
  ],
  [
    "GET",
    /^\/api\/data\/outputs$/,
    async (_ctx, s) => ({
      outputs: [...s.outputs].map(([dataId, o]) => ({ dataId, label: o.label, schema: o.info.schema })),
    }),
  ],
  [
    "GET",
    /^\/api\/data\/outputs\/([^/]+)\/plaintext$/,
    async (_ctx, s, _req, [dataId]) => {
      const { client } = signedIn(s);
      const o = s.outputs.get(dataId!);
      if (!o) throw new ConsoleError("not_found", "this output was not registered in this console session");
      const view = await platform(client.getOutputFile(dataId!));
      if (view.cmac.length === 0)
        throw new ConsoleError("bad_request", "no task has produced this output yet");
      const { plaintext } = await decryptBuffer(await readFile(o.path), o.info as FileCryptoInfo, {
        fileName: basename(o.path),
        expectedCmac: view.cmac,
      });
      return { dataId, text: plaintext.toString("utf8"), cmac: view.cmac.toString("hex") };
    },
  ],
  [
    "GET",
    /^\/api\/tasks$/,
    async (_ctx, s) => {
      const { client, user } = signedIn(s);
      const tasks = await Promise.all(
        [...s.tasks].map(async (t) => summarizeTask(await platform(client.getTask(t)), user)),
      );
      return { tasks };
    },
  ],
  [
    "POST",
    /^\/api\/tasks$/,
    async (_ctx, s, req) => {
      const { client } = signedIn(s);
      const b = await readJson(req, 64 * 1024);
      let args: Record<string, unknown> = {};
      if (b.arguments !== undefined) {
        if (typeof b.arguments !== "object" || b.arguments === null || Array.isArray(b.arguments))
          throw new ConsoleError("bad_request", "arguments must be an object");
        args = b.arguments as Record<string, unknown>;
      }
      const ownership = (v: unknown, field: string) => {
        if (v === undefined) return [];
        if (!Array.isArray(v) || v.length > 64)
          throw new ConsoleError("bad_request", `${field} must be a list`);
        return v.map((o: Record<string, unknown>, i) => ({
          dataName: str(o?.dataName, `${field}[${i}].dataName`, 128),
          uids: names(o?.uids, `${field}[${i}].uids`),
        }));
      };
      // The SDK takes typed executor names; anything else is the caller's mistake, not INTERNAL.
      const taskExecutor = (name: string) => {
        const e = resolveTaskExecutor(name);
        if (!e)
          throw new ConsoleError(
            "bad_request",
            "executor must be one of builtin, python, python3, wamr, javascript, libos",
          );
        return e;
      };
      const taskId = await platform(
        client.createTask({
          functionId: id(b.functionId, "functionId"),
          arguments: args,
          executor: taskExecutor(str(b.executor ?? "builtin", "executor", 64)),
          inputsOwnership: ownership(b.inputsOwnership, "inputsOwnership"),
          outputsOwnership: ownership(b.outputsOwnership, "outputsOwnership"),
        }),
      );
      s.tasks.add(taskId);
      return { taskId };
    },
  ],
  [
    "GET",
    /^\/api\/tasks\/([^/]+)$/,
    async (_ctx, s, _req, [taskId]) => {
      const { client, user } = signedIn(s);
      const t = id(taskId, "taskId");
      const summary = summarizeTask(await platform(client.getTask(t)), user);
      s.tasks.add(t);
      return summary;
    },
  ],
  [
    "POST",
    /^\/api\/tasks\/([^/]+)\/(assign|approve|invoke|cancel)$/,
    async (_ctx, s, req, [taskId, action]) => {
      const { client, user } = signedIn(s);
      const t = id(taskId, "taskId");
      if (action === "assign") {
        const b = await readJson(req, 16 * 1024);
        const map = (v: unknown, field: string) => {
          if (v === undefined) return {};
          if (typeof v !== "object" || v === null)
            throw new ConsoleError("bad_request", `${field} must be an object`);
          return Object.fromEntries(
            Object.entries(v).map(([k, d]) => [str(k, field, 128), id(d, `${field}.${k}`)]),
          );
        };
        await platform(client.assignData(t, map(b.inputs, "inputs"), map(b.outputs, "outputs")));
      } else if (action === "approve") await platform(client.approveTask(t));
      else if (action === "invoke") await platform(client.invokeTask(t));
      else await platform(client.cancelTask(t));
      return summarizeTask(await platform(client.getTask(t)), user);
    },
  ],
  [
    "GET",
    /^\/api\/tasks\/([^/]+)\/log$/,
    async (_ctx, s, _req, [taskId]) => {
      const { client } = signedIn(s);
      const t = id(taskId, "taskId");
      // What the task has logged so far (participants only); the CLI's `task logs --follow` streams.
      const lines: string[] = [];
      let kept = true;
      let truncated = false;
      await platform(
        (async () => {
          for await (const chunk of client.taskLog(t)) {
            lines.push(...chunk.lines);
            kept = chunk.kept;
            truncated ||= chunk.truncated;
          }
        })(),
      );
      return { taskId: t, kept, truncated, lines };
    },
  ],
  [
    "GET",
    /^\/api\/tasks\/([^/]+)\/evidence$/,
    async (ctx, s, _req, [taskId]) => {
      const { client } = signedIn(s);
      const t = id(taskId, "taskId");
      const raw = await platform(client.taskEvidence(t));
      if (!raw) throw new ConsoleError("not_found", "this task has no LibOS evidence");
      let evidence: TaskEvidence;
      try {
        evidence = JSON.parse(raw.toString("utf8")) as TaskEvidence;
      } catch {
        throw new ConsoleError("platform", "the platform returned evidence that is not JSON");
      }
      const dataDir = ctx.options.trustFiles ? dirname(ctx.options.trustFiles.enclaveInfo) : undefined;
      if (!dataDir)
        return { taskId: t, verified: false, reason: "no runtime_info.toml to check against", evidence };
      try {
        // Checked here, against the auditor-signed runtime measurements, as `cloister task evidence` does.
        const verified = verifyTaskEvidence(evidence, runtimeTrustFromDataDir(dataDir), { taskId: t });
        return { taskId: t, verified: true, ...verified };
      } catch (e) {
        return { taskId: t, verified: false, reason: (e as Error).message.slice(0, 300) };
      }
    },
  ],
  [
    "GET",
    /^\/api\/audit$/,
    async (_ctx, s, _req, _p, url) => {
      const { client } = signedIn(s);
      const q = str(url.searchParams.get("q") ?? "*", "q", 1024) || "*";
      const limit = Math.min(Math.max(Number(url.searchParams.get("limit") ?? 100) || 100, 1), 1000);
      const entries = await platform(client.queryAuditLogs(q, limit));
      return { entries };
    },
  ],
  [
    "GET",
    /^\/api\/users$/,
    async (_ctx, s) => {
      const { client } = signedIn(s);
      return { users: await platform(client.listUsers()) };
    },
  ],
  [
    "POST",
    /^\/api\/users$/,
    async (_ctx, s, req) => {
      const { client } = signedIn(s);
      const b = await readJson(req, 16 * 1024);
      await platform(
        client.registerUser(
          id(b.user, "user"),
          str(b.password, "password", 512),
          str(b.role, "role", 64),
          str(b.attribute ?? "", "attribute", 256),
        ),
      );
      return { user: b.user };
    },
  ],
];

export async function route(
  ctx: ApiContext,
  s: ConsoleSession,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  if (req.method === "GET" && url.pathname === "/api/events") return events(s, req, res);
  for (const [method, pattern, handler] of routes) {
    const m = pattern.exec(url.pathname);
    if (m && method === req.method) {
      const params = m.slice(1).map((p) => decodeURIComponent(p));
      return sendJson(res, 200, await handler(ctx, s, req, params, url));
    }
  }
  throw new ConsoleError("not_found", "no such API");
}

/**
 * Server-sent events: the console process watches the session's tasks and pushes each change, so
 * the browser never polls. The console itself asks the platform (the Teaclave API has no push).
 */
function events(s: ConsoleSession, req: IncomingMessage, res: ServerResponse): void {
  const { client, user } = signedIn(s);
  res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", connection: "keep-alive" });
  res.write(": cloister console events\n\n");
  const seen = new Map<string, string>();
  let closed = false;
  let busy = false;
  const tick = async () => {
    if (busy || closed) return;
    busy = true;
    try {
      for (const taskId of s.tasks) {
        const summary = summarizeTask(await client.getTask(taskId), user);
        const key = `${summary.status}|${summary.approvedUsers.join(",")}|${summary.missing.assignments.length}`;
        if (seen.get(taskId) !== key && !closed) {
          seen.set(taskId, key);
          res.write(`event: task\ndata: ${JSON.stringify(summary)}\n\n`);
        }
      }
    } catch {
      // A transient platform error: the next tick tries again.
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), 300);
  const keepAlive = setInterval(() => res.write(": keep-alive\n\n"), 15_000);
  void tick();
  req.on("close", () => {
    closed = true;
    clearInterval(timer);
    clearInterval(keepAlive);
  });
}
