import { randomUUID } from "node:crypto";
import {
  compareBytes,
  FunctionId,
  type FunctionRecord,
  functionRecords,
  parseExecutorType,
  quotaFromWire,
  type UserFunctionsRecord,
  usageRecords,
  userFunctionsRecords,
} from "@cloister/model";
import type { Empty, frontend } from "@cloister/proto";
import {
  type Caller,
  denied,
  invalidFunctionId,
  lockKey,
  type ManagementContext,
  requireId,
  requireRole,
} from "./context.js";

/** At most this many user records are updated at once when a function's allowlist fans out. */
const FAN_OUT = 8;

async function forEachBounded<T>(items: Iterable<T>, run: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const worker = async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await run(item);
  };
  await Promise.all(Array.from({ length: Math.min(FAN_OUT, queue.length) }, worker));
}

function functionFromRequest(
  uuid: string,
  owner: string,
  r: frontend.RegisterFunctionRequest | frontend.UpdateFunctionRequest,
): FunctionRecord {
  const io = (d: { name?: string; description?: string; optional?: boolean }) => ({
    name: d.name ?? "",
    description: d.description ?? "",
    optional: d.optional ?? false,
  });
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
    inputs: (r.inputs ?? []).map(io),
    outputs: (r.outputs ?? []).map(io),
    owner,
    userAllowlist: [...(r.userAllowlist ?? [])],
    usageQuota: quotaFromWire(r.usageQuota ?? 0),
  };
}

/** Functions: registration, updates, visibility, usage and the per-user function lists. */
export class Functions {
  constructor(private readonly ctx: ManagementContext) {}

  /** The function an external id names; missing, damaged or malformed → 3 `invalid function id`. */
  async load(external: string): Promise<FunctionRecord> {
    const id = FunctionId.tryParse(external);
    const f = id && (await this.ctx.records.find(functionRecords, id));
    if (!f) throw invalidFunctionId();
    return f;
  }

  /** Run `fn` on the function `external` names under that record's lock. */
  private withFunction<T>(external: string, fn: (f: FunctionRecord) => Promise<T>): Promise<T> {
    const id = FunctionId.tryParse(external);
    if (!id) return Promise.reject(invalidFunctionId());
    return this.ctx.locks.run(lockKey(functionRecords.key(id)), async () => fn(await this.load(external)));
  }

  private save(f: FunctionRecord): Promise<void> {
    return this.ctx.records.put(functionRecords, FunctionId.fromUuid(f.uuid), f);
  }

  /** Read-modify-write of one user's function lists under that record's lock. */
  private async updateUserFunctions(
    userId: string,
    change: (u: UserFunctionsRecord) => void,
    createIfMissing: boolean,
  ): Promise<void> {
    const { records, locks } = this.ctx;
    await locks.run(lockKey(userFunctionsRecords.key(userId)), async () => {
      const existing = await records.find(userFunctionsRecords, userId);
      if (!existing && !createIfMissing) return;
      const u = existing ?? { id: userId, registeredFunctions: [], allowedFunctions: [] };
      change(u);
      await records.put(userFunctionsRecords, userId, u);
    });
  }

  async registerFunction(
    caller: Caller,
    req: frontend.RegisterFunctionRequest,
  ): Promise<frontend.RegisterFunctionResponse> {
    const userId = requireId(caller);
    const id = FunctionId.fromUuid(randomUUID());
    const fn = functionFromRequest(id, userId, req);
    await this.save(fn);
    await this.ctx.records.put(usageRecords, id, { functionUuid: id, useNumbers: 0 });
    const external = FunctionId.external(id);
    const add = (list: string[]) => {
      if (!list.includes(external)) list.push(external);
    };
    await this.updateUserFunctions(userId, (u) => add(u.registeredFunctions), true);
    await forEachBounded(new Set(fn.userAllowlist), (allowed) =>
      this.updateUserFunctions(allowed, (u) => add(u.allowedFunctions), true),
    );
    return { functionId: external };
  }

