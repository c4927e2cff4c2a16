import { cloisterError, Status } from "@cloister/core";
import { authentication, common, type Empty, extensions, frontend } from "@cloister/proto";
import {
  attestedChannelCredentials,
  callUnary,
  createClient,
  GET_TASK_WAIT_METADATA,
  identityMetadata,
  type RequestOf,
  type ResponseOf,
  toRpcError,
  type UnaryMethodName,
} from "@cloister/rpc";
import { verifyAttestedCertificate } from "@cloister/tee";
import * as grpc from "@grpc/grpc-js";
import { describeCallError } from "./errors.js";
import { type ExecutorType, resolveTaskExecutor, type TaskExecutor } from "./executors.js";
import { TaskWaitTimeoutError } from "./progress.js";
import { type PlatformTrust, policyFor } from "./trust.js";

export interface ClientOptions {
  /** `host:port` of the authentication API (default localhost:7776). */
  authentication?: string;
  /** `host:port` of the frontend (default localhost:7777). */
  frontend?: string;
  trust: PlatformTrust;
  /** Reuse a session: user id and token from an earlier login. */
  session?: { id: string; token: string };
  /** Per-call deadline (default 60 s). */
  deadlineMs?: number;
}

type Api = authentication.TeaclaveAuthenticationApiClient;
type Fe = frontend.TeaclaveFrontendClient;
export type TaskView = frontend.GetTaskResponse;
export type FunctionView = frontend.GetFunctionResponse;
export type AuditEntry = common.Entry;

/** A file's crypto description as sent on the wire; `@cloister/crypto`'s FileCryptoInfo fits. */
export interface CryptoInfoLike {
  schema: string;
  key?: Uint8Array;
  iv?: Uint8Array;
}

/** What a user declares when registering (or replacing) a function. */
export type FunctionDefinition = Partial<Omit<frontend.RegisterFunctionRequest, "payload">> & {
  name: string;
  payload?: Uint8Array;
};

/** Data name → set of owners, as CreateTask takes it. */
export type Ownership = Array<{ dataName: string; uids: string[] }>;

/** A registered file as its owners see it. */
export interface FileView {
  owner: string[];
  /** Empty for an output no task has produced yet. */
  cmac: Buffer;
}

/** Lines of a task's log, as `taskLog` yields them. */
export interface TaskLogChunk {
  lines: string[];
  /** The log reached its bound (1 MiB): nothing comes after these lines. */
  truncated: boolean;
  /** False when the task does not keep a log (no `save_log`): nothing will come. */
  kept: boolean;
  /** The task's status when these lines were read. */
  status: common.TaskStatus;
}

const ENDED = new Set([common.TaskStatus.Finished, common.TaskStatus.Canceled, common.TaskStatus.Failed]);

/**
 * A client of a Cloister (or Teaclave) platform. Every connection is attested before a byte of
 * a request is sent: the endpoint must prove it runs the authentication / frontend code listed
 * in the trusted enclave_info.toml, under the trusted attestation root.
 */
export class CloisterClient {
  private readonly api: Api;
  private readonly fe: Fe;
  private readonly feExt: extensions.CloisterFrontendClient;
  /** Made on first use: most clients never follow a log. */
  private logs: extensions.CloisterTaskLogsClient | undefined;
  private readonly frontendCredentials: grpc.ChannelCredentials;
  private readonly deadlineMs: number;
  /** Set once the frontend answered WatchTask with UNIMPLEMENTED (a Teaclave platform). */
  private watchUnsupported = false;
  readonly authenticationAddress: string;
  readonly frontendAddress: string;
  session: { id: string; token: string } | undefined;

  constructor(options: ClientOptions) {
    const verify = (enclave: string) => {
      const policy = policyFor(options.trust, enclave);
      return (der: Buffer) => verifyAttestedCertificate(der, policy);
    };
    this.authenticationAddress = options.authentication ?? "localhost:7776";
    this.frontendAddress = options.frontend ?? "localhost:7777";
    this.api = createClient(
      authentication.TeaclaveAuthenticationApiClient,
      this.authenticationAddress,
      attestedChannelCredentials({ verifyServer: verify("teaclave_authentication_service") }),
    );
    // One credentials object for every frontend client: they share one attested connection.
    this.frontendCredentials = attestedChannelCredentials({
      verifyServer: verify("teaclave_frontend_service"),
    });
    this.fe = createClient(frontend.TeaclaveFrontendClient, this.frontendAddress, this.frontendCredentials);
    this.feExt = createClient(
      extensions.CloisterFrontendClient,
      this.frontendAddress,
      this.frontendCredentials,
    );
    this.deadlineMs = options.deadlineMs ?? 60_000;
    this.session = options.session;
  }

