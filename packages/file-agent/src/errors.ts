/**
 * What went wrong, as a stable code callers and tests branch on (the message is for people and
 * becomes the task's failure reason; it never contains a URL, which may carry credentials).
 */
export type FileAgentErrorCode =
  | "INVALID_URL"
  | "SCHEME_NOT_SUPPORTED"
  | "SCHEME_NOT_ALLOWED"
  | "PORT_NOT_ALLOWED"
  | "ADDRESS_NOT_ALLOWED"
  | "HOST_NOT_FOUND"
  | "TOO_MANY_REDIRECTS"
  | "HTTP_STATUS"
  | "TOO_LARGE"
  | "TIMEOUT"
  | "NETWORK"
  | "FILE_URLS_DISABLED"
  | "NOT_OWNER"
  | "PATH_NOT_ALLOWED"
  | "NOT_REGULAR_FILE"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "IO";

/** A download or upload that failed; `code` says why, the message becomes the task's failure reason. */
export class FileAgentError extends Error {
  readonly code: FileAgentErrorCode;
  constructor(code: FileAgentErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FileAgentError";
    this.code = code;
  }
}

export const isFileAgentError = (e: unknown, code?: FileAgentErrorCode): e is FileAgentError =>
  e instanceof FileAgentError && (code === undefined || e.code === code);
