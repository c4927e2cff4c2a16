// Plain-language hints for the platform's failures, by catalog kind (packages/core/src/catalog.ts).
// The texts themselves stay exactly as legacy clients expect them on the wire (some are terse,
// one is misspelt); the CLI prints the text and adds what it means and what to do.
import type { ErrorKind } from "@cloister/core";

const LOGIN_AGAIN =
  "the saved login is no longer valid (expired, or the user was deleted): run `cloister user login <id>` again";
const NOT_LOGGED_IN = "not logged in: run `cloister user login <id>` first";
const PERMISSION =
  "your role, or your part in this function, data or task, does not allow this (see docs/contract.md, Roles)";
const CRYPTO_LENGTHS =
  "key and iv lengths: aes-gcm-128 16 and 12 bytes, aes-gcm-256 32 and 12, teaclave-file-128 16 and none";

export const HINTS: Partial<Record<ErrorKind, string>> = {
  USER_ID_EXISTS: "a user with this id already exists; choose another id",
  INVALID_USER_ID: "no such user, or the id is empty",
  INVALID_ROLE: "the role is not one of PlatformAdmin, FunctionOwner, DataOwnerManager, DataOwner",
  INCORRECT_CREDENTIAL: LOGIN_AGAIN,
  AUTHENTICATION_FAILED:
    "wrong user id or password, or the saved login is no longer valid: run `cloister user login <id>` again",
  MISSING_USER_ID: NOT_LOGGED_IN,
  MISSING_TOKEN: NOT_LOGGED_IN,
  PERMISSION_DENIED: PERMISSION,
  USER_PERMISSION_DENIED: "your role may not manage this user (see docs/contract.md, Roles)",
  ACCESS_CONTROL_ERROR: "the platform could not decide whether you may do this; try again",
  TOO_MANY_REQUESTS: "you are calling too fast; wait a moment and retry",
  TOO_MANY_CALLS: "too many calls from this address are in progress; retry when some have ended",
  INVALID_TASK:
    "the task does not fit its function: name an owner (--input-owner/--output-owner) for every input and output it declares, and pass only the arguments it declares (see `cloister function get <function-id>`)",
  INVALID_FUNCTION_ID: "no such function, or you may not use it (private functions need an allowlist entry)",
  INVALID_DATA_ID: "no such data id, or it is not yours",
  INVALID_TASK_ID: "no such task, or you are not one of its participants",
  INVALID_OUTPUT_FILE: "no such output, or it has no result yet",
  INVALID_EXTERNAL_ID: "ids look like input-<uuid>, output-<uuid>, function-<uuid>, task-<uuid>",
  INVALID_UUID: "ids look like input-<uuid>, output-<uuid>, function-<uuid>, task-<uuid>",
  ASSIGN_FAILED:
    "only a task that has not been invoked takes data, each file by one of the owners the task names, with a data name the function declares",
  APPROVE_FAILED:
    "only participants approve, only once every input and output is assigned, and only before the task is invoked",
  INVOKE_FAILED:
    "the task is not ready: every input and output must be assigned and every participant must approve first (`cloister task get <task-id>` shows what is missing); only its creator invokes it",
  CANCEL_FAILED: "the task has already ended or been canceled",
  QUOTA_USED_UP: "the function's owner set a usage quota and it is reached",
  UNSUPPORTED_EXECUTOR:
    "the task executor is one of builtin, mesapy (Python), python, python3 (plain Python 3), wamr, javascript, libos",
  INVALID_EXECUTOR_TYPE: "the executor type is one of builtin, python, wamr, javascript, libos",
  ARGUMENTS_NOT_JSON: "--args must be a JSON object of strings, numbers or booleans",
  ARGUMENTS_NOT_OBJECT: "--args must be a JSON object of strings, numbers or booleans",
  INTERNAL: "the platform failed internally; its service logs say more",
  INVALID_KEY_LENGTH: CRYPTO_LENGTHS,
  INVALID_IV_LENGTH: CRYPTO_LENGTHS,
  IV_NOT_EMPTY: CRYPTO_LENGTHS,
  INVALID_CRYPTO_SCHEMA: "the schema is one of aes-gcm-128, aes-gcm-256, teaclave-file-128, raw",
  INVALID_CMAC_LENGTH: "a cmac is 16 bytes (32 hex digits)",
  AUDIT_QUERY_INVALID:
    "the audit query did not parse: terms like message:x, user:y, result:false with AND/OR, or *, and a limit above 0",
  INVALID_URL:
    "the URL does not parse: give an absolute URL such as https://host/path, file:///path or data:…",
  FILE_URLS_DISABLED: "this platform has no file exchange directory: use an http(s) URL",
  FILE_URL_OUTSIDE_EXCHANGE: "a file: URL must name a file below your own directory of the exchange",
  FUSION_URL_RESERVED: "fusion: URLs come from `cloister data fusion`; register the file at its own URL",
  REQUEST_TOO_LARGE: "the request is larger than this call accepts (see docs/decisions.md, Message size)",
  FIELD_TOO_LONG: "a value is longer than the platform accepts (see docs/decisions.md, Field size limits)",
  FIELD_TOO_MANY:
    "a list has more entries than the platform accepts (see docs/decisions.md, Field size limits)",
  TASK_WAIT_TIMEOUT: "raise --timeout, or do what the task is waiting for",
};

/** The hint for a failure of `kind`, if there is one. */
export function hintFor(kind: ErrorKind | undefined): string | undefined {
  return kind === undefined ? undefined : HINTS[kind];
}