  /**
   * A task's run evidence (Cloister extension; the LibOS executor's commit and result signature,
   * JSON `cloister.libos.evidence/1`), or undefined when it has none. Participants only.
   */
  async taskEvidence(taskId: string): Promise<Buffer | undefined> {
    const metadata = this.metadata();
    const r = await callUnary(
      this.feExt,
      "getTaskEvidence",
      { taskId },
      {
        deadlineMs: this.deadlineMs,
        ...(metadata ? { metadata } : {}),
      },
    ).catch((e: unknown) => {
      throw describeCallError(e, "frontend", this.frontendAddress);
    });
    return r.evidence.length ? Buffer.from(r.evidence) : undefined;
  }

  /**
   * A task's own log (Cloister extension): the function's stdout, stderr and console lines, kept
   * while it runs when the task asked for `save_log`. Participants only. Yields chunks of lines;
   * with `follow` the iteration ends once the task is finished, failed or canceled. Breaking out
   * of the loop (or `signal`) cancels the stream.
   */
  async *taskLog(
    taskId: string,
    options: { follow?: boolean; signal?: AbortSignal } = {},
  ): AsyncGenerator<TaskLogChunk, void, undefined> {
    const metadata = this.metadata();
    this.logs ??= createClient(
      extensions.CloisterTaskLogsClient,
      this.frontendAddress,
      this.frontendCredentials,
    );
    const call = this.logs.streamTaskLog(
      { taskId, follow: options.follow ?? false },
      ...((metadata ? [metadata] : []) as [grpc.Metadata]),
    ) as grpc.ClientReadableStream<extensions.TaskLogChunk>;
    const cancel = () => call.cancel();
    options.signal?.addEventListener("abort", cancel, { once: true });
    try {
      for await (const chunk of call as AsyncIterable<extensions.TaskLogChunk>) {
        yield {
          lines: chunk.lines,
          truncated: chunk.truncated,
          kept: chunk.kept,
          status: chunk.status,
        };
      }
    } catch (e) {
      if ((e as { code?: number }).code !== undefined)
        throw describeCallError(toRpcError(e as grpc.ServiceError), "frontend", this.frontendAddress);
      throw e;
    } finally {
      options.signal?.removeEventListener("abort", cancel);
      call.cancel();
    }
  }

  /**
   * Execution nodes and queue depth (Cloister extension). Every authenticated user gets the
   * counts; a PlatformAdmin also gets each node's slots, executors and last heartbeats.
   */
  async platformStatus(): Promise<extensions.PlatformStatus> {
    const metadata = this.metadata();
    return callUnary(
      this.feExt,
      "getPlatformStatus",
      {},
      { deadlineMs: this.deadlineMs, ...(metadata ? { metadata } : {}) },
    ).catch((e: unknown) => {
      throw describeCallError(e, "frontend", this.frontendAddress);
    });
  }

  private metadata() {
    return this.session ? identityMetadata(this.session) : undefined;
  }

  /** Any authentication-API RPC, authenticated with the current session. */
  authCall<M extends UnaryMethodName<Api>>(
    method: M,
    request: RequestOf<Api, M>,
  ): Promise<ResponseOf<Api, M>> {
    const metadata = this.metadata();
    return callUnary(this.api, method, request, {
      deadlineMs: this.deadlineMs,
      ...(metadata ? { metadata } : {}),
    }).catch((e: unknown) => {
      throw describeCallError(e, "authentication service", this.authenticationAddress);
    });
  }

  /** Any frontend RPC, authenticated with the current session (plus `extra` metadata). */
  call<M extends UnaryMethodName<Fe>>(
    method: M,
    request: RequestOf<Fe, M>,
    extra?: Readonly<Record<string, string>>,
  ): Promise<ResponseOf<Fe, M>> {
    let metadata = this.metadata();
    if (extra) {
      metadata ??= new grpc.Metadata();
      for (const [key, value] of Object.entries(extra)) metadata.set(key, value);
    }
    return callUnary(this.fe, method, request, {
      deadlineMs: this.deadlineMs,
      ...(metadata ? { metadata } : {}),
    }).catch((e: unknown) => {
      throw describeCallError(e, "frontend", this.frontendAddress);
    });
  }

