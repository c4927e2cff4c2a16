import { TaskFailure } from "@cloister/runtime";
import type { GbdtConf, TreeNode } from "./gbdt-model.js";
import { modelJson } from "./gbdt-model.js";
import { f32Rows } from "./table.js";

// Gradient-boosted regression trees reproducing the legacy trainer's model files bit for bit on
// deterministic settings (sampling ratios 1.0): every stored quantity is an f32 and is computed
// with f32 rounding at each step, in the legacy order.

const f = Math.fround;

export interface GbdtTrainInput {
  data: Uint8Array;
  conf: GbdtConf;
}
export interface GbdtTrainOutput {
  model: Uint8Array;
  rows: number;
}

type Loss = "SquaredError" | "LogLikelyhood" | "LAD";

/** Unknown loss names train as SquaredError, as in the legacy configuration parser. */
export function lossOf(name: string): Loss {
  return name === "LogLikelyhood" || name === "LAD" ? name : "SquaredError";
}

/**
 * The legacy weighted median (all weights are 1 here): walk the sorted values until the running
 * weight passes half the total, then take the mean of that value and the one before it. This is
 * not the textbook median for odd counts, and the model bytes depend on it.
 */
export function legacyMedian(values: ArrayLike<number>): number {
  const sorted = Float32Array.from(values).sort();
  const total = sorted.length;
  let weight = 0;
  for (let i = 0; i < total; i++) {
    weight += 1;
    if (weight * 2 > total) {
      const v = sorted[i] as number;
      return i >= 1 ? f(f(v + (sorted[i - 1] as number)) / 2) : v;
    }
  }
  return 0;
}

function mean(values: ArrayLike<number>): number {
  if (values.length === 0) return 0;
  let s = 0;
  for (let i = 0; i < values.length; i++) s = f(s + (values[i] as number));
  return f(s / values.length);
}

interface Sample {
  x: Float32Array;
  label: number;
}

class Trainer {
  /** Per-iteration working values, indexed like the samples. */
  private readonly target: Float32Array;
  private readonly residual: Float32Array;
  private nodes: TreeNode[] = [];

  constructor(
    private readonly samples: Sample[],
    private readonly conf: GbdtConf,
    private readonly loss: Loss,
  ) {
    this.target = new Float32Array(samples.length);
    this.residual = new Float32Array(samples.length);
  }

  bias(): number {
    const labels = this.samples.map((s) => s.label);
    switch (this.loss) {
      case "LAD":
        return legacyMedian(labels);
      case "LogLikelyhood": {
        const v = mean(labels);
        return f(Math.log(f(f(1 + v) / f(1 - v))) / 2);
      }
      default:
        return mean(labels);
    }
  }

  /** Targets the next tree fits, from the current predictions. */
  setTargets(pred: Float32Array): void {
    for (let i = 0; i < this.samples.length; i++) {
      const y = (this.samples[i] as Sample).label;
      const p = pred[i] as number;
      const r = f(y - p);
      this.residual[i] = r;
      switch (this.loss) {
        case "LAD":
          this.target[i] = r >= 0 ? 1 : -1;
          break;
        case "LogLikelyhood":
          // Gradient of the two-class log-likelihood with labels in {-1, 1}.
          this.target[i] = f(f(2 * y) / f(1 + f(Math.exp(f(f(2 * y) * p)))));
          break;
        default:
          this.target[i] = r;
      }
    }
  }

  /** The value a node predicts for its samples. */
  private nodeValue(idx: number[]): number {
    switch (this.loss) {
      case "LAD":
        return legacyMedian(idx.map((i) => this.residual[i] as number));
      case "LogLikelyhood": {
        let s = 0;
        let c = 0;
        for (const i of idx) {
          const t = this.target[i] as number;
          s = f(s + t);
          c = f(c + f(Math.abs(t) * f(2 - Math.abs(t))));
        }
        return c === 0 ? 0 : f(s / c);
      }
      default:
        return mean(idx.map((i) => this.target[i] as number));
    }
  }

  fitTree(idx: number[], features: number[]): TreeNode[] {
    this.nodes = [];
    this.fitNode(idx, 0, features);
    return this.nodes;
  }

