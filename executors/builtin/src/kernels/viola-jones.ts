import { type HaarCascade, MAX_RECTS } from "./haar-cascade.js";
import { type Integrals, integrals } from "./integral.js";

export interface GrayImage {
  width: number;
  height: number;
  /** One byte per pixel, row-major. */
  data: Uint8Array;
}

/** A window the whole cascade accepted, in original-image pixels. */
export interface Hit {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface ScanOptions {
  /** Smallest window, in original-image pixels (the cascade's width). */
  minSize: number;
  /** Largest window, in original-image pixels; unbounded when absent. */
  maxSize?: number;
  /** Ratio between consecutive window sizes, > 1. */
  scaleStep: number;
  /**
   * Window step in pixels of each pyramid level (where the window is the cascade's size); may be
   * fractional (positions are rounded), at least 1.
   */
  stepX: number;
  stepY: number;
}

/**
 * Viola–Jones detection: the image is resampled so that each wanted face size becomes the
 * cascade's own window size, and the fixed-size window slides over every level. Evaluating the
 * cascade on resampled images (instead of scaling the features) keeps every rectangle on whole
 * pixels, which is how the cascade was trained.
 */
export function scan(image: GrayImage, cascade: HaarCascade, opts: ScanOptions): Hit[] {
  const hits: Hit[] = [];
  const cw = cascade.width;
  const ch = cascade.height;
  let level: GrayImage | undefined;
  for (let k = 0; ; k++) {
    // Window width in original pixels at this level, and the resampling factor that maps it to cw.
    const size = opts.minSize * opts.scaleStep ** k;
    if (opts.maxSize !== undefined && size > opts.maxSize + 1e-9) break;
    const scale = cw / size;
    const lw = Math.floor(image.width * scale);
    const lh = Math.floor(image.height * scale);
    if (lw < cw || lh < ch) break;
    // Each level is resampled from the previous one (or the original for the first): successive
    // small reductions average neighbouring pixels, where one large bilinear jump would alias.
    level = resample(level ?? image, lw, lh);
    const ii = integrals(level.data, lw, lh, cascade.hasTilted);
    const evaluator = new WindowEvaluator(cascade, ii);
    const inv = image.width / lw;
    const invY = image.height / lh;
    const stepX = Math.max(1, opts.stepX);
    const stepY = Math.max(1, opts.stepY);
    for (let j = 0, y = 0; y + ch <= lh; j++, y = Math.round(j * stepY)) {
      for (let i = 0, x = 0; x + cw <= lw; i++, x = Math.round(i * stepX)) {
        if (evaluator.accepts(x, y)) {
          hits.push({ x: x * inv, y: y * invY, width: cw * inv, height: ch * invY });
        }
      }
    }
  }
  return hits;
}

/** Bilinear resampling with pixel centres aligned. */
export function resample(src: GrayImage, width: number, height: number): GrayImage {
  if (src.width === width && src.height === height) return src;
  const out = new Uint8Array(width * height);
  const sx = src.width / width;
  const sy = src.height / height;
  const x0s = new Int32Array(width);
  const fxs = new Float64Array(width);
  for (let x = 0; x < width; x++) {
    const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), src.width - 1);
    const x0 = Math.min(Math.floor(fx), Math.max(src.width - 2, 0));
    x0s[x] = x0;
    fxs[x] = fx - x0;
  }
  const d = src.data;
  const sw = src.width;
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), src.height - 1);
    const y0 = Math.min(Math.floor(fy), Math.max(src.height - 2, 0));
    const ty = fy - y0;
    const r0 = y0 * sw;
    const r1 = src.height > 1 ? r0 + sw : r0;
    for (let x = 0; x < width; x++) {
      const x0 = x0s[x] as number;
      const tx = fxs[x] as number;
      const x1 = sw > 1 ? x0 + 1 : x0;
      const top = (d[r0 + x0] as number) * (1 - tx) + (d[r0 + x1] as number) * tx;
      const bottom = (d[r1 + x0] as number) * (1 - tx) + (d[r1 + x1] as number) * tx;
      out[y * width + x] = Math.round(top * (1 - ty) + bottom * ty);
    }
  }
  return { width, height, data: out };
}

/**
 * Runs the cascade on windows of one pyramid level. Each tree node's rectangles are turned into
 * integral-image offsets relative to the window's top-left corner once per level, laid out
 * node by node, so evaluating a node reads one contiguous run of offsets and weights.
 */
class WindowEvaluator {
  /** Per node, MAX_RECTS × 4 corner offsets (upright: TL, TR, BL, BR; tilted: top, left, right, bottom). */
  private readonly corners: Int32Array;
  /** Per node, MAX_RECTS rectangle weights (0 for unused slots). */
  private readonly weights: Float64Array;
  private readonly nodeTilted: Uint8Array;
  private readonly normOffsets: Int32Array;
  private readonly normArea: number;

