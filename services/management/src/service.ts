/**
 * The management service, independent of the transport: each method takes the caller (user id
 * and full role string from the request metadata; "" when absent) and the generated request
 * message, and returns the generated response or throws a CloisterError with the exact legacy
 * code and text. The work is done by one part per concern (functions, data, tasks, audit); this
 * is the table of which part answers which method.
 */
import { KeyedMutex, type Logger, silentLogger } from "@cloister/core";
import type { management } from "@cloister/proto";
import { type RecordBackend, RecordStore, type StagingBackend, TaskStaging } from "@cloister/storage";
import type * as grpc from "@grpc/grpc-js";
import { AuditLog } from "./audit/log.js";
import { Audit } from "./audit/service.js";
import { type Caller, type ManagementContext, storageFailure } from "./context.js";
import { Data } from "./data.js";
import { Functions } from "./functions.js";
import { Tasks } from "./tasks.js";

export { type Caller, validationAsInvalidArgument } from "./context.js";
export { toGetTaskResponse } from "./tasks.js";

type Server = management.TeaclaveManagementServer;
export type ManagementMethod = keyof typeof management.TeaclaveManagementService;
export type RequestOf<M extends ManagementMethod> =
  Server[M] extends grpc.handleUnaryCall<infer Q, infer _R> ? Q : never;
export type ResponseOf<M extends ManagementMethod> =
  Server[M] extends grpc.handleUnaryCall<infer _Q, infer R> ? R : never;

/** Every Teaclave management method, typed from the generated service. */
export type ManagementApi = {
  [M in ManagementMethod]: (caller: Caller, request: RequestOf<M>) => Promise<ResponseOf<M>>;
};

export interface ManagementServiceOptions {
  /** The state layer (the storage service's client in the product). */
  store: RecordBackend & StagingBackend;
  logger?: Logger;
  /** `execution.file_exchange_dir`: where `file:` URLs may point; undefined refuses them. */
  fileExchangeDir?: string | undefined;
}

export class ManagementService implements ManagementApi {
  readonly functions: Functions;
  readonly data: Data;
  readonly tasks: Tasks;
  readonly audit: Audit;

  constructor(opts: ManagementServiceOptions) {
    const log = opts.logger ?? silentLogger;
    const onFailure = storageFailure(log);
    const ctx: ManagementContext = {
      records: new RecordStore(opts.store, { onFailure }),
      staging: new TaskStaging(opts.store, { onFailure }),
      locks: new KeyedMutex(),
      log,
      fileExchangeDir: opts.fileExchangeDir,
    };
    this.functions = new Functions(ctx);
    this.data = new Data(ctx);
    this.tasks = new Tasks(ctx, this.functions, this.data);
    this.audit = new Audit(new AuditLog(ctx.records));
  }

  registerFunction: ManagementApi["registerFunction"] = (c, r) => this.functions.registerFunction(c, r);
  updateFunction: ManagementApi["updateFunction"] = (c, r) => this.functions.updateFunction(c, r);
  getFunction: ManagementApi["getFunction"] = (c, r) => this.functions.getFunction(c, r);
  getFunctionUsageStats: ManagementApi["getFunctionUsageStats"] = (c, r) =>
    this.functions.getFunctionUsageStats(c, r);
  deleteFunction: ManagementApi["deleteFunction"] = (c, r) => this.functions.deleteFunction(c, r);
  disableFunction: ManagementApi["disableFunction"] = (c, r) => this.functions.disableFunction(c, r);
  listFunctions: ManagementApi["listFunctions"] = (c, r) => this.functions.listFunctions(c, r);

  registerInputFile: ManagementApi["registerInputFile"] = (c, r) => this.data.registerInputFile(c, r);
  registerOutputFile: ManagementApi["registerOutputFile"] = (c, r) => this.data.registerOutputFile(c, r);
  updateInputFile: ManagementApi["updateInputFile"] = (c, r) => this.data.updateInputFile(c, r);
  updateOutputFile: ManagementApi["updateOutputFile"] = (c, r) => this.data.updateOutputFile(c, r);
  registerFusionOutput: ManagementApi["registerFusionOutput"] = (c, r) =>
    this.data.registerFusionOutput(c, r);
  registerInputFromOutput: ManagementApi["registerInputFromOutput"] = (c, r) =>
    this.data.registerInputFromOutput(c, r);
  getInputFile: ManagementApi["getInputFile"] = (c, r) => this.data.getInputFile(c, r);
  getOutputFile: ManagementApi["getOutputFile"] = (c, r) => this.data.getOutputFile(c, r);

  createTask: ManagementApi["createTask"] = (c, r) => this.tasks.createTask(c, r);
  getTask: ManagementApi["getTask"] = (c, r) => this.tasks.getTask(c, r);
  assignData: ManagementApi["assignData"] = (c, r) => this.tasks.assignData(c, r);
  approveTask: ManagementApi["approveTask"] = (c, r) => this.tasks.approveTask(c, r);
  invokeTask: ManagementApi["invokeTask"] = (c, r) => this.tasks.invokeTask(c, r);
  cancelTask: ManagementApi["cancelTask"] = (c, r) => this.tasks.cancelTask(c, r);
  getTaskEvidence = (c: Caller, r: { taskId?: string }) => this.tasks.getTaskEvidence(c, r);

  saveLogs: ManagementApi["saveLogs"] = (c, r) => this.audit.saveLogs(c, r);
  queryAuditLogs: ManagementApi["queryAuditLogs"] = (c, r) => this.audit.queryAuditLogs(c, r);
}
