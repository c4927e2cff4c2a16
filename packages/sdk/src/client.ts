import { CloisterError, Status } from "@cloister/core";
import { authentication, common, type Empty, frontend } from "@cloister/proto";
import { attestedChannelCredentials, callUnary, createClient, identityMetadata, type RequestOf, type ResponseOf, type UnaryMethodName } from "@cloister/rpc";
import { verifyAttestedCertificate } from "@cloister/tee";
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

const ENDED = new Set([common.TaskStatus.Finished, common.TaskStatus.Canceled, common.TaskStatus.Failed]);

/**
 * A client of a Cloister (or Teaclave) platform. Every connection is attested before a byte of
 * a request is sent: the endpoint must prove it runs the authentication / frontend code listed
 * in the trusted enclave_info.toml, under the trusted attestation root.
 */
export class CloisterClient {
  private readonly api: Api;
  private readonly fe: Fe;
  private readonly deadlineMs: number;
  session: { id: string; token: string } | undefined;

  constructor(options: ClientOptions) {
    const verify = (enclave: string) => {
      const policy = policyFor(options.trust, enclave);
      return (der: Buffer) => verifyAttestedCertificate(der, policy);
    };
    this.api = createClient(
      authentication.TeaclaveAuthenticationApiClient,
      options.authentication ?? "localhost:7776",
      attestedChannelCredentials({ verifyServer: verify("teaclave_authentication_service") }),
    );
    this.fe = createClient(
      frontend.TeaclaveFrontendClient,
      options.frontend ?? "localhost:7777",
      attestedChannelCredentials({ verifyServer: verify("teaclave_frontend_service") }),
    );
    this.deadlineMs = options.deadlineMs ?? 60_000;
    this.session = options.session;
  }

  private metadata() {
    return this.session ? identityMetadata(this.session) : undefined;
  }

  /** Any authentication-API RPC, authenticated with the current session. */
  authCall<M extends UnaryMethodName<Api>>(method: M, request: RequestOf<Api, M>): Promise<ResponseOf<Api, M>> {
    const metadata = this.metadata();
    return callUnary(this.api, method, request, { deadlineMs: this.deadlineMs, ...(metadata ? { metadata } : {}) });
  }

  /** Any frontend RPC, authenticated with the current session. */
  call<M extends UnaryMethodName<Fe>>(method: M, request: RequestOf<Fe, M>): Promise<ResponseOf<Fe, M>> {
    const metadata = this.metadata();
    return callUnary(this.fe, method, request, { deadlineMs: this.deadlineMs, ...(metadata ? { metadata } : {}) });
  }

  async login(id: string, password: string): Promise<string> {
    const { token } = await callUnary(this.api, "userLogin", { id, password }, { deadlineMs: this.deadlineMs });
    this.session = { id, token };
    return token;
  }

  async registerUser(id: string, password: string, role: string, attribute = ""): Promise<void> {
    await this.authCall("userRegister", { id, password, role, attribute });
  }

  async registerFunction(request: Partial<frontend.RegisterFunctionRequest> & { name: string }): Promise<string> {
    const r = await this.call(
      "registerFunction",
      frontend.RegisterFunctionRequest.fromPartial({ executorType: "builtin", public: true, usageQuota: -1, ...request }),
    );
    return r.functionId;
  }

  async createTask(request: {
    functionId: string;
    arguments?: Record<string, unknown>;
    executor?: string;
    inputsOwnership?: Array<{ dataName: string; uids: string[] }>;
    outputsOwnership?: Array<{ dataName: string; uids: string[] }>;
  }): Promise<string> {
    const r = await this.call("createTask", {
      functionId: request.functionId,
      functionArguments: JSON.stringify(request.arguments ?? {}),
      executor: request.executor ?? "builtin",
      inputsOwnership: request.inputsOwnership ?? [],
      outputsOwnership: request.outputsOwnership ?? [],
    });
    return r.taskId;
  }

  async assignData(taskId: string, inputs: Record<string, string> = {}, outputs: Record<string, string> = {}): Promise<Empty> {
    const map = (m: Record<string, string>) => Object.entries(m).map(([dataName, dataId]) => ({ dataName, dataId }));
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

  getTask(taskId: string): Promise<TaskView> {
    return this.call("getTask", { taskId });
  }

  /** Poll GetTask until the task has ended (Finished, Canceled or Failed). */
  async waitForTask(taskId: string, options: { timeoutMs?: number; pollMs?: number } = {}): Promise<TaskView> {
    const deadline = Date.now() + (options.timeoutMs ?? 120_000);
    let pollMs = options.pollMs ?? 10;
    for (;;) {
      const task = await this.getTask(taskId);
      if (ENDED.has(task.status)) return task;
      if (Date.now() > deadline) throw new CloisterError(Status.DEADLINE_EXCEEDED, `task ${taskId} has not ended`);
      await new Promise((r) => setTimeout(r, pollMs));
      pollMs = Math.min(pollMs * 2, options.pollMs ?? 250);
    }
  }

  /** The function's return value, or a CloisterError carrying the failure reason. */
  async taskResult(taskId: string, options: { timeoutMs?: number } = {}): Promise<Buffer> {
    const task = await this.waitForTask(taskId, options);
    if (task.status === common.TaskStatus.Finished && task.result?.Ok) return Buffer.from(task.result.Ok.returnValue);
    const reason = task.result?.Err?.reason ?? "no result";
    const state = task.status === common.TaskStatus.Finished ? "failed" : common.taskStatusToJSON(task.status).toLowerCase();
    throw new CloisterError(Status.UNKNOWN, `task ${state}: ${reason}`);
  }

  close(): void {
    this.api.close();
    this.fe.close();
  }
}
