import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { failsWith, fixture, fixtureText, run } from "./helpers.js";

const BAD_ARGS = "Cannot deserialize arguments";

/** Compares two texts of comma/newline-separated numbers value by value. */
function assertNumbersClose(actual: string, expected: string, tolerance: number) {
  const a = actual.trim().split(/[\n,]/);
  const e = expected.trim().split(/[\n,]/);
  assert.equal(a.length, e.length, "value count");
  for (let i = 0; i < e.length; i++) {
    const d = Math.abs(Number(a[i]) - Number(e[i]));
    assert.ok(d <= tolerance, `value ${i}: ${a[i]} vs ${e[i]}`);
  }
}

describe("builtin-logistic-regression-train", () => {
  const name = "builtin-logistic-regression-train";
  const args = { alg_alpha: 0.3, alg_iters: 100, feature_size: 30 };
  const inputs = { training_data: fixture("logistic_regression_training/train.txt") };
  const outputs = ["model_file"];
  it("trains the fixture model", async () => {
    const { result, runtime } = await run(name, args, { inputs, outputs });
    assert.equal(result, "Trained 100 lines of data.");
    const model = JSON.parse(runtime.output("model_file"));
    const expected = JSON.parse(fixtureText("logistic_regression_training/expected_model.txt"));
    assert.equal(model.alpha, 0.3);
    assert.equal(model.iters, 100);
    assert.equal(model.parameters.length, 31);
    assertNumbersClose(model.parameters.join(","), expected.parameters.join(","), 1e-12);
    assert.match(runtime.output("model_file"), /^\{"alpha":0\.3,"iters":100,"parameters":\[-0\.72176/);
  });
  it("fails with the legacy texts", async () => {
    await failsWith(BAD_ARGS, name, { ...args, alg_iters: 1.5 }, { inputs, outputs });
    await failsWith(BAD_ARGS, name, { ...args, alg_alpha: "0.3" }, { inputs, outputs });
    await failsWith(
      "Empty line",
      name,
      { ...args, feature_size: 1 },
      { inputs: { training_data: "1,2\n\n3,4" }, outputs },
    );
    await failsWith(
      "Data format error: column len = 31, expected = 3",
      name,
      { ...args, feature_size: 2 },
      { inputs, outputs },
    );
    await failsWith(
      "invalid float literal",
      name,
      { ...args, feature_size: 1 },
      { inputs: { training_data: "1,x" }, outputs },
    );
  });
});

describe("builtin-logistic-regression-predict", () => {
  const name = "builtin-logistic-regression-predict";
  const inputs = {
    model_file: fixture("logistic_regression_prediction/model.txt"),
    data_file: fixture("logistic_regression_prediction/predict_input.txt"),
  };
  const outputs = ["result_file"];
  it("predicts the fixture exactly", async () => {
    const { result, runtime } = await run(name, {}, { inputs, outputs });
    assert.equal(result, "Predicted 5 lines of data.");
    assert.equal(
      runtime.output("result_file"),
      fixtureText("logistic_regression_prediction/expected_result.txt"),
    );
  });
  it("fails on bad models and data", async () => {
    await failsWith(
      "Invalid model file: `parameters` is empty",
      name,
      {},
      { inputs: { ...inputs, model_file: '{"parameters":[]}' }, outputs },
    );
    await failsWith(
      "Invalid model file: not JSON",
      name,
      {},
      { inputs: { ...inputs, model_file: "{" }, outputs },
    );
    await failsWith(
      "Data format error: column len = 1, expected = 2",
      name,
      {},
      {
        inputs: { model_file: '{"parameters":[1,2,3]}', data_file: "1" },
        outputs,
      },
    );
    await failsWith(
      "Empty line",
      name,
      {},
      { inputs: { model_file: '{"parameters":[1,2]}', data_file: " \n" }, outputs },
    );
  });
});

describe("builtin-gbdt-predict", () => {
  const name = "builtin-gbdt-predict";
  const inputs = {
    model_file: fixture("gbdt_prediction/model.txt"),
    data_file: fixture("gbdt_prediction/test_data.txt"),
  };
  const outputs = ["result_file"];
  it("predicts the fixture exactly", async () => {
    const { result, runtime } = await run(name, {}, { inputs, outputs });
    assert.equal(result, "Predict result has 30 lines of data.");
    assert.equal(runtime.output("result_file"), fixtureText("gbdt_prediction/expected_result.txt"));
  });
  it("fails on bad data and models", async () => {
    await failsWith("Empty line", name, {}, { inputs: { ...inputs, data_file: "1,2,3,4\n\n" }, outputs });
    await failsWith("Empty feature", name, {}, { inputs: { ...inputs, data_file: "1,,3,4" }, outputs });
    await failsWith(
      "invalid float literal",
      name,
      {},
      { inputs: { ...inputs, data_file: "1,a,3,4" }, outputs },
    );
    await failsWith(
      "Invalid model file: not JSON",
      name,
      {},
      { inputs: { ...inputs, model_file: "nope" }, outputs },
    );
    await failsWith(
      "Invalid model file: conf must be an object",
      name,
      {},
      { inputs: { ...inputs, model_file: "{}" }, outputs },
    );
  });
});

describe("builtin_principal_components_analysis", () => {
  const name = "builtin_principal_components_analysis";
  const args = { n: 2, center: true, feature_size: 4 };
  const inputs = { input_data: fixture("princopal_components_analysis/input.txt") };
  const outputs = ["output_data"];
  it("projects the fixture on its first two principal axes", async () => {
    const { result, runtime } = await run(name, args, { inputs, outputs });
    assert.equal(result, "transform 90 rows * 2 cols lines of data.");
    const out = runtime.output("output_data");
    assert.match(out, /^-2\.41545636058508\d*,-0\.2088150575047\d*\n/);
    // A different (but exact) SVD algorithm: equal to ~1e-15, not to the last bit.
    assertNumbersClose(out, fixtureText("princopal_components_analysis/expected_result.txt"), 1e-12);
  });
  it("fails with the legacy texts", async () => {
    await failsWith(BAD_ARGS, name, { ...args, center: 1 }, { inputs, outputs });
    await failsWith(
      "Data format error: column len = 5, expected = 4",
      name,
      { ...args, feature_size: 3 },
      { inputs, outputs },
    );
    await failsWith("n must not exceed feature_size", name, { ...args, n: 5 }, { inputs, outputs });
  });
});
