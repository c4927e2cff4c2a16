export { ConsoleAttestationError, ConsoleError, type ConsoleErrorCode } from "./errors.js";
export { CONTENT_SECURITY_POLICY } from "./http.js";
export {
  attestPlatform,
  type ConsoleOptions,
  type EndpointAttestation,
  type RunningConsole,
  startConsole,
} from "./server.js";
export { summarizeTask, type TaskSummary } from "./task-view.js";
