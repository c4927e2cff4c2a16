/**
 * The management service: per-object rules on functions, data files
 * and tasks, independent of the transport. Each method takes the caller (user id and full role
 * string from the request metadata; "" when absent) and the generated request message, and
 * returns the generated response or throws a CloisterError with the exact legacy code and text.
 */
import { randomBytes, randomUUID } from "node:crypto";
import {
  CloisterError,
  cloisterError,
  type Logger,
  parseRole,
  type Role,
  Status,
  silentLogger,
} from "@cloister/core";
import { exchangePath, isFileAgentError } from "@cloister/file-agent";
import {
  approveTask,
  argumentsToJson,
  assignInput,
  assignOutput,
  beginAssign,
  buildStagedTask,
  CANCEL_QUEUE,
  CMAC_LENGTH,
  cancelTask,
  checkQuota,
  compareBytes,
  createTask,
  ensureCreator,
  FUNCTION_KEY_PREFIX,
  type FunctionRecord,
  fileCryptoFromInfo,
  finishAssign,
  type InputFileRecord,
  keys,
  type OutputFileRecord,
  type Ownership,
  parseExecutorType,
  parseFunction,
  parseInputFile,
  parseOutputFile,
  parseTask,
  parseUsage,
  parseUserFunctions,
  quotaFromWire,
  STAGED_TASK_QUEUE,
  serializeFunction,
  serializeInputFile,
  serializeOutputFile,
  serializeStagedTask,
  serializeTask,
  serializeUsage,
  serializeUserFunctions,
  sortedSet,
  splitExternalId,
  stageTask,
  type TaskRecord,
  taskResultToProto,
  type UserFunctionsRecord,
  uuidOf,
} from "@cloister/model";
import type { common, Empty, frontend, management } from "@cloister/proto";
import { AuditLog } from "./audit/log.js";
import { KeyedMutex, type ManagementStore } from "./store.js";
import { normalizeUrl } from "./url.js";

/** Who is calling: metadata `id` and `role` (the token's full role string, e.g. `DataOwner-bank`). */
export interface Caller {
  id: string;
  role: string;
}

export interface ManagementServiceOptions {
  store: ManagementStore;
  logger?: Logger;
  /** `execution.file_exchange_dir`: where `file:` URLs may point; undefined refuses them. */
  fileExchangeDir?: string | undefined;
}

const denied = () => cloisterError("PERMISSION_DENIED");
const invalidFunctionId = () => cloisterError("INVALID_FUNCTION_ID");
const invalidDataId = () => cloisterError("INVALID_DATA_ID");
const invalidTaskId = () => cloisterError("INVALID_TASK_ID");

const FUSION_URL = (uuid: string) => `fusion:///TEACLAVE_FUSION_BASE/${uuid}.fusion`;

/**
 * At the API boundary, a request that fails validation (URL, ids, crypto info, cmac, executor,
 * arguments: legacy 13 with a parser's text) is the client's fault: it is answered 3
 * INVALID_ARGUMENT with the same text. Only a real internal failure (`service internal error`)
 * stays 13 (docs/decisions.md).
 */
export function validationAsInvalidArgument(e: unknown): unknown {
  // Validation failures are raised with their catalog kind, which is already code 3; what is
  // left here is a failure of no kind (a parser's), never a peer's (RpcError, StorageError: a
  // record that does not unseal, storage down), which stays what it is.
  if (e instanceof CloisterError && e.constructor === CloisterError && e.kind === undefined)
    return new CloisterError(Status.INVALID_ARGUMENT, e.message, { cause: e });
  return e;
}

/** At most this many user records are updated at once when a function's allowlist fans out. */
const FAN_OUT = 8;

async function forEachBounded<T>(items: Iterable<T>, run: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const worker = async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await run(item);
  };
  await Promise.all(Array.from({ length: Math.min(FAN_OUT, queue.length) }, worker));
}

const puts = (records: Array<[key: string, text: string]>) =>
  records.map(([key, text]) => ({
    type: "put" as const,
    key: Buffer.from(key, "utf8"),
    value: Buffer.from(text, "utf8"),
  }));

export class ManagementService {
  private readonly store: ManagementStore;
  private readonly log: Logger;
  private readonly locks = new KeyedMutex();
  private readonly audit: AuditLog;
  private readonly fileExchangeDir: string | undefined;

