/**
 * Summed-area tables of an 8-bit image, each (width + 1) × (height + 1), row-major with stride
 * width + 1. Float64 so that sums stay exact for any image the decoder accepts (2^53 ≫ 255² ×
 * 100 MP).
 */
export interface Integrals {
  stride: number;
  /** sum[Y·stride + X] = Σ image(x, y) over x < X, y < Y. */
  sum: Float64Array;
  /** The same over image(x, y)². */
  sqsum: Float64Array;
  /**
   * Rotated table, present only when asked for: tilted[Y·stride + X] = Σ image(x, y) over
   * y < Y and |x − (X − 1)| ≤ Y − 1 − y, i.e. the upward-opening 45° triangle whose apex is pixel
   * (X − 1, Y − 1), clipped to the image.
   */
  tilted?: Float64Array;
}

export function integrals(data: Uint8Array, width: number, height: number, withTilted: boolean): Integrals {
  const stride = width + 1;
  const sum = new Float64Array(stride * (height + 1));
  const sqsum = new Float64Array(stride * (height + 1));
  for (let y = 0; y < height; y++) {
    let rowSum = 0;
    let rowSq = 0;
    const src = y * width;
    const above = y * stride;
    const here = above + stride;
    for (let x = 0; x < width; x++) {
      const v = data[src + x] as number;
      rowSum += v;
      rowSq += v * v;
      sum[here + x + 1] = (sum[above + x + 1] as number) + rowSum;
      sqsum[here + x + 1] = (sqsum[above + x + 1] as number) + rowSq;
    }
  }
  const out: Integrals = { stride, sum, sqsum };
  if (withTilted) out.tilted = tiltedIntegral(data, width, height);
  return out;
}

/**
 * The rotated table row by row. With R(y, x) the prefix sum of row y up to column x (0 left of
 * the image, the row total right of it), the triangle with apex (a, b) is
 *   Σ_{y≤b} R(y, a + (b − y)) − R(y, a − (b − y) − 1),
 * so two running diagonal sums suffice: `right[a]` = Σ_{y≤b} R(y, a + b − y) and
 * `left[k]` = Σ_{y≤b} R(y, k − b + y), each updated from the previous row shifted by one column.
 */
function tiltedIntegral(data: Uint8Array, width: number, height: number): Float64Array {
  const stride = width + 1;
  const tilted = new Float64Array(stride * (height + 1));
  // Index i ↔ column i − 1, so that column −1 (always 0 for R) has a slot.
  let right = new Float64Array(width + 1);
  let left = new Float64Array(width + 1);
  let nextRight = new Float64Array(width + 1);
  let nextLeft = new Float64Array(width + 1);
  const prefix = new Float64Array(width + 1); // prefix[i] = R(b, i − 1)
  let rowsTotal = 0; // Σ of all rows above b: the right diagonal sum once it has left the image
  for (let b = 0; b < height; b++) {
    for (let x = 0; x < width; x++) prefix[x + 1] = (prefix[x] as number) + (data[b * width + x] as number);
    for (let i = 0; i <= width; i++) {
      // right: apex column a = i − 1; the previous row's diagonal passes column a + 1 = i.
      const prevRight = i + 1 <= width ? (right[i + 1] as number) : rowsTotal;
      nextRight[i] = prevRight + (prefix[i] as number);
      // left: column k = i − 1; the previous row's diagonal passes column k − 1.
      const prevLeft = i >= 1 ? (left[i - 1] as number) : 0;
      nextLeft[i] = prevLeft + (prefix[i] as number);
    }
    rowsTotal += prefix[width] as number;
    [right, nextRight] = [nextRight, right];
    [left, nextLeft] = [nextLeft, left];
    const row = (b + 1) * stride;
    for (let i = 0; i <= width; i++) {
      // Apex column a = i − 1: right edge diagonal at a, left edge diagonal at column a − 1.
      tilted[row + i] = (right[i] as number) - (i >= 1 ? (left[i - 1] as number) : 0);
    }
  }
  return tilted;
}
