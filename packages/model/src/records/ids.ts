import { randomUUID } from "node:crypto";
import { ExternalIdError, isUuid } from "@cloister/core";

declare const kindBrand: unique symbol;

/**
 * The identity of one record: its lowercase UUID, branded with its kind so a task's id cannot be
 * passed where a function's is expected. The external forms (`task-<uuid>` for clients, the bare
 * UUID the scheduler protocol uses) exist only at the wire edge, through the conversions below.
 */
export type RecordId<K extends IdPrefix> = string & { readonly [kindBrand]: K };
export type IdPrefix = "function" | "input" | "output" | "task";
export type FunctionId = RecordId<"function">;
export type InputId = RecordId<"input">;
export type OutputId = RecordId<"output">;
export type TaskId = RecordId<"task">;

/** Why an id was refused: code tests `reason`, never the message (the message is the legacy text). */
export type RecordIdFailure = "malformed" | "wrong-kind";

export class RecordIdError extends ExternalIdError {
  constructor(
    readonly reason: RecordIdFailure,
    readonly expected: IdPrefix,
    message: string,
    /** What was wrong with a malformed id: no `-` separator, or no UUID after it (then `value`). */
    readonly part?: { separator: true } | { uuid: string },
  ) {
    super(message);
    this.name = "RecordIdError";
  }
}

export const isRecordIdError = (e: unknown, reason?: RecordIdFailure): e is RecordIdError =>
  e instanceof RecordIdError && (reason === undefined || e.reason === reason);

export interface IdType<K extends IdPrefix> {
  readonly prefix: K;
  /** A fresh random id. */
  create(): RecordId<K>;
  /**
   * `<prefix>-<uuid>` as clients send it: split at the first `-`, the rest must be a UUID (any
   * case), the prefix must be this kind. Malformed ids fail before the prefix is looked at, with
   * the legacy parser's text.
   */
  parse(external: string): RecordId<K>;
  /** As `parse`, but undefined for anything it would refuse. */
  tryParse(external: string): RecordId<K> | undefined;
  /** A bare UUID (the scheduler protocol's task ids, the uuid fields of stored records). */
  fromUuid(uuid: string): RecordId<K>;
  /** The form clients see: `<prefix>-<uuid>`. */
  external(id: RecordId<K>): string;
}

function idType<K extends IdPrefix>(prefix: K): IdType<K> {
  const brand = (uuid: string) => uuid.toLowerCase() as RecordId<K>;
  const parse = (external: string): RecordId<K> => {
    const dash = external.indexOf("-");
    if (dash < 0)
      throw new RecordIdError("malformed", prefix, `Invalid external id: ${external}`, { separator: true });
    const uuid = external.slice(dash + 1);
    if (!isUuid(uuid))
      throw new RecordIdError(
        "malformed",
        prefix,
        `invalid character: expected an optional prefix of \`urn:uuid:\` followed by [0-9a-fA-F-], found \`${uuid}\``,
        { uuid },
      );
    if (external.slice(0, dash) !== prefix)
      throw new RecordIdError("wrong-kind", prefix, `Invalid external id: ${external}`);
    return brand(uuid);
  };
  return {
    prefix,
    create: () => brand(randomUUID()),
    parse,
    tryParse(external) {
      try {
        return parse(external);
      } catch {
        return undefined;
      }
    },
    fromUuid(uuid) {
      if (!isUuid(uuid)) throw new RecordIdError("malformed", prefix, `invalid ${prefix} id`);
      return brand(uuid);
    },
    external: (id) => `${prefix}-${id}`,
  };
}

export const FunctionId = idType("function");
export const InputId = idType("input");
export const OutputId = idType("output");
export const TaskId = idType("task");
