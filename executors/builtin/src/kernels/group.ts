import type { Hit } from "./viola-jones.js";

export interface Group extends Hit {
  /** How many accepted windows the group merges. */
  neighbours: number;
}

/** Two windows count as the same face when every edge moves by at most this share of their size. */
const SAME_FACE_TOLERANCE = 0.2;

function similar(a: Hit, b: Hit): boolean {
  const delta = SAME_FACE_TOLERANCE * 0.5 * (Math.min(a.width, b.width) + Math.min(a.height, b.height));
  return (
    Math.abs(a.x - b.x) <= delta &&
    Math.abs(a.y - b.y) <= delta &&
    Math.abs(a.x + a.width - b.x - b.width) <= delta &&
    Math.abs(a.y + a.height - b.y - b.height) <= delta
  );
}

/**
 * A real face is accepted by many overlapping windows of neighbouring positions and sizes; a
 * false alarm usually by few. Windows are clustered transitively by `similar`, each cluster
 * becomes its average box, clusters with fewer than `minNeighbours` windows are dropped, and a
 * cluster lying inside a stronger one (typically a feature of the face, or a partial view) is
 * dropped too.
 */
export function groupHits(hits: readonly Hit[], minNeighbours: number): Group[] {
  const n = hits.length;
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => {
    let r = i;
    while (parent[r] !== r) r = parent[r] as number;
    while (parent[i] !== r) {
      const next = parent[i] as number;
      parent[i] = r;
      i = next;
    }
    return r;
  };
  // Sorted by left edge, a window can only match those whose left edge is within the tolerance
  // of the larger possible size, which keeps this far from quadratic on real images.
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (hits[a] as Hit).x - (hits[b] as Hit).x,
  );
  for (let i = 0; i < n; i++) {
    const a = hits[order[i] as number] as Hit;
    for (let j = i + 1; j < n; j++) {
      const b = hits[order[j] as number] as Hit;
      if (b.x - a.x > SAME_FACE_TOLERANCE * Math.max(a.width, a.height)) break;
      if (similar(a, b)) {
        const ra = find(order[i] as number);
        const rb = find(order[j] as number);
        if (ra !== rb) parent[ra] = rb;
      }
    }
  }
  const sums = new Map<number, Group>();
  for (let i = 0; i < n; i++) {
    const h = hits[i] as Hit;
    const r = find(i);
    const g = sums.get(r);
    if (g) {
      g.x += h.x;
      g.y += h.y;
      g.width += h.width;
      g.height += h.height;
      g.neighbours++;
    } else sums.set(r, { ...h, neighbours: 1 });
  }
  const groups = [...sums.values()]
    .filter((g) => g.neighbours >= minNeighbours)
    .map((g) => ({
      x: g.x / g.neighbours,
      y: g.y / g.neighbours,
      width: g.width / g.neighbours,
      height: g.height / g.neighbours,
      neighbours: g.neighbours,
    }));
  return groups.filter((g) => !groups.some((o) => o !== g && o.neighbours > g.neighbours && inside(g, o)));
}

/** Whether `a` lies within `b` grown by the tolerance on every side. */
function inside(a: Hit, b: Hit): boolean {
  const dx = SAME_FACE_TOLERANCE * b.width;
  const dy = SAME_FACE_TOLERANCE * b.height;
  return (
    a.x >= b.x - dx &&
    a.y >= b.y - dy &&
    a.x + a.width <= b.x + b.width + dx &&
    a.y + a.height <= b.y + b.height + dy
  );
}
