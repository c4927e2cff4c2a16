import { randomUUID } from "node:crypto";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (s: string): boolean => UUID_RE.test(s);

export type IdKind = "function" | "input" | "output" | "task";

/** `<kind>-<uuid v4>` as on the wire. */
export function newExternalId(kind: IdKind, uuid: string = randomUUID()): string {
  return `${kind}-${uuid}`;
}

export class ExternalIdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExternalIdError";
  }
}

/**
 * Split at the first `-`: the prefix must be the expected kind and the rest a UUID. Returns the
 * lowercase UUID. Throws ExternalIdError with the legacy-style text otherwise.
 */
export function parseExternalId(id: string, kind: IdKind): string {
  const dash = id.indexOf("-");
  if (dash < 0) throw new ExternalIdError(`Invalid external id: ${id}`);
  const prefix = id.slice(0, dash);
  const uuid = id.slice(dash + 1);
  if (prefix !== kind) throw new ExternalIdError(`Invalid external id: ${id}`);
  if (!isUuid(uuid))
    throw new ExternalIdError(
      `invalid character: expected an optional prefix of \`urn:uuid:\` followed by [0-9a-fA-F-], found \`${uuid}\``,
    );
  return uuid.toLowerCase();
}
