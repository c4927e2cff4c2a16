export { AuditLog } from "./audit/log.js";
export { type AuditDoc, AuditQueryError, compileQuery, tokenize } from "./audit/query.js";
export {
  type Caller,
  type ManagementApi,
  type ManagementMethod,
  ManagementService,
  type ManagementServiceOptions,
  toGetTaskResponse,
  validationAsInvalidArgument,
} from "./service.js";
export * from "./start.js";
export { normalizeUrl } from "./url.js";