  private fitNode(idx: number[], depth: number, features: number[]): void {
    const node: TreeNode = {
      featureIndex: 0,
      featureValue: 0,
      pred: this.nodeValue(idx),
      missing: 0,
      isLeaf: false,
      index: this.nodes.length,
      left: 0,
      right: 0,
    };
    this.nodes.push(node);
    const t0 = this.target[idx[0] as number];
    const uniform = idx.every((i) => this.target[i] === t0);
    const split =
      depth >= this.conf.maxDepth || uniform || idx.length <= this.conf.minLeafSize
        ? null
        : this.bestSplit(idx, features);
    if (!split) {
      node.isLeaf = true;
      return;
    }
    node.featureIndex = split.feature;
    node.featureValue = split.value;
    const left = idx.filter((i) => ((this.samples[i] as Sample).x[split.feature] as number) < split.value);
    const right = idx.filter(
      (i) => !(((this.samples[i] as Sample).x[split.feature] as number) < split.value),
    );
    node.left = this.nodes.length;
    this.fitNode(left, depth + 1, features);
    node.right = this.nodes.length;
    this.fitNode(right, depth + 1, features);
  }

  /**
   * The split minimising the children's summed squared error of the targets, scanning features in
   * index order and thresholds in increasing order and keeping the first strict minimum; the
   * threshold is the f32 midpoint between neighbouring distinct values.
   */
  private bestSplit(idx: number[], features: number[]): { feature: number; value: number } | null {
    const minLeaf = Math.max(1, this.conf.minLeafSize);
    let best = Number.POSITIVE_INFINITY;
    let found: { feature: number; value: number } | null = null;
    let total = 0;
    let totalSq = 0;
    for (const i of idx) {
      const t = this.target[i] as number;
      total += t;
      totalSq += t * t;
    }
    for (const fi of features) {
      const xs = (i: number) => (this.samples[i] as Sample).x[fi] as number;
      const sorted = [...idx].sort((a, b) => xs(a) - xs(b));
      let ls = 0;
      let lsq = 0;
      for (let k = 0; k < sorted.length - 1; k++) {
        const t = this.target[sorted[k] as number] as number;
        ls += t;
        lsq += t * t;
        const here = xs(sorted[k] as number);
        const next = xs(sorted[k + 1] as number);
        if (here === next) continue;
        const lc = k + 1;
        const rc = sorted.length - lc;
        if (lc < minLeaf || rc < minLeaf) continue;
        const rs = total - ls;
        const impurity = lsq - (ls * ls) / lc + (totalSq - lsq - (rs * rs) / rc);
        if (impurity < best) {
          best = impurity;
          found = { feature: fi, value: f(f(here + next) / 2) };
        }
      }
    }
    return found;
  }
}

function predictTree(nodes: TreeNode[], x: Float32Array): number {
  let node = nodes[0] as TreeNode;
  while (!node.isLeaf)
    node = nodes[(x[node.featureIndex] as number) < node.featureValue ? node.left : node.right] as TreeNode;
  return node.pred;
}

/** Random subset of `count` items of 0..n-1 (only used when a sampling ratio is below 1). */
function sample(n: number, count: number): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [all[i], all[j]] = [all[j] as number, all[i] as number];
  }
  return all.slice(0, count).sort((a, b) => a - b);
}

export function gbdtTrain({ data, conf }: GbdtTrainInput): GbdtTrainOutput {
  const rows = f32Rows(data, conf.featureSize + 1);
  if (rows.length === 0) throw new TaskFailure("Empty training data");
  const samples: Sample[] = rows.map((r) => ({
    x: Float32Array.from(r.slice(0, conf.featureSize)),
    label: r[conf.featureSize] as number,
  }));
  const loss = lossOf(conf.loss);
  const trainer = new Trainer(samples, conf, loss);
  const n = samples.length;
  const bias = trainer.bias();
  const pred = new Float32Array(n).fill(bias);
  const dataCount = conf.dataSampleRatio < 1 ? Math.floor(n * conf.dataSampleRatio) : n;
  const featureCount =
    conf.featureSampleRatio < 1 ? Math.floor(conf.featureSize * conf.featureSampleRatio) : conf.featureSize;
  const trees: TreeNode[][] = [];
  for (let it = 0; it < conf.iterations; it++) {
    trainer.setTargets(pred);
    const idx = dataCount < n ? sample(n, dataCount) : Array.from({ length: n }, (_, i) => i);
    const features =
      featureCount < conf.featureSize
        ? sample(conf.featureSize, Math.max(1, featureCount))
        : Array.from({ length: conf.featureSize }, (_, i) => i);
    const tree = idx.length > 0 ? trainer.fitTree(idx, features) : [];
    if (tree.length > 0) {
      for (let i = 0; i < n; i++)
        pred[i] = f((pred[i] as number) + f(conf.shrinkage * predictTree(tree, (samples[i] as Sample).x)));
    }
    trees.push(tree);
  }
  const model = modelJson({ conf: { ...conf, loss }, trees, bias });
  return { model: Buffer.from(model, "utf8"), rows: n };
}
