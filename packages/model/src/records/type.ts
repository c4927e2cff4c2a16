import type { RecordCodec } from "./codec.js";

/**
 * One kind of stored record: where it lives (its key, derived from its id in one place) and how
 * its value is encoded. The typed store (`RecordStore` in @cloister/storage) reads and writes
 * records only through these, so no service spells a key or a codec itself.
 */
export interface RecordType<Id extends string, T> extends RecordCodec<T> {
  /** For logs: "task", "function", … */
  readonly name: string;
  /** Every key of this type starts with it (and no key of another type does). */
  readonly prefix: string;
  key(id: Id): Buffer;
  /** The id a listed key names, or undefined when the key's id cannot be recovered or is malformed. */
  idOfKey(key: Buffer): Id | undefined;
  /** The JsonValue-tree codec a direct codec replaces (see `directCodec`), kept for comparison. */
  readonly tree?: RecordCodec<T>;
}

export function recordType<Id extends string, T>(spec: {
  name: string;
  prefix: string;
  codec: RecordCodec<T>;
  /** The key's suffix for an id (default: the id itself). */
  suffix?: (id: Id) => string;
  /** The id of a key's suffix (default: none, the type cannot be listed by id). */
  idOfSuffix?: (suffix: string) => Id | undefined;
}): RecordType<Id, T> {
  const { name, prefix, codec } = spec;
  const suffix = spec.suffix ?? ((id: Id) => id);
  return {
    name,
    prefix,
    encode: codec.encode,
    decode: codec.decode,
    ...("tree" in codec ? { tree: (codec as { tree: RecordCodec<T> }).tree } : {}),
    key: (id) => Buffer.from(prefix + suffix(id), "utf8"),
    idOfKey(key) {
      const k = key.toString("utf8");
      return k.startsWith(prefix) ? spec.idOfSuffix?.(k.slice(prefix.length)) : undefined;
    },
  };
}

/** Values kept as they are (evidence blobs, key material). */
export const rawCodec: RecordCodec<Buffer> = {
  encode: (b) => Buffer.from(b),
  decode: (raw) => (typeof raw === "string" ? Buffer.from(raw, "utf8") : Buffer.from(raw)),
};
