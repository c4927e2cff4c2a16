import { TaskFailure } from "@cloister/runtime";
import { parseArgs, t } from "../args.js";
import { asBuffer, type Builtin } from "../builtin.js";

const lrTrainArgs = { alg_alpha: t.f64(), alg_iters: t.uint(), feature_size: t.uint() };

export const logisticRegressionTrain: Builtin = {
  name: "builtin-logistic-regression-train",
  descriptor: {
    summary: "trains a logistic regression model on CSV rows (features, then label)",
    arguments: lrTrainArgs,
    inputs: ["training_data"],
    outputs: ["model_file"],
  },
  async run(raw, { runtime, offload }) {
    const a = parseArgs(lrTrainArgs, raw);
    const data = await runtime.readInput("training_data");
    const r = await offload("logisticRegressionTrain", {
      data,
      alpha: a.alg_alpha,
      iters: a.alg_iters,
      featureSize: a.feature_size,
    });
    await runtime.writeOutput("model_file", asBuffer(r.model));
    return `Trained ${r.rows} lines of data.`;
  },
};

/** A model applied to CSV rows: the two predictors differ only in their model and reply text. */
function predictor(
  name: string,
  summary: string,
  job: "logisticRegressionPredict" | "gbdtPredict",
  reply: (rows: number) => string,
): Builtin {
  return {
    name,
    descriptor: { summary, arguments: {}, inputs: ["model_file", "data_file"], outputs: ["result_file"] },
    async run(_raw, { runtime, offload }) {
      const model = await runtime.readInput("model_file");
      const data = await runtime.readInput("data_file");
      const r = await offload(job, { model, data });
      await runtime.writeOutput("result_file", asBuffer(r.result));
      return reply(r.rows);
    },
  };
}

export const logisticRegressionPredict = predictor(
  "builtin-logistic-regression-predict",
  "predicts with a logistic regression model",
  "logisticRegressionPredict",
  (rows) => `Predicted ${rows} lines of data.`,
);

export const gbdtPredict = predictor(
  "builtin-gbdt-predict",
  "predicts with a gradient-boosted decision tree model",
  "gbdtPredict",
  (rows) => `Predict result has ${rows} lines of data.`,
);

const pcaArgs = { n: t.uint(), center: t.bool(), feature_size: t.uint() };

export const principalComponentsAnalysis: Builtin = {
  name: "builtin_principal_components_analysis",
  descriptor: {
    summary: "projects CSV rows onto their n principal components",
    arguments: pcaArgs,
    inputs: ["input_data"],
    outputs: ["output_data"],
  },
  async run(raw, { runtime, offload }) {
    const a = parseArgs(pcaArgs, raw);
    if (a.n > a.feature_size) throw new TaskFailure("n must not exceed feature_size");
    const data = await runtime.readInput("input_data");
    const r = await offload("principalComponents", {
      data,
      n: a.n,
      center: a.center,
      featureSize: a.feature_size,
    });
    await runtime.writeOutput("output_data", asBuffer(r.result));
    return `transform ${r.rows} rows * ${r.cols} cols lines of data.`;
  },
};

const gbdtTrainArgs = {
  feature_size: t.uint(),
  max_depth: t.u32(),
  iterations: t.uint(),
  shrinkage: t.f32(),
  feature_sample_ratio: t.f64(),
  data_sample_ratio: t.f64(),
  min_leaf_size: t.uint(),
  loss: t.string(),
  training_optimization_level: t.u8(),
};

export const gbdtTrain: Builtin = {
  name: "builtin-gbdt-train",
  descriptor: {
    summary: "trains a gradient-boosted decision tree model on CSV rows (features, then label)",
    arguments: gbdtTrainArgs,
    inputs: ["training_data"],
    outputs: ["trained_model"],
  },
  async run(raw, { runtime, offload }) {
    const a = parseArgs(gbdtTrainArgs, raw);
    const data = await runtime.readInput("training_data");
    const r = await offload("gbdtTrain", {
      data,
      conf: {
        featureSize: a.feature_size,
        maxDepth: a.max_depth,
        iterations: a.iterations,
        shrinkage: a.shrinkage,
        featureSampleRatio: a.feature_sample_ratio,
        dataSampleRatio: a.data_sample_ratio,
        minLeafSize: a.min_leaf_size,
        loss: a.loss,
        // Levels above 2 mean 2 (the legacy trainer's most cached mode).
        trainingOptimizationLevel: Math.min(a.training_optimization_level, 2),
      },
    });
    await runtime.writeOutput("trained_model", asBuffer(r.model));
    return `Trained ${r.rows} lines of data.`;
  },
};