  // ----- authentication API -----

  async login(id: string, password: string): Promise<string> {
    // Login sends no credential metadata, whatever session the client holds.
    const { token } = await callUnary(
      this.api,
      "userLogin",
      { id, password },
      { deadlineMs: this.deadlineMs },
    ).catch((e: unknown) => {
      throw describeCallError(e, "authentication service", this.authenticationAddress);
    });
    this.session = { id, token };
    return token;
  }

  /** Forget the session locally (tokens cannot be revoked server-side; they expire after 24 h). */
  logout(): void {
    this.session = undefined;
  }

  async registerUser(id: string, password: string, role: string, attribute = ""): Promise<void> {
    await this.authCall("userRegister", { id, password, role, attribute });
  }

  /** Replaces the user's password **and** role/attribute; the new role applies at its next login. */
  async updateUser(id: string, password: string, role: string, attribute = ""): Promise<void> {
    await this.authCall("userUpdate", { id, password, role, attribute });
  }

  /** Sets the password of the logged-in user. */
  async changePassword(password: string): Promise<void> {
    await this.authCall("userChangePassword", { password });
  }

  /** Gives `id` a new random password and returns it. */
  async resetUserPassword(id: string): Promise<string> {
    return (await this.authCall("resetUserPassword", { id })).password;
  }

  async deleteUser(id: string): Promise<void> {
    await this.authCall("deleteUser", { id });
  }

  /**
   * User ids the caller may manage. A PlatformAdmin gets every user (any non-empty `id`); a
   * DataOwnerManager passes its group attribute and gets that group's data owners.
   */
  async listUsers(id?: string): Promise<string[]> {
    return (await this.authCall("listUsers", { id: id ?? this.session?.id ?? "" })).ids;
  }

  // ----- functions -----

  /** Registers a function; defaults as the Python SDK: builtin, public, unlimited usage. */
  async registerFunction(request: FunctionDefinition): Promise<string> {
    const r = await this.call(
      "registerFunction",
      frontend.RegisterFunctionRequest.fromPartial(withFunctionDefaults(request)),
    );
    return r.functionId;
  }

  getFunction(functionId: string): Promise<FunctionView> {
    return this.call("getFunction", { functionId });
  }

  /** Replaces **every** field of the function (fields not given get registerFunction's defaults). */
  async updateFunction(functionId: string, definition: FunctionDefinition): Promise<string> {
    const r = await this.call(
      "updateFunction",
      frontend.UpdateFunctionRequest.fromPartial({ ...withFunctionDefaults(definition), functionId }),
    );
    return r.functionId;
  }

  /** Functions `userId` (default: the caller) registered, and those it may use. */
  async listFunctions(
    userId?: string,
  ): Promise<{ registeredFunctions: string[]; allowedFunctions: string[] }> {
    const r = await this.call("listFunctions", { userId: userId ?? this.session?.id ?? "" });
    return { registeredFunctions: r.registeredFunctions, allowedFunctions: r.allowedFunctions };
  }

  async deleteFunction(functionId: string): Promise<void> {
    await this.call("deleteFunction", { functionId });
  }

  async disableFunction(functionId: string): Promise<void> {
    await this.call("disableFunction", { functionId });
  }

  /** `functionQuota` is −1 when unlimited; `currentUsage` counts successful invocations. */
  async getFunctionUsageStats(functionId: string): Promise<{ functionQuota: number; currentUsage: number }> {
    const r = await this.call("getFunctionUsageStats", { functionId });
    return { functionQuota: r.functionQuota, currentUsage: r.currentUsage };
  }

  // ----- data -----

  async registerInputFile(url: string, cmac: Uint8Array, cryptoInfo: CryptoInfoLike): Promise<string> {
    const r = await this.call("registerInputFile", {
      url,
      cmac: Buffer.from(cmac),
      cryptoInfo: wireCrypto(cryptoInfo),
    });
    return r.dataId;
  }

  async registerOutputFile(url: string, cryptoInfo: CryptoInfoLike): Promise<string> {
    const r = await this.call("registerOutputFile", { url, cryptoInfo: wireCrypto(cryptoInfo) });
    return r.dataId;
  }

  /** A new input record at `url` with the old one's key, cmac and owners; returns the new id. */
  async updateInputFile(dataId: string, url: string): Promise<string> {
    return (await this.call("updateInputFile", { dataId, url })).dataId;
  }

