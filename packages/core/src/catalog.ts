import { Status, type StatusCode } from "./status.js";

/**
 * One failure the platform can report. `text` is the exact message on the wire; `{name}`
 * placeholders are filled from the parameters the failure is raised with, and `params` gives
 * the shape each one can take (so a received text can be recognised without guessing).
 */
export interface ErrorSpec {
  /** gRPC status code on the wire. */
  readonly code: StatusCode;
  readonly text: string;
  /** Regular expressions (source) for the placeholders; a placeholder not listed matches `.+`. */
  readonly params?: Readonly<Record<string, string>>;
  /** Who answers with it (or, for client-side failures, which client raises it). */
  readonly source: string;
  /** When it happens, in a user's words. */
  readonly when: string;
  /**
   * The text is Teaclave's own and Teaclave clients or tests match on it: it must never change,
   * typos included.
   */
  readonly legacy?: true;
  /** The text is another component's message (a parser's): it is not recognised on the wire. */
  readonly opaque?: true;
}

const NAMES = "[A-Za-z0-9_]+";
const COUNT = "[0-9]+";
const URL_ERRORS =
  "RelativeUrlWithoutBase|EmptyHost|InvalidPort|IdnaError|InvalidIpv4Address|InvalidIpv6Address|InvalidDomainCharacter";

/**
 * Every failure Cloister reports, each once. Code raises errors by kind (`cloisterError`) and tests
 * them by kind (`hasKind`), never by their text; docs/errors.md is generated from this table
 * (`npm run docs:errors`) and a test keeps them equal.
 */