  constructor(opts: ManagementServiceOptions) {
    this.store = opts.store;
    this.fileExchangeDir = opts.fileExchangeDir;
    this.log = opts.logger ?? silentLogger;
    this.audit = new AuditLog(opts.store);
  }

  // ---- caller checks -------------------------------------------------------------------------

  private static requireId(caller: Caller): string {
    if (!caller.id) throw cloisterError("CALLER_ID_MISSING");
    return caller.id;
  }

  private static requireRole(caller: Caller): Role {
    if (!caller.role) throw cloisterError("CALLER_ROLE_MISSING");
    return parseRole(caller.role);
  }

  // ---- storage -------------------------------------------------------------------------------

  /** Storage failures reach clients as 13 `service internal error`; the cause is only logged. */
  private async io<T>(what: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (e) {
      if (e instanceof CloisterError) throw e;
      this.log.error({ err: e, what }, "storage operation failed");
      throw cloisterError("INTERNAL");
    }
  }

  private async read(key: string): Promise<string | undefined> {
    const v = await this.io(`get ${key}`, () => this.store.get(Buffer.from(key, "utf8")));
    return v?.toString("utf8");
  }

  private async write(key: string, text: string): Promise<void> {
    await this.io(`put ${key}`, () => this.store.put(Buffer.from(key, "utf8"), Buffer.from(text, "utf8")));
  }

  private async enqueue(queue: string, text: string): Promise<void> {
    await this.io(`enqueue ${queue}`, () =>
      this.store.enqueue(Buffer.from(queue, "utf8"), Buffer.from(text, "utf8")),
    );
  }

  /** A record that is missing or does not parse as the expected type is "unknown". */
  private async load<T>(key: string, parse: (text: string) => T): Promise<T | undefined> {
    const text = await this.read(key);
    if (text === undefined) return undefined;
    try {
      return parse(text);
    } catch {
      return undefined;
    }
  }

  private async loadFunction(id: string): Promise<FunctionRecord> {
    const uuid = uuidOf(id, "function");
    const f = uuid && (await this.load(keys.function(uuid), parseFunction));
    if (!f) throw invalidFunctionId();
    return f;
  }

  private async loadInputByUuid(uuid: string): Promise<InputFileRecord> {
    const f = await this.load(keys.input(uuid), parseInputFile);
    if (!f) throw invalidDataId();
    return f;
  }

  private async loadOutputByUuid(uuid: string): Promise<OutputFileRecord> {
    const f = await this.load(keys.output(uuid), parseOutputFile);
    if (!f) throw invalidDataId();
    return f;
  }

  private async loadInput(id: string): Promise<InputFileRecord> {
    const uuid = uuidOf(id, "input");
    if (!uuid) throw invalidDataId();
    return this.loadInputByUuid(uuid);
  }

  private async loadOutput(id: string): Promise<OutputFileRecord> {
    const uuid = uuidOf(id, "output");
    if (!uuid) throw invalidDataId();
    return this.loadOutputByUuid(uuid);
  }

  private async loadTask(id: string): Promise<TaskRecord> {
    const uuid = uuidOf(id, "task");
    const t = uuid && (await this.load(keys.task(uuid), parseTask));
    if (!t) throw invalidTaskId();
    return t;
  }

  private saveTask(t: TaskRecord): Promise<void> {
    return this.write(keys.task(t.uuid), serializeTask(t));
  }

  /** Parse an id whose syntax error is reported with the parser's text (Update*File, AssignData). */
  private static parseIdStrict(id: string, kind: "input" | "output"): string {
    let parts: { prefix: string; uuid: string };
    try {
      parts = splitExternalId(id);
    } catch (e) {
      // INVALID_EXTERNAL_ID or INVALID_UUID, recognised from the parser's (legacy) text.
      throw new CloisterError(Status.INVALID_ARGUMENT, (e as Error).message, { cause: e });
    }
    if (parts.prefix !== kind) throw invalidDataId();
    return parts.uuid;
  }

