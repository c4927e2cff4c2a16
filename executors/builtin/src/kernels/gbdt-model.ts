import { TaskFailure } from "@cloister/runtime";
import { jsonF32, jsonF64 } from "../text.js";

/** Loss names as the model JSON spells them. Unknown names train as SquaredError. */
export type LossName =
  | "SquaredError"
  | "LogLikelyhood"
  | "LAD"
  | "RegLinear"
  | "RegLogistic"
  | "BinaryLogistic"
  | "BinaryLogitraw"
  | "MulticlassSoftprob"
  | "MulticlassSoftmax"
  | "RankPairwise";

export interface GbdtConf {
  featureSize: number;
  maxDepth: number;
  iterations: number;
  shrinkage: number; // f32
  featureSampleRatio: number; // f64
  dataSampleRatio: number; // f64
  minLeafSize: number;
  loss: string;
  trainingOptimizationLevel: number;
}

export interface TreeNode {
  featureIndex: number;
  featureValue: number; // f32
  pred: number; // f32
  missing: number;
  isLeaf: boolean;
  index: number;
  left: number;
  right: number;
}

export interface GbdtModel {
  conf: GbdtConf;
  trees: TreeNode[][];
  bias: number; // f32
}

/** The model file, byte-compatible with the legacy serialisation (field order and float style). */
export function modelJson(model: GbdtModel): string {
  const c = model.conf;
  const f64 = jsonF64;
  const conf =
    `{"feature_size":${c.featureSize},"max_depth":${c.maxDepth},"iterations":${c.iterations},` +
    `"shrinkage":${jsonF32(c.shrinkage)},"feature_sample_ratio":${f64(c.featureSampleRatio)},` +
    `"data_sample_ratio":${f64(c.dataSampleRatio)},"min_leaf_size":${c.minLeafSize},"loss":${JSON.stringify(c.loss)},` +
    `"debug":false,"initial_guess_enabled":false,"training_optimization_level":${c.trainingOptimizationLevel}}`;
  const tree = (nodes: TreeNode[]) =>
    `{"tree":{"tree":[${nodes
      .map(
        (n) =>
          `{"value":{"feature_index":${n.featureIndex},"feature_value":${jsonF32(n.featureValue)},"pred":${jsonF32(n.pred)},` +
          `"missing":${n.missing},"is_leaf":${n.isLeaf}},"index":${n.index},"left":${n.left},"right":${n.right}}`,
      )
      .join(
        ",",
      )}]},"feature_size":${c.featureSize},"max_depth":${c.maxDepth},"min_leaf_size":${c.minLeafSize},` +
    `"loss":${JSON.stringify(c.loss)},"feature_sample_ratio":${f64(c.featureSampleRatio)}}`;
  return `{"conf":${conf},"trees":[${model.trees.map(tree).join(",")}],"bias":${jsonF32(model.bias)}}`;
}

function bad(what: string): never {
  throw new TaskFailure(`Invalid model file: ${what}`);
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) bad(`${what} must be an object`);
  return v as Record<string, unknown>;
}

function num(o: Record<string, unknown>, key: string, what: string, integer = false): number {
  const v = o[key];
  if (typeof v !== "number" || (integer && (!Number.isInteger(v) || v < 0)))
    bad(`${what}.${key} must be a ${integer ? "non-negative integer" : "number"}`);
  return v;
}

/** Reads and checks a model file, keeping only what prediction needs. */
export function parseModel(text: string): GbdtModel {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    bad("not JSON");
  }
  const root = obj(raw, "model");
  const conf = obj(root.conf, "conf");
  const loss = conf.loss;
  if (typeof loss !== "string") bad("conf.loss must be a string");
  if (!Array.isArray(root.trees)) bad("trees must be an array");
  const trees = root.trees.map((t, i) => {
    const outer = obj(t, `trees[${i}]`);
    const inner = obj(outer.tree, `trees[${i}].tree`);
    if (!Array.isArray(inner.tree) || inner.tree.length === 0)
      bad(`trees[${i}].tree.tree must be a non-empty array`);
    return inner.tree.map((n, k): TreeNode => {
      const what = `trees[${i}] node ${k}`;
      const node = obj(n, what);
      const value = obj(node.value, what);
      if (typeof value.is_leaf !== "boolean") bad(`${what}.is_leaf must be a boolean`);
      return {
        featureIndex: num(value, "feature_index", what, true),
        featureValue: Math.fround(num(value, "feature_value", what)),
        pred: Math.fround(num(value, "pred", what)),
        missing: num(value, "missing", what),
        isLeaf: value.is_leaf,
        index: num(node, "index", what, true),
        left: num(node, "left", what, true),
        right: num(node, "right", what, true),
      };
    });
  });
  return {
    conf: {
      featureSize: num(conf, "feature_size", "conf", true),
      maxDepth: num(conf, "max_depth", "conf", true),
      iterations: num(conf, "iterations", "conf", true),
      shrinkage: Math.fround(num(conf, "shrinkage", "conf")),
      featureSampleRatio: num(conf, "feature_sample_ratio", "conf"),
      dataSampleRatio: num(conf, "data_sample_ratio", "conf"),
      minLeafSize: num(conf, "min_leaf_size", "conf", true),
      loss,
      trainingOptimizationLevel: num(conf, "training_optimization_level", "conf", true),
    },
    trees,
    bias: Math.fround(num(root, "bias", "model")),
  };
}
