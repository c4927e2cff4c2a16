export { type ArgsOf, CANNOT_DESERIALIZE, type Field, parseArgs, type Schema, t } from "./args.js";
export { type Builtin, type BuiltinContext, type BuiltinDescriptor, describeBuiltin } from "./builtin.js";
export { createFaceDetection, type FaceDetectionOptions } from "./builtins/face.js";
export { BUILTINS, BuiltinExecutor, type BuiltinExecutorOptions, FUNCTION_NOT_FOUND } from "./executor.js";
export { DEFAULT_FACE_CASCADE, DETECTOR_INVALID, DETECTOR_MISSING } from "./kernels/face.js";
export { CANCELED, type Offload, OUT_OF_MEMORY, RUNTIME_ERROR, TIMED_OUT } from "./offload.js";