export const ERRORS = {
  // ---- credentials and the API gate -------------------------------------------------------
  MISSING_USER_ID: {
    code: Status.UNAUTHENTICATED,
    text: "missing user id",
    source: "frontend, authentication API",
    when: "the call carries no usable `id` metadata",
    legacy: true,
  },
  MISSING_TOKEN: {
    code: Status.UNAUTHENTICATED,
    text: "missing token",
    source: "frontend, authentication API",
    when: "the call carries no usable `token` metadata",
    legacy: true,
  },
  INCORRECT_CREDENTIAL: {
    code: Status.UNAUTHENTICATED,
    text: "incorrent credential",
    source: "frontend",
    when: "the token is not valid for this user (expired, forged, user deleted); the typo is Teaclave's",
    legacy: true,
  },
  AUTHENTICATION_FAILED: {
    code: Status.UNAUTHENTICATED,
    text: "authentication failed",
    source: "authentication API and internal",
    when: "wrong user id or password at login, or a token that does not validate",
    legacy: true,
  },
  PERMISSION_DENIED: {
    code: Status.PERMISSION_DENIED,
    text: "permission denied",
    source: "frontend, management",
    when: "the caller's role may not call this API, or the caller has no part in the record",
    legacy: true,
  },
  ACCESS_CONTROL_ERROR: {
    code: Status.PERMISSION_DENIED,
    text: "access control error",
    source: "access control (internal)",
    when: "the policy could not be evaluated",
    legacy: true,
  },
  TOO_MANY_REQUESTS: {
    code: Status.RESOURCE_EXHAUSTED,
    text: "too many requests",
    source: "frontend, authentication API",
    when: "a user's call rate, or a login rate per address or user, is exceeded",
  },
  TOO_MANY_CALLS: {
    code: Status.RESOURCE_EXHAUSTED,
    text: "too many calls in progress",
    source: "every endpoint",
    when: "the caller's address (or the endpoint) has too many calls in flight",
  },
  NO_POLICY: {
    code: Status.PERMISSION_DENIED,
    text: "permission denied",
    source: "every endpoint (Cloister)",
    when: "a method has no declared authorisation policy: it fails closed (a platform bug, logged)",
  },
  // ---- request shape (any endpoint) ---------------------------------------------------------
  REQUEST_UNPARSABLE: {
    code: Status.INVALID_ARGUMENT,
    text: "invalid request: message does not parse",
    source: "every endpoint",
    when: "the request bytes are not the method's protobuf message",
  },
  REQUEST_TOO_LARGE: {
    code: Status.INVALID_ARGUMENT,
    text: "invalid request: message larger than {max} bytes",
    params: { max: COUNT },
    source: "API endpoints",
    when: "the encoded request exceeds its method's limit",
  },
  FIELD_TOO_LONG: {
    code: Status.INVALID_ARGUMENT,
    text: "invalid request: field {field} is longer than {max}",
    params: { field: NAMES, max: COUNT },
    source: "API endpoints",
    when: "a string or bytes field exceeds its limit (the value is never echoed)",
  },
  FIELD_TOO_MANY: {
    code: Status.INVALID_ARGUMENT,
    text: "invalid request: field {field} has more than {max} entries",
    params: { field: NAMES, max: COUNT },
    source: "API endpoints",
    when: "a repeated field has more entries than its limit",
  },
  FIELD_MAP_TOO_LARGE: {
    code: Status.INVALID_ARGUMENT,
    text: "invalid request: field {field} has too many entries",
    params: { field: NAMES },
    source: "API endpoints",
    when: "a map field has more keys than its limit",
  },
  // ---- user management (authentication API: always 16) --------------------------------------
  INVALID_USER_ID: {
    code: Status.UNAUTHENTICATED,
    text: "invalid user id",
    source: "authentication API",
    when: "the request's user id is empty or names no user",
    legacy: true,
  },
  USER_ID_EXISTS: {
    code: Status.UNAUTHENTICATED,
    text: "user id exist",
    source: "authentication API",
    when: "UserRegister with an id that is taken",
    legacy: true,
  },
  INVALID_ROLE: {
    code: Status.UNAUTHENTICATED,
    text: "invalid role",
    source: "authentication API",
    when: "the role is not PlatformAdmin, FunctionOwner, DataOwnerManager or DataOwner",
    legacy: true,
  },
  USER_PERMISSION_DENIED: {
    code: Status.UNAUTHENTICATED,
    text: "permission denied",
    source: "authentication API",
    when: "the caller may not create, change, reset, delete or list that user",
    legacy: true,
  },
  // ---- management: ids and records ----------------------------------------------------------
  CALLER_ID_MISSING: {
    code: Status.UNKNOWN,
    text: "missing user id",
    source: "management (internal)",
    when: "a call reached management without the caller's id",
    legacy: true,
  },
  CALLER_ROLE_MISSING: {
    code: Status.UNKNOWN,
    text: "missing user role",
    source: "management (internal)",
    when: "a call reached management without the caller's role",
    legacy: true,
  },
  INVALID_FUNCTION_ID: {
    code: Status.INVALID_ARGUMENT,
    text: "invalid function id",
    source: "management",
    when: "the function id is malformed, of another kind, or unknown",
    legacy: true,
  },
  INVALID_DATA_ID: {
    code: Status.INVALID_ARGUMENT,
    text: "invalid data id",
    source: "management",
    when: "the input or output id is malformed, of another kind, or unknown",
    legacy: true,
  },
  INVALID_TASK_ID: {
    code: Status.INVALID_ARGUMENT,
    text: "invalid task id",
    source: "management, scheduler (RecordTaskEvidence)",
    when: "the task id is malformed, of another kind, or unknown",
    legacy: true,
  },
  INVALID_TASK: {
    code: Status.INVALID_ARGUMENT,
    text: "invalid task",
    source: "management",
    when: "the task does not fit its function: arguments, or inputs and outputs and their owners",
    legacy: true,
  },
  INVALID_OUTPUT_FILE: {
    code: Status.INVALID_ARGUMENT,
    text: "invalid output file",
    source: "management",
    when: "RegisterInputFromOutput of an output that has no result yet",
    legacy: true,
  },
  INVALID_EXTERNAL_ID: {
    code: Status.INVALID_ARGUMENT,
    text: "Invalid external id: {id}",
    source: "management",
    when: "an id in UpdateInputFile, UpdateOutputFile or AssignData has no `<kind>-` prefix",
    legacy: true,
  },
  INVALID_UUID: {
    code: Status.INVALID_ARGUMENT,
    text: "invalid character: expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-], found `{value}`",
    source: "management",
    when: "an id in UpdateInputFile, UpdateOutputFile or AssignData has no UUID after its prefix",
    legacy: true,
  },
  // ---- management: functions and tasks ------------------------------------------------------
  INVALID_EXECUTOR_TYPE: {
    code: Status.INVALID_ARGUMENT,
    text: "Invalid executor type: {value}",
    source: "management",
    when: "a function's executor type is not builtin, python, wamr, javascript or libos",
    legacy: true,
  },
  UNSUPPORTED_EXECUTOR: {
    code: Status.INVALID_ARGUMENT,
    text: "Unsupported executor: {value}",
    source: "management",
    when: "a task's executor is not builtin, mesapy, python3, wamr, javascript or libos (the CLI's `python` is mesapy)",
    legacy: true,
  },
  ARGUMENTS_NOT_JSON: {
    code: Status.INVALID_ARGUMENT,
    text: "{reason} at line {line} column {column}",
    params: { reason: "[^\\n]+", line: COUNT, column: COUNT },
    source: "management",
    when: "CreateTask's function_arguments is not JSON (the text is the parser's)",
    legacy: true,
  },
  ARGUMENTS_NOT_OBJECT: {
    code: Status.INVALID_ARGUMENT,
    text: "Cannot convert to function arguments",
    source: "management",
    when: "function_arguments is JSON but not an object",
    legacy: true,
  },
  QUOTA_USED_UP: {
    code: Status.UNKNOWN,
    text: "function quota has been used up",
    source: "management",
    when: "InvokeTask of a function whose usage quota is reached",
    legacy: true,
  },
  ASSIGN_FAILED: {
    code: Status.UNKNOWN,
    text: "failed to assign data to task",
    source: "management",
    when: "AssignData of a task that no longer takes data",
    legacy: true,
  },
  APPROVE_FAILED: {
    code: Status.UNKNOWN,
    text: "failed to approve task",
    source: "management",
    when: "ApproveTask before every data is assigned, or after the task was invoked",
    legacy: true,
  },
  INVOKE_FAILED: {
    code: Status.UNKNOWN,
    text: "failed to invoke task",
    source: "management",
    when: "InvokeTask of a task not yet assigned and approved, or already invoked",
    legacy: true,
  },
  CANCEL_FAILED: {
    code: Status.UNKNOWN,
    text: "failed to cancel task, reason: task has already been canceled",
    source: "management",
    when: "CancelTask of a task that has already ended",
    legacy: true,
  },
  AUDIT_QUERY_INVALID: {
    code: Status.INVALID_ARGUMENT,
    text: "audit log error, reason: failed to query logs {details}",
    source: "management",
    when: "QueryAuditLogs with a query that does not parse, or limit 0",
    legacy: true,
  },
  // ---- management: data ---------------------------------------------------------------------
  INVALID_URL: {
    code: Status.INVALID_ARGUMENT,
    text: "{error}",
    params: { error: URL_ERRORS },
    source: "management",
    when: "a file URL does not parse (the text is the URL parser's error name)",
    legacy: true,
  },
  FILE_URLS_DISABLED: {
    code: Status.INVALID_ARGUMENT,
    text: "file URLs are disabled on this platform",
    source: "management",
    when: "a `file:` URL where no exchange directory is configured",
  },
  FILE_URL_INVALID: {
    code: Status.INVALID_ARGUMENT,
    text: "invalid file URL",
    source: "management",
    when: "a `file:` URL that cannot name a file in the exchange directory",
  },
  FILE_URL_OUTSIDE_EXCHANGE: {
    code: Status.PERMISSION_DENIED,
    text: "file URL outside the caller's exchange directory",
    source: "management",
    when: "a `file:` URL below another owner's exchange directory",
  },
  FUSION_URL_RESERVED: {
    code: Status.PERMISSION_DENIED,
    text: "fusion URLs are assigned by the platform",
    source: "management",
    when: "a client registers or moves a file to a `fusion:` URL",
  },
  INVALID_CMAC_LENGTH: {
    code: Status.INVALID_ARGUMENT,
    text: "Invalid length",
    source: "management",
    when: "a registered cmac is not 16 bytes",
    legacy: true,
  },
  MISSING_CRYPTO_INFO: {
    code: Status.INVALID_ARGUMENT,
    text: '"missing crypto_info"',
    source: "management",
    when: "RegisterInputFile or RegisterOutputFile without crypto info",
    legacy: true,
  },
  INVALID_KEY_LENGTH: {
    code: Status.INVALID_ARGUMENT,
    text: "Invalid key length for {schema}: {length}",
    params: { schema: NAMES, length: COUNT },
    source: "management, CLI, SDK",
    when: "a crypto info's key does not fit its schema",
    legacy: true,
  },
  INVALID_IV_LENGTH: {
    code: Status.INVALID_ARGUMENT,
    text: "Invalid iv length for {schema}: {length}",
    params: { schema: NAMES, length: COUNT },
    source: "management, CLI, SDK",
    when: "a crypto info's iv does not fit its schema",
    legacy: true,
  },
  IV_NOT_EMPTY: {
    code: Status.INVALID_ARGUMENT,
    text: "IV is not empty for teaclave_file_128",
    source: "management, CLI, SDK",
    when: "a teaclave-file-128 crypto info carries an iv",
    legacy: true,
  },
  INVALID_CRYPTO_SCHEMA: {
    code: Status.INVALID_ARGUMENT,
    text: "Invalid crypto schema: {schema}",
    source: "management, CLI, SDK",
    when: "the crypto schema is not aes-gcm-128, aes-gcm-256, teaclave-file-128 or raw",
    legacy: true,
  },
  INVALID_LEGACY_CRYPTO_INFO: {
    code: Status.INVALID_ARGUMENT,
    text: "Invalid legacy crypto info",
    source: "management, scheduler",
    when: "a stored crypto info in the legacy JSON form does not parse",
    legacy: true,
  },
  INVALID_LEGACY_CRYPTO_FIELD: {
    code: Status.INVALID_ARGUMENT,
    text: "Invalid legacy crypto info: {field} must be an array of bytes",
    params: { field: NAMES },
    source: "management, scheduler",
    when: "a stored crypto info in the legacy JSON form has a field that is not bytes",
    legacy: true,
  },
  TASK_EVIDENCE_NOT_FOUND: {
    code: Status.NOT_FOUND,
    text: "task not found",
    source: "scheduler (RecordTaskEvidence)",
    when: "evidence for a task that does not exist",
  },
  TASK_EVIDENCE_TOO_LARGE: {
    code: Status.INVALID_ARGUMENT,
    text: "task evidence too large",
    source: "scheduler (RecordTaskEvidence)",
    when: "a node's task evidence exceeds the bound",
  },
  // ---- scheduler (execution nodes only) -----------------------------------------------------
  TASK_QUEUE_EMPTY: {
    code: Status.UNKNOWN,
    text: "task queue is empty",
    source: "scheduler",
    when: "PullTask with nothing staged",
    legacy: true,
  },
  PULLED_TASK_CANCELED: {
    code: Status.UNKNOWN,
    text: "task to pull has been canceled",
    source: "scheduler",
    when: "PullTask of a task canceled while it was queued",
    legacy: true,
  },
  LEASE_NOT_HELD: {
    code: Status.FAILED_PRECONDITION,
    text: "task lease is not held by this executor",
    source: "scheduler (Cloister)",
    when: "a node reports on a task whose lease it no longer holds (its run is void)",
  },
  LEASE_GENERATION_MISSING: {
    code: Status.INVALID_ARGUMENT,
    text: "missing lease generation",
    source: "scheduler (Cloister)",
    when: "a leased update without the lease generation",
  },
  LEASED_RESULT_MISSING: {
    code: Status.INVALID_ARGUMENT,
    text: "missing task result",
    source: "scheduler (Cloister)",
    when: "UpdateTaskResultLeased without a result",
  },
  TASK_RESULT_MISSING: {
    code: Status.INTERNAL,
    text: "missing task result",
    source: "scheduler",
    when: "UpdateTaskResult without a result",
    legacy: true,
  },
  INVALID_EXECUTOR_ID: {
    code: Status.INTERNAL,
    text: "invalid executor id",
    source: "scheduler",
    when: "an executor id that is not a UUID",
    legacy: true,
  },
  INVALID_EXECUTOR_STATUS: {
    code: Status.INTERNAL,
    text: "invalid executor status",
    source: "scheduler",
    when: "a heartbeat with an unknown executor status",
    legacy: true,
  },
  SCHEDULER_INVALID_TASK_ID: {
    code: Status.INTERNAL,
    text: "invalid task id",
    source: "scheduler",
    when: "a task update naming a task id that is not a UUID",
    legacy: true,
  },
  INVALID_STAGED_TASK: {
    code: Status.INTERNAL,
    text: "{reason}",
    source: "scheduler",
    when: "PublishTask of a staged task that does not parse (the text is the parser's)",
    legacy: true,
    opaque: true,
  },
  CANNOT_RESTORE_RUN: {
    code: Status.INTERNAL,
    text: "Cannot restore to Run from saved state",
    source: "scheduler",
    when: "UpdateTaskStatus of a task that is not Staged",
    legacy: true,
  },
  CANNOT_RESTORE_FINISH: {
    code: Status.INTERNAL,
    text: "Cannot restore to Finish from saved state",
    source: "scheduler",
    when: "UpdateTaskResult of a task that is not Running",
    legacy: true,
  },
  RESULT_TAG_LENGTH: {
    code: Status.INTERNAL,
    text: "Invalid length",
    source: "scheduler",
    when: "a task result with an output tag that is not 16 bytes",
    legacy: true,
  },
  RESULT_OUTPUT_UNKNOWN: {
    code: Status.INTERNAL,
    text: "Upadate_cmac: file not found. {name}",
    source: "scheduler",
    when: "a task result with a tag for an output the task does not have (typo is Teaclave's)",
    legacy: true,
  },
  RESULT_CMAC_SET: {
    code: Status.INTERNAL,
    text: "Cannot overwrite output file cmac",
    source: "scheduler",
    when: "a task result for an output that already has a tag",
    legacy: true,
  },
  SUBSCRIBE_UNIMPLEMENTED: {
    code: Status.UNIMPLEMENTED,
    text: "Subscribe is not implemented",
    source: "scheduler",
    when: "Subscribe, which Teaclave never implemented either",
  },
  // ---- storage ------------------------------------------------------------------------------
  STORAGE_INVALID_RESPONSE: {
    code: Status.INTERNAL,
    text: "invalid response",
    source: "storage (internal)",
    when: "a missing key or an empty queue (Teaclave collapses every storage error into this)",
    legacy: true,
  },
  STORAGE_NO_KEY_WATCH: {
    code: Status.UNIMPLEMENTED,
    text: "this store cannot watch keys",
    source: "storage (internal)",
    when: "WaitForChange on a backend without key watches (both built-in backends have them)",
  },
  USER_CHANGES_NOT_READ: {
    code: Status.RESOURCE_EXHAUSTED,
    text: "user changes not read",
    source: "authentication (internal)",
    when: "a WatchUserChanges watcher fell 10 000 changes behind; it is cut off and forgets what it cached",
  },
  // ---- any service --------------------------------------------------------------------------
  INTERNAL: {
    code: Status.INTERNAL,
    text: "service internal error",
    source: "every service",
    when: "a failure the service did not anticipate (storage down, a record that does not unseal); the cause is only logged",
    legacy: true,
  },
  // ---- Kubernetes device plugin -------------------------------------------------------------
  NO_DEVICES_REQUESTED: {
    code: Status.INVALID_ARGUMENT,
    text: "no devices requested",
    source: "device plugin",
    when: "an Allocate without device ids",
  },
  UNKNOWN_DEVICES: {
    code: Status.INVALID_ARGUMENT,
    text: "unknown device ids: {ids}",
    source: "device plugin",
    when: "an Allocate naming devices this plugin does not advertise",
  },
  DUPLICATE_DEVICES: {
    code: Status.INVALID_ARGUMENT,
    text: "duplicate device ids",
    source: "device plugin",
    when: "an Allocate naming a device twice",
  },
  SGX_DEVICE_UNAVAILABLE: {
    code: Status.FAILED_PRECONDITION,
    text: "the SGX device is unavailable on this node",
    source: "device plugin",
    when: "an Allocate while the enclave device nodes are missing",
  },
  SGX_NODES_UNAVAILABLE: {
    code: Status.FAILED_PRECONDITION,
    text: "the SGX {nodes} device is unavailable on this node",
    source: "device plugin",
    when: "an Allocate while the named device nodes are missing",
  },
  INVALID_RESOURCE_NAME: {
    code: Status.INVALID_ARGUMENT,
    text: "invalid extended resource name {name}",
    source: "device plugin",
    when: "a configured resource name that Kubernetes would refuse",
  },
  // ---- task logs (Cloister) -----------------------------------------------------------------
  TASK_LOG_BATCH_TOO_LARGE: {
    code: Status.INVALID_ARGUMENT,
    text: "task log batch too large",
    source: "scheduler (Cloister)",
    when: "an execution node's AppendTaskLog carries more than 4096 lines or 256 KiB",
  },
  TASK_LOG_STREAMS_EXHAUSTED: {
    code: Status.RESOURCE_EXHAUSTED,
    text: "too many task log streams open",
    source: "frontend (Cloister)",
    when: "a user follows more than 8 task logs at once (`cloister task logs --follow`)",
  },
  TASK_LOG_FOLLOW_LIMIT: {
    code: Status.DEADLINE_EXCEEDED,
    text: "task log followed for too long",
    source: "frontend (Cloister)",
    when: "a followed task log stayed open for 6 hours; follow it again to go on",
  },
  // ---- client side (SDK, CLI): the call never reached the platform's code ---------------------
  ENDPOINT_UNREACHABLE: {
    code: Status.UNAVAILABLE,
    text: "cannot reach the {service} at {address}: {reason}",
    source: "SDK, CLI",
    when: "the endpoint could not be contacted",
  },
  ENDPOINT_ATTESTATION_FAILED: {
    code: Status.UNAVAILABLE,
    text: "the {service} at {address} failed attestation: {reason}",
    source: "SDK, CLI",
    when: "the endpoint's attestation did not verify against the trusted root CA and enclave_info.toml",
  },
  TASK_WAIT_TIMEOUT: {
    code: Status.DEADLINE_EXCEEDED,
    text: "task {task} has not ended after {seconds} s (status {status}); waiting for {waiting}",
    source: "SDK, CLI",
    when: "waiting for a task ran out; the text says what the task still needs",
  },
  TASK_FAILED: {
    code: Status.UNKNOWN,
    text: "task {state}: {reason}",
    params: { state: "[A-Za-z]+" },
    source: "SDK, CLI",
    when: "the result of a task that failed or was canceled; the reason is the task's",
  },
  DOWNLOAD_FAILED: {
    code: Status.UNAVAILABLE,
    text: "cannot download {source}: HTTP {status}",
    params: { status: COUNT },
    source: "SDK, CLI",
    when: "a file to encrypt or register could not be downloaded",
  },
  UNSUPPORTED_SOURCE: {
    code: Status.INVALID_ARGUMENT,
    text: "cannot fetch {scheme} URLs (use http, https, file or a path)",
    source: "SDK, CLI",
    when: "a file source with a scheme the SDK cannot read",
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorKind = keyof typeof ERRORS;

type Placeholders<T extends string> = T extends `${string}{${infer P}}${infer Rest}`
  ? P | Placeholders<Rest>
  : never;

/** The placeholders of a kind's text (never for a fixed text). */
export type ErrorParamName<K extends ErrorKind> = Placeholders<(typeof ERRORS)[K]["text"]>;

/** The parameters a kind's text needs. */
export type ErrorParams<K extends ErrorKind> = Record<ErrorParamName<K>, string | number>;

export const errorKinds = (): ErrorKind[] => Object.keys(ERRORS) as ErrorKind[];

export const specOf = (kind: ErrorKind): ErrorSpec => ERRORS[kind];

/** The exact wire text of `kind` with its parameters filled in. */
export function errorText(kind: ErrorKind, params: Record<string, string | number> = {}): string {
  return ERRORS[kind].text.replace(/\{([a-z]+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new TypeError(`error ${kind} needs the parameter ${name}`);
    return String(value);
  });
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

let matchers: Array<{ kind: ErrorKind; code: number; re: RegExp }> | undefined;

function textPattern(spec: ErrorSpec): RegExp {
  const parts = spec.text.split(/(\{[a-z]+\})/);
  const source = parts
    .map((p) => {
      const m = /^\{([a-z]+)\}$/.exec(p);
      if (!m) return escapeRe(p);
      return `(?:${spec.params?.[m[1] as string] ?? "[\\s\\S]+"})`;
    })
    .join("");
  return new RegExp(`^${source}$`);
}

/**
 * The kind of a failure received as a status code and a text (all a wire error carries). Fixed
 * texts win over templates, so `permission denied` with 16 is USER_PERMISSION_DENIED and with 7
 * PERMISSION_DENIED; undefined when no kind has that code and text.
 */
export function kindOf(code: number, text: string): ErrorKind | undefined {
  matchers ??= errorKinds()
    .filter((kind) => kind !== "NO_POLICY" && !("opaque" in ERRORS[kind]))
    .map((kind) => ({ kind, code: ERRORS[kind].code as number, re: textPattern(ERRORS[kind]) }))
    // Fixed texts first, then templates with more literal text first.
    .sort((a, b) => placeholderWeight(a.kind) - placeholderWeight(b.kind));
  return matchers.find((m) => m.code === code && m.re.test(text))?.kind;
}

function placeholderWeight(kind: ErrorKind): number {
  const text: string = ERRORS[kind].text;
  const holes = text.match(/\{[a-z]+\}/g)?.length ?? 0;
  return holes === 0 ? 0 : 1000 - text.replace(/\{[a-z]+\}/g, "").length;
}