  /** Read-modify-write of one user's function lists under that record's lock. */
  private async updateUserFunctions(
    userId: string,
    change: (u: UserFunctionsRecord) => void,
    createIfMissing: boolean,
  ): Promise<void> {
    const key = keys.user(userId);
    await this.locks.run(key, async () => {
      const existing = await this.load(key, parseUserFunctions);
      if (!existing && !createIfMissing) return;
      const u = existing ?? { id: userId, registeredFunctions: [], allowedFunctions: [] };
      change(u);
      await this.write(key, serializeUserFunctions(u));
    });
  }

  // ---- functions ------------------------------------------------------------------------

  private static functionFromRequest(
    uuid: string,
    owner: string,
    r: frontend.RegisterFunctionRequest | frontend.UpdateFunctionRequest,
  ): FunctionRecord {
    return {
      uuid,
      name: r.name ?? "",
      description: r.description ?? "",
      public: r.public ?? false,
      executorType: parseExecutorType(r.executorType ?? ""),
      payload: Buffer.from(r.payload ?? []),
      arguments: (r.arguments ?? []).map((a) => ({
        key: a.key ?? "",
        defaultValue: a.defaultValue ?? "",
        allowOverwrite: a.allowOverwrite ?? false,
      })),
      inputs: (r.inputs ?? []).map((d) => ({
        name: d.name ?? "",
        description: d.description ?? "",
        optional: d.optional ?? false,
      })),
      outputs: (r.outputs ?? []).map((d) => ({
        name: d.name ?? "",
        description: d.description ?? "",
        optional: d.optional ?? false,
      })),
      owner,
      userAllowlist: [...(r.userAllowlist ?? [])],
      usageQuota: quotaFromWire(r.usageQuota ?? 0),
    };
  }

  async registerFunction(
    caller: Caller,
    req: frontend.RegisterFunctionRequest,
  ): Promise<frontend.RegisterFunctionResponse> {
    const userId = ManagementService.requireId(caller);
    const fn = ManagementService.functionFromRequest(randomUUID(), userId, req);
    const id = `function-${fn.uuid}`;
    await this.write(keys.function(fn.uuid), serializeFunction(fn));
    await this.write(keys.usage(fn.uuid), serializeUsage({ functionUuid: fn.uuid, useNumbers: 0 }));
    const add = (list: string[]) => {
      if (!list.includes(id)) list.push(id);
    };
    await this.updateUserFunctions(userId, (u) => add(u.registeredFunctions), true);
    await forEachBounded(new Set(fn.userAllowlist), (allowed) =>
      this.updateUserFunctions(allowed, (u) => add(u.allowedFunctions), true),
    );
    return { functionId: id };
  }

  async updateFunction(
    caller: Caller,
    req: frontend.UpdateFunctionRequest,
  ): Promise<frontend.UpdateFunctionResponse> {
    const userId = ManagementService.requireId(caller);
    const key = keys.function(uuidOf(req.functionId, "function") ?? "");
    return this.locks.run(key, async () => {
      const current = await this.loadFunction(req.functionId);
      if (current.owner !== userId) throw denied();
      const fn = ManagementService.functionFromRequest(current.uuid, userId, req);
      await this.write(keys.function(fn.uuid), serializeFunction(fn));
      return { functionId: `function-${fn.uuid}` };
    });
  }

  async getFunction(caller: Caller, req: frontend.GetFunctionRequest): Promise<frontend.GetFunctionResponse> {
    const userId = ManagementService.requireId(caller);
    const role = ManagementService.requireRole(caller);
    const fn = await this.loadFunction(req.functionId);
    const full = fn.public || role.name === "PlatformAdmin" || fn.owner === userId;
    if (!full && !fn.userAllowlist.includes(userId)) throw denied();
    return {
      name: fn.name,
      description: fn.description,
      executorType: fn.executorType,
      owner: fn.owner,
      payload: full ? Buffer.from(fn.payload) : Buffer.alloc(0),
      public: fn.public,
      arguments: fn.arguments.map((a) => ({ ...a })),
      inputs: fn.inputs.map((d) => ({ ...d })),
      outputs: fn.outputs.map((d) => ({ ...d })),
      userAllowlist: full ? [...fn.userAllowlist] : [],
    };
  }

