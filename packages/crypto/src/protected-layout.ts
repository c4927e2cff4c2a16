/**
 * Geometry of the `teaclave-file-128` format: where every node
 * lives and which bytes of which parent hold its key and tag. Pure arithmetic, no crypto.
 */

export const NODE_SIZE = 4096;
/** Content bytes carried inside the encrypted metadata. */
export const HEAD_SIZE = 3072;
export const DATA_PER_MHT = 96;
export const CHILDREN_PER_MHT = 32;
/** A {key[16], gmac[16]} entry in a parent node. */
export const ENTRY_SIZE = 32;
export const MAX_FILE_NAME_BYTES = 258;

export const HEADER = {
  fileId: 0,
  major: 8,
  minor: 9,
  mode: 10,
  updateFlag: 11,
  keyPolicy: 12,
  isvSvn: 14,
  keyId: 16,
  cpuSvn: 48,
  attributeMask: 64,
  gmac: 80,
  encrypted: 96,
  padding: 3468,
} as const;
export const FILE_ID = 0x5347585f46494c45n;
export const MAJOR_VERSION = 1;
export const MINOR_VERSION = 0;
export const MODE_USER_KEY = 1;
export const KEY_ID_SIZE = 32;

export const META = {
  fileName: 0,
  fileNameSize: 260,
  size: 260,
  rootKey: 268,
  rootGmac: 284,
  head: 300,
  total: 3372,
} as const;

/** Physical node number of data node `d`. */
export const dataNodePosition = (d: number) => d + 2 + Math.floor(d / DATA_PER_MHT);
/** Physical node number of MHT node `m`. */
export const mhtNodePosition = (m: number) => 1 + (DATA_PER_MHT + 1) * m;
/** MHT node that holds data node `d`'s entry, and the entry's byte offset in it. */
export const dataEntry = (d: number) => ({
  mht: Math.floor(d / DATA_PER_MHT),
  offset: (d % DATA_PER_MHT) * ENTRY_SIZE,
});
/** Parent of MHT node `m ≥ 1` and the byte offset of `m`'s entry in it. */
export const mhtEntry = (m: number) => ({
  mht: Math.floor((m - 1) / CHILDREN_PER_MHT),
  offset: DATA_PER_MHT * ENTRY_SIZE + ((m - 1) % CHILDREN_PER_MHT) * ENTRY_SIZE,
});

/** What a physical node number holds. */
export function classifyPosition(
  p: number,
): { kind: "meta" } | { kind: "mht"; m: number } | { kind: "data"; d: number } {
  if (p === 0) return { kind: "meta" };
  const m = Math.floor((p - 1) / (DATA_PER_MHT + 1));
  if ((p - 1) % (DATA_PER_MHT + 1) === 0) return { kind: "mht", m };
  return { kind: "data", d: p - 2 - m };
}

/** Node counts implied by a plaintext size. */
export function shapeOf(size: number): { dataNodes: number; mhtNodes: number; totalNodes: number } {
  if (size <= HEAD_SIZE) return { dataNodes: 0, mhtNodes: 0, totalNodes: 1 };
  const dataNodes = Math.ceil((size - HEAD_SIZE) / NODE_SIZE);
  const last = dataNodes - 1;
  return {
    dataNodes,
    mhtNodes: Math.floor(last / DATA_PER_MHT) + 1,
    totalNodes: dataNodePosition(last) + 1,
  };
}
