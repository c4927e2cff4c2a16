import { TaskFailure } from "@cloister/runtime";
import { lines, parseF32, rustTrim, utf8 } from "../text.js";
import { parseModel, type TreeNode } from "./gbdt-model.js";

export interface GbdtPredictInput {
  model: Uint8Array;
  data: Uint8Array;
}
export interface GbdtPredictOutput {
  result: Uint8Array;
  rows: number;
}

const f = Math.fround;

function leafValue(tree: TreeNode[], x: number[]): number {
  let node = tree[0] as TreeNode;
  // A well-formed tree reaches a leaf in fewer steps than it has nodes; a longer walk is a cycle.
  for (let steps = 0; steps <= tree.length; steps++) {
    if (node.isLeaf) return node.pred;
    const v = x[node.featureIndex];
    if (v === undefined)
      throw new TaskFailure(
        `Data format error: sample has ${x.length} features, the model uses feature ${node.featureIndex}`,
      );
    const next = tree[v < node.featureValue ? node.left : node.right];
    if (next === undefined) throw new TaskFailure("Invalid model file: child index out of range");
    node = next;
  }
  throw new TaskFailure("Invalid model file: tree has a cycle");
}

/** The loss's output transform, in f32 like the legacy predictor. */
function transform(loss: string, p: number): number {
  switch (loss) {
    case "LogLikelyhood":
      return f(1 / f(1 + f(Math.exp(f(-2 * p)))));
    case "BinaryLogistic":
    case "RegLogistic":
      return f(1 / f(1 + f(Math.exp(-p))));
    default:
      return p;
  }
}

function samples(data: Uint8Array): number[][] {
  return lines(utf8(data)).map((line) => {
    if (rustTrim(line).length === 0) throw new TaskFailure("Empty line");
    return line.split(",").map((field) => {
      const t = rustTrim(field);
      if (t.length === 0) throw new TaskFailure("Empty feature");
      return parseF32(t);
    });
  });
}

/** bias + Σ shrinkage × leaf, in f32, then the loss transform; 10 decimals per line. */
export function gbdtPredict({ model, data }: GbdtPredictInput): GbdtPredictOutput {
  const m = parseModel(utf8(model));
  const shrinkage = m.conf.shrinkage;
  let out = "";
  const rows = samples(data);
  for (const x of rows) {
    let p = m.bias;
    for (const tree of m.trees) p = f(p + f(shrinkage * leafValue(tree, x)));
    out += `${transform(m.conf.loss, p).toFixed(10)}\n`;
  }
  return { result: Buffer.from(out, "utf8"), rows: rows.length };
}
