/**
 * Size limits of every public API request (TeaclaveFrontend and TeaclaveAuthenticationApi), the
 * one place they are written down. They are checked by the server before a handler runs
 * (`guard.ts`), so no service does work proportional to an attacker's field sizes.
 *
 * Fields are named as ts-proto decodes them (camelCase). `lengths` bounds strings (characters)
 * and bytes (bytes), also each element of a repeated field; `counts` bounds repeated fields.
 * Fields listed nowhere get the defaults below.
 */

export interface MessageLimits {
  /** Largest encoded request, in bytes. */
  maxBytes: number;
}

export interface FieldLimits {
  lengths: Readonly<Record<string, number>>;
  counts: Readonly<Record<string, number>>;
  defaultLength: number;
  defaultCount: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** An id of a user, function, data or task; generated ids are 45 characters, user ids are chosen. */
export const MAX_ID_LENGTH = 256;
/** Payload of a function (a WebAssembly module, a Python script): what every internal hop carries. */
export const MAX_PAYLOAD_BYTES = 15 * MiB;

export const API_FIELD_LIMITS: FieldLimits = {
  lengths: {
    // ids
    id: MAX_ID_LENGTH,
    dataId: MAX_ID_LENGTH,
    functionId: MAX_ID_LENGTH,
    taskId: MAX_ID_LENGTH,
    userId: MAX_ID_LENGTH,
    ownerList: MAX_ID_LENGTH,
    uids: MAX_ID_LENGTH,
    userAllowlist: MAX_ID_LENGTH,
    // names and texts
    name: 256,
    dataName: 256,
    key: 256,
    description: 16 * KiB,
    defaultValue: 64 * KiB,
    functionArguments: 1 * MiB,
    executorType: 64,
    executor: 64,
    schema: 64,
    url: 8 * KiB,
    query: 4 * KiB,
    role: 64,
    attribute: MAX_ID_LENGTH,
    password: 1 * KiB,
    token: 4 * KiB,
    // bytes (a 15-byte cmac must still reach management for its legacy `Invalid length`)
    cmac: 64,
    iv: 64,
    payload: MAX_PAYLOAD_BYTES,
  },
  counts: {
    ownerList: 1024,
    userAllowlist: 1024,
    uids: 1024,
    arguments: 256,
    inputs: 256,
    outputs: 256,
    inputsOwnership: 256,
    outputsOwnership: 256,
  },
  defaultLength: 256,
  defaultCount: 64,
};

const SMALL: MessageLimits = { maxBytes: 64 * KiB };
const FUNCTION: MessageLimits = { maxBytes: MAX_PAYLOAD_BYTES + 1 * MiB };
const TASK: MessageLimits = { maxBytes: 2 * MiB };

const FRONTEND = "/teaclave_frontend_service_proto.TeaclaveFrontend/";
const AUTH_API = "/teaclave_authentication_service_proto.TeaclaveAuthenticationApi/";

/** Per-method limits, by gRPC path. Every method of the two public services is listed. */
export const API_METHOD_LIMITS: Readonly<Record<string, MessageLimits>> = {
  ...Object.fromEntries(
    [
      "RegisterInputFile",
      "RegisterOutputFile",
      "UpdateInputFile",
      "UpdateOutputFile",
      "RegisterFusionOutput",
      "RegisterInputFromOutput",
      "GetOutputFile",
      "GetInputFile",
      "GetFunction",
      "GetFunctionUsageStats",
      "ListFunctions",
      "DeleteFunction",
      "DisableFunction",
      "GetTask",
      "AssignData",
      "ApproveTask",
      "InvokeTask",
      "CancelTask",
      "QueryAuditLogs",
    ].map((m) => [FRONTEND + m, SMALL]),
  ),
  [`${FRONTEND}RegisterFunction`]: FUNCTION,
  [`${FRONTEND}UpdateFunction`]: FUNCTION,
  [`${FRONTEND}CreateTask`]: TASK,
  ...Object.fromEntries(
    [
      "UserRegister",
      "UserUpdate",
      "UserLogin",
      "UserChangePassword",
      "ResetUserPassword",
      "DeleteUser",
      "ListUsers",
    ].map((m) => [AUTH_API + m, SMALL]),
  ),
  // Cloister extensions on the frontend endpoint.
  "/cloister.v1.CloisterFrontend/GetTaskEvidence": SMALL,
  "/cloister.v1.CloisterFrontend/WatchTask": SMALL,
  // Served on every endpoint by @cloister/host.
  "/grpc.health.v1.Health/Check": SMALL,
};

/** The largest request any public API method accepts: the API endpoints' message limit. */
export const MAX_API_REQUEST_BYTES = Math.max(...Object.values(API_METHOD_LIMITS).map((l) => l.maxBytes));