  async getFunctionUsageStats(
    caller: Caller,
    req: frontend.GetFunctionUsageStatsRequest,
  ): Promise<frontend.GetFunctionUsageStatsResponse> {
    const userId = ManagementService.requireId(caller);
    const role = ManagementService.requireRole(caller);
    // Both records are read at once (one storage round trip of latency); the usage is only
    // returned once the function's rules allow it.
    const uuid = uuidOf(req.functionId, "function");
    const [fn, usage] = await Promise.all([
      this.loadFunction(req.functionId),
      uuid ? this.load(keys.usage(uuid), parseUsage) : undefined,
    ]);
    // The owner of a private function is not allowed unless allowlisted (legacy rule).
    if (!(fn.public || role.name === "PlatformAdmin" || fn.userAllowlist.includes(userId))) throw denied();
    if (!usage) throw invalidFunctionId();
    return { functionQuota: fn.usageQuota ?? -1, currentUsage: usage.useNumbers };
  }

  async deleteFunction(caller: Caller, req: frontend.DeleteFunctionRequest): Promise<Empty> {
    const userId = ManagementService.requireId(caller);
    const key = keys.function(uuidOf(req.functionId, "function") ?? "");
    return this.locks.run(key, async () => {
      const fn = await this.loadFunction(req.functionId);
      // PlatformAdmin is not exempt here.
      if (fn.owner !== userId) throw denied();
      await this.io(`delete ${key}`, () => this.store.delete(Buffer.from(keys.function(fn.uuid), "utf8")));
      return {};
    });
  }

  async disableFunction(caller: Caller, req: frontend.DisableFunctionRequest): Promise<Empty> {
    const userId = ManagementService.requireId(caller);
    const role = ManagementService.requireRole(caller);
    const key = keys.function(uuidOf(req.functionId, "function") ?? "");
    return this.locks.run(key, async () => {
      const fn = await this.loadFunction(req.functionId);
      if (role.name !== "PlatformAdmin" && fn.owner !== userId) throw denied();
      const id = `function-${fn.uuid}`;
      const strip = (u: UserFunctionsRecord) => {
        u.registeredFunctions = u.registeredFunctions.filter((x) => x !== id);
        u.allowedFunctions = u.allowedFunctions.filter((x) => x !== id);
      };
      await forEachBounded(new Set([fn.owner, ...fn.userAllowlist]), (user) =>
        this.updateUserFunctions(user, strip, false),
      );
      fn.userAllowlist = [];
      await this.write(keys.function(fn.uuid), serializeFunction(fn));
      return {};
    });
  }

  async listFunctions(
    caller: Caller,
    req: frontend.ListFunctionsRequest,
  ): Promise<frontend.ListFunctionsResponse> {
    const userId = ManagementService.requireId(caller);
    const role = ManagementService.requireRole(caller);
    const admin = role.name === "PlatformAdmin";
    if (!admin && req.userId !== userId) throw denied();
    const lists = await this.load(keys.user(req.userId ?? ""), parseUserFunctions);
    if (!lists) return { registeredFunctions: [], allowedFunctions: [] };
    let allowed = lists.allowedFunctions;
    if (admin) {
      const all = await this.io("list functions", () =>
        this.store.keysByPrefix(Buffer.from(FUNCTION_KEY_PREFIX, "utf8")),
      );
      allowed = all.map((k) => k.toString("utf8")).sort(compareBytes);
    }
    return { registeredFunctions: [...lists.registeredFunctions], allowedFunctions: allowed };
  }

  // ---- data -----------------------------------------------------------------------------

  /**
   * A user names only files of their own: a `file:` URL must lie in the caller's exchange
   * directory (the node checks again, on its disk), and `fusion:` URLs are minted by the
   * platform alone (RegisterFusionOutput).
   */
  private checkDataUrl(url: string, userId: string): void {
    if (url.startsWith("fusion:")) throw cloisterError("FUSION_URL_RESERVED");
    if (!url.startsWith("file:")) return;
    try {
      exchangePath(url, this.fileExchangeDir, [userId]);
    } catch (e) {
      if (isFileAgentError(e, "FILE_URLS_DISABLED")) throw cloisterError("FILE_URLS_DISABLED");
      if (isFileAgentError(e, "INVALID_URL")) throw cloisterError("FILE_URL_INVALID");
      throw cloisterError("FILE_URL_OUTSIDE_EXCHANGE");
    }
  }

