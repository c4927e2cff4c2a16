export { type ArgsOf, CANNOT_DESERIALIZE, type Field, parseArgs, type Schema, t } from "./args.js";
export type { Builtin, BuiltinContext } from "./builtin.js";
export { BUILTINS, BuiltinExecutor, FUNCTION_NOT_FOUND } from "./executor.js";
export { DETECTOR_MISSING } from "./kernels/face.js";
export { CANCELED, type Offload, OUT_OF_MEMORY, RUNTIME_ERROR, TIMED_OUT } from "./offload.js";
