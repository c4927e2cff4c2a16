import { compareBytes } from "./json.js";

/** Sets are written sorted so stored records and responses are deterministic. */
export const sortedSet = (s: Iterable<string>): string[] => [...new Set(s)].sort(compareBytes);

export const setsEqual = (a: ReadonlySet<string>, b: ReadonlySet<string>): boolean =>
  a.size === b.size && [...a].every((x) => b.has(x));