  async registerInputFile(
    caller: Caller,
    req: frontend.RegisterInputFileRequest,
  ): Promise<frontend.RegisterInputFileResponse> {
    const userId = ManagementService.requireId(caller);
    const url = normalizeUrl(req.url ?? "");
    this.checkDataUrl(url, userId);
    const cmac = Buffer.from(req.cmac ?? []);
    if (cmac.length !== CMAC_LENGTH) throw cloisterError("INVALID_CMAC_LENGTH");
    const crypto = fileCryptoFromInfo(req.cryptoInfo);
    const file: InputFileRecord = { uuid: randomUUID(), url, cmac, crypto, owners: new Set([userId]) };
    await this.write(keys.input(file.uuid), serializeInputFile(file));
    return { dataId: `input-${file.uuid}` };
  }

  async registerOutputFile(
    caller: Caller,
    req: frontend.RegisterOutputFileRequest,
  ): Promise<frontend.RegisterOutputFileResponse> {
    const userId = ManagementService.requireId(caller);
    const url = normalizeUrl(req.url ?? "");
    this.checkDataUrl(url, userId);
    const crypto = fileCryptoFromInfo(req.cryptoInfo);
    const file: OutputFileRecord = { uuid: randomUUID(), url, cmac: null, crypto, owners: new Set([userId]) };
    await this.write(keys.output(file.uuid), serializeOutputFile(file));
    return { dataId: `output-${file.uuid}` };
  }

  private static soleOwner(owners: Set<string>, userId: string): boolean {
    return owners.size === 1 && owners.has(userId);
  }

  async updateInputFile(
    caller: Caller,
    req: frontend.UpdateInputFileRequest,
  ): Promise<frontend.UpdateInputFileResponse> {
    const userId = ManagementService.requireId(caller);
    const uuid = ManagementService.parseIdStrict(req.dataId ?? "", "input");
    const url = normalizeUrl(req.url ?? "");
    this.checkDataUrl(url, userId);
    const old = await this.loadInputByUuid(uuid);
    if (!ManagementService.soleOwner(old.owners, userId)) throw denied();
    const file: InputFileRecord = { ...old, uuid: randomUUID(), url };
    await this.write(keys.input(file.uuid), serializeInputFile(file));
    return { dataId: `input-${file.uuid}` };
  }

  async updateOutputFile(
    caller: Caller,
    req: frontend.UpdateOutputFileRequest,
  ): Promise<frontend.UpdateOutputFileResponse> {
    const userId = ManagementService.requireId(caller);
    const uuid = ManagementService.parseIdStrict(req.dataId ?? "", "output");
    const url = normalizeUrl(req.url ?? "");
    this.checkDataUrl(url, userId);
    const old = await this.loadOutputByUuid(uuid);
    if (!ManagementService.soleOwner(old.owners, userId)) throw denied();
    const file: OutputFileRecord = { ...old, uuid: randomUUID(), url, cmac: null };
    await this.write(keys.output(file.uuid), serializeOutputFile(file));
    return { dataId: `output-${file.uuid}` };
  }

  async registerFusionOutput(
    caller: Caller,
    req: frontend.RegisterFusionOutputRequest,
  ): Promise<frontend.RegisterFusionOutputResponse> {
    const userId = ManagementService.requireId(caller);
    const list = req.ownerList ?? [];
    // Counted with duplicates, as the legacy check does.
    if (list.length <= 1 || !list.includes(userId)) throw denied();
    const uuid = randomUUID();
    const file: OutputFileRecord = {
      uuid,
      url: FUSION_URL(uuid),
      cmac: null,
      crypto: { schema: "teaclave-file-128", key: randomBytes(16) },
      owners: new Set(list),
    };
    await this.write(keys.output(uuid), serializeOutputFile(file));
    return { dataId: `output-${uuid}` };
  }

  async registerInputFromOutput(
    caller: Caller,
    req: frontend.RegisterInputFromOutputRequest,
  ): Promise<frontend.RegisterInputFromOutputResponse> {
    const userId = ManagementService.requireId(caller);
    const out = await this.loadOutput(req.dataId ?? "");
    if (!out.owners.has(userId)) throw denied();
    if (out.cmac === null) throw cloisterError("INVALID_OUTPUT_FILE");
    const file: InputFileRecord = {
      uuid: out.uuid,
      url: out.url,
      cmac: out.cmac,
      crypto: out.crypto,
      owners: out.owners,
    };
    await this.write(keys.input(file.uuid), serializeInputFile(file));
    return { dataId: `input-${file.uuid}` };
  }

