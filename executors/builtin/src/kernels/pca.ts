import { debugF64 } from "../text.js";
import { f64Rows } from "./table.js";

export interface PcaInput {
  data: Uint8Array;
  n: number;
  center: boolean;
  featureSize: number;
}
export interface PcaOutput {
  result: Uint8Array;
  rows: number;
  cols: number;
}

/**
 * Right singular vectors of `a` (m×d, row-major) by one-sided Jacobi rotations: works on the data
 * itself rather than on AᵀA, so the small singular directions keep their precision. Returns the
 * vectors as columns of V ordered by decreasing singular value.
 */
export function rightSingularVectors(a: Float64Array[], d: number): { v: Float64Array[]; sigma: number[] } {
  const m = a.length;
  // Work column-wise: cols[j] is column j of A.
  const cols = Array.from({ length: d }, (_, j) => Float64Array.from(a, (r) => r[j] as number));
  const v = Array.from({ length: d }, (_, i) => {
    const e = new Float64Array(d);
    e[i] = 1;
    return e;
  }); // v[j] = column j of V
  for (let sweep = 0; sweep < 100; sweep++) {
    let rotated = false;
    for (let p = 0; p < d - 1; p++) {
      for (let q = p + 1; q < d; q++) {
        const cp = cols[p] as Float64Array;
        const cq = cols[q] as Float64Array;
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < m; i++) {
          const x = cp[i] as number;
          const y = cq[i] as number;
          alpha += x * x;
          beta += y * y;
          gamma += x * y;
        }
        if (gamma === 0 || Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < m; i++) {
          const x = cp[i] as number;
          const y = cq[i] as number;
          cp[i] = c * x - s * y;
          cq[i] = s * x + c * y;
        }
        const vp = v[p] as Float64Array;
        const vq = v[q] as Float64Array;
        for (let i = 0; i < d; i++) {
          const x = vp[i] as number;
          const y = vq[i] as number;
          vp[i] = c * x - s * y;
          vq[i] = s * x + c * y;
        }
      }
    }
    if (!rotated) break;
  }
  const sigma = cols.map((c) => Math.sqrt(c.reduce((s, x) => s + x * x, 0)));
  const order = sigma.map((_, i) => i).sort((i, j) => (sigma[j] as number) - (sigma[i] as number));
  return { v: order.map((i) => v[i] as Float64Array), sigma: order.map((i) => sigma[i] as number) };
}

/**
 * Singular vectors are defined up to sign. The legacy output agrees with LAPACK's, whose
 * Householder bidiagonalisation typically leaves the first entry of each left singular vector
 * negative: orient each axis so that the first row with a non-zero projection projects negatively.
 * (Matches the fixture; not guaranteed to match LAPACK on every input, see README.)
 */
function orient(axis: Float64Array, rows: Float64Array[]): Float64Array {
  for (const r of rows) {
    let s = 0;
    for (let j = 0; j < axis.length; j++) s += (r[j] as number) * (axis[j] as number);
    if (Math.abs(s) > 1e-12) return s > 0 ? axis.map((x) => -x) : axis;
  }
  return axis;
}

/** Projects the rows on the first `n` principal axes (after centring when asked). */
export function principalComponents({ data, n, center, featureSize }: PcaInput): PcaOutput {
  const rows = f64Rows(data, featureSize + 1).map((r) => Float64Array.from(r.slice(0, featureSize)));
  const d = featureSize;
  if (center && rows.length > 0) {
    const mean = new Float64Array(d);
    for (const r of rows) for (let j = 0; j < d; j++) mean[j] = (mean[j] as number) + (r[j] as number);
    for (let j = 0; j < d; j++) mean[j] = (mean[j] as number) / rows.length;
    for (const r of rows) for (let j = 0; j < d; j++) r[j] = (r[j] as number) - (mean[j] as number);
  }
  const k = n;
  const { v } = rightSingularVectors(rows, d);
  const axes = v.slice(0, k).map((axis) => orient(axis, rows));
  let out = "";
  for (const r of rows) {
    const proj = axes.map((axis) => {
      let s = 0;
      for (let j = 0; j < d; j++) s += (r[j] as number) * (axis[j] as number);
      return s;
    });
    out += `${proj.map(debugF64).join(",")}\n`;
  }
  return { result: Buffer.from(out, "utf8"), rows: rows.length, cols: k };
}