  /** A new output record at `url` with the old one's key and owners; returns the new id. */
  async updateOutputFile(dataId: string, url: string): Promise<string> {
    return (await this.call("updateOutputFile", { dataId, url })).dataId;
  }

  /** An output owned jointly by `owners` (the caller among them), encrypted with a platform key. */
  async registerFusionOutput(owners: string[]): Promise<string> {
    return (await this.call("registerFusionOutput", { ownerList: owners })).dataId;
  }

  /** Makes a produced output usable as an input of later tasks; returns the `input-` id. */
  async registerInputFromOutput(outputId: string): Promise<string> {
    return (await this.call("registerInputFromOutput", { dataId: outputId })).dataId;
  }

  async getInputFile(dataId: string): Promise<FileView> {
    const r = await this.call("getInputFile", { dataId });
    return { owner: r.owner, cmac: Buffer.from(r.cmac) };
  }

  async getOutputFile(dataId: string): Promise<FileView> {
    const r = await this.call("getOutputFile", { dataId });
    return { owner: r.owner, cmac: Buffer.from(r.cmac) };
  }

  // ----- tasks -----

  async createTask(request: {
    functionId: string;
    arguments?: Record<string, unknown>;
    /** Default `builtin`; a function's executor type is accepted too (`python` → `mesapy`). */
    executor?: TaskExecutor | ExecutorType;
    inputsOwnership?: Ownership;
    outputsOwnership?: Ownership;
  }): Promise<string> {
    const r = await this.call("createTask", {
      functionId: request.functionId,
      functionArguments: JSON.stringify(request.arguments ?? {}),
      executor: resolveTaskExecutor(request.executor ?? "builtin") ?? request.executor!,
      inputsOwnership: request.inputsOwnership ?? [],
      outputsOwnership: request.outputsOwnership ?? [],
    });
    return r.taskId;
  }

  async assignData(
    taskId: string,
    inputs: Record<string, string> = {},
    outputs: Record<string, string> = {},
  ): Promise<Empty> {
    const map = (m: Record<string, string>) =>
      Object.entries(m).map(([dataName, dataId]) => ({ dataName, dataId }));
    return this.call("assignData", { taskId, inputs: map(inputs), outputs: map(outputs) });
  }

  approveTask(taskId: string): Promise<Empty> {
    return this.call("approveTask", { taskId });
  }

  invokeTask(taskId: string): Promise<Empty> {
    return this.call("invokeTask", { taskId });
  }

  cancelTask(taskId: string): Promise<Empty> {
    return this.call("cancelTask", { taskId });
  }

  /**
   * The task as it is now. A Cloister frontend may hold a GetTask while the task runs, for
   * clients that poll; this one asks it not to (waitForTask follows the task instead).
   */
  getTask(taskId: string): Promise<TaskView> {
    return this.viewTask(taskId, 0);
  }

  /** GetTask, letting a Cloister frontend hold the answer up to `waitMs` for the task to end. */
  private viewTask(taskId: string, waitMs: number): Promise<TaskView> {
    return this.call(
      "getTask",
      { taskId },
      { [GET_TASK_WAIT_METADATA]: String(Math.max(0, Math.floor(waitMs))) },
    );
  }

  /**
   * Resolves once the task has ended (Finished, Failed or Canceled). Follows the task with
   * Cloister's WatchTask stream, which pushes every status change; against a platform without it
   * (or after the stream broke off, e.g. the frontend restarted) it polls GetTask instead.
   */
  async waitForTask(
    taskId: string,
    options: { timeoutMs?: number; pollMs?: number; onProgress?: (task: TaskView) => void } = {},
  ): Promise<TaskView> {
    const timeoutMs = options.timeoutMs ?? 120_000;
    const deadline = Date.now() + timeoutMs;
    const timedOut = async (task?: TaskView) =>
      new TaskWaitTimeoutError(task ?? (await this.getTask(taskId)), taskId, Math.round(timeoutMs / 1000));
    if (!this.watchUnsupported) {
      const watched = await this.watchTask(taskId, deadline, options.onProgress);
      if (watched === "timeout") throw await timedOut();
      if (watched) return watched;
    }
    let pollMs = options.pollMs ?? 10;
    for (;;) {
      // A Cloister frontend answers as soon as the task ends (others at once, and we sleep).
      const task = await this.viewTask(taskId, Math.min(Math.max(0, deadline - Date.now()), 1000));
      if (ENDED.has(task.status)) return task;
      options.onProgress?.(task);
      if (Date.now() > deadline) throw await timedOut(task);
      await new Promise((r) => setTimeout(r, pollMs));
      pollMs = Math.min(pollMs * 2, options.pollMs ?? 250);
    }
  }

