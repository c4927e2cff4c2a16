import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { failsWith, fixture, fixtureText, run } from "./helpers.js";

const name = "builtin-gbdt-train";
const args = {
  feature_size: 4,
  max_depth: 4,
  iterations: 100,
  shrinkage: 0.1,
  feature_sample_ratio: 1.0,
  data_sample_ratio: 1.0,
  min_leaf_size: 1,
  loss: "LAD",
  training_optimization_level: 2,
};
const inputs = { training_data: fixture("gbdt_training/train.txt") };
const outputs = ["trained_model"];

describe("builtin-gbdt-train", () => {
  it("trains the fixture model byte for byte", async () => {
    const { result, runtime } = await run(name, args, { inputs, outputs });
    assert.equal(result, "Trained 120 lines of data.");
    assert.equal(runtime.output("trained_model"), fixtureText("gbdt_training/expected_model.txt"));
  });

  it("trains models that gbdt-predict reads back (SquaredError, LogLikelyhood)", async () => {
    for (const loss of ["SquaredError", "LogLikelyhood"]) {
      const data = loss === "LogLikelyhood" ? "1,1\n2,1\n3,-1\n4,-1\n" : "1,10\n2,10\n3,20\n4,20\n";
      const trained = await run(
        name,
        { ...args, feature_size: 1, iterations: 30, loss },
        { inputs: { training_data: data }, outputs },
      );
      const model = JSON.parse(trained.runtime.output("trained_model"));
      assert.equal(model.conf.loss, loss);
      const predicted = await run(
        "builtin-gbdt-predict",
        {},
        {
          inputs: { model_file: trained.runtime.output("trained_model"), data_file: "1.5\n3.5\n" },
          outputs: ["result_file"],
        },
      );
      const [low, high] = predicted.runtime.output("result_file").trim().split("\n").map(Number) as [
        number,
        number,
      ];
      if (loss === "SquaredError") {
        assert.ok(Math.abs(low - 10) < 0.5 && Math.abs(high - 20) < 0.5, `${low} ${high}`);
      } else {
        // Probability of label 1: high for small x, low for large x.
        assert.ok(low > 0.9 && high < 0.1, `${low} ${high}`);
      }
    }
  });

  it("treats unknown loss names as SquaredError and caps the optimisation level at 2", async () => {
    const { runtime } = await run(
      name,
      { ...args, feature_size: 1, iterations: 1, loss: "Huber", training_optimization_level: 7 },
      { inputs: { training_data: "1,1\n2,2\n" }, outputs },
    );
    const model = JSON.parse(runtime.output("trained_model"));
    assert.equal(model.conf.loss, "SquaredError");
    assert.equal(model.conf.training_optimization_level, 2);
    assert.equal(model.bias, 1.5);
  });

  it("fails with the legacy texts", async () => {
    const BAD_ARGS = "Cannot deserialize arguments";
    await failsWith(BAD_ARGS, name, { ...args, shrinkage: "0.1" }, { inputs, outputs });
    await failsWith(BAD_ARGS, name, { ...args, max_depth: -1 }, { inputs, outputs });
    await failsWith(BAD_ARGS, name, { ...args, training_optimization_level: 256 }, { inputs, outputs });
    await failsWith(BAD_ARGS, name, { ...args, loss: undefined as unknown as string }, { inputs, outputs });
    await failsWith("Empty line", name, args, { inputs: { training_data: "1,2,3,4,5\n  \n" }, outputs });
    await failsWith("Data format error: column len = 4, expected = 5", name, args, {
      inputs: { training_data: "1,2,3,4\n" },
      outputs,
    });
    await failsWith("invalid float literal", name, args, {
      inputs: { training_data: "1,2,3,4, 5\n" },
      outputs,
    });
    await failsWith("Invalid input file identifier.", name, args, { outputs });
    await failsWith("Invalid output file identifier", name, args, { inputs });
  });
});
