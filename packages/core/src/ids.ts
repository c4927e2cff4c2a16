/**
 * Hyphenated UUID, any case (`/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i`,
 * checked by hand: every record id of every call passes here, dozens per task). The typed record
 * ids (`TaskId`, …) live in @cloister/model's records.
 */
export function isUuid(s: string): boolean {
  if (s.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = s.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 0x2d) return false;
    } else if (!((c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66))) return false;
  }
  return true;
}

/** An external id (`task-<uuid>`, …) that does not parse; @cloister/model's `RecordIdError` says why. */
export class ExternalIdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExternalIdError";
  }
}