  /**
   * The ended task from WatchTask; undefined when polling must take over (the platform has no
   * WatchTask, or the stream broke off before the end); "timeout" at the deadline.
   */
  private async watchTask(
    taskId: string,
    deadline: number,
    onProgress?: (task: TaskView) => void,
  ): Promise<TaskView | "timeout" | undefined> {
    const stream = this.feExt.watchTask({ taskId }, this.metadata() ?? new grpc.Metadata(), { deadline });
    let ended: TaskView | undefined;
    try {
      for await (const message of stream) {
        const task = (message as extensions.WatchTaskResponse).task;
        if (!task) continue;
        // The server ends the stream right after an ended view: read on to its end. Cancelling
        // here made the server's closing frames arrive on a reset stream, and after 1000 of
        // those Node's HTTP/2 session closed the client's connection (every call on it failed).
        if (ENDED.has(task.status)) ended = task;
        else if (!ended) onProgress?.(task);
      }
      return ended;
    } catch (e) {
      // The stream broke off after the ended view: that view is the answer.
      if (ended) return ended;
      const error = toRpcError(e as grpc.ServiceError);
      if (error.code === Status.UNIMPLEMENTED) this.watchUnsupported = true;
      else if (error.code === Status.DEADLINE_EXCEEDED) return "timeout";
      else if (error.code !== Status.UNAVAILABLE && error.code !== Status.CANCELLED)
        throw describeCallError(error, "frontend", this.frontendAddress);
      return undefined;
    } finally {
      stream.cancel();
    }
  }

  /** The function's return value, or a CloisterError carrying the failure reason. */
  async taskResult(
    taskId: string,
    options: { timeoutMs?: number; onProgress?: (task: TaskView) => void } = {},
  ): Promise<Buffer> {
    return returnValueOf(await this.waitForTask(taskId, options));
  }

  /**
   * The task's outputs once it finished successfully: return value, output tags (hex-comparable
   * 16-byte cmacs per output name) and the captured log.
   */
  async taskOutputs(
    taskId: string,
    options: { timeoutMs?: number; onProgress?: (task: TaskView) => void } = {},
  ): Promise<{ returnValue: Buffer; tags: Record<string, Buffer>; log: string[] }> {
    // The ended view carries everything: no second GetTask.
    const task = await this.waitForTask(taskId, options);
    const returnValue = returnValueOf(task);
    const ok = task.result?.Ok;
    const tags = Object.fromEntries(Object.entries(ok?.tagsMap ?? {}).map(([k, v]) => [k, Buffer.from(v)]));
    return { returnValue, tags, log: ok?.log ?? [] };
  }

  // ----- audit -----

  /** Audit entries matching `query` (e.g. `message:register_function`), newest first. */
  async queryAuditLogs(query: string, limit = 100): Promise<AuditEntry[]> {
    return (await this.call("queryAuditLogs", { query, limit })).logs;
  }

  close(): void {
    this.api.close();
    this.fe.close();
    this.feExt.close();
    this.logs?.close();
  }
}

function withFunctionDefaults(d: FunctionDefinition): Partial<frontend.RegisterFunctionRequest> {
  const { payload, ...rest } = d;
  return {
    executorType: "builtin",
    public: true,
    usageQuota: -1,
    ...rest,
    payload: payload ? Buffer.from(payload) : Buffer.alloc(0),
  };
}

function wireCrypto(info: CryptoInfoLike): common.FileCryptoInfo {
  return {
    schema: info.schema,
    key: info.key ? Buffer.from(info.key) : Buffer.alloc(0),
    iv: info.iv ? Buffer.from(info.iv) : Buffer.alloc(0),
  };
}

/** An ended task's return value, or a CloisterError carrying why it has none. */
function returnValueOf(task: TaskView): Buffer {
  const ok = task.result?.Ok;
  // cloisterFailure: the function failed, though legacy clients see an Ok result (decisions.md).
  if (task.status === common.TaskStatus.Finished && ok && !ok.cloisterFailure)
    return Buffer.from(ok.returnValue);
  const reason = ok?.cloisterFailure || task.result?.Err?.reason || "no result";
  const state =
    task.status === common.TaskStatus.Finished
      ? "failed"
      : common.taskStatusToJSON(task.status).toLowerCase();
  throw cloisterError("TASK_FAILED", { state, reason });
}