  async getInputFile(
    caller: Caller,
    req: frontend.GetInputFileRequest,
  ): Promise<frontend.GetInputFileResponse> {
    const userId = ManagementService.requireId(caller);
    const f = await this.loadInput(req.dataId ?? "");
    if (!f.owners.has(userId)) throw denied();
    return { owner: sortedSet(f.owners), cmac: Buffer.from(f.cmac) };
  }

  async getOutputFile(
    caller: Caller,
    req: frontend.GetOutputFileRequest,
  ): Promise<frontend.GetOutputFileResponse> {
    const userId = ManagementService.requireId(caller);
    const f = await this.loadOutput(req.dataId ?? "");
    if (!f.owners.has(userId)) throw denied();
    return { owner: sortedSet(f.owners), cmac: f.cmac ? Buffer.from(f.cmac) : Buffer.alloc(0) };
  }

  // ---- tasks ----------------------------------------------------------------------------

  async createTask(caller: Caller, req: frontend.CreateTaskRequest): Promise<frontend.CreateTaskResponse> {
    const userId = ManagementService.requireId(caller);
    const role = ManagementService.requireRole(caller);
    const fn = await this.loadFunction(req.functionId ?? "");
    const task = createTask({
      creator: userId,
      role,
      fn,
      executor: req.executor ?? "",
      functionArguments: req.functionArguments ?? "",
      inputsOwnership: (req.inputsOwnership ?? []).map((o) => ({
        dataName: o.dataName ?? "",
        uids: o.uids ?? [],
      })),
      outputsOwnership: (req.outputsOwnership ?? []).map((o) => ({
        dataName: o.dataName ?? "",
        uids: o.uids ?? [],
      })),
    });
    await this.saveTask(task);
    return { taskId: `task-${task.uuid}` };
  }

  async getTask(caller: Caller, req: frontend.GetTaskRequest): Promise<frontend.GetTaskResponse> {
    const userId = ManagementService.requireId(caller);
    const t = await this.loadTask(req.taskId ?? "");
    // PlatformAdmin is not exempt.
    if (!t.participants.has(userId)) throw denied();
    return toGetTaskResponse(t);
  }

  /** Cloister extension: a task's run evidence (LibOS commit and result signature), participants only. */
  async getTaskEvidence(caller: Caller, req: { taskId?: string }): Promise<{ evidence: Buffer }> {
    const userId = ManagementService.requireId(caller);
    const t = await this.loadTask(req.taskId ?? "");
    if (!t.participants.has(userId)) throw denied();
    return { evidence: (await this.store.get(Buffer.from(keys.taskEvidence(t.uuid)))) ?? Buffer.alloc(0) };
  }

  /** Run `fn` on the task named by `taskId` while holding that task's lock. */
  private withTask<T>(taskId: string, fn: (t: TaskRecord) => Promise<T>): Promise<T> {
    const key = keys.task(uuidOf(taskId, "task") ?? "");
    return this.locks.run(key, async () => fn(await this.loadTask(taskId)));
  }

  async assignData(caller: Caller, req: frontend.AssignDataRequest): Promise<Empty> {
    const userId = ManagementService.requireId(caller);
    return this.withTask(req.taskId ?? "", async (task) => {
      const work = beginAssign(task, userId);
      for (const m of req.inputs ?? []) {
        const uuid = ManagementService.parseIdStrict(m.dataId ?? "", "input");
        assignInput(work, userId, m.dataName ?? "", await this.loadInputByUuid(uuid));
      }
      for (const m of req.outputs ?? []) {
        const uuid = ManagementService.parseIdStrict(m.dataId ?? "", "output");
        assignOutput(work, userId, m.dataName ?? "", await this.loadOutputByUuid(uuid));
      }
      // Saved only when every entry succeeded.
      await this.saveTask(finishAssign(work));
      return {};
    });
  }

