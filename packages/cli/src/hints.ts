// Plain-language hints for the platform's error texts. The texts themselves stay exactly as
// legacy clients expect them on the wire (some are terse, one is misspelt); the CLI prints the
// text and adds what it means and what to do.

const HINTS: Array<[RegExp, string]> = [
  [/^user id exist$/, "a user with this id already exists; choose another id"],
  [/^invalid user id$/, "no such user, or the id is empty"],
  [/^invalid role$/, "the role is not one of PlatformAdmin, FunctionOwner, DataOwnerManager, DataOwner"],
  [/^incorrent credential$/, "wrong user id or password"],
  [
    /^(authentication failed|credential rejected)$/,
    "the saved login is no longer valid (expired, or the user was deleted): run `cloister user login <id>` again",
  ],
  [/^(missing user id|missing token)$/, "not logged in: run `cloister user login <id>` first"],
  [
    /^permission denied$/,
    "your role, or your part in this function, data or task, does not allow this (see docs/contract.md, Roles)",
  ],
  [/^access control error$/, "the platform could not decide whether you may do this; try again"],
  [
    /^invalid task$/,
    "the task does not fit its function: name an owner (--input-owner/--output-owner) for every input and output it declares, and pass only the arguments it declares (see `cloister function get <function-id>`)",
  ],
  [
    /^invalid function id$/,
    "no such function, or you may not use it (private functions need an allowlist entry)",
  ],
  [/^invalid data id$/, "no such data id, or it is not yours"],
  [/^invalid task id$/, "no such task, or you are not one of its participants"],
  [/^invalid output file$/, "no such output, or it is not yours"],
  [
    /^failed to assign data to task$/,
    "only a task that has not been invoked takes data, each file by one of the owners the task names, with a data name the function declares",
  ],
  [/^failed to approve task$/, "only participants approve, and only before the task is invoked"],
  [
    /^failed to invoke task$/,
    "the task is not ready: every input and output must be assigned and every participant must approve first (`cloister task get <task-id>` shows what is missing); only its creator invokes it",
  ],
  [/^failed to cancel task/, "the task has already ended or been canceled"],
  [/^function quota has been used up$/, "the function's owner set a usage quota and it is reached"],
  [/^Unsupported executor: /, "the task executor is one of builtin, mesapy (Python), wamr, javascript"],
  [/^Invalid executor type: /, "the executor type is one of builtin, python, wamr, javascript"],
  [/^Cannot convert to function arguments$/, "--args must be a JSON object of strings, numbers or booleans"],
  [/^service internal error$/, "the platform failed internally; its service logs say more"],
  [
    /^Invalid (key|iv) length for /,
    "key and iv lengths: aes-gcm-128 16 and 12 bytes, aes-gcm-256 32 and 12, teaclave-file-128 16 and none",
  ],
  [
    /^audit log error/,
    "the audit query did not parse: terms like message:x, user:y, result:false with AND/OR, or *",
  ],
  [
    /^(IdnaError|RelativeUrlWithoutBase|EmptyHost|InvalidPort|InvalidIpv4Address|InvalidIpv6Address|InvalidDomainCharacter|Invalid URL)/,
    "the URL does not parse: give an absolute URL such as https://host/path, file:///path or data:…",
  ],
];

/** The hint for a platform error text, if there is one. */
export function hintFor(message: string): string | undefined {
  return HINTS.find(([pattern]) => pattern.test(message))?.[1];
}
