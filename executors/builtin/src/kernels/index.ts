// The CPU-heavy parts of the builtins, as pure functions of structured-cloneable values so that
// they can run in a worker thread.
import { faceDetection } from "./face.js";
import { gbdtPredict } from "./gbdt-predict.js";
import { gbdtTrain } from "./gbdt-train.js";
import { orderedSetJoin } from "./join.js";
import { logisticRegressionPredict, logisticRegressionTrain } from "./logistic.js";
import { principalComponents } from "./pca.js";
import { privateJoinAndCompute } from "./pjc.js";
import { orderedSetIntersect } from "./psi.js";

export const KERNELS = {
  orderedSetIntersect,
  orderedSetJoin,
  privateJoinAndCompute,
  logisticRegressionTrain,
  logisticRegressionPredict,
  gbdtPredict,
  gbdtTrain,
  principalComponents,
  faceDetection,
} as const;

export type KernelName = keyof typeof KERNELS;
export type KernelInput<K extends KernelName> = Parameters<(typeof KERNELS)[K]>[0];
export type KernelOutput<K extends KernelName> = ReturnType<(typeof KERNELS)[K]>;
