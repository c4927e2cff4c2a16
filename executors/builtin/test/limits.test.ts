import { describe, it } from "node:test";
import { CANCELED, TIMED_OUT } from "../src/index.js";
import { failsWith, fixture } from "./helpers.js";

// A training run that would take hours: only cancellation or the deadline can end it.
const endless = { alg_alpha: 0.3, alg_iters: 1e12, feature_size: 30 };
const inputs = { training_data: fixture("logistic_regression_training/train.txt") };
const outputs = ["model_file"];

describe("worker-thread kernels", () => {
  it("stop when the task is canceled", async () => {
    const c = new AbortController();
    setTimeout(() => c.abort(), 100);
    await failsWith(CANCELED, "builtin-logistic-regression-train", endless, {
      inputs,
      outputs,
      signal: c.signal,
    });
  });
  it("stop at the deadline", async () => {
    await failsWith(TIMED_OUT, "builtin-logistic-regression-train", endless, {
      inputs,
      outputs,
      limits: { timeoutMs: 200 },
    });
  });
});