  constructor(
    private readonly c: HaarCascade,
    private readonly ii: Integrals,
  ) {
    const s = ii.stride;
    const nNodes = c.nodeFeature.length;
    this.corners = new Int32Array(nNodes * MAX_RECTS * 4);
    this.weights = new Float64Array(nNodes * MAX_RECTS);
    this.nodeTilted = new Uint8Array(nNodes);
    for (let n = 0; n < nNodes; n++) {
      const f = c.nodeFeature[n] as number;
      const tilted = c.featureTilted[f] === 1;
      this.nodeTilted[n] = tilted ? 1 : 0;
      for (let k = 0; k < (c.featureRectCount[f] as number); k++) {
        const r = f * MAX_RECTS + k;
        const x = c.rects[r * 4] as number;
        const y = c.rects[r * 4 + 1] as number;
        const w = c.rects[r * 4 + 2] as number;
        const h = c.rects[r * 4 + 3] as number;
        const pts = tilted
          ? [x + y * s, x - h + (y + h) * s, x + w + (y + w) * s, x + w - h + (y + w + h) * s]
          : [x + y * s, x + w + y * s, x + (y + h) * s, x + w + (y + h) * s];
        this.corners.set(pts, (n * MAX_RECTS + k) * 4);
        this.weights[n * MAX_RECTS + k] = c.rectWeight[r] as number;
      }
    }
    // The contrast normalisation ignores a one-pixel border, as the cascades were trained.
    const w = c.width - 2;
    const h = c.height - 2;
    this.normOffsets = Int32Array.from([1 + s, 1 + w + s, 1 + (1 + h) * s, 1 + w + (1 + h) * s]);
    this.normArea = w * h;
  }

  /** Whether every stage accepts the window whose top-left corner is (x, y). */
  accepts(x: number, y: number): boolean {
    const c = this.c;
    const sum = this.ii.sum;
    const sqsum = this.ii.sqsum;
    const tilted = this.ii.tilted ?? sum;
    const b = x + y * this.ii.stride;
    const no = this.normOffsets;
    const n0 = b + (no[0] as number);
    const n1 = b + (no[1] as number);
    const n2 = b + (no[2] as number);
    const n3 = b + (no[3] as number);
    const winSum = (sum[n3] as number) - (sum[n1] as number) - (sum[n2] as number) + (sum[n0] as number);
    const winSq =
      (sqsum[n3] as number) - (sqsum[n1] as number) - (sqsum[n2] as number) + (sqsum[n0] as number);
    // √(area² · variance): feature sums are compared with thresholds scaled by this, which makes
    // the decision independent of the window's brightness and contrast.
    const v = this.normArea * winSq - winSum * winSum;
    const norm = v > 0 ? Math.sqrt(v) : 1;
    const cs = this.corners;
    const ws = this.weights;
    const nodeTilted = this.nodeTilted;
    const {
      stageFirst,
      stageThreshold,
      classifierNode,
      classifierLeaf,
      nodeThreshold,
      nodeLeft,
      nodeRight,
      leafValue,
    } = c;
    const nStages = stageThreshold.length;
    for (let st = 0; st < nStages; st++) {
      let stageSum = 0;
      const end = stageFirst[st + 1] as number;
      for (let k = stageFirst[st] as number; k < end; k++) {
        const first = classifierNode[k] as number;
        let n = first;
        for (;;) {
          const t = nodeTilted[n] === 1 ? tilted : sum;
          const q = n * 12;
          const wq = n * 3;
          let value =
            (ws[wq] as number) *
              ((t[b + (cs[q + 3] as number)] as number) -
                (t[b + (cs[q + 1] as number)] as number) -
                (t[b + (cs[q + 2] as number)] as number) +
                (t[b + (cs[q] as number)] as number)) +
            (ws[wq + 1] as number) *
              ((t[b + (cs[q + 7] as number)] as number) -
                (t[b + (cs[q + 5] as number)] as number) -
                (t[b + (cs[q + 6] as number)] as number) +
                (t[b + (cs[q + 4] as number)] as number));
          const w3 = ws[wq + 2] as number;
          if (w3 !== 0) {
            value +=
              w3 *
              ((t[b + (cs[q + 11] as number)] as number) -
                (t[b + (cs[q + 9] as number)] as number) -
                (t[b + (cs[q + 10] as number)] as number) +
                (t[b + (cs[q + 8] as number)] as number));
          }
          const next = (value < (nodeThreshold[n] as number) * norm ? nodeLeft[n] : nodeRight[n]) as number;
          if (next <= 0) {
            stageSum += leafValue[(classifierLeaf[k] as number) - next] as number;
            break;
          }
          n = first + next;
        }
      }
      if (stageSum < (stageThreshold[st] as number)) return false;
    }
    return true;
  }
}