  async approveTask(caller: Caller, req: frontend.ApproveTaskRequest): Promise<Empty> {
    const userId = ManagementService.requireId(caller);
    return this.withTask(req.taskId ?? "", async (task) => {
      await this.saveTask(approveTask(task, userId));
      return {};
    });
  }

  async invokeTask(caller: Caller, req: frontend.InvokeTaskRequest): Promise<Empty> {
    const userId = ManagementService.requireId(caller);
    return this.withTask(req.taskId ?? "", async (task) => {
      ensureCreator(task, userId);
      const usageKey = keys.usage(task.functionUuid);
      await this.locks.run(usageKey, async () => {
        const [fn, usage] = await Promise.all([
          this.load(keys.function(task.functionUuid), parseFunction),
          this.load(usageKey, parseUsage),
        ]);
        if (!fn || !usage) throw invalidFunctionId();
        checkQuota(fn, usage.useNumbers);
        const staged = stageTask(task);
        // The Staged record, the use count and the queue element are written in one atomic step:
        // a crash can leave neither or all, never a Staged task that no queue announces.
        await this.io(`invoke ${staged.uuid}`, () =>
          this.store.enqueueWith(
            Buffer.from(STAGED_TASK_QUEUE, "utf8"),
            Buffer.from(serializeStagedTask(buildStagedTask(staged, fn)), "utf8"),
            puts([
              [keys.task(staged.uuid), serializeTask(staged)],
              [usageKey, serializeUsage({ ...usage, useNumbers: usage.useNumbers + 1 })],
            ]),
          ),
        );
      });
      return {};
    });
  }

  async cancelTask(caller: Caller, req: frontend.CancelTaskRequest): Promise<Empty> {
    const userId = ManagementService.requireId(caller);
    const role = ManagementService.requireRole(caller);
    return this.withTask(req.taskId ?? "", async (task) => {
      const outcome = cancelTask(task, userId, role);
      if (outcome.action === "queue") await this.enqueue(CANCEL_QUEUE, serializeTask(outcome.task));
      else await this.saveTask(outcome.task);
      return {};
    });
  }

  // ---- audit ---------------------------------------------------------------------------

  async saveLogs(_caller: Caller, req: management.SaveLogsRequest): Promise<Empty> {
    await this.io("save audit logs", () => this.audit.save(req.logs ?? []));
    return {};
  }

  async queryAuditLogs(
    caller: Caller,
    req: frontend.QueryAuditLogsRequest,
  ): Promise<frontend.QueryAuditLogsResponse> {
    ManagementService.requireId(caller);
    const role = ManagementService.requireRole(caller);
    if (role.name !== "PlatformAdmin") throw denied();
    const logs = await this.io("query audit logs", () =>
      this.audit.query(req.query ?? "", Number(req.limit ?? 0)),
    );
    return { logs };
  }
}

const ownerLists = (own: Ownership): frontend.OwnerList[] =>
  [...own.entries()]
    .sort((a, b) => compareBytes(a[0], b[0]))
    .map(([dataName, s]) => ({ dataName, uids: sortedSet(s) }));

const dataMaps = (m: Map<string, { uuid: string }>, kind: "input" | "output"): frontend.DataMap[] =>
  [...m.entries()]
    .sort((a, b) => compareBytes(a[0], b[0]))
    .map(([dataName, f]) => ({ dataName, dataId: `${kind}-${f.uuid}` }));

/** GetTask's view of a task; `result` is always set (empty message while not ready). */
export function toGetTaskResponse(t: TaskRecord): frontend.GetTaskResponse {
  const result: common.TaskResult = taskResultToProto(t.result);
  return {
    taskId: `task-${t.uuid}`,
    creator: t.creator,
    functionId: `function-${t.functionUuid}`,
    functionOwner: t.functionOwner,
    functionArguments: argumentsToJson(t.functionArguments),
    inputsOwnership: ownerLists(t.inputsOwnership),
    outputsOwnership: ownerLists(t.outputsOwnership),
    participants: sortedSet(t.participants),
    approvedUsers: sortedSet(t.approvedUsers),
    assignedInputs: dataMaps(t.assignedInputs, "input"),
    assignedOutputs: dataMaps(t.assignedOutputs, "output"),
    status: t.status,
    result,
  };
}
