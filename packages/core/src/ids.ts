const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Hyphenated UUID, any case. The typed record ids (`TaskId`, …) live in @cloister/model's records. */
export const isUuid = (s: string): boolean => UUID_RE.test(s);

/** An external id (`task-<uuid>`, …) that does not parse; @cloister/model's `RecordIdError` says why. */
export class ExternalIdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExternalIdError";
  }
}