  async updateFunction(
    caller: Caller,
    req: frontend.UpdateFunctionRequest,
  ): Promise<frontend.UpdateFunctionResponse> {
    const userId = requireId(caller);
    return this.withFunction(req.functionId, async (current) => {
      if (current.owner !== userId) throw denied();
      const fn = functionFromRequest(current.uuid, userId, req);
      await this.save(fn);
      return { functionId: FunctionId.external(FunctionId.fromUuid(fn.uuid)) };
    });
  }

  async getFunction(caller: Caller, req: frontend.GetFunctionRequest): Promise<frontend.GetFunctionResponse> {
    const userId = requireId(caller);
    const role = requireRole(caller);
    const fn = await this.load(req.functionId);
    const full = fn.public || role.name === "PlatformAdmin" || fn.owner === userId;
    if (!full && !fn.userAllowlist.includes(userId)) throw denied();
    return {
      name: fn.name,
      description: fn.description,
      executorType: fn.executorType,
      owner: fn.owner,
      payload: full ? fn.payload : Buffer.alloc(0),
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
    const userId = requireId(caller);
    const role = requireRole(caller);
    // Both records are read at once (one storage round trip of latency); the usage is only
    // returned once the function's rules allow it.
    const id = FunctionId.tryParse(req.functionId);
    const [fn, usage] = await Promise.all([
      this.load(req.functionId),
      id ? this.ctx.records.find(usageRecords, id) : undefined,
    ]);
    // The owner of a private function is not allowed unless allowlisted (legacy rule).
    if (!(fn.public || role.name === "PlatformAdmin" || fn.userAllowlist.includes(userId))) throw denied();
    if (!usage) throw invalidFunctionId();
    return { functionQuota: fn.usageQuota ?? -1, currentUsage: usage.useNumbers };
  }

  async deleteFunction(caller: Caller, req: frontend.DeleteFunctionRequest): Promise<Empty> {
    const userId = requireId(caller);
    return this.withFunction(req.functionId, async (fn) => {
      // PlatformAdmin is not exempt here.
      if (fn.owner !== userId) throw denied();
      await this.ctx.records.delete(functionRecords, FunctionId.fromUuid(fn.uuid));
      return {};
    });
  }

  async disableFunction(caller: Caller, req: frontend.DisableFunctionRequest): Promise<Empty> {
    const userId = requireId(caller);
    const role = requireRole(caller);
    return this.withFunction(req.functionId, async (fn) => {
      if (role.name !== "PlatformAdmin" && fn.owner !== userId) throw denied();
      const external = FunctionId.external(FunctionId.fromUuid(fn.uuid));
      const strip = (u: UserFunctionsRecord) => {
        u.registeredFunctions = u.registeredFunctions.filter((x) => x !== external);
        u.allowedFunctions = u.allowedFunctions.filter((x) => x !== external);
      };
      await forEachBounded(new Set([fn.owner, ...fn.userAllowlist]), (user) =>
        this.updateUserFunctions(user, strip, false),
      );
      await this.save({ ...fn, userAllowlist: [] });
      return {};
    });
  }

  async listFunctions(
    caller: Caller,
    req: frontend.ListFunctionsRequest,
  ): Promise<frontend.ListFunctionsResponse> {
    const userId = requireId(caller);
    const role = requireRole(caller);
    const admin = role.name === "PlatformAdmin";
    if (!admin && req.userId !== userId) throw denied();
    const lists = await this.ctx.records.find(userFunctionsRecords, req.userId ?? "");
    if (!lists) return { registeredFunctions: [], allowedFunctions: [] };
    let allowed = lists.allowedFunctions;
    if (admin) {
      const all = await this.ctx.records.list(functionRecords);
      allowed = all.map((id) => FunctionId.external(id)).sort(compareBytes);
    }
    return { registeredFunctions: [...lists.registeredFunctions], allowedFunctions: allowed };
  }
}
