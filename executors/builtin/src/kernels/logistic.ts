import { TaskFailure } from "@cloister/runtime";
import { jsonF64, lines, parseF64, rustTrim, utf8 } from "../text.js";
import { f64Rows } from "./table.js";

export interface LrTrainInput {
  data: Uint8Array;
  alpha: number;
  iters: number;
  featureSize: number;
}
export interface LrTrainOutput {
  model: Uint8Array;
  rows: number;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * Dot product with eight interleaved partial sums folded as (p0+p4), (p1+p5), (p2+p6), (p3+p7),
 * then the tail added in order: the summation order of the legacy linear-algebra routine, which
 * decides the last bits of every trained weight.
 */
function dot(u: ArrayLike<number>, v: ArrayLike<number>): number {
  const n = Math.min(u.length, v.length);
  let p0 = 0,
    p1 = 0,
    p2 = 0,
    p3 = 0,
    p4 = 0,
    p5 = 0,
    p6 = 0,
    p7 = 0;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    p0 += (u[i] as number) * (v[i] as number);
    p1 += (u[i + 1] as number) * (v[i + 1] as number);
    p2 += (u[i + 2] as number) * (v[i + 2] as number);
    p3 += (u[i + 3] as number) * (v[i + 3] as number);
    p4 += (u[i + 4] as number) * (v[i + 4] as number);
    p5 += (u[i + 5] as number) * (v[i + 5] as number);
    p6 += (u[i + 6] as number) * (v[i + 6] as number);
    p7 += (u[i + 7] as number) * (v[i + 7] as number);
  }
  let s = 0;
  s += p0 + p4;
  s += p1 + p5;
  s += p2 + p6;
  s += p3 + p7;
  for (; i < n; i++) s += (u[i] as number) * (v[i] as number);
  return s;
}

/**
 * Batch gradient descent on the logistic loss, weights starting at 0.5 with an intercept column
 * of ones; the gradient is Xᵀ(h − y) / m and each step subtracts alpha times it.
 */
export function logisticRegressionTrain({ data, alpha, iters, featureSize }: LrTrainInput): LrTrainOutput {
  const rows = f64Rows(data, featureSize + 1);
  const m = rows.length;
  const d = featureSize + 1;
  const x = rows.map((r) => Float64Array.from([1, ...r.slice(0, featureSize)]));
  const y = Float64Array.from(rows, (r) => r[featureSize] as number);
  const xt: Float64Array[] = [];
  for (let j = 0; j < d; j++) xt.push(Float64Array.from(x, (r) => r[j] as number));
  let w = new Float64Array(d).fill(0.5);
  const diff = new Float64Array(m);
  for (let it = 0; it < iters; it++) {
    for (let i = 0; i < m; i++) diff[i] = sigmoid(dot(x[i] as Float64Array, w)) - (y[i] as number);
    const next = new Float64Array(d);
    for (let j = 0; j < d; j++) next[j] = (w[j] as number) - (dot(xt[j] as Float64Array, diff) / m) * alpha;
    w = next;
  }
  const model = `{"alpha":${jsonF64(alpha)},"iters":${iters},"parameters":[${Array.from(w, jsonF64).join(",")}]}`;
  return { model: Buffer.from(model, "utf8"), rows: m };
}

export interface LrPredictInput {
  model: Uint8Array;
  data: Uint8Array;
}
export interface LrPredictOutput {
  result: Uint8Array;
  rows: number;
}

function modelParameters(model: Uint8Array): number[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8(model));
  } catch {
    throw new TaskFailure("Invalid model file: not JSON");
  }
  const params = (parsed as { parameters?: unknown } | null)?.parameters;
  if (!Array.isArray(params) || !params.every((p) => typeof p === "number")) {
    throw new TaskFailure("Invalid model file: `parameters` must be an array of numbers");
  }
  if (params.length === 0) throw new TaskFailure("Invalid model file: `parameters` is empty");
  return params;
}

/** sigmoid([1 ‖ x]·w) per data line, 4 decimals. */
export function logisticRegressionPredict({ model, data }: LrPredictInput): LrPredictOutput {
  const w = modelParameters(model);
  const features = w.length - 1;
  let out = "";
  let rows = 0;
  for (const line of lines(utf8(data))) {
    const trimmed = rustTrim(line);
    if (trimmed.length === 0) throw new TaskFailure("Empty line");
    const x = trimmed.split(",").map(parseF64);
    if (x.length !== features) {
      throw new TaskFailure(`Data format error: column len = ${x.length}, expected = ${features}`);
    }
    out += `${sigmoid(dot([1, ...x], w)).toFixed(4)}\n`;
    rows++;
  }
  return { result: Buffer.from(out, "utf8"), rows };
}
